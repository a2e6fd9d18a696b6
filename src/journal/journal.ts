/**
 * The journal: append-only segment files of validated raw hit lines in `data_dir/journal`.
 *
 * Every hit is written once, whatever the number of outputs; each output reads it with its own
 * {@linkcode JournalReader} from its own persisted {@linkcode Position}. A segment is named after
 * the position of its first line and holds NDJSON exactly as the node wrote it.
 *
 * @module
 */
import { type Clock, systemClock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import { type InputCheckpoint, readCommit, writeCommit } from "./checkpoint.ts";
import { LineEndIndex } from "../base/line_ends.ts";
import type { Position } from "./position.ts";
import { JournalReader, type ReaderSource } from "./reader.ts";
import { cutSegments, findSegments, Segments } from "./segments.ts";
import { AppendIndex } from "./append_index.ts";
import { Waiters } from "../base/waiters.ts";

export { ORIGIN, type Position } from "./position.ts";
export type { InputCheckpoint } from "./checkpoint.ts";

/** What {@linkcode Journal.append} writes and commits. */
export interface AppendEntry {
  /** Lines, each without its terminator. */
  lines?: readonly Uint8Array[];
  /** More lines, already framed (each ending in `\n`), written after `lines`. */
  raw?: Uint8Array;
  /** How many lines `raw` holds. */
  rawCount?: number;
  /**
   * Where each line of `raw` ends (its `\n`), when known: copied, and kept for a while so that
   * readers can hand them on (`lineEndsOf` in `line_ends.ts`).
   */
  rawEnds?: Int32Array;
  /** The input the lines came from. */
  input?: string;
  /** Where `input` stands after these lines: committed with them. */
  checkpoint?: InputCheckpoint | null;
}

/** Options of {@linkcode Journal.open}. */
export interface JournalOptions {
  /** Close a segment and begin a new one past this size. @default 64 MiB */
  segmentBytes?: number;
  /** Told about a torn tail that was cut off. */
  logger?: Logger;
  /**
   * Read and write segments with direct I/O (`O_DIRECT`, past the page cache) where the
   * filesystem allows it. @default true
   */
  directIO?: boolean;
  /** Times the waits for space. @default the system clock */
  clock?: Clock;
}

const NEWLINE = 0x0a;

/** What readers read through: the segments, the journal's end, and the line ends it knows. */
function readerSource(
  end: () => Position,
  segments: Segments,
  lineIndex: LineEndIndex,
): ReaderSource {
  return {
    get end() {
      return end();
    },
    get direct() {
      return segments.direct;
    },
    segmentAt: (offset) => segments.segmentAt(offset),
    takeBuffer: (size) => segments.takeBuffer(size),
    giveBuffer: (buffer) => segments.giveBuffer(buffer),
    takeAligned: (size) => segments.takeAligned(size),
    giveAligned: (buffer) => segments.giveAligned(buffer),
    lineEnds: (offset, length) => lineIndex.lineEnds(offset, length),
  };
}

/**
 * The append-only journal of one hitship instance.
 *
 * @example
 * ```ts
 * import { Journal } from "./journal.ts";
 * const journal = await Journal.open(await Deno.makeTempDir());
 * await journal.append([new TextEncoder().encode('{"a":1}')]);
 * const reader = journal.reader({ offset: 0, seq: 0 });
 * const chunk = await reader.read();
 * console.log(chunk?.lines.length); // 1
 * ```
 */
export class Journal {
  readonly dir: string;
  readonly segmentBytes: number;
  readonly #segments: Segments;
  #end: Position;
  /** Readers waiting for lines. */
  readonly #readers = new Waiters();
  #closed = false;
  #writeBuffer = new Uint8Array(256 * 1024);
  #checkpoints: Record<string, InputCheckpoint>;
  #checkpointWritten = false;
  readonly #clock: Clock;
  #releases = 0;
  /** Inputs waiting for room. */
  readonly #space = new Waiters();
  /** Positions and times of this run's appends. */
  readonly #appends: AppendIndex;
  /** Line ends of recent appends: where each starts, and where its lines end, relative to it. */
  readonly #lineIndex = new LineEndIndex();
  /** What readers read through: the segments, the end, the buffers, the known line ends. */
  readonly #source: ReaderSource;

  private constructor(
    segments: Segments,
    end: Position,
    checkpoints: Record<string, InputCheckpoint>,
    options: JournalOptions,
  ) {
    this.dir = segments.dir;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.#segments = segments;
    this.#end = end;
    this.#checkpoints = checkpoints;
    this.#clock = options.clock ?? systemClock;
    this.#appends = new AppendIndex(this.#clock.now(), end.offset);
    this.#source = readerSource(() => this.#end, segments, this.#lineIndex);
  }

  /** Whether segments are read and written with direct I/O. */
  get direct(): boolean {
    return this.#segments.direct;
  }

  /**
   * Opens (or creates) the journal in `dir`. A torn record at the end, left by a crash in the
   * middle of a write, is cut off with a warning, and so are lines appended after the last commit
   * (their input had not committed them: it reads them again).
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    await Deno.mkdir(dir, { recursive: true });
    const { list, end: found } = await findSegments(dir, options.logger);
    let end = found;
    const commit = await readCommit(dir);
    const inputs = commit?.inputs ?? {};
    if (commit && Object.keys(inputs).length > 0 && commit.end.offset < end.offset) {
      options.logger?.warn("Cut journal lines written after the last input checkpoint", {
        bytes: end.offset - commit.end.offset,
        lines: end.seq - commit.end.seq,
      });
      await cutSegments(list, commit.end);
      end = commit.end;
    }
    const segments = new Segments(dir, list, options.directIO ?? true);
    return new Journal(segments, end, inputs, options);
  }

  /** Where an input stood at its last commit, to resume it from; `null` when it never did. */
  checkpointOf(input: string): InputCheckpoint | null {
    return this.#checkpoints[input] ?? null;
  }

  /** The position after the last committed line. */
  get end(): Position {
    return this.#end;
  }

  /** The position of the oldest line still kept. */
  get start(): Position {
    return this.#segments.start;
  }

  /** Bytes on disk in all segments. */
  get bytes(): number {
    return this.#segments.bytes;
  }

  /** Number of segment files. */
  get segmentCount(): number {
    return this.#segments.count;
  }

  /**
   * The oldest segment's span: where its lines start and end, and whether it is the active one
   * (still appended to). Deleting it frees the most space for the least loss.
   */
  get oldest(): { start: Position; end: Position; active: boolean } {
    return this.#segments.oldest(this.#end);
  }

  /**
   * Closes the active segment and begins a new, empty one, so that the lines written so far can be
   * released once no output needs them. Nothing happens when the active segment is empty.
   */
  roll(): void {
    if (this.#closed) return;
    if (this.#segments.active.size > 0) this.#segments.roll(this.#end);
  }

  /**
   * Appends lines in one write, commits them together with the input's checkpoint, and wakes
   * readers waiting for data. Readers see the lines only once they are committed. A failed write
   * (a full disk) is cut back off, so the journal never holds half a record, and the error is
   * thrown for the caller to wait and try again.
   *
   * @returns The new end of the journal.
   */
  append(entry: AppendEntry): Promise<Position> {
    try {
      return Promise.resolve(this.#append(entry));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #append(entry: AppendEntry): Position {
    const lines = entry.lines ?? [];
    const rawCount = entry.rawCount ?? 0;
    const { input } = entry;
    const checkpoint = input === undefined ? null : entry.checkpoint ?? null;
    const before = input === undefined ? null : this.#checkpoints[input] ?? null;
    if (
      lines.length === 0 && rawCount === 0 &&
      (checkpoint === null || JSON.stringify(checkpoint) === JSON.stringify(before))
    ) {
      return this.#end;
    }
    if (this.#closed) throw new Error("Cannot append: the journal is closed");
    const active = this.#segments.active;
    if (active.size > 0 && active.size >= this.segmentBytes) this.#segments.roll(this.#end);
    const { buffer, framed } = this.#frame(lines, entry.raw);
    this.#segments.write(buffer);
    const end = {
      offset: this.#end.offset + buffer.length,
      seq: this.#end.seq + lines.length + rawCount,
    };
    const checkpoints = checkpoint === null
      ? this.#checkpoints
      : { ...this.#checkpoints, [input!]: checkpoint };
    if (!this.#checkpointWritten || Object.keys(checkpoints).length > 0) {
      // The rename of the checkpoint file is the commit point.
      try {
        writeCommit(this.dir, end, checkpoints);
      } catch (error) {
        this.#segments.unwrite(buffer.length);
        throw error;
      }
      this.#checkpointWritten = true;
      this.#checkpoints = checkpoints;
    }
    this.#indexLines(lines, framed, entry.raw ? entry.rawEnds : undefined, rawCount);
    this.#end = end;
    this.#noteAppend(end);
    return end;
  }

  /** The bytes of an append: `lines` framed into the reused write buffer, then `raw`. */
  #frame(
    lines: readonly Uint8Array[],
    raw: Uint8Array | undefined,
  ): { buffer: Uint8Array; framed: number } {
    let framed = 0;
    for (const line of lines) framed += line.length + 1;
    if (framed === 0 && raw) return { buffer: raw, framed }; // already framed: as they are
    const total = framed + (raw?.length ?? 0);
    // One write buffer, reused: appends are awaited one at a time.
    if (this.#writeBuffer.length < total) {
      this.#writeBuffer = new Uint8Array(Math.max(total, this.#writeBuffer.length * 2));
    }
    const buffer = this.#writeBuffer.subarray(0, total);
    let at = 0;
    for (const line of lines) {
      buffer.set(line, at);
      at += line.length;
      buffer[at++] = NEWLINE;
    }
    if (raw) buffer.set(raw, at);
    return { buffer, framed };
  }

  /** Keeps the line ends of an append at the journal's end, when every one of them is known. */
  #indexLines(
    lines: readonly Uint8Array[],
    framed: number,
    rawEnds: Int32Array | undefined,
    rawCount: number,
  ): void {
    const known = rawCount === 0 || rawEnds?.length === rawCount;
    if (!known || !this.#lineIndex.fits(lines.length + rawCount)) return;
    // The framed lines' ends from their lengths, then raw's.
    const ends = new Int32Array(lines.length + rawCount);
    let at = 0;
    lines.forEach((line, k) => {
      at += line.length + 1;
      ends[k] = at - 1;
    });
    if (rawEnds) {
      for (let k = 0; k < rawCount; k++) ends[lines.length + k] = framed + rawEnds[k]!;
    }
    this.#lineIndex.add(this.#end.offset, ends);
  }

  /** The appends' index, and the readers waiting for lines, after an append that ends at `end`. */
  #noteAppend(end: Position): void {
    this.#appends.add(end, this.#clock.now());
    this.#readers.wakeAll();
  }

  /**
   * When the line at `offset` was appended (clock time, to the second): for lines journaled before
   * this process opened the journal, when it opened it.
   */
  appendedAt(offset: number): number {
    return this.#appends.appendedAt(offset);
  }

  /**
   * Resolves when the journal grows past `offset`, or at once when it already has. Rejects when
   * the signal aborts.
   */
  waitFor(offset: number, signal?: AbortSignal): Promise<void> {
    if (this.#end.offset > offset || this.#closed) return Promise.resolve();
    return this.#readers.wait(signal);
  }

  /** How many times outputs have released what they passed: a wait for space compares it. */
  get releases(): number {
    return this.#releases;
  }

  /**
   * Resolves when outputs release what they have passed (segments may have been deleted), or
   * after `ms` at the latest; at once when they did since `releases` was `since`.
   */
  async waitForSpace(ms: number, since: number = this.#releases): Promise<void> {
    if (this.#releases !== since) return;
    const timer = new AbortController();
    const woken = this.#space.wait(timer.signal).catch(() => {});
    await Promise.race([woken, this.#clock.sleep(ms, timer.signal).catch(() => {})]);
    timer.abort();
  }

  /**
   * Where the lines of `length` bytes from `offset` (a line start) end, relative to `offset`, when
   * the journal still knows every one of them; else `undefined`.
   */
  lineEnds(offset: number, length: number): Int32Array | undefined {
    return this.#lineIndex.lineEnds(offset, length);
  }

  /**
   * The furthest position the journal knows of after `from` and up to `limit` (both line starts)
   * with fewer than `lines` lines and fewer than `bytes` line bytes (terminators not counted)
   * between it and `from`; `from` itself when it knows none (see {@linkcode AppendIndex}).
   */
  skipAhead(from: Position, limit: Position, lines: number, bytes: number): Position {
    return this.#appends.skipAhead(from, limit, lines, bytes);
  }

  /**
   * A reader from `from` (up to the end, or `until`).
   *
   * @param chunkBytes Bytes read at most per call. @default 1 MiB
   */
  reader(from: Position, until?: Position, chunkBytes?: number): JournalReader {
    return new JournalReader(this.#source, from, until, chunkBytes);
  }

  /**
   * Deletes every closed segment that no range needs. A range is a span of byte offsets, `from`
   * included, `to` excluded, that some output will still read.
   *
   * @returns How many segments were deleted.
   */
  async retain(ranges: ReadonlyArray<{ from: number; to: number }>): Promise<number> {
    const dropped = await this.#segments.retain(ranges);
    if (dropped > 0) {
      const first = this.#segments.start.offset;
      this.#appends.forgetBefore(first);
      this.#lineIndex.forgetBefore(first);
    }
    // Outputs moved on, even if nothing could go: a full journal's input looks again.
    this.#releases++;
    this.#space.wakeAll();
    return dropped;
  }

  /** Closes the active segment file and wakes every waiter. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#segments.close();
    this.#readers.wakeAll();
  }
}
