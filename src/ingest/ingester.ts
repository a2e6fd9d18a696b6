/**
 * Input: the node's hit stream, read a chunk at a time, split into lines, validated, journaled.
 *
 * @module
 */
import type { Hit } from "../hit/hit.ts";
import { type CheckedRegion, LineChecker, type Rejection } from "./line_check.ts";
import { Appender, Fairness } from "./appender.ts";
import type { DeadLetter } from "./dead_letter.ts";
import type { Journal } from "../journal/journal.ts";
import type { JsonValue, SubmitOptions, SubmitResult } from "../sdk/input.ts";
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

/**
 * Rejected lines of one body (an HTTP request, a batch of records) kept with their reasons in the
 * dead-letter file; the rest are counted, and told in one summary record.
 */
export const MAX_BODY_DEAD_LETTERS = 100;

/** What one ingest step of {@linkcode Ingester} takes. */
interface Batch {
  /** Complete lines from the splitter, before the region. */
  lines: Line[];
  /** Where the input stands after these lines, for inputs with checkpoints. */
  at?: (() => JsonValue) | undefined;
  /** Complete lines, each ending in `\n`, checked and journaled at once. */
  region?: Uint8Array | undefined;
  /** Numbers the lines: the input's stream, or a body of its own. */
  splitter: LineSplitter;
  /**
   * Given for a body: adds up what was accepted and rejected; the journal is not waited for (when
   * it is full nothing is journaled or counted), dead letters are capped, the loop turns.
   */
  result?: SubmitResult | undefined;
  /** Records an input could not make lines of, counted as rejected. */
  unreadable?: SubmitOptions["unreadable"];
}

/**
 * Takes raw input chunks, validates every line and appends the valid ones to the journal in one
 * write per chunk; rejected lines go to the dead-letter file and the log.
 */
export class Ingester {
  readonly #options: IngesterOptions;
  readonly #splitter: LineSplitter;
  readonly #checker: LineChecker;
  #loggedRejections = 0;
  #started = false;
  readonly #fairness = new Fairness();
  readonly #appender: Appender;
  /** Line ends of the stream's regions, reused (a body's are its own: bodies may interleave). */
  #ends: Int32Array = new Int32Array(4096);

  constructor(options: IngesterOptions) {
    this.#options = { ...options };
    const maxLineBytes = options.maxLineBytes ?? 1024 * 1024;
    this.#splitter = new LineSplitter(maxLineBytes);
    this.#checker = new LineChecker(maxLineBytes);
    this.#appender = new Appender(options);
  }

  /** What sees every valid hit from now on (`undefined`: nothing, and no hit is kept). */
  set onHit(onHit: ((hit: Hit) => void) | undefined) {
    this.#options.onHit = onHit;
  }

  /** True while the input waits for room in the journal or on the disk. */
  get waiting(): boolean {
    return this.#counters.paused;
  }

  /** The input's name, under which its checkpoints are kept. */
  get input(): string {
    return this.#options.input ?? "input";
  }

