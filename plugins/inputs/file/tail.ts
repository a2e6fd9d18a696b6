/**
 * The `file` input: tails the node's hit log. It follows appends (file-system events, with a
 * polling fallback), finishes a file that was renamed away before opening the new one at the
 * path (rotation), starts over when the file shrinks (copytruncate), and knows a file by its
 * device, inode and a fingerprint of its first bytes, so a reused inode is not taken for the same
 * file. A partial last line waits for its newline.
 *
 * @module
 */
import type { Clock, Logger } from "@hitship/hitship/sdk";
import { FileWatch } from "./watch.ts";

/**
 * What the tail yields: data with where it ends in its file (and whether it goes on from the
 * checkpoint), or a change of file.
 */
export type TailEvent =
  | { kind: "data"; data: Uint8Array; file: FileState; resumed: boolean }
  | { kind: "rotated"; file: FileState }
  | { kind: "truncated"; file: FileState };

/**
 * A file's identity and the offset just past the data yielded so far: the input's checkpoint.
 * A file is known by its device, inode and the hash of its first bytes, so a reused inode is not
 * taken for the same file.
 */
export interface FileState {
  path: string;
  dev: number;
  ino: number;
  /** FNV-1a hash of the file's first `fingerprint_bytes` bytes. */
  fingerprint: string;
  fingerprint_bytes: number;
  offset: number;
}

/** Reads into `buffer` from `offset` until it is full or the file ends. */
function readAt(file: Deno.FsFile, offset: number, buffer: Uint8Array): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < buffer.length) {
    const n = file.readSync(buffer.subarray(filled));
    if (n === null || n === 0) break;
    filled += n;
  }
  return filled;
}

/** Options of {@linkcode tailFile}. */
export interface TailOptions {
  path: string;
  /** Where to start when there is no checkpoint. */
  startAt: "beginning" | "end";
  /** Keep following; false reads to the end once. */
  follow: boolean;
  /** How often to look for appends and rotation when no file-system event comes, ms. */
  pollInterval: number;
  /** Where a previous run stopped. */
  checkpoint: FileState | null;
  logger: Logger;
  /** Times the polls. */
  clock: Clock;
}

const FINGERPRINT_BYTES = 1024;
const CHUNK_BYTES = 1024 * 1024;
/** The first bytes, read for every look at a growing file: one buffer for all of them. */
const printBuffer = new Uint8Array(FINGERPRINT_BYTES);

