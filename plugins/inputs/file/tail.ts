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
  const checkpoint = options.checkpoint?.path === path ? options.checkpoint : null;
  // Whether the data read goes on from the checkpoint (its lines go on being counted from there).
  let resumed = false;

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
  } else if (current && checkpoint) {
    current.state.offset = checkpoint.offset;
    resumed = true;
    current.state.fingerprint = checkpoint.fingerprint;
    current.state.fingerprint_bytes = checkpoint.fingerprint_bytes;
  } else if (current && options.startAt === "end") {
    current.state.offset = (await current.file.stat()).size;
  }

  const watcher = options.follow ? watch(path, options.clock, options.pollInterval) : undefined;
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

/**
 * A file written to more often than every `poll_interval` (500 ms by default) is polled every
 * `poll_interval`, and file-system events are not listened to: a writer that appends a line every
 * 10 ms costs one read, one journal append and one checkpoint per poll, not an event, a read and a
 * checkpoint per write. (Each event costs the watcher thread a few system calls and the event loop
 * a turn: with both, 2,000 hits/s in 100 writes a second took 0.067 CPU-s a second; polling every
 * 100 ms 0.043, every 250 ms 0.027. A poll costs more than its hits as well: the same hits read in
 * smaller pieces took longer each, 2,000 real hits/s for 30 s 78-91 ticks polled every 250 ms,
 * 63-77 every 500 ms, 59-77 every 1 s.) A file written to less often is read on each event, so a
 * trickle of hits costs one read each and no polls. After this long without new data polling stops
 * and the tail sleeps on events again.
 */
const QUIET_MS = 1000;

/**
 * Where file-system events come, the file is still checked this often (a missed event, a
 * filesystem that reports none for some writes): an idle sidecar wakes every 2 s, not 4 times a
 * second. Without events, `poll_interval` alone.
 */
const SAFETY_POLL_MS = 2000;

/** Aborts a timer: a constant reason spares creating a `DOMException` (and its stack) each time. */
const DONE = new Error("done");

/**
 * Waits for the file to change: on file-system events in its directory (with a check every
 * {@linkcode SAFETY_POLL_MS}); polling every `poll_interval` while events come faster than that,
 * until the file has been quiet for {@linkcode QUIET_MS}; polling alone where there are no events.
 */
function watch(path: string, clock: Clock, pollInterval: number) {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  let wake: (() => void) | undefined;
  let pending = false;
  let watcher: Deno.FsWatcher | undefined;
  // Whether this filesystem gives events at all (false after the first refusal).
  let eventsWork = true;
  let quietSince: number | undefined;
  // Times of the last events: as many in one poll interval as a poll would take in a second
  // means the file is written to faster than it would be polled.
  const busyEvents = Math.max(2, Math.ceil(1000 / pollInterval));
  let recent: number[] = [];
  let sustained = false;

  const listen = (): boolean => {
    if (watcher) return true;
    if (!eventsWork) return false;
    let current: Deno.FsWatcher;
    try {
      current = Deno.watchFs(dir, { recursive: false });
    } catch {
      eventsWork = false; // No file-system events here: poll.
      return false;
    }
    watcher = current;
    recent = [];
    sustained = false;
    (async () => {
      try {
        for await (const _ of current) {
          const now = clock.now();
          recent.push(now);
          if (recent.length > busyEvents) recent.shift();
          if (recent.length === busyEvents && now - recent[0]! < 1000) sustained = true;
          if (wake) wake();
          else pending = true;
        }
      } catch {
        // The directory went away: polling goes on.
      }
      if (watcher === current) watcher = undefined;
    })();
    return true;
  };
  const stopListening = () => {
    const current = watcher;
    watcher = undefined;
    pending = false;
    try {
      current?.close();
    } catch {
      // already closed
    }
  };
  const waitOnce = (ms: number, signal: AbortSignal): Promise<void> => {
    if (pending) {
      pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = new AbortController();
      const done = () => {
        timer.abort(DONE);
        signal.removeEventListener("abort", done);
        wake = undefined;
        resolve();
      };
      clock.sleep(ms, timer.signal).then(done, () => {});
      signal.addEventListener("abort", done, { once: true });
      wake = done;
    });
  };
  listen();
  return {
    /**
     * Returns when the file may have changed. `grew`: the last look found new data (or a new
     * file).
     */
    async wait(signal: AbortSignal, grew: boolean): Promise<void> {
      const now = clock.now();
      if (grew) quietSince = undefined;
      else quietSince ??= now;
      if (watcher) {
        // Events come faster than polls would: poll instead.
        if (sustained) stopListening();
        else return await waitOnce(Math.max(pollInterval, SAFETY_POLL_MS), signal);
      }
      if (eventsWork && quietSince !== undefined && now - quietSince >= QUIET_MS && listen()) {
        // Listening from now: look once more, for what was written before the watch began.
        return;
      }
      await waitOnce(pollInterval, signal);
    },
    close() {
      stopListening();
    },
  };
}
