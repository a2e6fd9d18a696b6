/**
 * The `forward` input's server: connections, the handshake, the modes and their acks. Loaded when
 * a forward input opens.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { decode, encode } from "@msgpack/msgpack";
import {
  ConnectionSlots,
  Deadline,
  type InputContext,
  type Logger,
  release,
  splitAddress,
  Timeout,
} from "@hitship/hitship/sdk";
import { MessageFramer } from "./msgpack.ts";
import { RecordWriter, Refused } from "./records.ts";
import type { ForwardInputConfig } from "./config.ts";

/** The protocol's own small messages (handshake, options, acks); records never go through it. */
const limits = { maxDepth: 8, maxStrLength: 64 * 1024, maxArrayLength: 16, maxMapLength: 16 };
const decoder = new TextDecoder();

/**
 * Arrays and maps inside one another a message may have: one nested deeper is hostile, and closes
 * its connection. A record nested deeper than a hit may be (64) is written out all the same, and
 * rejected by the hit check with the reason a line from stdin would get.
 */
const MESSAGE_DEPTH = 512;
/** Records of complete messages gathered into one journal append. */
const GATHER_BYTES = 4 * 1024 * 1024;
/** What every connection reads into; a message larger than this grows it from the budget. */
const READ_BYTES = 64 * 1024;
/** A message's first 10 s do not count for its rate. */
const MESSAGE_GRACE_MS = 10_000;

/** Bytes of grown read buffers held at once, over all connections of one input. */
class MessageBudget {
  held = 0;
  constructor(readonly max: number) {}
}

/** A connection closed before it sent a byte (a port check of a load balancer): not worth a warning. */
class Probe extends Error {}

