/**
 * A small HTTP/1.1 server for hitship's endpoints and its HTTP input, bounded in every way a
 * client can push it: concurrent connections, time to send a request's head and its body, idle
 * keep-alive time, time to take an answer, head and body size, and the bytes of all bodies held at
 * once (past that, a request is answered 503 before its body is read). It serves exact paths and the
 * methods it is given, and nothing else. Errors stay with the connection they belong to: a full
 * file table (`EMFILE`) pauses accepting, it never ends the process.
 *
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";
import { BufferPool, release } from "./buffer_pool.ts";
import type { Logger } from "./log.ts";

/** A request as the handler sees it. */
export interface HttpRequest {
  /** `GET`, `POST`, ... */
  method: string;
  /** The path, without the query. */
  path: string;
  /** The request's headers. */
  headers: Headers;
  /**
   * The body, whole (empty when there is none). Its memory is used again once the handler's
   * answer is settled: copy what must outlive it.
   */
  body: Uint8Array;
}

/** An answer. */
export interface HttpAnswer {
  /** The HTTP status. */
  status: number;
  /** Headers besides `content-length` and `connection`. */
  headers?: Record<string, string>;
  /** The body. @default empty */
  body?: string;
}

/** Options of {@linkcode serveBounded}. */
export interface BoundedServerOptions {
  /** The address to listen on. */
  hostname: string;
  /** The port to listen on (0: any free one). */
  port: number;
  /** The paths served; any other is answered 404. */
  paths: readonly string[];
  /** The methods served; any other is answered 405. @default ["GET", "HEAD"] */
  methods?: readonly string[];
  /** Connections at once; more are closed at once. @default 64 */
  maxConnections?: number;
  /** Time for a request's head to arrive once it began, ms. @default 10_000 */
  headerTimeout?: number;
  /** Time for a request's body to arrive once its head has, ms. @default 30_000 */
  bodyTimeout?: number;
  /** Time a kept-alive connection may wait for its next request, ms. @default 5_000 */
  idleTimeout?: number;
  /** Time a client has to take an answer, ms. @default 10_000 */
  writeTimeout?: number;
  /** Largest request head. @default 8 KiB */
  maxHeadBytes?: number;
  /** Largest request body; a larger one is answered 413. @default 0: no bodies */
  maxBodyBytes?: number;
  /**
   * Bytes of request bodies held at once, over all connections: a request whose body would pass
   * it is answered 503 with `Retry-After: 1` before its body is read (one request is always
   * taken when no other body is held). @default 16 MiB
   */
  maxBufferedBytes?: number;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** Told when accepting fails or a handler throws. */
  logger?: Logger;
  /** Times the timeouts. @default the system clock */
  clock?: Clock;
}

/** A running server. */
export interface BoundedServer {
  /** The port it listens on. */
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting and closes every connection. */
  shutdown(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Timeout extends Error {}

/** Clears a deadline's timer: a constant reason spares creating a `DOMException` each time. */
const CLEARED = new Error("cleared");
class TooLarge extends Error {}

/**
 * The time one connection has for what it does now (its head, its body, taking an answer): one
 * timer, armed again only when the time changes, closes the connection when it passes.
 */
class Deadline {
  readonly #conn: Deno.Conn;
  readonly #clock: Clock;
  #by = Infinity;
  #stop: AbortController | undefined;
  /** The time passed and the connection was closed. */
  expired = false;

  constructor(conn: Deno.Conn, clock: Clock) {
    this.#conn = conn;
    this.#clock = clock;
  }

  /** Closes the connection at `by` (clock time), unless set again first. */
  set(by: number): void {
    if (by === this.#by) return;
    this.clear();
    this.#by = by;
    const stop = new AbortController();
    this.#stop = stop;
    this.#clock.sleep(Math.max(1, by - this.#clock.now()), stop.signal).then(() => {
      this.expired = true;
      try {
        this.#conn.close();
      } catch {
        // closed already
      }
    }, () => {});
  }

  /** No time limit until set again. */
  clear(): void {
    this.#stop?.abort(CLEARED);
    this.#stop = undefined;
    this.#by = Infinity;
  }

  /** Runs an I/O call; one the deadline cut short throws `Timeout`. */
  async io<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      if (this.expired) throw new Timeout();
      throw error;
    }
  }
}

