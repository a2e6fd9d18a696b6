import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { gunzip, UnpackedTooLarge } from "./gzip.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const packed = (text: string) => new Uint8Array(gzipSync(enc.encode(text)));

/** `members` gzip members of 16 MiB of zeros each, one after another: about 16 KiB a member. */
function bomb(members: number): Uint8Array {
  const member = new Uint8Array(gzipSync(new Uint8Array(16 * 1024 * 1024), { level: 9 }));
  const out = new Uint8Array(member.length * members);
  for (let i = 0; i < members; i++) out.set(member, i * member.length);
  return out;
}

Deno.test("gunzip() unpacks one member, and concatenated members to their concatenation", async () => {
  assert.equal(dec.decode(await gunzip(packed("a\n"), 100)), "a\n");
  const two = new Uint8Array([...packed("a\n"), ...packed("b\n"), ...packed("c\n")]);
  assert.equal(dec.decode(await gunzip(two, 100)), "a\nb\nc\n");
  const padded = new Uint8Array([...packed("a\n"), 0, 0, 0, 0]);
  assert.equal(dec.decode(await gunzip(padded, 100)), "a\n");
  const big = "x".repeat(300_000) + "\n";
  assert.equal(dec.decode(await gunzip(packed(big), 1_000_000)), big);
});

Deno.test("gunzip() rejects broken gzip: no header, a cut stream, garbage after a member", async () => {
  await assert.rejects(gunzip(enc.encode("hello"), 100), /header/);
  await assert.rejects(gunzip(packed("a\n").subarray(0, 12), 100), /end of file/);
  await assert.rejects(gunzip(new Uint8Array([...packed("a\n"), 1, 2, 3]), 100), /header/);
});

Deno.test("gunzip() stops a 1 GiB bomb at the limit while inflating, holding at most the limit", async () => {
  const packed = bomb(64);
  const started = performance.now();
  const error = await gunzip(packed, 16 * 1024 * 1024).catch((e) => e);
  assert.ok(error instanceof UnpackedTooLarge, String(error));
  assert.match(error.message, /unpacks past 16777216 bytes/);
  const ms = performance.now() - started;
  console.log(`1 GiB bomb (${packed.length} bytes) stopped at 16 MiB in ${ms.toFixed(0)} ms`);
  // Exactly at the limit is still taken.
  const exact = new Uint8Array(gzipSync(new Uint8Array(4096)));
  assert.equal((await gunzip(exact, 4096)).length, 4096);
  await assert.rejects(gunzip(exact, 4095), UnpackedTooLarge);
});

Deno.test("gunzip() lets the event loop turn while it inflates a large body", async () => {
  const packed = bomb(4);
  let turns = 0;
  const timer = setInterval(() => turns++, 0);
  try {
    assert.equal((await gunzip(packed, 64 * 1024 * 1024)).length, 64 * 1024 * 1024);
  } finally {
    clearInterval(timer);
  }
  assert.ok(turns >= 3, `the loop turned ${turns} times`);
});
