/**
 * Micro-benchmarks of the hot path: line splitting, validation, journal append, batch formatting.
 * Run with `deno task bench` (or `deno bench --allow-all bench/`).
 */
import { formatBody, formatFramed } from "../src/sdk/body.ts";
import { checkLine, hitSchema, keysAreSound } from "../src/hit/hit.ts";
import { LineSplitter } from "../src/ingest/ingester.ts";
import { Journal } from "../src/journal/journal.ts";
import { rememberLineEnds } from "../src/base/line_ends.ts";
import { makeHit } from "../test/hits.ts";

const enc = new TextEncoder();
const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify(makeHit(i)));
const text = lines.join("\n") + "\n";
const bytes = enc.encode(text);
const lineBytes = lines.map((l) => enc.encode(l));
const parsed = lines.map((l) => JSON.parse(l));

Deno.bench("split 1,000 lines (LineSplitter)", { group: "split" }, () => {
  const splitter = new LineSplitter();
  splitter.push(bytes);
});

Deno.bench("decode 1,000 lines (TextDecoder)", { group: "decode" }, () => {
  const decoder = new TextDecoder();
  for (const l of lineBytes) decoder.decode(l);
});

Deno.bench("JSON.parse 1,000 hits", { group: "validate", baseline: true }, () => {
  for (const l of lines) JSON.parse(l);
});

Deno.bench("zod safeParse 1,000 parsed hits", { group: "validate" }, () => {
  for (const p of parsed) hitSchema.safeParse(p);
});

Deno.bench("checkLine 1,000 hits (JSON.parse + hit checks)", { group: "validate" }, () => {
  for (const l of lines) checkLine(l);
});

const dir = Deno.makeTempDirSync();
const journal = await Journal.open(dir, { segmentBytes: 1 << 30 });
Deno.bench("journal append of 1,000 hits (one write + commit)", { group: "journal" }, async () => {
  await journal.append({ lines: lineBytes });
});

async function* chunks() {
  yield lineBytes;
}
Deno.bench("format 1,000 hits as a JSON array", { group: "format" }, async () => {
  for await (const _ of formatBody(chunks(), "json", true)) { /* consume */ }
});

async function* framed() {
  yield bytes;
}
Deno.bench("format 1,000 journaled lines as a JSON array (formatFramed)", {
  group: "format",
}, async () => {
  for await (const _ of formatFramed(framed(), "json", true)) { /* consume */ }
});

const knownEnds = Int32Array.from(
  [...bytes.keys()].filter((i) => bytes[i] === 10),
);
async function* framedWithEnds() {
  rememberLineEnds(bytes, knownEnds);
  yield bytes;
}
Deno.bench("format 1,000 journaled lines with their line ends known (formatFramed)", {
  group: "format",
}, async () => {
  for await (const _ of formatFramed(framedWithEnds(), "json", true)) { /* consume */ }
});

Deno.bench("JSON.parse + keysAreSound 1,000 hits", { group: "validate" }, () => {
  for (const line of lines) {
    const value = JSON.parse(line);
    if (!keysAreSound(line, value)) throw new Error("unsound keys");
  }
});
