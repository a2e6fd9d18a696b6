/**
 * How the `forward` input turns msgpack records into JSON lines: PackedForward entries (1,000
 * records of [EventTime, hit]) decoded with `@msgpack/msgpack` or `msgpackr` and JSON.stringify'd,
 * against the input's own writer, which writes JSON straight from the msgpack bytes.
 */
import { decodeMulti, encode, ExtensionCodec } from "@msgpack/msgpack";
import { Unpackr } from "msgpackr";
import { makeHit } from "../test/hits.ts";
import { JsonWriter, peek, skip } from "../plugins/inputs/forward/msgpack.ts";

const records = Array.from({ length: 1000 }, (_, i) => makeHit(i));
const eventTime = (s: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, s);
  return b;
};
// The entries as Fluent Bit writes them: each [time (EventTime ext 0), record], concatenated.
const codec = new ExtensionCodec();
const parts = records.map((r, i) =>
  encode([{ type: 0, data: eventTime(1687241470 + i) }, r], { extensionCodec: codec })
);
const entries = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
let at = 0;
for (const p of parts) {
  entries.set(p, at);
  at += p.length;
}

Deno.bench("@msgpack/msgpack: decode 1,000 entries and make JSON lines", {
  group: "msgpack",
  baseline: true,
}, () => {
  const ext = new ExtensionCodec();
  ext.register({ type: 0, encode: () => null, decode: (d) => d });
  const lines: string[] = [];
  for (const entry of decodeMulti(entries, { extensionCodec: ext })) {
    lines.push(JSON.stringify((entry as unknown[])[1]));
  }
  if (lines.length !== 1000) throw new Error("lost entries");
});

const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false });
Deno.bench("msgpackr: decode 1,000 entries and make JSON lines", { group: "msgpack" }, () => {
  const lines: string[] = [];
  for (const entry of unpackr.unpackMultiple(entries) as unknown[]) {
    lines.push(JSON.stringify((entry as unknown[])[1]));
  }
  if (lines.length !== 1000) throw new Error("lost entries");
});

const writer = new JsonWriter(512);
Deno.bench(
  "hitship JsonWriter: msgpack bytes to JSON lines, no objects",
  { group: "msgpack" },
  () => {
    writer.reset();
    let lines = 0;
    for (let at = 0; at < entries.length; lines++) {
      const entry = peek(entries, at, entries.length);
      const record = skip(entries, at + entry.head, entries.length);
      at = writer.value(entries, record, entries.length);
      writer.byte(0x0a);
    }
    if (lines !== 1000) throw new Error("lost entries");
  },
);
