/**
 * The `splunk-hec` output: hits to Splunk's HTTP Event Collector, a batch as concatenated event
 * objects on `/services/collector/event`, each `{"time": <the hit's time>, "host", "source",
 * "sourcetype", "index", "event": <the hit as the node wrote it>}`, with `Authorization: Splunk
 * TOKEN`. HEC's answer is read, not only its status: `code` 0 is success; a code that names one
 * event as invalid (`invalid-event-number`) refuses that hit to the dead-letter file and sends the
 * rest again; every other code is a failure retried on the node's schedule. With `ack: true`, a
 * batch counts as delivered only once the indexers acknowledge it (`/services/collector/ack`).
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
  gzipped,
  hitTime,
  httpClientOf,
  httpRequest,
  type Output,
  type PluginContext,
  type RejectedHit,
  requestTimeout,
  sendBatchShape,
  type SendResult,
  sendTestEvent,
  type SystemEvent,
  tlsClientShape,
  z,
} from "@hitship/hitship/sdk";

const FIELD = z.string().min(1).regex(/^[^\r\n]*$/, { error: "expected one line" });

/** The config fields of a `splunk-hec` output. */
export const splunkHecSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).meta({
    description: "HEC's base URL (`/services/collector/event` is added to its path)",
    examples: ["https://splunk.example.com:8088"],
  }),
  token: z.string().min(1).meta({
    description: "The HEC token, sent as `Authorization: Splunk TOKEN` (use ${ENV_VAR}); " +
      "never logged",
    examples: ["${SPLUNK_HEC_TOKEN}"],
  }),
  index: FIELD.optional().meta({ description: "The index (default: the token's)" }),
  source: FIELD.optional().meta({ description: "The events' `source`", examples: ["hitship"] }),
  sourcetype: FIELD.default("wallarm:hit").meta({ description: "The hits' `sourcetype`" }),
  event_sourcetype: FIELD.default("wallarm:event").meta({
    description: "The `sourcetype` of system events, alerts, reports and test messages",
  }),
  host: FIELD.optional().meta({ description: "The events' `host` (default: the host's name)" }),
  ack: z.boolean().default(false).meta({
    description: "Indexer acknowledgement: a batch counts as delivered only when HEC says it " +
      "is indexed (the token must have it turned on)",
  }),
  ack_timeout: duration({ min: 1000 }).prefault("60s").meta({
    description: "With `ack`: a batch not acknowledged this long after it was sent is sent again",
  }),
  ack_poll: duration({ min: 10, max: 60_000 }).prefault("1s").meta({
    description: "With `ack`: how often HEC is asked",
  }),
  compress: z.enum(["none", "gzip"]).default("none").meta({
    description: "`gzip`: bodies are gzipped (`Content-Encoding: gzip`)",
  }),
  tls: tlsClientShape,
  timeout: requestTimeout("30s"),
  ...sendBatchShape({ max_hits: 1000, max_bytes: "1MiB", max_bytes_limit: "512MiB" }),
});

/** A resolved `splunk-hec` config. */
export type SplunkHecConfig = z.output<typeof splunkHecSchema>;

/** HEC's answer body. */
interface HecAnswer {
  text?: string;
  code?: number;
  ackId?: number;
  "invalid-event-number"?: number;
}

/** HEC codes that name one event as the cause: that event is refused, the others go again. */
const EVENT_CODES = new Set([6, 12, 13, 15]);
/** Hints for codes a person fixes in the config or on the token. */
const HINTS: Record<number, string> = {
  1: "the token is disabled",
  2: "check token",
  3: "check token",
  4: "check token",
  7: "check index: the token may not write to it",
  10: "ack: true needs a channel, which hitship sends: a proxy may drop it",
  14: "indexer acknowledgement is off on the token: turn it on, or set ack: false",
};

/** Where an acknowledged batch stands. */
interface PendingAck {
  seq: number;
  ackId: number;
  sentAt: number;
  /** Hits refused in the attempt that was acknowledged. */
  rejected: RejectedHit[];
}

function parseAnswer(text: string): HecAnswer | undefined {
  try {
    const answer = JSON.parse(text);
    return typeof answer === "object" && answer !== null ? answer : undefined;
  } catch {
    return undefined;
  }
}

/** The collector's endpoint `name` (`event`, `ack`) under the base URL's path. */
function endpoint(base: string, name: string): string {
  const url = new URL(base);
  const path = url.pathname.replace(/\/+$/, "");
  url.pathname = path.endsWith("/services/collector/event")
    ? path.replace(/event$/, name)
    : `${path}/services/collector/${name}`;
  return url.toString();
}

class SplunkHec implements Output {
  readonly #config: SplunkHecConfig;
  readonly #context: PluginContext;
  readonly #client: Deno.HttpClient | undefined;
  readonly #eventUrl: string;
  readonly #ackUrl: string;
  readonly #channel = crypto.randomUUID();
  /** The fields after `time` of a hit's event, up to `"event":`. */
  readonly #hitFields: string;
  readonly #eventFields: string;
  /** Hits of the batch in flight that HEC named invalid: left out when it goes again. */
  #refused: { seq: number; hits: Map<number, RejectedHit> } = { seq: -1, hits: new Map() };
  #pending: PendingAck | undefined;

