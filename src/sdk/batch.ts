/**
 * What every batching output shares: its config fields (`interval`, `max_hits`, `max_bytes`,
 * `format`, `compression`, `key`), the formatter that turns journal lines into the object body,
 * and the key template.
 *
 * @module
 */
import { lineEndsOf } from "../journal/journal.ts";
import { z } from "zod";
import { byteSize, duration } from "../config/config.ts";
import type { BatchOptions } from "./output.ts";

const PLACEHOLDER = /\{([a-z_]+)\}/g;
const KEY_FIELDS = ["timestamp", "hostname", "date", "seq", "output"];

/**
 * Why a key (a template, or a rendered name) could leave its place, or `undefined` when it cannot:
 * a `..` or `.` segment, a leading `/`, a backslash or a control character.
 */
export function unsafeKey(key: string): string | undefined {
  if (key === "") return "it is empty";
  if (key.startsWith("/")) return 'it starts with "/"';
  if (key.includes("\\")) return "it holds a backslash";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return "it holds a control character";
  if (key.split("/").some((part) => part === ".." || part === ".")) {
    return 'it holds a "." or ".." segment';
  }
  return undefined;
}

/** Export formats. */
export const FORMATS = ["json", "jsonl"] as const;
/** An export format. */
export type Format = typeof FORMATS[number];
/** Compressions. */
export const COMPRESSIONS = ["none", "gzip"] as const;
/** A compression. */
export type Compression = typeof COMPRESSIONS[number];

