/**
 * The `stdin` input: the node's hit stream piped into hitship (`hitship run < hits.ndjson`, or a
 * pipe). It ends with its input; it has no checkpoint (what was read is gone from the pipe).
 *
 * @module
 */
import { fstatSync } from "node:fs";
import { defineInput, type InputEvent, z } from "@hitship/hitship/sdk";

const CHUNK_BYTES = 1024 * 1024;

/** Whether standard input is a regular file (`hitship run < hits.ndjson`). */
function stdinIsFile(): boolean {
  try {
    return fstatSync(0).isFile();
  } catch {
    return false;
  }
}

/**
 * Chunks of a reader, read into one reused buffer (each valid until the next is asked for). A
 * regular file is read synchronously: a read of it does not wait for a writer, and a synchronous
 * read fills the buffer in place where an asynchronous one goes through a buffer of its own.
 */
async function* readerChunks(
  reader: { read(p: Uint8Array): Promise<number | null> },
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8Array(CHUNK_BYTES);
  while (!signal.aborted) {
    const n = await reader.read(buffer);
    if (n === null) return;
    if (n > 0) yield buffer.subarray(0, n);
  }
}

/** Chunks of a stream, as they come. */
async function* streamChunks(
  stream: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (!signal.aborted) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/** The `stdin` input plugin. */
export const stdinInput = defineInput({
  type: "stdin",
  description: "Read hits from standard input",
  schema: z.strictObject({}),
  async *open(_config, context): AsyncGenerator<InputEvent> {
    const { signal } = context;
    const chunks = context.stdin ? streamChunks(context.stdin, signal) : readerChunks(
      stdinIsFile()
        ? { read: (p: Uint8Array) => Promise.resolve(Deno.stdin.readSync(p)) }
        : Deno.stdin,
      signal,
    );
    for await (const data of chunks) yield { kind: "data", data };
    if (!signal.aborted) yield { kind: "end" };
  },
});