/** Whether a tag matches a pattern where `*` matches any run of characters. */
function tagMatcher(patterns: string[] | undefined): (tag: string) => boolean {
  if (!patterns) return () => true;
  const res = patterns.map((pattern) =>
    new RegExp(
      `^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
    )
  );
  return (tag) => res.some((re) => re.test(tag));
}

function digest(...parts: Array<string | Uint8Array>): string {
  const hash = createHash("sha512");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

const text = (v: unknown) => v instanceof Uint8Array ? decoder.decode(v) : String(v);

/**
 * One connection: the handshake, then messages in order. The records of the complete messages
 * read so far are journaled together, then each message's `chunk` is acknowledged.
 */
class Connection {
  readonly #conn: Deno.Conn;
  readonly #config: ForwardInputConfig;
  readonly #context: InputContext;
  readonly #framer = new MessageFramer(MESSAGE_DEPTH);
  readonly #records: RecordWriter;
  readonly #budget: MessageBudget;
  readonly #slots: ConnectionSlots<Deno.Conn>;
  readonly #deadline: Deadline;
  #buffer = new Uint8Array(READ_BYTES);
  #start = 0;
  #length = 0;
  #received = false;
  /** When the message being read began to arrive (clock time), or -1 between messages. */
  #messageSince = -1;
  /** The handshake must be done by then (clock time), or -1. */
  #handshakeBy = -1;

  constructor(
    conn: Deno.Conn,
    config: ForwardInputConfig,
    context: InputContext,
    budget: MessageBudget,
    slots: ConnectionSlots<Deno.Conn>,
  ) {
    this.#conn = conn;
    this.#config = config;
    this.#context = context;
    this.#records = new RecordWriter(tagMatcher(config.tags), config.max_message_bytes);
    this.#budget = budget;
    this.#slots = slots;
    this.#deadline = new Deadline(conn, context.clock);
  }

  /** Gives back what the buffer holds from the budget, and its memory. */
  close(): void {
    this.#deadline.clear();
    if (this.#buffer.length > READ_BYTES) {
      this.#budget.held -= this.#buffer.length - READ_BYTES;
      release(this.#buffer);
    }
    this.#buffer = new Uint8Array(0);
  }

  async serve(): Promise<void> {
    if (this.#config.shared_key) await this.#handshake();
    for (;;) {
      const acks: unknown[] = [];
      this.#records.reset();
      let refused: unknown;
      try {
        for (;;) {
          const message = this.#next();
          if (!message) break;
          const chunk = await this.#records.message(message);
          if (chunk !== undefined) acks.push({ ack: chunk });
          if (this.#records.length >= GATHER_BYTES) break;
        }
      } catch (error) {
        // The messages before a broken one are kept, and acknowledged, before the connection goes.
        refused = error;
      }
      if (this.#records.length > 0 || this.#records.unreadable.count > 0) {
        await this.#journal(this.#records.bytes());
      }
      if (acks.length > 0) await this.#write(...acks);
      if (refused !== undefined) throw refused;
      if (this.#length - this.#start > this.#config.max_message_bytes) {
        throw new Refused(`a message is larger than ${this.#config.max_message_bytes} bytes`);
      }
      if (this.#records.length >= GATHER_BYTES) continue;
      if (!await this.#read()) return;
    }
  }

  async #write(...values: unknown[]): Promise<void> {
    const parts = values.map((value) => encode(value));
    const data = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.length;
    }
    this.#deadline.set(this.#context.clock.now() + this.#config.idle_timeout);
    let written = 0;
    while (written < data.length) {
      written += await this.#deadline.io(this.#conn.write(data.subarray(written)));
    }
  }

  /** Reads more; false at the end of the stream. */
  async #read(): Promise<boolean> {
    if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#length);
      this.#length -= this.#start;
      this.#start = 0;
    }
    if (this.#length <= READ_BYTES / 2 && this.#buffer.length > READ_BYTES) {
      // The large message is through: back to the buffer every connection has.
      const small = new Uint8Array(READ_BYTES);
      small.set(this.#buffer.subarray(0, this.#length));
      this.#budget.held -= this.#buffer.length - READ_BYTES;
      release(this.#buffer);
      this.#buffer = small;
    }
    if (this.#length === this.#buffer.length) {
      const size = this.#buffer.length * 2;
      const own = this.#buffer.length - READ_BYTES;
      const more = size - Math.max(READ_BYTES, this.#buffer.length);
      // One large message at a time always goes through, as with the http input.
      if (this.#budget.held > own && this.#budget.held + more > this.#budget.max) {
        this.close(); // its room is free at once, for the connections that go on
        throw new Refused(
          `messages still arriving over all connections would pass max_buffered_bytes (${this.#budget.max}); the sender sends again`,
        );
      }
      this.#budget.held += more;
      const bigger = new Uint8Array(size);
      bigger.set(this.#buffer.subarray(0, this.#length));
      if (this.#buffer.length > READ_BYTES) release(this.#buffer);
      this.#buffer = bigger;
    }
    this.#deadline.set(this.#readBy());
    let n: number | null;
    try {
      n = await this.#deadline.io(this.#conn.read(this.#buffer.subarray(this.#length)));
    } catch (error) {
      if (error instanceof Timeout) throw new Refused(this.#lateReason());
      if (!this.#received) throw new Probe((error as Error).message);
      throw error;
    }
    if (n !== null) {
      this.#slots.progress(this.#conn);
      if (this.#messageSince < 0 && n > 0) this.#messageSince = this.#context.clock.now();
    }
    if (n === null && !this.#received) throw new Probe("closed");
    this.#received ||= n !== null;
    if (n === null) {
      if (this.#length > 0) throw new Refused("the stream ended inside a message");
      return false;
    }
    this.#length += n;
    return true;
  }

  /**
   * When the read under way must end (clock time): the handshake's time; a message begun must
   * arrive whole within `message_timeout`, and after its first 10 s at `min_message_rate` on
   * average; between messages, `idle_timeout`.
   */
  #readBy(): number {
    const now = this.#context.clock.now();
    if (this.#handshakeBy >= 0) return this.#handshakeBy;
    if (this.#messageSince < 0) return now + this.#config.idle_timeout;
    const received = this.#length - this.#start;
    return this.#messageSince + Math.min(
      this.#config.message_timeout,
      MESSAGE_GRACE_MS + (received / this.#config.min_message_rate) * 1000,
    );
  }

  /** Why a read that the deadline cut short was cut. */
  #lateReason(): string {
    if (this.#handshakeBy >= 0) return "no PING in time";
    if (this.#messageSince < 0) {
      return `no message within idle_timeout (${this.#config.idle_timeout} ms)`;
    }
    return `a message did not arrive within message_timeout (${this.#config.message_timeout} ms) ` +
      `or at min_message_rate (${this.#config.min_message_rate} bytes/s)`;
  }

  /** The next complete message read (a view into the buffer until the next read), if any. */
  #next(): Uint8Array | undefined {
    if (this.#start === this.#length) return undefined;
    const pending = this.#buffer.subarray(this.#start, this.#length);
    let end: number;
    try {
      end = this.#framer.end(pending, pending.length);
    } catch (error) {
      throw new Refused(`malformed msgpack: ${(error as Error).message}`);
    }
    if (end < 0) return undefined;
    if (end > this.#config.max_message_bytes) {
      throw new Refused(`a message is larger than ${this.#config.max_message_bytes} bytes`);
    }
    this.#start += end;
    // The next message begins with the bytes after this one, if any came.
    this.#messageSince = this.#start < this.#length ? this.#context.clock.now() : -1;
    return pending.subarray(0, end);
  }

  async #handshake(): Promise<void> {
    const key = this.#config.shared_key!;
    const nonce = new Uint8Array(randomBytes(16));
    await this.#write(["HELO", { nonce, auth: "", keepalive: true }]);
    this.#handshakeBy = this.#context.clock.now() + this.#config.handshake_timeout;
    let message: Uint8Array | undefined;
    while (!(message = this.#next())) {
      if (!await this.#read()) throw new Refused("no PING");
    }
    this.#handshakeBy = -1;
    let ping: unknown;
    try {
      // Strings stay bytes: Fluent Bit's salt is 16 random bytes in a msgpack str, and the
      // digest is over those bytes, not over their UTF-8 reading.
      ping = decode(message, { ...limits, rawStrings: true } as typeof limits);
    } catch (error) {
      throw new Refused(`malformed msgpack: ${(error as Error).message}`);
    }
    if (!Array.isArray(ping) || text(ping[0]) !== "PING" || ping.length < 4) {
      throw new Refused("the first message is not a PING");
    }
    const [, hostname, salt, clientDigest] = ping as [unknown, unknown, unknown, unknown];
    const saltBytes = salt instanceof Uint8Array ? salt : text(salt);
    const self = this.#config.self_hostname;
    if (text(clientDigest) !== digest(saltBytes, text(hostname), nonce, key)) {
      await this.#write(["PONG", false, "shared key mismatch", self, ""]);
      throw new Refused(`a wrong shared key from ${JSON.stringify(text(hostname))}`);
    }
    await this.#write(["PONG", true, "", self, digest(saltBytes, self, nonce, key)]);
  }

  /** Journals the lines, waiting while the journal is full (the acks wait with them). */
  async #journal(lines: Uint8Array): Promise<void> {
    const unreadable = this.#records.takeUnreadable();
    this.#deadline.clear(); // journaling is not the sender's time
    this.#slots.busy(this.#conn, true);
    try {
      for (;;) {
        const result = await this.#context.submit(lines, unreadable && { unreadable });
        if (!result.full) return;
        if (this.#context.signal.aborted) throw new Refused("stopping before the records fit");
        await this.#context.clock.sleep(1000, this.#context.signal).catch(() => {});
      }
    } finally {
      this.#slots.busy(this.#conn, false);
    }
  }
}

/** Accepts connections within the limit until the signal aborts; each is served on its own. */
async function acceptAll(
  listener: Deno.Listener,
  config: ForwardInputConfig,
  context: InputContext,
  logger: Logger,
): Promise<void> {
  const slots = new ConnectionSlots<Deno.Conn>(config.max_connections, context.clock);
  const close = (conn: Deno.Conn) => {
    try {
      conn.close();
    } catch {
      // closed already
    }
  };
  context.signal.addEventListener("abort", () => {
    listener.close();
    slots.closeAll();
  }, { once: true });
  const budget = new MessageBudget(config.max_buffered_bytes);
  let lastWarning = 0;
  while (!context.signal.aborted) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (context.signal.aborted) return;
      if (Date.now() - lastWarning > 60_000) {
        lastWarning = Date.now();
        logger.warn(`The forward input cannot accept a connection: ${(error as Error).message}`);
      }
      await context.clock.sleep(100).catch(() => {});
      continue;
    }
    const evicted = slots.evicted;
    if (!slots.admit(conn)) {
      close(conn);
      continue;
    }
    if (slots.evicted > evicted) {
      logger.warn(
        `The forward input is at max_connections (${config.max_connections}): it closed the ` +
          "connection that had made no progress for longest to take a new one",
        { input: context.name },
      );
    }
    const peer = (conn.remoteAddr as Deno.NetAddr).hostname;
    const connection = new Connection(conn, config, context, budget, slots);
    connection.serve().catch((error) => {
      if (context.signal.aborted) return;
      const reason = (error as Error)?.message ?? String(error);
      (error instanceof Probe ? logger.debug : logger.warn)(
        `The forward input closed a connection from ${peer}: ${reason}`,
        { input: context.name },
      );
    }).finally(() => {
      slots.release(conn);
      close(conn);
      connection.close();
    });
  }
}

/** Listens and serves senders until the input's signal aborts. */
export async function serve(config: ForwardInputConfig, context: InputContext): Promise<void> {
  const { hostname, port } = splitAddress(config.listen);
  const listener: Deno.Listener = config.tls
    ? Deno.listenTls({
      hostname,
      port,
      cert: await Deno.readTextFile(config.tls.cert_file),
      key: await Deno.readTextFile(config.tls.key_file),
    })
    : Deno.listen({ hostname, port });
  context.logger.info(`Forward input "${context.name}" listens on ${config.listen}`, {
    input: context.name,
    tls: config.tls !== undefined,
    shared_key: config.shared_key !== undefined,
  });
  await acceptAll(listener, config, context, context.logger);
}
