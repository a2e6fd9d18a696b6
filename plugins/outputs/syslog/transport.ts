/**
 * Syslog transports: TCP and TLS (one connection kept open, framed messages written to it, a
 * connection the receiver closed or reset noticed before the next write), and UDP (one datagram
 * per message, never more than the limit: a longer message is refused, never cut).
 *
 * @module
 */
import dgram from "node:dgram";
import { isIP } from "node:net";
import { extraCaCerts, type TlsClientConfig } from "@hitship/hitship/sdk";

/** A way to the receiver. */
export interface SyslogTransport {
  /** Sends the messages (already framed for a stream), in order; throws on failure. */
  send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<void>;
  close(): void;
}

/** Where and how to connect. */
export interface StreamOptions {
  hostname: string;
  port: number;
  /** Connection and write time, ms. */
  timeout: number;
  /** For TLS: the CA and client certificate (the runtime's CA store without). */
  tls?: TlsClientConfig | null;
}

async function readText(path: string | undefined): Promise<string | undefined> {
  return path ? await Deno.readTextFile(path) : undefined;
}

function withTimeout<T>(
  work: Promise<T>,
  ms: number,
  what: string,
  signal: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} took over ${ms / 1000}s (timeout)`)),
      ms,
    );
    const abort = () => reject(new Error("stopped"));
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
    });
  });
}

/** TCP or TLS: one connection, opened when needed and kept. */
export class StreamTransport implements SyslogTransport {
  readonly #options: StreamOptions;
  #conn: Deno.Conn | undefined;
  /** Set by the reader when the receiver closed (`eof`) or reset (`reset`) the connection. */
  #ended: "eof" | "reset" | undefined;

  constructor(options: StreamOptions) {
    this.#options = options;
  }

  async #connect(signal: AbortSignal): Promise<Deno.Conn> {
    const { hostname, port, tls, timeout } = this.#options;
    const connecting: Promise<Deno.Conn> = tls !== undefined
      ? (async () => {
        const [caCert, cert, key, extra] = await Promise.all([
          readText(tls?.ca_file),
          readText(tls?.cert_file),
          readText(tls?.key_file),
          extraCaCerts(),
        ]);
        const caCerts = [...(caCert ? [caCert] : []), ...extra];
        return await Deno.connectTls({
          hostname,
          port,
          caCerts: caCerts.length > 0 ? caCerts : undefined,
          ...(cert && key ? { cert, key } : {}),
        });
      })()
      : Deno.connect({ hostname, port, transport: "tcp" });
    const conn = await withTimeout(connecting, timeout, "Connecting", signal);
    if (tls === undefined) (conn as unknown as Deno.TcpConn).setNoDelay(true);
    this.#ended = undefined;
    this.#watch(conn);
    return conn;
  }

  /** Reads (and drops) what the receiver sends, to learn when it closes the connection. */
  #watch(conn: Deno.Conn): void {
    (async () => {
      const buffer = new Uint8Array(512);
      try {
        while ((await conn.read(buffer)) !== null) { /* syslog receivers send nothing */ }
        if (this.#conn === conn) this.#ended = "eof";
      } catch {
        if (this.#conn === conn) this.#ended = "reset";
      }
    })();
  }

  async send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<void> {
    if (this.#conn && this.#ended) this.#drop();
    const conn = this.#conn ??= await this.#connect(signal);
    try {
      await withTimeout(writeAll(conn, messages), this.#options.timeout, "Writing", signal);
      // A receiver that closed with our data unread answers with a reset: give it a moment.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (this.#ended === "reset") throw new Error("the receiver reset the connection");
    } catch (error) {
      this.#drop();
      throw error;
    }
  }

  #drop(): void {
    try {
      this.#conn?.close();
    } catch {
      // closed already
    }
    this.#conn = undefined;
  }

  close(): void {
    this.#drop();
  }
}

/** Writes every message, as few writes as 64 KiB allows. */
async function writeAll(conn: Deno.Conn, messages: readonly Uint8Array[]): Promise<void> {
  const limit = 64 * 1024;
  let buffer = new Uint8Array(limit);
  let used = 0;
  const flush = async () => {
    let at = 0;
    while (at < used) at += await conn.write(buffer.subarray(at, used));
    used = 0;
  };
  for (const message of messages) {
    if (message.length > limit) {
      await flush();
      let at = 0;
      while (at < message.length) at += await conn.write(message.subarray(at));
      continue;
    }
    if (used + message.length > buffer.length) await flush();
    buffer.set(message, used);
    used += message.length;
  }
  await flush();
  buffer = new Uint8Array(0);
}

/** UDP: a datagram per message, paced so a receiver's socket buffer keeps up. */
export class UdpTransport implements SyslogTransport {
  readonly #socket: dgram.Socket;
  readonly #hostname: string;
  readonly #port: number;

  constructor(hostname: string, port: number) {
    this.#socket = dgram.createSocket(isIP(hostname) === 6 ? "udp6" : "udp4");
    this.#socket.unref();
    this.#hostname = hostname;
    this.#port = port;
  }

  async send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<void> {
    let n = 0;
    for (const message of messages) {
      if (signal.aborted) throw new Error("stopped");
      await new Promise<void>((resolve, reject) =>
        this.#socket.send(
          message,
          this.#port,
          this.#hostname,
          (error) => error ? reject(error) : resolve(),
        )
      );
      // Every 32 datagrams, let the receiver read: UDP has no flow control.
      if (++n % 32 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  close(): void {
    try {
      this.#socket.close();
    } catch {
      // closed already
    }
  }
}
