import assert from "node:assert/strict";
import { BufferPool, release } from "./buffer_pool.ts";

Deno.test("BufferPool hands a kept buffer large enough to the next taker, and keeps at most max", () => {
  const pool = new BufferPool(1);
  assert.equal(pool.take(10), undefined);
  const a = new Uint8Array(16);
  pool.give(a);
  pool.give(new Uint8Array(32)); // over max: dropped
  assert.equal(pool.take(20), undefined);
  assert.equal(pool.take(10), a);
  assert.equal(pool.take(10), undefined);
});

Deno.test("release() frees a buffer at once: its views are empty after, twice is harmless", () => {
  const bytes = new Uint8Array(1024 * 1024).fill(7);
  const view = bytes.subarray(10, 20);
  release(bytes);
  assert.equal(bytes.length, 0);
  assert.equal(view.length, 0);
  assert.equal(bytes.buffer.byteLength, 0);
  release(bytes);
  release(new Uint8Array(0));
});
