/**
 * Appending an input's lines to the journal, waiting while it or the disk is full, and giving the
 * event loop its turns while an input keeps it busy.
 *
 * @module
 */
import type { Logger } from "../base/log.ts";
import type { InputCheckpoint, Journal } from "../journal/journal.ts";
import type { InputStatus, StatusBoard } from "../status/status.ts";

/**
 * Lets the event loop turn (the outputs' network I/O, timers) when an input has kept it busy
 * for 20 ms: a file read synchronously, or a backlog, would otherwise starve the outputs until
 * the input ends. A zero-delay timer armed at one chunk shows at the next whether the loop turned
 * in between; only when it has not is it waited for.
 */
export class Fairness {
  #turn: Promise<void> | undefined;
  #turned = false;
  #turnArmedAt = 0;

  /** Waits for the event loop's turn, when the input has kept it for 20 ms. */
  async turn(): Promise<void> {
    if (this.#turn && !this.#turned) {
      if (performance.now() - this.#turnArmedAt < 20) return;
      await this.#turn;
    }
    this.#turned = false;
    this.#turnArmedAt = performance.now();
    this.#turn = new Promise((resolve) =>
      setTimeout(() => {
        this.#turned = true;
        resolve();
      }, 0)
    );
  }
}

/** What one append writes and commits. */
export interface Entry {
  lines: Uint8Array[];
  raw?: Uint8Array | undefined;
  rawCount: number;
  rawEnds?: Int32Array | undefined;
  input: string;
  checkpoint?: InputCheckpoint | undefined;
}

/** What the appender works with. */
export interface AppenderOptions {
  journal: Journal;
  status: StatusBoard;
  logger: Logger;
  /** Past this many journal bytes the input waits for outputs to catch up. @default unlimited */
  maxJournalBytes?: number;
  /** Frees a segment that no output that is on needs; true when it freed one. */
  makeRoom?: () => Promise<boolean>;
  /** Called when the input goes on after it waited for room. */
  onResume?: () => void;
}

/** Appends to the journal, with backpressure. */
export class Appender {
  readonly #options: AppenderOptions;

  /** An appender to `options.journal`. */
  constructor(options: AppenderOptions) {
    this.#options = options;
  }

  /**
   * Appends to the journal, waiting while it is full (backpressure) or the disk is full: the
   * input is not read meanwhile, and nothing is dropped. With `wait` false, a full journal or disk
   * returns false instead (a sender is told to send again).
   *
   * @param counters The input's counters: `paused` while it waits.
   */
  async append(entry: Entry, counters: InputStatus, wait = true): Promise<boolean> {
    const { journal, status, logger } = this.#options;
    const limit = this.#options.maxJournalBytes ?? Infinity;
    let reported = false;
    for (;;) {
      // Releases since this look wake the wait below at once: none is missed in between.
      const seen = journal.releases;
      if (journal.bytes >= limit && entry.lines.length + entry.rawCount > 0) {
        if (await this.#options.makeRoom?.()) continue;
        if (!wait) return false;
        if (!counters.paused) {
          counters.paused = true;
          logger.warn("The journal is full: reading pauses until outputs catch up", {
            journal_bytes: journal.bytes,
            max_journal_bytes: limit,
          });
          await status.stateChanged();
        }
        await journal.waitForSpace(1000, seen);
        continue;
      }
      try {
        await journal.append(entry);
        break;
      } catch (error) {
        const message = (error as Error).message;
        if (!/os error 28|ENOSPC|No space left/i.test(message)) throw error;
        if (await this.#options.makeRoom?.()) continue;
        if (!wait) return false;
        if (!reported) {
          reported = true;
          logger.error(`Cannot write the journal: the disk is full; reading pauses`, {
            error: message,
          });
        }
        counters.paused = true;
        await status.stateChanged();
        await journal.waitForSpace(1000, seen);
      }
    }
    if (counters.paused) {
      counters.paused = false;
      this.#options.onResume?.();
      logger.info("Reading resumes");
      await status.stateChanged();
    }
    return true;
  }
}