/** A connection's read-ahead buffer: a request head, or a chunked body's pieces. */
const READ_BYTES = 16 * 1024;

/** Bytes of one connection read ahead of what is consumed. */
class ConnReader {
  readonly #conn: Deno.Conn;
  readonly #deadline: Deadline;
  readonly #pool: BufferPool;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;

  /** Reads with a buffer from `pool` (each connection has one): `close` gives it back. */
  constructor(conn: Deno.Conn, deadline: Deadline, pool: BufferPool) {
    this.#conn = conn;
    this.#deadline = deadline;
    this.#pool = pool;
    this.#buffer = pool.take(READ_BYTES) ?? new Uint8Array(READ_BYTES);
  }

  /** Gives the read buffer back (when it is still the size it began with). */
  close(): void {
    if (this.#buffer.length === READ_BYTES) this.#pool.give(this.#buffer);
    this.#buffer = new Uint8Array(0);
  }

  /** Bytes read and not consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Reads more, by `by` (clock time); false at the end of the stream. */
  async fill(by: number): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buffer.length) {
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const bigger = new Uint8Array(this.#buffer.length * 2);
        bigger.set(this.#buffer);
        this.#buffer = bigger;
      }
    }
    this.#deadline.set(by);
    const n = await this.#deadline.io(this.#conn.read(this.#buffer.subarray(this.#end)));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /**
   * Reads straight into `target` (nothing must be buffered), by `by`: a large body is not copied
   * through the read-ahead buffer. The number of bytes read, or null at the end of the stream.
   */
  async readInto(target: Uint8Array, by: number): Promise<number | null> {
    this.#deadline.set(by);
    return await this.#deadline.io(this.#conn.read(target));
  }

  /** Where `\r\n\r\n` ends in the buffered bytes, or -1. */
  headEnd(): number {
    const b = this.#buffer;
    for (let i = this.#start + 3; i < this.#end; i++) {
      if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) {
        return i + 1 - this.#start;
      }
    }
    return -1;
  }

  /** Where the next `\r\n` ends in the buffered bytes, or -1. */
  lineEnd(): number {
    const b = this.#buffer;
    for (let i = this.#start + 1; i < this.#end; i++) {
      if (b[i] === 10 && b[i - 1] === 13) return i + 1 - this.#start;
    }
    return -1;
  }

