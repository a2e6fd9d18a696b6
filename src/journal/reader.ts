/**
 * Reading the journal: lines from a position forward, a chunk at a time, with direct I/O where
 * the journal writes with it, through buffers pooled by the journal.
 *
 * @module
 */
import fs from "node:fs";
import { BLOCK, isInvalidArgument, openDirect, readFully, roundUp } from "../base/direct_io.ts";
import { readAt } from "../base/fs.ts";
import { rememberLineEnds } from "../base/line_ends.ts";
import type { Position } from "./position.ts";
import type { Segment } from "./segments.ts";

const NEWLINE = 0x0a;

/**
 * What a reader reads through: the journal's end and segments, its pooled buffers, and the line
 * ends it knows. The journal hands one to each reader it makes.
 */
export interface ReaderSource {
  /** The position after the last committed line. */
  readonly end: Position;
  /** Whether segments are read with direct I/O. */
  readonly direct: boolean;
  /** The segment holding `offset`, where its committed bytes end, and the next one. */
  segmentAt(offset: number): { segment: Segment; end: number; next?: Segment } | undefined;
  /** A read buffer of at least `size` bytes. */
  takeBuffer(size: number): Uint8Array;
  /** Returns a read buffer. */
  giveBuffer(buffer: Uint8Array): void;
  /** A buffer aligned for direct reads, of at least `size` bytes, or `undefined`. */
  takeAligned(size: number): Uint8Array | undefined;
  /** Returns an aligned buffer. */
  giveAligned(buffer: Uint8Array): void;
  /** Where the lines of `length` bytes from `offset` end, when all are known. */
  lineEnds(offset: number, length: number): Int32Array | undefined;
}

/** A chunk of lines read from the journal. */
export interface JournalChunk {
  /** The lines, without terminators. */
  lines: Uint8Array[];
  /** Where the first line starts. */
  start: Position;
  /** Where the reader stands after the chunk. */
  end: Position;
}

/** Reads lines from a position forward, a chunk at a time. */
export class JournalReader {
  #journal: ReaderSource;
  #position: Position;
  #until: Position | undefined;
  #file: Deno.FsFile | undefined;
  #fd: number | undefined;
  #filePath = "";
  #chunkBytes: number;
  #buffer: Uint8Array | undefined;
  #aligned: Uint8Array | undefined;

  /**
   * A reader through `journal` from `from` (up to its end, or `until`).
   *
   * @param chunkBytes Bytes read at most per call. @default 1 MiB
   */
  constructor(
    journal: ReaderSource,
    from: Position,
    until?: Position,
    chunkBytes = 1024 * 1024,
  ) {
    this.#journal = journal;
    this.#position = { ...from };
    this.#until = until;
    this.#chunkBytes = chunkBytes;
  }

  /** Where the next read starts. */
  get position(): Position {
    return this.#position;
  }

