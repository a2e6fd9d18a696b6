/**
 * The journal's segment files in `data_dir/journal`: each named after the position of its first
 * line, the last one active (appended to, with direct I/O where the filesystem allows it), and the
 * buffers readers borrow. Finding them at start-up cuts a record torn by a crash.
 *
 * @module
 */
import { alignedBuffer, DirectAppender } from "../base/direct_io.ts";
import { BufferPool } from "../base/buffer_pool.ts";
import { joinPath, readAt, writeAllSync } from "../base/fs.ts";
import type { Logger } from "../base/log.ts";
import { ORIGIN, type Position } from "./position.ts";

/** One segment file. */
export interface Segment {
  start: Position;
  path: string;
  /** Size in bytes; for the active segment, its committed size. */
  size: number;
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
const NAME = /^(\d{16})-(\d{12})\.ndjson$/;
const SCAN_BYTES = 1024 * 1024;

function segmentName(start: Position): string {
  return `${String(start.offset).padStart(16, "0")}-${String(start.seq).padStart(12, "0")}.ndjson`;
}

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

/**
 * The segment files of `dir`, oldest first (one empty one made when there is none), and where
 * their complete lines end. A torn record at the end, left by a crash in the middle of a write, is
 * cut off with a warning; zero bytes after the last line (a direct write's padding) quietly.
 */
export async function findSegments(
  dir: string,
  logger?: Logger,
): Promise<{ list: Segment[]; end: Position }> {
  const list: Segment[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = entry.isFile ? NAME.exec(entry.name) : null;
    if (!match) continue;
    const path = joinPath(dir, entry.name);
    const size = (await Deno.stat(path)).size;
    list.push({ start: { offset: Number(match[1]), seq: Number(match[2]) }, path, size });
  }
  list.sort((a, b) => a.start.offset - b.start.offset);
  if (list.length === 0) {
    const path = joinPath(dir, segmentName(ORIGIN));
    await Deno.writeFile(path, new Uint8Array(0));
    list.push({ start: ORIGIN, path, size: 0 });
  }
  const last = list.at(-1)!;
  const { size, complete, torn, lines } = scanSegment(last.path);
  if (complete < size) {
    if (torn) {
      logger?.warn("Cut a torn record off the end of the journal", {
        segment: last.path,
        bytes: size - complete,
      });
    }
    await Deno.truncate(last.path, complete);
  }
  last.size = complete;
  await Deno.remove(joinPath(dir, "direct-probe")).catch(() => {});
  return { list, end: { offset: last.start.offset + complete, seq: last.start.seq + lines } };
}

/** Cuts segments back to `end`: later segments are deleted, the one holding it truncated. */
export async function cutSegments(list: Segment[], end: Position): Promise<void> {
  while (list.length > 1 && list.at(-1)!.start.offset >= end.offset) {
    await Deno.remove(list.pop()!.path);
  }
  const last = list.at(-1)!;
  const size = Math.max(0, end.offset - last.start.offset);
  await Deno.truncate(last.path, size);
  last.size = size;
}

/** The segment files of one journal, the active one open for appending. */
export class Segments {
  readonly dir: string;
  #list: Segment[];
  #writer: SegmentWriter;
  #direct: boolean;
  readonly #readBuffers = new BufferPool();
  readonly #alignedBuffers = new BufferPool();

  /**
   * Segments found by {@linkcode findSegments}, the last one opened for appending.
   *
   * @param direct Write with direct I/O where the filesystem allows it.
   */
  constructor(dir: string, list: Segment[], direct: boolean) {
    this.dir = dir;
    this.#list = list;
    this.#direct = direct;
    this.#writer = this.#open(list.at(-1)!);
  }

  /** Opens a segment to append to: with direct I/O while the filesystem allows it. */
  #open(segment: Segment): SegmentWriter {
    if (this.#direct) {
      const direct = DirectAppender.open(segment.path, segment.size, this.dir);
      if (direct) return direct;
      this.#direct = false;
    }
    return new BufferedAppender(segment.path);
  }

  /** Whether segments are read and written with direct I/O. */
  get direct(): boolean {
    return this.#direct;
  }

