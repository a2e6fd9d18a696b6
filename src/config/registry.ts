/**
 * The engine's view of plugins: which a `type:` names, the events an output takes, and how the
 * engine batches for it. Plugin authors never need these; the SDK declares plugins, this reads
 * them.
 *
 * @module
 */
import { batchShape } from "../sdk/batch.ts";
import type { InputPlugin } from "../sdk/input.ts";
import type { BatchOptions, EventKind, OutputPlugin, OutputPluginSpec } from "../sdk/output.ts";
import type { Plugin } from "../sdk/plugin.ts";

/** The output plugins of a list. */
export function outputPluginsOf(plugins: readonly Plugin[]): OutputPlugin[] {
  return plugins.filter((p): p is OutputPlugin => p.kind === "output");
}

/** The input plugins of a list. */
export function inputPluginsOf(plugins: readonly Plugin[]): InputPlugin[] {
  return plugins.filter((p): p is InputPlugin => p.kind === "input");
}

/** The `events` an output plugin takes when its config gives none. */
export function defaultEventsOf(plugin: OutputPluginSpec): ReadonlyArray<EventKind> {
  return plugin.defaultEvents ?? ["hits"];
}

/** What an output plugin can receive at all. */
export function supportedEventsOf(plugin: OutputPluginSpec): ReadonlyArray<EventKind> {
  return plugin.supportedEvents ?? defaultEventsOf(plugin);
}

/** The fields the engine adds to an output plugin that has no `batchOptions` of its own. */
export const batchingShape = {
  interval: batchShape.interval,
  max_hits: batchShape.max_hits,
  max_bytes: batchShape.max_bytes,
};

/** How the engine batches for an output: its plugin's `batchOptions`, or the common fields. */
export function batchingOf(
  plugin: OutputPluginSpec,
  config: Record<string, unknown>,
): BatchOptions {
  if (plugin.batchOptions) return plugin.batchOptions(config as never);
  return {
    interval: config.interval as number,
    maxHits: config.max_hits as number,
    maxBytes: config.max_bytes as number,
  };
}
