import assert from "node:assert/strict";
import { definePlugin, SAMPLE_HIT, z } from "../sdk/mod.ts";
import { OutputHarness } from "../testing/mod.ts";
import { parseJson } from "../base/json.ts";

const decoder = new TextDecoder();

/** Refuses every hit whose status_code is 500, as an index refuses a document it cannot map. */
const picky = definePlugin({
  type: "picky",
  description: "refuses hits with status_code 500",
  schema: z.strictObject({}),
  batchOptions: () => ({ interval: 0, maxHits: 1000, maxBytes: 1 << 30 }),
  create: () => ({
    async send(batch) {
      const rejected = [];
      for await (const chunk of batch.lines()) {
        for (const line of chunk) {
          const hit = parseJson(decoder.decode(line)) as { status_code: number };
          if (hit.status_code === 500) {
            rejected.push({ line, reason: "mapper_parsing_exception: status_code" });
          }
        }
      }
      return { ok: true, rejected };
    },
  }),
});

function hit(i: number, status: number): string {
  const sample = JSON.parse(SAMPLE_HIT);
  return JSON.stringify({ ...sample, request_id: `r${i}`, status_code: status });
}

Deno.test("hits a receiver refuses for good go to the dead-letter file: 100 one by one, then a summary; the rest count as delivered", async () => {
  const harness = await OutputHarness.start(picky, {}, { name: "index" });
  try {
    const lines = Array.from({ length: 400 }, (_, i) => hit(i, i % 2 === 0 ? 500 : 200));
    await harness.send(lines);
    await harness.settle();
    assert.equal(harness.status.delivered_hits, 200);
    assert.equal(harness.status.rejected_hits, 200);
    assert.equal(harness.status.failed_requests, 0);
    const records = await harness.deadLetters();
    const one = records.filter((r) => r.count === undefined);
    const summaries = records.filter((r) => r.count !== undefined);
    assert.equal(one.length + summaries.reduce((n, r) => n + r.count!, 0), 200);
    assert.ok(one.length <= 200 && one.length >= 100, `${one.length} records one by one`);
    for (const record of one) {
      assert.equal(record.output, "index");
      assert.equal(record.reason, "mapper_parsing_exception: status_code");
      assert.equal((JSON.parse(record.raw) as { status_code: number }).status_code, 500);
    }
    assert.deepEqual(
      new Set(one.map((r) => r.raw)).size,
      one.length,
      "each refused hit once",
    );
    const warning = harness.logs.find((r) => r.msg.includes("refused"));
    assert.match(warning!.msg, /Output "index": the receiver refused \d+ hits of a batch for good/);
  } finally {
    await harness.close();
  }
});
