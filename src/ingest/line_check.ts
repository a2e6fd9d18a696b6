/**
 * Checking a region of complete hit lines at once: which are valid hits, which are rejected and
 * why, and the bytes to journal. The region is decoded in pieces and each line checked by the
 * cheapest test that can accept it (the quick check, then `JSON.parse` with the hand-written
 * schema check, then the full check that says why); a region of valid lines is journaled as it
 * is, without a copy.
 *
 * A rejected line costs a small constant: no object is kept for it past the first
 * `maxRejections` (their reasons are wanted; the others are only counted), and the zod schema,
 * which words a reason, runs only for those.
 *
 * @module
 */
import {
  checkLine,
  type Hit,
  isValidHit,
  keysAreSound,
  MAX_DEPTH,
  nestsDeeperThan,
  notIJson,
} from "../hit/hit.ts";
import { quickHit } from "../hit/scan.ts";

const NEWLINE = 0x0a;
const CR = 0x0d;
const BOM = 0xfeff;
/** Bytes decoded at a time: strings that small stay in V8's young generation. */
const PIECE_BYTES = 32 * 1024;
/** How long a check may keep the event loop before it lets it turn, when asked to. */
const TURN_MS = 8;

/** A rejected line: where it was, why, and its bytes (a view, valid while the region is). */
export interface Rejection {
  /** Its line number. */
  line: number;
  /** Why it was rejected. */
  reason: string;
  /** Its bytes, without the line end. */
  bytes: Uint8Array;
}

/** What a region's lines came to. */
export interface CheckedRegion {
  /** Lines in the region, blank ones too. */
  numbered: number;
  /** Lines counted: every line but blank ones. */
  lines: number;
  /** Valid hits among them. */
  hits: number;
  /**
   * The valid lines, each ending in `\n`: the region itself when every line in it is shipped as
   * it is, else a copy without the others (and without a BOM or a CR that a line had).
   */
  shipped: Uint8Array;
  /**
   * Where each valid line's `\n` is in `shipped`; undefined when a part of the region with
   * multi-byte characters was shipped as it is (its byte offsets were not looked for).
   */
  ends: Int32Array | undefined;
  /** The first rejected lines, with their reasons (at most `maxRejections`). */
  rejections: Rejection[];
  /** Rejected lines past `maxRejections`: counted, not kept. */
  omitted: number;
  /** The line number of the first of those, or 0. */
  firstOmitted: number;
}

/** Options of {@linkcode LineChecker.region}. */
export interface RegionOptions {
  /** The number of the region's first line. */
  firstLine: number;
  /** Sees every valid hit, parsed (the quick check, which builds nothing, is then not used). */
  onHit?: ((hit: Hit) => void) | undefined;
  /** Rejected lines whose reasons are kept. @default Infinity */
  maxRejections?: number;
  /** Let the event loop turn every few milliseconds (a large body received from a sender). */
  yieldEvery?: boolean;
  /** Where the line ends go: grown when too small. A fresh array when not given. */
  ends?: Int32Array;
}

function grow(ends: Int32Array): Int32Array {
  const bigger = new Int32Array(ends.length * 2);
  bigger.set(ends);
  return bigger;
}

/** Whether `text` from `from` to `to` holds only spaces, tabs and CRs. */
function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== CR) return false;
  }
  return true;
}

/**
 * Where the current line of a region is in its bytes. In a piece of one-byte characters that is
 * where it is in the text; in another it is looked for only when wanted, counting `\n`s from the
 * last line looked for (the n-th `\n` of the text is the n-th of the bytes: a newline is never
 * part of a replaced sequence).
 */
class LineBytes {
  readonly #region: Uint8Array;
  /** The line's first byte, once located. */
  from = -1;
  /** Its `\n`, once located. */
  end = -1;
  /** The byte after the last line located. */
  #next = 0;
  /** Lines begun since then, this one too. */
  #unlocated = 0;

  constructor(region: Uint8Array) {
    this.#region = region;
  }

  /** A new piece begins at `start`. */
  piece(start: number): void {
    this.#next = start;
    this.#unlocated = 0;
  }

  /** The next line: where it is, when known (-1 when not). */
  line(from: number, end: number): void {
    this.from = from;
    this.end = end;
    this.#unlocated++;
  }

  /** Bytes at the line's start (a BOM) and end (a CR) that are not shipped. */
  #cutStart = 0;
  #cutEnd = 0;

  /** The current line ships without `start` bytes at its start and `end` at its end. */
  cut(start: number, end: number): void {
    this.#cutStart = start;
    this.#cutEnd = end;
  }

  /** Whether the line ships other bytes than it has (a BOM or CR is cut). */
  get isCut(): boolean {
    return this.#cutStart + this.#cutEnd > 0;
  }

  /** The size of what the line ships (once located). */
  get size(): number {
    return this.end - this.#cutEnd - this.from - this.#cutStart;
  }

