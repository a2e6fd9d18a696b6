import assert from "node:assert/strict";
import { rememberLineEnds } from "../base/line_ends.ts";
import { bodySize, bodyStream, formatBody } from "./body.ts";
import { renderKey, withSuffix } from "./key.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function* chunksOf(...groups: string[][]): AsyncGenerator<Uint8Array[]> {
  for (const group of groups) yield group.map((s) => enc.encode(s));
}

async function text(gen: AsyncIterable<Uint8Array>): Promise<string> {
  let out = "";
  for await (const part of gen) out += dec.decode(part);
  return out;
}

Deno.test("formatBody() json is an array of the raw hits, byte for byte", async () => {
  const hits = ['{"b":1,"a":"x"}', '{"time":"1687241470"}', '{ "spaced" : true }'];
  const out = await text(formatBody(chunksOf(hits.slice(0, 2), [], hits.slice(2)), "json"));
  assert.deepEqual(JSON.parse(out), hits.map((h) => JSON.parse(h)));
  for (const hit of hits) assert.ok(out.includes(hit), "raw bytes kept");
  assert.equal(out.length, bodySize("json", 3, hits.join("").length));
});

Deno.test("formatBody() jsonl is one raw hit per line", async () => {
  const hits = ['{"a":1}', '{"a":2}'];
  const out = await text(formatBody(chunksOf(hits), "jsonl"));
  assert.equal(out, '{"a":1}\n{"a":2}\n');
  assert.equal(out.length, bodySize("jsonl", 2, 14));
});

Deno.test("formatBody() json of no hits is an empty array", async () => {
  assert.deepEqual(JSON.parse(await text(formatBody(chunksOf(), "json"))), []);
});

Deno.test("bodyStream() gzip decompresses to the same body", async () => {
  const hits = ['{"a":1}', '{"a":2}'];
  const gz = bodyStream(formatBody(chunksOf(hits), "json"), "gzip");
  const plain = gz.pipeThrough(
    new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  assert.deepEqual(JSON.parse(await text(plain)), [{ a: 1 }, { a: 2 }]);
});

Deno.test("renderKey() fills timestamp, date, hostname, seq and fixes the extension", () => {
  const values = { time: 1687241470123, hostname: "node-1", seq: 7 };
  assert.equal(renderKey("hitlogs-{timestamp}.json", values), "hitlogs-1687241470.json");
  assert.equal(
    renderKey("{hostname}/{date}/hitlogs-{timestamp}-{seq}.json", values),
    "node-1/2023/06/20/hitlogs-1687241470-7.json",
  );
  assert.equal(renderKey("h-{timestamp}.json", values, "jsonl"), "h-1687241470.jsonl");
  assert.equal(renderKey("h-{timestamp}.json", values, "json", "gzip"), "h-1687241470.json.gz");
});

Deno.test("withSuffix() keeps keys of one second distinct, before the extension", () => {
  assert.equal(withSuffix("hitlogs-1.json", 0), "hitlogs-1.json");
  assert.equal(withSuffix("hitlogs-1.json", 1), "hitlogs-1-1.json");
  assert.equal(withSuffix("a.b/hitlogs-1.jsonl.gz", 2), "a.b/hitlogs-1-2.jsonl.gz");
  assert.equal(withSuffix("plain", 3), "plain-3");
});

Deno.test("formatFramed() makes the same bodies as formatBody(), however the buffers are cut", async () => {
  const { formatFramed } = await import("./body.ts");
  const hits = Array.from({ length: 50 }, (_, i) => JSON.stringify({ n: i, s: "x".repeat(i % 9) }));
  const framed = enc.encode(hits.map((h) => h + "\n").join(""));
  for (const format of ["json", "jsonl"] as const) {
    const expected = await text(formatBody(chunksOf(hits), format));
    for (const cuts of [[], [0, 1, 17, 200, 700]]) {
      // Cut only after a line break, as the journal reader does.
      const buffers: Uint8Array[] = [];
      let from = 0;
      for (const cut of cuts) {
        const at = framed.indexOf(10, Math.max(cut, from)) + 1;
        if (at > from) buffers.push(framed.slice(from, at));
        from = Math.max(from, at);
      }
      if (from < framed.length) buffers.push(framed.slice(from));
      const gen = async function* () {
        for (const b of buffers) yield b;
      };
      for (const reuse of [true, false]) {
        const body = await text(formatFramed(gen(), format, reuse));
        assert.equal(body, expected, `${format} ${cuts} reuse=${reuse}`);
      }
      // With the line ends the journal hands on, the same bodies.
      const withEnds = async function* () {
        for (const b of buffers) {
          const ends: number[] = [];
          for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) ends.push(i);
          rememberLineEnds(b, Int32Array.from(ends));
          yield b;
        }
      };
      for (const reuse of [true, false]) {
        const body = await text(formatFramed(withEnds(), format, reuse));
        assert.equal(body, expected, `${format} ${cuts} ends reuse=${reuse}`);
      }
    }
  }
  async function* none(): AsyncGenerator<Uint8Array> {}
  assert.equal(await text(formatFramed(none(), "json")), "[]\n");
});
