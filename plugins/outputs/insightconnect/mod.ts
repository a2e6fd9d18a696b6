/**
 * The `insightconnect` output: notifications POSTed to a Rapid7 InsightConnect workflow's API
 * trigger with the `X-API-Key` header. Hits arrive as `new_hits` notifications, with the same
 * summary the node uses, so workflows built for the node keep working; system events, threshold
 * alerts and hourly reports use their event name as `notification_type`.
 *
 * @module
 */
import {
  type Batch,
  definePlugin,
  duration,
  type Output,
  parseJson,
  type PluginContext,
  type SendResult,
  type SystemEvent,
  z,
} from "@hitship/hitship/sdk";

const TRIGGER =
  /^https?:\/\/[^/\s]+(\/[^\s]*)?\/connect\/v1\/(workflows\/[^/\s]+\/events\/execute|execute\/async\/workflows\/[^/\s]+)\/?$/;

/** The config fields of an `insightconnect` output. */
export const insightconnectSchema = z.strictObject({
  api_url: z.string().regex(TRIGGER, {
    error: "expected a workflow API trigger URL ending in " +
      "/connect/v1/workflows/ID/events/execute or /connect/v1/execute/async/workflows/ID",
  }).meta({
    description: "The workflow's API trigger URL",
    examples: ["https://us.api.insight.rapid7.com/connect/v1/workflows/ID/events/execute"],
  }),
  api_key: z.string().min(1).meta({
    description: "The trigger's API key, sent as X-API-Key (use ${ENV_VAR}); never logged",
    examples: ["${INSIGHTCONNECT_API_KEY}"],
  }),
  timeout: duration({ min: 100 }).prefault("15s").meta({
    description: "A request (connection included) that takes longer fails and is retried",
    examples: ["15s"],
  }),
  max_hits_per_request: z.int().min(1).max(1000).default(100).meta({
    description: "Most hits in one notification: a hit goes alone (details.hit) while hitship " +
      "keeps up; hits that arrive while a request is out go together in the next one " +
      "(details.hits), so a slow trigger never leaves a growing backlog. 1: always one per hit",
    examples: [1, 100],
  }),
  rate_limit: z.int().positive().max(1_000_000).optional().meta({
    description: "Requests per minute at most; hits over the limit wait in the journal",
    examples: [60],
  }),
  client_name: z.string().min(1).optional().meta({
    description: "Name shown in notifications (default: the hostname)",
    examples: ["wallarm-node-eu-1"],
  }),
});

/** A resolved `insightconnect` config. */
export type InsightconnectConfig = z.output<typeof insightconnectSchema>;

const HIT_SUMMARY = "[Wallarm] New hit detected";
const TEST_PREFIX = "[Test message] ";
const decoder = new TextDecoder();

/** A sample hit in the node's export format, for test messages. */
export const SAMPLE_HIT =
  '{"time":"1687241470","request_id":"d2a900a6efac7a7c893a00903205071a","ip":"127.0.0.1",' +
  '"datacenter":"unknown","tor":"none","remote_country":null,"application_id":[-1],' +
  '"domain":"localhost","method":"GET","uri":"/etc/passwd","protocol":"none","status_code":499,' +
  '"attack_type":"ptrav","block_status":"monitored","payload":["/etc/passwd"],"point":["uri"],' +
  '"tags":{"lom_id":7,"wallarm_mode":"monitoring"}}';

/** One line about a hit: attack type, domain, method, URI, IP, block status. */
export function describeHit(hit: Record<string, unknown>): string {
  return `${hit.attack_type} attack on ${hit.domain}: ${hit.method} ${hit.uri} from ${hit.ip} ` +
    `(${hit.block_status})`;
}

class Insightconnect implements Output {
  readonly #config: InsightconnectConfig;
  readonly #clientName: string;
  readonly #events: readonly string[];

  constructor(config: InsightconnectConfig, context: PluginContext) {
    this.#config = config;
    this.#clientName = config.client_name ?? context.hostname;
    this.#events = context.events;
  }

  /** The body of a hit notification: the raw hit lines go in unchanged. */
  hitsBody(lines: string[], prefix = ""): string {
    const hits = lines.map((line) => parseJson(line) as Record<string, unknown>);
    const summary = prefix +
      (hits.length === 1 ? HIT_SUMMARY : `[Wallarm] ${hits.length} new hits detected`);
    const description = hits.length === 1
      ? describeHit(hits[0]!)
      : hits.slice(0, 5).map(describeHit).join("; ") + (hits.length > 5 ? "; ..." : "");
    const head =
      `{"summary":${JSON.stringify(summary)},"description":${
        JSON.stringify(description)
      },"details":{"client_name":${JSON.stringify(this.#clientName)},` +
      `"notification_type":"new_hits",`;
    return lines.length === 1
      ? `${head}"hit":${lines[0]}}}`
      : `${head}"hits":[${lines.join(",")}]}}`;
  }

