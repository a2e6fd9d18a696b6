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
    const { interval, maxHits, maxBytes } = this.#batching;
    let count = 0;
    let raw = 0;
    let firstAt = 0;
    let to = host.cursor();
    const skip = host.skip();
    if (skip && to.offset >= skip.from.offset && to.offset < skip.to.offset) {
      host.skipTo(skip.to);
      to = skip.to;
    }
    const stopAt = skip && to.offset < skip.from.offset ? skip.from : undefined;
    const filter = this.#filter;
    let reader: JournalReader | undefined;
    const cut = (at: Position): Cut => ({ count, raw, to: at });
    try {
      for (;;) {
        if (host.interrupted()) {
          if (count === 0 && to.offset > host.cursor().offset) host.skipTo(to);
          return "interrupted";
        }
        if (!filter) {
          // Without a filter every line counts: the journal's positions say how many lines and
          // bytes came, so the batch grows without reading them. Only a batch that would pass
          // max_hits or max_bytes is read, to find the line to cut at.
          const end = stopAt && stopAt.offset < journal.end.offset ? stopAt : journal.end;
          const more = end.seq - to.seq;
          const moreRaw = end.offset - to.offset - more;
          if (more > 0 && count + more <= maxHits && raw + moreRaw < maxBytes) {
            if (count === 0) firstAt = clock.now();
            count += more;
            raw += moreRaw;
            to = end;
            if (count >= maxHits) return cut(to);
            continue;
          }
          // Past a limit: skip what surely fits, then count the rest line by line.
          const ahead = journal.skipAhead(to, end, maxHits - count, maxBytes - raw);
          if (ahead.offset > to.offset) {
            if (count === 0) firstAt = clock.now();
            count += ahead.seq - to.seq;
            raw += ahead.offset - to.offset - (ahead.seq - to.seq);
            to = ahead;
          }
        }
        if (!reader || reader.position.offset !== to.offset) {
          reader?.close();
          reader = journal.reader(to, stopAt);
        }
        if (!filter) {
          // Lines are counted where they lie, to the line where the batch is cut.
          const data = await reader.readRaw();
          if (data) {
            let { offset, seq } = to;
            let from = 0;
            for (let i = data.indexOf(NEWLINE); i >= 0; i = data.indexOf(NEWLINE, from)) {
              const length = i - from;
              from = i + 1;
              offset += length + 1;
              seq++;
              if (count === 0) firstAt = clock.now();
              count++;
              raw += length;
              if (count >= maxHits || raw >= maxBytes) return cut({ offset, seq });
            }
            to = { offset, seq };
            continue;
          }
        }
        const chunk = filter ? await reader.read() : undefined;
        if (chunk) {
          let offset = chunk.start.offset;
          let seq = chunk.start.seq;
          for (const line of chunk.lines) {
            offset += line.length + 1;
            seq++;
            if (filter && !filter(parseJson(decoder.decode(line)) as Record<string, unknown>)) {
              continue;
            }
            if (count === 0) firstAt = clock.now();
            count++;
            raw += line.length;
            if (count >= maxHits || raw >= maxBytes) return cut({ offset, seq });
          }
          to = chunk.end;
          continue;
        }
        if (stopAt && to.offset >= stopAt.offset) {
          // Reached the span skipped while the output was off.
          if (count > 0) return cut(to);
          host.skipTo(stopAt);
          return "interrupted";
        }
        if (
          count > 0 && (host.draining() || host.full() || clock.now() - firstAt >= interval)
        ) {
          return cut(to);
        }
        if (count === 0) {
          if (to.offset > host.cursor().offset) {
            host.skipTo(to);
            await host.passed();
          }
          if (host.draining()) return "drained";
        }
        host.refresh();
        await host.idle(count > 0 ? firstAt + interval : undefined, to.offset);
      }
    } finally {
      reader?.close();
    }
  }
}
