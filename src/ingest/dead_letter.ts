/**
 * The dead-letter file: every rejected line with its line number and reason, one JSON object per
 * line, in `data_dir/dead-letter.ndjson`. It is bounded: past `maxBytes` it is rotated to
 * `dead-letter.1.ndjson` (one old file is kept).
 *
 * @module
 */
import { joinPath } from "../base/fs.ts";
import type { Logger } from "../base/log.ts";

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
  /** The input it came from. */
  input?: string;
}

const RAW_LIMIT = 64 * 1024;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Appends rejected lines to a bounded file. A dead letter that cannot be written (a full disk) is
 * dropped, counted and warned about: it never stops the input.
 */
export class DeadLetter {
  readonly path: string;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  #pending: string[] = [];
  #size = -1;
  #failing = false;
  /** Dead letters that could not be written. */
  dropped = 0;

  /**
   * @param dataDir The directory of the file.
   * @param maxBytes Rotation size. @default 16 MiB
   * @param logger Told when writing fails, and when it works again.
   */
  constructor(
    dataDir: string,
    maxBytes = 16 * 1024 * 1024,
    now: () => number = Date.now,
    logger?: Logger,
  ) {
    this.path = joinPath(dataDir, "dead-letter.ndjson");
    this.#maxBytes = maxBytes;
    this.#now = now;
    this.#logger = logger;
  }

  /** Queues a rejected line; {@linkcode DeadLetter.flush} writes it. */
  add(line: number, reason: string, raw: Uint8Array, input?: string): void {
    const truncated = raw.length > RAW_LIMIT;
    const record: DeadLetterRecord = {
      time: new Date(this.#now()).toISOString(),
      line,
      reason,
      raw: decoder.decode(truncated ? raw.subarray(0, RAW_LIMIT) : raw),
    };
    if (truncated) record.truncated = true;
    if (input !== undefined) record.input = input;
    this.#pending.push(JSON.stringify(record) + "\n");
  }

  /**
   * Writes the queued records; never throws.
   *
   * @returns How many records could not be written (and were dropped).
   */
  async flush(): Promise<number> {
    if (this.#pending.length === 0) return 0;
    const records = this.#pending;
    this.#pending = [];
    try {
      await this.#write(encoder.encode(records.join("")));
      if (this.#failing) {
        this.#failing = false;
        this.#logger?.info("The dead-letter file is written again", { path: this.path });
      }
      return 0;
    } catch (error) {
      this.dropped += records.length;
      this.#size = -1; // unknown after a failed write: stat it again
      if (!this.#failing) {
        this.#failing = true;
        this.#logger?.warn(
          `Cannot write the dead-letter file: rejected lines are counted but not kept until it can be written again: ${
            (error as Error).message
          }`,
          { path: this.path },
        );
      }
      return records.length;
    }
  }

  async #write(data: Uint8Array): Promise<void> {
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
