/**
 * The journal's commit record, `checkpoint.json`: where the journal ends and where each input
 * stood at that end. Its atomic rename is the commit point of an append.
 *
 * @module
 */
import { joinPath, readJsonFile, writeFileAtomicSync } from "../base/fs.ts";
import type { JsonValue } from "../sdk/input.ts";
import type { Position } from "./position.ts";

/**
 * Where an input stood when its lines were journaled: its own state, which the journal keeps
 * without knowing what it means (a file's identity and offset, say), and how many lines of its
 * current stream came before, so that line numbers go on after a restart.
 */
export interface InputCheckpoint {
  state: JsonValue;
  line: number;
}

/** The commit record as it is written. */
interface CheckpointFile {
  journal: Position;
  inputs?: Record<string, InputCheckpoint>;
  /** The one file input's state, as data directories made before named inputs hold it. */
  input?: ({ line?: number } & { [key: string]: JsonValue | undefined }) | null;
}

const CHECKPOINT = "checkpoint.json";

/** The last commit in `dir`: the journal's end and the inputs' checkpoints, if any was made. */
export async function readCommit(
  dir: string,
): Promise<{ end: Position; inputs: Record<string, InputCheckpoint> } | undefined> {
  const saved = await readJsonFile<CheckpointFile>(joinPath(dir, CHECKPOINT));
  return saved && { end: saved.journal, inputs: savedInputs(saved) };
}

/** Commits: the journal ends at `end`, the inputs stand at `inputs` (an atomic rename). */
export function writeCommit(
  dir: string,
  end: Position,
  inputs: Record<string, InputCheckpoint>,
): void {
  const record: CheckpointFile = { journal: end, inputs };
  writeFileAtomicSync(joinPath(dir, CHECKPOINT), JSON.stringify(record));
}

/** The inputs' checkpoints of a checkpoint file, whichever version wrote it. */
function savedInputs(saved: CheckpointFile): Record<string, InputCheckpoint> {
  if (saved.inputs) return saved.inputs;
  if (!saved.input) return {};
  const { line, ...state } = saved.input;
  return { input: { state: state as JsonValue, line: line ?? 0 } };
}
