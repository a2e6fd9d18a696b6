/**
 * The `forward` output: hits to a Fluentd or Fluent Bit aggregator (or another hitship) over the
 * Forward protocol. A batch is one PackedForward message (CompressedPackedForward with gzip), each
 * hit a record with an EventTime from its `time`; with `require_ack` (the default) it counts as
 * delivered only when the receiver acknowledges its chunk. TLS and the shared-key handshake
 * (HELO, PING, PONG) as Fluentd's `security` section has them.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import {
  type Batch,
  batchLines,
  batchOptionsOf,
  definePlugin,
  duration,
  EVENT_KINDS,
  eventRecord,
  gzipped,
  hitFields,
  hitTime,
  type Output,
  type PluginContext,
  sendBatchShape,
  type SendResult,
  sendTestEvent,
  splitAddress,
  type SystemEvent,
  tlsClientShape,
  z,
} from "@hitship/hitship/sdk";
import type { ForwardConnection } from "./connection.ts";

/** The wire: msgpack and the connection, loaded when a forward output is made, not at start-up. */
interface Wire {
  encode: typeof import("@msgpack/msgpack").encode;
  ForwardConnection: typeof import("./connection.ts").ForwardConnection;
  ForwardError: typeof import("./connection.ts").ForwardError;
}

let wire: Promise<Wire> | undefined;
function loadWire(): Promise<Wire> {
  return wire ??= Promise.all([import("@msgpack/msgpack"), import("./connection.ts")]).then((
    [msgpack, connection],
  ) => ({ encode: msgpack.encode, ...connection }));
}

const TAG = z.string().min(1).max(256).regex(/^[A-Za-z0-9_.\-]+$/, {
  error: "expected a tag of letters, digits, _ - and .",
});

/** The config fields of a `forward` output. */
export const forwardOutputSchema = z.strictObject({
  address: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, {
    error: "expected host:port, e.g. fluentd.example.com:24224",
  }).meta({ description: "The aggregator, host:port", examples: ["fluentd:24224"] }),
  tag: TAG.default("wallarm.hits").meta({ description: "The tag of the hits" }),
  event_tag: TAG.default("wallarm.events").meta({
    description: "The tag of system events, alerts, reports and test messages",
  }),
  transport: z.enum(["tcp", "tls"]).default("tcp").meta({ description: "`tcp` or `tls`" }),
  tls: tlsClientShape,
  shared_key: z.string().min(1).optional().meta({
    description: "The receiver's shared key (HELO/PING/PONG handshake; use ${ENV_VAR}); " +
      "never logged",
  }),
  self_hostname: z.string().min(1).optional().meta({
    description: "Our name in the handshake (default: the host's name)",
  }),
  require_ack: z.boolean().default(true).meta({
    description: "A batch counts as delivered only when the receiver acknowledges it",
  }),
  ack_timeout: duration({ min: 100 }).prefault("60s").meta({
    description: "A batch not acknowledged in this time is sent again",
  }),
  compress: z.enum(["none", "gzip"]).default("none").meta({
    description: "`gzip`: CompressedPackedForward",
  }),
  timeout: duration({ min: 100 }).prefault("30s").meta({
    description: "Connecting, the handshake or writing a batch that takes longer fails",
  }),
  ...sendBatchShape({ max_hits: 5000, max_bytes: "4MiB", max_bytes_limit: "64MiB" }),
}).superRefine((config, ctx) => {
  if (config.tls && config.transport !== "tls") {
    ctx.addIssue({
      code: "custom",
      path: ["tls"],
      message: "tls needs transport: tls",
      params: { plain: true },
    });
  }
});

/** A resolved `forward` output config. */
export type ForwardOutputConfig = z.output<typeof forwardOutputSchema>;

const decoder = new TextDecoder();
const text = (v: unknown) => v instanceof Uint8Array ? decoder.decode(v) : String(v);

/** `[EventTime(seconds, 0), record]` as msgpack: fixarray 2, fixext8 type 0, the record. */
function entry(seconds: number, record: Uint8Array): Uint8Array {
  const out = new Uint8Array(11 + record.length);
  out[0] = 0x92;
  out[1] = 0xd7;
  out[2] = 0x00;
  new DataView(out.buffer).setUint32(3, seconds >>> 0);
  // nanoseconds: 0 (the node's time is whole seconds)
  out.set(record, 11);
  return out;
}

