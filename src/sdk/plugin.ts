/**
 * Plugins of either kind, as a registry holds them, and how a module's default export is known
 * to be one.
 *
 * @module
 */
import type { InputPlugin } from "./input.ts";
import type { OutputPlugin } from "./output.ts";

/** An input or output plugin. */
// deno-lint-ignore no-explicit-any
export type Plugin = OutputPlugin<any> | InputPlugin<any>;

/** Whether a value is a plugin made by `definePlugin` or `defineInput`. */
export function isPlugin(value: unknown): value is Plugin {
  const p = value as Partial<Plugin> | null;
  return typeof p === "object" && p !== null &&
    (p.kind === "output" || p.kind === "input") && typeof p.type === "string" &&
    typeof (p.schema as { shape?: unknown } | undefined)?.shape === "object" &&
    typeof (p.kind === "output" ? (p as OutputPlugin).create : (p as InputPlugin).open) ===
      "function";
}
