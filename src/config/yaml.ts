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

/**
 * Loads `yaml`: the ES module build at `esm` (relative to the CommonJS entry Deno resolves `yaml`
 * to), or the CommonJS build where that fails.
 */
export async function loadYaml(
  esm = "../browser/index.js",
): Promise<{ module: typeof Yaml; build: "esm" | "commonjs" }> {
  try {
    const module: typeof Yaml = await import(new URL(esm, import.meta.resolve("yaml")).href);
    if (typeof module.parseDocument === "function") return { module, build: "esm" };
  } catch { /* the CommonJS build below */ }
  return { module: await import("yaml"), build: "commonjs" };
}

const loaded = await loadYaml();

/** The `yaml` module. */
export const yaml: typeof Yaml = loaded.module;

/** Which build of `yaml` was loaded. */
export const yamlBuild: "esm" | "commonjs" = loaded.build;