class ForwardOutput implements Output {
  readonly #config: ForwardOutputConfig;
  readonly #context: PluginContext;
  readonly #wire: Wire;
  #connection: ForwardConnection | undefined;

  constructor(config: ForwardOutputConfig, context: PluginContext, wire: Wire) {
    this.#config = config;
    this.#context = context;
    this.#wire = wire;
  }

  async #open(signal: AbortSignal): Promise<ForwardConnection> {
    if (this.#connection && !this.#connection.closed) return this.#connection;
    const { hostname, port } = splitAddress(this.#config.address);
    this.#connection = await this.#wire.ForwardConnection.open({
      hostname,
      port,
      tls: this.#config.transport === "tls" ? this.#config.tls ?? null : undefined,
      sharedKey: this.#config.shared_key,
      selfHostname: this.#config.self_hostname ?? this.#context.hostname,
      timeout: this.#config.timeout,
    }, signal);
    if (!this.#config.require_ack) this.#connection.watchClose();
    return this.#connection;
  }

  /** Sends one PackedForward message of `entries` under `tag`. */
  async #message(tag: string, entries: Uint8Array[], signal: AbortSignal): Promise<SendResult> {
    let size = 0;
    for (const e of entries) size += e.length;
    let packed: Uint8Array = new Uint8Array(size);
    let at = 0;
    for (const e of entries) {
      packed.set(e, at);
      at += e.length;
    }
    const options: Record<string, unknown> = { size: entries.length };
    if (this.#config.compress === "gzip") {
      packed = await gzipped(packed);
      options.compressed = "gzip";
    }
    const chunk = randomBytes(16).toString("base64");
    if (this.#config.require_ack) options.chunk = chunk;
    const message = this.#wire.encode([tag, packed, options]);
    const where = `${this.#config.address} over ${this.#config.transport}`;
    try {
      const connection = await this.#open(signal);
      await connection.write(
        message,
        AbortSignal.any([signal, AbortSignal.timeout(this.#config.timeout)]),
      );
      if (!this.#config.require_ack) return { ok: true };
      const ackSignal = AbortSignal.any([signal, AbortSignal.timeout(this.#config.ack_timeout)]);
      for (;;) {
        const answer = await connection.next(ackSignal, "ack") as { ack?: unknown } | unknown[];
        if (Array.isArray(answer) && text(answer[0]) === "HELO") {
          connection.close();
          return {
            ok: false,
            error: `The receiver at ${where} asks for a shared key: set shared_key`,
          };
        }
        const ack = (answer as { ack?: unknown })?.ack;
        if (ack !== undefined && text(ack) === chunk) return { ok: true };
        // An ack of an earlier chunk that timed out: not this one's.
      }
    } catch (error) {
      this.#connection?.close();
      this.#connection = undefined;
      const message = error instanceof this.#wire.ForwardError ? error.message : String(error);
      return { ok: false, error: `Forward to ${where}: ${message}` };
    }
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    const { encode } = this.#wire;
    const entries = lines.map((line) => entry(hitTime(line), encode(hitFields(line))));
    return await this.#message(this.#config.tag, entries, signal);
  }

  sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    const record = JSON.parse(eventRecord(event, this.#context.hostname));
    return this.#message(
      this.#config.event_tag,
      [entry(Math.floor(event.time / 1000), this.#wire.encode(record))],
      signal,
    );
  }

  test(signal: AbortSignal): Promise<SendResult> {
    return sendTestEvent(this, this.#context, signal);
  }

  close(): Promise<void> {
    this.#connection?.close();
    return Promise.resolve();
  }
}

/** The `forward` output plugin. */
export const forwardOutput = definePlugin({
  type: "forward",
  description: "Sends hits to a Fluentd or Fluent Bit aggregator over the Forward protocol",
  schema: forwardOutputSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: async (config, context) => new ForwardOutput(config, context, await loadWire()),
});
