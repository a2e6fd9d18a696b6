/**
 * The optional HTTP endpoint (`http.listen`): `/health`, `/ready` and `/metrics` in Prometheus
 * text format, all read from the one status model.
 *
 * @module
 */
import process from "node:process";
import type { StatusDocument } from "./status.ts";
import { labelText, type Telemetry } from "./telemetry.ts";
import { type BoundedServer, serveBounded } from "../base/http/server.ts";
import type { Logger } from "../base/log.ts";
import { splitAddress } from "../base/address.ts";

/** What the metrics say beside the status: the process and its settings. */
export interface MetricsInfo {
  /** hitship's version, for `hitship_build_info`. */
  version?: string;
  /** Whether `/ready` answers 200. */
  ready?: boolean;
  /** `max_journal_bytes`. */
  journalMaxBytes?: number;
  /** Now, Unix milliseconds. @default Date.now() */
  now?: number;
}

/** What the endpoint needs to know about the running sidecar. */
export interface HttpSource {
  /** The status now. */
  snapshot(): StatusDocument;
  /** True while the input is being read (false once draining). */
  alive(): boolean;
  /** True when hits can be taken and delivered. */
  ready(): boolean;
  /** hitship's version. */
  version?: string;
  /** `max_journal_bytes`. */
  journalMaxBytes?: number;
  /** Histograms and counters kept beside the status. */
  telemetry?: Telemetry;
}

type Sample = [labels: Record<string, string>, value: number];

function family(name: string, type: "counter" | "gauge", help: string, samples: Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    lines.push(`${name}${labelText(labels)} ${Number.isFinite(value) ? value : 0}`);
  }
  return lines.join("\n");
}

const STATES = ["active", "retrying", "disabled", "auto_disabled"] as const;

/** When this process started, Unix seconds. */
const STARTED = (Date.now() - performance.now()) / 1000;

type InputFigures = StatusDocument["input"];
type OutputFigures = StatusDocument["outputs"][string];

/** The families of an input's figures: name, type, help, and the figure. */
const INPUT_FAMILIES: Array<[string, "counter" | "gauge", string, (i: InputFigures) => number]> = [
  ["hitship_input_lines_total", "counter", "Lines read from an input", (i) => i.lines],
  ["hitship_input_hits_total", "counter", "Valid hits read and journaled", (i) => i.hits],
  [
    "hitship_input_rejected_total",
    "counter",
    "Lines rejected (see the dead-letter file)",
    (i) => i.rejected,
  ],
  ["hitship_input_bytes_total", "counter", "Bytes read from an input", (i) => i.offset],
  [
    "hitship_input_paused",
    "gauge",
    "1 while an input waits for a full journal",
    (i) => i.paused ? 1 : 0,
  ],
];

/** The families of an output's figures; `now` for the age of what it has still to deliver. */
const OUTPUT_FAMILIES: Array<
  [string, "counter" | "gauge", string, (o: OutputFigures, now: number) => number]
> = [
  [
    "hitship_output_delivered_hits_total",
    "counter",
    "Hits delivered by an output",
    (o) => o.delivered_hits,
  ],
  [
    "hitship_output_dropped_hits_total",
    "counter",
    "Hits dropped for an output alone: it was off when the journal was full",
    (o) => o.dropped_hits,
  ],
  [
    "hitship_output_skipped_hits_total",
    "counter",
    "Hits an output passed over while it was off (while_disabled: skip)",
    (o) => o.skipped_hits,
  ],
  [
    "hitship_output_rejected_hits_total",
    "counter",
    "Hits a receiver refused for good (see the dead-letter file)",
    (o) => o.rejected_hits,
  ],
  [
    "hitship_output_requests_total",
    "counter",
    "Delivery requests made by an output",
    (o) => o.requests,
  ],
  [
    "hitship_output_failed_requests_total",
    "counter",
    "Delivery requests that failed",
    (o) => o.failed_requests,
  ],
  [
    "hitship_output_failure_ratio",
    "gauge",
    "Failed share of requests in the auto-disable window",
    (o) => o.failure_ratio,
  ],
  [
    "hitship_output_retry_attempt",
    "gauge",
    "Failed attempts of the current batch (0 when none is failing)",
    (o) => o.retry_attempt,
  ],
  [
    "hitship_output_pending_hits",
    "gauge",
    "Journaled hits an output has still to deliver",
    (o) => o.pending_hits,
  ],
  [
    "hitship_output_pending_bytes",
    "gauge",
    "Bytes of journal an output has still to read",
    (o) => o.pending_bytes ?? 0,
  ],
  [
    "hitship_output_oldest_pending_age_seconds",
    "gauge",
    "Age of the oldest hit an output has still to deliver (0 when none)",
    (o, now) =>
      o.oldest_pending_at ? Math.max(0, (now - Date.parse(o.oldest_pending_at)) / 1000) : 0,
  ],
];

