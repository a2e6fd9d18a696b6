/**
 * Direct I/O (`O_DIRECT`) for the journal's segment files: reads and writes go between hitship's
 * own, reused buffers and the disk, not through the page cache.
 *
 * Every journaled byte written through the page cache takes a page of memory that was not in use
 * a moment ago, and on a virtual machine that hands free memory back to its host such pages are
 * slow to touch: writing 162 MiB to a new file and reading it back costs about 0.46 s of system
 * time there, against 0.02-0.04 s with direct I/O. Direct I/O wants the buffer's address, the file
 * position and the length aligned to the device's block size; {@linkcode BLOCK} (4 KiB) covers
 * every common device. Where a filesystem refuses `O_DIRECT`, callers fall back to ordinary I/O.
 *
 * @module
 */
import fs from "node:fs";
import { BufferPool } from "./buffer_pool.ts";
import { joinPath } from "./fs.ts";

/** The alignment of direct I/O: addresses, positions and lengths are multiples of it. */
export const BLOCK = 4096;

const { O_RDONLY, O_RDWR, O_CREAT, O_DIRECT } = fs.constants;
const PROBE = "direct-probe";

/** Rounds up to a multiple of {@linkcode BLOCK}. */
export function roundUp(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/**
 * Opens `path` for direct reads (and writes, creating it, with `write`), or returns `undefined`
 * where the filesystem does not do direct I/O.
 */
export function openDirect(path: string, write = false): number | undefined {
  if (O_DIRECT === undefined) return undefined;
  try {
    return fs.openSync(path, O_DIRECT | (write ? O_RDWR | O_CREAT : O_RDONLY), 0o644);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") throw error;
    return undefined;
  }
}

/** Where in its allocation the last aligned buffer began; -1 before the first. */
let lastAligned = -1;

const WASM_PAGE = 64 * 1024;

/**
 * `size` bytes of a WebAssembly memory of their own, or `undefined` where none can be had (an
 * address-space limit: each reserves gigabytes of address space, though only the pages written
 * take memory). A WebAssembly memory begins on a page boundary.
 */
function wasmMemory(size: number): Uint8Array | undefined {
  try {
    const pages = Math.ceil(size / WASM_PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    return new Uint8Array(memory.buffer, 0, size);
  } catch {
    return undefined;
  }
}

/**
 * A buffer of `size` bytes (a multiple of {@linkcode BLOCK}) whose memory is aligned for direct
 * I/O, or `undefined` when none can be had. JavaScript cannot ask for an aligned address, so the
 * address is proved by a direct write of one block: into a scratch file in the directory `probe`,
 * or at the start of the open file `probe` (whose first block is then to be written over). The
 * buffer is a WebAssembly memory, which begins on a page boundary (one write proves it, 0.2-0.8
 * ms); where that fails, a larger ordinary buffer is allocated and the aligned place in it found
 * by trying a write at every 8th byte (a failed try costs about 0.35 ms; a search from 0 took 62
 * of them, 22-26 ms, on this project's machine).
 */
export function alignedBuffer(size: number, probe: string | number): Uint8Array | undefined {
  const path = typeof probe === "string" ? joinPath(probe, PROBE) : undefined;
  const fd = path === undefined ? probe as number : openDirect(path, true);
  if (fd === undefined) return undefined;
  const fits = (buffer: Uint8Array, at: number) => {
    try {
      fs.writeSync(fd, buffer, at, BLOCK, 0);
      return true;
    } catch {
      return false; // not aligned here, or no direct writes at all
    }
  };
  try {
    const page = wasmMemory(size);
    if (page && fits(page, 0)) return page;
    const raw = new Uint8Array(size + BLOCK);
    // Large buffers come from the allocator at the same offset within a page, time after time:
    // the place found last time is tried first.
    if (lastAligned >= 0 && fits(raw, lastAligned)) {
      return raw.subarray(lastAligned, lastAligned + size);
    }
    for (let at = 0; at < BLOCK; at += 8) {
      if (at !== lastAligned && fits(raw, at)) {
        lastAligned = at;
        return raw.subarray(at, at + size);
      }
    }
    return undefined;
  } finally {
    if (path !== undefined) {
      fs.closeSync(fd);
      try {
        fs.unlinkSync(path);
      } catch {
        // gone
      }
    }
  }
}

/** Reads `length` bytes at `position` into `buffer` from `offset`, until the file ends. */
export function readFully(
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number,
  position: number,
): number {
  let filled = 0;
  while (filled < length) {
    const n = fs.readSync(fd, buffer, offset + filled, length - filled, position + filled);
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

function writeFully(fd: number, buffer: Uint8Array, length: number, position: number): void {
  let written = 0;
  while (written < length) {
    written += fs.writeSync(fd, buffer, written, length - written, position + written);
  }
}

const STAGE_BYTES = 1024 * 1024;
/** Staging buffers of closed appenders, for the next ones: aligned memory that is already used. */
const stages = new BufferPool(4);

/** `EINVAL`: what a direct read or write that the filesystem or device refuses fails with. */
export function isInvalidArgument(error: unknown): boolean {
  return (error as { code?: string }).code === "EINVAL" ||
    /os error 22|Invalid argument/i.test(String((error as Error)?.message));
}

/**
 * Appends to a file with direct I/O. Data goes through an aligned staging buffer that also holds
 * the file's last, partial block: each write rewrites that block and pads the last one it writes
 * with zeros, which {@linkcode close} and {@linkcode truncate} cut off again. A file left with
 * padding by a crash ends in zero bytes after its last line. A filesystem that opens files for
 * direct I/O but refuses the writes (`EINVAL`) gets the rest through the page cache.
 */
export class DirectAppender {
  readonly #path: string;
  #fd: number;
  #stage: Uint8Array | undefined;
  #size: number;
  #tail = 0;

  private constructor(path: string, fd: number, stage: Uint8Array, size: number) {
    this.#path = path;
    this.#fd = fd;
    this.#stage = stage;
    this.#size = size;
    this.#loadTail();
  }

  /**
   * Opens `path` (created when missing) to append after its first `size` bytes, or returns
   * `undefined` when the filesystem does not do direct I/O. `dir` is where alignment is probed
   * when the file is not empty.
   */
  static open(path: string, size: number, dir: string): DirectAppender | undefined {
    const fd = openDirect(path, true);
    if (fd === undefined) return undefined;
    const stage = stages.take(STAGE_BYTES) ?? alignedBuffer(STAGE_BYTES, size === 0 ? fd : dir);
    if (!stage) {
      fs.closeSync(fd);
      return undefined;
    }
    return new DirectAppender(path, fd, stage, size);
  }

  /** Bytes in the file, padding not counted. */
  get size(): number {
    return this.#size;
  }

  /** Whether writes still go past the page cache. */
  get direct(): boolean {
    return this.#stage !== undefined;
  }

  /** Appends all of `data`. */
  write(data: Uint8Array): void {
    const before = this.#size;
    if (this.#stage) {
      try {
        this.#writeDirect(data);
        return;
      } catch (error) {
        if (!isInvalidArgument(error)) throw error;
        this.#useThePageCache();
      }
    }
    // What the direct writes did not get to.
    const rest = data.subarray(this.#size - before);
    writeFully(this.#fd, rest, rest.length, this.#size);
    this.#size += rest.length;
  }

  #writeDirect(data: Uint8Array): void {
    const stage = this.#stage!;
    let from = 0;
    while (from < data.length) {
      const n = Math.min(stage.length - this.#tail, data.length - from);
      stage.set(data.subarray(from, from + n), this.#tail);
      const filled = this.#tail + n;
      const padded = roundUp(filled);
      stage.fill(0, filled, padded);
      writeFully(this.#fd, stage, padded, this.#size - this.#tail);
      this.#size += n;
      from += n;
      const whole = filled - (filled % BLOCK);
      this.#tail = filled - whole;
      if (whole > 0 && this.#tail > 0) stage.copyWithin(0, whole, filled);
    }
  }

  /** Reopens the file without direct I/O, its padding cut off. */
  #useThePageCache(): void {
    fs.ftruncateSync(this.#fd, this.#size);
    fs.closeSync(this.#fd);
    this.#fd = fs.openSync(this.#path, "r+");
    this.#giveStage();
  }

  #giveStage(): void {
    if (this.#stage) stages.give(this.#stage);
    this.#stage = undefined;
  }

  /** Cuts the file to `size` bytes (after a failed write). */
  truncate(size: number): void {
    fs.ftruncateSync(this.#fd, size);
    this.#size = size;
    this.#loadTail();
  }

  /** Cuts the padding off and closes the file. */
  close(): void {
    try {
      fs.ftruncateSync(this.#fd, this.#size);
    } finally {
      fs.closeSync(this.#fd);
      this.#giveStage();
    }
  }

  #loadTail(): void {
    if (!this.#stage) return;
    this.#tail = this.#size % BLOCK;
    if (this.#tail === 0) return;
    const start = this.#size - this.#tail;
    const n = readFully(this.#fd, this.#stage, 0, BLOCK, start);
    if (n < this.#tail) {
      throw new Error(`Cannot append: the file holds ${start + n} bytes, not ${this.#size}`);
    }
  }
}
