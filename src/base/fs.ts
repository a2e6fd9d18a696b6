/**
 * File helpers shared by the journal, state and status files.
 *
 * @module
 */

let counter = 0;

/**
 * Writes a file atomically: the data goes to a temporary file beside it, which is then renamed over
 * the target, so a reader sees the old or the new content, never a mix.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./fs.ts";
 * await writeFileAtomic("/tmp/state.json", JSON.stringify({ ok: true }));
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${counter++}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/**
 * Writes a small file atomically without leaving the event loop: for state that is saved on the
 * hot path (the input checkpoint), where a thread hand-off per save costs more than the write.
 */
export function writeFileAtomicSync(path: string, data: string): void {
  const tmp = `${path}.tmp-${Deno.pid}-${counter++}`;
  try {
    Deno.writeTextFileSync(tmp, data);
    Deno.renameSync(tmp, path);
  } catch (error) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // not there
    }
    throw error;
  }
}

/**
 * Reads into `buffer` from `offset` until it is full or the file ends. Synchronous: reads of the
 * page cache are faster than a thread hand-off per read.
 *
 * @returns The bytes read.
 */
export function readAt(file: Deno.FsFile, offset: number, buffer: Uint8Array): number {
  file.seekSync(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < buffer.length) {
    const n = file.readSync(buffer.subarray(filled));
    if (n === null || n === 0) break;
    filled += n;
  }
  return filled;
}

/** Writes all of `data` to an open file, synchronously. */
export function writeAllSync(file: Deno.FsFile, data: Uint8Array): void {
  let written = 0;
  while (written < data.length) written += file.writeSync(data.subarray(written));
}

/** Reads and parses a JSON file, or returns `undefined` when it does not exist. */
export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Writes all of `data` to an open file (`write` may write less than asked). */
export async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await file.write(data.subarray(written));
}

/** Joins path parts with `/`, leaving absolute first parts absolute. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/{2,}/g, "/");
}
