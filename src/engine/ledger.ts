/**
 * The books of one output: its state (where it stands, whether it is on) and its status figures,
 * kept together and saved in its state file. Every change of either goes through here: turning
 * it on or off, a delivered batch, a request's outcome, hits dropped or skipped. The delivery loop
 * (`runner.ts`) asks; this keeps.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import { type Journal, ORIGIN, type Position } from "../journal/journal.ts";
import type { SendResult } from "../sdk/output.ts";
import { newOutputStatus, type OutputStatus } from "../status/status.ts";
import { LossAnnouncer, type LossReason } from "./events.ts";
import {
  type BatchIntent,
  type DisabledBy,
  OutputState,
  readOutputState,
  type StateRules,
  writeOutputState,
} from "./output_state.ts";
import type { Supervisor } from "./supervision.ts";

/** What the books are kept with. */
export interface LedgerOptions {
  /** The output's name and type. */
  name: string;
  type: string;
  /** The output's state file. */
  statePath: string;
  rules: StateRules;
  journal: Journal;
  clock: Clock;
  logger: Logger;
  /** The output's supervision: its failure window is kept here, its schedule read. */
  supervisor: Supervisor;
  /** Announces hits lost (dropped or skipped), at most once an hour. */
  losses: LossAnnouncer;
}

/** The state and status of one output. */
export class OutputLedger {
  readonly status: OutputStatus;
  readonly state: OutputState;
  readonly #options: LedgerOptions;

  /** Books of an output that has delivered nothing yet. */
  constructor(options: LedgerOptions) {
    this.#options = options;
    this.status = newOutputStatus(options.type);
    this.state = new OutputState(options.type, options.journal.end, options.rules);
  }

  /**
   * Restores the saved state. An output with no state starts at the journal's oldest line at
   * start-up, or at its end when `fresh` (added by a reload).
   */
  async load(fresh: boolean): Promise<void> {
    const { journal, clock, logger, name, supervisor } = this.#options;
    const saved = await readOutputState(this.#options.statePath);
    if (saved) {
      const lost = this.state.restore(saved, journal.start);
      if (lost > 0) {
        logger.warn(
          `Output "${name}" resumes at the journal's oldest line: what it had not delivered before it was removed from the config is gone`,
          { output: name, skipped_hits: lost },
        );
      }
    } else {
      this.state.file.cursor = fresh
        ? { ...journal.end }
        : journal.start.offset === 0
        ? ORIGIN
        : journal.start;
    }
    const file = this.state.file;
    supervisor.window.restore(file.window, clock.now());
    Object.assign(this.status, file.counters);
    this.status.last_error = file.last_error;
  }

  /** Writes the state file, with the counters and the failure window. */
  async save(): Promise<void> {
    const file = this.state.file;
    const s = this.status;
    file.window = this.#options.supervisor.window.toJSON();
    file.counters = {
      delivered_hits: s.delivered_hits,
      requests: s.requests,
      failed_requests: s.failed_requests,
      dropped_hits: s.dropped_hits,
      skipped_hits: s.skipped_hits,
      rejected_hits: s.rejected_hits,
    };
    file.last_error = s.last_error;
    await writeOutputState(this.#options.statePath, file);
  }

  /** Hits of the journal the output has still to deliver. */
  pending(): number {
    return this.state.pending(this.#options.journal.end);
  }

  /** The status figures, from the state, the supervision and the journal. */
  refresh(): void {
    const { journal, supervisor, clock } = this.#options;
    const s = this.status;
    const failures = supervisor.schedule.failures;
    const { ratio } = supervisor.window.counts(clock.now());
    s.failure_ratio = Math.round(ratio * 1000) / 1000;
    s.pending_hits = this.pending();
    const cursor = this.state.cursor;
    const pending = s.pending_hits > 0;
    s.pending_bytes = pending
      ? Math.max(0, this.state.takesUntil(journal.end).offset - cursor.offset)
      : 0;
    s.oldest_pending_at = pending
      ? new Date(journal.appendedAt(cursor.offset)).toISOString()
      : null;
    s.retry_attempt = failures;
    const disabled = this.state.file.disabled;
    if (disabled === "auto") s.state = "auto_disabled";
    else if (disabled) s.state = "disabled";
    else if (failures > 0) s.state = "retrying";
    else s.state = "active";
    if (s.state !== "retrying") s.next_retry_at = null;
  }

  /** Turns the output off (`hitship disable`, the config, or auto-disable). */
  turnOff(by: DisabledBy): void {
    this.state.turnOff(by, this.#options.journal.end);
  }

  /** Turns it back on: it resumes from its cursor (passing over what came while off, skipping). */
  turnOn(): void {
    this.#lost(this.state.turnOn(this.#options.journal.end), "skipped_while_disabled");
    this.#options.supervisor.schedule.reset();
  }

  /**
   * Drops the hits before `position` for this output alone (the journal is full and it is off):
   * counted, logged and announced.
   */
  dropThrough(position: Position): number {
    const dropped = this.state.dropThrough(position, this.#options.journal.end);
    this.#lost(dropped, "journal_full");
    this.#options.logger.warn(
      `The journal is full: dropped ${dropped} hits for output "${this.#options.name}", which is off`,
      { output: this.#options.name, dropped_hits: dropped },
    );
    return dropped;
  }

  /** Hits lost for `reason`: counted, and announced within the hour. */
  #lost(hits: number, reason: LossReason): void {
    if (reason === "journal_full") this.status.dropped_hits += hits;
    else this.status.skipped_hits += hits;
    this.#options.losses.add(hits, reason);
  }

  /** A request was answered 2xx. */
  succeeded(): void {
    this.status.requests++;
    this.status.last_success_at = new Date(this.#options.clock.now()).toISOString();
  }

  /** A request failed; `retryIn`: when it is tried again (ms), if it is. */
  failed(result: Extract<SendResult, { ok: false }>, retryIn?: number): void {
    this.status.requests++;
    this.status.failed_requests++;
    this.status.last_error = result.error;
    if (retryIn !== undefined) {
      this.status.next_retry_at = new Date(this.#options.clock.now() + retryIn).toISOString();
    }
  }

  /**
   * The batch in flight was delivered; `rejected` of its hits were refused for good by the
   * receiver (and are in the dead-letter file).
   */
  delivered(intent: BatchIntent, rejected = 0): void {
    this.state.delivered(intent);
    this.status.delivered_hits += intent.count - rejected;
    this.status.rejected_hits += rejected;
    this.status.last_error = null;
  }
}