  /** Consumes `n` buffered bytes (a view, valid until the next read). */
  take(n: number): Uint8Array {
    const out = this.#buffer.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }
}

/**
 * The memory of bodies, over all connections: at most `max` bytes held at once. Buffers given
 * back are kept for the next body (new memory costs page faults and zeroing, and a large buffer
 * let go is only freed at V8's next full collection), up to `keep` bytes; `drain` lets them go.
 */
class Budget {
  readonly #max: number;
  readonly #keep: number;
  #held = 0;
  #kept: Uint8Array[] = [];
  #keptBytes = 0;
  constructor(max: number, keep: number) {
    this.#max = max;
    this.#keep = keep;
  }
  /** A buffer of at least `n` bytes; undefined when it would pass the limit (and something is held). */
  take(n: number): Uint8Array | undefined {
    if (this.#held > 0 && this.#held + n > this.#max) return undefined;
    // Kept buffers count towards the limit too: the ones that cannot serve go first.
    const i = this.#kept.findIndex((b) => b.length >= n && b.length <= 2 * n);
    let buffer: Uint8Array;
    if (i < 0) {
      while (this.#kept.length > 0 && this.#held + this.#keptBytes + n > this.#max) {
        const dropped = this.#kept.pop()!;
        this.#keptBytes -= dropped.length;
        release(dropped);
      }
    }
    if (i >= 0) {
      buffer = this.#kept.splice(i, 1)[0]!;
      this.#keptBytes -= buffer.length;
    } else {
      buffer = new Uint8Array(n);
    }
    this.#held += buffer.length;
    return buffer;
  }
  /** Gives a buffer back. */
  give(buffer: Uint8Array): void {
    this.#held -= buffer.length;
    const total = this.#held + this.#keptBytes + buffer.length;
    if (this.#keptBytes + buffer.length <= this.#keep && total <= this.#max) {
      this.#kept.push(buffer);
      this.#keptBytes += buffer.length;
    } else {
      release(buffer);
    }
  }
  /** Lets the kept buffers go. */
  drain(): void {
    for (const buffer of this.#kept) release(buffer);
    this.#kept = [];
    this.#keptBytes = 0;
  }
}

class Busy extends Error {}

const EMPTY = new Uint8Array(0);

/** A body growing as it arrives, to at most `max` bytes, its memory taken from a budget. */
class Body {
  #bytes: Uint8Array = EMPTY;
  #length = 0;
  readonly #max: number;
  readonly #budget: Budget;
  constructor(initial: number, max: number, budget: Budget) {
    this.#max = max;
    this.#budget = budget;
    const size = Math.min(initial, max);
    if (size > 0) this.#bytes = this.#take(size);
  }
  #take(n: number): Uint8Array {
    const buffer = this.#budget.take(n);
    if (!buffer) throw new Busy();
    return buffer;
  }
  /** Makes room for `n` more bytes. */
  room(n: number): void {
    if (this.#length + n > this.#max) throw new TooLarge();
    if (this.#length + n > this.#bytes.length) {
      const size = Math.min(this.#max, Math.max(this.#length + n, this.#bytes.length * 2));
      const bigger = this.#take(size);
      bigger.set(this.#bytes.subarray(0, this.#length));
      this.#give();
      this.#bytes = bigger;
    }
  }
  #give(): void {
    if (this.#bytes !== EMPTY) this.#budget.give(this.#bytes);
    this.#bytes = EMPTY;
  }
  append(part: Uint8Array): void {
    this.room(part.length);
    this.#bytes.set(part, this.#length);
    this.#length += part.length;
  }
  /** The free space after the bytes so far, to read into; `grew` counts what was read. */
  free(): Uint8Array {
    return this.#bytes.subarray(this.#length);
  }
  grew(n: number): void {
    this.#length += n;
  }
  get length(): number {
    return this.#length;
  }
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }
  /** Gives the memory back: the bytes must not be used after. */
  release(): void {
    this.#give();
    this.#length = 0;
  }
}

/**
 * Serves `handler` on `hostname:port` within the bounds of `options`.
 *
 * @example
 * ```ts
 * import { serveBounded } from "./http_server.ts";
 * const server = serveBounded({ hostname: "127.0.0.1", port: 0, paths: ["/health"] }, () => ({
 *   status: 200,
 *   body: "ok\n",
 * }));
 * await server.shutdown();
 * ```
 */
export function serveBounded(
  options: BoundedServerOptions,
  handler: (request: HttpRequest) => HttpAnswer | Promise<HttpAnswer>,
): BoundedServer {
  const listener: Deno.Listener = options.tls
    ? Deno.listenTls({ hostname: options.hostname, port: options.port, ...options.tls })
    : Deno.listen({ hostname: options.hostname, port: options.port });
  const maxConnections = options.maxConnections ?? 64;
  const headerTimeout = options.headerTimeout ?? 10_000;
  const bodyTimeout = options.bodyTimeout ?? 30_000;
  const idleTimeout = options.idleTimeout ?? 5_000;
  const writeTimeout = options.writeTimeout ?? 10_000;
  const maxHead = options.maxHeadBytes ?? 8192;
  const maxBody = options.maxBodyBytes ?? 0;
  const maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const readBuffers = new BufferPool(32);
  const budget = new Budget(maxBuffered, Math.min(maxBuffered / 2, 16 * 1024 * 1024));
  const paths = new Set(options.paths);
  const methods = options.methods ?? ["GET", "HEAD"];
  const clock = options.clock ?? systemClock;
  const open = new Set<Deno.Conn>();
  let closed = false;
  let lastAcceptWarning = 0;

  async function write(
    conn: Deno.Conn,
    deadline: Deadline,
    answer: HttpAnswer,
    head: boolean,
    keep: boolean,
  ) {
    const body = encoder.encode(answer.body ?? "");
    const lines = [
      `HTTP/1.1 ${answer.status} ${STATUS_TEXT[answer.status] ?? ""}`,
      `content-length: ${body.length}`,
      `connection: ${keep ? "keep-alive" : "close"}`,
      ...Object.entries(answer.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    const headBytes = encoder.encode(lines.join("\r\n"));
    const data = new Uint8Array(headBytes.length + (head ? 0 : body.length));
    data.set(headBytes);
    if (!head) data.set(body, headBytes.length);
    await writeAll(conn, deadline, data);
  }

  async function writeAll(conn: Deno.Conn, deadline: Deadline, data: Uint8Array) {
    deadline.set(clock.now() + writeTimeout);
    let written = 0;
    while (written < data.length) {
      written += await deadline.io(conn.write(data.subarray(written)));
    }
  }

  const plain = (status: number, text: string, headers: Record<string, string> = {}) => ({
    status,
    body: text + "\n",
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
  const busy = () =>
    plain(503, "Busy: too many request bodies at once; try again", { "retry-after": "1" });

  /**
   * Reads a body of `length` bytes, or a chunked one, to at most `maxBody`, by `by`, into `body`.
   */
  async function readBody(
    reader: ConnReader,
    body: Body,
    length: number | "chunked",
    by: number,
  ): Promise<void> {
    if (length === 0) return;
    const more = async () => {
      if (!await reader.fill(by)) throw new Timeout(); // the client went away mid-body
    };
    if (length !== "chunked") {
      if (reader.buffered > 0) body.append(reader.take(Math.min(reader.buffered, length)));
      while (body.length < length) {
        const n = await reader.readInto(body.free().subarray(0, length - body.length), by);
        if (n === null) throw new Timeout();
        body.grew(n);
      }
      return;
    }
    for (;;) {
      let end = reader.lineEnd();
      while (end < 0) {
        if (reader.buffered > 1024) throw new Error("a chunk size line too long");
        await more();
        end = reader.lineEnd();
      }
      const size = parseInt(decoder.decode(reader.take(end)).split(";")[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw new Error("a bad chunk size");
      if (size === 0) {
        // Trailers, if any, then the empty line.
        for (;;) {
          let line = reader.lineEnd();
          while (line < 0) {
            if (reader.buffered > maxHead) throw new Error("trailers too long");
            await more();
            line = reader.lineEnd();
          }
          if (line === 2) {
            reader.take(2);
            return;
          }
          reader.take(line);
        }
      }
      body.room(size);
      let left = size;
      while (left > 0) {
        if (reader.buffered === 0) await more();
        const part = reader.take(Math.min(reader.buffered, left));
        body.append(part);
        left -= part.length;
      }
      while (reader.buffered < 2) await more();
      reader.take(2); // the chunk's CRLF
    }
  }

  async function serve(conn: Deno.Conn): Promise<void> {
    const deadline = new Deadline(conn, clock);
    const reader = new ConnReader(conn, deadline, readBuffers);
    try {
      await serveRequests(conn, deadline, reader);
    } finally {
      deadline.clear();
      reader.close();
    }
  }

  async function serveRequests(
    conn: Deno.Conn,
    deadline: Deadline,
    reader: ConnReader,
  ): Promise<void> {
    for (;;) {
      // The head of the next request: the idle time to its first byte, then the head's time.
      let end = reader.headEnd();
      let by = clock.now() + (reader.buffered > 0 ? headerTimeout : idleTimeout);
      while (end < 0) {
        if (reader.buffered >= maxHead) {
          await write(conn, deadline, plain(431, "Request head too large"), false, false);
          return;
        }
        const started = reader.buffered > 0;
        if (!await reader.fill(by)) return;
        if (!started) by = clock.now() + headerTimeout;
        end = reader.headEnd();
      }
      if (end > maxHead) {
        await write(conn, deadline, plain(431, "Request head too large"), false, false);
        return;
      }
      const text = decoder.decode(reader.take(end)).slice(0, -4);
      const [requestLine = "", ...headerLines] = text.split("\r\n");
      const [method = "", target = "", version = ""] = requestLine.split(" ");
      const headers = new Headers();
      let bad = !/^HTTP\/1\.[01]$/.test(version) || !target;
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        if (colon <= 0) {
          bad = true;
          break;
        }
        try {
          headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
        } catch {
          bad = true;
          break;
        }
      }
      if (bad) {
        await write(conn, deadline, plain(400, "Bad request"), false, false);
        return;
      }
      const keep = version === "HTTP/1.1"
        ? headers.get("connection")?.toLowerCase() !== "close"
        : headers.get("connection")?.toLowerCase() === "keep-alive";
      let path: string;
      try {
        path = new URL(target, "http://hitship").pathname;
      } catch {
        path = "";
      }
      const chunked = headers.get("transfer-encoding")?.toLowerCase().includes("chunked") ?? false;
      const length = Number(headers.get("content-length") ?? "0");
      if (!chunked && !(Number.isSafeInteger(length) && length >= 0)) {
        await write(conn, deadline, plain(400, "Bad content-length"), false, false);
        return;
      }
      const hasBody = chunked || length > 0;
      let refusal: HttpAnswer | undefined;
      if (hasBody && maxBody === 0) {
        refusal = plain(413, "This endpoint takes no request body");
      } else if (!methods.includes(method)) {
        refusal = plain(405, `Method ${method} not allowed: use ${methods.join(" or ")}`, {
          allow: methods.join(", "),
        });
      } else if (!paths.has(path)) {
        refusal = plain(404, `No such endpoint: try ${[...paths].join(", ")}`);
      } else if (hasBody && !chunked && length > maxBody) {
        refusal = plain(413, `The body is larger than ${maxBody} bytes`);
      }
      if (refusal) {
        // A body that will not be read ends the connection after the answer.
        await write(conn, deadline, refusal, method === "HEAD", keep && !hasBody);
        if (!keep || hasBody) return;
        continue;
      }
      let body: Body;
      try {
        body = new Body(chunked ? 64 * 1024 : length, maxBody, budget);
      } catch {
        await write(conn, deadline, busy(), false, false);
        return;
      }
      try {
        if (hasBody && headers.get("expect")?.toLowerCase() === "100-continue") {
          await writeAll(conn, deadline, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
        }
        try {
          await readBody(reader, body, chunked ? "chunked" : length, clock.now() + bodyTimeout);
        } catch (error) {
          if (error instanceof Timeout) return;
          await write(
            conn,
            deadline,
            error instanceof TooLarge
              ? plain(413, `The body is larger than ${maxBody} bytes`)
              : error instanceof Busy
              ? busy()
              : plain(400, `Cannot read the body: ${(error as Error).message}`),
            false,
            false,
          );
          return;
        }
        deadline.clear(); // the handler's time is its own
        let answer: HttpAnswer;
        try {
          answer = await handler({ method, path, headers, body: body.bytes });
        } catch (error) {
          options.logger?.error(
            `The HTTP endpoint failed on ${path}: ${(error as Error).message}`,
          );
          answer = plain(500, "Internal error");
        }
        await write(conn, deadline, answer, method === "HEAD", keep);
      } finally {
        body.release();
      }
      if (!keep) return;
    }
  }

  async function accept(): Promise<void> {
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closed) return;
        // Out of file descriptors, or a connection reset before it was taken: wait, go on.
        const now = Date.now();
        if (now - lastAcceptWarning > 60_000) {
          lastAcceptWarning = now;
          options.logger?.warn(
            `The HTTP endpoint cannot accept a connection: ${
              (error as Error).message
            }; it tries again`,
          );
        }
        await clock.sleep(100).catch(() => {});
        continue;
      }
      if (open.size >= maxConnections) {
        conn.close();
        continue;
      }
      open.add(conn);
      serve(conn).catch(() => {}).finally(() => {
        open.delete(conn);
        if (open.size === 0) budget.drain();
        try {
          conn.close();
        } catch {
          // closed already
        }
      });
    }
  }

  const accepting = accept();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return open.size;
    },
    async shutdown() {
      closed = true;
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
      await accepting;
    },
  };
}
