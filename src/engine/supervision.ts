/**
 * The supervision every output shares: the node's retry schedule and the sliding window of
 * requests that auto-disables an output whose requests keep failing.
 *
 * @module
 */

/** The retry schedule: cycles of intervals between attempts of one batch, then a fixed one. */
export class RetrySchedule {
  readonly #delays: number[];
  readonly #thenEvery: number;
  #failures = 0;

  /**
   * @param cycles Intervals in milliseconds, cycle after cycle.
   * @param thenEvery Interval after the last cycle, in milliseconds.
   */
  constructor(cycles: readonly (readonly number[])[], thenEvery: number) {
    this.#delays = cycles.flat();
    this.#thenEvery = thenEvery;
  }

  /** Failed attempts since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /** Counts a failure and returns how long to wait before the next attempt. */
  next(): number {
    const delay = this.#delays[this.#failures] ?? this.#thenEvery;
    this.#failures++;
    return delay;
  }

  /** A success starts the schedule over. */
  reset(): void {
    this.#failures = 0;
  }
}

/** Options of {@linkcode FailureWindow}. */
export interface FailureWindowOptions {
  /** Length of the sliding window, milliseconds. */
  window: number;
  /** Requests in the window before the ratio counts. */
  minRequests: number;
  /** Share of failures that disables the output. */
  failureRatio: number;
}

/** Counts of one second of requests. */
type Bucket = [second: number, requests: number, failures: number];

/**
 * Requests and failures over a sliding window, kept per second so memory stays bounded whatever
 * the request rate.
 *
 * @example
 * ```ts
 * import { FailureWindow } from "./supervision.ts";
 * const w = new FailureWindow({ window: 43_200_000, minRequests: 10, failureRatio: 0.6 });
 * for (let i = 0; i < 10; i++) w.record(i < 6, 1000 * i);
 * w.tripped(10_000); // true: 6 of 10 failed
 * ```
 */
export class FailureWindow {
  readonly options: FailureWindowOptions;
  #buckets: Bucket[] = [];
  #requests = 0;
  #failures = 0;

  constructor(options: FailureWindowOptions) {
    this.options = options;
  }

  /** Counts one request at `now` (Unix ms). */
  record(failed: boolean, now: number): void {
    const second = Math.floor(now / 1000);
    let last = this.#buckets.at(-1);
    if (!last || last[0] !== second) {
      last = [second, 0, 0];
      this.#buckets.push(last);
    }
    last[1]++;
    this.#requests++;
    if (failed) {
      last[2]++;
      this.#failures++;
    }
    this.#expire(now);
  }

  #expire(now: number): void {
    const oldest = Math.floor((now - this.options.window) / 1000);
    let drop = 0;
    while (drop < this.#buckets.length && this.#buckets[drop]![0] <= oldest) {
      this.#requests -= this.#buckets[drop]![1];
      this.#failures -= this.#buckets[drop]![2];
      drop++;
    }
    if (drop > 0) this.#buckets.splice(0, drop);
  }

  /** Requests and failures within the window ending at `now`. */
  counts(now: number): { requests: number; failures: number; ratio: number } {
    this.#expire(now);
    const ratio = this.#requests === 0 ? 0 : this.#failures / this.#requests;
    return { requests: this.#requests, failures: this.#failures, ratio };
  }

  /** True when enough requests were made and the failed share reached the ratio. */
  tripped(now: number): boolean {
    const { requests, ratio } = this.counts(now);
    return requests >= this.options.minRequests && ratio >= this.options.failureRatio - 1e-12;
  }

  /** The window's buckets, to persist across restarts. */
  toJSON(): Bucket[] {
    return this.#buckets.map((b) => [...b] as Bucket);
  }

  /** Restores buckets saved by {@linkcode FailureWindow.toJSON}. */
  restore(buckets: readonly Bucket[] | undefined, now: number): void {
    this.#buckets = (buckets ?? []).map((b) => [...b] as Bucket);
    this.#requests = this.#buckets.reduce((n, b) => n + b[1], 0);
    this.#failures = this.#buckets.reduce((n, b) => n + b[2], 0);
    this.#expire(now);
  }
}
