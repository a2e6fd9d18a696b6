/**
 * The `datadog` output: hits to Datadog's log intake (`POST /api/v2/logs` of the site's
 * `http-intake.logs` host) with the `DD-API-KEY` header. Each hit is one log entry: the hit's
 * fields as attributes, with `ddsource`, `service`, `ddtags`, `hostname`, `timestamp` (from the
 * hit's time) and a one-line `message`, as Fluent Bit's `datadog` output sends records. Requests
 * keep Datadog's limits: at most 1,000 entries and 5 MB before compression; a hit over 1 MB is
 * refused to the dead-letter file rather than cut by Datadog.
 *
 * @module
 */
import {
  type Batch,
  batchLines,
  batchOptionsOf,
  BatchProgress,
  definePlugin,
  describeHit,
  EVENT_KINDS,
  eventRecord,
  gzipped,
  hitFields,
  hitTime,
  httpRequest,
  type Output,
  packRecords,
  type PluginContext,
  requestTimeout,
  sendBatchShape,
  type SendResult,
  sendTestEvent,
  type SystemEvent,
  z,
} from "@hitship/hitship/sdk";

/** Datadog's sites, as its docs name them. */
export const DATADOG_SITES = [
  "datadoghq.com",
  "us3.datadoghq.com",
  "us5.datadoghq.com",
  "datadoghq.eu",
  "ap1.datadoghq.com",
  "ap2.datadoghq.com",
  "uk1.datadoghq.com",
  "ddog-gov.com",
  "us2.ddog-gov.com",
] as const;

/** Datadog's limits of one request. */
const MAX_ENTRIES = 1000;
const MAX_PAYLOAD = 5_000_000;
const MAX_LOG = 1_000_000;

/** The config fields of a `datadog` output. */
export const datadogSchema = z.strictObject({
  site: z.enum(DATADOG_SITES).default("datadoghq.com").meta({
    description: "Your Datadog site; the intake is https://http-intake.logs.SITE/api/v2/logs",
  }),
  url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).optional()
    .meta({
      description: "The intake URL in full, instead of the site's (a proxy, a test receiver)",
    }),
  api_key: z.string().min(1).meta({
    description: "The API key, sent as DD-API-KEY (use ${ENV_VAR}); never logged",
    examples: ["${DD_API_KEY}"],
  }),
  ddsource: z.string().min(1).default("wallarm").meta({
    description: "The `ddsource` of each entry (picks the log pipeline)",
  }),
  service: z.string().min(1).default("wallarm-node").meta({
    description: "The `service` of each entry",
  }),
  ddtags: z.string().optional().meta({
    description: "Tags of each entry, comma-separated",
    examples: ["env:prod,team:security"],
  }),
  hostname: z.string().min(1).optional().meta({
    description: "The `hostname` of each entry (default: the host's name)",
  }),
  compress: z.enum(["none", "gzip"]).default("gzip").meta({
    description: "`gzip` (Datadog's advice) or `none`",
  }),
  timeout: requestTimeout("30s"),
  ...sendBatchShape({
    max_hits: MAX_ENTRIES,
    max_hits_limit: MAX_ENTRIES,
    max_bytes: "4MiB",
    max_bytes_limit: MAX_PAYLOAD,
  }),
});

/** A resolved `datadog` config. */
export type DatadogConfig = z.output<typeof datadogSchema>;

class Datadog implements Output {
  readonly #config: DatadogConfig;
  readonly #context: PluginContext;
  readonly #url: string;
  readonly #prefix: string;
  readonly #progress = new BatchProgress();

  constructor(config: DatadogConfig, context: PluginContext) {
    this.#config = config;
    this.#context = context;
    this.#url = config.url ?? `https://http-intake.logs.${config.site}/api/v2/logs`;
    const fixed: Record<string, string> = {
      ddsource: config.ddsource,
      service: config.service,
      hostname: config.hostname ?? context.hostname,
    };
    if (config.ddtags) fixed.ddtags = config.ddtags;
    this.#prefix = JSON.stringify(fixed).slice(0, -1);
  }

  /** One entry: the fixed attributes, the time and message, then the hit's own fields. */
  #entry(line: string): string {
    const timestamp = hitTime(line) * 1000;
    const message = describeHit(hitFields(line));
    return `${this.#prefix},"timestamp":${timestamp},"message":${JSON.stringify(message)},${
      line.slice(1)
    }`;
  }

  async #post(body: string, signal: AbortSignal): Promise<SendResult> {
    const gzip = this.#config.compress === "gzip";
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      "DD-API-KEY": this.#config.api_key,
    };
    if (gzip) headers["Content-Encoding"] = "gzip";
    const { result } = await httpRequest({
      url: this.#url,
      headers,
      body: gzip ? await gzipped(body) : body,
      timeout: this.#config.timeout,
      secrets: [this.#config.api_key],
      what: "Datadog",
    }, signal);
    if (!result.ok && result.status === 403) {
      return { ...result, error: `${result.error} (check api_key and site)` };
    }
    return result;
  }

  async #sendRecords(
    seq: number,
    records: string[],
    lines: string[],
    signal: AbortSignal,
  ): Promise<SendResult> {
    const { bodies, rejected } = packRecords(records, lines, {
      maxRecords: MAX_ENTRIES,
      maxBytes: MAX_PAYLOAD,
      maxRecordBytes: MAX_LOG,
      open: "[",
      separator: ",",
      close: "]",
      receiver: "Datadog",
    });
    const result = await this.#progress.send(seq, bodies, (body) => this.#post(body, signal));
    return result.ok && rejected.length > 0 ? { ...result, rejected } : result;
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    return await this.#sendRecords(
      batch.seq,
      lines.map((line) => this.#entry(line)),
      lines,
      signal,
    );
  }

  sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    const record = eventRecord(event, this.#config.hostname ?? this.#context.hostname);
    const entry = `${this.#prefix},"timestamp":${event.time},"message":${
      JSON.stringify(event.summary)
    },${record.slice(1)}`;
    return this.#post(`[${entry}]`, signal);
  }

  test(signal: AbortSignal): Promise<SendResult> {
    return sendTestEvent(this, this.#context, signal);
  }
}

/** The `datadog` output plugin. */
export const datadogOutput = definePlugin({
  type: "datadog",
  description: "Sends hits to Datadog's log intake (HTTP, DD-API-KEY)",
  schema: datadogSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: (config, context) => new Datadog(config, context),
});
