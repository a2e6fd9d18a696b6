/**
 * OTLP logs (`ExportLogsServiceRequest`, opentelemetry-proto v1) in both encodings: JSON as the
 * OTLP/HTTP spec gives it (lowerCamelCase fields, 64-bit integers as strings), and protobuf,
 * written by hand for the few messages a log export needs.
 *
 * @module
 */

import { utf8Length } from "@hitship/hitship/sdk";

/** An attribute value: a string, an integer, a double or a boolean. */
export type AttributeValue = string | number | boolean;

/** One log record, as hitship fills it. */
export interface LogRecord {
  /** When it happened, Unix seconds. */
  seconds: number;
  /** When hitship saw it, Unix milliseconds. */
  observedMs: number;
  severityNumber: number;
  severityText: string;
  /** The body: the hit (or event) as the JSON text the node wrote. */
  body: string;
  attributes: Array<[string, AttributeValue]>;
  /** The event name (`hit`, or the system event's name). */
  eventName: string;
}

/** The resource and scope every record of a request shares. */
export interface LogsContext {
  resource: Array<[string, AttributeValue]>;
  scopeName: string;
  scopeVersion: string;
}

const nanos = (seconds: number) => `${seconds}000000000`;

function jsonValue(value: AttributeValue): Record<string, unknown> {
  if (typeof value === "string") return { stringValue: value };
  if (typeof value === "boolean") return { boolValue: value };
  return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
}

function jsonAttributes(attributes: Array<[string, AttributeValue]>) {
  return attributes.map(([key, value]) => ({ key, value: jsonValue(value) }));
}

/** A request in OTLP/JSON. */
export function logsJson(context: LogsContext, records: readonly LogRecord[]): string {
  return JSON.stringify({
    resourceLogs: [{
      resource: { attributes: jsonAttributes(context.resource) },
      scopeLogs: [{
        scope: { name: context.scopeName, version: context.scopeVersion },
        logRecords: records.map((r) => ({
          timeUnixNano: nanos(r.seconds),
          observedTimeUnixNano: `${r.observedMs}000000`,
          severityNumber: r.severityNumber,
          severityText: r.severityText,
          body: { stringValue: r.body },
          attributes: jsonAttributes(r.attributes),
          eventName: r.eventName,
        })),
      }],
    }],
  });
}

const encoder = new TextEncoder();

