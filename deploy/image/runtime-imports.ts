/**
 * For the image build: drops from deno.json's import map the packages that only tests and
 * benchmarks use, so the image caches only what hitship runs. The imports kept are those that
 * mod.ts, src/ and plugins/ (not their tests) name, statically or in a dynamic import.
 *
 *   deno run --allow-read=. --allow-write=. deploy/image/runtime-imports.ts          # prune
 *   deno install --entrypoint mod.ts                                                  # cache
 *   deno run --allow-read=. --allow-write=. deploy/image/runtime-imports.ts --check  # verify
 *
 * `deno install --frozen` refuses a lock file with entries the pruned map no longer needs, so the
 * install runs without it and `--check` then holds it to the lock: every npm package it resolved
 * must be one the project's lock file pins, at the same version and checksum.
 *
 * @module
 */
if (Deno.args[0] === "--check") {
  const pinned = JSON.parse(await Deno.readTextFile("deno.lock.pinned"));
  const now = JSON.parse(await Deno.readTextFile("deno.lock"));
  const strays = Object.entries(now.npm ?? {}).filter(([name, entry]) =>
    JSON.stringify(pinned.npm?.[name]) !== JSON.stringify(entry)
  ).map(([name]) => name);
  if (strays.length > 0) {
    console.error(`packages the lock file does not pin: ${strays.join(", ")}`);
    Deno.exit(1);
  }
  await Deno.remove("deno.lock.pinned");
  console.log(`lock: ${Object.keys(now.npm ?? {}).length} npm packages, each as pinned`);
  Deno.exit(0);
}

const config = JSON.parse(await Deno.readTextFile("deno.json"));
const used = new Set<string>();
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"'./][^"']*)["']/g;

async function scan(path: string): Promise<void> {
  const info = await Deno.stat(path);
  if (info.isDirectory) {
    for await (const entry of Deno.readDir(path)) await scan(`${path}/${entry.name}`);
    return;
  }
  if (!path.endsWith(".ts") || path.endsWith("_test.ts")) return;
  for (const match of (await Deno.readTextFile(path)).matchAll(SPECIFIER)) used.add(match[1]!);
}

for (const path of ["mod.ts", "src", "plugins"]) await scan(path);
const kept: Record<string, string> = {};
const dropped: string[] = [];
for (const [key, target] of Object.entries(config.imports as Record<string, string>)) {
  const needed = [...used].some((s) => s === key || s.startsWith(`${key}/`));
  if (needed) kept[key] = target;
  else dropped.push(key);
}
config.imports = kept;
await Deno.copyFile("deno.lock", "deno.lock.pinned");
await Deno.writeTextFile("deno.json", JSON.stringify(config, null, 2) + "\n");
console.log(`runtime imports: ${Object.keys(kept).join(", ")}; dropped: ${dropped.join(", ")}`);
