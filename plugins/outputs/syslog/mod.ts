/**
 * The `syslog` output: hits to a syslog receiver or SIEM (rsyslog, syslog-ng, QRadar, ArcSight,
 * Microsoft Sentinel's forwarder) over TCP, TLS or UDP, as RFC 5424 (default), RFC 3164, CEF or
 * LEEF messages; on a stream framed by octet counting (RFC 6587, the default) or a newline. The
 * severity follows `block_status`. A message over `max_message_bytes` is refused to the
 * dead-letter file, never cut.
 *
 * @module
 */
import {
  type Batch,
  batchLines,
  batchOptionsOf,
  definePlugin,
  duration,
  EVENT_KINDS,
  eventRecord,
  type HitFields,
  hitFields,
  hitTime,
  type Output,
  type PluginContext,
  type RejectedHit,
  sendBatchShape,
  type SendResult,
  sendTestEvent,
  splitAddress,
  type SystemEvent,
  tlsClientShape,
  VERSION,
  z,
} from "@hitship/hitship/sdk";
import {
  FACILITIES,
  formatMessage,
  type MessageContext,
  SYSLOG_FORMATS,
  type SyslogFormat,
} from "./format.ts";
import { StreamTransport, type SyslogTransport, UdpTransport } from "./transport.ts";

/** Largest UDP payload over IPv4. */
const UDP_MAX = 65_507;

/** The config fields of a `syslog` output. */
export const syslogSchema = z.strictObject({
  address: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, {
    error: "expected host:port, e.g. siem.example.com:6514",
  }).meta({ description: "The receiver, host:port", examples: ["siem.example.com:514"] }),
  transport: z.enum(["tcp", "tls", "udp"]).default("tcp").meta({
    description: "`tcp`, `tls` (RFC 5425) or `udp` (RFC 5426: no delivery guarantee)",
  }),
  framing: z.enum(["octet-counting", "newline"]).default("octet-counting").meta({
    description: "On TCP and TLS: `octet-counting` (RFC 6587, the length before each message) " +
      "or `newline` (a line each, for receivers that read only that, such as Fluent Bit)",
  }),
  format: z.enum(SYSLOG_FORMATS).default("rfc5424").meta({
    description: "`rfc5424` (the hit's key fields as structured data, the hit as MSG), " +
      "`rfc3164`, `cef` (ArcSight) or `leef` (QRadar, LEEF 1.0)",
  }),
  app_name: z.string().min(1).max(48).regex(/^[\x21-\x7e]+$/, {
    error: "expected printable ASCII without spaces",
  }).default("wallarm").meta({ description: "APP-NAME (the TAG in RFC 3164)" }),
  facility: z.enum(Object.keys(FACILITIES) as [string, ...string[]]).default("local0").meta({
    description: "The facility; the severity is 4 (warning) for a blocked hit, 5 (notice) else",
  }),
  hostname: z.string().min(1).max(255).optional().meta({
    description: "HOSTNAME of the messages (default: the host's name)",
  }),
  max_message_bytes: z.int().min(480).max(UDP_MAX).optional().meta({
    description: "A message longer than this (framing aside) is refused to the dead-letter " +
      "file, never cut (default: 8192 over UDP, rsyslog's default; 65507 over TCP and TLS)",
  }),
  tls: tlsClientShape,
  timeout: duration({ min: 100 }).prefault("30s").meta({
    description: "Connecting or writing a batch that takes longer fails and is retried",
  }),
  ...sendBatchShape({ max_hits: 1000, max_bytes: "1MiB", max_bytes_limit: "64MiB" }),
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

/** A resolved `syslog` config. */
export type SyslogConfig = z.output<typeof syslogSchema>;

const encoder = new TextEncoder();

class Syslog implements Output {
  readonly #config: SyslogConfig;
  readonly #context: PluginContext;
  readonly #message: MessageContext;
  readonly #transport: SyslogTransport;
  readonly #maxBytes: number;

  constructor(config: SyslogConfig, context: PluginContext) {
    this.#config = config;
    this.#context = context;
    this.#message = {
      facility: FACILITIES[config.facility]!,
      hostname: config.hostname ?? context.hostname,
      appName: config.app_name,
      version: VERSION,
    };
    const { hostname, port } = splitAddress(config.address);
    this.#transport = config.transport === "udp"
      ? new UdpTransport(hostname, port)
      : new StreamTransport({
        hostname,
        port,
        timeout: config.timeout,
        tls: config.transport === "tls" ? config.tls ?? null : undefined,
      });
    this.#maxBytes = config.max_message_bytes ??
      (config.transport === "udp" ? 8192 : UDP_MAX);
  }

  /** A message framed for the transport. */
  #frame(message: Uint8Array): Uint8Array {
    if (this.#config.transport === "udp") return message;
    if (this.#config.framing === "newline") {
      const out = new Uint8Array(message.length + 1);
      out.set(message);
      out[message.length] = 0x0a;
      return out;
    }
    const prefix = encoder.encode(`${message.length} `);
    const out = new Uint8Array(prefix.length + message.length);
    out.set(prefix);
    out.set(message, prefix.length);
    return out;
  }

  async #write(messages: Uint8Array[], signal: AbortSignal): Promise<SendResult> {
    try {
      await this.#transport.send(messages, signal);
      return { ok: true };
    } catch (error) {
      const e = error as Error & { code?: string };
      return {
        ok: false,
        error:
          `Cannot send to ${this.#config.address} over ${this.#config.transport}: ${e.message}`,
      };
    }
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    const messages: Uint8Array[] = [];
    const rejected: RejectedHit[] = [];
    for (const line of lines) {
      const fields = hitFields(line);
      const text = formatMessage(
        this.#config.format,
        this.#message,
        line,
        fields,
        hitTime(line),
        "hit",
      );
      const bytes = encoder.encode(text);
      if (bytes.length > this.#maxBytes) {
        rejected.push({
          line,
          reason: `${bytes.length} bytes as a syslog message, over max_message_bytes ` +
            `(${this.#maxBytes}); not cut`,
        });
        continue;
      }
      messages.push(this.#frame(bytes));
    }
    const result = messages.length > 0
      ? await this.#write(messages, signal)
      : { ok: true as const };
    return result.ok && rejected.length > 0 ? { ...result, rejected } : result;
  }

  sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    const record = eventRecord(event, this.#message.hostname);
    const fields: Partial<HitFields> = {};
    const text = formatMessage(
      this.#config.format as SyslogFormat,
      this.#message,
      record,
      fields,
      Math.floor(event.time / 1000),
      event.name,
    );
    return this.#write([this.#frame(encoder.encode(text))], signal);
  }

  test(signal: AbortSignal): Promise<SendResult> {
    return sendTestEvent(this, this.#context, signal);
  }

  close(): Promise<void> {
    this.#transport.close();
    return Promise.resolve();
  }
}

/** The `syslog` output plugin. */
export const syslogOutput = definePlugin({
  type: "syslog",
  description: "Sends hits to a syslog receiver or SIEM (RFC 5424/3164, CEF, LEEF; TCP, TLS, UDP)",
  schema: syslogSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: (config, context) => new Syslog(config, context),
});
