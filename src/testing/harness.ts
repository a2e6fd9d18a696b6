/**
 * A harness that runs one output plugin under hitship's real engine: the journal, the batcher,
 * the supervisor with the node's retry schedule and auto-disable, the status. Hits go in, the
 * plugin sends them to whatever the test stands up (a recorder, a real receiver), and the test
 * reads what the supervisor made of it. With a {@linkcode FakeClock}, time moves on to the next
 * timer only while no request is in flight, so the retry schedule runs in milliseconds.
 *
 * @module
 */
import { FakeClock } from "../base/clock.ts";
import { memoryLogger } from "../base/log.ts";
import { parseConfig } from "../config/config.ts";
import { type DrainResult, Engine } from "../engine/engine.ts";
import { pluginFields } from "../engine/runner.ts";
import type { Output, OutputPlugin, SendResult, SystemEvent } from "../sdk/output.ts";
import type { OutputStatus } from "../status/status.ts";
import type { DeadLetterRecord } from "../ingest/dead_letter.ts";
import { stdinInput } from "../../plugins/inputs/stdin/mod.ts";
import { defaultEventsOf } from "../config/registry.ts";

const encoder = new TextEncoder();

/** Options of {@linkcode OutputHarness.start}. */
export interface HarnessOptions {
  /** The output's name. @default "under-test" */
  name?: string;
  /** The clock of the engine: a FakeClock runs the schedule in virtual time. @default a FakeClock */
  clock?: FakeClock;
  /** The config's `retry` (durations as strings), e.g. `{ cycles: [["1s", "2s"]] }`. */
  retry?: Record<string, unknown>;
  /** The config's `auto_disable`, e.g. `{ min_requests: 5 }`. */
  autoDisable?: Record<string, unknown>;
  /** The output's engine fields: `events`, `filter`, `while_disabled`. */
  engineFields?: Record<string, unknown>;
}

/** An output plugin running under the engine, its requests counted. */
export class OutputHarness {
  readonly clock: FakeClock;
  readonly #engine: Engine;
  readonly #dir: string;
  readonly #name: string;
  readonly #logger: ReturnType<typeof memoryLogger>;
  #inFlight = 0;
  /** Every request the plugin made, with the clock's time it began and what it came to. */
  readonly requests: Array<{ at: number; kind: "batch" | "event"; result: SendResult }> = [];

  private constructor(
    engine: Engine,
    dir: string,
    name: string,
    clock: FakeClock,
    logger: ReturnType<typeof memoryLogger>,
  ) {
    this.#engine = engine;
    this.#dir = dir;
    this.#name = name;
    this.clock = clock;
    this.#logger = logger;
  }

  /**
   * Starts the engine with one output of `plugin` configured with `fields` (its own config, as in
   * the YAML), in a data directory of its own.
   */
  static async start(
    plugin: OutputPlugin,
    fields: Record<string, unknown>,
    options: HarnessOptions = {},
  ): Promise<OutputHarness> {
    const name = options.name ?? "under-test";
    const clock = options.clock ?? new FakeClock();
    const dir = await Deno.makeTempDir({ prefix: "hitship-harness-" });
    const yaml = JSON.stringify({
      data_dir: dir,
      status_file: `${dir}/status.json`,
      input: { type: "stdin" },
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.autoDisable ? { auto_disable: options.autoDisable } : {}),
      outputs: [{ name, type: plugin.type, ...options.engineFields, ...fields }],
    });
    const plugins = [plugin, stdinInput];
    const config = parseConfig(yaml, "(harness)", { plugins, env: () => undefined });
    const outputConfig = config.outputs[0]!;
    const logger = memoryLogger();
    const made: { harness?: OutputHarness } = {};
    const output = await plugin.create(pluginFields(outputConfig) as never, {
      name,
      clock,
      logger,
      hostname: "harness",
      events: outputConfig.events ?? defaultEventsOf(plugin),
    });
    const counted = async (
      kind: "batch" | "event",
      send: () => Promise<SendResult>,
    ): Promise<SendResult> => {
      const at = clock.now();
      made.harness!.#inFlight++;
      try {
        const result = await send();
        made.harness!.requests.push({ at, kind, result });
        return result;
      } finally {
        made.harness!.#inFlight--;
      }
    };
    const watched: Output = {
      send: (batch, signal) => counted("batch", () => output.send(batch, signal)),
      sendEvent: output.sendEvent &&
        ((event: SystemEvent, signal) => counted("event", () => output.sendEvent!(event, signal))),
      test: output.test?.bind(output),
      close: output.close?.bind(output),
    };
    const engine = await Engine.start(config, {
      plugins,
      clock,
      logger,
      hostname: "harness",
      outputs: { [name]: watched },
    });
    made.harness = new OutputHarness(engine, dir, name, clock, logger);
    return made.harness;
  }

  /** The output's status: delivered hits, requests, failures, its state. */
  get status(): OutputStatus {
    return this.#engine.snapshot().outputs[this.#name]!;
  }

  /** What hitship logged. */
  get logs(): ReadonlyArray<{ level: string; msg: string } & Record<string, unknown>> {
    return this.#logger.records;
  }

  /**
   * The dead-letter file's records: lines the input rejected, and hits the receiver refused for
   * good (those carry `output`).
   */
  async deadLetters(): Promise<DeadLetterRecord[]> {
    const text = await Deno.readTextFile(`${this.#dir}/dead-letter.ndjson`).catch(() => "");
    return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as DeadLetterRecord);
  }

  /** Journals hit lines (valid ones are sent; others go to the dead-letter file). */
  async send(lines: readonly string[]): Promise<void> {
    await this.#engine.ingester.push(encoder.encode(lines.map((line) => line + "\n").join("")));
  }

  /**
   * Runs until every journaled hit is delivered, or the output is off (auto-disabled), or
   * `until` holds: with a FakeClock, time moves to the next timer whenever no request is in
   * flight. Throws after `realMs` of real time.
   */
  async settle(until?: () => boolean, realMs = 30_000): Promise<void> {
    const stop = performance.now() + realMs;
    for (;;) {
      const s = this.status;
      const done = until ? until() : (s.pending_hits === 0 || s.state.endsWith("disabled"));
      if (done && this.#inFlight === 0) return;
      if (performance.now() > stop) {
        throw new Error(`the output did not settle in ${realMs} ms: ${JSON.stringify(s)}`);
      }
      if (this.#inFlight === 0 && this.clock.pending > 0) await this.clock.next();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Drains (delivers what is left, within `timeout` of the clock) and stops the engine. */
  async close(timeout = 5_000): Promise<DrainResult> {
    const draining = this.#engine.drain(timeout);
    let done = false;
    draining.finally(() => done = true).catch(() => {});
    while (!done) {
      if (this.#inFlight === 0 && this.clock.pending > 0) await this.clock.next();
      else await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const result = await draining;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    return result;
  }
}
