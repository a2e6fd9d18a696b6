/**
 * Known line ends, one of hitship's speed tricks in one place. The input finds where each line
 * ends as it checks lines; the journal keeps those ends for recent appends (a bounded index), and
 * a reader that reads a range of them raw remembers them with the buffer it read, so that a body
 * is framed without searching for newlines again. Turning it off is one line: an index that keeps
 * nothing.
 *
 * @module
 */

/** Line ends kept at most (4 bytes each). */
const LINE_INDEX_MAX = 1 << 20;

/** The line ends of recent appends, by where each append starts in the journal. */
export class LineEndIndex {
  #regions: Array<{ start: number; ends: Int32Array }> = [];
  #size = 0;

  /** True when `count` more line ends fit under the cap. */
  fits(count: number): boolean {
    return this.#size + count <= LINE_INDEX_MAX;
  }

  /** Keeps the line ends of an append at `start`: the offset of each `\n`, from `start`. */
  add(start: number, ends: Int32Array): void {
    if (ends.length === 0) return;
    this.#regions.push({ start, ends });
    this.#size += ends.length;
  }

  /** Forgets the appends before `first` (their segments were deleted). */
  forgetBefore(first: number): void {
    const regions = this.#regions;
    let old = 0;
    while (old < regions.length && regions[old]!.start < first) {
      this.#size -= regions[old]!.ends.length;
      old++;
    }
    regions.splice(0, old);
  }

  /**
   * Where the lines of `length` bytes from `offset` (a line start) end, relative to `offset`, when
   * every one of them is known; else `undefined`.
   */
  lineEnds(offset: number, length: number): Int32Array | undefined {
    const index = this.#regions;
    let i = lastAtOrBefore(index, offset);
    if (i < 0) return undefined;
    const limit = offset + length;
    const out: number[] = [];
    let at = offset; // where the next line starts
    for (; at < limit; i++) {
      const region = index[i];
      if (!region) return undefined;
      const { start, ends } = region;
      if (start > at) return undefined; // a gap the index does not cover
      let k = 0;
      if (at > start) {
        // The first line end at or after `at`, and `at` must be a line start.
        let a = 0;
        let b = ends.length;
        while (a < b) {
          const m = (a + b) >>> 1;
          if (start + ends[m]! < at) a = m + 1;
          else b = m;
        }
        k = a;
        if (k === 0 || start + ends[k - 1]! + 1 !== at) return undefined; // not a line start
        if (k === ends.length) continue;
      }
      for (; k < ends.length; k++) {
        const end = start + ends[k]!;
        if (end >= limit) return undefined; // the range ends inside a line
        out.push(end - offset);
        at = end + 1;
        if (at === limit) break;
      }
    }
    return at === limit ? Int32Array.from(out) : undefined;
  }
}

/** The index of the last region that starts at or before `value`, or -1. */
function lastAtOrBefore(items: ReadonlyArray<{ start: number }>, value: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (items[mid]!.start <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The last buffers readers read raw whose line ends were known (a few: several outputs). */
const recentEnds: Array<{ buffer: Uint8Array; ends: Int32Array } | undefined> = new Array(8);
let nextEnds = 0;

/** Remembers the line ends of a buffer read raw, for {@linkcode lineEndsOf}. */
export function rememberLineEnds(buffer: Uint8Array, ends: Int32Array): void {
  recentEnds[nextEnds] = { buffer, ends };
  nextEnds = (nextEnds + 1) % recentEnds.length;
}

/**
 * The line ends of a buffer a journal reader has just read raw, when they were known: the offset
 * of each `\n` in it. Only the last few buffers read are remembered (a strong reference each, so
 * none is kept long).
 */
export function lineEndsOf(buffer: Uint8Array): Int32Array | undefined {
  for (const entry of recentEnds) if (entry?.buffer === buffer) return entry.ends;
  return undefined;
}
