/**
 * Reading one input: its plugin opened with its context, and each event it gives checked and
 * journaled (by its ingester) before the next is asked for; an input that answers senders (a
 * server) submits what it gets on its own.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { InputConfig } from "../config/config.ts";
import { inputPluginsOf } from "../config/registry.ts";
import type { Ingester } from "../ingest/ingester.ts";
import type { Journal } from "../journal/journal.ts";
import type { Plugin } from "../sdk/plugin.ts";

/** What an input is read with. */
export interface InputRun {
  plugins: readonly Plugin[];
  journal: Journal;
  logger: Logger;
  clock: Clock;
  /** Aborts when the input is to stop. */
  signal: AbortSignal;
  /** The standard input, for an input that reads it. */
  stdin: ReadableStream<Uint8Array> | undefined;
  /** True while the journal or the disk is full. */
  full(): boolean;
}

/** Reads one input until it ends or `run.signal` aborts. */
export async function readInput(
  input: InputConfig,
  ingester: Ingester,
  run: InputRun,
): Promise<void> {
  const { type, name, max_line_bytes: _max, ...fields } = input;
  const plugin = inputPluginsOf(run.plugins).find((p) => p.type === type);
  if (!plugin) throw new Error(`Unknown input type "${type}"`);
  const opened = plugin.open(fields as never, {
    name,
    checkpoint: run.journal.checkpointOf(name)?.state ?? null,
    signal: run.signal,
    logger: run.logger,
    clock: run.clock,
    stdin: run.stdin,
    submit: (body, options) => ingester.submit(body, options),
    full: run.full,
  });
  if (opened instanceof Promise) return await opened; // a server: it submits what it gets
  for await (const event of opened) {
    if (event.kind === "data") {
      await ingester.push(event.data, {
        checkpoint: event.checkpoint,
        resumed: event.resumed,
        offset: event.offset,
      });
    } else if (event.kind === "end") {
      await ingester.end({ checkpoint: event.checkpoint, next: event.next });
      if (!event.next) return;
    } else await ingester.discard({ checkpoint: event.checkpoint });
    if (run.signal.aborted) return;
  }
}
