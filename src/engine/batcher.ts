/**
 * Cutting an output's next batch from the journal: from its cursor, the hits its filter passes,
 * until `max_hits` or `max_bytes`, `interval` after the first, the end of the input, or a full
 * journal. Without a filter the journal's positions count lines and bytes, so a batch grows
 * without reading its lines; only the lines near the cut are read.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { HitFilter } from "../hit/filter.ts";
import { parseJson } from "../hit/hit.ts";
import type { Journal, Position } from "../journal/journal.ts";
import type { JournalReader } from "../journal/reader.ts";
import type { BatchOptions } from "../sdk/output.ts";

const NEWLINE = 0x0a;
const decoder = new TextDecoder();

/** What the batcher may ask of the output it cuts batches for. */
export interface BatcherHost {
  readonly journal: Journal;
  readonly clock: Clock;
  /** Where the output's next batch starts. */
  cursor(): Position;
  /** The span the output passes over (it was off, `while_disabled: skip`), if any. */
  skip(): { from: Position; to: Position } | null;
  /** Moves the cursor over lines the output does not take. */
  skipTo(position: Position): void;
  /** True when collecting stops for now: a stop, the output turned off, an event to send. */
  interrupted(): boolean;
  /** True once the input has ended: what there is goes now. */
  draining(): boolean;
  /** True while the input waits for room in the journal: waiting cannot fill a batch. */
  full(): boolean;
  /** The cursor moved over lines the output does not take: save it and free segments. */
  passed(): Promise<void>;
  /** Waits for lines past `offset`, for the clock to reach `until`, or for a wake-up. */
  idle(until: number | undefined, offset: number): Promise<void>;
  /** Status figures may have moved. */
  refresh(): void;
}

/** A batch to cut: its hits and raw bytes, and where it ends. */
export interface Cut {
  count: number;
  raw: number;
  to: Position;
}

/** Cuts one output's batches. */
export class Batcher {
  readonly #host: BatcherHost;
  readonly #batching: BatchOptions;
  readonly #filter: HitFilter | undefined;

  constructor(host: BatcherHost, batching: BatchOptions, filter: HitFilter | undefined) {
    this.#host = host;
    this.#batching = batching;
    this.#filter = filter;
  }

  /**
   * Reads the journal from the cursor into the next batch, waiting for lines or the interval.
   *
   * @returns The batch to cut; `"interrupted"` when something else comes first (the cursor may
   * have moved over lines the output does not take); `"drained"` when the input has ended and
   * nothing is left.
   */
  async collect(): Promise<Cut | "interrupted" | "drained"> {
    const host = this.#host;
    const { journal, clock } = host;
    const interval = this.#batching.interval;
    const batch: Growing = { count: 0, raw: 0, firstAt: 0, to: host.cursor() };
    const skip = host.skip();
    if (skip && batch.to.offset >= skip.from.offset && batch.to.offset < skip.to.offset) {
      host.skipTo(skip.to);
      batch.to = skip.to;
    }
    const stopAt = skip && batch.to.offset < skip.from.offset ? skip.from : undefined;
    let reader: JournalReader | undefined;
    try {
      for (;;) {
        if (host.interrupted()) {
          if (batch.count === 0 && batch.to.offset > host.cursor().offset) host.skipTo(batch.to);
          return "interrupted";
        }
        if (!this.#filter && this.#growByPositions(batch, stopAt)) return this.#cut(batch);
        if (!reader || reader.position.offset !== batch.to.offset) {
          reader?.close();
          reader = journal.reader(batch.to, stopAt);
        }
        const read = await this.#readLines(reader, batch);
        if (read === "cut") return this.#cut(batch);
        if (read === "more") continue;
        if (stopAt && batch.to.offset >= stopAt.offset) {
          // Reached the span skipped while the output was off.
          if (batch.count > 0) return this.#cut(batch);
          host.skipTo(stopAt);
          return "interrupted";
        }
        const due = host.draining() || host.full() || clock.now() - batch.firstAt >= interval;
        if (batch.count > 0 && due) return this.#cut(batch);
        if (batch.count === 0) {
          if (batch.to.offset > host.cursor().offset) {
            host.skipTo(batch.to);
            await host.passed();
          }
          if (host.draining()) return "drained";
        }
        host.refresh();
        await host.idle(batch.count > 0 ? batch.firstAt + interval : undefined, batch.to.offset);
      }
    } finally {
      reader?.close();
    }
  }

  #cut(batch: Growing): Cut {
    return { count: batch.count, raw: batch.raw, to: batch.to };
  }

