/**
 * The supervision every output shares: the node's retry schedule and the sliding window of
 * requests that auto-disables an output whose requests keep failing.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { SendResult } from "../sdk/output.ts";

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

/** Options of {@linkcode Supervisor}. */
export interface SupervisorOptions {
  /** Retry intervals in ms, cycle after cycle. */
  cycles: readonly (readonly number[])[];
  /** Interval after the last cycle, ms. */
  thenEvery: number;
  /** The failure window and when it disables the output. */
  window: number;
  minRequests: number;
  failureRatio: number;
  /** Requests per minute at most. @default unlimited */
  ratePerMinute?: number;
  clock: Clock;
}

/** A request that did not succeed. */
type Failed = Extract<SendResult, { ok: false }>;

/** What one supervised request came to. */
export type Outcome =
  /** A 2xx: the schedule starts over. */
  | { kind: "delivered"; result: SendResult }
  /** A failure: the same request goes again after `delay` ms. */
  | { kind: "failed"; result: Failed; delay: number }
  /** A failure that brought the failed share of the window to the ratio: auto-disable. */
  | {
    kind: "broken";
    result: Failed;
    window: { ratio: number; requests: number; failures: number };
  }
  /** Cut short (a stop, the output turned off) before an answer: not counted. */
  | { kind: "interrupted" };

/**
 * The supervision every output gets, as one unit: requests per minute at most, one request at a
 * time, every answer counted in the failure window, the retry schedule's interval after a failure,
 * and the verdict that the output is broken. The plugin only sends; it never retries or sleeps.
 *
 * @example
 * ```ts
 * import { FakeClock } from "../base/clock.ts";
 * import { Supervisor } from "./supervision.ts";
 * const supervisor = new Supervisor({
 *   cycles: [[1000, 3000]], thenEvery: 60_000, window: 43_200_000, minRequests: 10,
 *   failureRatio: 0.6, clock: new FakeClock(),
 * });
 * const outcome = await supervisor.attempt(
 *   () => Promise.resolve({ ok: false, error: "HTTP 500" }),
 *   new AbortController().signal,
 * );
 * console.log(outcome.kind === "failed" && outcome.delay); // 1000
 * ```
 */
export class Supervisor {
  readonly schedule: RetrySchedule;
  readonly window: FailureWindow;
  readonly #clock: Clock;
  readonly #rate: number | undefined;
  /** When the requests of the last minute were made (for the rate limit). */
  readonly #sentAt: number[] = [];

  constructor(options: SupervisorOptions) {
    this.schedule = new RetrySchedule(options.cycles, options.thenEvery);
    this.window = new FailureWindow({
      window: options.window,
      minRequests: options.minRequests,
      failureRatio: options.failureRatio,
    });
    this.#clock = options.clock;
    this.#rate = options.ratePerMinute;
  }

  /**
   * One request under supervision: waits until it fits the rate limit, sends it with a signal
   * that `interrupt` aborts, and counts the answer. A failure says when to send again (or that
   * the output is broken); the caller records it, then calls {@linkcode Supervisor.wait}.
   */
  async attempt(
    send: (signal: AbortSignal) => Promise<SendResult>,
    interrupt: AbortSignal,
  ): Promise<Outcome> {
    if (!await this.#admit(interrupt)) return { kind: "interrupted" };
    const abort = new AbortController();
    const onInterrupt = () => abort.abort(interrupt.reason);
    interrupt.addEventListener("abort", onInterrupt, { once: true });
    if (interrupt.aborted) onInterrupt(); // between admission and here
    let result: SendResult;
    try {
      result = await send(abort.signal);
    } catch (error) {
      result = { ok: false, error: (error as Error)?.message ?? String(error) };
    } finally {
      interrupt.removeEventListener("abort", onInterrupt);
    }
    // Cut short: not the output's failure. A request that succeeded all the same is delivered.
    if (abort.signal.aborted && !result.ok) return { kind: "interrupted" };
    const now = this.#clock.now();
    this.window.record(!result.ok, now);
    if (result.ok) {
      this.schedule.reset();
      return { kind: "delivered", result };
    }
    if (this.window.tripped(now)) {
      this.schedule.reset();
      return { kind: "broken", result, window: this.window.counts(now) };
    }
    return { kind: "failed", result, delay: this.schedule.next() };
  }

  /** Waits out a retry interval, or until `interrupt` aborts. */
  async wait(delay: number, interrupt: AbortSignal): Promise<void> {
    await this.#clock.sleep(delay, interrupt).catch(() => {});
  }

  /** Waits until one more request fits in the rate limit; false when interrupted first. */
  async #admit(interrupt: AbortSignal): Promise<boolean> {
    const rate = this.#rate;
    if (!rate) return !interrupt.aborted;
    const clock = this.#clock;
    const sent = this.#sentAt;
    while (sent.length > 0 && sent[0]! <= clock.now() - 60_000) sent.shift();
    if (sent.length >= rate) {
      await clock.sleep(sent[0]! + 60_000 - clock.now(), interrupt).catch(() => {});
      if (interrupt.aborted) return false;
      sent.shift();
    }
    if (interrupt.aborted) return false;
    sent.push(clock.now());
    return true;
  }
}
