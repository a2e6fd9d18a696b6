/**
 * Input: the node's hit stream, read a chunk at a time, split into lines, validated, journaled.
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
} from "../hit/hit.ts";
import { quickHit } from "../hit/scan.ts";
import type { DeadLetter } from "./dead_letter.ts";
import type { InputCheckpoint, Journal } from "../journal/journal.ts";
import type { JsonValue, SubmitResult } from "../sdk/input.ts";
import type { Logger } from "../base/log.ts";
import { type InputStatus, newInputStatus, type StatusBoard } from "../status/status.ts";

const NEWLINE = 0x0a;
const CR = 0x0d;

/** A complete line from {@linkcode LineSplitter}. */
export interface Line {
  /** Line number, from 1. */
  number: number;
  /** The bytes, without `\n` or `\r\n`. */
  bytes: Uint8Array;
  /** Set when the line was longer than the limit; `bytes` then holds its start. */
  oversized?: number;
}

/**
 * Splits a byte stream into lines without holding more than one partial line. A line longer than
 * `maxLineBytes` is cut: its start is kept for the dead-letter file and the rest skipped.
 */
export class LineSplitter {
  readonly #maxLineBytes: number;
  #partial: Uint8Array[] = [];
  #partialBytes = 0;
  #oversized = 0;
  #number = 0;

  /** @param maxLineBytes Longest accepted line. @default 1 MiB */
  constructor(maxLineBytes = 1024 * 1024) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Lines read so far, complete or not. */
  get lineNumber(): number {
    return this.#number;
  }

  /** Bytes of the line not yet complete (kept and skipped). */
  get pendingBytes(): number {
    return this.#partialBytes + this.#oversized;
  }

  /** Counts `n` complete lines handled outside the splitter. */
  advance(n: number): void {
    this.#number += n;
  }

  /** Numbers the next line `lines + 1` (a file resumed, or begun again). */
  numberFrom(lines: number): void {
    this.#number = lines;
  }

  /** Drops the incomplete line (its file was truncated under it). */
  reset(): void {
    this.#partial = [];
    this.#partialBytes = 0;
    this.#oversized = 0;
  }

