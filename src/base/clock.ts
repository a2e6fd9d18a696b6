/**
 * Time for hitship: every timer of the engine's behaviour (retry intervals, batch intervals,
 * rate limits, the failure window, hourly events, waits for journal space, the endpoint's
 * timeouts, polls of a tailed file) goes through a {@linkcode Clock}, so tests run the whole retry
 * schedule and the 12-hour window in virtual time. Two waits stay on real time: the pacing of
 * status-file writes and the event-loop turn the input gives the outputs; neither is behaviour.
 *
 * @module
 */

/** The source of time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds, or rejects with the signal's reason when it aborts first.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("Aborted", "AbortError");
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
};

interface Timer {
  at: number;
  order: number;
  resolve: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in order of their due time as
 * {@linkcode FakeClock.advance} passes them, with the event loop given a turn after each, so the
 * code under test runs as it would in real time.
 *
 * @example
 * ```ts
 * import { FakeClock } from "./clock.ts";
 * const clock = new FakeClock(0);
 * const done = clock.sleep(1000).then(() => clock.now());
 * await clock.advance(1000);
 * console.log(await done); // 1000
 * ```
 */
export class FakeClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #order = 0;
  #waiters: Array<{ count: number; resolve: () => void }> = [];

  /**
   * A clock standing at `start` until it is moved.
   *
   * @param start The starting time in epoch milliseconds. @default 1_700_000_000_000
   */
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  /** The virtual time, Unix ms. */
  now(): number {
    return this.#now;
  }

  /** Resolves when virtual time has moved on by `ms`; rejects when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        order: this.#order++,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(abortReason(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#timers.push(timer);
      this.#timers.sort((a, b) => a.at - b.at || a.order - b.order);
      this.#notify();
    });
  }

  /** How many timers are waiting. */
  get pending(): number {
    return this.#timers.length;
  }

  /** When the next timer is due, or `undefined` when none waits. */
  get nextAt(): number | undefined {
    return this.#timers[0]?.at;
  }

  /** Resolves once at least `count` timers are waiting (the code under test has gone idle). */
  waitForTimers(count = 1): Promise<void> {
    if (this.#timers.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    while (this.#timers.length > 0 && this.#timers[0]!.at <= target) {
      const timer = this.#timers.shift()!;
      this.#now = Math.max(this.#now, timer.at);
      timer.resolve();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Moves time to the next timer and fires it (and any due at the same moment). */
  async next(): Promise<void> {
    const at = this.nextAt;
    if (at === undefined) return;
    await this.advance(at - this.#now);
  }

  #notify(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#timers.length >= w.count) {
        w.resolve();
        return false;
      }
      return true;
    });
  }
}

/** Lets pending promise chains and ready I/O callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