  eventBody(event: SystemEvent, prefix = ""): string {
    return JSON.stringify({
      summary: prefix + event.summary,
      description: event.summary,
      details: {
        client_name: this.#clientName,
        notification_type: event.name,
        time: new Date(event.time).toISOString(),
        ...event.details,
      },
    });
  }

  async #post(body: string, signal: AbortSignal): Promise<SendResult> {
    const timeout = AbortSignal.timeout(this.#config.timeout);
    let response: Response;
    try {
      response = await fetch(this.#config.api_url, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-API-Key": this.#config.api_key },
        body,
        signal: AbortSignal.any([signal, timeout]),
        // The key and the hits go to api_url alone: a redirect is a failed request.
        redirect: "manual",
      });
    } catch (error) {
      if (timeout.aborted) {
        return { ok: false, error: `No answer within ${this.#config.timeout / 1000}s (timeout)` };
      }
      const e = error as Error & { cause?: { code?: string; message?: string } };
      const cause = e.cause?.code ?? e.cause?.message;
      return {
        ok: false,
        error: `Cannot reach the API trigger: ${e.message}${cause ? ` (${cause})` : ""}`,
      };
    }
    const text = await response.text().catch(() => "");
    if (response.ok) return { ok: true, status: response.status };
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      return {
        ok: false,
        status: response.status,
        error: `HTTP ${response.status} ${response.statusText}: the API trigger redirects to ${
          location ? JSON.stringify(location) : "another place"
        }, which is not followed (the API key goes only to api_url): set api_url to the URL the workflow gives`,
      };
    }
    const detail = text.trim().slice(0, 200).replaceAll(this.#config.api_key, "***");
    const error = response.status === 401
      ? "HTTP 401 Unauthorized: the API key was rejected (check api_key)"
      : `HTTP ${response.status} ${response.statusText}${detail ? `: ${detail}` : ""}`;
    return { ok: false, status: response.status, error };
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines: string[] = [];
    for await (const chunk of batch.lines()) {
      for (const line of chunk) lines.push(decoder.decode(line));
    }
    if (lines.length === 0) return { ok: true };
    return await this.#post(this.hitsBody(lines), signal);
  }

  sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    return this.#post(this.eventBody(event), signal);
  }

  /** Sends one test notification per event type this output takes. */
  async test(signal: AbortSignal): Promise<SendResult> {
    const events = this.#events;
    const now = Date.now();
    const samples: Record<string, string> = {
      hits: this.hitsBody([SAMPLE_HIT], TEST_PREFIX),
      system: this.eventBody({
        kind: "system",
        name: "integration_broken",
        summary: 'Integration "archive" (minio-hitlogs) is broken and was disabled',
        details: {
          integration: "archive",
          type: "minio-hitlogs",
          failure_ratio: 0.6,
          last_error: "sample error",
        },
        time: now,
      }, TEST_PREFIX),
      alerts: this.eventBody({
        kind: "alerts",
        name: "hits_threshold_exceeded",
        summary: 'More than 100 hits matched alert "sqli-burst" within 1m',
        details: { alert: "sqli-burst", threshold: 100, period: "1m", hits: 101 },
        time: now,
      }, TEST_PREFIX),
      report: this.eventBody({
        kind: "report",
        name: "hourly_report",
        summary: "Hits processed in the last hour",
        details: { hits_read: 0, hits_rejected: 0, delivered: {} },
        time: now,
      }, TEST_PREFIX),
    };
    let last: SendResult = { ok: true };
    const sent: string[] = [];
    for (const event of events) {
      const body = samples[event];
      if (!body) continue;
      last = await this.#post(body, signal);
      if (!last.ok) return { ...last, error: `${event} test message: ${last.error}` };
      sent.push(event);
    }
    return {
      ok: true,
      status: (last as { status?: number }).status,
      detail: `sent ${sent.join(", ")}`,
    };
  }
}

/** The `insightconnect` output plugin. */
export const insightconnectOutput = definePlugin({
  type: "insightconnect",
  description:
    "POSTs notifications of hits and events to a Rapid7 InsightConnect workflow API trigger",
  schema: insightconnectSchema,
  supportedEvents: ["hits", "system", "alerts", "report"],
  defaultEvents: ["hits", "system"],
  batchOptions: (config) => ({
    interval: 0,
    maxHits: config.max_hits_per_request,
    maxBytes: Number.MAX_SAFE_INTEGER,
    ratePerMinute: config.rate_limit,
  }),
  create: (config, context) => new Insightconnect(config, context),
});
