/**
 * The node's webhook notification, which its integrations send and workflows are built for:
 * `{summary, description, details: {client_name, notification_type, hit | hits | ...}}`. Hits are
 * `new_hits` notifications with the node's own summary, the raw hit lines inside unchanged; system
 * events, alerts and reports use their event name as `notification_type`. Test messages are the
 * same with `[Test message] ` before the summary.
 *
 * @module
 */
import { parseJson } from "../base/json.ts";
import type { EventKind, SystemEvent } from "./output.ts";

/** What a test message's summary begins with. */
export const TEST_PREFIX = "[Test message] ";

const HIT_SUMMARY = "[Wallarm] New hit detected";

/** A sample hit in the node's export format, for test messages. */
export const SAMPLE_HIT: string =
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

/**
 * The notification of one or more hits: the raw lines go in unchanged (`details.hit` for one,
 * `details.hits` for more).
 *
 * @param prefix Put before the summary (`TEST_PREFIX` for a test message).
 */
export function hitsNotification(
  lines: readonly string[],
  clientName: string,
  prefix = "",
): string {
  const hits = lines.map((line) => parseJson(line) as Record<string, unknown>);
  const summary = prefix +
    (hits.length === 1 ? HIT_SUMMARY : `[Wallarm] ${hits.length} new hits detected`);
  const description = hits.length === 1
    ? describeHit(hits[0]!)
    : hits.slice(0, 5).map(describeHit).join("; ") + (hits.length > 5 ? "; ..." : "");
  const head = `{"summary":${JSON.stringify(summary)},"description":${
    JSON.stringify(description)
  },"details":{"client_name":${JSON.stringify(clientName)},"notification_type":"new_hits",`;
  return lines.length === 1 ? `${head}"hit":${lines[0]}}}` : `${head}"hits":[${lines.join(",")}]}}`;
}

/** The notification of a system event, an alert or a report. */
export function eventNotification(event: SystemEvent, clientName: string, prefix = ""): string {
  return JSON.stringify({
    summary: prefix + event.summary,
    description: event.summary,
    details: {
      client_name: clientName,
      notification_type: event.name,
      time: new Date(event.time).toISOString(),
      ...event.details,
    },
  });
}

/**
 * One test notification for each event kind an output takes (`[Test message] ` before each
 * summary): a sample hit, `integration_broken`, `hits_threshold_exceeded`, `hourly_report`.
 */
export function testNotifications(
  events: readonly EventKind[],
  clientName: string,
  now: number,
): Array<{ kind: EventKind; body: string }> {
  const samples: Partial<Record<EventKind, string>> = {
    hits: hitsNotification([SAMPLE_HIT], clientName, TEST_PREFIX),
    system: eventNotification(
      {
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
      },
      clientName,
      TEST_PREFIX,
    ),
    alerts: eventNotification(
      {
        kind: "alerts",
        name: "hits_threshold_exceeded",
        summary: 'More than 100 hits matched alert "sqli-burst" within 1m',
        details: { alert: "sqli-burst", threshold: 100, period: "1m", hits: 101 },
        time: now,
      },
      clientName,
      TEST_PREFIX,
    ),
    report: eventNotification(
      {
        kind: "report",
        name: "hourly_report",
        summary: "Hits processed in the last hour",
        details: { hits_read: 0, hits_rejected: 0, delivered: {} },
        time: now,
      },
      clientName,
      TEST_PREFIX,
    ),
  };
  return events.flatMap((kind) => samples[kind] ? [{ kind, body: samples[kind]! }] : []);
}
