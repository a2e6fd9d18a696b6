/**
 * Plugins from a user's own modules, listed under `plugins:` in the config: paths relative to the
 * config file, or `file:` and `https:` URLs. Each module's default export is a plugin made with
 * `definePlugin` or `defineInput`, or an array of them.
 *
 * @module
 */
import { isPlugin, type Plugin } from "../sdk/plugin.ts";

/** A module listed under `plugins:`, as written and as resolved. */
export interface PluginModule {
  /** As written in the config. */
  specifier: string;
  /** The module's URL. */
  url: string;
}

/** Why a plugin module cannot be used, for one module. */
export interface PluginModuleProblem {
  /** The module's index in `plugins:`. */
  index: number;
  message: string;
}

/** Resolves a module as written in `plugins:` against the config file's path. */
export function resolveModule(specifier: string, configPath: string): string {
  if (/^(file|https?):/.test(specifier)) return new URL(specifier).href;
  const base = new URL(
    configPath.startsWith("/") ? `file://${configPath}` : configPath,
    `file://${Deno.cwd()}/`,
  );
  return new URL(specifier, base).href;
}

/**
 * Imports plugin modules and checks what they export: a plugin, or an array of plugins, whose
 * types are new. Modules already imported come from the module cache: the same plugins again.
 *
 * @param known Plugins already there (the built-ins): a user plugin may not take one's type.
 */
export async function importPluginModules(
  modules: readonly PluginModule[],
  known: readonly Plugin[],
): Promise<{ plugins: Plugin[]; problems: PluginModuleProblem[] }> {
  const plugins: Plugin[] = [];
  const problems: PluginModuleProblem[] = [];
  for (const [index, { specifier, url }] of modules.entries()) {
    const problem = (message: string) => problems.push({ index, message });
    let exported: unknown;
    try {
      exported = (await import(url)).default;
    } catch (error) {
      const message = (error as Error)?.message?.split("\n")[0] ?? String(error);
      problem(`cannot load plugin module "${specifier}": ${message}`);
      continue;
    }
    const list = Array.isArray(exported) ? exported : [exported];
    if (list.length === 0 || !list.every(isPlugin)) {
      problem(
        `plugin module "${specifier}" has no plugin as its default export: expected ` +
          "definePlugin(...) or defineInput(...) from @hitship/hitship/sdk, or an array of them",
      );
      continue;
    }
    for (const plugin of list) {
      const what = plugin.kind === "output" ? "output" : "input";
      const taken = [...known, ...plugins].find((p) =>
        p.kind === plugin.kind && p.type === plugin.type
      );
      if (taken) {
        const whose = known.includes(taken) ? "a built-in" : "another plugin module's";
        problem(
          `plugin module "${specifier}" declares ${what} type "${plugin.type}", which is ` +
            `${whose} ${what} type: give it a type of its own`,
        );
        continue;
      }
      plugins.push(plugin);
    }
  }
  return { plugins, problems };
}

/** The plugins of a resolved config's `plugins:` modules (imported once, then cached). */
export async function pluginsOfModules(
  urls: readonly string[],
  known: readonly Plugin[],
): Promise<Plugin[]> {
  if (urls.length === 0) return [];
  const { plugins, problems } = await importPluginModules(
    urls.map((url) => ({ specifier: url, url })),
    known,
  );
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join("\n"));
  return plugins;
}
