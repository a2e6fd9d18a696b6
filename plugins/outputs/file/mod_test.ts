import assert from "node:assert/strict";
import { makeHit } from "../../../test/hits.ts";
import { fileOutput, fileOutputSchema } from "./mod.ts";
import type { Batch } from "../../../src/sdk/output.ts";

const enc = new TextEncoder();

/** A batch of `lines` as the journal hands them out: framed buffers of about `chunk` bytes. */
function batchOf(lines: string[], key: string, chunk = 300_000): Batch {
  const framed = enc.encode(lines.map((l) => l + "\n").join(""));
  return {
    seq: 1,
    key,
    count: lines.length,
    rawBytes: framed.length - lines.length,
    createdAt: 0,
    async *lines() {
      yield lines.map((l) => enc.encode(l));
    },
    async *framed() {
      for (let at = 0; at < framed.length;) {
        const end = framed.indexOf(10, Math.min(framed.length - 1, at + chunk)) + 1;
        yield framed.subarray(at, end);
        at = end;
      }
    },
  };
}

Deno.test("file output: direct I/O and the page cache write the same files, and nothing else", async () => {
  // About 1.7 MB: past one staging buffer, with a last block that is not full.
  const lines = Array.from({ length: 3001 }, (_, i) => JSON.stringify(makeHit(i)));
  const written: Record<string, string> = {};
  for (const direct_io of [true, false]) {
    for (const format of ["json", "jsonl"] as const) {
      const dir = await Deno.makeTempDir();
      const config = fileOutputSchema.parse({ path: `${dir}/out`, direct_io, format });
      const output = await fileOutput.create(config, undefined as never);
      const result = await output.send(
        batchOf(lines, `sub/hitlogs-1.${format}`),
        AbortSignal.timeout(10_000),
      );
      assert.ok(result.ok, JSON.stringify(result));
      const names = [...Deno.readDirSync(`${dir}/out/sub`)].map((e) => e.name);
      assert.deepEqual(names, [`hitlogs-1.${format}`], "no temporary or probe file left");
      written[`${format} ${direct_io}`] = await Deno.readTextFile(`${dir}/out/sub/${names[0]}`);
    }
  }
  assert.deepEqual(JSON.parse(written["json true"]!), lines.map((l) => JSON.parse(l)));
  assert.equal(written["json true"], written["json false"]);
  assert.equal(written["jsonl true"], lines.join("\n") + "\n");
  assert.equal(written["jsonl true"], written["jsonl false"]);
});
