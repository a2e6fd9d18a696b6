/**
 * The house's rules, walked from the code's own imports: no two files import each other (no
 * cycle, however long); the floors hold (nothing under `src/base` imports another folder of
 * hitship's, nothing under `src/sdk` imports more than `src/base`); `mod.ts` hands on every name
 * of the SDK; the public API's documentation is complete (`deno doc --lint`).
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url).pathname;

/** Every source file of hitship (no tests, no benchmarks), by path from the root. */
function sourceFiles(dir = ""): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(`${root}${dir}`)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) files.push(...sourceFiles(`${path}/`));
    else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) files.push(path);
  }
  return files;
}

/**
 * What a file imports: static imports and exports (types too), and `import()` of a string; not
 * the examples in its doc comments.
 */
function specifiers(source: string): string[] {
  const text = source.split("\n").filter((line) => !/^\s*(\*|\/\/)/.test(line)).join("\n");
  const found: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(["'])([^"']+)\1/gm;
  for (const match of text.matchAll(pattern)) found.push(match[2]!);
  return found;
}

/** The files of hitship that `file` imports, by path from the root. */
function importsOf(file: string): string[] {
  const text = Deno.readTextFileSync(`${root}${file}`);
  return specifiers(text).flatMap((spec) => {
    if (spec === "@hitship/hitship/sdk") return ["src/sdk/mod.ts"];
    if (!spec.startsWith(".")) return [];
    return [new URL(spec, `file://${root}${file}`).pathname.slice(root.length)];
  });
}

/** The import graph of the source files. */
function graph(): Map<string, string[]> {
  const files = ["mod.ts", ...sourceFiles("src/"), ...sourceFiles("plugins/")];
  return new Map(files.map((file) => [file, importsOf(file)]));
}

/** The cycles of a graph (strongly connected components of more than one file, or self-loops). */
function cycles(edges: Map<string, string[]>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
    }
    if (low.get(v) === indexOf.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(component);
    }
  };
  for (const v of edges.keys()) if (!indexOf.has(v)) visit(v);
  return found;
}

Deno.test("structure: no file imports itself through others (no import cycle)", () => {
  const edges = graph();
  assert.ok(edges.size > 50, `${edges.size} files walked`);
  assert.deepEqual(cycles(edges), []);
});

Deno.test("structure: src/base imports no other folder of hitship, src/sdk only src/base", () => {
  const wrong: string[] = [];
  for (const [file, imports] of graph()) {
    const allowed = file.startsWith("src/base/")
      ? ["src/base/"]
      : file.startsWith("src/sdk/")
      ? ["src/base/", "src/sdk/"]
      : undefined;
    if (!allowed) continue;
    for (const target of imports) {
      if (!allowed.some((folder) => target.startsWith(folder))) {
        wrong.push(`${file} imports ${target}`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

/** The names a module exports, as `deno doc` sees them. */
async function exported(module: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", module],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const names = new Set<string>();
  for (const file of Object.values(doc.nodes ?? {}) as Array<{ symbols?: { name: string }[] }>) {
    for (const symbol of file.symbols ?? []) names.add(symbol.name);
  }
  return names;
}

Deno.test("structure: mod.ts hands on every name of the SDK, and the public API's docs are complete", async () => {
  const sdk = await exported("src/sdk/mod.ts");
  const mod = await exported("mod.ts");
  assert.ok(sdk.size > 40, `${sdk.size} SDK names`);
  assert.deepEqual([...sdk].filter((name) => !mod.has(name)), []);
  const lint = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-run", "--allow-env", "test/doc_lint.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(lint.success, new TextDecoder().decode(lint.stderr));
});
