/**
 * The `http` output: hits to any webhook or HTTP log intake. A batch is one request: NDJSON (a hit
 * a line) or a JSON array of the hits as the node wrote them; or, with `format: notification`, one
 * request for each hit or event in the node's webhook notification shape, as its webhook
 * integration sends it. Success is a 2xx; everything else is retried on the node's schedule, and a
 * redirect is never followed.
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
  eventNotification,
  eventRecord,
  gzipped,
  hitsNotification,
  httpClientOf,
  httpRequest,
  type Output,
  type PluginContext,
  requestTimeout,
  sendBatchShape,
  type SendResult,
  sendTestEvent,
  type SystemEvent,
  testNotifications,
  tlsClientShape,
  z,
} from "@hitship/hitship/sdk";

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers hitship sets itself. */
const OWN_HEADERS = ["content-length", "content-encoding", "transfer-encoding", "host"];

/** The `auth` field: bearer token, basic credentials, or a named header. */
export const authShape = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("bearer"),
    token: z.string().min(1).meta({ description: "Sent as `Authorization: Bearer TOKEN`" }),
  }),
  z.strictObject({
    type: z.literal("basic"),
    user: z.string().min(1).refine((user) => !user.includes(":"), {
      error: "expected a user without ':' (RFC 7617)",
    }),
    password: z.string(),
  }),
  z.strictObject({
    type: z.literal("header"),
    name: z.string().regex(HEADER_NAME, { error: "expected a header name" }),
    value: z.string().min(1).regex(HEADER_VALUE, {
      error: "expected a header value without control characters",
    }),
  }),
], { error: "expected auth type bearer, basic or header" }).optional().meta({
  description: "Credentials: `{type: bearer, token}`, `{type: basic, user, password}` or " +
    "`{type: header, name, value}` (use ${ENV_VAR}); never logged",
});

/** The config fields of an `http` output. */
export const httpOutputSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).meta({
    description: "Where the requests go",
    examples: ["https://siem.example.com/intake/hits"],
  }),
  method: z.enum(["POST", "PUT"]).default("POST").meta({ description: "The request method" }),
  format: z.enum(["ndjson", "json", "notification"]).default("ndjson").meta({
    description: "`ndjson`: a batch, one hit a line; `json`: a batch as one JSON array; " +
      "`notification`: one request for each hit or event, in the node's webhook notification " +
      "shape `{summary, description, details: {..., hit}}`",
  }),
  headers: z.record(
    z.string().regex(HEADER_NAME, { error: "expected a header name" }).refine(
      (name) => !OWN_HEADERS.includes(name.toLowerCase()),
      { error: `expected a header hitship does not set itself (${OWN_HEADERS.join(", ")})` },
    ),
    z.string().regex(HEADER_VALUE, {
      error: "expected a header value without control characters",
    }),
  ).default({}).meta({
    description: "Headers added to every request",
    examples: [{ "X-Source": "wallarm" }],
  }),
  auth: authShape,
  compress: z.enum(["none", "gzip"]).default("none").meta({
    description: "`gzip`: bodies are gzipped (`Content-Encoding: gzip`)",
  }),
  tls: tlsClientShape,
  timeout: requestTimeout("30s"),
  client_name: z.string().min(1).optional().meta({
    description: "Name in notifications (default: the hostname)",
  }),
  ...sendBatchShape(),
});

/** A resolved `http` output config. */
export type HttpOutputConfig = z.output<typeof httpOutputSchema>;

const encoder = new TextEncoder();

/** The request headers of an `auth` setting. */
export function authHeaders(auth: HttpOutputConfig["auth"]): Record<string, string> {
  if (!auth) return {};
  if (auth.type === "bearer") return { Authorization: `Bearer ${auth.token}` };
  if (auth.type === "basic") {
    const bytes = encoder.encode(`${auth.user}:${auth.password}`);
    return { Authorization: `Basic ${btoa(String.fromCharCode(...bytes))}` };
  }
  return { [auth.name]: auth.value };
}

