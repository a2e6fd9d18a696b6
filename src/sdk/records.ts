/**
 * Hits as records: what an output that sends each hit as a record of its receiver's shape (a
 * Splunk event, an Elasticsearch document, a syslog message) needs from a batch: the lines as
 * text, a hit's time and key fields, and events and test messages as records of the same kind.
 *
 * @module
 */
import { parseJson } from "../base/json.ts";
import { TEST_PREFIX } from "./notification.ts";
import type { Batch, Output, PluginContext, SendResult, SystemEvent } from "./output.ts";

const decoder = new TextDecoder();

/** The key fields of a hit, as the node writes them (every valid hit has them). */
export interface HitFields {
  /** Unix seconds, as digits or a number. */
  time: string | number;
  /** The request's id. */
  request_id: string;
  /** The client's IP address. */
  ip: string;
  /** The Host of the request. */
  domain: string;
  /** The request's method. */
  method: string;
  /** The request's URI (path and query). */
  uri: string;
  /** The answer's status code. */
  status_code: number;
  /** `sqli`, `xss`, `ptrav`, ... */
  attack_type: string;
  /** `monitored`, `blocked`, `passed`, ... */
  block_status: string;
  /** The node's country code of the client, or null. */
  remote_country: string | null;
  /** Every other field. */
  [field: string]: unknown;
}

/** A batch's lines as text, in order. */
export async function batchLines(batch: Batch): Promise<string[]> {
  const lines: string[] = [];
  for await (const chunk of batch.lines()) {
    for (const line of chunk) lines.push(decoder.decode(line));
  }
  return lines;
}

/** A hit line's fields. */
export function hitFields(line: string): HitFields {
  return parseJson(line) as HitFields;
}

const LEADING_TIME = /^\{"time":"?(\d{1,15})"?[,}]/;

/**
 * A hit line's `time` in Unix seconds: read from the front of the line where the node puts it,
 * else from the parsed hit.
 */
export function hitTime(line: string): number {
  const match = LEADING_TIME.exec(line);
  if (match) return Number(match[1]);
  return Number(hitFields(line).time);
}

/** A system event as one JSON object: the node's notification shape of it. */
export function eventRecord(event: SystemEvent, clientName: string, prefix = ""): string {
  return JSON.stringify({
    summary: prefix + event.summary,
    details: {
      client_name: clientName,
      notification_type: event.name,
      time: new Date(event.time).toISOString(),
      ...event.details,
    },
  });
}

/**
 * The event `hitship test` sends through an output that takes records: its summary begins with
 * `[Test message] `.
 */
export function testEvent(now: number, output: string): SystemEvent {
  return {
    kind: "system",
    name: "test_message",
    summary: `${TEST_PREFIX}hitship can deliver to output "${output}"`,
    details: { output },
    time: now,
  };
}

/**
 * `test()` of an output that takes records: {@linkcode testEvent} through its own `sendEvent`,
 * told as "sent a test event" when it went through.
 *
 * @example
 * ```ts ignore
 * test(signal: AbortSignal): Promise<SendResult> {
 *   return sendTestEvent(this, this.#context, signal);
 * }
 * ```
 */
export async function sendTestEvent(
  output: Required<Pick<Output, "sendEvent">>,
  context: Pick<PluginContext, "clock" | "name">,
  signal: AbortSignal,
): Promise<SendResult> {
  const result = await output.sendEvent(testEvent(context.clock.now(), context.name), signal);
  return result.ok ? { ...result, detail: "sent a test event" } : result;
}

/** Bytes joined into one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
