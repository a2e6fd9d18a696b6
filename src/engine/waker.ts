/**
 * How a delivery loop waits: for new lines, a timer, or a wake-up; and how a state change cuts
 * short whatever it waits on (a request, a retry wait) and wakes it.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Journal } from "../journal/journal.ts";

/** Ends a wait: a constant reason spares creating a `DOMException` (and its stack) each time. */
const DONE = new Error("done");

/** Wakes one loop, and interrupts what it does. */
export class Waker {
  readonly #clock: Clock;
  readonly #journal: Journal;
  /** Ends an idle wait. */
  #waiter: (() => void) | undefined;
  #poked = false;
  /** Aborted by a state change: cuts short a request, a retry wait, a rate-limit wait. */
  #interruptor = new AbortController();

  /** A waker for a loop that waits on `journal` and `clock`. */
  constructor(clock: Clock, journal: Journal) {
    this.#clock = clock;
    this.#journal = journal;
  }

  /** Aborts at the next state change. */
  get interruption(): AbortSignal {
    return this.#interruptor.signal;
  }

  /** Wakes an idle wait (or the next one): new work may be there. */
  wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter();
    else this.#poked = true;
  }

  /** Forgets a wake-up that came while the loop was busy (it is about to wait on purpose). */
  forget(): void {
    this.#poked = false;
  }

  /** A state change: cuts short the request in flight and any wait, and wakes the loop. */
  interrupt(): void {
    this.#interruptor.abort(new Error("the output's state changed"));
    this.#interruptor = new AbortController();
    this.wake();
  }

  /**
   * Waits for something to do: a wake-up, lines past `journalOffset`, or the clock reaching
   * `until` (both optional). Returns at once after a wake-up that came meanwhile.
   */
  async idle(until?: number, journalOffset?: number): Promise<void> {
    if (this.#poked) {
      this.#poked = false;
      return;
    }
    const done = new AbortController();
    const waits: Promise<unknown>[] = [new Promise<void>((resolve) => (this.#waiter = resolve))];
    if (journalOffset !== undefined) {
      waits.push(this.#journal.waitFor(journalOffset, done.signal).catch(() => {}));
    }
    if (until !== undefined) {
      const wait = Math.max(0, until - this.#clock.now());
      waits.push(this.#clock.sleep(wait, done.signal).catch(() => {}));
    }
    await Promise.race(waits);
    done.abort(DONE);
    this.#waiter = undefined;
  }
}
