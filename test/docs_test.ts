/**
 * The README and docs/ as a reader follows them: every relative link resolves, and the code the
 * README shows for plugins is the code that is tested (docs/examples/).
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** The Markdown files a reader is sent through. */
function markdownFiles(): string[] {
  const docs = [...Deno.readDirSync(new URL("docs/", root))]
    .filter((e) => e.isFile && e.name.endsWith(".md"))
    .map((e) => `docs/${e.name}`);
  return ["README.md", ...docs];
}

Deno.test("docs: every relative link of the README and docs/ resolves", () => {
  const broken: string[] = [];
  for (const file of markdownFiles()) {
    const text = Deno.readTextFileSync(new URL(file, root));
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target!)) continue;
      const path = target!.split("#")[0]!;
      try {
        Deno.statSync(new URL(path, new URL(file, root)));
      } catch {
        broken.push(`${file}: ${target}`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("docs: the README shows the example plugins and their test exactly as they are tested", () => {
  const readme = Deno.readTextFileSync(new URL("README.md", root));
  // Code blocks, with the indentation of a list item taken off.
  const blocks = [...readme.matchAll(/^( *)```ts\n([\s\S]*?)^\1```/gm)].map(([, indent, code]) =>
    code!.split("\n").map((line) => line.slice(indent!.length)).join("\n").trim()
  );
  for (const example of ["ndjson_output.ts", "ndjson_output_test.ts", "lines_input.ts"]) {
    const code = Deno.readTextFileSync(new URL(`docs/examples/${example}`, root)).trim();
    assert.ok(blocks.includes(code), `README shows docs/examples/${example} as it is`);
  }
});
