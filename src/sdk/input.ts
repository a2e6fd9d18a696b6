/**
 * The input plugin interface. An input gives the engine bytes of hit lines, in order, and says
 * where it stands after them (its checkpoint, which the journal keeps with the lines without
 * knowing what it means); the engine splits lines, checks hits, journals them and commits the
 * checkpoint with them.
 *
 * @module
 */
import type { z } from "zod";
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";

/** A value that survives `JSON.stringify` and `JSON.parse` unchanged: what a checkpoint is. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/** What an input gives the engine, in order. */
export type InputEvent =
  | {
    kind: "data";
    /** Bytes of hit lines; a line may go on in the next chunk. Valid until the next is asked for. */
    data: Uint8Array;
    /**
     * Where the input stands once this chunk is journaled but for its last `held` bytes (an
     * incomplete line, kept for the next chunk): the checkpoint committed with these lines.
     */
    checkpoint?: (held: number) => JsonValue;
    /**
     * True when this data goes on from the checkpoint the input was opened with, so that line
     * numbers go on from there too; otherwise the stream starts at line 1.
     */
    resumed?: boolean;
    /** Bytes of the stream up to the end of this chunk (its file offset), for the status. */
    offset?: number;
  }
  | {
    kind: "end";
    /** Where the input stands now. */
    checkpoint?: JsonValue;
    /**
     * A new stream begins (a rotated file): the last line of the old one is complete and line
     * numbers start at 1 again. Without it the input has ended.
     */
    next?: boolean;
  }
  | {
    kind: "discard";
    /** Where the input stands now. */
    checkpoint?: JsonValue;
  };

/** What the engine made of a body an input submitted. */
export interface SubmitResult {
  /** Valid hits, now in the journal. */
  accepted: number;
  /** Lines rejected (in the dead-letter file). */
  rejected: number;
  /** The first ten rejected lines: number in the body (from 1), and why. */
  errors: Array<{ line: number; reason: string }>;
  /**
   * True when the journal (or the disk) was full: nothing of the body was journaled or counted;
   * the sender should send it again later (HTTP 503).
   */
  full: boolean;
}

/** What an input says of a body besides its lines. */
export interface SubmitOptions {
  /**
   * Records the input could not make lines of (a Forward entry that is not `[time, record]`, say):
   * counted as rejected, and told in one dead letter with the reason, not one each.
   */
  unreadable?: { count: number; reason: string };
}

/** What the engine hands to an input's `open`. */
export interface InputContext {
  /** The input's name (`input` for the one input of the `input:` shorthand). */
  name: string;
  /** Where this input stood at the last commit of an earlier run, or `null`. */
  checkpoint: JsonValue | null;
  /** Aborts when the input is to stop (a signal, the end of the run). */
  signal: AbortSignal;
  /** Where the input's log lines go. */
  logger: Logger;
  /** Where the input's time and timers come from. */
  clock: Clock;
  /** The process's standard input, or what an embedder gives instead. */
  stdin: ReadableStream<Uint8Array> | undefined;
  /**
   * Checks and journals a whole body of hit lines (NDJSON; the last line may lack its newline)
   * apart from the input's stream, for inputs that answer a sender (HTTP, Forward): resolves once
   * the body's valid hits are in the journal. Bodies may be submitted at once from many requests.
   * A large body is checked in turns, so that the event loop serves others meanwhile; the first
   * 100 rejected lines of a body go to the dead-letter file with their reasons, the rest are
   * counted and told in one summary record.
   */
  submit(body: Uint8Array, options?: SubmitOptions): Promise<SubmitResult>;
  /** True while the journal or the disk is full: an input that can tell senders to wait should. */
  full(): boolean;
}

/** An input plugin as its author writes it: its config schema and how it is opened. */
export interface InputPluginSpec<S extends z.ZodObject = z.ZodObject> {
  /** The YAML `type`. */
  type: string;
  /** One line for the generated reference. */
  description: string;
  /** The input's own config fields; the engine adds `type` and `max_line_bytes`. */
  schema: S;
  /**
   * Opens the input: its events, in order, until it ends (`kind: "end"` without `next`) or
   * `context.signal` aborts. The engine asks for the next only once the last is journaled. An
   * input that answers senders (a server) gives no events: it hands each body to
   * `context.submit` and returns a promise that resolves once it has stopped.
   */
  open(config: z.output<S>, context: InputContext): AsyncIterable<InputEvent> | Promise<void>;
}

/** An input plugin, as {@linkcode defineInput} declares it. */
export interface InputPlugin<S extends z.ZodObject = z.ZodObject> extends InputPluginSpec<S> {
  /** What kind of plugin this is. */
  readonly kind: "input";
}

/**
 * Declares an input plugin, with its config's types checked against its schema.
 *
 * @example
 * ```ts
 * import { defineInput, z } from "./mod.ts";
 * export default defineInput({
 *   type: "lines",
 *   description: "Hit lines given in the config",
 *   schema: z.strictObject({ lines: z.array(z.string()) }),
 *   async *open(config) {
 *     yield { kind: "data", data: new TextEncoder().encode(config.lines.join("\n") + "\n") };
 *     yield { kind: "end" };
 *   },
 * });
 * ```
 */
export function defineInput<S extends z.ZodObject>(plugin: InputPluginSpec<S>): InputPlugin<S> {
  return { ...plugin, kind: "input" };
}
