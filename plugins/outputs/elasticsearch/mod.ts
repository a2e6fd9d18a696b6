/**
 * The `elasticsearch` output (Elasticsearch and OpenSearch): hits indexed with the `_bulk` API as
 * `create` actions, each with a document `_id` that is a hash of the hit's line, so a batch sent
 * again (a retry, a replay after a crash) never makes a second document: the index answers 409,
 * which counts as delivered. The bulk answer is read item by item: items that failed with 429 or a
 * 5xx are sent again (alone), items refused for good (a mapping error) go to the dead-letter file
 * with the index's reason.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  type Batch,
  batchLines,
  batchOptionsOf,
  definePlugin,
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

const INDEX_PLACEHOLDER = /%[YmdH]/g;

const INDEX_NAME = /^[^A-Z\\/*?"<>| ,#:_\-+.][^A-Z\\/*?"<>| ,#:]*$/;

/** An index name with time placeholders, checked as Elasticsearch checks the name it becomes. */
function indexTemplate() {
  return z.string().min(1).max(200).refine(
    (t) => INDEX_NAME.test(t.replace(INDEX_PLACEHOLDER, "0")),
    {
      error: "expected a lowercase index name (placeholders %Y %m %d %H) that does not begin " +
        'with _ - + . and has none of \\ / * ? " < > | space , # :',
    },
  );
}

/** The config fields of an `elasticsearch` output. */
export const elasticsearchSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).meta({
    description: "The cluster's URL (`/_bulk` is added to its path)",
    examples: ["https://elastic.example.com:9200"],
  }),
  index: indexTemplate().default("wallarm-hits-%Y.%m.%d").meta({
    description: "The index; %Y, %m, %d and %H are the hit's UTC year, month, day and hour",
    examples: ["wallarm-hits-%Y.%m.%d"],
  }),
  event_index: indexTemplate().default("wallarm-events-%Y.%m").meta({
    description: "The index of system events, alerts, reports and test messages",
  }),
  auth: z.discriminatedUnion("type", [
    z.strictObject({ type: z.literal("basic"), user: z.string().min(1), password: z.string() }),
    z.strictObject({
      type: z.literal("api_key"),
      api_key: z.string().min(1).meta({
        description: "The encoded API key (`Authorization: ApiKey KEY`)",
      }),
    }),
  ], { error: "expected auth type basic or api_key" }).optional().meta({
    description: "`{type: basic, user, password}` or `{type: api_key, api_key}` (use ${ENV_VAR})",
  }),
  pipeline: z.string().min(1).optional().meta({ description: "An ingest pipeline to run" }),
  compress: z.enum(["none", "gzip"]).default("none").meta({
    description: "`gzip`: bodies are gzipped (`http.compression` must be on)",
  }),
  tls: tlsClientShape,
  timeout: requestTimeout("60s"),
  ...sendBatchShape({ max_hits: 1000, max_bytes: "5MiB", max_bytes_limit: "100MiB" }),
});

/** A resolved `elasticsearch` config. */
export type ElasticsearchConfig = z.output<typeof elasticsearchSchema>;

/** One item of a bulk answer. */
interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}

/** The document id of a hit: the same line always has the same id. */
export function documentId(line: string): string {
  return createHash("sha256").update(line).digest("base64url");
}

/** `template` with the time placeholders of `seconds` (UTC) filled in. */
export function indexName(template: string, seconds: number): string {
  const d = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return template.replace(
    INDEX_PLACEHOLDER,
    (p) =>
      p === "%Y"
        ? String(d.getUTCFullYear())
        : p === "%m"
        ? two(d.getUTCMonth() + 1)
        : p === "%d"
        ? two(d.getUTCDate())
        : two(d.getUTCHours()),
  );
}

/** Where a batch stands: the items done (delivered or refused), and the refused. */
interface Progress {
  seq: number;
  done: Set<number>;
  rejected: RejectedHit[];
}

class Elasticsearch implements Output {
  readonly #config: ElasticsearchConfig;
  readonly #context: PluginContext;
  readonly #client: Deno.HttpClient | undefined;
  readonly #bulkUrl: string;
  readonly #headers: Record<string, string>;
  readonly #secrets: string[];
  #progress: Progress = { seq: -1, done: new Set(), rejected: [] };

