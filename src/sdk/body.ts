/**
 * Export bodies: a batch's raw hit lines as one JSON array (the node's export format) or as NDJSON,
 * gzip-compressed when asked.
 *
 * @module
 */
import { BufferPool } from "../base/buffer_pool.ts";
import { lineEndsOf } from "../base/line_ends.ts";

/** Export formats. */
export const FORMATS = ["json", "jsonl"] as const;
/** An export format. */
export type Format = typeof FORMATS[number];
/** Compressions. */
export const COMPRESSIONS = ["none", "gzip"] as const;
/** A compression. */
export type Compression = typeof COMPRESSIONS[number];

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
  let scratch = reuse ? scratchPool.take(0) ?? new Uint8Array(0) : new Uint8Array(0);
  try {
    yield* frame();
  } finally {
    if (reuse) scratchPool.give(scratch);
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

const scratchPool = new BufferPool(4);

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