  /** What the line ships (once located): a view of the region. */
  shipped(): Uint8Array {
    return this.#region.subarray(this.from + this.#cutStart, this.end - this.#cutEnd);
  }

  /** Finds where the current line is, when not known yet. */
  locate(): void {
    if (this.from >= 0) return;
    const region = this.#region;
    let at = this.#next;
    for (; this.#unlocated > 1; this.#unlocated--) at = region.indexOf(NEWLINE, at) + 1;
    this.from = at;
    this.end = region.indexOf(NEWLINE, at);
    this.#next = this.end + 1;
    this.#unlocated = 0;
  }
}

/**
 * What a region's lines come to as they are judged: the valid lines' bytes (the region itself
 * while every line so far is shipped as it is; else a copy), their ends, and the rejected ones.
 */
class RegionBooks {
  readonly #region: Uint8Array;
  readonly #maxRejections: number;
  #ends: Int32Array;
  /** Set once a line is not shipped as it is: the valid lines from then on are copied here. */
  #out: Uint8Array | undefined;
  #outLength = 0;
  /** Whether every valid line's end is in `ends`: not where one was shipped in place unlocated. */
  #endsKnown = true;
  lines = 0;
  hits = 0;
  readonly rejections: Rejection[] = [];
  omitted = 0;
  firstOmitted = 0;

  constructor(region: Uint8Array, ends: Int32Array | undefined, maxRejections: number) {
    this.#region = region;
    this.#ends = ends ?? new Int32Array(1024);
    this.#maxRejections = maxRejections;
  }

  /** Whether the next rejection's reason is kept (and so must be worded). */
  get explaining(): boolean {
    return this.rejections.length < this.#maxRejections;
  }

  /**
   * From a line that is not shipped as it is on, valid lines are copied: the lines before it
   * were, so they are the bytes before it, and their ends stand where they were.
   */
  #copying(lineStart: number): Uint8Array {
    if (!this.#out) {
      this.#out = new Uint8Array(this.#region.length);
      this.#out.set(this.#region.subarray(0, lineStart));
      this.#outLength = lineStart;
    }
    return this.#out;
  }

  /** A blank line: skipped, not counted. */
  skip(bytes: LineBytes): void {
    bytes.locate();
    this.#copying(bytes.from);
  }

  /** A rejected line: counted, its reason kept while under the limit. */
  reject(number: number, reason: string, bytes: LineBytes): void {
    bytes.locate();
    this.#copying(bytes.from);
    this.lines++;
    if (this.rejections.length < this.#maxRejections) {
      this.rejections.push({ line: number, reason, bytes: bytes.shipped() });
    } else if (this.omitted++ === 0) this.firstOmitted = number;
  }

  /** A valid line: shipped in place, or copied; its end noted where it is known. */
  keep(bytes: LineBytes, ascii: boolean): void {
    this.lines++;
    const hits = this.hits++;
    if (hits === this.#ends.length) this.#ends = grow(this.#ends);
    if (this.#out || bytes.isCut) {
      bytes.locate();
      const out = this.#copying(bytes.from);
      out.set(bytes.shipped(), this.#outLength);
      this.#outLength += bytes.size;
      this.#ends[hits] = this.#outLength;
      out[this.#outLength++] = NEWLINE;
    } else if (ascii) {
      this.#ends[hits] = bytes.end;
    } else {
      this.#endsKnown = false;
    }
  }

  /** The region's outcome, `numbered` lines in all. */
  result(numbered: number): CheckedRegion {
    return {
      numbered,
      lines: this.lines,
      hits: this.hits,
      shipped: this.#out ? this.#out.subarray(0, this.#outLength) : this.#region,
      ends: this.#endsKnown ? this.#ends.subarray(0, this.hits) : undefined,
      rejections: this.rejections,
      omitted: this.omitted,
      firstOmitted: this.firstOmitted,
    };
  }
}

/** Checks lines of hits: one checker per input, its decoders reused. */
export class LineChecker {
  readonly #maxLineBytes: number;
  /** Keeps a BOM as U+FEFF: a BOM dropped by decoding would still be in the journaled bytes. */
  readonly #strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  /** Replaces bad bytes with U+FFFD instead of throwing: Deno's fast path (3.7x the strict). */
  readonly #fast = new TextDecoder("utf-8", { ignoreBOM: true });

  /** @param maxLineBytes The longest line taken, in bytes. */
  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /**
   * Checks every line of `region` (complete lines, each ending in `\n`).
   */
  async region(region: Uint8Array, options: RegionOptions): Promise<CheckedRegion> {
    const onHit = options.onHit;
    const books = new RegionBooks(region, options.ends, options.maxRejections ?? Infinity);
    const bytes = new LineBytes(region);
    let number = options.firstLine - 1;
    let turned = performance.now();
    let sinceTurn = 0;
    for (let start = 0; start < region.length;) {
      let end = region.indexOf(NEWLINE, Math.min(start + PIECE_BYTES, region.length - 1)) + 1;
      if (end === 0) end = region.length;
      const text = this.#fast.decode(region.subarray(start, end));
      // A U+FFFD in the text, from bad bytes or written as such: such lines are decoded strictly.
      const suspect = text.includes("\uFFFD");
      // Text offsets are byte offsets while every character is one byte. Otherwise a line's
      // bytes are found only when needed (see LineBytes).
      const ascii = text.length === end - start;
      let from = 0;
      bytes.piece(start);
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", from)) {
        number++;
        bytes.line(ascii ? start + from : -1, ascii ? start + i : -1);
        // The line's text, without a CR before the `\n` and a BOM (U+FEFF is EF BB BF) at its
        // start; those bytes are not shipped.
        const cutEnd = i > from && text.charCodeAt(i - 1) === CR ? 1 : 0;
        const cutStart = text.charCodeAt(from) === BOM ? 3 : 0;
        bytes.cut(cutStart, cutEnd);
        const verdict = this.#judge(
          text,
          from + (cutStart ? 1 : 0),
          i - cutEnd,
          ascii,
          suspect,
          bytes,
          onHit !== undefined,
          books.explaining,
        );
        if (verdict === undefined) books.skip(bytes);
        else if (typeof verdict === "string") books.reject(number, verdict, bytes);
        else {
          books.keep(bytes, ascii);
          if (verdict !== true) onHit?.(verdict);
        }
        from = i + 1;
        if (options.yieldEvery && ++sinceTurn === 256) {
          sinceTurn = 0;
          if (performance.now() - turned > TURN_MS) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            turned = performance.now();
          }
        }
      }
      start = end;
    }
    return books.result(number - options.firstLine + 1);
  }

