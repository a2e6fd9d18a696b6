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
import { BufferPool } from "../buffer_pool.ts";
import { Deadline, Timeout } from "../deadline.ts";
import type { Logger } from "../log.ts";
import { ConnectionSlots } from "../slots.ts";
import { answerBytes, type HttpAnswer, plainAnswer } from "./answer.ts";
import {
  Body,
  BodyBudget,
  type BodyTimes,
  Busy,
  ConnReader,
  readChunked,
  readLength,
  TooLarge,
} from "./body.ts";
import { ChunkedError } from "./chunked.ts";
import { HeadError, parseHead, type RequestHead } from "./head.ts";

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

/** Answers one request. */
type Handler = (request: HttpRequest) => HttpAnswer | Promise<HttpAnswer>;

/** A bounded server, running: {@linkcode serveBounded} makes one. */
class BoundedHttpServer implements BoundedServer {
  readonly #options: BoundedServerOptions;
  readonly #handler: Handler;
  readonly #listener: Deno.Listener;
  readonly #clock: Clock;
  readonly #slots: ConnectionSlots<Deno.Conn>;
  readonly #budget: BodyBudget;
  readonly #readBuffers = new BufferPool(32);
  readonly #paths: Set<string>;
  readonly #methods: readonly string[];
  readonly #body: BodyTimes;
  readonly #accepting: Promise<void>;
  #closed = false;
  #lastAcceptWarning = 0;

  constructor(options: BoundedServerOptions, handler: Handler) {
    this.#options = options;
    this.#handler = handler;
    this.#listener = options.tls
      ? Deno.listenTls({ hostname: options.hostname, port: options.port, ...options.tls })
      : Deno.listen({ hostname: options.hostname, port: options.port });
    this.#clock = options.clock ?? systemClock;
    this.#slots = new ConnectionSlots<Deno.Conn>(options.maxConnections ?? 64, this.#clock);
    const maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.#budget = new BodyBudget(maxBuffered, Math.min(maxBuffered / 2, 16 * 1024 * 1024));
    this.#paths = new Set(options.paths);
    this.#methods = options.methods ?? ["GET", "HEAD"];
    this.#body = {
      clock: this.#clock,
      timeout: options.bodyTimeout ?? 30_000,
      minRate: options.minBodyRate ?? 1024,
    };
    this.#accepting = this.#accept();
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  get connections(): number {
    return this.#slots.size;
  }

  async shutdown(): Promise<void> {
    this.#closed = true;
    this.#listener.close();
    this.#slots.closeAll();
    await this.#accepting;
  }

