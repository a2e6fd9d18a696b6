/**
 * What an output's runner may ask of the engine it runs in, and nothing more.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { Journal } from "../journal/journal.ts";
import type { RejectedHit, SystemEvent } from "../sdk/output.ts";
import type { Telemetry } from "../status/telemetry.ts";

/** What a runner may ask of the engine it runs in, and nothing more. */
export interface RunnerHost {
  readonly journal: Journal;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Histograms for `/metrics`. */
  readonly telemetry: Telemetry;
  /** Aborts when the engine stops: the runner's own timers end with it. */
  readonly stopping: AbortSignal;
  /** The status file: counters changed (written within a second), a state changed (now). */
  readonly status: { changed(): void; stateChanged(): Promise<void> };
  /** The other outputs. */
  readonly peers: {
    /** Tells those that take the event's kind. */
    emit(event: SystemEvent, from: string): void;
    /** True once every output has delivered its hits (at the end of the input). */
    allHitsDone(): boolean;
    /** Wakes every output (this one has finished its hits). */
    pokeAll(): void;
  };
  /** Deletes the journal segments no output needs any more. */
  releaseSegments(): Promise<void>;
  /** True while the input waits for room in the journal. */
  full(): boolean;
  /**
   * Writes the hits `output`'s receiver refused for good to the dead-letter file.
   *
   * @returns How many records could not be written (the file warns about it).
   */
  refused(output: string, hits: readonly RejectedHit[]): Promise<number>;
}