  /** Where the oldest segment starts. */
  get start(): Position {
    return this.#list[0]!.start;
  }

  /** The segment appended to. */
  get active(): Segment {
    return this.#list.at(-1)!;
  }

  /** Number of segment files. */
  get count(): number {
    return this.#list.length;
  }

  /** Bytes on disk in all segments. */
  get bytes(): number {
    let total = 0;
    for (const segment of this.#list) total += segment.size;
    return total;
  }

  /** The oldest segment's span (its end is `end` while it is the active one). */
  oldest(end: Position): { start: Position; end: Position; active: boolean } {
    const list = this.#list;
    const active = list.length === 1;
    return { start: list[0]!.start, end: active ? end : list[1]!.start, active };
  }

  /** Appends to the active segment; a failed write is cut back off, and its error thrown. */
  write(data: Uint8Array): void {
    const active = this.active;
    try {
      this.#writer.write(data);
    } catch (error) {
      try {
        this.#writer.truncate(active.size);
      } catch {
        // the write's error is the one to report
      }
      throw error;
    }
    active.size += data.length;
  }

  /** Takes the last `bytes` written back off the active segment (their commit failed). */
  unwrite(bytes: number): void {
    const active = this.active;
    active.size -= bytes;
    try {
      this.#writer.truncate(active.size);
    } catch {
      // the commit's error is the one to report
    }
  }

  /**
   * Closes the active segment and begins a new one at `end`. When no new one can be made (a full
   * disk), the old one stays active and the error is thrown.
   */
  roll(end: Position): void {
    const active = this.active;
    this.#writer.close();
    const segment = { start: { ...end }, path: joinPath(this.dir, segmentName(end)), size: 0 };
    try {
      this.#writer = this.#open(segment);
    } catch (error) {
      this.#writer = this.#open(active);
      throw error;
    }
    this.#list.push(segment);
  }

  /**
   * Deletes every closed segment that no range needs (a span of byte offsets, `from` included,
   * `to` excluded, that something will still read).
   *
   * @returns How many were deleted.
   */
  async retain(ranges: ReadonlyArray<{ from: number; to: number }>): Promise<number> {
    const keep: Segment[] = [];
    const drop: Segment[] = [];
    const last = this.#list.length - 1;
    this.#list.forEach((segment, i) => {
      const start = segment.start.offset;
      const end = start + segment.size;
      const needed = i === last || ranges.some((r) => r.from < end && r.to > start);
      (needed ? keep : drop).push(segment);
    });
    this.#list = keep;
    for (const segment of drop) {
      await Deno.remove(segment.path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
    return drop.length;
  }

  /** The segment holding `offset`, where its committed bytes end, and the next one. */
  segmentAt(offset: number): { segment: Segment; end: number; next?: Segment } | undefined {
    const list = this.#list;
    for (let i = list.length - 1; i >= 0; i--) {
      const segment = list[i]!;
      if (segment.start.offset <= offset) {
        return { segment, end: segment.start.offset + segment.size, next: list[i + 1] };
      }
    }
    return undefined;
  }

  /**
   * A read buffer of at least `size` bytes from the pool. Readers come and go with every batch;
   * pooling their buffers keeps large allocations (and so memory) low.
   */
  takeBuffer(size: number): Uint8Array {
    return this.#readBuffers.take(size) ?? new Uint8Array(size);
  }

  /** Returns a read buffer to the pool. */
  giveBuffer(buffer: Uint8Array): void {
    this.#readBuffers.give(buffer);
  }

  /**
   * A buffer aligned for direct reads, of at least `size` bytes (a multiple of the block size),
   * from the pool; `undefined` when none can be had.
   */
  takeAligned(size: number): Uint8Array | undefined {
    return this.#alignedBuffers.take(size) ?? alignedBuffer(size, this.dir);
  }

  /** Returns an aligned buffer to the pool. */
  giveAligned(buffer: Uint8Array): void {
    this.#alignedBuffers.give(buffer);
  }

  /** Closes the active segment file. */
  close(): void {
    this.#writer.close();
  }
}