/** The families of the process and the build. */
function processFamilies(info: MetricsInfo): string[] {
  const cpu = process.cpuUsage();
  const one = (name: string, type: "counter" | "gauge", help: string, value: number) =>
    family(name, type, help, [[{}, value]]);
  return [
    ...(info.journalMaxBytes === undefined ? [] : [
      one(
        "hitship_journal_max_bytes",
        "gauge",
        "max_journal_bytes: where reading pauses",
        info.journalMaxBytes,
      ),
    ]),
    ...(info.ready === undefined
      ? []
      : [one("hitship_ready", "gauge", "1 while /ready answers 200", info.ready ? 1 : 0)]),
    family("hitship_build_info", "gauge", "Always 1, with hitship's version", [[
      { version: info.version ?? "unknown" },
      1,
    ]]),
    one(
      "process_cpu_seconds_total",
      "counter",
      "CPU time of the process (user + system)",
      (cpu.user + cpu.system) / 1e6,
    ),
    one(
      "process_start_time_seconds",
      "gauge",
      "When the process started, Unix seconds",
      Math.round(STARTED),
    ),
    one(
      "process_resident_memory_bytes",
      "gauge",
      "Resident memory of the process",
      process.memoryUsage.rss(),
    ),
  ];
}

/** The status as Prometheus text exposition format (version 0.0.4). */
export function metricsText(status: StatusDocument, info: MetricsInfo = {}): string {
  const now = info.now ?? Date.now();
  const inputs = Object.entries(status.inputs ?? { input: status.input });
  const outputs = Object.entries(status.outputs);
  const journal = (name: string, help: string, value: number) =>
    family(name, "gauge", help, [[{}, value]]);
  const states = outputs.flatMap(([name, o]) =>
    STATES.map((
      state,
    ): Sample => [{ output: name, type: o.type, state }, o.state === state ? 1 : 0])
  );
  return [
    ...INPUT_FAMILIES.map(([name, type, help, pick]) =>
      family(
        name,
        type,
        help,
        inputs.map(([input, i]): Sample => [{ input, type: i.type }, pick(i)]),
      )
    ),
    journal("hitship_journal_bytes", "Bytes of journal segments on disk", status.journal.bytes),
    journal("hitship_journal_segments", "Journal segment files", status.journal.segments),
    ...OUTPUT_FAMILIES.map(([name, type, help, pick]) =>
      family(
        name,
        type,
        help,
        outputs.map(([output, o]): Sample => [{ output, type: o.type }, pick(o, now)]),
      )
    ),
    family("hitship_output_state", "gauge", "1 for the output's current state", states),
    ...processFamilies(info),
  ].join("\n") + "\n";
}

/**
 * Serves `/health` (200 while the input is read, 503 while draining), `/ready` (200 when hits can
 * be taken and delivered) and `/metrics`, with the bounds of {@linkcode serveBounded}: an error in
 * the endpoint never stops shipping.
 *
 * @param listen `host:port`, e.g. `127.0.0.1:9464`.
 */
export function serveHttp(listen: string, source: HttpSource, logger?: Logger): BoundedServer {
  const { hostname, port } = splitAddress(listen);
  const json = (status: number, body: unknown) => ({
    status,
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  return serveBounded(
    { hostname, port, paths: ["/health", "/ready", "/metrics"], logger },
    ({ path }) => {
      switch (path) {
        case "/health":
          return source.alive() ? json(200, { status: "ok" }) : json(503, { status: "draining" });
        case "/ready":
          return source.ready()
            ? json(200, { status: "ready" })
            : json(503, { status: "not ready" });
        default:
          return {
            status: 200,
            body: metricsText(source.snapshot(), {
              version: source.version,
              ready: source.ready(),
              journalMaxBytes: source.journalMaxBytes,
            }) + (source.telemetry ? source.telemetry.render() + "\n" : ""),
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          };
      }
    },
  );
}
