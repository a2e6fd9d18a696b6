/**
 * A file written from start to end, for outputs that write files: with direct I/O (past the page
 * cache) where the filesystem allows it, through the page cache where it does not.
 *
 * @module
 */
import { DirectAppender } from "../base/direct_io.ts";
import { writeAll } from "../base/fs.ts";

/** A file being written. */
export interface FileWriter {
  /** Appends all of `data`. */
  write(data: Uint8Array): Promise<void>;
  /** Finishes the file. */
  close(): void;
}

/** Options of {@linkcode openFileWriter}. */
export interface FileWriterOptions {
  /** Write past the page cache where the filesystem allows it. @default true */
  directIO?: boolean;
}

/**
 * Creates (or empties) `path` for writing.
 *
 * @example
 * ```ts
 * import { openFileWriter } from "./file_writer.ts";
 * const dir = await Deno.makeTempDir();
 * const file = await openFileWriter(`${dir}/export.json`);
 * await file.write(new TextEncoder().encode("[]\n"));
 * file.close();
 * ```
 */
export async function openFileWriter(
  path: string,
  options: FileWriterOptions = {},
): Promise<FileWriter> {
  if (options.directIO ?? true) {
    await Deno.writeFile(path, new Uint8Array(0));
    const dir = path.slice(0, Math.max(0, path.lastIndexOf("/"))) || ".";
    const direct = DirectAppender.open(path, 0, dir);
    if (direct) {
      return {
        write: (data) => Promise.resolve(direct.write(data)),
        close: () => direct.close(),
      };
    }
  }
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  return { write: (data) => writeAll(file, data), close: () => file.close() };
}
