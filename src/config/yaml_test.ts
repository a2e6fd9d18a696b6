import assert from "node:assert/strict";
import * as commonjs from "yaml";
import { loadYaml, yaml, yamlBuild } from "./yaml.ts";

Deno.test("yaml: the ES module build is the one loaded, and it reads a config as the CommonJS one does", () => {
  assert.equal(yamlBuild, "esm");
  assert.notEqual(yaml.parseDocument, commonjs.parseDocument);
  const text = "data_dir: /data\noutputs:\n  - name: a\n    name: b\n  - { type: file, path: [\n";
  const read = (module: typeof commonjs) => {
    const lineCounter = new module.LineCounter();
    const doc = module.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
    return {
      value: doc.toJS(),
      errors: doc.errors.map((e) => ({ code: e.code, at: lineCounter.linePos(e.pos[0]) })),
    };
  };
  const esm = read(yaml);
  assert.deepEqual(esm, read(commonjs));
  assert.deepEqual(esm.errors.find((e) => e.code === "DUPLICATE_KEY")?.at, { line: 4, col: 5 });
});

Deno.test("yaml: where the ES module build cannot be loaded, the CommonJS one is", async () => {
  const { module, build } = await loadYaml("../no-such-build/index.js");
  assert.equal(build, "commonjs");
  assert.equal(module.parseDocument, commonjs.parseDocument);
});
