/**
 * What the journal remembers of this run's appends: positions between them, at least 256 KiB
 * apart, so that a batch is cut without counting every line before its end; and when they were
 * made, to the second, for the age of what an output has still to deliver.
 *
 * @module
 */
import type { Position } from "./position.ts";

const MARK_BYTES = 256 * 1024;

/** The index of the last item whose key is at most `value` (items sorted by key), or -1. */
function lastAtOrBefore<T>(items: readonly T[], value: number, key: (item: T) => number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(items[mid]!) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Positions and times of one run's appends. */
export class AppendIndex {
  /** Positions between appends, at least `MARK_BYTES` apart. */
  #marks: Position[] = [];
  /**
   * [end offset, clock time of the first append of a second], one entry per second at most (a
   * later append of that second moves its end).
   */
  #times: Array<[number, number]> = [];
  readonly #openedAt: number;
  readonly #openedEnd: number;

  /** The index of a journal opened at `openedAt` (clock time) with its end at `openedEnd`. */
  constructor(openedAt: number, openedEnd: number) {
    this.#openedAt = openedAt;
    this.#openedEnd = openedEnd;
  }

  /** An append ended at `end`, at `now`. */
  add(end: Position, now: number): void {
    const lastMark = this.#marks.at(-1);
    if (end.offset - (lastMark?.offset ?? 0) >= MARK_BYTES) this.#marks.push(end);
    const last = this.#times.at(-1);
    if (last && now - last[1] < 1000) last[0] = end.offset;
    else this.#times.push([end.offset, now]);
  }

  /** The journal before `offset` is gone. */
  forgetBefore(offset: number): void {
    const gone = this.#marks.findIndex((m) => m.offset >= offset);
    this.#marks.splice(0, gone < 0 ? this.#marks.length : gone);
    const past = this.#times.findIndex(([to]) => to > offset);
    this.#times.splice(0, past < 0 ? this.#times.length : past);
  }

  /**
   * When the line at `offset` was appended (clock time, to the second): for lines journaled before
   * the journal was opened, when it was opened.
   */
  appendedAt(offset: number): number {
    const times = this.#times;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid]![0] > offset) hi = mid;
      else lo = mid + 1;
    }
    // The first group that ends past `offset` holds it; lines from before the open, none.
    const group = times[lo];
    return group && offset >= this.#openedEnd ? group[1] : this.#openedAt;
  }

  /**
   * The furthest known position after `from` and up to `limit` (both line starts) with fewer than
   * `lines` lines and fewer than `bytes` line bytes (terminators not counted) between it and
   * `from`; `from` itself when none is known.
   */
  skipAhead(from: Position, limit: Position, lines: number, bytes: number): Position {
    const marks = this.#marks;
    // From the last mark up to `limit`, back while it is too far.
    for (let i = lastAtOrBefore(marks, limit.offset, (mark) => mark.offset); i >= 0; i--) {
      const mark = marks[i]!;
      if (mark.offset <= from.offset) break;
      const n = mark.seq - from.seq;
      if (n < lines && mark.offset - from.offset - n < bytes) return mark;
    }
    return from;
  }
}
