/**
 * A small HTTP/1.1 server for hitship's endpoints, bounded in every way a client can push it:
 * concurrent connections, time to send a request's head, idle keep-alive time, time to take an
 * answer, head size. It serves GET and HEAD of exact paths and nothing else. Errors stay with the
 * connection they belong to: a full file table (`EMFILE`) pauses accepting, it never ends the
 * process.
 *
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";
import type { Logger } from "./log.ts";

/** A request as the handler sees it. */
export interface HttpRequest {
  method: "GET" | "HEAD";
  /** The path, without the query. */
  path: string;
  headers: Headers;
}

/** An answer. */
export interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** Options of {@linkcode serveBounded}. */
export interface BoundedServerOptions {
  hostname: string;
  port: number;
  /** The paths served; any other is answered 404. */
  paths: readonly string[];
  /** Connections at once; more are closed at once. @default 64 */
  maxConnections?: number;
  /** Time for a request's head to arrive once it began, ms. @default 10_000 */
  headerTimeout?: number;
  /** Time a kept-alive connection may wait for its next request, ms. @default 5_000 */
  idleTimeout?: number;
  /** Time a client has to take an answer, ms. @default 10_000 */
  writeTimeout?: number;
  /** Largest request head. @default 8 KiB */
  maxHeadBytes?: number;
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
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEAD_END = encoder.encode("\r\n\r\n");

class Timeout extends Error {}

/** Finds `\r\n\r\n` in `buffer` before `end`. */
function headEnd(buffer: Uint8Array, end: number): number {
  for (let i = 3; i < end; i++) {
    if (
      buffer[i] === HEAD_END[3] && buffer[i - 1] === HEAD_END[2] &&
      buffer[i - 2] === HEAD_END[1] && buffer[i - 3] === HEAD_END[0]
    ) return i + 1;
  }
  return -1;
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
  handler: (request: HttpRequest) => HttpAnswer,
): BoundedServer {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const maxConnections = options.maxConnections ?? 64;
  const headerTimeout = options.headerTimeout ?? 10_000;
  const idleTimeout = options.idleTimeout ?? 5_000;
  const writeTimeout = options.writeTimeout ?? 10_000;
  const maxHead = options.maxHeadBytes ?? 8192;
  const paths = new Set(options.paths);
  const clock = options.clock ?? systemClock;
  const open = new Set<Deno.Conn>();
  let closed = false;
  let lastAcceptWarning = 0;

  /** Runs `io`, closing the connection when it takes longer than `ms`. */
  async function timed<T>(conn: Deno.Conn, ms: number, io: Promise<T>): Promise<T> {
    const stop = new AbortController();
    const late = clock.sleep(ms, stop.signal).then(() => {
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
    let written = 0;
    while (written < data.length) {
      written += await timed(conn, writeTimeout, conn.write(data.subarray(written)));
    }
  }

  const plain = (status: number, text: string, headers: Record<string, string> = {}) => ({
    status,
    body: text + "\n",
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });

  async function serve(conn: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(maxHead);
    let used = 0;
    for (;;) {
      // The head of the next request: the idle time to its first byte, then the head's time.
      let end = headEnd(buffer, used);
      let started = used > 0;
      const headBy = clock.now() + headerTimeout;
      while (end < 0) {
        if (used === buffer.length) {
          await write(conn, plain(431, "Request head too large"), false, false);
          return;
        }
        const wait = started ? Math.max(1, headBy - clock.now()) : idleTimeout;
        const n = await timed(conn, wait, conn.read(buffer.subarray(used)));
        if (n === null) return;
        if (!started) started = true;
        used += n;
        end = headEnd(buffer, used);
      }
      const text = decoder.decode(buffer.subarray(0, end - 4));
      buffer.copyWithin(0, end, used);
      used -= end;
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
      // These endpoints take no body: one that comes is refused, and the connection ends.
      const length = Number(headers.get("content-length") ?? "0");
      if (headers.has("transfer-encoding") || !(length === 0)) {
        await write(conn, plain(413, "These endpoints take no request body"), false, false);
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
      let answer: HttpAnswer;
      if (method !== "GET" && method !== "HEAD") {
        answer = plain(405, `Method ${method} not allowed: use GET or HEAD`, {
          allow: "GET, HEAD",
        });
      } else if (!paths.has(path)) {
        answer = plain(404, `No such endpoint: try ${[...paths].join(", ")}`);
      } else {
        try {
          answer = handler({ method, path, headers });
        } catch (error) {
          options.logger?.error(`The HTTP endpoint failed on ${path}: ${(error as Error).message}`);
          answer = plain(500, "Internal error");
        }
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
