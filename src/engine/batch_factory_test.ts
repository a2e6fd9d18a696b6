import assert from "node:assert/strict";
import { cutBatch, nextKey } from "./batch_factory.ts";
import { newOutputState } from "./output_state.ts";

const T = 1_687_241_470_000;
const naming = { output: "archive", key: "hitlogs-{timestamp}.json", hostname: "node-1" };

Deno.test("cutBatch() names each batch from the template; two in one second get distinct names", () => {
  const state = newOutputState("minio-hitlogs", { offset: 0, seq: 0 });
  const first = cutBatch(state, { count: 3, raw: 300, to: { offset: 303, seq: 3 } }, naming, T);
  assert.deepEqual(
    [first.seq, first.key, first.from, first.to, first.count, first.raw_bytes, first.created_at],
    [1, "hitlogs-1687241470.json", { offset: 0, seq: 0 }, { offset: 303, seq: 3 }, 3, 300, T],
  );
  assert.equal(state.intent, first, "the intent is set, to be saved before it is sent");
  state.cursor = first.to;
  const second = cutBatch(
    state,
    { count: 1, raw: 100, to: { offset: 404, seq: 4 } },
    naming,
    T + 500,
  );
  assert.equal(second.key, "hitlogs-1687241470-1.json");
  assert.deepEqual(second.from, first.to);
  const later = cutBatch(
    state,
    { count: 1, raw: 1, to: { offset: 406, seq: 5 } },
    naming,
    T + 1000,
  );
  assert.equal(later.key, "hitlogs-1687241471.json");
  const defaults = cutBatch(state, { count: 1, raw: 1, to: { offset: 408, seq: 6 } }, {
    output: "local",
    hostname: "h",
  }, T);
  assert.equal(defaults.key, "local-1687241470");
});

Deno.test("nextKey() moves a batch past a taken name, and the next batch of that second past it too", () => {
  const state = newOutputState("file", { offset: 0, seq: 0 });
  const intent = cutBatch(state, { count: 1, raw: 1, to: { offset: 2, seq: 1 } }, naming, T);
  assert.equal(nextKey(state, intent), "hitlogs-1687241470-1.json");
  assert.equal(nextKey(state, intent), "hitlogs-1687241470-2.json");
  state.cursor = intent.to;
  const next = cutBatch(state, { count: 1, raw: 1, to: { offset: 4, seq: 2 } }, naming, T);
  assert.equal(next.key, "hitlogs-1687241470-3.json");
});
