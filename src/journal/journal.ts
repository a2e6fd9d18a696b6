/**
 * The journal: append-only segment files of validated raw hit lines in `data_dir/journal`.
 *
 * Every hit is written once, whatever the number of outputs; each output reads it with its own
 * {@linkcode JournalReader} from its own persisted {@linkcode Position}. A segment is named after
 * the position of its first line and holds NDJSON exactly as the node wrote it.
 *
 * @module
 */
import { alignedBuffer, DirectAppender } from "../base/direct_io.ts";
import { BufferPool } from "../base/buffer_pool.ts";
import { joinPath, readAt, readJsonFile, writeAllSync, writeFileAtomicSync } from "../base/fs.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { JsonValue } from "../sdk/input.ts";
import { LineEndIndex } from "./line_ends.ts";
import { JournalReader } from "./reader.ts";

/** A place in the journal: a byte offset and a hit sequence number, both counted from the start. */
export interface Position {
  /** Bytes from the start of the journal, line terminators included. */
  offset: number;
  /** Hits from the start of the journal. */
  seq: number;
}

/** The start of an empty journal. */
export const ORIGIN: Position = { offset: 0, seq: 0 };

interface Segment {
  start: Position;
  path: string;
  /** Size in bytes; for the active segment, its committed size. */
  size: number;
}

/**
 * Where an input stood when its lines were journaled: its own state, which the journal keeps
 * without knowing what it means (a file's identity and offset, say), and how many lines of its
 * current stream came before, so that line numbers go on after a restart.
 */
export interface InputCheckpoint {
  state: JsonValue;
  line: number;
}

interface CheckpointFile {
  journal: Position;
  inputs?: Record<string, InputCheckpoint>;
  /** The one file input's state, as data directories made before named inputs hold it. */
  input?: ({ line?: number } & { [key: string]: JsonValue | undefined }) | null;
}

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

/** Appends to the active segment. */
interface SegmentWriter {
  write(data: Uint8Array): void;
  /** Cuts the segment back to `size` bytes. */
  truncate(size: number): void;
  close(): void;
}

/** Appends through the page cache. */
class BufferedAppender implements SegmentWriter {
  readonly #file: Deno.FsFile;
  constructor(path: string) {
    this.#file = Deno.openSync(path, { create: true, append: true });
  }
  write(data: Uint8Array): void {
    writeAllSync(this.#file, data);
  }
  truncate(size: number): void {
    this.#file.truncateSync(size);
  }
  close(): void {
    this.#file.close();
  }
}

const NEWLINE = 0x0a;
const MARK_BYTES = 256 * 1024;
const CHECKPOINT = "checkpoint.json";
const NAME = /^(\d{16})-(\d{12})\.ndjson$/;

function segmentName(start: Position): string {
  return `${String(start.offset).padStart(16, "0")}-${String(start.seq).padStart(12, "0")}.ndjson`;
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
  #segments: Segment[];
  #file!: SegmentWriter;
  #direct: boolean;
  #end: Position;
  #waiters = new Set<() => void>();
  #closed = false;
  #writeBuffer = new Uint8Array(256 * 1024);
  #checkpoints: Record<string, InputCheckpoint> = {};
  #clock: Clock = systemClock;
  #releases = 0;
  #spaceWaiters = new Set<() => void>();
  #checkpointWritten = false;
  readonly #readBuffers = new BufferPool();
  readonly #alignedBuffers = new BufferPool();
  /** Positions between appends, at least `MARK_BYTES` apart, to find lines without reading. */
  #marks: Position[] = [];
  /**
   * When lines were appended: [end offset, clock time of the first append of a second], one entry
   * per second at most (a later append of that second moves its end). For the age of what an
   * output has still to deliver; lines from before this process count from its start.
   */
  #times: Array<[number, number]> = [];
  #openedAt = 0;
  #openedEnd = 0;
  /** Line ends of recent appends: where each starts, and where its lines end, relative to it. */
  readonly #lineIndex = new LineEndIndex();

  private constructor(dir: string, segmentBytes: number, segments: Segment[], direct: boolean) {
    this.dir = dir;
    this.segmentBytes = segmentBytes;
    this.#segments = segments;
    this.#direct = direct;
    const last = segments.at(-1)!;
    this.#end = { offset: last.start.offset + last.size, seq: last.start.seq };
    this.#file = this.#openWriter(last);
  }

  /** Whether segments are read and written with direct I/O. */
  get direct(): boolean {
    return this.#direct;
  }

  /** Opens a segment to append to: with direct I/O while the filesystem allows it. */
  #openWriter(segment: Segment): SegmentWriter {
    if (this.#direct) {
      const direct = DirectAppender.open(segment.path, segment.size, this.dir);
      if (direct) return direct;
      this.#direct = false;
    }
    return new BufferedAppender(segment.path);
  }

