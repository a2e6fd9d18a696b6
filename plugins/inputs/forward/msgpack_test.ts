import assert from "node:assert/strict";
import { Packr } from "msgpackr";
import { makeHit, random } from "../../../test/hits.ts";
import { JsonWriter, MessageFramer, MsgpackError, skip } from "./msgpack.ts";

const packr = new Packr({ useRecords: false, variableMapSize: true });
const decoder = new TextDecoder();

function json(bytes: Uint8Array): string {
  const writer = new JsonWriter(64);
  const next = writer.value(bytes, 0, bytes.length);
  assert.equal(next, bytes.length, "the whole value is read");
  return decoder.decode(writer.bytes());
}

/** A random JSON-like value: every msgpack type a record can carry. */
function randomValue(rand: () => number, depth = 0): unknown {
  const r = rand();
  if (depth > 3 || r < 0.45) {
    const s = rand();
    if (s < 0.1) return null;
    if (s < 0.2) return rand() < 0.5;
    if (s < 0.3) return Math.floor(rand() * 256) - 128;
    if (s < 0.4) return Math.floor(rand() * 2 ** 31) * (rand() < 0.5 ? -1 : 1);
    if (s < 0.5) return rand() * 1e6 - 5e5;
    if (s < 0.55) return 2 ** 40 + Math.floor(rand() * 1e6);
    const chars = ['"', "\\", "\n", "\t", "\u0001", "\u001f", "é", "日本", "😀", "a", "b", " "];
    return Array.from(
      { length: Math.floor(rand() * 40) },
      () => chars[Math.floor(rand() * chars.length)],
    ).join("");
  }
  if (r < 0.7) {
    return Array.from({ length: Math.floor(rand() * 20) }, () => randomValue(rand, depth + 1));
  }
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 20); i > 0; i--) {
    object[`k${Math.floor(rand() * 1000)}${rand() < 0.2 ? '"\\' : ""}`] = randomValue(
      rand,
      depth + 1,
    );
  }
  return object;
}

Deno.test("msgpack: records become the JSON that JSON.stringify gives for the same values", () => {
  const rand = random(7);
  for (let i = 0; i < 2000; i++) {
    const value = i % 4 === 0 ? makeHit(i) : randomValue(rand);
    assert.equal(json(packr.pack(value)), JSON.stringify(value), `value ${i}`);
  }
  // Sizes that take the 8-, 16- and 32-bit length heads of strings, arrays and maps.
  for (const n of [31, 32, 255, 256, 65535, 65536]) {
    const string = "x".repeat(n);
    assert.equal(json(packr.pack(string)), JSON.stringify(string));
    const array = Array.from({ length: n }, (_, j) => j);
    assert.equal(json(packr.pack(array)), JSON.stringify(array));
  }
  const map = Object.fromEntries(Array.from({ length: 70000 }, (_, j) => [`k${j}`, j]));
  assert.equal(json(packr.pack(map)), JSON.stringify(map));
});

Deno.test("msgpack: keys keep their order, __proto__ is a key like any other, 64-bit integers keep their digits", () => {
  // A map {"b": 1, "2": 2, "__proto__": {"a": 1}} written by hand: objects would reorder "2".
  const enc = (s: string) => [0xa0 | s.length, ...new TextEncoder().encode(s)];
  const bytes = new Uint8Array([
    0x84,
    ...enc("b"),
    0x01,
    ...enc("2"),
    0x02,
    ...enc("__proto__"),
    0x81,
    ...enc("a"),
    0x01,
    ...enc("n"),
    0xcf,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
  ]);
  assert.equal(json(bytes), '{"b":1,"2":2,"__proto__":{"a":1},"n":18446744073709551615}');
  // int64 minimum, a negative fixint, a non-string key, binary as text, NaN and EventTime.
  assert.equal(json(new Uint8Array([0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0])), "-9223372036854775808");
  assert.equal(json(new Uint8Array([0xff])), "-1");
  assert.equal(json(new Uint8Array([0x81, 0x07, 0xc3])), '{"7":true}');
  assert.equal(json(new Uint8Array([0xc4, 0x02, 0x68, 0x69])), '"hi"');
  // JSON has no NaN or Infinity: such a record is unusable, never a different hit.
  assert.throws(() => json(packr.pack(NaN)), /a float that is not finite \(NaN\)/);
  assert.throws(() => json(packr.pack([1, -Infinity])), /not finite \(-Infinity\)/);
  assert.equal(
    json(new Uint8Array([0xd7, 0x00, 0x64, 0x91, 0x9c, 0xfe, 0x1d, 0xcd, 0x65, 0x00])),
    "1687264510.5",
  );
  // Seconds and nanoseconds exactly: 1687247390.999999999 as a double would be 1687247391.
  const eventTime = (seconds: number, nanos: number) => {
    const bytes = new Uint8Array(10);
    bytes.set([0xd7, 0x00]);
    new DataView(bytes.buffer).setUint32(2, seconds);
    new DataView(bytes.buffer).setUint32(6, nanos);
    return bytes;
  };
  assert.equal(json(eventTime(1687247390, 999_999_999)), "1687247390.999999999");
  assert.equal(json(eventTime(1687247390, 5)), "1687247390.000000005");
  assert.equal(json(eventTime(1687247390, 0)), "1687247390");
  assert.throws(() => json(eventTime(1, 1_000_000_000)), /more than 1e9 ns/);
});

Deno.test("msgpack: a record nested too deep or cut short is an error, not a crash", () => {
  const deep = new Uint8Array(100_001).fill(0x91);
  deep[100_000] = 0x01;
  assert.throws(
    () => json(deep),
    (e) => e instanceof MsgpackError && /deeper than 64/.test(e.message),
  );
  assert.throws(() => json(new Uint8Array([0xdb, 0, 0, 0, 9, 0x61])), MsgpackError);
  assert.throws(() => json(new Uint8Array([0xc1])), /0xc1 at byte 0 starts no msgpack value/);
  assert.throws(() => skip(new Uint8Array([0x92, 0x01]), 0, 2), /cut short/);
});

Deno.test("msgpack: the framer finds each message of a stream in any pieces, walking it once", () => {
  const rand = random(11);
  const messages = Array.from(
    { length: 200 },
    (_, i) => packr.pack(["tag", [[i, makeHit(i)], [i, randomValue(rand)]], { chunk: `c${i}` }]),
  );
  const stream = new Uint8Array(messages.reduce((n, m) => n + m.length, 0));
  let at = 0;
  for (const m of messages) {
    stream.set(m, at);
    at += m.length;
  }
  for (const piece of [1, 7, 1000, stream.length]) {
    const framer = new MessageFramer(68);
    const found: number[] = [];
    let start = 0;
    for (
      let length = Math.min(piece, stream.length);;
      length = Math.min(length + piece, stream.length)
    ) {
      for (;;) {
        const end = framer.end(stream.subarray(start, length), length - start);
        if (end < 0) break;
        found.push(end);
        start += end;
      }
      if (length === stream.length) break;
    }
    assert.deepEqual(found, messages.map((m) => m.length), `pieces of ${piece} bytes`);
    assert.equal(start, stream.length);
  }
  // Nesting past the limit and a byte no value starts with are errors; a huge declared size waits.
  const deep = new Uint8Array(100).fill(0x91);
  assert.throws(() => new MessageFramer(68).end(deep, deep.length), /nests deeper than 68/);
  assert.throws(() => new MessageFramer(68).end(new Uint8Array([0x92, 0xc1]), 2), MsgpackError);
  assert.equal(new MessageFramer(68).end(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), 5), -1);
});