/** The config fields of a batching output. */
export const batchShape = {
  interval: duration().prefault("10m").meta({
    description: "Hits are exported this long after the first hit of a batch",
    examples: ["10m"],
  }),
  max_hits: z.int().positive().max(100_000_000).default(100_000).meta({
    description: "A batch is exported early when it holds this many hits",
    examples: [100000],
  }),
  max_bytes: byteSize({ min: 1 }).prefault("64MiB").meta({
    description: "A batch is exported early when its hits add up to this many bytes",
    examples: ["64MiB"],
  }),
  format: z.enum(FORMATS).default("json").meta({
    description: "`json`: one JSON array, as the node exports; `jsonl`: one hit per line",
  }),
  compression: z.enum(COMPRESSIONS).default("none").meta({
    description: "`gzip` compresses the object and adds `.gz` to its name",
  }),
  key: z.string().min(1).superRefine((template, ctx) => {
    for (const match of template.matchAll(PLACEHOLDER)) {
      if (!KEY_FIELDS.includes(match[1]!)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a template using only ${
            KEY_FIELDS.map((f) => `{${f}}`).join(", ")
          }, got "{${match[1]}}"`,
          params: { plain: true },
        });
        return;
      }
    }
    const why = unsafeKey(template.replace(PLACEHOLDER, "x"));
    if (why) {
      ctx.addIssue({
        code: "custom",
        message: `expected a name that stays inside the output's place, but ${why}: ${
          JSON.stringify(template)
        }`,
        params: { plain: true },
      });
    }
  })
    .default("hitlogs-{timestamp}.json").meta({
      description:
        "Object name template: {timestamp} (Unix seconds of the export), {date} (YYYY/MM/DD), " +
        "{hostname}, {seq}, {output} (the output's name). With `jsonl`, `.json` becomes `.jsonl`; " +
        "with gzip, `.gz` is added. No `..` segment, leading `/`, backslash or control character",
      examples: ["{hostname}/{date}/hitlogs-{timestamp}.json"],
    }),
};

/** The resolved batch fields of an output's config. */
export interface BatchConfig {
  interval: number;
  max_hits: number;
  max_bytes: number;
  format: Format;
  compression: Compression;
  key: string;
}

/** The engine's batching for a config with {@linkcode batchShape}. */
export function batchOptionsOf(config: BatchConfig): BatchOptions {
  return { interval: config.interval, maxHits: config.max_hits, maxBytes: config.max_bytes };
}

/** Values for a key template. */
export interface KeyValues {
  /** Export time, Unix milliseconds. */
  time: number;
  hostname: string;
  seq: number;
  /** The output's name. */
  output?: string;
}

/** A hostname as it goes into a key: letters, digits, `.`, `_` and `-`; anything else is `_`. */
export function keySafeHostname(hostname: string): string {
  const safe = hostname.replace(/[^A-Za-z0-9._-]/g, "_");
  return safe === "" || /^\.+$/.test(safe) ? "_" : safe;
}

/** A template's name with its extension fixed for the format and compression. */
export function withExtension(
  key: string,
  format: Format = "json",
  compression: Compression = "none",
): string {
  if (format === "jsonl" && key.endsWith(".json")) key += "l";
  if (compression === "gzip" && !key.endsWith(".gz")) key += ".gz";
  return key;
}

/**
 * Renders a key template and fixes its extension for the format and compression.
 *
 * @example
 * ```ts
 * import { renderKey } from "./batch.ts";
 * renderKey("hitlogs-{timestamp}.json", { time: 1687241470000, hostname: "h", seq: 1 }, "jsonl", "gzip");
 * // "hitlogs-1687241470.jsonl.gz"
 * ```
 */
export function renderKey(
  template: string,
  values: KeyValues,
  format: Format = "json",
  compression: Compression = "none",
): string {
  const date = new Date(values.time);
  const pad = (n: number) => String(n).padStart(2, "0");
  const key = template.replace(PLACEHOLDER, (_, field: string) => {
    switch (field) {
      case "timestamp":
        return String(Math.floor(values.time / 1000));
      case "hostname":
        return keySafeHostname(values.hostname);
      case "date":
        return `${date.getUTCFullYear()}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())}`;
      case "output":
        return values.output ?? "";
      default:
        return String(values.seq);
    }
  });
  return withExtension(key, format, compression);
}

/**
 * Makes a key distinct from the previous one of the same output: `hitlogs-1687241470.json`
 * twice in one second becomes `hitlogs-1687241470-1.json`.
 *
 * @param n How many earlier batches had the same base key (0 for the first).
 */
export function withSuffix(key: string, n: number): string {
  if (n === 0) return key;
  const slash = key.lastIndexOf("/");
  const dot = key.indexOf(".", slash + 1);
  return dot < 0 ? `${key}-${n}` : `${key.slice(0, dot)}-${n}${key.slice(dot)}`;
}

const encoder = new TextEncoder();
const OPEN = encoder.encode("[\n");
const SEPARATOR = encoder.encode(",\n");
const CLOSE = encoder.encode("\n]\n");
const EMPTY = encoder.encode("[]\n");
const NEWLINE = encoder.encode("\n");
const NEWLINE_BYTE = 0x0a;
const COMMA = 0x2c;

/**
 * The size of an uncompressed body of `count` hits whose raw lines add up to `rawBytes`.
 */
export function bodySize(format: Format, count: number, rawBytes: number): number {
  if (format === "jsonl") return rawBytes + count;
  if (count === 0) return EMPTY.length;
  return OPEN.length + rawBytes + (count - 1) * SEPARATOR.length + CLOSE.length;
}

/**
 * Formats raw hit lines as an export body: `json` is a JSON array of the hits exactly as the node
 * wrote them, `jsonl` one hit per line. Each output chunk joins one input chunk of lines.
 *
 * @param reuse Write every chunk into one buffer, valid until the next chunk is asked for; for a
 * consumer that is done with a chunk before it asks for the next (it saves memory).
 */
export async function* formatBody(
  chunks: AsyncIterable<Uint8Array[]>,
  format: Format,
  reuse = false,
): AsyncGenerator<Uint8Array> {
  let first = true;
  let scratch = new Uint8Array(0);
  for await (const lines of chunks) {
    if (lines.length === 0) continue;
    let size = 0;
    for (const line of lines) size += line.length + (format === "json" ? 2 : 1);
    if (format === "json" && first) size += OPEN.length - SEPARATOR.length;
    if (reuse && scratch.length < size) scratch = new Uint8Array(size);
    const out = reuse ? scratch.subarray(0, size) : new Uint8Array(size);
    let at = 0;
    for (const line of lines) {
      if (format === "json") {
        const prefix = first ? OPEN : SEPARATOR;
        out.set(prefix, at);
        at += prefix.length;
        first = false;
      }
      out.set(line, at);
      at += line.length;
      if (format === "jsonl") out[at++] = NEWLINE[0]!;
    }
    yield out;
  }
  if (format === "json") yield first ? EMPTY : CLOSE;
}

/**
 * Formats framed lines (NDJSON buffers, each line ending in `\n`) as an export body without
 * splitting them: `jsonl` passes them through, `json` puts `,` before every line break but the
 * last and wraps the whole in `[` and `]`.
 *
 * @param reuse As for {@linkcode formatBody}: one output buffer, valid until the next chunk.
 */
export async function* formatFramed(
  buffers: AsyncIterable<Uint8Array>,
  format: Format,
  reuse = false,
): AsyncGenerator<Uint8Array> {
  if (format === "jsonl") {
    for await (const buffer of buffers) if (buffer.length > 0) yield buffer;
    return;
  }
  let first = true;
  let pendingNewline = false; // the last line of the previous buffer: its "\n" waits for a ","
  // A reused buffer comes from a pool shared by every body, so a new batch does not take fresh
  // memory; it goes back when the body is done.
  let scratch = reuse ? scratchPool.pop() ?? new Uint8Array(0) : new Uint8Array(0);
  try {
    yield* frame();
  } finally {
    if (reuse && scratchPool.length < 4) scratchPool.push(scratch);
  }

  async function* frame(): AsyncGenerator<Uint8Array> {
    for await (const buffer of buffers) {
      if (buffer.length === 0) continue;
      // Line ends the journal kept from the input, when it did: then no search for them.
      const ends = lineEndsOf(buffer);
      // A reused buffer has room for the worst case (every line empty: 1 byte in, 2 out), so the
      // input is scanned once: finding line ends costs as much as copying the lines. A buffer of
      // its own per chunk is sized to fit.
      const extra = reuse ? buffer.length : ends?.length ?? countLines(buffer);
      const size = OPEN.length + 2 + buffer.length + extra;
      if (!reuse || scratch.length < size) scratch = new Uint8Array(size);
      const out = scratch;
      let at = 0;
      if (first) {
        out.set(OPEN, 0);
        at = OPEN.length;
        first = false;
      }
      if (pendingNewline) {
        out[at++] = COMMA;
        out[at++] = NEWLINE_BYTE;
      }
      let from = 0;
      let k = 0;
      const next = () =>
        ends ? (k < ends.length ? ends[k++]! : -1) : buffer.indexOf(NEWLINE_BYTE, from);
      for (let i = next(); i >= 0; i = next()) {
        out.set(buffer.subarray(from, i), at);
        at += i - from;
        from = i + 1;
        if (from < buffer.length) {
          out[at++] = COMMA;
          out[at++] = NEWLINE_BYTE;
        }
      }
      pendingNewline = true;
      yield out.subarray(0, at);
    }
    yield first ? EMPTY : CLOSE;
  }
}

const scratchPool: Uint8Array[] = [];

function countLines(buffer: Uint8Array): number {
  let lines = 0;
  for (let i = buffer.indexOf(NEWLINE_BYTE); i >= 0; i = buffer.indexOf(NEWLINE_BYTE, i + 1)) {
    lines++;
  }
  return lines;
}

/** The body of a batch: from framed lines when the batch has them, else line by line. */
export function batchBody(
  batch: { lines(): AsyncIterable<Uint8Array[]>; framed?(): AsyncIterable<Uint8Array> },
  format: Format,
  reuse = false,
): AsyncIterable<Uint8Array> {
  return batch.framed
    ? formatFramed(batch.framed(), format, reuse)
    : formatBody(batch.lines(), format, reuse);
}

/** A body as a byte stream, gzip-compressed when asked. */
export function bodyStream(
  body: AsyncIterable<Uint8Array>,
  compression: Compression,
): ReadableStream<Uint8Array> {
  const stream = ReadableStream.from(body);
  if (compression === "none") return stream;
  return stream.pipeThrough(
    new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
}

/** The `Content-Type` of a body. */
export function contentType(format: Format): string {
  return format === "json" ? "application/json" : "application/x-ndjson";
}