/** Bytes of `value` as a varint (int64: a negative one takes 10). */
function varintSize(value: number | bigint): number {
  if (typeof value === "bigint") {
    if (value < 0n) return 10;
    let n = 1;
    while (value >= 0x80n) {
      value >>= 7n;
      n++;
    }
    return n;
  }
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** Bytes of an `AnyValue` message of `value`. */
function anyValueSize(value: AttributeValue): number {
  if (typeof value === "string") {
    const length = utf8Length(value);
    return 1 + varintSize(length) + length;
  }
  if (typeof value === "boolean") return 2;
  if (!Number.isInteger(value)) return 9;
  return 1 + varintSize(value >= 0 && value <= 0xffffffff ? value : BigInt(value));
}

/** A growing protobuf message, written into one buffer. */
class Writer {
  #buffer: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(size = 64) {
    this.#buffer = new Uint8Array(size);
    this.#view = new DataView(this.#buffer.buffer);
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < this.#at + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buffer.subarray(0, this.#at));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }

  #varint(value: bigint | number): void {
    this.#room(10);
    if (typeof value === "number" && value >= 0 && value <= 0xffffffff) {
      let n = value;
      while (n >= 0x80) {
        this.#buffer[this.#at++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
      this.#buffer[this.#at++] = n;
      return;
    }
    let v = BigInt(value);
    if (v < 0n) v += 1n << 64n; // int64 in two's complement
    while (v >= 0x80n) {
      this.#buffer[this.#at++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buffer[this.#at++] = Number(v);
  }

  #tag(field: number, wire: number): void {
    this.#varint((field << 3) | wire);
  }

  uint(field: number, value: number | bigint): this {
    this.#tag(field, 0);
    this.#varint(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  fixed64(field: number, value: bigint): this {
    this.#tag(field, 1);
    this.#room(8);
    this.#view.setBigUint64(this.#at, value, true);
    this.#at += 8;
    return this;
  }

  double(field: number, value: number): this {
    this.#tag(field, 1);
    this.#room(8);
    this.#view.setFloat64(this.#at, value, true);
    this.#at += 8;
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, 2);
    this.#varint(value.length);
    this.#room(value.length);
    this.#buffer.set(value, this.#at);
    this.#at += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.#stringOf(field, value, utf8Length(value));
  }

  message(field: number, message: Writer): this {
    return this.bytes(field, message.finish());
  }

  /** An `AnyValue` (string 1, bool 2, int64 3, double 4) as field `field`, in place. */
  anyValue(field: number, value: AttributeValue): this {
    this.#tag(field, 2);
    if (typeof value === "string") {
      const length = utf8Length(value);
      this.#varint(1 + varintSize(length) + length);
      return this.#stringOf(1, value, length);
    }
    if (typeof value === "boolean") {
      this.#varint(2);
      return this.bool(2, value);
    }
    if (!Number.isInteger(value)) {
      this.#varint(9);
      return this.double(4, value);
    }
    const int = value >= 0 && value <= 0xffffffff ? value : BigInt(value);
    this.#varint(1 + varintSize(int));
    return this.uint(3, int);
  }

  /** A `KeyValue` (key 1, value 2) as field `field`, in place. */
  keyValue(field: number, key: string, value: AttributeValue): this {
    const keyLength = utf8Length(key);
    const valueSize = anyValueSize(value);
    this.#tag(field, 2);
    this.#varint(1 + varintSize(keyLength) + keyLength + 1 + varintSize(valueSize) + valueSize);
    this.#stringOf(1, key, keyLength);
    return this.anyValue(2, value);
  }

  #stringOf(field: number, value: string, length: number): this {
    this.#tag(field, 2);
    this.#varint(length);
    this.#room(length);
    this.#at += encoder.encodeInto(value, this.#buffer.subarray(this.#at)).written;
    return this;
  }

  /** Empties it, keeping its buffer. */
  reset(): this {
    this.#at = 0;
    return this;
  }

  /** Bytes written so far. */
  get size(): number {
    return this.#at;
  }

  /** The message's bytes (a view of the buffer, valid until the next write). */
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.#at);
  }
}

/** A request in OTLP/protobuf. */
export function logsProtobuf(context: LogsContext, records: readonly LogRecord[]): Uint8Array {
  // Resource: attributes 1.
  const resource = new Writer();
  for (const [key, value] of context.resource) resource.keyValue(1, key, value);
  // InstrumentationScope: name 1, version 2.
  const scope = new Writer().string(1, context.scopeName).string(2, context.scopeVersion);
  // ScopeLogs: scope 1, log_records 2.
  const scopeLogs = new Writer(records.length * 2048).message(1, scope);
  const record = new Writer(4096);
  for (const r of records) {
    // LogRecord: time_unix_nano 1 (fixed64), severity_number 2, severity_text 3, body 5,
    // attributes 6, observed_time_unix_nano 11 (fixed64), event_name 12.
    record.reset()
      .fixed64(1, BigInt(r.seconds) * 1_000_000_000n)
      .uint(2, r.severityNumber)
      .string(3, r.severityText)
      .anyValue(5, r.body);
    for (const [key, value] of r.attributes) record.keyValue(6, key, value);
    record.fixed64(11, BigInt(r.observedMs) * 1_000_000n).string(12, r.eventName);
    scopeLogs.message(2, record);
  }
  // ResourceLogs: resource 1, scope_logs 2. ExportLogsServiceRequest: resource_logs 1.
  const resourceLogs = new Writer(scopeLogs.size + 1024).message(1, resource).message(2, scopeLogs);
  return new Writer(resourceLogs.size + 16).message(1, resourceLogs).finish().slice();
}