  /**
   * Reads from the position into the reader's buffer, up to the last complete line (a line longer
   * than the buffer grows it), moving to the next segment at the end of one. The position is not
   * moved.
   *
   * @returns The buffer and where its last line ends, or `undefined` at the end.
   */
  async #fill(): Promise<Uint8Array | undefined> {
    for (;;) {
      const limit = Math.min(this.#journal.end.offset, this.#until?.offset ?? Infinity);
      if (this.#position.offset >= limit) return undefined;
      const found = this.#journal.segmentAt(this.#position.offset);
      if (!found) {
        throw new Error(
          `Cannot read the journal at offset ${this.#position.offset}: its segment was removed`,
        );
      }
      const { segment, end, next } = found;
      if (this.#position.offset >= end) {
        if (!next) return undefined;
        this.#position = { ...next.start };
        continue;
      }
      if (this.#filePath !== segment.path) {
        this.#closeFile();
        if (this.#journal.direct) this.#fd = openDirect(segment.path);
        if (this.#fd === undefined) this.#file = await Deno.open(segment.path, { read: true });
        this.#filePath = segment.path;
      }
      const local = this.#position.offset - segment.start.offset;
      const available = Math.min(end, limit) - this.#position.offset;
      let size = Math.min(available, this.#chunkBytes);
      for (;;) {
        const data = this.#readAt(local, size);
        const last = data.lastIndexOf(NEWLINE);
        if (last >= 0) return data.subarray(0, last + 1);
        // A line longer than the buffer: read more of it.
        if (size >= available) {
          throw new Error(`Cannot read the journal at offset ${this.#position.offset}: torn line`);
        }
        size = Math.min(available, size * 2);
      }
    }
  }

  /** Reads `size` bytes from `local` in the open segment into the reader's buffer. */
  #readAt(local: number, size: number): Uint8Array {
    const journal = this.#journal;
    if (this.#fd !== undefined) {
      // Direct reads cover whole blocks: from the block holding `local` to past `local + size`.
      const start = local - (local % BLOCK);
      const length = roundUp(local + size) - start;
      if (!this.#aligned || this.#aligned.length < length) {
        if (this.#aligned) journal.giveAligned(this.#aligned);
        // Room for a chunk starting anywhere in a block, so that one buffer serves every read.
        this.#aligned = journal.takeAligned(
          Math.max(length, roundUp(this.#chunkBytes) + 2 * BLOCK),
        );
      }
      if (this.#aligned) {
        try {
          const filled = readFully(this.#fd, this.#aligned, 0, length, start);
          return this.#aligned.subarray(local - start, Math.min(filled, local - start + size));
        } catch (error) {
          if (!isInvalidArgument(error)) throw error;
        }
      }
      // No aligned memory to be had, or direct reads refused: read through the page cache.
      fs.closeSync(this.#fd);
      this.#fd = undefined;
      this.#file = Deno.openSync(this.#filePath, { read: true });
    }
    if (!this.#buffer || this.#buffer.length < size) {
      if (this.#buffer) journal.giveBuffer(this.#buffer);
      this.#buffer = journal.takeBuffer(Math.max(size, this.#chunkBytes));
    }
    const buffer = this.#buffer.subarray(0, size);
    return buffer.subarray(0, readAt(this.#file!, local, buffer));
  }

  #closeFile(): void {
    this.#file?.close();
    this.#file = undefined;
    if (this.#fd !== undefined) fs.closeSync(this.#fd);
    this.#fd = undefined;
    this.#filePath = "";
  }

  /**
   * Reads the next complete lines that are available now. The lines share one buffer with the
   * reader: they are valid until the next call.
   *
   * @returns The lines, or `undefined` when the reader stands at the end (or at `until`).
   */
  async read(): Promise<JournalChunk | undefined> {
    const data = await this.#fill();
    if (!data) return undefined;
    const lines: Uint8Array[] = [];
    let from = 0;
    for (let i = data.indexOf(NEWLINE); i >= 0; i = data.indexOf(NEWLINE, from)) {
      lines.push(data.subarray(from, i));
      from = i + 1;
    }
    const start = this.#position;
    this.#position = { offset: start.offset + data.length, seq: start.seq + lines.length };
    return { lines, start, end: this.#position };
  }

  /**
   * Reads the next complete lines as they lie in the journal: one buffer of framed lines, each
   * ending in `\n`, valid until the next call. The reader's `seq` is not kept up by raw reads.
   */
  async readRaw(): Promise<Uint8Array | undefined> {
    const data = await this.#fill();
    if (!data) return undefined;
    const ends = this.#journal.lineEnds(this.#position.offset, data.length);
    if (ends) rememberLineEnds(data, ends);
    this.#position = { offset: this.#position.offset + data.length, seq: NaN };
    return data;
  }

  /** Reads every line up to `until` (or the current end), raw, a chunk at a time. */
  async *rawChunks(): AsyncGenerator<Uint8Array> {
    try {
      for (let chunk = await this.readRaw(); chunk; chunk = await this.readRaw()) yield chunk;
    } finally {
      this.close();
    }
  }

  /** Reads every line up to `until` (or the current end), a chunk at a time. */
  async *chunks(): AsyncGenerator<Uint8Array[]> {
    try {
      for (let chunk = await this.read(); chunk; chunk = await this.read()) yield chunk.lines;
    } finally {
      this.close();
    }
  }

  /** Closes the open segment file and gives the buffers back to the journal. */
  close(): void {
    this.#closeFile();
    if (this.#buffer) this.#journal.giveBuffer(this.#buffer);
    this.#buffer = undefined;
    if (this.#aligned) this.#journal.giveAligned(this.#aligned);
    this.#aligned = undefined;
  }
}
