/**
 * System events the engine tells outputs about (`integration_broken`, `disable_integration`,
 * `delete_integration`, `hits_dropped`), the announcement of lost hits at most once an hour, and
 * the hourly report.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { SystemEvent } from "../sdk/output.ts";
import type { DisabledBy } from "./output_state.ts";

const HOUR = 3_600_000;

/** An output was auto-disabled: `integration_broken`. */
export function integrationBroken(
  name: string,
  type: string,
  window: { ratio: number; requests: number; failures: number },
  lastError: string,
  time: number,
): SystemEvent {
  return {
    kind: "system",
    name: "integration_broken",
    summary: `Integration "${name}" (${type}) is broken and was disabled`,
    details: {
      integration: name,
      type,
      failure_ratio: Math.round(window.ratio * 1000) / 1000,
      requests: window.requests,
      failed_requests: window.failures,
      last_error: lastError,
    },
    time,
  };
}

/** An output was turned off: `disable_integration`. */
export function disableIntegration(
  name: string,
  type: string,
  by: DisabledBy,
  time: number,
): SystemEvent {
  return {
    kind: "system",
    name: "disable_integration",
    summary: `Integration "${name}" (${type}) was disabled`,
    details: { integration: name, type, by },
    time,
  };
}

/** An output left the config: `delete_integration`. */
export function deleteIntegration(name: string, type: string, time: number): SystemEvent {
  return {
    kind: "system",
    name: "delete_integration",
    summary: `Integration "${name}" (${type}) was deleted`,
    details: { integration: name, type },
    time,
  };
}

/** Why hits were lost for an output. */
export type LossReason = "journal_full" | "skipped_while_disabled";

/**
 * Announces lost hits of one output in a `hits_dropped` event, at most once an hour: the first
 * loss at once, what comes within the hour after an event with the next one.
 */
export class LossAnnouncer {
  readonly #clock: Clock;
  readonly #stopping: AbortSignal;
  readonly #announce: (lost: Record<LossReason, number>) => void;
  #unannounced: Record<LossReason, number> = { journal_full: 0, skipped_while_disabled: 0 };
  #waiting = false;
  #announcedAt = -Infinity;

  /**
   * An announcer with nothing lost yet.
   *
   * @param stopping Aborts when the engine stops: an announcement waiting then is not made.
   * @param announce Sends the event, with the hits lost since the last one.
   */
  constructor(
    clock: Clock,
    stopping: AbortSignal,
    announce: (lost: Record<LossReason, number>) => void,
  ) {
    this.#clock = clock;
    this.#stopping = stopping;
    this.#announce = announce;
  }

  /** Counts `hits` lost for `reason`, announced now or within the hour. */
  add(hits: number, reason: LossReason): void {
    if (hits <= 0) return;
    this.#unannounced[reason] += hits;
    if (this.#waiting) return;
    const wait = this.#announcedAt + HOUR - this.#clock.now();
    if (wait <= 0) return this.#flush();
    this.#waiting = true;
    this.#clock.sleep(wait, this.#stopping).then(() => this.#flush(), () => {});
  }

  #flush(): void {
    this.#waiting = false;
    this.#announcedAt = this.#clock.now();
    const lost = this.#unannounced;
    this.#unannounced = { journal_full: 0, skipped_while_disabled: 0 };
    this.#announce(lost);
  }
}

/** `hits_dropped`: hits an output lost (its totals too). */
export function hitsDropped(
  name: string,
  type: string,
  lost: Record<LossReason, number>,
  totals: { dropped_hits: number; skipped_hits: number },
  time: number,
): SystemEvent {
  const count = lost.journal_full + lost.skipped_while_disabled;
  return {
    kind: "system",
    name: "hits_dropped",
    summary: `Integration "${name}" (${type}) lost ${count} hits`,
    details: {
      integration: name,
      type,
      dropped_hits: lost.journal_full,
      skipped_hits: lost.skipped_while_disabled,
      dropped_hits_total: totals.dropped_hits,
      skipped_hits_total: totals.skipped_hits,
    },
    time,
  };
}

/** What the hourly report counts. */
export interface ReportCounts {
  lines: number;
  hits: number;
  rejected: number;
  /** Hits delivered, by output. */
  delivered: Record<string, number>;
}

/**
 * Every hour until `signal` aborts, an `hourly_report` event with what the last hour processed.
 *
 * @param counts The totals now; the report gives the difference to an hour ago.
 */
export async function reportEveryHour(
  clock: Clock,
  signal: AbortSignal,
  counts: () => ReportCounts,
  emit: (event: SystemEvent) => void,
): Promise<void> {
  let last = { at: clock.now(), ...counts() };
  for (;;) {
    try {
      await clock.sleep(HOUR, signal);
    } catch {
      return;
    }
    const now = { at: clock.now(), ...counts() };
    const delivered = Object.fromEntries(
      Object.entries(now.delivered).map(([name, n]) => [name, n - (last.delivered[name] ?? 0)]),
    );
    const hits = now.hits - last.hits;
    emit({
      kind: "report",
      name: "hourly_report",
      summary: `hitship read ${hits} hits in the last hour`,
      details: {
        period_start: new Date(last.at).toISOString(),
        period_end: new Date(now.at).toISOString(),
        lines_read: now.lines - last.lines,
        hits_read: hits,
        hits_rejected: now.rejected - last.rejected,
        delivered,
      },
      time: now.at,
    });
    last = now;
  }
}
