/**
 * OTLP logs (`ExportLogsServiceRequest`, opentelemetry-proto v1) in both encodings: JSON as the
 * OTLP/HTTP spec gives it (lowerCamelCase fields, 64-bit integers as strings), and protobuf,
 * written by hand for the few messages a log export needs.
 *
 * @module
 */

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

/** A growing protobuf message. */
class Writer {
  #parts: Uint8Array[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  #push(bytes: Uint8Array): void {
    this.#parts.push(bytes);
    this.#size += bytes.length;
  }

  #varint(value: bigint | number): void {
    if (typeof value === "number" && value >= 0 && value < 0x80) {
      this.#push(Uint8Array.of(value));
      return;
    }
    if (typeof value === "number" && value >= 0 && value <= 0xffffffff) {
      const out: number[] = [];
      let n = value;
      while (n >= 0x80) {
        out.push((n % 0x80) | 0x80);
        n = Math.floor(n / 0x80);
      }
      out.push(n);
      this.#push(Uint8Array.from(out));
      return;
    }
    let v = BigInt(value);
    if (v < 0n) v += 1n << 64n; // int64 in two's complement
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.#push(Uint8Array.from(out));
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
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, value, true);
    this.#push(bytes);
    return this;
  }

  double(field: number, value: number): this {
    this.#tag(field, 1);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    this.#push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, 2);
    this.#varint(value.length);
    this.#push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, encoder.encode(value));
  }

  message(field: number, message: Writer): this {
    return this.bytes(field, message.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const part of this.#parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

/** AnyValue: string 1, bool 2, int64 3, double 4. */
function anyValue(value: AttributeValue): Writer {
  const w = new Writer();
  if (typeof value === "string") return w.string(1, value);
  if (typeof value === "boolean") return w.bool(2, value);
  if (!Number.isInteger(value)) return w.double(4, value);
  return w.uint(3, value >= 0 && value <= 0xffffffff ? value : BigInt(value));
}

/** KeyValue: key 1, value 2. */
function keyValue(key: string, value: AttributeValue): Writer {
  return new Writer().string(1, key).message(2, anyValue(value));
}

/** A request in OTLP/protobuf. */
export function logsProtobuf(context: LogsContext, records: readonly LogRecord[]): Uint8Array {
  // Resource: attributes 1.
  const resource = new Writer();
  for (const [key, value] of context.resource) resource.message(1, keyValue(key, value));
  // InstrumentationScope: name 1, version 2.
  const scope = new Writer().string(1, context.scopeName).string(2, context.scopeVersion);
  // ScopeLogs: scope 1, log_records 2.
  const scopeLogs = new Writer().message(1, scope);
  for (const r of records) {
    // LogRecord: time_unix_nano 1 (fixed64), severity_number 2, severity_text 3, body 5,
    // attributes 6, observed_time_unix_nano 11 (fixed64), event_name 12.
    const record = new Writer()
      .fixed64(1, BigInt(r.seconds) * 1_000_000_000n)
      .uint(2, r.severityNumber)
      .string(3, r.severityText)
      .message(5, new Writer().string(1, r.body));
    for (const [key, value] of r.attributes) record.message(6, keyValue(key, value));
    record.fixed64(11, BigInt(r.observedMs) * 1_000_000n).string(12, r.eventName);
    scopeLogs.message(2, record);
  }
  // ResourceLogs: resource 1, scope_logs 2. ExportLogsServiceRequest: resource_logs 1.
  const resourceLogs = new Writer().message(1, resource).message(2, scopeLogs);
  return new Writer().message(1, resourceLogs).finish();
}
