/**
 * The `sumologic` output: hits to a Sumo Logic HTTP Logs Source, one hit a line (Sumo Logic
 * parses JSON lines into fields), with the `X-Sumo-Category`, `X-Sumo-Name` and `X-Sumo-Host`
 * headers. The source's URL is its secret: it is never logged. A request holds at most 1 MB
 * before compression, as Sumo Logic asks; a hit over that is refused to the dead-letter file.
 *
 * @module
 */
import {
  type Batch,
  batchLines,
  batchOptionsOf,
  BatchProgress,
  definePlugin,
  EVENT_KINDS,
  eventRecord,
  gzipped,
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

/** Most bytes of one request before compression, as Sumo Logic documents it. */
const MAX_REQUEST = 1_000_000;
const HEADER_VALUE = /^[\x20-\x7e]*$/;

const header = (what: string) =>
  z.string().min(1).regex(HEADER_VALUE, { error: "expected printable ASCII" }).optional().meta({
    description: what,
  });

/** The config fields of a `sumologic` output. */
export const sumologicSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).meta({
    description: "The HTTP Logs Source's URL (use ${ENV_VAR}: the URL is the credential); " +
      "never logged",
    examples: ["${SUMO_URL}"],
  }),
  category: header("X-Sumo-Category: the source category the hits are filed under"),
  source_name: header("X-Sumo-Name: the source name"),
  source_host: header("X-Sumo-Host: the source host (default: the host's name)"),
  fields: z.record(z.string().regex(/^[A-Za-z0-9_]+$/), z.string().regex(/^[^,=\r\n]*$/))
    .optional().meta({
      description: "X-Sumo-Fields: fields attached to every hit",
      examples: [{ cluster: "eu-1" }],
    }),
  compress: z.enum(["none", "gzip"]).default("gzip").meta({
    description: "`gzip` or `none`",
  }),
  timeout: requestTimeout("30s"),
  ...sendBatchShape({ max_hits: 5000, max_bytes: "900KiB", max_bytes_limit: MAX_REQUEST }),
});

/** A resolved `sumologic` config. */
export type SumologicConfig = z.output<typeof sumologicSchema>;

class Sumologic implements Output {
  readonly #config: SumologicConfig;
  readonly #context: PluginContext;
  readonly #headers: Record<string, string>;
  readonly #progress = new BatchProgress();

  constructor(config: SumologicConfig, context: PluginContext) {
    this.#config = config;
    this.#context = context;
    this.#headers = {
      "Content-Type": "text/plain",
      "X-Sumo-Host": config.source_host ?? context.hostname,
    };
    if (config.category) this.#headers["X-Sumo-Category"] = config.category;
    if (config.source_name) this.#headers["X-Sumo-Name"] = config.source_name;
    if (config.fields) {
      this.#headers["X-Sumo-Fields"] = Object.entries(config.fields)
        .map(([key, value]) => `${key}=${value}`).join(",");
    }
    if (config.compress === "gzip") this.#headers["Content-Encoding"] = "gzip";
  }

  async #post(body: string, signal: AbortSignal): Promise<SendResult> {
    const { result } = await httpRequest({
      url: this.#config.url,
      headers: this.#headers,
      body: this.#config.compress === "gzip" ? await gzipped(body) : body,
      timeout: this.#config.timeout,
      // The URL carries the source's token.
      secrets: [this.#config.url, new URL(this.#config.url).pathname],
      what: "Sumo Logic",
    }, signal);
    return result;
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    const { bodies, rejected } = packRecords(lines, lines, {
      maxRecords: Number.MAX_SAFE_INTEGER,
      maxBytes: MAX_REQUEST,
      separator: "\n",
      close: "\n",
      receiver: "Sumo Logic",
    });
    const result = await this.#progress.send(batch.seq, bodies, (body) => this.#post(body, signal));
    return result.ok && rejected.length > 0 ? { ...result, rejected } : result;
  }

  sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    return this.#post(eventRecord(event, this.#context.hostname) + "\n", signal);
  }

  test(signal: AbortSignal): Promise<SendResult> {
    return sendTestEvent(this, this.#context, signal);
  }
}

/** The `sumologic` output plugin. */
export const sumologicOutput = definePlugin({
  type: "sumologic",
  description: "Sends hits to a Sumo Logic HTTP Logs Source",
  schema: sumologicSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: (config, context) => new Sumologic(config, context),
});