  /** Splits a chunk; returns the lines it completes. */
  push(chunk: Uint8Array): Line[] {
    const lines: Line[] = [];
    let from = 0;
    for (let i = chunk.indexOf(NEWLINE); i >= 0; i = chunk.indexOf(NEWLINE, from)) {
      if (this.#partialBytes === 0 && this.#oversized === 0 && i - from <= this.#maxLineBytes) {
        // The whole line lies in this chunk: hand it out without a copy. Callers use it before
        // they read the next chunk.
        this.#number++;
        const end = i > from && chunk[i - 1] === CR ? i - 1 : i;
        lines.push({ number: this.#number, bytes: chunk.subarray(from, end) });
      } else {
        this.#take(chunk.subarray(from, i));
        lines.push(this.#finish());
      }
      from = i + 1;
    }
    if (from < chunk.length) this.#take(chunk.subarray(from));
    return lines;
  }

  /** The last line when the input does not end with a newline. */
  end(): Line | undefined {
    if (this.#partialBytes === 0 && this.#oversized === 0) return undefined;
    return this.#finish();
  }

  #take(part: Uint8Array): void {
    if (part.length === 0) return;
    if (this.#oversized > 0 || this.#partialBytes + part.length > this.#maxLineBytes) {
      const room = Math.max(0, this.#maxLineBytes - this.#partialBytes);
      if (room > 0) this.#keep(part.subarray(0, room));
      this.#oversized += part.length - room;
      return;
    }
    this.#keep(part);
  }

  #keep(part: Uint8Array): void {
    // The chunk's buffer may be reused by the reader: copy what outlives this call.
    this.#partial.push(part.slice());
    this.#partialBytes += part.length;
  }

  #finish(): Line {
    this.#number++;
    let bytes: Uint8Array;
    if (this.#partial.length === 1) bytes = this.#partial[0]!;
    else {
      bytes = new Uint8Array(this.#partialBytes);
      let at = 0;
      for (const p of this.#partial) {
        bytes.set(p, at);
        at += p.length;
      }
    }
    const oversized = this.#oversized;
    this.#partial = [];
    this.#partialBytes = 0;
    this.#oversized = 0;
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR && oversized === 0) {
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    const line: Line = { number: this.#number, bytes };
    if (oversized > 0) line.oversized = bytes.length + oversized;
    return line;
  }
}

/** Options of {@linkcode Ingester}. */
export interface IngesterOptions {
  journal: Journal;
  deadLetter: DeadLetter;
  status: StatusBoard;
  logger: Logger;
  /** Longest accepted line. @default 1 MiB */
  maxLineBytes?: number;
  /** Sees every valid hit (threshold alerts). Hits are only kept while something looks at them. */
  onHit?: (hit: Hit) => void;
  /** Past this many journal bytes the input waits for outputs to catch up. @default unlimited */
  maxJournalBytes?: number;
  /**
   * Called when the journal or the disk is full, before the input pauses: frees a segment that
   * no output that is on needs. Resolves true when it freed one.
   */
  makeRoom?: () => Promise<boolean>;
  /** Called when the input goes on after it waited for room. */
  onResume?: () => void;
  /** The input's name: its checkpoints are kept under it. @default "input" */
  input?: string;
}

const BOM = [0xef, 0xbb, 0xbf];
const PIECE_BYTES = 32 * 1024;

function grow(ends: Int32Array): Int32Array {
  const bigger = new Int32Array(ends.length * 2);
  bigger.set(ends);
  return bigger;
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== CR) return false;
  return true;
}

/**
 * Takes raw input chunks, validates every line and appends the valid ones to the journal in one
 * write per chunk; rejected lines go to the dead-letter file and the log.
 */
export class Ingester {
  readonly #o: IngesterOptions;
  readonly #splitter: LineSplitter;
  /** Keeps a BOM as U+FEFF: a BOM dropped by decoding would still be in the journaled bytes. */
  readonly #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  /** Replaces bad bytes with U+FFFD instead of throwing: {@linkcode #bulk}'s first try. */
  readonly #fastDecoder = new TextDecoder("utf-8", { ignoreBOM: true });
  readonly #maxLineBytes: number;
  #loggedRejections = 0;
  #started = false;
  #turn: Promise<void> | undefined;
  #turned = false;
  #turnArmedAt = 0;
  #ends: Int32Array = new Int32Array(4096);
  /** The line ends of the last region {@linkcode #bulk} passed, when it found them all. */
  #regionEnds: Int32Array | undefined;

  constructor(options: IngesterOptions) {
    this.#o = { ...options };
    this.#maxLineBytes = options.maxLineBytes ?? 1024 * 1024;
    this.#splitter = new LineSplitter(this.#maxLineBytes);
  }

  /** What sees every valid hit from now on (`undefined`: nothing, and no hit is kept). */
  set onHit(onHit: ((hit: Hit) => void) | undefined) {
    this.#o.onHit = onHit;
  }

  /** True while the input waits for room in the journal or on the disk. */
  get waiting(): boolean {
    return this.#counters.paused;
  }

  /** The input's name, under which its checkpoints are kept. */
  get input(): string {
    return this.#o.input ?? "input";
  }

  /** This input's counters in the status. */
  get #counters(): InputStatus {
    const status = this.#o.status;
    return status.inputs[this.input] ??= newInputStatus("?", null);
  }

  /**
   * Splits, checks and journals one chunk of the input's stream. Resolves when it is journaled.
   *
   * @param options.checkpoint Where the input stands once the chunk is journaled but for its last
   * `held` bytes: committed with the chunk's lines.
   * @param options.resumed The chunk goes on from the input's last checkpoint: its lines are
   * numbered from there (else from 1, for the first chunk).
   * @param options.offset Bytes of the stream before the end of this chunk, for the status.
   */
  push(
    chunk: Uint8Array,
    options: { checkpoint?: (held: number) => JsonValue; resumed?: boolean; offset?: number } = {},
  ): Promise<void> {
    const input = this.#counters;
    input.offset = options.offset ?? input.offset + chunk.length;
    const splitter = this.#splitter;
    if (!this.#started) {
      this.#started = true;
      const saved = this.#o.journal.checkpointOf(this.input);
      splitter.numberFrom(options.resumed ? saved?.line ?? 0 : 0);
    }
    // The line carried over from the last chunk is completed on its own; the complete lines
    // after it are one region, checked and journaled in bulk.
    let start = 0;
    let lines: Line[] = [];
    if (splitter.pendingBytes > 0) {
      const newline = chunk.indexOf(NEWLINE);
      start = newline < 0 ? chunk.length : newline + 1;
      lines = splitter.push(chunk.subarray(0, start));
    }
    const last = chunk.lastIndexOf(NEWLINE);
    const region = last >= start ? chunk.subarray(start, last + 1) : undefined;
    if (last + 1 > start) splitter.push(chunk.subarray(last + 1));
    else if (!region && start < chunk.length) splitter.push(chunk.subarray(start));
    const at = options.checkpoint;
    return this.#ingest(lines, at ? () => at(splitter.pendingBytes) : undefined, region).then(
      () => {},
    );
  }

  /**
   * The stream's last line is complete (a last line without a newline is taken too): the input
   * has ended, or, with `next`, a new stream begins (a rotated file) whose lines count from 1.
   */
  async end(options: { checkpoint?: JsonValue; next?: boolean } = {}): Promise<void> {
    const last = this.#splitter.end();
    if (options.next) {
      this.#splitter.numberFrom(0);
      this.#started = true;
    }
    const at = options.checkpoint;
    await this.#ingest(last ? [last] : [], at === undefined ? undefined : () => at);
  }

  /** The incomplete line is gone (a file truncated under the reader); lines count from 1. */
  discard(options: { checkpoint?: JsonValue } = {}): Promise<void> {
    this.#splitter.reset();
    this.#splitter.numberFrom(0);
    this.#started = true;
    this.#counters.truncations++;
    const at = options.checkpoint;
    return this.#ingest([], at === undefined ? undefined : () => at).then(() => {});
  }

  /**
   * Checks a region of complete lines at once: one decode, and for each line `JSON.parse` and the
   * hit checks. When every line is a valid hit, the region goes to the journal as it is.
   *
   * @param hits Where the parsed hits go, when something observes them.
   * @returns How many lines the region holds, or `undefined` when some line needs a closer look.
   */
  #bulk(region: Uint8Array, hits: Hit[] | undefined): number | undefined {
    let count = 0;
    // Where each line ends, for the journal to hand to outputs: string offsets are byte offsets
    // while every piece is ASCII (a multi-byte character makes the string shorter than its bytes).
    let ascii = true;
    let ends = this.#ends;
    this.#regionEnds = undefined;
    const longest = this.#maxLineBytes / 3; // a UTF-16 unit is at most 3 UTF-8 bytes
    // Decoded in pieces of about 32 KiB: strings that small stay in V8's young generation, where
    // a megabyte string would get pages of its own, and page faults, every time.
    for (let start = 0; start < region.length;) {
      let end = region.indexOf(NEWLINE, Math.min(start + PIECE_BYTES, region.length - 1)) + 1;
      if (end === 0) end = region.length;
      const piece = region.subarray(start, end);
      // The replacing decoder is Deno's fast path (3.7 times the strict one's speed on hits); a
      // U+FFFD in its text, from bad bytes or written as such, sends the piece to the strict one.
      let text = this.#fastDecoder.decode(piece);
      if (text.includes("\uFFFD")) {
        try {
          text = this.#decoder.decode(piece);
        } catch {
          return undefined;
        }
      }
      ascii &&= text.length === end - start;
      let from = 0;
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", from)) {
        if (i === from || i - from > longest || text.charCodeAt(i - 1) === 13) return undefined;
        if (ascii) {
          if (count === ends.length) ends = this.#ends = grow(ends);
          ends[count] = start + i;
        }
        // A BOM, too deep a nesting, or anything else amiss: the line by line path says why.
        const line = text.slice(from, i);
        if (!hits && quickHit(line)) {
          // A hit written the node's way, and nobody looks at it: no objects built.
          count++;
          from = i + 1;
          continue;
        }
        if (nestsDeeperThan(line, MAX_DEPTH)) return undefined;
        let value: unknown;
        try {
          value = JSON.parse(line);
          if (
            value === null || typeof value !== "object" || Array.isArray(value) ||
            !isValidHit(value as Record<string, unknown>) || !keysAreSound(line, value)
          ) return undefined;
        } catch {
          return undefined;
        }
        // Kept only for an observer: a hit nobody holds dies young, which keeps GC cheap.
        hits?.push(value as Hit);
        count++;
        from = i + 1;
      }
      start = end;
    }
    if (ascii) this.#regionEnds = ends.subarray(0, count); // valid until the next region
    return count;
  }