  /**
   * One line's verdict, from its text (`from` to `to`, without CR and BOM): `undefined` for a
   * blank line, the hit (or `true` when nothing wants it), or why it is rejected.
   */
  #judge(
    text: string,
    from: number,
    to: number,
    ascii: boolean,
    suspect: boolean,
    bytes: LineBytes,
    parsed: boolean,
    explain: boolean,
  ): Hit | true | string | undefined {
    if (text.charCodeAt(from) !== 0x7b && isBlank(text, from, to)) return undefined;
    // A character is at most 3 bytes: only a long line needs its bytes counted.
    if ((to - from) * (ascii ? 1 : 3) > this.#maxLineBytes) {
      bytes.locate();
      if (bytes.size > this.#maxLineBytes) {
        return `line is ${bytes.size} bytes, longer than max_line_bytes (${this.#maxLineBytes})`;
      }
    }
    const line = text.slice(from, to);
    if (!suspect || !line.includes("\uFFFD")) return check(line, parsed, explain);
    bytes.locate();
    try {
      return check(this.#strict.decode(bytes.shipped()), parsed, explain);
    } catch {
      return "not valid UTF-8";
    }
  }

  /**
   * Checks one line (its bytes without the line end; an over-long one cut, with its length):
   * the hit (or `true`, when nothing observes hits), why it is rejected, or undefined for a blank
   * line. A BOM at its start is left out of `bytes` in what is returned.
   */
  one(
    bytes: Uint8Array,
    options: { oversized?: number | undefined; onHit?: boolean; explain?: boolean } = {},
  ): { verdict: Hit | true | string | undefined; bytes: Uint8Array } {
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    if (options.oversized !== undefined) {
      return {
        verdict:
          `line is ${options.oversized} bytes, longer than max_line_bytes (${this.#maxLineBytes})`,
        bytes,
      };
    }
    let text: string;
    try {
      text = this.#strict.decode(bytes);
    } catch {
      return { verdict: "not valid UTF-8", bytes };
    }
    if (isBlank(text, 0, text.length)) {
      return { verdict: undefined, bytes };
    }
    return { verdict: check(text, options.onHit ?? false, options.explain ?? true), bytes };
  }
}

/**
 * One line's verdict: `true` (valid; nothing wants the hit), the hit (valid; `parsed` wants it),
 * or why it is rejected (an empty reason when `explain` is false and only the zod schema could
 * word it).
 */
function check(line: string, parsed: boolean, explain: boolean): Hit | true | string {
  if (!parsed && quickHit(line)) return true; // a hit written the node's way: no objects built
  if (!nestsDeeperThan(line, MAX_DEPTH)) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (
      value !== null && typeof value === "object" && !Array.isArray(value) &&
      isValidHit(value as Record<string, unknown>) && keysAreSound(line, value) &&
      notIJson(line, value) === undefined
    ) return parsed ? value as Hit : true;
  }
  // Anything amiss: the full check says why (and parses keys with escapes again).
  const result = checkLine(line, explain);
  if (result.ok) return parsed ? result.hit : true;
  return result.reason;
}
