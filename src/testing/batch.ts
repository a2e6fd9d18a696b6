/**
 * Batches and contexts for testing an output plugin on its own: a batch of given hit lines, as the
 * engine hands one out, and the context a plugin is created with, its log kept.
 *
 * @module
 */
import { FakeClock } from "../base/clock.ts";
import { memoryLogger } from "../base/log.ts";
import { withSuffix } from "../sdk/key.ts";
import type { Batch, EventKind, PluginContext } from "../sdk/output.ts";

const encoder = new TextEncoder();

/** Options of {@linkcode batchOf}. */
export interface BatchOfOptions {
  /** The batch's name. @default `hitlogs-1687241470.json` */
  key?: string;
  /** Its sequence number. @default 1 */
  seq?: number;
  /** Its export time, Unix ms. @default 1687241470000 */
  createdAt?: number;
  /** Bytes of each framed buffer handed out (at whole lines). @default 1 MiB */
  chunkBytes?: number;
  /** Without a filter the engine hands out framed bytes too; a filtered batch has none. @default true */
  framed?: boolean;
}

/** A batch, and the names it moved to by `nextKey`. */
export type TestBatch = Batch & { readonly keys: string[] };

/**
 * A batch of `lines` (hit lines, without line ends) as the engine hands one to an output: its
 * lines a chunk at a time, its framed bytes in buffers of about `chunkBytes`, and a `nextKey`
 * that moves it to `NAME-1`, `NAME-2`, ... as the engine's does.
 *
 * @example
 * ```ts
 * import { batchOf } from "./batch.ts";
 * const batch = batchOf(['{"a":1}', '{"a":2}'], { key: "out-1.json" });
 * batch.count; // 2
 * ```
 */
export function batchOf(lines: readonly string[], options: BatchOfOptions = {}): TestBatch {
  const key = options.key ?? "hitlogs-1687241470.json";
  const chunk = options.chunkBytes ?? 1024 * 1024;
  const framed = encoder.encode(lines.map((line) => line + "\n").join(""));
  const keys = [key];
  let suffix = 0;
  return {
    seq: options.seq ?? 1,
    get key() {
      return keys.at(-1)!;
    },
    keys,
    nextKey() {
      keys.push(withSuffix(key, ++suffix));
      return Promise.resolve(keys.at(-1)!);
    },
    count: lines.length,
    rawBytes: framed.length - lines.length,
    createdAt: options.createdAt ?? 1_687_241_470_000,
    async *lines() {
      yield lines.map((line) => encoder.encode(line));
    },
    framed: options.framed === false ? undefined : async function* () {
      for (let at = 0; at < framed.length;) {
        const end = framed.indexOf(10, Math.min(framed.length - 1, at + chunk)) + 1;
        yield framed.subarray(at, end);
        at = end;
      }
    },
  };
}

/** A plugin's context with its log kept. */
export type TestContext = PluginContext & {
  /** The log lines the plugin wrote. */
  readonly logs: ReturnType<typeof memoryLogger>["records"];
  /** The context's clock. */
  readonly clock: FakeClock;
};

/**
 * The context an output plugin is created with, as the engine gives it: a fake clock, a logger
 * that keeps what it is told, a hostname, the events the output takes.
 *
 * @example
 * ```ts
 * import { fakeContext } from "./batch.ts";
 * const context = fakeContext({ name: "soar", events: ["hits", "system"] });
 * context.logs; // []
 * ```
 */
export function fakeContext(
  options: { name?: string; clock?: FakeClock; hostname?: string; events?: EventKind[] } = {},
): TestContext {
  const logger = memoryLogger();
  return {
    name: options.name ?? "test",
    clock: options.clock ?? new FakeClock(),
    logger,
    logs: logger.records,
    hostname: options.hostname ?? "test-host",
    events: options.events ?? ["hits"],
  };
}
