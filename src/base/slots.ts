/**
 * The connections of one server, at most so many at once. At the limit a new connection does not
 * simply lose: the one that has made no progress for longest (a stalled sender, an idle
 * keep-alive) is closed to make room, when it has made none for a while; only when every
 * connection is busy is the new one refused. So senders that stall cannot lock out one that sends.
 *
 * @module
 */
import type { Clock } from "./clock.ts";

interface Slot {
  /** Clock time of its last progress. */
  at: number;
  /** Doing work that must not be cut (a body being journaled): never closed to make room. */
  busy: boolean;
}

/** The open connections of a server, within a limit. */
export class ConnectionSlots<C extends { close(): void }> {
  readonly #max: number;
  readonly #clock: Clock;
  readonly #staleAfter: number;
  readonly #slots = new Map<C, Slot>();
  /** Connections closed to make room. */
  evicted = 0;

  /**
   * Slots for `max` connections.
   *
   * @param max Connections at once.
   * @param clock Where time comes from.
   * @param staleAfter A connection without progress for this long (ms) may be closed to make room.
   */
  constructor(max: number, clock: Clock, staleAfter = 1000) {
    this.#max = max;
    this.#clock = clock;
    this.#staleAfter = staleAfter;
  }

  /** Connections open now. */
  get size(): number {
    return this.#slots.size;
  }

  /**
   * Takes a slot for `conn`. At the limit, the connection longest without progress is closed, when
   * it has made none for `staleAfter`. False: every slot is in use by connections making progress.
   */
  admit(conn: C): boolean {
    const now = this.#clock.now();
    if (this.#slots.size >= this.#max) {
      let stalest: C | undefined;
      let oldest = now - this.#staleAfter;
      for (const [other, slot] of this.#slots) {
        if (!slot.busy && slot.at <= oldest) {
          oldest = slot.at;
          stalest = other;
        }
      }
      if (stalest === undefined) return false;
      this.release(stalest);
      this.evicted++;
      try {
        stalest.close();
      } catch {
        // closed already
      }
    }
    this.#slots.set(conn, { at: now, busy: false });
    return true;
  }

  /** `conn` made progress (read or wrote something). */
  progress(conn: C): void {
    const slot = this.#slots.get(conn);
    if (slot) slot.at = this.#clock.now();
  }

  /** `conn` does (or no longer does) work that must not be cut to make room. */
  busy(conn: C, busy: boolean): void {
    const slot = this.#slots.get(conn);
    if (slot) {
      slot.busy = busy;
      slot.at = this.#clock.now();
    }
  }

  /** Gives `conn`'s slot back. */
  release(conn: C): void {
    this.#slots.delete(conn);
  }

  /** Closes every connection. */
  closeAll(): void {
    for (const conn of this.#slots.keys()) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
    this.#slots.clear();
  }
}