  /** Counts `lines` more lines of `raw` bytes into the batch, up to `to`. */
  #add(batch: Growing, lines: number, raw: number, to: Position): void {
    if (batch.count === 0 && lines > 0) batch.firstAt = this.#host.clock.now();
    batch.count += lines;
    batch.raw += raw;
    batch.to = to;
  }

  /**
   * Without a filter every line counts: the journal's positions say how many lines and bytes
   * came, so the batch grows without reading them. Only a batch that would pass `max_hits` or
   * `max_bytes` is read, to find the line to cut at: what surely fits is skipped first.
   *
   * @returns True when the batch is full.
   */
  #growByPositions(batch: Growing, stopAt: Position | undefined): boolean {
    const { journal } = this.#host;
    const { maxHits, maxBytes } = this.#batching;
    const end = stopAt && stopAt.offset < journal.end.offset ? stopAt : journal.end;
    const more = end.seq - batch.to.seq;
    const moreRaw = end.offset - batch.to.offset - more;
    if (more > 0 && batch.count + more <= maxHits && batch.raw + moreRaw < maxBytes) {
      this.#add(batch, more, moreRaw, end);
      return batch.count >= maxHits;
    }
    const from = batch.to;
    const ahead = journal.skipAhead(from, end, maxHits - batch.count, maxBytes - batch.raw);
    if (ahead.offset > from.offset) {
      const lines = ahead.seq - from.seq;
      this.#add(batch, lines, ahead.offset - from.offset - lines, ahead);
    }
    return false;
  }

  /**
   * Reads the lines at the batch's end and counts them in, to the line where it is cut (a filter
   * leaves out the lines it does not pass).
   *
   * @returns `cut` when the batch is full, `more` when lines were read, `end` at the end.
   */
  async #readLines(reader: JournalReader, batch: Growing): Promise<"cut" | "more" | "end"> {
    const { maxHits, maxBytes } = this.#batching;
    const filter = this.#filter;
    if (!filter) {
      // Lines are counted where they lie, to the line where the batch is cut.
      const data = await reader.readRaw();
      if (!data) return "end";
      let { offset, seq } = batch.to;
      let from = 0;
      for (let i = data.indexOf(NEWLINE); i >= 0; i = data.indexOf(NEWLINE, from)) {
        const length = i - from;
        from = i + 1;
        offset += length + 1;
        this.#add(batch, 1, length, { offset, seq: ++seq });
        if (batch.count >= maxHits || batch.raw >= maxBytes) return "cut";
      }
      return "more";
    }
    const chunk = await reader.read();
    if (!chunk) return "end";
    let offset = chunk.start.offset;
    let seq = chunk.start.seq;
    for (const line of chunk.lines) {
      offset += line.length + 1;
      seq++;
      if (!filter(parseJson(decoder.decode(line)) as Record<string, unknown>)) continue;
      this.#add(batch, 1, line.length, { offset, seq });
      if (batch.count >= maxHits || batch.raw >= maxBytes) return "cut";
    }
    batch.to = chunk.end;
    return "more";
  }
}

/** A batch as it grows: its hits, their raw bytes, when the first came, where it ends. */
interface Growing {
  count: number;
  raw: number;
  firstAt: number;
  to: Position;
}
