import assert from "node:assert/strict";
import { builtinPlugins } from "./mod.ts";

const root = new URL("./", import.meta.url).pathname;
const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
/** Packages a plugin may use itself; zod comes through the SDK (`z`). */
const packages = Object.keys(config.imports as Record<string, string>).filter((name) =>
  name !== "zod"
);

/** Every file of the built-in plugins, but for tests and the list of them (`plugins/mod.ts`). */
function pluginFiles(dir = root): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) files.push(...pluginFiles(`${path}/`));
    else if (path.endsWith(".ts") && !path.endsWith("_test.ts") && path !== `${root}mod.ts`) {
      files.push(path);
    }
  }
  return files;
}

/** What a file imports: static imports and exports, and `import()` of a string. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(["'])([^"']+)\1/gm;
  for (const match of text.matchAll(pattern)) found.push(match[2]!);
  return found;
}

Deno.test("built-in plugins import only the SDK, their own folder, Node built-ins and their own packages", async () => {
  const files = pluginFiles();
  assert.ok(files.length >= 4, files.join(" "));
  const wrong: string[] = [];
  for (const file of files) {
    const folder = file.slice(0, file.lastIndexOf("/") + 1);
    for (const spec of specifiers(await Deno.readTextFile(file))) {
      const ok = spec === "@hitship/hitship/sdk" || spec.startsWith("node:") ||
        packages.includes(spec) ||
        (spec.startsWith("./") && new URL(spec, `file://${folder}`).pathname.startsWith(folder));
      if (!ok) wrong.push(`${file.slice(root.length)} imports "${spec}"`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("every built-in plugin is declared with definePlugin or defineInput and has a schema", () => {
  const types = new Set<string>();
  for (const plugin of builtinPlugins) {
    assert.ok(plugin.kind === "output" || plugin.kind === "input", plugin.type);
    assert.equal(typeof plugin.schema.shape, "object", plugin.type);
    assert.ok(!types.has(`${plugin.kind}:${plugin.type}`), `one ${plugin.type}`);
    types.add(`${plugin.kind}:${plugin.type}`);
  }
});
