/**
 * Room in the journal: segments that no output needs any more are deleted; when the journal or
 * the disk is full, the oldest segment is freed where only outputs that are off still need it
 * (their hits in it are dropped for them alone, counted), or the outputs that are on are told to
 * cut their batches now.
 *
 * @module
 */
import type { Journal } from "../journal/journal.ts";
import type { StatusBoard } from "../status/status.ts";
import type { OutputRunner } from "./runner.ts";

/** The journal's room, as the outputs leave it. */
export class JournalRoom {
  readonly #journal: Journal;
  readonly #status: StatusBoard;
  readonly #maxBytes: () => number;
  readonly #runners: () => readonly OutputRunner[];
  /** The journal is full and an output that is on holds its oldest segment. */
  full = false;

  /**
   * The room of `journal`, among `runners()`, at most `maxBytes()`.
   *
   * @param status Where the journal's size is shown.
   */
  constructor(
    journal: Journal,
    status: StatusBoard,
    maxBytes: () => number,
    runners: () => readonly OutputRunner[],
  ) {
    this.#journal = journal;
    this.#status = status;
    this.#maxBytes = maxBytes;
    this.#runners = runners;
  }

  /**
   * Frees the oldest journal segment when only outputs that are off still need it, or when no
   * output needs it at all (the active segment is rolled first). The input calls it when the
   * journal or the disk is full.
   *
   * @returns True when a segment was freed; false when an output that is on still needs it (it
   * is woken, with `full` set, to cut its batch now rather than wait for the interval, which the
   * full journal would not let end).
   */
  async make(pokeAll: () => void): Promise<boolean> {
    const journal = this.#journal;
    const oldest = journal.oldest;
    if (oldest.end.offset <= oldest.start.offset) return false; // nothing in it
    const holders = this.#runners().filter((r) => r.needs(oldest.start.offset, oldest.end.offset));
    if (holders.some((r) => !r.disabled)) {
      this.full = true;
      pokeAll();
      return false;
    }
    if (oldest.active) {
      try {
        journal.roll();
      } catch {
        return false; // no new segment can be made (a full disk): the input waits
      }
    }
    for (const runner of holders) await runner.dropThrough(oldest.end);
    const before = journal.segmentCount;
    await this.release();
    return journal.segmentCount < before;
  }

  /** Deletes the journal segments no output needs any more. */
  async release(): Promise<void> {
    const journal = this.#journal;
    await journal.retain(this.#runners().flatMap((r) => r.neededRanges()));
    this.#status.journal.bytes = journal.bytes;
    this.#status.journal.segments = journal.segmentCount;
    // Room again: outputs go back to their intervals (a server input never pauses to say so).
    if (journal.bytes < this.#maxBytes()) this.full = false;
  }
}