  constructor(config: SplunkHecConfig, context: PluginContext, client?: Deno.HttpClient) {
    this.#config = config;
    this.#context = context;
    this.#client = client;
    this.#eventUrl = endpoint(config.url, "event");
    this.#ackUrl = `${endpoint(config.url, "ack")}?channel=${this.#channel}`;
    const fields = (sourcetype: string) => {
      const f: Record<string, string> = { host: config.host ?? context.hostname };
      if (config.source) f.source = config.source;
      f.sourcetype = sourcetype;
      if (config.index) f.index = config.index;
      return JSON.stringify(f).slice(1, -1);
    };
    this.#hitFields = fields(config.sourcetype);
    this.#eventFields = fields(config.event_sourcetype);
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = {
      "Authorization": `Splunk ${this.#config.token}`,
      "Content-Type": "application/json",
    };
    if (this.#config.ack) headers["X-Splunk-Request-Channel"] = this.#channel;
    if (this.#config.compress === "gzip") headers["Content-Encoding"] = "gzip";
    return headers;
  }

  /** One POST; the answer's HEC code read into the result. */
  async #post(
    url: string,
    body: string,
    signal: AbortSignal,
  ): Promise<{ result: SendResult; answer?: HecAnswer }> {
    const gzip = this.#config.compress === "gzip" && url === this.#eventUrl;
    const headers = this.#headers();
    if (!gzip) delete headers["Content-Encoding"];
    const { result, text } = await httpRequest({
      url,
      headers,
      body: gzip ? await gzipped(body) : body,
      timeout: this.#config.timeout,
      client: this.#client,
      secrets: [this.#config.token],
      what: "Splunk HEC",
    }, signal);
    const answer = parseAnswer(text);
    if (!answer || answer.code === undefined) return { result, answer };
    if (result.ok && answer.code === 0) return { result, answer };
    const hint = HINTS[answer.code];
    const error = `HEC code ${answer.code}: ${answer.text ?? "no text"}${hint ? ` (${hint})` : ""}${
      result.ok ? "" : ` [HTTP ${result.status}]`
    }`;
    return { result: { ok: false, status: result.status, error }, answer };
  }

  #hitEvent(line: string): string {
    return `{"time":${hitTime(line)},${this.#hitFields},"event":${line}}`;
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    if (this.#pending?.seq === batch.seq) {
      const acked = await this.#awaitAck(signal);
      if (acked) return acked;
    }
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    if (this.#refused.seq !== batch.seq) this.#refused = { seq: batch.seq, hits: new Map() };
    const refused = this.#refused.hits;
    const index: number[] = [];
    const events: string[] = [];
    lines.forEach((line, i) => {
      if (refused.has(i)) return;
      index.push(i);
      events.push(this.#hitEvent(line));
    });
    const rejected = [...refused.values()];
    if (events.length === 0) return { ok: true, rejected };
    const { result, answer } = await this.#post(this.#eventUrl, events.join(""), signal);
    if (!result.ok) {
      const bad = answer?.["invalid-event-number"];
      if (
        answer && EVENT_CODES.has(answer.code ?? -1) && bad !== undefined &&
        index[bad] !== undefined
      ) {
        refused.set(index[bad]!, { line: lines[index[bad]!]!, reason: result.error });
      }
      return result;
    }
    if (!this.#config.ack) return rejected.length > 0 ? { ...result, rejected } : result;
    if (answer?.ackId === undefined) {
      return {
        ok: false,
        status: result.status,
        error: "HEC gave no ackId: indexer acknowledgement is off on the token (turn it on, " +
          "or set ack: false)",
      };
    }
    this.#pending = {
      seq: batch.seq,
      ackId: answer.ackId,
      sentAt: this.#context.clock.now(),
      rejected,
    };
    return await this.#awaitAck(signal) ?? {
      ok: false,
      error: `No indexer acknowledgement within ${this.#config.ack_timeout / 1000}s; sent again`,
    };
  }

  /**
   * Asks HEC about the pending batch until it is acknowledged, the ack times out, or a request
   * fails. Returns the result of an acknowledged batch, a failed poll, or `undefined` once the
   * ack timed out (the batch goes again).
   */
  async #awaitAck(signal: AbortSignal): Promise<SendResult | undefined> {
    const pending = this.#pending!;
    const clock = this.#context.clock;
    for (;;) {
      const { result, answer } = await this.#post(
        this.#ackUrl,
        JSON.stringify({ acks: [pending.ackId] }),
        signal,
      );
      if (!result.ok) return result;
      const acks = (answer as { acks?: Record<string, boolean> } | undefined)?.acks;
      if (acks?.[String(pending.ackId)] === true) {
        this.#pending = undefined;
        return pending.rejected.length > 0 ? { ...result, rejected: pending.rejected } : result;
      }
      if (clock.now() - pending.sentAt >= this.#config.ack_timeout) {
        this.#pending = undefined;
        return undefined;
      }
      await clock.sleep(this.#config.ack_poll, signal).catch(() => {});
      if (signal.aborted) return { ok: false, error: "stopped while waiting for the ack" };
    }
  }

  async sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    const record = eventRecord(event, this.#config.host ?? this.#context.hostname);
    const body = `{"time":${event.time / 1000},${this.#eventFields},"event":${record}}`;
    const { result } = await this.#post(this.#eventUrl, body, signal);
    return result;
  }

  test(signal: AbortSignal): Promise<SendResult> {
    return sendTestEvent(this, this.#context, signal);
  }

  close(): Promise<void> {
    this.#client?.close();
    return Promise.resolve();
  }
}

/** The `splunk-hec` output plugin. */
export const splunkHecOutput = definePlugin({
  type: "splunk-hec",
  description: "Sends hits to Splunk's HTTP Event Collector",
  schema: splunkHecSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: async (config, context) => new SplunkHec(config, context, await httpClientOf(config.tls)),
});
