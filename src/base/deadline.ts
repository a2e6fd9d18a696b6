/**
 * A time limit on one connection: when it passes, the connection is closed, which ends whatever
 * read or write waits on it. One timer, set again only when the time changes.
 *
 * @module
 */
import type { Clock } from "./clock.ts";

/** An I/O call that the deadline cut short. */
export class Timeout extends Error {
  /** The error of a call cut short. */
  constructor() {
    super("timed out");
  }
}

/** Clears a deadline's timer: a constant reason spares creating a `DOMException` each time. */
const CLEARED = new Error("cleared");

/**
 * The time one connection has for what it does now (a request head, a body, a message, taking an
 * answer): when it passes, the connection is closed.
 *
 * @example
 * ```ts ignore
 * const deadline = new Deadline(conn, clock);
 * deadline.set(clock.now() + 10_000);
 * const n = await deadline.io(conn.read(buffer)); // throws Timeout when cut short
 * ```
 */
export class Deadline {
  readonly #conn: { close(): void };
  readonly #clock: Clock;
  #by = Infinity;
  /** The time the armed timer fires at. */
  #armedFor = Infinity;
  #stop: AbortController | undefined;
  /** The time passed and the connection was closed. */
  expired = false;

  /**
   * A deadline for one connection, not set yet.
   *
   * @param conn What to close when the time passes.
   * @param clock Where time comes from.
   */
  constructor(conn: { close(): void }, clock: Clock) {
    this.#conn = conn;
    this.#clock = clock;
  }

  /** The time it is set to (clock time), or Infinity. */
  get by(): number {
    return this.#by;
  }

  /**
   * Closes the connection at `by` (clock time), unless set again first. A later time than the one
   * a timer is armed for does not arm a new one: when that timer fires, it waits on for the rest
   * (a deadline that moves with every read costs one timer, not one a read).
   */
  set(by: number): void {
    if (by === this.#by) return;
    const armed = this.#armedFor;
    this.#by = by;
    if (this.#stop && by >= armed) return;
    this.#arm(by);
  }

  #arm(at: number): void {
    this.#stop?.abort(CLEARED);
    const stop = new AbortController();
    this.#stop = stop;
    this.#armedFor = at;
    this.#clock.sleep(Math.max(1, at - this.#clock.now()), stop.signal).then(() => {
      if (this.#stop !== stop) return;
      if (this.#clock.now() < this.#by) {
        this.#arm(this.#by); // moved later meanwhile
        return;
      }
      this.expired = true;
      try {
        this.#conn.close();
      } catch {
        // closed already
      }
    }, () => {});
  }

  /** No time limit until set again. */
  clear(): void {
    this.#stop?.abort(CLEARED);
    this.#stop = undefined;
    this.#by = Infinity;
    this.#armedFor = Infinity;
  }

  /** Runs an I/O call; one the deadline cut short throws {@linkcode Timeout}. */
  async io<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      if (this.expired) throw new Timeout();
      throw error;
    }
  }
}
