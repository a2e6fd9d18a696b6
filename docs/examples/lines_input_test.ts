import assert from "node:assert/strict";
import { builtinPlugins, main } from "@hitship/hitship";

Deno.test("lines input: a config lists the module, and its hits arrive in a file output", async () => {
  const dir = await Deno.makeTempDir();
  const hits = await Deno.readTextFile(
    new URL("../../test/testdata/node-export-sample.ndjson", import.meta.url),
  );
  await Deno.writeTextFile(`${dir}/hits.ndjson`, hits);
  await Deno.writeTextFile(
    `${dir}/hitship.yaml`,
    `plugins: [${new URL("./lines_input.ts", import.meta.url).pathname}]
data_dir: ${dir}/data
input: { type: lines, from: ${dir}/hits.ndjson }
outputs: [{ name: local, type: file, path: ${dir}/out, format: jsonl }]
`,
  );
  const code = await main(["run", "--config", `${dir}/hitship.yaml`], {
    plugins: builtinPlugins,
    stderr: () => {},
  });
  assert.equal(code, 0);
  const [name] = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name);
  assert.equal(await Deno.readTextFile(`${dir}/out/${name}`), hits.trimEnd() + "\n");
  await Deno.remove(dir, { recursive: true });
});
