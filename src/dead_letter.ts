/**
 * The dead-letter file: every rejected line with its line number and reason, one JSON object per
 * line, in `data_dir/dead-letter.ndjson`. It is bounded: past `maxBytes` it is rotated to
 * `dead-letter.1.ndjson` (one old file is kept).
 *
 * @module
 */
import { joinPath } from "./fs.ts";

/** One rejected line, as written to the dead-letter file. */
export interface DeadLetterRecord {
  /** When it was rejected (ISO 8601). */
  time: string;
  /** Line number in the input, from 1. */
  line: number;
  /** Why: `status_code: expected an integer, got "abc"`. */
  reason: string;
  /** The line as read (invalid UTF-8 replaced, cut at 64 KiB). */
  raw: string;
  /** True when `raw` was cut. */
  truncated?: boolean;
}

const RAW_LIMIT = 64 * 1024;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Appends rejected lines to a bounded file. */
export class DeadLetter {
  readonly path: string;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #pending: string[] = [];
  #size = -1;

  /**
   * @param dataDir The directory of the file.
   * @param maxBytes Rotation size. @default 16 MiB
   */
  constructor(dataDir: string, maxBytes = 16 * 1024 * 1024, now: () => number = Date.now) {
    this.path = joinPath(dataDir, "dead-letter.ndjson");
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  /** Queues a rejected line; {@linkcode DeadLetter.flush} writes it. */
  add(line: number, reason: string, raw: Uint8Array): void {
    const truncated = raw.length > RAW_LIMIT;
    const record: DeadLetterRecord = {
      time: new Date(this.#now()).toISOString(),
      line,
      reason,
      raw: decoder.decode(truncated ? raw.subarray(0, RAW_LIMIT) : raw),
    };
    if (truncated) record.truncated = true;
    this.#pending.push(JSON.stringify(record) + "\n");
  }

  /** Writes the queued records. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const data = encoder.encode(this.#pending.join(""));
    this.#pending = [];
    if (this.#size < 0) {
      this.#size = await Deno.stat(this.path).then((s) => s.size, () => 0);
    }
    if (this.#size > 0 && this.#size + data.length > this.#maxBytes) {
      await Deno.rename(this.path, this.path.replace(/\.ndjson$/, ".1.ndjson"));
      this.#size = 0;
    }
    await Deno.writeFile(this.path, data, { append: true, create: true });
    this.#size += data.length;
  }
}