/** FNV-1a (32 bit) of some bytes, as hex. */
export function fnv1a(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (const b of bytes) {
    hash ^= b;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/**
 * The hash of a file's first `bytes` bytes, and how many there were: fewer when the file is
 * shorter now than a stat said a moment ago. A hash of fewer bytes never matches one of more.
 */
function fingerprint(file: Deno.FsFile, bytes: number): { hash: string; bytes: number } {
  const buffer = bytes <= FINGERPRINT_BYTES
    ? printBuffer.subarray(0, bytes)
    : new Uint8Array(bytes);
  const n = readAt(file, 0, buffer);
  return { hash: fnv1a(buffer.subarray(0, n)), bytes: n };
}

interface Current {
  file: Deno.FsFile;
  state: FileState;
}

async function open(path: string): Promise<Current | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const stat = await file.stat();
  const print = fingerprint(file, Math.min(stat.size, FINGERPRINT_BYTES));
  return {
    file,
    state: {
      path,
      dev: stat.dev,
      ino: stat.ino ?? 0,
      fingerprint: print.hash,
      fingerprint_bytes: print.bytes,
      offset: 0,
    },
  };
}

/** True when an open file is the one a checkpoint names (same inode and same first bytes). */
async function isSame(current: Current, checkpoint: FileState): Promise<boolean> {
  if (current.state.dev !== checkpoint.dev || current.state.ino !== checkpoint.ino) return false;
  const size = (await current.file.stat()).size;
  if (size < checkpoint.fingerprint_bytes) return false;
  const print = fingerprint(current.file, checkpoint.fingerprint_bytes);
  return print.bytes === checkpoint.fingerprint_bytes && print.hash === checkpoint.fingerprint;
}

/** Finds a file in `path`'s directory that is the checkpoint's file (renamed by a rotation). */
async function findRotated(checkpoint: FileState): Promise<Current | undefined> {
  const slash = checkpoint.path.lastIndexOf("/");
  const dir = slash < 0 ? "." : checkpoint.path.slice(0, slash) || "/";
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile) continue;
      const path = `${dir}/${entry.name}`;
      const stat = await Deno.stat(path).catch(() => undefined);
      if (!stat || stat.ino !== checkpoint.ino || stat.dev !== checkpoint.dev) continue;
      const candidate = await open(path);
      if (candidate && await isSame(candidate, checkpoint)) return candidate;
      candidate?.file.close();
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Tails a file from a checkpoint (or `start_at`), yielding data chunks (each valid until the next
 * is asked for) and rotation and truncation events, until the signal aborts or, with
 * `follow: false`, the end of the file.
 */
export async function* tailFile(
  options: TailOptions,
  signal: AbortSignal,
): AsyncGenerator<TailEvent> {
  const buffer = new Uint8Array(CHUNK_BYTES);
  const { path, logger } = options;
  let current = await open(path);
  // Whether the data read goes on from the checkpoint (its lines go on being counted from there).
  const resumedFrom = yield* resume(current, options, buffer, signal);
  let resumed = resumedFrom;
  const watcher = options.follow
    ? new FileWatch(path, options.clock, options.pollInterval)
    : undefined;
  // Whether the last look found something new: then the next look comes soon.
  let grew = true;
  try {
    for (;;) {
      if (signal.aborted) return;
      if (!current) {
        if (!options.follow) throw new Error(`Cannot read "${path}": no such file`);
        await watcher!.wait(signal, false);
        current = await open(path);
        grew = current !== undefined;
        continue;
      }
      const size = (await current.file.stat()).size;
      if (size < current.state.offset || !prefixHolds(current)) {
        logger.warn("The input file was truncated: reading it again from the start", {
          path,
          offset: current.state.offset,
          size,
        });
        current.state = { ...current.state, offset: 0 };
        refreshFingerprint(current, size, true);
        resumed = false;
        yield { kind: "truncated", file: { ...current.state } };
      }
      refreshFingerprint(current, size, false);
      grew = (yield* drain(current, buffer, signal, resumed)) || grew;
      if (!options.follow) return;
      // At the end: has the path moved to a new file?
      const now = await Deno.stat(path).catch(() => undefined);
      if (now && (now.ino !== current.state.ino || now.dev !== current.state.dev)) {
        yield* drain(current, buffer, signal, resumed); // what was written before the rename
        current.file.close();
        const next = await open(path);
        logger.info("The input file was rotated: opening the new one", { path });
        yield { kind: "rotated", file: next ? { ...next.state } : { ...current.state } };
        resumed = false;
        current = next;
        grew = true;
        continue;
      }
      await watcher!.wait(signal, grew);
      grew = false;
    }
  } finally {
    watcher?.close();
    current?.file.close();
  }
}

/**
 * Where reading starts, before the tail goes on: at the checkpoint when it is this file's; when
 * the file rotated while hitship was down, the rotated file is finished first from its
 * checkpoint; at the end with `start_at: end`; else at the start.
 *
 * @returns Whether the data read goes on from the checkpoint.
 */
async function* resume(
  current: Current | undefined,
  options: TailOptions,
  buffer: Uint8Array,
  signal: AbortSignal,
): AsyncGenerator<TailEvent, boolean> {
  const { path, logger } = options;
  const checkpoint = options.checkpoint?.path === path ? options.checkpoint : null;
  if (checkpoint && !(current && await isSame(current, checkpoint))) {
    // Rotated while hitship was down: finish the old file first, if it is still there.
    const old = await findRotated(checkpoint);
    if (old) {
      logger.info("Finishing the rotated file from its checkpoint", {
        path: old.state.path,
        offset: checkpoint.offset,
      });
      old.state = { ...checkpoint, path: old.state.path };
      yield* drain(old, buffer, signal, true);
      old.file.close();
      yield { kind: "rotated", file: current ? { ...current.state } : { ...old.state, path } };
    } else if (current) {
      logger.warn("The input file is not the one of the checkpoint: reading it from the start", {
        path,
      });
    }
    return false;
  }
  if (current && checkpoint) {
    current.state.offset = checkpoint.offset;
    current.state.fingerprint = checkpoint.fingerprint;
    current.state.fingerprint_bytes = checkpoint.fingerprint_bytes;
    return true;
  }
  if (current && options.startAt === "end") current.state.offset = (await current.file.stat()).size;
  return false;
}

/** Reads from the current offset to the end of the file; returns whether there was anything. */
async function* drain(
  current: Current,
  buffer: Uint8Array,
  signal: AbortSignal,
  resumed: boolean,
): AsyncGenerator<TailEvent, boolean> {
  let read = false;
  while (!signal.aborted) {
    const n = readAt(current.file, current.state.offset, buffer);
    if (n === 0) return read;
    read = true;
    // Truncated and written again while this was read (copytruncate racing the reader): the
    // bytes at this offset belong to the new content. Leave them; the caller starts over at 0.
    if (current.state.offset > 0 && !prefixHolds(current)) return true;
    current.state = { ...current.state, offset: current.state.offset + n };
    yield { kind: "data", data: buffer.subarray(0, n), file: current.state, resumed };
    if (n < buffer.length) return true;
  }
  return read;
}

/** The first bytes still hash to the fingerprint (a copytruncate that regrew shows here). */
function prefixHolds(current: Current): boolean {
  const { fingerprint_bytes: bytes, fingerprint: expected } = current.state;
  if (bytes === 0) return true;
  const print = fingerprint(current.file, bytes);
  return print.bytes === bytes && print.hash === expected;
}

/** Grows the fingerprint to 1 KiB as the file grows (or sets it anew after a truncation). */
function refreshFingerprint(current: Current, size: number, reset: boolean): void {
  const bytes = Math.min(size, FINGERPRINT_BYTES);
  if (!reset && bytes <= current.state.fingerprint_bytes) return;
  const print = fingerprint(current.file, bytes);
  current.state = { ...current.state, fingerprint: print.hash, fingerprint_bytes: print.bytes };
}