  /**
   * Opens (or creates) the journal in `dir`. A torn record at the end, left by a crash in the
   * middle of a write, is cut off with a warning.
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    await Deno.mkdir(dir, { recursive: true });
    const segments: Segment[] = [];
    for await (const entry of Deno.readDir(dir)) {
      const match = entry.isFile ? NAME.exec(entry.name) : null;
      if (!match) continue;
      const path = joinPath(dir, entry.name);
      const size = (await Deno.stat(path)).size;
      segments.push({ start: { offset: Number(match[1]), seq: Number(match[2]) }, path, size });
    }
    segments.sort((a, b) => a.start.offset - b.start.offset);
    if (segments.length === 0) {
      const path = joinPath(dir, segmentName(ORIGIN));
      await Deno.writeFile(path, new Uint8Array(0));
      segments.push({ start: ORIGIN, path, size: 0 });
    }
    const last = segments.at(-1)!;
    const { size, complete, torn, lines } = scanSegment(last.path);
    if (complete < size) {
      // Zero bytes after the last line are the padding of a direct write, left by a stop
      // without a clean close; anything else is a record torn by a crash.
      if (torn) {
        options.logger?.warn("Cut a torn record off the end of the journal", {
          segment: last.path,
          bytes: size - complete,
        });
      }
      await Deno.truncate(last.path, complete);
    }
    last.size = complete;
    let end: Position = { offset: last.start.offset + complete, seq: last.start.seq + lines };
    const saved = await readJsonFile<CheckpointFile>(joinPath(dir, CHECKPOINT));
    const inputs = savedInputs(saved);
    if (saved && Object.keys(inputs).length > 0 && saved.journal.offset < end.offset) {
      // Lines appended after the last checkpoint: the input had not committed them, so they are
      // cut here and read again from the input.
      options.logger?.warn("Cut journal lines written after the last input checkpoint", {
        bytes: end.offset - saved.journal.offset,
        lines: end.seq - saved.journal.seq,
      });
      await truncateSegments(segments, saved.journal);
      end = saved.journal;
    }
    await Deno.remove(joinPath(dir, "direct-probe")).catch(() => {});
    const journal = new Journal(
      dir,
      options.segmentBytes ?? 64 * 1024 * 1024,
      segments,
      options.directIO ?? true,
    );
    journal.#end = end;
    journal.#checkpoints = inputs;
    journal.#clock = options.clock ?? systemClock;
    journal.#openedAt = journal.#clock.now();
    journal.#openedEnd = journal.#end.offset;
    return journal;
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
    return this.#segments[0]!.start;
  }

  /** Bytes on disk in all segments. */
  get bytes(): number {
    let total = 0;
    for (const segment of this.#segments) total += segment.size;
    return total;
  }

  /** Number of segment files. */
  get segmentCount(): number {
    return this.#segments.length;
  }

  /**
   * The oldest segment's span: where its lines start and end, and whether it is the active one
   * (still appended to). Deleting it frees the most space for the least loss.
   */
  get oldest(): { start: Position; end: Position; active: boolean } {
    const segments = this.#segments;
    const active = segments.length === 1;
    return {
      start: segments[0]!.start,
      end: active ? this.#end : segments[1]!.start,
      active,
    };
  }

  /**
   * Closes the active segment and begins a new, empty one, so that the lines written so far can be
   * released once no output needs them. Nothing happens when the active segment is empty.
   */
  roll(): void {
    if (this.#closed) return;
    if (this.#segments.at(-1)!.size > 0) this.#roll();
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
    const { raw, rawEnds, input } = entry;
    const rawCount = entry.rawCount ?? 0;
    const checkpoint = input === undefined ? null : entry.checkpoint ?? null;
    const before = input === undefined ? null : this.#checkpoints[input] ?? null;
    if (
      lines.length === 0 && rawCount === 0 &&
      (checkpoint === null || JSON.stringify(checkpoint) === JSON.stringify(before))
    ) {
      return this.#end;
    }
    if (this.#closed) throw new Error("Cannot append: the journal is closed");
    let active = this.#segments.at(-1)!;
    if (active.size > 0 && active.size >= this.segmentBytes) active = this.#roll();
    let framed = 0;
    for (const line of lines) framed += line.length + 1;
    const total = framed + (raw?.length ?? 0);
    let buffer: Uint8Array;
    if (framed === 0 && raw) {
      buffer = raw; // already framed lines: written as they are
    } else {
      // One write buffer, reused: appends are awaited one at a time.
      if (this.#writeBuffer.length < total) {
        this.#writeBuffer = new Uint8Array(Math.max(total, this.#writeBuffer.length * 2));
      }
      buffer = this.#writeBuffer.subarray(0, total);
      let at = 0;
      for (const line of lines) {
        buffer.set(line, at);
        at += line.length;
        buffer[at++] = NEWLINE;
      }
      if (raw) buffer.set(raw, at);
    }
    try {
      this.#file.write(buffer);
    } catch (error) {
      try {
        this.#file.truncate(active.size);
      } catch {
        // the write's error is the one to report
      }
      throw error;
    }
    active.size += total;
    const end = { offset: this.#end.offset + total, seq: this.#end.seq + lines.length + rawCount };
    const checkpoints = checkpoint === null
      ? this.#checkpoints
      : { ...this.#checkpoints, [input!]: checkpoint };
    if (!this.#checkpointWritten || Object.keys(checkpoints).length > 0) {
      // The rename of the checkpoint file is the commit point.
      const record: CheckpointFile = { journal: end, inputs: checkpoints };
      try {
        writeFileAtomicSync(joinPath(this.dir, CHECKPOINT), JSON.stringify(record));
      } catch (error) {
        active.size -= total;
        try {
          this.#file.truncate(active.size);
        } catch {
          // the checkpoint's error is the one to report
        }
        throw error;
      }
      this.#checkpointWritten = true;
      this.#checkpoints = checkpoints;
    }
    const known = !raw || rawEnds?.length === rawCount;
    if (known && this.#lineIndex.fits(lines.length + rawCount)) {
      // The line ends of the whole append: the framed lines' from their lengths, then raw's.
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
    this.#end = end;
    const lastMark = this.#marks.at(-1);
    if (end.offset - (lastMark?.offset ?? 0) >= MARK_BYTES) this.#marks.push(end);
    const now = this.#clock.now();
    const last = this.#times.at(-1);
    if (last && now - last[1] < 1000) last[0] = end.offset;
    else this.#times.push([end.offset, now]);
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
    return this.#end;
  }

  /**
   * When the line at `offset` was appended (clock time, to the second): for lines journaled before
   * this process opened the journal, when it opened it.
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

  #roll(): Segment {
    const active = this.#segments.at(-1)!;
    this.#file.close();
    const path = joinPath(this.dir, segmentName(this.#end));
    const segment = { start: { ...this.#end }, path, size: 0 };
    try {
      this.#file = this.#openWriter(segment);
    } catch (error) {
      // No new segment (a full disk): the old one stays active.
      this.#file = this.#openWriter(active);
      throw error;
    }
    this.#segments.push(segment);
    return segment;
  }

  /**
   * Resolves when the journal grows past `offset`, or at once when it already has. Rejects when
   * the signal aborts.
   */
  waitFor(offset: number, signal?: AbortSignal): Promise<void> {
    if (this.#end.offset > offset || this.#closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const wake = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#waiters.delete(wake);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(wake);
    });
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
    const woken = new Promise<void>((resolve) => {
      const done = () => {
        this.#spaceWaiters.delete(done);
        resolve();
      };
      this.#spaceWaiters.add(done);
      timer.signal.addEventListener("abort", done);
    });
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
   * between it and `from`; `from` itself when it knows none. Positions between appends are kept
   * from this run, so a batch can be cut without counting every line before its end.
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

  /** A reader from `from` (up to the end, or `until`). */
  reader(from: Position, until?: Position): JournalReader {
    return new JournalReader(this, from, until);
  }

  /**
   * Deletes every closed segment that no range needs. A range is a span of byte offsets, `from`
   * included, `to` excluded, that some output will still read.
   *
   * @returns How many segments were deleted.
   */
  async retain(ranges: ReadonlyArray<{ from: number; to: number }>): Promise<number> {
    const keep: Segment[] = [];
    const drop: Segment[] = [];
    const last = this.#segments.length - 1;
    this.#segments.forEach((segment, i) => {
      const start = segment.start.offset;
      const end = start + segment.size;
      const needed = i === last || ranges.some((r) => r.from < end && r.to > start);
      (needed ? keep : drop).push(segment);
    });
    if (drop.length === 0) {
      // Outputs moved on even if nothing could go: a full journal's input looks again.
      this.#wakeSpaceWaiters();
      return 0;
    }
    this.#segments = keep;
    const first = keep[0]!.start.offset;
    const gone = this.#marks.findIndex((m) => m.offset >= first);
    this.#marks.splice(0, gone < 0 ? this.#marks.length : gone);
    const past = this.#times.findIndex(([to]) => to > first);
    this.#times.splice(0, past < 0 ? this.#times.length : past);
    this.#lineIndex.forgetBefore(first);
    for (const segment of drop) {
      await Deno.remove(segment.path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
    this.#wakeSpaceWaiters();
    return drop.length;
  }

  #wakeSpaceWaiters(): void {
    this.#releases++;
    const waiters = [...this.#spaceWaiters];
    this.#spaceWaiters.clear();
    for (const wake of waiters) wake();
  }

  /**
   * @internal A read buffer of at least `size` bytes from the journal's pool. Readers come and go
   * with every batch; pooling their buffers keeps large allocations (and so memory) low.
   */
  takeBuffer(size: number): Uint8Array {
    return this.#readBuffers.take(size) ?? new Uint8Array(size);
  }

  /** @internal Returns a read buffer to the pool. */
  giveBuffer(buffer: Uint8Array): void {
    this.#readBuffers.give(buffer);
  }

  /**
   * @internal A buffer aligned for direct reads, of at least `size` bytes (a multiple of
   * the block size), from the journal's pool; `undefined` when none can be had.
   */
  takeAligned(size: number): Uint8Array | undefined {
    return this.#alignedBuffers.take(size) ?? alignedBuffer(size, this.dir);
  }

  /** @internal Returns an aligned buffer to the pool. */
  giveAligned(buffer: Uint8Array): void {
    this.#alignedBuffers.give(buffer);
  }

  /** @internal The segment holding `offset`, for readers. */
  segmentAt(offset: number): { segment: Segment; end: number; next?: Segment } | undefined {
    const segments = this.#segments;
    for (let i = segments.length - 1; i >= 0; i--) {
      const segment = segments[i]!;
      if (segment.start.offset <= offset) {
        return { segment, end: segment.start.offset + segment.size, next: segments[i + 1] };
      }
    }
    return undefined;
  }

  /** Closes the active segment file and wakes every waiter. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }
}

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

/** The inputs' checkpoints of a checkpoint file, whichever version wrote it. */
function savedInputs(saved: CheckpointFile | undefined): Record<string, InputCheckpoint> {
  if (!saved) return {};
  if (saved.inputs) return saved.inputs;
  if (!saved.input) return {};
  const { line, ...state } = saved.input;
  return { input: { state: state as JsonValue, line: line ?? 0 } };
}

const SCAN_BYTES = 1024 * 1024;

/**
 * Reads a segment a piece at a time (memory stays at one piece whatever its size): where its last
 * complete line ends, whether non-zero bytes follow it (a torn record), and how many lines it
 * holds.
 */
function scanSegment(
  path: string,
): { size: number; complete: number; torn: boolean; lines: number } {
  using file = Deno.openSync(path, { read: true });
  const size = file.statSync().size;
  const buffer = new Uint8Array(Math.min(SCAN_BYTES, Math.max(size, 1)));
  let complete = 0;
  let torn = false;
  // Back from the end to the last newline; what follows it must be zeros (padding) or is torn.
  for (let end = size; end > 0;) {
    const start = Math.max(0, end - buffer.length);
    const piece = buffer.subarray(0, readAt(file, start, buffer.subarray(0, end - start)));
    const i = piece.lastIndexOf(NEWLINE);
    const after = piece.subarray(i + 1);
    if (!torn && after.some((b) => b !== 0)) torn = true;
    if (i >= 0) {
      complete = start + i + 1;
      break;
    }
    end = start;
  }
  let lines = 0;
  for (let start = 0; start < complete; start += buffer.length) {
    const n = readAt(file, start, buffer.subarray(0, Math.min(buffer.length, complete - start)));
    const piece = buffer.subarray(0, n);
    for (let i = piece.indexOf(NEWLINE); i >= 0; i = piece.indexOf(NEWLINE, i + 1)) lines++;
  }
  return { size, complete, torn, lines };
}

/** Cuts the segments back to `end`: later segments are deleted, the one holding it truncated. */
async function truncateSegments(segments: Segment[], end: Position): Promise<void> {
  while (segments.length > 1 && segments.at(-1)!.start.offset >= end.offset) {
    await Deno.remove(segments.pop()!.path);
  }
  const last = segments.at(-1)!;
  const size = Math.max(0, end.offset - last.start.offset);
  await Deno.truncate(last.path, size);
  last.size = size;
}
