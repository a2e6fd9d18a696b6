/**
 * A small HTTP/1.1 server for hitship's endpoints and its HTTP input, bounded in every way a
 * client can push it: connections at once (one stalled longest makes room for a new one), time to
 * send a request's head and its body (a body must keep a minimum rate), idle keep-alive time, time
 * to take an answer, head and body size, and the bytes of all bodies held at once, counted as they
 * arrive (past that, a request is answered 503). A request is read strictly (RFC 9112, see
 * `head.ts` and `chunked.ts`), and a handler may refuse it from its head alone, before its body is
 * read (a wrong token, say). It serves exact paths and the methods it is given, and nothing else.
 * Errors stay with the connection they belong to: a full file table (`EMFILE`) pauses accepting,
 * it never ends the process.
 *
 * @module
 */
import { type Clock, systemClock } from "../clock.ts";
import { BufferPool, release } from "../buffer_pool.ts";
import { Deadline, Timeout } from "../deadline.ts";
import type { Logger } from "../log.ts";
import { ConnectionSlots } from "../slots.ts";
import { answerBytes, type HttpAnswer, plainAnswer } from "./answer.ts";
import { ChunkedDecoder, ChunkedError } from "./chunked.ts";
import { headEnd, HeadError, parseHead, type RequestHead } from "./head.ts";

export type { HttpAnswer } from "./answer.ts";

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

/** A request's head, as {@linkcode BoundedServerOptions.checkHead} sees it. */
export type HttpRequestHead = Omit<HttpRequest, "body"> & {
  /** Whether a body follows. */
  hasBody: boolean;
};

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
  /**
   * Connections at once. At the limit, the connection that has made no progress for longest
   * (at least 1 s) is closed to make room; when all are busy, the new one is closed. @default 64
   */
  maxConnections?: number;
  /** Time for a request's head to arrive once it began, ms. @default 10_000 */
  headerTimeout?: number;
  /** Longest time for a request's body to arrive once its head has, ms. @default 30_000 */
  bodyTimeout?: number;
  /**
   * Bytes per second a body must arrive at, on average, after its first 10 s: a slower one is
   * closed (the deadline is 10 s plus 1 s for each `minBodyRate` bytes received, at most
   * `bodyTimeout`). @default 1024
   */
  minBodyRate?: number;
  /** Time a kept-alive connection may wait for its next request, ms. @default 5_000 */
  idleTimeout?: number;
  /** Time a client has to take an answer, ms. @default 10_000 */
  writeTimeout?: number;
  /** Largest request head. @default 8 KiB */
  maxHeadBytes?: number;
  /** Largest request body; a larger one is answered 413. @default 0: no bodies */
  maxBodyBytes?: number;
  /**
   * Bytes of request bodies held at once, over all connections, counted as they arrive: a request
   * whose body would pass it is answered 503 with `Retry-After: 1` (one body is always taken
   * when no other is held). @default 16 MiB
   */
  maxBufferedBytes?: number;
  /**
   * Looks at a request's head before its body is read: an answer refuses the request (its body
   * is not read, and the connection is closed after the answer when one was coming).
   */
  checkHead?: (head: HttpRequestHead) => HttpAnswer | undefined;
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

const encoder = new TextEncoder();

/** The body would pass the largest allowed. */
class TooLarge extends Error {}
/** The bodies held at once would pass their limit. */
class Busy extends Error {}

/** A connection's read-ahead buffer: a request head, or a chunked body's pieces. */
const READ_BYTES = 16 * 1024;
/** Bytes of a content-length body read (and counted against the budget) at a time. */
const BODY_READ_BYTES = 256 * 1024;
/** A body's first 10 s do not count for its rate. */
const BODY_GRACE_MS = 10_000;

/** Bytes of one connection read ahead of what is consumed. */
class ConnReader {
  readonly #conn: Deno.Conn;
  readonly #deadline: Deadline;
  readonly #pool: BufferPool;
  readonly #onProgress: () => void;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;