/** The secrets of an `auth` setting, kept out of every error. */
function secretsOf(auth: HttpOutputConfig["auth"]): string[] {
  if (!auth) return [];
  if (auth.type === "bearer") return [auth.token];
  if (auth.type === "basic") return [auth.password, ...Object.values(authHeaders(auth))];
  return [auth.value];
}

class HttpOutput implements Output {
  readonly #config: HttpOutputConfig;
  readonly #context: PluginContext;
  readonly #client: Deno.HttpClient | undefined;
  readonly #headers: Record<string, string>;
  readonly #secrets: string[];
  /** `notification`: the hits of the batch answered 2xx. */
  readonly #progress = new BatchProgress();

  constructor(config: HttpOutputConfig, context: PluginContext, client?: Deno.HttpClient) {
    this.#config = config;
    this.#context = context;
    this.#client = client;
    this.#secrets = secretsOf(config.auth);
    this.#headers = {
      "Content-Type": config.format === "ndjson" ? "application/x-ndjson" : "application/json",
      ...config.headers,
      ...authHeaders(config.auth),
    };
    if (config.compress === "gzip") this.#headers["Content-Encoding"] = "gzip";
  }

  get #clientName(): string {
    return this.#config.client_name ?? this.#context.hostname;
  }

  async #post(body: string, signal: AbortSignal): Promise<SendResult> {
    const payload = this.#config.compress === "gzip" ? await gzipped(body) : body;
    const { result } = await httpRequest({
      url: this.#config.url,
      method: this.#config.method,
      headers: this.#headers,
      body: payload,
      timeout: this.#config.timeout,
      client: this.#client,
      secrets: this.#secrets,
    }, signal);
    return result;
  }

  /** The body of records (raw JSON objects) in the output's batch format. */
  #body(records: readonly string[]): string {
    return this.#config.format === "json"
      ? `[${records.join(",")}]`
      : records.map((record) => record + "\n").join("");
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    if (this.#config.format !== "notification") {
      return await this.#post(this.#body(lines), signal);
    }
    // One request per hit, in order; after a failure the batch goes on from the hit that failed.
    return await this.#progress.send(
      batch.seq,
      lines,
      (line) => this.#post(hitsNotification([line], this.#clientName), signal),
    );
  }

  sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    if (this.#config.format === "notification") {
      return this.#post(eventNotification(event, this.#clientName), signal);
    }
    return this.#post(this.#body([eventRecord(event, this.#clientName)]), signal);
  }

  /**
   * `notification`: one test notification for each event kind the output takes; a batch format:
   * one test event as a record.
   */
  async test(signal: AbortSignal): Promise<SendResult> {
    if (this.#config.format !== "notification") return sendTestEvent(this, this.#context, signal);
    const sent: string[] = [];
    let status: number | undefined;
    const now = this.#context.clock.now();
    for (const { kind, body } of testNotifications(this.#context.events, this.#clientName, now)) {
      const result = await this.#post(body, signal);
      if (!result.ok) return { ...result, error: `${kind} test message: ${result.error}` };
      status = result.status;
      sent.push(kind);
    }
    return { ok: true, status, detail: `sent ${sent.join(", ")}` };
  }

  close(): Promise<void> {
    this.#client?.close();
    return Promise.resolve();
  }
}

/** The `http` output plugin. */
export const httpOutput = definePlugin({
  type: "http",
  description: "Sends hits (NDJSON, a JSON array, or the node's notifications) to an HTTP endpoint",
  schema: httpOutputSchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  // A notification goes at once: one request a hit, grouped only while behind.
  batchOptions: (config) => ({
    ...batchOptionsOf(config),
    ...(config.format === "notification" ? { interval: 0 } : {}),
  }),
  create: async (config, context) =>
    new HttpOutput(config, context, await httpClientOf(config.tls)),
});
