/**
 * The `opentelemetry` output: hits as OpenTelemetry log records over OTLP/HTTP (`/v1/logs`), in
 * protobuf (the default) or JSON. Each hit is one record: its time, a severity from
 * `block_status` (WARN when blocked, INFO otherwise), the hit as the body (the JSON text the
 * node wrote), and its key fields as attributes named by the semantic conventions where one
 * exists (`client.address`, `http.request.method`, `url.path`, `url.query`, `server.address`,
 * `http.response.status_code`), `wallarm.*` otherwise. The resource has `service.name` and
 * `host.name`.
 *
 * @module
 */
import {
  type Batch,
  batchLines,
  batchOptionsOf,
  definePlugin,
  EVENT_KINDS,
  eventRecord,
  gzipped,
  type HitFields,
  hitFields,
  hitTime,
  httpClientOf,
  httpRequest,
  type Output,
  type PluginContext,
  requestTimeout,
  sendBatchShape,
  type SendResult,
  sendTestEvent,
  type SystemEvent,
  tlsClientShape,
  VERSION,
  z,
} from "@hitship/hitship/sdk";
import { type AttributeValue, type LogRecord, logsJson, logsProtobuf } from "./otlp.ts";

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The config fields of an `opentelemetry` output. */
export const opentelemetrySchema = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).meta({
    description: "The OTLP/HTTP endpoint: a base URL gets `/v1/logs` added to its path",
    examples: ["http://otel-collector:4318"],
  }),
  encoding: z.enum(["protobuf", "json"]).default("protobuf").meta({
    description: "`protobuf` (application/x-protobuf) or `json` (application/json)",
  }),
  headers: z.record(z.string().regex(HEADER_NAME, { error: "expected a header name" }), z.string())
    .default({}).meta({
      description: "Headers of every request (an API key of a SaaS backend; use ${ENV_VAR})",
      examples: [{ "api-key": "${OTLP_KEY}" }],
    }),
  service_name: z.string().min(1).default("wallarm-node").meta({
    description: "The resource's `service.name`",
  }),
  resource: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()]))
    .default({}).meta({
      description: "More resource attributes",
      examples: [{ "deployment.environment.name": "prod" }],
    }),
  compress: z.enum(["none", "gzip"]).default("gzip").meta({
    description: "`gzip` (OTLP's advice) or `none`",
  }),
  tls: tlsClientShape,
  timeout: requestTimeout("30s"),
  ...sendBatchShape({ max_hits: 1000, max_bytes: "4MiB", max_bytes_limit: "64MiB" }),
});

/** A resolved `opentelemetry` config. */
export type OpentelemetryConfig = z.output<typeof opentelemetrySchema>;

/** The record of a hit. */
export function hitRecord(line: string, fields: HitFields, observedMs: number): LogRecord {
  const attributes: Array<[string, AttributeValue]> = [];
  const add = (key: string, value: unknown) => {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      attributes.push([key, value]);
    }
  };
  add("client.address", fields.ip);
  add("http.request.method", fields.method);
  if (typeof fields.uri === "string") {
    const q = fields.uri.indexOf("?");
    add("url.path", q < 0 ? fields.uri : fields.uri.slice(0, q));
    if (q >= 0) add("url.query", fields.uri.slice(q + 1));
  }
  add("server.address", fields.domain);
  add("http.response.status_code", fields.status_code);
  add("wallarm.request_id", fields.request_id);
  add("wallarm.attack_type", fields.attack_type);
  add("wallarm.block_status", fields.block_status);
  const blocked = fields.block_status === "blocked";
  return {
    seconds: hitTime(line),
    observedMs,
    severityNumber: blocked ? 13 : 9,
    severityText: blocked ? "WARN" : "INFO",
    body: line,
    attributes,
    eventName: "wallarm.hit",
  };
}

class Opentelemetry implements Output {
  readonly #config: OpentelemetryConfig;
  readonly #context: PluginContext;
  readonly #client: Deno.HttpClient | undefined;
  readonly #url: string;
  readonly #resource: Array<[string, AttributeValue]>;

  constructor(config: OpentelemetryConfig, context: PluginContext, client?: Deno.HttpClient) {
    this.#config = config;
    this.#context = context;
    this.#client = client;
    const url = new URL(config.url);
    if (!url.pathname.replace(/\/+$/, "").endsWith("/v1/logs")) {
      url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/logs`;
    }
    this.#url = url.toString();
    this.#resource = [
      ["service.name", config.service_name],
      ["host.name", context.hostname],
      ...Object.entries(config.resource),
    ];
  }

  async #export(records: LogRecord[], signal: AbortSignal): Promise<SendResult> {
    const context = {
      resource: this.#resource,
      scopeName: "hitship",
      scopeVersion: VERSION,
    };
    const json = this.#config.encoding === "json";
    const body = json ? logsJson(context, records) : logsProtobuf(context, records);
    const headers: Record<string, string> = {
      ...this.#config.headers,
      "Content-Type": json ? "application/json" : "application/x-protobuf",
    };
    const gzip = this.#config.compress === "gzip";
    if (gzip) headers["Content-Encoding"] = "gzip";
    const { result, text } = await httpRequest({
      url: this.#url,
      headers,
      body: gzip ? await gzipped(body) : body as BodyInit,
      timeout: this.#config.timeout,
      client: this.#client,
      secrets: Object.values(this.#config.headers),
      what: "the OTLP endpoint",
    }, signal);
    if (result.ok && json && text) {
      // A partial success names no records: it is logged, the batch counts as delivered (the
      // spec: such records must not be sent again).
      try {
        const partial = JSON.parse(text)?.partialSuccess;
        const rejected = Number(partial?.rejectedLogRecords ?? 0);
        if (rejected > 0) {
          this.#context.logger.warn(
            `Output "${this.#context.name}": the OTLP endpoint rejected ${rejected} of ${records.length} records: ${
              partial.errorMessage ?? "no message"
            }`,
            { output: this.#context.name, rejected_records: rejected },
          );
        }
      } catch {
        // not JSON: nothing to read
      }
    }
    return result;
  }

  async send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    const lines = await batchLines(batch);
    if (lines.length === 0) return { ok: true };
    const now = this.#context.clock.now();
    return await this.#export(lines.map((line) => hitRecord(line, hitFields(line), now)), signal);
  }

  sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    const record: LogRecord = {
      seconds: Math.floor(event.time / 1000),
      observedMs: this.#context.clock.now(),
      severityNumber: event.kind === "system" ? 13 : 9,
      severityText: event.kind === "system" ? "WARN" : "INFO",
      body: eventRecord(event, this.#context.hostname),
      attributes: [["event.name", event.name]],
      eventName: `wallarm.${event.name}`,
    };
    return this.#export([record], signal);
  }

  test(signal: AbortSignal): Promise<SendResult> {
    return sendTestEvent(this, this.#context, signal);
  }

  close(): Promise<void> {
    this.#client?.close();
    return Promise.resolve();
  }
}

/** The `opentelemetry` output plugin. */
export const opentelemetryOutput = definePlugin({
  type: "opentelemetry",
  description: "Sends hits as OpenTelemetry log records over OTLP/HTTP (protobuf or JSON)",
  schema: opentelemetrySchema,
  supportedEvents: EVENT_KINDS,
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: async (config, context) =>
    new Opentelemetry(config, context, await httpClientOf(config.tls)),
});