  constructor(config: ElasticsearchConfig, context: PluginContext, client?: Deno.HttpClient) {
    this.#config = config;
    this.#context = context;
    this.#client = client;
    const url = new URL(config.url);
    url.pathname = `${url.pathname.replace(/\/+$/, "")}/_bulk`;
    if (config.pipeline) url.searchParams.set("pipeline", config.pipeline);
    this.#bulkUrl = url.toString();
    this.#headers = { "Content-Type": "application/x-ndjson" };
    this.#secrets = [];
    const auth = config.auth;
    if (auth?.type === "basic") {
      const token = btoa(
        String.fromCharCode(...new TextEncoder().encode(`${auth.user}:${auth.password}`)),
      );
      this.#headers.Authorization = `Basic ${token}`;
      this.#secrets.push(auth.password, token);
    } else if (auth?.type === "api_key") {
      this.#headers.Authorization = `ApiKey ${auth.api_key}`;
      this.#secrets.push(auth.api_key);
    }
    if (config.compress === "gzip") this.#headers["Content-Encoding"] = "gzip";
  }

  #action(index: string, id: string): string {
    return `{"create":{"_index":${JSON.stringify(index)},"_id":"${id}"}}\n`;
  }

  /** One bulk request; its items, or the failure. */
  async #bulk(
    body: string,
    signal: AbortSignal,
  ): Promise<{ result: SendResult; items?: BulkItem[] }> {
    const { result, text } = await httpRequest({
      url: this.#bulkUrl,
      headers: this.#headers,
      body: this.#config.compress === "gzip" ? await gzipped(body) : body,
      timeout: this.#config.timeout,
      client: this.#client,
      secrets: this.#secrets,
      what: "Elasticsearch",
    }, signal);
    if (!result.ok) {
      if (result.status === 401 || result.status === 403) {
        return { result: { ...result, error: `${result.error} (check auth)` } };
      }
      if (result.status === 413) {
        return { result: { ...result, error: `${result.error} (lower max_bytes)` } };
      }
      return { result };
    }
    let answer: { items?: Array<Record<string, BulkItem>> };
    try {
      answer = JSON.parse(text);
    } catch {
      return {
        result: { ok: false, status: result.status, error: "The bulk answer is not JSON" },
      };
    }
    const items = (answer.items ?? []).map((item) => Object.values(item)[0]!);
    return { result, items };
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    if (this.#progress.seq !== batch.seq) {
      this.#progress = { seq: batch.seq, done: new Set(), rejected: [] };
    }
    const progress = this.#progress;
    const sent: number[] = [];
    let body = "";
    lines.forEach((line, i) => {
      if (progress.done.has(i)) return;
      sent.push(i);
      body += this.#action(indexName(this.#config.index, hitTime(line)), documentId(line));
      body += line + "\n";
    });
    if (sent.length > 0) {
      const { result, items } = await this.#bulk(body, signal);
      if (!result.ok) return result;
      if (items!.length !== sent.length) {
        return {
          ok: false,
          status: result.status,
          error: `The bulk answer has ${items!.length} items for ${sent.length} actions`,
        };
      }
      let retry = 0;
      let firstRetry = "";
      items!.forEach((item, k) => {
        const i = sent[k]!;
        if ((item.status >= 200 && item.status < 300) || item.status === 409) {
          progress.done.add(i);
        } else if (item.status === 429 || item.status >= 500) {
          retry++;
          firstRetry ||= describe(item);
        } else {
          progress.done.add(i);
          progress.rejected.push({ line: lines[i]!, reason: describe(item) });
        }
      });
      if (retry > 0) {
        return {
          ok: false,
          status: result.status,
          error: `${retry} of ${sent.length} documents failed and are sent again: ${firstRetry}`,
        };
      }
    }
    return progress.rejected.length > 0 ? { ok: true, rejected: progress.rejected } : { ok: true };
  }

  async sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    const record = eventRecord(event, this.#context.hostname);
    const body = this.#action(
      indexName(this.#config.event_index, event.time / 1000),
      documentId(record),
    ) + record + "\n";
    const { result, items } = await this.#bulk(body, signal);
    if (!result.ok) return result;
    const item = items?.[0];
    if (item && !(item.status < 300 || item.status === 409)) {
      return { ok: false, status: item.status, error: describe(item) };
    }
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

/** An item's failure in words: `HTTP 400 mapper_parsing_exception: failed to parse ...`. */
function describe(item: BulkItem): string {
  const type = item.error?.type ?? "error";
  return `HTTP ${item.status} ${type}${item.error?.reason ? `: ${item.error.reason}` : ""}`;
}

/** The `elasticsearch` output plugin. */
export const elasticsearchOutput = definePlugin({
  type: "elasticsearch",
  description: "Indexes hits in Elasticsearch or OpenSearch with the _bulk API",
  schema: elasticsearchSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: async (config, context) =>
    new Elasticsearch(config, context, await httpClientOf(config.tls)),
});
