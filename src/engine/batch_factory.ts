/**
 * Making an output's batches: a cut of the journal fixed as an intent (its name from the key
 * template, its range, its sequence number), the next free name when another writer took it, and
 * the batch as its plugin sees it. The intent is saved before the first attempt, so a retry, or a
 * replay after a crash, sends the same name with the same hits.
 *
 * @module
 */
import type { HitFilter } from "../hit/filter.ts";
import { parseJson } from "../hit/hit.ts";
import type { Journal } from "../journal/journal.ts";
import type { Compression, Format } from "../sdk/body.ts";
import { renderKey, withSuffix } from "../sdk/key.ts";
import type { Batch } from "../sdk/output.ts";
import type { Cut } from "./batcher.ts";
import type { BatchIntent, OutputStateFile } from "./output_state.ts";

const decoder = new TextDecoder();

/** How an output names its batches. */
export interface Naming {
  /** The output's name. */
  output: string;
  /** The key template. @default `{output}-{timestamp}` */
  key?: string | undefined;
  format?: Format | undefined;
  compression?: Compression | undefined;
  /** The hostname for `{hostname}`. */
  hostname: string;
}

/**
 * Fixes the next batch of an output whose state is `state`: its sequence number, its name (two
 * exports of one second get distinct names: `-1`, `-2`, ... after the first), and its range from
 * the cursor to the cut, made at `now`. The intent is set on `state`, to be saved.
 */
export function cutBatch(
  state: OutputStateFile,
  { count, raw, to }: Cut,
  naming: Naming,
  now: number,
): BatchIntent {
  const seq = ++state.batch_seq;
  const base = renderKey(
    naming.key ?? `${naming.output}-{timestamp}`,
    { time: now, hostname: naming.hostname, seq, output: naming.output },
    naming.format,
    naming.compression,
  );
  state.key_repeat = base === state.last_base_key ? state.key_repeat + 1 : 0;
  state.last_base_key = base;
  state.intent = {
    seq,
    key: withSuffix(base, state.key_repeat),
    base_key: base,
    suffix: state.key_repeat,
    from: state.cursor,
    to,
    count,
    raw_bytes: raw,
    created_at: now,
  };
  return state.intent;
}

/**
 * Moves a batch to the next free name (its name was taken by another writer), so that the next
 * batch of the same second starts past the names taken here.
 *
 * @returns The new name.
 */
export function nextKey(state: OutputStateFile, intent: BatchIntent): string {
  const base = intent.base_key ?? intent.key;
  intent.base_key = base;
  intent.suffix = (intent.suffix ?? 0) + 1;
  intent.key = withSuffix(base, intent.suffix);
  if (state.last_base_key === base) state.key_repeat = Math.max(state.key_repeat, intent.suffix);
  return intent.key;
}

/**
 * The batch of an intent as its plugin sees it: its lines read from the journal (those `filter`
 * passes), and, without a filter, the journal's own framed bytes.
 *
 * @param save Saves the state after the batch moved to another name.
 */
export function batchOf(
  intent: BatchIntent,
  from: { journal: Journal; filter: HitFilter | undefined; state: OutputStateFile },
  save: () => Promise<void>,
): Batch {
  const { journal, filter, state } = from;
  return {
    seq: intent.seq,
    get key() {
      return intent.key;
    },
    async nextKey() {
      const key = nextKey(state, intent);
      await save();
      return key;
    },
    count: intent.count,
    rawBytes: intent.raw_bytes,
    createdAt: intent.created_at,
    framed: filter ? undefined : () => journal.reader(intent.from, intent.to).rawChunks(),
    async *lines() {
      const chunks = journal.reader(intent.from, intent.to).chunks();
      if (!filter) {
        yield* chunks;
        return;
      }
      for await (const lines of chunks) {
        yield lines.filter((line) =>
          filter(parseJson(decoder.decode(line)) as Record<string, unknown>)
        );
      }
    },
  };
}
