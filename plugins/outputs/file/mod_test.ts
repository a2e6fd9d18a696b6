import assert from "node:assert/strict";
import { makeHit } from "../../../test/hits.ts";
import { batchOf, fakeContext } from "@hitship/hitship/testing";
import { fileOutput, fileOutputSchema } from "./mod.ts";

Deno.test("file output: direct I/O and the page cache write the same files, and nothing else", async () => {
  // About 1.7 MB: past one staging buffer, with a last block that is not full.
  const lines = Array.from({ length: 3001 }, (_, i) => JSON.stringify(makeHit(i)));
  const written: Record<string, string> = {};
  for (const direct_io of [true, false]) {
    for (const format of ["json", "jsonl"] as const) {
      const dir = await Deno.makeTempDir();
      const config = fileOutputSchema.parse({ path: `${dir}/out`, direct_io, format });
      const output = await fileOutput.create(config, fakeContext({ name: "local" }));
      const batch = batchOf(lines, { key: `sub/hitlogs-1.${format}`, chunkBytes: 300_000 });
      const result = await output.send(batch, AbortSignal.timeout(10_000));
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
