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
  EVENT_KINDS,
  type EventKind,
  eventNotification,
  hitsNotification,
  httpClientOf,
  httpRequest,
  type Output,
  type PluginContext,
  type SendResult,
  type SystemEvent,
  testNotifications,
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

const decoder = new TextDecoder();

export { describeHit, SAMPLE_HIT } from "@hitship/hitship/sdk";

class Insightconnect implements Output {
  readonly #config: InsightconnectConfig;
  readonly #clientName: string;
  readonly #events: readonly EventKind[];

  readonly #client: Deno.HttpClient | undefined;

  constructor(config: InsightconnectConfig, context: PluginContext, client?: Deno.HttpClient) {
    this.#client = client;
    this.#config = config;
    this.#clientName = config.client_name ?? context.hostname;
    this.#events = context.events;
  }

  /** The body of a hit notification: the raw hit lines go in unchanged. */
  hitsBody(lines: string[], prefix = ""): string {
    return hitsNotification(lines, this.#clientName, prefix);
  }

  eventBody(event: SystemEvent, prefix = ""): string {
    return eventNotification(event, this.#clientName, prefix);
  }

  async #post(body: string, signal: AbortSignal): Promise<SendResult> {
    const { result } = await httpRequest({
      url: this.#config.api_url,
      headers: { "Content-Type": "application/json", "X-API-Key": this.#config.api_key },
      body,
      timeout: this.#config.timeout,
      client: this.#client,
      secrets: [this.#config.api_key],
      what: "the API trigger",
    }, signal);
    if (result.ok) return result;
    if (result.status === 401) {
      return {
        ...result,
        error: "HTTP 401 Unauthorized: the API key was rejected (check api_key)",
      };
    }
    if (result.status !== undefined && result.status >= 300 && result.status < 400) {
      return { ...result, error: `${result.error}: set api_url to the URL the workflow gives` };
    }
    return result;
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

  close(): Promise<void> {
    this.#client?.close();
    return Promise.resolve();
  }

  /** Sends one test notification per event type this output takes. */
  async test(signal: AbortSignal): Promise<SendResult> {
    let last: SendResult = { ok: true };
    const sent: string[] = [];
    for (const { kind, body } of testNotifications(this.#events, this.#clientName, Date.now())) {
      last = await this.#post(body, signal);
      if (!last.ok) return { ...last, error: `${kind} test message: ${last.error}` };
      sent.push(kind);
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
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits", "system"],
  batchOptions: (config) => ({
    interval: 0,
    maxHits: config.max_hits_per_request,
    maxBytes: Number.MAX_SAFE_INTEGER,
    ratePerMinute: config.rate_limit,
  }),
  // NODE_EXTRA_CA_CERTS (a private CA) is the one TLS setting of this output.
  create: async (config, context) =>
    new Insightconnect(config, context, await httpClientOf(undefined)),
});
