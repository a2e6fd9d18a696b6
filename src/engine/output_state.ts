/**
 * What an output keeps in `data_dir/outputs/NAME.json`: its cursor in the journal, the batch in
 * flight, whether it is off, its failure window and counters; and the enable/disable requests
 * that `hitship enable` and `hitship disable` leave beside it for a running hitship.
 *
 * @module
 */
import { joinPath, readJsonFile, writeFileAtomic } from "../base/fs.ts";
import type { Position } from "../journal/journal.ts";
import type { OutputStatus } from "../status/status.ts";

/** A batch fixed before its first attempt: replayed as it is after a retry or a crash. */
export interface BatchIntent {
  seq: number;
  key: string;
  /** The key as rendered from the template, before a suffix made it distinct. */
  base_key?: string;
  /** The suffix `key` has (`-1`, `-2`): 0 for none. */
  suffix?: number;
  from: Position;
  to: Position;
  count: number;
  raw_bytes: number;
  created_at: number;
}

/** Why an output is off. */
export type DisabledBy = "config" | "command" | "auto";

/** What an output keeps in `data_dir/outputs/NAME.json`. */
export interface OutputStateFile {
  version: 1;
  type: string;
  cursor: Position;
  intent: BatchIntent | null;
  batch_seq: number;
  last_base_key: string | null;
  key_repeat: number;
  disabled: DisabledBy | null;
  /** Journal end when the output was turned off: what it had accepted. */
  disabled_at: Position | null;
  /** Hits journaled while it was off, which it skips (`while_disabled: skip`). */
  skip: { from: Position; to: Position } | null;
  window: Array<[number, number, number]>;
  counters: Pick<
    OutputStatus,
    "delivered_hits" | "requests" | "failed_requests" | "dropped_hits" | "skipped_hits"
  >;
  last_error: string | null;
  /** When the output left the config (`delete_integration` was sent), or `null`. */
  removed_at?: string | null;
}

/** The path of an output's state file. */
export function outputStatePath(dataDir: string, name: string): string {
  return joinPath(dataDir, "outputs", `${name}.json`);
}

/** A fresh state, with the cursor at `cursor`. */
export function newOutputState(type: string, cursor: Position): OutputStateFile {
  return {
    version: 1,
    type,
    cursor,
    intent: null,
    batch_seq: 0,
    last_base_key: null,
    key_repeat: 0,
    disabled: null,
    disabled_at: null,
    skip: null,
    window: [],
    counters: {
      delivered_hits: 0,
      requests: 0,
      failed_requests: 0,
      dropped_hits: 0,
      skipped_hits: 0,
    },
    last_error: null,
  };
}

/** Reads a state file, or `undefined` when there is none. */
export function readOutputState(path: string): Promise<OutputStateFile | undefined> {
  return readJsonFile<OutputStateFile>(path);
}

/** Writes a state file atomically. */
export function writeOutputState(path: string, state: OutputStateFile): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(state, null, 2) + "\n");
}

/** Where `hitship enable`/`disable` leaves its request for the output of `statePath`. */
function requestPath(statePath: string): string {
  return statePath.replace(/\.json$/, ".request.json");
}

/** Leaves an enable/disable request for a running (or the next) hitship. */
export async function writeRequest(dataDir: string, name: string, enabled: boolean) {
  const path = outputStatePath(dataDir, name);
  await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
  await writeFileAtomic(requestPath(path), JSON.stringify({ enabled }) + "\n");
}

/** Takes the pending enable/disable request of an output, if any: reads it and removes it. */
export async function takeRequest(statePath: string): Promise<{ enabled: boolean } | undefined> {
  const path = requestPath(statePath);
  const request = await readJsonFile<{ enabled: boolean }>(path);
  if (request) await Deno.remove(path).catch(() => {});
  return request;
}
