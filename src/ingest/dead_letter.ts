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
  /** The output whose receiver refused it (`line` is then 0: it was delivered, not read). */
  output?: string;
  /**
   * For a summary record: how many rejected lines (or records) it stands for, whose own records
   * were not kept. `line` is then the first of them (0: records that were never lines).
   */
  count?: number;
}

const RAW_LIMIT = 64 * 1024;
/** Hits of one batch kept one by one when a receiver refuses them; a summary stands for the rest. */
export const MAX_REFUSED_RECORDS = 100;
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
   * Queues the hits of one batch that `output`'s receiver refused for good: the first
   * {@linkcode MAX_REFUSED_RECORDS} one by one, then one summary record with the count of the rest.
   */
  refused(
    output: string,
    hits: ReadonlyArray<{ line: Uint8Array | string; reason: string }>,
  ): void {
    const kept = Math.min(hits.length, MAX_REFUSED_RECORDS);
    for (let i = 0; i < kept; i++) {
      const hit = hits[i]!;
      const raw = typeof hit.line === "string" ? encoder.encode(hit.line) : hit.line;
      const truncated = raw.length > RAW_LIMIT;
      const record: DeadLetterRecord = {
        time: new Date(this.#now()).toISOString(),
        line: 0,
        reason: hit.reason,
        raw: decoder.decode(truncated ? raw.subarray(0, RAW_LIMIT) : raw),
      };
      if (truncated) record.truncated = true;
      record.output = output;
      this.#pending.push(JSON.stringify(record) + "\n");
    }
    if (hits.length > kept) {
      const record: DeadLetterRecord = {
        time: new Date(this.#now()).toISOString(),
        line: 0,
        reason: `${hits.length - kept} more hits of the batch refused (first: ${
          hits[kept]!.reason
        })`,
        raw: "",
        count: hits.length - kept,
        output,
      };
      this.#pending.push(JSON.stringify(record) + "\n");
    }
  }

  /** Queues one record for `count` rejected lines that are not kept one by one. */
  summary(line: number, count: number, reason: string, input?: string): void {
    const record: DeadLetterRecord = {
      time: new Date(this.#now()).toISOString(),
      line,
      reason,
      raw: "",
      count,
    };
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
    let written = 0;
    try {
      written = await this.#write(records);
      if (this.#failing) {
        this.#failing = false;
        this.#logger?.info("The dead-letter file is written again", { path: this.path });
      }
      return 0;
    } catch (error) {
      const lost = records.length - written;
      this.dropped += lost;
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
      return lost;
    }
  }

  /**
   * Appends the records, rotating the file whenever the next would take it past `maxBytes`, so
   * that it stays within its size whatever one flush brings (a record larger than that alone
   * fills a file of its own). Resolves with how many were written; a failure throws.
   */
  async #write(records: string[]): Promise<number> {
    if (this.#size < 0) {
      this.#size = await Deno.stat(this.path).then((s) => s.size, () => 0);
    }
    let written = 0;
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const data = new Uint8Array(batchBytes);
      let at = 0;
      for (const part of batch) {
        data.set(part, at);
        at += part.length;
      }
      await Deno.writeFile(this.path, data, { append: true, create: true });
      this.#size += data.length;
      written += batch.length;
      batch = [];
      batchBytes = 0;
    };
    for (const record of records) {
      const bytes = encoder.encode(record);
      if (this.#size + batchBytes > 0 && this.#size + batchBytes + bytes.length > this.#maxBytes) {
        await flush();
        if (this.#size > 0) {
          await Deno.rename(this.path, this.path.replace(/\.ndjson$/, ".1.ndjson"));
          this.#size = 0;
        }
      }
      batch.push(bytes);
      batchBytes += bytes.length;
      // Written in pieces of about 1 MiB: no flush holds more than that beyond its records.
      if (batchBytes >= 1024 * 1024) await flush();
    }
    await flush();
    return written;
  }
}
