/**
 * A small HTTP/1.1 server for hitship's endpoints and its HTTP input, bounded in every way a
 * client can push it: concurrent connections, time to send a request's head and its body, idle
 * keep-alive time, time to take an answer, head and body size. It serves exact paths and the
 * methods it is given, and nothing else. Errors stay with the connection they belong to: a full
 * file table (`EMFILE`) pauses accepting, it never ends the process.
 *
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";
import type { Logger } from "./log.ts";

/** A request as the handler sees it. */
export interface HttpRequest {
  /** `GET`, `POST`, ... */
  method: string;
  /** The path, without the query. */
  path: string;
  /** The request's headers. */
  headers: Headers;
  /** The body, whole (empty when there is none). */
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
class TooLarge extends Error {}

/** Bytes of one connection read ahead of what is consumed, with a deadline on each read. */
class ConnReader {
  readonly #conn: Deno.Conn;
  readonly #read: (io: Promise<number | null>, by: number) => Promise<number | null>;
  #buffer = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;

  constructor(
    conn: Deno.Conn,
    read: (io: Promise<number | null>, by: number) => Promise<number | null>,
  ) {
    this.#conn = conn;
    this.#read = read;
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
    const n = await this.#read(this.#conn.read(this.#buffer.subarray(this.#end)), by);
    if (n === null) return false;
    this.#end += n;
    return true;
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

/** A body growing as it arrives, to at most `max` bytes. */
class Body {
  #bytes: Uint8Array;
  #length = 0;
  readonly #max: number;
  constructor(initial: number, max: number) {
    this.#bytes = new Uint8Array(Math.min(initial, max));
    this.#max = max;
  }
  append(part: Uint8Array): void {
    if (this.#length + part.length > this.#max) throw new TooLarge();
    if (this.#length + part.length > this.#bytes.length) {
      const bigger = new Uint8Array(
        Math.min(this.#max, Math.max(this.#length + part.length, this.#bytes.length * 2)),
      );
      bigger.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = bigger;
    }
    this.#bytes.set(part, this.#length);
    this.#length += part.length;
  }
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
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
  const paths = new Set(options.paths);
  const methods = options.methods ?? ["GET", "HEAD"];
  const clock = options.clock ?? systemClock;
  const open = new Set<Deno.Conn>();
  let closed = false;
  let lastAcceptWarning = 0;

  /** Runs `io`, closing the connection when it has not finished by `by` (clock time). */
  async function timed<T>(conn: Deno.Conn, by: number, io: Promise<T>): Promise<T> {
    const stop = new AbortController();
    const late = clock.sleep(Math.max(1, by - clock.now()), stop.signal).then(() => {
      try {
        conn.close();
      } catch {
        // closed already
      }
      throw new Timeout();
    });
    late.catch(() => {});
    try {
      return await Promise.race([io, late]);
    } finally {
      stop.abort();
    }
  }

  async function write(conn: Deno.Conn, answer: HttpAnswer, head: boolean, keep: boolean) {
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
    await writeAll(conn, data);
  }

  async function writeAll(conn: Deno.Conn, data: Uint8Array) {
    const by = clock.now() + writeTimeout;
    let written = 0;
    while (written < data.length) {
      written += await timed(conn, by, conn.write(data.subarray(written)));
    }
  }

  const plain = (status: number, text: string, headers: Record<string, string> = {}) => ({
    status,
    body: text + "\n",
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });

  /** Reads a body of `length` bytes, or a chunked one, to at most `maxBody`, by `by`. */
  async function readBody(
    reader: ConnReader,
    length: number | "chunked",
    by: number,
  ): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    const body = new Body(length === "chunked" ? 64 * 1024 : length, maxBody);
    const more = async () => {
      if (!await reader.fill(by)) throw new Timeout(); // the client went away mid-body
    };
    if (length !== "chunked") {
      while (body.bytes.length < length) {
        if (reader.buffered === 0) await more();
        body.append(reader.take(Math.min(reader.buffered, length - body.bytes.length)));
      }
      return body.bytes;
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
            return body.bytes;
          }
          reader.take(line);
        }
      }
      if (body.bytes.length + size > maxBody) throw new TooLarge();
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
    const reader = new ConnReader(conn, (io, by) => timed(conn, by, io));
    for (;;) {
      // The head of the next request: the idle time to its first byte, then the head's time.
      let end = reader.headEnd();
      let by = clock.now() + (reader.buffered > 0 ? headerTimeout : idleTimeout);
      while (end < 0) {
        if (reader.buffered >= maxHead) {
          await write(conn, plain(431, "Request head too large"), false, false);
          return;
        }
        const started = reader.buffered > 0;
        if (!await reader.fill(by)) return;
        if (!started) by = clock.now() + headerTimeout;
        end = reader.headEnd();
      }
      if (end > maxHead) {
        await write(conn, plain(431, "Request head too large"), false, false);
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
        await write(conn, plain(400, "Bad request"), false, false);
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
        await write(conn, plain(400, "Bad content-length"), false, false);
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
        await write(conn, refusal, method === "HEAD", keep && !hasBody);
        if (!keep || hasBody) return;
        continue;
      }
      if (hasBody && headers.get("expect")?.toLowerCase() === "100-continue") {
        await writeAll(conn, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      let body: Uint8Array;
      try {
        body = await readBody(reader, chunked ? "chunked" : length, clock.now() + bodyTimeout);
      } catch (error) {
        if (error instanceof Timeout) return;
        await write(
          conn,
          error instanceof TooLarge
            ? plain(413, `The body is larger than ${maxBody} bytes`)
            : plain(400, `Cannot read the body: ${(error as Error).message}`),
          false,
          false,
        );
        return;
      }
      let answer: HttpAnswer;
      try {
        answer = await handler({ method, path, headers, body });
      } catch (error) {
        options.logger?.error(`The HTTP endpoint failed on ${path}: ${(error as Error).message}`);
        answer = plain(500, "Internal error");
      }
      await write(conn, answer, method === "HEAD", keep);
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
