/**
 * The output plugin interface. A plugin owns a zod schema for its part of an output's config and a
 * factory; the engine owns reading the journal, filtering, batching, retries and status. A plugin
 * only sends what it is given and says what happened.
 *
 * @module
 */
import type { z } from "zod";
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";

/**
 * What one delivery attempt came to. Anything but `ok: true` is a failed request, retried on the
 * node's schedule.
 */
export type SendResult =
  | {
    ok: true;
    status?: number;
    detail?: string;
    /**
     * Hits of the batch the receiver refused for good (a document its index cannot take, a
     * message over its size limit): the batch counts as delivered, and each of these goes to the
     * dead-letter file with its reason, counted in the output's `rejected_hits`. Never for a
     * failure that a retry can mend.
     */
    rejected?: RejectedHit[];
  }
  | { ok: false; status?: number; error: string };

/** A hit a receiver refused for good, and why. */
export interface RejectedHit {
  /** The hit's line, as in the batch. */
  line: Uint8Array | string;
  /** The receiver's reason, for the dead-letter file. */
  reason: string;
}

/** The batching the engine applies before calling {@linkcode Output.send}. */
export interface BatchOptions {
  /** Flush a batch this long after its first hit, in milliseconds. */
  interval: number;
  /** Flush a batch when it holds this many hits. */
  maxHits: number;
  /** Flush a batch when its hits add up to this many bytes. */
  maxBytes: number;
  /** At most this many requests per minute; what waits stays in the journal. */
  ratePerMinute?: number;
}

/** A batch of hits: a fixed range of the journal, with the object key it is delivered under. */
export interface Batch {
  /** Sequence number of the batch within its output, from 1. */
  readonly seq: number;
  /**
   * The name the batch is delivered under, rendered once from the output's `key` template and
   * saved with the batch: a retry, or a replay after a crash, uses the same name.
   */
  readonly key: string;
  /**
   * For an output that finds the name taken by another writer's object (never replace what you
   * did not write): moves the batch to the next name (`hitlogs-1687241470-1.json`, `-2`, ...),
   * saves it with the batch, and returns it. Absent where the engine does not name batches.
   */
  nextKey?(): Promise<string>;
  /** Number of hits. */
  readonly count: number;
  /** Sum of the hits' raw byte lengths, without line terminators. */
  readonly rawBytes: number;
  /** Export time of the batch, Unix milliseconds. */
  readonly createdAt: number;
  /** The raw hit lines, as read from the node, in order, a chunk at a time. */
  lines(): AsyncIterable<Uint8Array[]>;
  /**
   * The same lines as they lie in the journal, each ending in `\n`, a buffer at a time (valid until
   * the next is asked for). Present when every line of the range belongs to the batch (no filter),
   * so a body can be made without splitting lines.
   */
  framed?(): AsyncIterable<Uint8Array>;
}

/** A system event sent to outputs whose `events` include its kind. */
export interface SystemEvent {
  /** `system`, `alerts` or `report`. */
  kind: "system" | "alerts" | "report";
  /** The event name, e.g. `integration_broken`. */
  name: string;
  /** Sentence for a person. */
  summary: string;
  /** The event's fields. */
  details: Record<string, unknown>;
  /** When it happened, Unix milliseconds. */
  time: number;
}

/** What a running output does. */
export interface Output {
  /** Delivers one batch. Must not retry or sleep: the engine does that. */
  send(batch: Batch, signal: AbortSignal): Promise<SendResult>;
  /** Delivers a system event, for outputs that take events. */
  sendEvent?(event: SystemEvent, signal: AbortSignal): Promise<SendResult>;
  /** Sends the plugin's test message(s) for `hitship test`. */
  test?(signal: AbortSignal): Promise<SendResult>;
  /** Releases what the output holds. */
  close?(): Promise<void>;
}

/** What the engine hands to a plugin's factory. */
export interface PluginContext {
  /** The output's name from the config. */
  name: string;
  /** Where the output's time comes from (the engine's clock). */
  clock: Clock;
  /** Where the output's log lines go. */
  logger: Logger;
  /** Hostname for key templates and notifications. */
  hostname: string;
  /** What the output receives (its `events`, or the plugin's default). */
  events: ReadonlyArray<EventKind>;
}

/** Every kind of event an output can receive. */
export const EVENT_KINDS = ["hits", "system", "alerts", "report"] as const;

/** What an output can receive. */
export type EventKind = typeof EVENT_KINDS[number];

/** An output plugin as its author writes it: its config schema (its documentation) and factory. */
export interface OutputPluginSpec<S extends z.ZodObject = z.ZodObject> {
  /** The YAML `type`. */
  type: string;
  /** One line for the generated reference. */
  description: string;
  /**
   * The plugin's own config fields; the engine adds `name`, `type`, `enabled`, `events`,
   * `filter`, `retry`, `auto_disable` and `while_disabled`, and, for a plugin without
   * `batchOptions`, `interval`, `max_hits` and `max_bytes`.
   */
  schema: S;
  /**
   * How the engine batches hits for this output, from its resolved config.
   *
   * @default a batch is cut `interval` after its first hit, or at `max_hits` or `max_bytes`: the
   * fields the engine adds to the schema (10 minutes, 100,000 hits, 64 MiB)
   */
  batchOptions?(config: z.output<S>): BatchOptions;
  /** `events` when the config gives none. @default ["hits"] */
  defaultEvents?: ReadonlyArray<EventKind>;
  /** What the output can receive at all; `events` may name only these. @default ["hits"] */
  supportedEvents?: ReadonlyArray<EventKind>;
  /** Builds the running output. */
  create(config: z.output<S>, context: PluginContext): Output | Promise<Output>;
  /**
   * Where the output writes and how it names what it writes: a place (a directory, a bucket) and
   * a key template, as one string (`file:/var/lib/export/hitlogs-{timestamp}.json`), with
   * `{output}` filled in with `name`. Validation rejects two outputs whose destinations can render
   * the same name. Outputs that do not write named objects leave it out.
   */
  destination?(config: z.output<S>, name: string): string;
}

/** An output plugin, as {@linkcode definePlugin} declares it. */
export interface OutputPlugin<S extends z.ZodObject = z.ZodObject> extends OutputPluginSpec<S> {
  /** What kind of plugin this is. */
  readonly kind: "output";
}

/**
 * Declares an output plugin, with its config's types checked against its schema. A module's
 * default export of one (or an array of plugins) is what `plugins:` in the config loads.
 *
 * @example
 * ```ts
 * import { definePlugin, z } from "./mod.ts";
 * export default definePlugin({
 *   type: "my-sink",
 *   description: "Writes each batch somewhere",
 *   schema: z.strictObject({ path: z.string() }),
 *   create(_config, _context) {
 *     return {
 *       async send(batch) {
 *         for await (const lines of batch.lines()) console.log(lines.length);
 *         return { ok: true };
 *       },
 *     };
 *   },
 * });
 * ```
 */
export function definePlugin<S extends z.ZodObject>(plugin: OutputPluginSpec<S>): OutputPlugin<S> {
  return { ...plugin, kind: "output" };
}