  get #maxBody(): number {
    return this.#options.maxBodyBytes ?? 0;
  }

  async #write(
    conn: Deno.Conn,
    deadline: Deadline,
    answer: HttpAnswer,
    head: boolean,
    keep: boolean,
  ) {
    await this.#writeAll(conn, deadline, answerBytes(answer, { head, keepAlive: keep }));
  }

  async #writeAll(conn: Deno.Conn, deadline: Deadline, data: Uint8Array) {
    deadline.set(this.#clock.now() + (this.#options.writeTimeout ?? 10_000));
    let written = 0;
    while (written < data.length) {
      written += await deadline.io(conn.write(data.subarray(written)));
    }
  }

  /** Reads one request's head: the head, an error to answer, or null (closed, or timed out). */
  async #readHead(reader: ConnReader): Promise<RequestHead | HeadError | null> {
    const headerTimeout = this.#options.headerTimeout ?? 10_000;
    const maxHead = this.#options.maxHeadBytes ?? 8192;
    // The idle time to its first byte, then the head's time.
    reader.skipEmptyLines();
    let by = this.#clock.now() +
      (reader.buffered > 0 ? headerTimeout : this.#options.idleTimeout ?? 5_000);
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
      if (!started && reader.buffered > 0) by = this.#clock.now() + headerTimeout;
    }
  }

  /** Why a request is refused from its head alone, if it is. */
  #refusal(head: RequestHead, hasBody: boolean): HttpAnswer | undefined {
    const { method, path, framing } = head;
    const methods = this.#methods;
    if (hasBody && this.#maxBody === 0) {
      return plainAnswer(413, "This endpoint takes no request body");
    }
    if (!methods.includes(method)) {
      return plainAnswer(405, `Method ${method} not allowed: use ${methods.join(" or ")}`, {
        allow: methods.join(", "),
      });
    }
    if (!this.#paths.has(path)) {
      return plainAnswer(404, `No such endpoint: try ${[...this.#paths].join(", ")}`);
    }
    if (framing.kind === "length" && framing.length > this.#maxBody) {
      return plainAnswer(413, `The body is larger than ${this.#maxBody} bytes`);
    }
    return this.#options.checkHead?.({ method, path, headers: head.headers, hasBody });
  }

  /** The answer to a body that could not be read, or null when the client went away. */
  #bodyError(error: unknown): HttpAnswer | null {
    if (error instanceof Timeout) return null;
    if (error instanceof TooLarge) {
      return plainAnswer(413, `The body is larger than ${this.#maxBody} bytes`);
    }
    if (error instanceof Busy) {
      return plainAnswer(503, "Busy: too many request bodies at once; try again", {
        "retry-after": "1",
      });
    }
    if (error instanceof ChunkedError) {
      return plainAnswer(400, `Cannot read the chunked body: ${error.message}`);
    }
    return plainAnswer(400, `Cannot read the body: ${(error as Error).message}`);
  }

  /** The handler's answer (500 when it throws), the connection busy meanwhile. */
  async #answer(conn: Deno.Conn, head: RequestHead, body: Uint8Array): Promise<HttpAnswer> {
    this.#slots.busy(conn, true);
    try {
      return await this.#handler({
        method: head.method,
        path: head.path,
        headers: head.headers,
        body,
      });
    } catch (error) {
      this.#options.logger?.error(
        `The HTTP endpoint failed on ${head.path}: ${(error as Error).message}`,
      );
      return plainAnswer(500, "Internal error");
    } finally {
      this.#slots.busy(conn, false);
    }
  }

  /**
   * Reads, answers and frees one request whose head was taken.
   *
   * @returns Whether the connection stays open for the next request.
   */
  async #serveOne(
    conn: Deno.Conn,
    deadline: Deadline,
    reader: ConnReader,
    head: RequestHead,
  ): Promise<boolean> {
    const hasBody = head.framing.kind !== "none";
    const isHead = head.method === "HEAD";
    const refused = this.#refusal(head, hasBody);
    if (refused) {
      // A body that will not be read ends the connection after the answer.
      await this.#write(conn, deadline, refused, isHead, head.keepAlive && !hasBody);
      return head.keepAlive && !hasBody;
    }
    const body = new Body(this.#maxBody, this.#budget);
    try {
      if (hasBody && head.expectContinue) {
        await this.#writeAll(conn, deadline, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      try {
        if (head.framing.kind === "length") {
          await readLength(reader, body, head.framing.length, this.#body);
        } else if (head.framing.kind === "chunked") await readChunked(reader, body, this.#body);
      } catch (error) {
        const answer = this.#bodyError(error);
        if (answer) await this.#write(conn, deadline, answer, false, false);
        return false;
      }
      deadline.clear(); // the handler's time is its own
      const answer = await this.#answer(conn, head, body.bytes);
      await this.#write(conn, deadline, answer, isHead, head.keepAlive);
    } finally {
      body.release();
    }
    return head.keepAlive;
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const deadline = new Deadline(conn, this.#clock);
    const reader = new ConnReader(conn, deadline, this.#readBuffers, () => {
      this.#slots.progress(conn);
    });
    try {
      for (;;) {
        const head = await this.#readHead(reader);
        if (head === null) return;
        if (head instanceof HeadError) {
          await this.#write(conn, deadline, plainAnswer(head.status, head.message), false, false);
          return;
        }
        if (!await this.#serveOne(conn, deadline, reader, head)) return;
      }
    } finally {
      deadline.clear();
      reader.close();
    }
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed) return;
        // Out of file descriptors, or a connection reset before it was taken: wait, go on.
        const now = Date.now();
        if (now - this.#lastAcceptWarning > 60_000) {
          this.#lastAcceptWarning = now;
          this.#options.logger?.warn(
            `The HTTP endpoint cannot accept a connection: ${
              (error as Error).message
            }; it tries again`,
          );
        }
        await this.#clock.sleep(100).catch(() => {});
        continue;
      }
      if (!this.#slots.admit(conn)) {
        conn.close();
        continue;
      }
      this.#serve(conn).catch(() => {}).finally(() => {
        this.#slots.release(conn);
        if (this.#slots.size === 0) this.#budget.drain();
        try {
          conn.close();
        } catch {
          // closed already
        }
      });
    }
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
  return new BoundedHttpServer(options, handler);
}
