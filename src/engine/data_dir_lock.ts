/**
 * The lock on `data_dir`: one running hitship per data directory. Two processes on one journal
 * would ship hits twice, delete segments the other still reads, and share one output state.
 *
 * @module
 */
import { joinPath } from "../base/fs.ts";

/** The lock file's name in `data_dir`. */
export const LOCK_FILE = "hitship.lock";

/** What the lock file tells about the process that holds it. */
export interface LockInfo {
  pid: number;
  started_at: string;
  /** The status file, and why it cannot be written, when it cannot. */
  status_file?: string;
  status_error?: string | null;
}

/** Another process holds the lock. */
export class DataDirInUseError extends Error {
  readonly pid: number | undefined;
  constructor(dir: string, pid: number | undefined) {
    super(`data_dir ${dir} is in use by hitship${pid ? ` (pid ${pid})` : ""}`);
    this.name = "DataDirInUseError";
    this.pid = pid;
  }
}

/**
 * An exclusive lock (`flock`) on `data_dir/hitship.lock`, held for the whole run. The kernel
 * drops it when the process ends, however it ends, so a killed process never leaves it behind.
 *
 * @example
 * ```ts
 * import { DataDirLock } from "./data_dir_lock.ts";
 * const lock = await DataDirLock.acquire(await Deno.makeTempDir());
 * lock.release();
 * ```
 */
export class DataDirLock {
  readonly path: string;
  #file: Deno.FsFile | undefined;
  #info: LockInfo;

  private constructor(path: string, file: Deno.FsFile, info: LockInfo) {
    this.path = path;
    this.#file = file;
    this.#info = info;
  }

  /**
   * Takes the lock, or throws {@linkcode DataDirInUseError} at once when another process holds
   * it.
   */
  static async acquire(dir: string): Promise<DataDirLock> {
    await Deno.mkdir(dir, { recursive: true });
    const path = joinPath(dir, LOCK_FILE);
    const file = await Deno.open(path, { read: true, write: true, create: true });
    let locked = false;
    try {
      locked = await file.tryLock(true);
    } finally {
      if (!locked) file.close();
    }
    if (!locked) throw new DataDirInUseError(dir, (await readLockInfo(dir))?.pid);
    const lock = new DataDirLock(path, file, {
      pid: Deno.pid,
      started_at: new Date().toISOString(),
    });
    lock.#write();
    return lock;
  }

  /** Records in the lock file that the status file cannot be written (or can again). */
  noteStatusError(statusFile: string, error: string | null): void {
    this.#info = { ...this.#info, status_file: statusFile, status_error: error };
    this.#write();
  }

  #write(): void {
    const file = this.#file;
    if (!file) return;
    try {
      const data = new TextEncoder().encode(JSON.stringify(this.#info) + "\n");
      file.truncateSync(0);
      file.seekSync(0, Deno.SeekMode.Start);
      let written = 0;
      while (written < data.length) written += file.writeSync(data.subarray(written));
    } catch {
      // The lock holds whatever its file says: what it says is for people.
    }
  }

  /** Releases the lock. */
  release(): void {
    const file = this.#file;
    this.#file = undefined;
    if (!file) return;
    try {
      file.unlockSync();
    } finally {
      file.close();
    }
  }
}

/** What the lock file of `dir` says, or `undefined` when there is none. */
export async function readLockInfo(dir: string): Promise<LockInfo | undefined> {
  try {
    const text = await Deno.readTextFile(joinPath(dir, LOCK_FILE));
    return text.trim() ? JSON.parse(text) as LockInfo : undefined;
  } catch {
    return undefined;
  }
}

/** Whether some process holds the lock on `dir` now (without taking it for long). */
export async function isLocked(dir: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(joinPath(dir, LOCK_FILE), { read: true });
  } catch {
    return false;
  }
  try {
    const free = await file.tryLock(false);
    if (free) await file.unlock();
    return !free;
  } finally {
    file.close();
  }
}