  /** Reads with a buffer from `pool` (each connection has one): `close` gives it back. */
  constructor(conn: Deno.Conn, deadline: Deadline, pool: BufferPool, onProgress: () => void) {
    this.#conn = conn;
    this.#deadline = deadline;
    this.#pool = pool;
    this.#onProgress = onProgress;
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

  /** The bytes read and not consumed (a view, valid until the next read). */
  get view(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
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
    this.#onProgress();
    return true;
  }

  /**
   * Reads straight into `target` (nothing must be buffered), by `by`: a large body is not copied
   * through the read-ahead buffer. The number of bytes read, or null at the end of the stream.
   */
  async readInto(target: Uint8Array, by: number): Promise<number | null> {
    this.#deadline.set(by);
    const n = await this.#deadline.io(this.#conn.read(target));
    if (n !== null) this.#onProgress();
    return n;
  }

  /** Drops empty lines before a request line (RFC 9112 §2.2 lets a server ignore them). */
  skipEmptyLines(): void {
    while (
      this.buffered >= 2 && this.#buffer[this.#start] === 13 && this.#buffer[this.#start + 1] === 10
    ) {
      this.#start += 2;
    }
  }

  /** Where the head ends in the buffered bytes (its length), -1 while incomplete, or why not. */
  headEnd(): number | HeadError {
    const end = headEnd(this.#buffer, this.#start, this.#end);
    return typeof end === "number" && end >= 0 ? end - this.#start : end;
  }

  /** Consumes `n` buffered bytes (a view, valid until the next read). */
  take(n: number): Uint8Array {
    const out = this.#buffer.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }
}

/**
 * The memory of bodies, over all connections: at most `max` bytes held at once, counted as bytes
 * arrive (a body announced large but sent slowly holds only what it sent). Buffers given back are
 * kept for the next body (new memory costs page faults and zeroing, and a large buffer let go is
 * only freed at V8's next full collection), up to `keep` bytes, counted too; `drain` lets them go.
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
  /**
   * Counts `n` more bytes for a body that holds `own` now; false when they would pass the limit
   * while other bodies hold bytes (one body is always taken).
   */
  reserve(n: number, own: number): boolean {
    while (this.#kept.length > 0 && this.#held + this.#keptBytes + n > this.#max) {
      const dropped = this.#kept.pop()!;
      this.#keptBytes -= dropped.length;
      release(dropped);
    }
    if (this.#held - own > 0 && this.#held + n > this.#max) return false;
    this.#held += n;
    return true;
  }
  /** Bytes that may still be counted before the limit. */
  get room(): number {
    return this.#max - this.#held;
  }
  /** Counts `n` bytes less. */
  unreserve(n: number): void {
    this.#held -= n;
  }
  /** A buffer of at least `n` bytes: a kept one not over twice that, or a new one. */
  buffer(n: number): Uint8Array {
    const i = this.#kept.findIndex((b) => b.length >= n && b.length <= 2 * n);
    if (i < 0) return new Uint8Array(n);
    const buffer = this.#kept.splice(i, 1)[0]!;
    this.#keptBytes -= buffer.length;
    return buffer;
  }
  /** Gives a buffer back, to keep or to let go. */
  give(buffer: Uint8Array): void {
    if (buffer.length === 0) return;
    if (
      this.#keptBytes + buffer.length <= this.#keep &&
      this.#held + this.#keptBytes + buffer.length <= this.#max
    ) {
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

const EMPTY = new Uint8Array(0);

/** A body as it arrives, to at most `max` bytes, its bytes counted against a budget. */
class Body {
  #bytes: Uint8Array = EMPTY;
  #length = 0;
  /** The size it will have: its content length, or at most `max`. */
  #target: number;
  readonly #budget: Budget;
  constructor(max: number, budget: Budget) {
    this.#target = max;
    this.#budget = budget;
  }
  get length(): number {
    return this.#length;
  }
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }
  /**
   * A body of known `length`: while the budget has room for all of it, one buffer for all of it
   * (new memory is touched only as bytes arrive); otherwise one that grows.
   */
  expect(length: number): void {
    if (length > this.#target) throw new TooLarge();
    this.#target = length;
    if (length <= this.#budget.room) this.#bytes = this.#budget.buffer(length);
  }
  /** Counts `n` more bytes, and makes room for them. */
  #room(n: number): void {
    if (this.#length + n > this.#target) throw new TooLarge();
    if (!this.#budget.reserve(n, this.#length)) throw new Busy();
    if (this.#length + n <= this.#bytes.length) return;
    const size = Math.min(
      this.#target,
      Math.max(this.#length + n, this.#bytes.length * 2, 64 * 1024),
    );
    const bigger = this.#budget.buffer(size);
    bigger.set(this.#bytes.subarray(0, this.#length));
    this.#budget.give(this.#bytes);
    this.#bytes = bigger;
  }
  append(part: Uint8Array): void {
    this.#room(part.length);
    this.#bytes.set(part, this.#length);
    this.#length += part.length;
  }
  /** Counts up to `n` bytes to read into {@linkcode free}; `grew` says how many came. */
  reserve(n: number): void {
    this.#room(n);
  }
  /** The space after the bytes so far. */
  free(n: number): Uint8Array {
    return this.#bytes.subarray(this.#length, this.#length + n);
  }
  /** `n` of the `reserved` bytes came. */
  grew(n: number, reserved: number): void {
    this.#length += n;
    this.#budget.unreserve(reserved - n);
  }
  /** Gives the memory back: the bytes must not be used after. */
  release(): void {
    this.#budget.unreserve(this.#length);
    this.#budget.give(this.#bytes);
    this.#bytes = EMPTY;
    this.#length = 0;
  }
}

/**
 * Serves `handler` on `hostname:port` within the bounds of `options`.
 *
 * @example
 * ```ts
 * import { serveBounded } from "./server.ts";
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
  const headerTimeout = options.headerTimeout ?? 10_000;
  const bodyTimeout = options.bodyTimeout ?? 30_000;
  const minBodyRate = options.minBodyRate ?? 1024;
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
  const slots = new ConnectionSlots<Deno.Conn>(options.maxConnections ?? 64, clock);
  let closed = false;
  let lastAcceptWarning = 0;

  async function write(
    conn: Deno.Conn,
    deadline: Deadline,
    answer: HttpAnswer,
    head: boolean,
    keepAlive: boolean,
  ) {
    await writeAll(conn, deadline, answerBytes(answer, { head, keepAlive }));
  }

  async function writeAll(conn: Deno.Conn, deadline: Deadline, data: Uint8Array) {
    deadline.set(clock.now() + writeTimeout);
    let written = 0;
    while (written < data.length) {
      written += await deadline.io(conn.write(data.subarray(written)));
    }
  }

  const busy = () =>
    plainAnswer(503, "Busy: too many request bodies at once; try again", { "retry-after": "1" });

  /** The time a body has, from `start`, once `received` bytes of it came. */
  const bodyDeadline = (start: number, received: number) =>
    start + Math.min(bodyTimeout, BODY_GRACE_MS + (received / minBodyRate) * 1000);

  /** Reads a body of `length` bytes into `body`, within its time. */
  async function readLength(reader: ConnReader, body: Body, length: number): Promise<void> {
    const start = clock.now();
    body.expect(length);
    if (reader.buffered > 0) body.append(reader.take(Math.min(reader.buffered, length)));
    while (body.length < length) {
      const want = Math.min(BODY_READ_BYTES, length - body.length);
      body.reserve(want);
      let n: number | null = 0;
      try {
        n = await reader.readInto(body.free(want), bodyDeadline(start, body.length));
      } finally {
        body.grew(n ?? 0, want);
      }
      if (n === null) throw new Timeout(); // the client went away mid-body
    }
  }

  /** Reads a chunked body into `body`, within its time. */
  async function readChunked(reader: ConnReader, body: Body): Promise<void> {
    const start = clock.now();
    const decoder = new ChunkedDecoder();
    const append = (part: Uint8Array) => body.append(part);
    for (;;) {
      if (reader.buffered > 0) reader.take(decoder.feed(reader.view, append));
      if (decoder.done) return;
      if (!await reader.fill(bodyDeadline(start, body.length))) throw new Timeout();
    }
  }

  /** Reads one request's head: the head, an error to answer, or null (closed, or timed out). */
  async function readHead(reader: ConnReader): Promise<RequestHead | HeadError | null> {
    // The idle time to its first byte, then the head's time.
    reader.skipEmptyLines();
    let by = clock.now() + (reader.buffered > 0 ? headerTimeout : idleTimeout);
    for (;;) {
      const end = reader.headEnd();
      if (end instanceof HeadError) return end;
      if (end > maxHead || (end < 0 && reader.buffered >= maxHead)) {
        return new HeadError(431, "Request head too large");
      }
      if (end >= 0) return parseHead(reader.take(end));
      const started = reader.buffered > 0;
      if (!await reader.fill(by)) return null;
      reader.skipEmptyLines();
      if (!started && reader.buffered > 0) by = clock.now() + headerTimeout;
    }
  }

  /** Why a request is refused from its head alone, if it is. */
  function refusal(head: RequestHead, hasBody: boolean): HttpAnswer | undefined {
    const { method, path, framing } = head;
    if (hasBody && maxBody === 0) return plainAnswer(413, "This endpoint takes no request body");
    if (!methods.includes(method)) {
      return plainAnswer(405, `Method ${method} not allowed: use ${methods.join(" or ")}`, {
        allow: methods.join(", "),
      });
    }
    if (!paths.has(path)) return plainAnswer(404, `No such endpoint: try ${[...paths].join(", ")}`);
    if (framing.kind === "length" && framing.length > maxBody) {
      return plainAnswer(413, `The body is larger than ${maxBody} bytes`);
    }
    return options.checkHead?.({ method, path, headers: head.headers, hasBody });
  }

  async function serveRequests(
    conn: Deno.Conn,
    deadline: Deadline,
    reader: ConnReader,
  ): Promise<void> {
    for (;;) {
      const head = await readHead(reader);
      if (head === null) return;
      if (head instanceof HeadError) {
        await write(conn, deadline, plainAnswer(head.status, head.message), false, false);
        return;
      }
      const hasBody = head.framing.kind !== "none";
      const isHead = head.method === "HEAD";
      const refused = refusal(head, hasBody);
      if (refused) {
        // A body that will not be read ends the connection after the answer.
        await write(conn, deadline, refused, isHead, head.keepAlive && !hasBody);
        if (!head.keepAlive || hasBody) return;
        continue;
      }
      const body = new Body(maxBody, budget);
      try {
        if (hasBody && head.expectContinue) {
          await writeAll(conn, deadline, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
        }
        try {
          if (head.framing.kind === "length") await readLength(reader, body, head.framing.length);
          else if (head.framing.kind === "chunked") await readChunked(reader, body);
        } catch (error) {
          if (error instanceof Timeout) return;
          await write(
            conn,
            deadline,
            error instanceof TooLarge
              ? plainAnswer(413, `The body is larger than ${maxBody} bytes`)
              : error instanceof Busy
              ? busy()
              : error instanceof ChunkedError
              ? plainAnswer(400, `Cannot read the chunked body: ${error.message}`)
              : plainAnswer(400, `Cannot read the body: ${(error as Error).message}`),
            false,
            false,
          );
          return;
        }
        deadline.clear(); // the handler's time is its own
        let answer: HttpAnswer;
        slots.busy(conn, true);
        try {
          answer = await handler({
            method: head.method,
            path: head.path,
            headers: head.headers,
            body: body.bytes,
          });
        } catch (error) {
          options.logger?.error(
            `The HTTP endpoint failed on ${head.path}: ${(error as Error).message}`,
          );
          answer = plainAnswer(500, "Internal error");
        } finally {
          slots.busy(conn, false);
        }
        await write(conn, deadline, answer, isHead, head.keepAlive);
      } finally {
        body.release();
      }
      if (!head.keepAlive) return;
    }
  }

  async function serve(conn: Deno.Conn): Promise<void> {
    const deadline = new Deadline(conn, clock);
    const reader = new ConnReader(conn, deadline, readBuffers, () => slots.progress(conn));
    try {
      await serveRequests(conn, deadline, reader);
    } finally {
      deadline.clear();
      reader.close();
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
      if (!slots.admit(conn)) {
        conn.close();
        continue;
      }
      serve(conn).catch(() => {}).finally(() => {
        slots.release(conn);
        if (slots.size === 0) budget.drain();
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
      return slots.size;
    },
    async shutdown() {
      closed = true;
      listener.close();
      slots.closeAll();
      await accepting;
    },
  };
}
