/**
 * The `yaml` library, loaded as its ES module build.
 *
 * Deno resolves `yaml` to the package's CommonJS build (its `node` export). Loading it starts
 * Deno's CommonJS loader, which nothing else hitship needs at start-up: about 30 ms of start-up
 * and 2 MB of memory. The same release ships the same code as ES modules (`browser/index.js`,
 * the package's `default` export), which is loaded instead. If that file cannot be loaded (a
 * later release laid out differently, a bundle, a read permission that excludes Deno's npm
 * cache), the CommonJS build is.
 *
 * @module
 */
import type * as Yaml from "yaml";

/** Which build of `yaml` was loaded. */
export let yamlBuild: "esm" | "commonjs" = "esm";

async function load(): Promise<typeof Yaml> {
  try {
    const esm = new URL("../browser/index.js", import.meta.resolve("yaml"));
    const module: typeof Yaml = await import(esm.href);
    if (typeof module.parseDocument === "function") return module;
  } catch { /* the CommonJS build below */ }
  yamlBuild = "commonjs";
  return await import("yaml");
}

/** The `yaml` module. */
export const yaml: typeof Yaml = await load();