  /**
   * Checks and journals a whole body of hit lines apart from the input's stream (an HTTP request,
   * a batch of records): its lines are numbered from 1, its last line is complete without a
   * newline. Resolves once its valid hits are in the journal, with what was accepted and rejected
   * (the first ten reasons; every rejected line goes to the dead-letter file).
   */
  async submit(body: Uint8Array): Promise<SubmitResult> {
    const result: SubmitResult = { accepted: 0, rejected: 0, errors: [], full: false };
    if (body.length === 0) return result;
    // One region, one append: the body is journaled whole or not at all.
    let region = body;
    if (body[body.length - 1] !== NEWLINE) {
      region = new Uint8Array(body.length + 1);
      region.set(body);
      region[body.length] = NEWLINE;
    }
    const journaled = await this.#ingest(
      [],
      undefined,
      region,
      new LineSplitter(this.#maxLineBytes),
      result,
    );
    if (!journaled) return { accepted: 0, rejected: 0, errors: [], full: true };
    this.#counters.offset += body.length;
    return result;
  }

  /**
   * @param at Where the input stands after these lines, for inputs with checkpoints.
   * @param splitter Numbers the lines: the input's stream, or a body of its own.
   * @param result Adds up what was accepted and rejected; given, the journal is not waited for:
   * when it is full nothing is journaled, nothing counted, and the method resolves false.
   * @returns True when the lines are journaled.
   */
  async #ingest(
    lines: Line[],
    at: (() => JsonValue) | undefined,
    region?: Uint8Array,
    splitter: LineSplitter = this.#splitter,
    result?: SubmitResult,
  ): Promise<boolean> {
    const input = this.#counters;
    // Counted, and rejected lines kept, once the lines are journaled.
    let lineCount = 0;
    const rejections: Array<{ line: Line; reason: string; bytes: Uint8Array }> = [];
    const valid: Uint8Array[] = [];
    let raw: Uint8Array | undefined;
    let rawCount = 0;
    if (region) {
      const first = splitter.lineNumber + 1;
      let regionLines = 0;
      const onHit = this.#o.onHit;
      const hits: Hit[] | undefined = onHit ? [] : undefined;
      const count = this.#bulk(region, hits);
      if (count !== undefined) {
        raw = region;
        rawCount = regionLines = count;
        if (onHit) { for (const hit of hits!) onHit(hit); }
      } else {
        let from = 0;
        let number = first;
        for (let i = region.indexOf(NEWLINE); i >= 0; i = region.indexOf(NEWLINE, from)) {
          const end = i > from && region[i - 1] === CR ? i - 1 : i;
          const line: Line = { number: number++, bytes: region.subarray(from, end) };
          if (end - from > this.#maxLineBytes) line.oversized = end - from;
          lines.push(line);
          regionLines++;
          from = i + 1;
        }
      }
      splitter.advance(regionLines);
    }
    lineCount += rawCount;
    for (const line of lines) {
      let bytes = line.bytes;
      // A BOM at the start of any line (files joined, a writer restarted) is not shipped: an
      // export with one inside is not JSON.
      if (bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2]) {
        bytes = bytes.subarray(3);
      }
      if (line.oversized === undefined && isBlank(bytes)) continue;
      lineCount++;
      const reason = this.#check(bytes, line);
      if (typeof reason === "object") {
        valid.push(bytes);
        this.#o.onHit?.(reason);
        continue;
      }
      rejections.push({ line, reason, bytes });
    }
    const checkpoint = at && { state: at(), line: splitter.lineNumber };
    const journaled = await this.#append({
      lines: valid,
      raw,
      rawCount,
      rawEnds: raw ? this.#regionEnds : undefined,
      input: this.input,
      checkpoint,
    }, result === undefined);
    if (!journaled) return false;
    input.lines += lineCount;
    input.hits += valid.length + rawCount;
    if (result) result.accepted += valid.length + rawCount;
    for (const { line, reason, bytes } of rejections) {
      input.rejected++;
      if (result) {
        result.rejected++;
        if (result.errors.length < 10) result.errors.push({ line: line.number, reason });
      }
      this.#o.deadLetter.add(line.number, reason, bytes, this.input);
      if (this.#loggedRejections++ < 100) {
        this.#o.logger.warn(`Rejected line ${line.number}: ${reason}`, {
          line: line.number,
          input: this.input,
        });
      } else if (this.#loggedRejections === 101) {
        this.#o.logger.warn("More lines rejected: see the dead-letter file", {
          path: this.#o.deadLetter.path,
        });
      }
    }
    input.dead_letters_dropped += await this.#o.deadLetter.flush();
    this.#o.status.journal.bytes = this.#o.journal.bytes;
    this.#o.status.journal.segments = this.#o.journal.segmentCount;
    this.#o.status.changed();
    await this.#fair();
    return true;
  }

  /**
   * Lets the event loop turn (the outputs' network I/O, timers) when the input has kept it busy
   * for 20 ms: a file read synchronously, or a backlog, would otherwise starve the outputs until
   * the input ends. A zero-delay timer armed at one chunk shows at the next whether the loop
   * turned in between; only when it has not is it waited for.
   */
  async #fair(): Promise<void> {
    if (this.#turn && !this.#turned) {
      if (performance.now() - this.#turnArmedAt < 20) return;
      await this.#turn;
    }
    this.#turned = false;
    this.#turnArmedAt = performance.now();
    this.#turn = new Promise((resolve) =>
      setTimeout(() => {
        this.#turned = true;
        resolve();
      }, 0)
    );
  }

  /**
   * Appends to the journal, waiting while it is full (backpressure) or the disk is full: the
   * input is not read meanwhile, and nothing is dropped.
   */
  async #append(
    entry: {
      lines: Uint8Array[];
      raw?: Uint8Array;
      rawCount: number;
      rawEnds?: Int32Array;
      input: string;
      checkpoint?: InputCheckpoint;
    },
    wait = true,
  ): Promise<boolean> {
    const { journal, status, logger } = this.#o;
    const limit = this.#o.maxJournalBytes ?? Infinity;
    let reported = false;
    for (;;) {
      // Releases since this look wake the wait below at once: none is missed in between.
      const seen = journal.releases;
      if (journal.bytes >= limit && entry.lines.length + entry.rawCount > 0) {
        if (await this.#o.makeRoom?.()) continue;
        if (!wait) return false;
        if (!this.#counters.paused) {
          this.#counters.paused = true;
          logger.warn("The journal is full: reading pauses until outputs catch up", {
            journal_bytes: journal.bytes,
            max_journal_bytes: limit,
          });
          await status.stateChanged();
        }
        await journal.waitForSpace(1000, seen);
        continue;
      }
      try {
        await journal.append(entry);
        break;
      } catch (error) {
        const message = (error as Error).message;
        if (!/os error 28|ENOSPC|No space left/i.test(message)) throw error;
        if (await this.#o.makeRoom?.()) continue;
        if (!wait) return false;
        if (!reported) {
          reported = true;
          logger.error(`Cannot write the journal: the disk is full; reading pauses`, {
            error: message,
          });
        }
        this.#counters.paused = true;
        await status.stateChanged();
        await journal.waitForSpace(1000, seen);
      }
    }
    if (this.#counters.paused) {
      this.#counters.paused = false;
      this.#o.onResume?.();
      logger.info("Reading resumes");
      await status.stateChanged();
    }
    return true;
  }

  /** The hit, or why the line is rejected. */
  #check(bytes: Uint8Array, line: Line): Hit | string {
    if (line.oversized !== undefined) {
      return `line is ${line.oversized} bytes, longer than max_line_bytes (${this.#maxLineBytes})`;
    }
    let text: string;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      return "not valid UTF-8";
    }
    const result = checkLine(text);
    return result.ok ? result.hit : result.reason;
  }
}
