/**
 * An output's state, as a pure unit: its cursor in the journal, the batch in flight, whether it
 * is off and since when, the span it passes over, and what that makes of the journal for it (the
 * hits it has still to deliver, the spans it still needs, what it drops or skips). No I/O but the
 * file it is kept in, `data_dir/outputs/NAME.json` (its persistence format), and the
 * enable/disable requests that `hitship enable` and `hitship disable` leave beside it.
 *
 * @module
 */
import { joinPath, readJsonFile, writeFileAtomic } from "../base/fs.ts";
import type { Position } from "../journal/position.ts";
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
  counters:
    & Pick<
      OutputStatus,
      "delivered_hits" | "requests" | "failed_requests" | "dropped_hits" | "skipped_hits"
    >
    & { rejected_hits?: number };
  last_error: string | null;
  /** When the output left the config (`delete_integration` was sent), or `null`. */
  removed_at?: string | null;
}

/** What an output's state is relative to: the journal's end, and the output's own rules. */
export interface StateRules {
  /** The output takes hits (its `events` include `hits`). */
  takesHits: boolean;
  /** `while_disabled: skip`: what comes while it is off is passed over. */
  skipsWhileOff: boolean;
}

/**
 * The state of one output: where it stands, whether it is on, what it passes over; the
 * arithmetic of what that leaves it to deliver. Every change is a method; `file` is what is kept.
 */
export class OutputState {
  /** What is kept in the state file. */
  file: OutputStateFile;
  readonly #rules: StateRules;

  /** A fresh state of an output of `type`, at `cursor`. */
  constructor(type: string, cursor: Position, rules: StateRules) {
    this.file = newOutputState(type, cursor);
    this.#rules = rules;
  }

  /** Where it stands: its next batch starts here. */
  get cursor(): Position {
    return this.file.cursor;
  }

  /** True while the output is off. */
  get disabled(): boolean {
    return this.file.disabled !== null;
  }

  /**
   * Takes up a state read from its file. When the journal no longer holds its cursor (the output
   * was out of the config while its segments were deleted), it resumes at the journal's oldest
   * line, with nothing in flight.
   *
   * @returns How many hits were lost that way, or 0.
   */
  restore(saved: OutputStateFile, journalStart: Position): number {
    this.file = { ...this.file, ...saved, type: this.file.type, removed_at: null };
    if (this.file.cursor.offset >= journalStart.offset) return 0;
    const lost = journalStart.seq - this.file.cursor.seq;
    this.file.cursor = { ...journalStart };
    this.file.intent = null;
    this.file.skip = null;
    this.file.disabled_at = null;
    return lost;
  }

  /** Where the hits it will take end: the journal's end, or, skipping, where it went off. */
  takesUntil(end: Position): Position {
    const at = this.file.disabled_at;
    return at && this.#rules.skipsWhileOff ? at : end;
  }

  /** Hits from `from` to `to` that it takes: all of them but the span it passes over. */
  #taken(from: Position, to: Position): number {
    let n = to.seq - from.seq;
    const skip = this.file.skip;
    if (skip && !this.disabled) {
      n -= Math.max(0, Math.min(skip.to.seq, to.seq) - Math.max(skip.from.seq, from.seq));
    }
    return Math.max(0, n);
  }

  /** Hits of the journal (ending at `end`) it has still to deliver. */
  pending(end: Position): number {
    if (!this.#rules.takesHits) return 0;
    return this.#taken(this.file.cursor, this.takesUntil(end));
  }

  /** Spans of the journal (ending at `end`) it will still read. */
  neededRanges(end: Position): Array<{ from: number; to: number }> {
    if (!this.#rules.takesHits) return [];
    const from = this.file.cursor.offset;
    const until = this.takesUntil(end);
    if (until !== end) return [{ from, to: until.offset }];
    const skip = this.file.skip;
    if (skip && skip.to.offset > from) {
      return [{ from, to: skip.from.offset }, { from: skip.to.offset, to: Infinity }];
    }
    return [{ from, to: Infinity }];
  }

  /** Turns it off at the journal's `end` (when it was on), for `by`. */
  turnOff(by: DisabledBy, end: Position): void {
    if (this.file.disabled === null) this.file.disabled_at = { ...end };
    this.file.disabled = by;
  }

  /**
   * Turns it back on at the journal's `end`: it resumes from its cursor. With `skipsWhileOff` it
   * passes over what came while it was off.
   *
   * @returns How many hits it skips that way.
   */
  turnOn(end: Position): number {
    const at = this.file.disabled_at;
    let skipped = 0;
    if (at && this.#rules.skipsWhileOff) {
      const cursor = this.file.cursor;
      if (end.offset > at.offset && end.offset > cursor.offset) {
        const from = cursor.offset > at.offset ? cursor : at;
        this.file.skip = { from, to: { ...end } };
        skipped = this.#rules.takesHits ? end.seq - from.seq : 0;
      }
    }
    this.file.disabled = null;
    this.file.disabled_at = null;
    return skipped;
  }

  /** Moves the cursor over a span it does not take; past the skipped span, that span is done. */
  skipTo(position: Position): void {
    this.file.cursor = position;
    if (this.file.skip && position.offset >= this.file.skip.to.offset) this.file.skip = null;
  }

  /**
   * Drops the hits before `position` for this output alone (the journal is full and the output
   * is off): the cursor moves there, and a batch cut in that span is given up.
   *
   * @returns How many hits it lost.
   */
  dropThrough(position: Position, end: Position): number {
    const cursor = this.file.cursor;
    if (position.offset <= cursor.offset) return 0;
    const until = this.takesUntil(end);
    const dropped = this.#taken(cursor, until.offset < position.offset ? until : position);
    const intent = this.file.intent;
    if (intent && intent.from.offset < position.offset) this.file.intent = null;
    this.skipTo(position);
    return dropped;
  }

  /** The batch in flight was delivered: the cursor moves past it. */
  delivered(intent: BatchIntent): void {
    this.file.cursor = intent.to;
    this.file.intent = null;
  }
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
