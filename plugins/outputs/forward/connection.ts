/**
 * The sending side of one Fluentd Forward connection: TCP or TLS, the shared-key handshake
 * (HELO, PING, PONG), and the answers (acks) read as a stream of msgpack values.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { decodeMultiStream, encode } from "@msgpack/msgpack";
import { extraCaCerts, type TlsClientConfig } from "@hitship/hitship/sdk";

const decoder = new TextDecoder();
const text = (v: unknown) => v instanceof Uint8Array ? decoder.decode(v) : String(v);

function digest(...parts: Array<string | Uint8Array>): string {
  const hash = createHash("sha512");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

/** How to reach the receiver and prove who we are. */
export interface ForwardPeer {
  hostname: string;
  port: number;
  /** TLS settings, or `undefined` for plain TCP. */
  tls: TlsClientConfig | null | undefined;
  /** The shared key of the receiver's `security` section, when it has one. */
  sharedKey?: string | undefined;
  /** Our name in the PING. */
  selfHostname: string;
  /** Connecting, the handshake and a write, ms. */
  timeout: number;
}

/** `work`, or a rejection once `signal` aborts (a connection that comes later is closed). */
function within(work: Promise<Deno.Conn>, signal: AbortSignal): Promise<Deno.Conn> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      reject(new Error("no connection in time (timeout)"));
      work.then((conn) => conn.close(), () => {});
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** A connection's failure, worded for the log. */
export class ForwardError extends Error {}

async function readText(path: string | undefined): Promise<string | undefined> {
  return path ? await Deno.readTextFile(path) : undefined;
}

/** One open connection: messages written in order, answers read as they come. */
export class ForwardConnection {
  readonly #conn: Deno.Conn;
  readonly #answers: AsyncIterator<unknown>;
  /** Set once the connection broke or the receiver closed it. */
  closed = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    // Strings stay bytes: a HELO's nonce is 16 random bytes in a msgpack str (Fluent Bit).
    const options: Parameters<typeof decodeMultiStream>[1] = { rawStrings: true } as never;
    this.#answers = decodeMultiStream(conn.readable, options)[Symbol.asyncIterator]();
  }

  /** Connects, and with a shared key, passes the handshake. */
  static async open(peer: ForwardPeer, signal: AbortSignal): Promise<ForwardConnection> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(peer.timeout)]);
    let conn: Deno.Conn;
    try {
      const connecting: Promise<Deno.Conn> = peer.tls !== undefined
        ? (async () => {
          const [ca, cert, key, extra] = await Promise.all([
            readText(peer.tls?.ca_file),
            readText(peer.tls?.cert_file),
            readText(peer.tls?.key_file),
            extraCaCerts(),
          ]);
          const caCerts = [...(ca ? [ca] : []), ...extra];
          return await Deno.connectTls({
            hostname: peer.hostname,
            port: peer.port,
            caCerts: caCerts.length > 0 ? caCerts : undefined,
            ...(cert && key ? { cert, key } : {}),
          });
        })()
        : Deno.connect({ hostname: peer.hostname, port: peer.port });
      conn = await within(connecting, deadline);
    } catch (error) {
      throw new ForwardError(`Cannot connect: ${(error as Error).message}`);
    }
    const connection = new ForwardConnection(conn);
    if (peer.sharedKey !== undefined) {
      try {
        await connection.#handshake(peer, deadline);
      } catch (error) {
        connection.close();
        throw error;
      }
    }
    return connection;
  }

  async #handshake(peer: ForwardPeer, signal: AbortSignal): Promise<void> {
    const helo = await this.next(signal, "HELO");
    if (!Array.isArray(helo) || text(helo[0]) !== "HELO") {
      throw new ForwardError("the receiver did not begin with HELO");
    }
    const options = (helo[1] ?? {}) as { nonce?: Uint8Array | string; auth?: unknown };
    const nonce = options.nonce instanceof Uint8Array ? options.nonce : text(options.nonce ?? "");
    const salt = randomBytes(16).toString("hex");
    const key = peer.sharedKey!;
    await this.write(
      encode([
        "PING",
        peer.selfHostname,
        salt,
        digest(salt, peer.selfHostname, nonce, key),
        "",
        "",
      ]),
      signal,
    );
    const pong = await this.next(signal, "PONG");
    if (!Array.isArray(pong) || text(pong[0]) !== "PONG") {
      throw new ForwardError("the receiver did not answer the PING with a PONG");
    }
    const [, ok, reason, serverHostname, serverDigest] = pong as unknown[];
    // serverHostname is compared as its bytes, as the receiver hashed them.
    if (ok !== true) {
      throw new ForwardError(
        `the receiver refused the handshake: ${text(reason) || "no reason"} (check shared_key)`,
      );
    }
    const server = serverHostname instanceof Uint8Array ? serverHostname : text(serverHostname);
    if (text(serverDigest) !== digest(salt, server, nonce, key)) {
      throw new ForwardError(
        "the receiver's PONG does not prove it knows the shared key (check shared_key)",
      );
    }
  }

  /** Writes all of `bytes`. */
  async write(bytes: Uint8Array, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new ForwardError("stopped");
    const writer = this.#conn.writable.getWriter();
    const abort = () => this.close();
    signal.addEventListener("abort", abort, { once: true });
    try {
      await writer.write(bytes);
    } catch (error) {
      this.closed = true;
      throw new ForwardError(
        signal.aborted ? "timed out writing" : `Cannot write: ${(error as Error).message}`,
      );
    } finally {
      signal.removeEventListener("abort", abort);
      writer.releaseLock();
    }
  }

  /** The next value the receiver sends; `what` names it in errors. */
  async next(signal: AbortSignal, what: string): Promise<unknown> {
    if (this.closed) throw new ForwardError("the connection is closed");
    const abort = () => this.close();
    signal.addEventListener("abort", abort, { once: true });
    try {
      const { value, done } = await this.#answers.next();
      if (done) {
        this.closed = true;
        throw new ForwardError(`the receiver closed the connection before its ${what}`);
      }
      return value;
    } catch (error) {
      this.closed = true;
      if (error instanceof ForwardError) throw error;
      throw new ForwardError(
        signal.aborted
          ? `no ${what} in time`
          : `reading the ${what} failed: ${(error as Error).message}`,
      );
    } finally {
      signal.removeEventListener("abort", abort);
    }
  }

  /**
   * For a receiver that sends nothing (no acks): learns when it closes the connection, so the
   * next batch goes on a new one.
   */
  watchClose(): void {
    this.#answers.next().then(() => this.closed = true, () => this.closed = true);
  }

  close(): void {
    this.closed = true;
    try {
      this.#conn.close();
    } catch {
      // closed already
    }
  }
}