  /** This input's counters in the status. */
  get #counters(): InputStatus {
    const status = this.#options.status;
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
      const saved = this.#options.journal.checkpointOf(this.input);
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
    return this.#ingest({
      lines,
      at: at ? () => at(splitter.pendingBytes) : undefined,
      region,
      splitter,
    }).then(() => {});
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
    await this.#ingest({
      lines: last ? [last] : [],
      at: at === undefined ? undefined : () => at,
      splitter: this.#splitter,
    });
  }

  /** The incomplete line is gone (a file truncated under the reader); lines count from 1. */
  discard(options: { checkpoint?: JsonValue } = {}): Promise<void> {
    this.#splitter.reset();
    this.#splitter.numberFrom(0);
    this.#started = true;
    this.#counters.truncations++;
    const at = options.checkpoint;
    return this.#ingest({
      lines: [],
      at: at === undefined ? undefined : () => at,
      splitter: this.#splitter,
    }).then(() => {});
  }

  /**
   * Checks and journals a whole body of hit lines apart from the input's stream (an HTTP request,
   * a batch of records): its lines are numbered from 1, its last line is complete without a
   * newline. Resolves once its valid hits are in the journal, with what was accepted and rejected
   * (the first ten reasons; every rejected line goes to the dead-letter file).
   */
  async submit(body: Uint8Array, options: SubmitOptions = {}): Promise<SubmitResult> {
    const result: SubmitResult = { accepted: 0, rejected: 0, errors: [], full: false };
    if (body.length === 0 && !options.unreadable) return result;
    // One region, one append: the body is journaled whole or not at all.
    let region = body;
    if (body.length > 0 && body[body.length - 1] !== NEWLINE) {
      region = new Uint8Array(body.length + 1);
      region.set(body);
      region[body.length] = NEWLINE;
    }
    const journaled = await this.#ingest({
      lines: [],
      region: region.length > 0 ? region : undefined,
      splitter: new LineSplitter(),
      result,
      unreadable: options.unreadable,
    });
    if (!journaled) return { accepted: 0, rejected: 0, errors: [], full: true };
    this.#counters.offset += body.length;
    return result;
  }

  /** Checks lines and journals the valid ones with the checkpoint; keeps the rejected ones. */
  async #ingest(batch: Batch): Promise<boolean> {
    const { splitter, result } = batch;
    const input = this.#counters;
    const onHit = this.#options.onHit;
    const maxRejections = result ? MAX_BODY_DEAD_LETTERS : Infinity;
    const rejections: Rejection[] = [];
    let omitted = 0;
    let firstOmitted = 0;
    let lineCount = 0;
    const valid: Uint8Array[] = [];
    for (const line of batch.lines) {
      const { verdict, bytes } = this.#checker.one(line.bytes, {
        oversized: line.oversized,
        onHit: onHit !== undefined,
        explain: rejections.length < maxRejections,
      });
      if (verdict === undefined) continue; // blank
      lineCount++;
      if (typeof verdict !== "string") {
        valid.push(bytes);
        if (verdict !== true) onHit?.(verdict);
      } else if (rejections.length < maxRejections) {
        rejections.push({ line: line.number, reason: verdict, bytes });
      } else if (omitted++ === 0) firstOmitted = line.number;
    }
    let checked: CheckedRegion | undefined;
    if (batch.region) {
      checked = await this.#checker.region(batch.region, {
        firstLine: splitter.lineNumber + 1,
        onHit,
        maxRejections: maxRejections - rejections.length,
        yieldEvery: result !== undefined,
        ends: result ? undefined : this.#ends,
      });
      const ends = checked.ends;
      if (!result && ends && ends.buffer.byteLength > this.#ends.buffer.byteLength) {
        this.#ends = new Int32Array(ends.buffer);
      }
      splitter.advance(checked.numbered);
      lineCount += checked.lines;
      rejections.push(...checked.rejections);
      if (checked.omitted > 0 && omitted === 0) firstOmitted = checked.firstOmitted;
      omitted += checked.omitted;
    }
    const at = batch.at;
    const checkpoint = at && { state: at(), line: splitter.lineNumber };
    const journaled = await this.#appender.append(
      {
        lines: valid,
        raw: checked?.shipped,
        rawCount: checked?.hits ?? 0,
        rawEnds: checked?.ends,
        input: this.input,
        checkpoint,
      },
      this.#counters,
      result === undefined,
    );
    if (!journaled) return false;
    const hits = valid.length + (checked?.hits ?? 0);
    const unreadable = batch.unreadable?.count ?? 0;
    const rejected = rejections.length + omitted + unreadable;
    input.lines += lineCount + unreadable;
    input.hits += hits;
    input.rejected += rejected;
    if (result) {
      result.accepted += hits;
      result.rejected += rejected;
      for (const { line, reason } of rejections.slice(0, 10)) result.errors.push({ line, reason });
    }
    this.#keep(rejections, omitted, firstOmitted, batch.unreadable);
    input.dead_letters_dropped += await this.#options.deadLetter.flush();
    this.#options.status.journal.bytes = this.#options.journal.bytes;
    this.#options.status.journal.segments = this.#options.journal.segmentCount;
    this.#options.status.changed();
    await this.#fairness.turn();
    return true;
  }

  /** Rejected lines to the dead-letter file and the log (the first 100 of a run logged). */
  #keep(
    rejections: Rejection[],
    omitted: number,
    firstOmitted: number,
    unreadable: SubmitOptions["unreadable"],
  ): void {
    const { deadLetter, logger } = this.#options;
    const input = this.input;
    for (const { line, reason, bytes } of rejections) {
      deadLetter.add(line, reason, bytes, input);
      if (this.#loggedRejections++ < 100) {
        logger.warn(`Rejected line ${line}: ${reason}`, { line, input });
      } else if (this.#loggedRejections === 101) {
        logger.warn("More lines rejected: see the dead-letter file", { path: deadLetter.path });
      }
    }
    if (omitted > 0) {
      const reason = `${omitted} more rejected lines of this body, from line ${firstOmitted}, ` +
        `are counted but not kept (the first ${MAX_BODY_DEAD_LETTERS} of a body are)`;
      deadLetter.summary(firstOmitted, omitted, reason, input);
      logger.warn(`Rejected ${omitted} more lines of one body`, { input, from_line: firstOmitted });
    }
    if (unreadable && unreadable.count > 0) {
      const reason = `${unreadable.count} records could not be read as hits: ${unreadable.reason}`;
      deadLetter.summary(0, unreadable.count, reason, input);
      logger.warn(`Rejected ${unreadable.count} records: ${unreadable.reason}`, { input });
    }
  }
}
