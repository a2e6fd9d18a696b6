/**
 * The engine: one journal, and for each output a runner that reads the journal from its own
 * cursor, filters, batches, and delivers through the shared supervision (retry schedule,
 * failure window, auto-disable, system events). Outputs never wait on each other.
 *
 * @module
 */
import { AlertWatcher } from "../hit/alerts.ts";
import { renderKey, withSuffix } from "../sdk/key.ts";
import type { Compression, Format } from "../sdk/body.ts";
import { type Clock, systemClock } from "../base/clock.ts";
import type { Config, OutputConfig } from "../config/config.ts";
import { DeadLetter } from "../ingest/dead_letter.ts";
import { compileFilter, type HitFilter } from "../hit/filter.ts";
import { joinPath, readJsonFile, writeFileAtomic } from "../base/fs.ts";
import { Ingester } from "../ingest/ingester.ts";
import { Journal, type JournalReader, ORIGIN, type Position } from "../journal/journal.ts";
import { DataDirLock } from "./data_dir_lock.ts";
import { inputPluginsOf, outputPluginsOf, type Plugin } from "../sdk/plugin.ts";
import { jsonLogger, type Logger } from "../base/log.ts";
import {
  type Batch,
  batchingOf,
  type BatchOptions,
  defaultEventsOf,
  type Output,
  type OutputPlugin,
  type SendResult,
  type SystemEvent,
} from "../sdk/output.ts";
import { newOutputStatus, type OutputStatus, StatusBoard } from "../status/status.ts";
import { FailureWindow, RetrySchedule } from "./supervision.ts";

/** A batch fixed before its first attempt: replayed as it is after a retry or a crash. */
export interface BatchIntent {
  seq: number;
  key: string;
  /** The key as rendered from the template, before a suffix made it distinct. */
  base_key?: string;
  /** The suffix `key` has (`-1`, `-2`): 0 for none. */
  suffix?: number;
  from: Position;
  to: Position;
  count: number;
  raw_bytes: number;
  created_at: number;
}

/** Why an output is off. */
export type DisabledBy = "config" | "command" | "auto";

/** What an output keeps in `data_dir/outputs/NAME.json`. */
export interface OutputStateFile {
  version: 1;
  type: string;
  cursor: Position;
  intent: BatchIntent | null;
  batch_seq: number;
  last_base_key: string | null;
  key_repeat: number;
  disabled: DisabledBy | null;
  /** Journal end when the output was turned off: what it had accepted. */
  disabled_at: Position | null;
  /** Hits journaled while it was off, which it skips. */
  skip: { from: Position; to: Position } | null;
  window: Array<[number, number, number]>;
  /** When the output left the config (`delete_integration` was sent), or `null`. */
  removed_at?: string | null;
  counters: Pick<
    OutputStatus,
    "delivered_hits" | "requests" | "failed_requests" | "dropped_hits" | "skipped_hits"
  >;
  last_error: string | null;
}

/** Options of {@linkcode Engine.start}. */
export interface EngineOptions {
  /** The plugins the config's input and outputs may use. */
  plugins: readonly Plugin[];
  /** @default the system clock */
  clock?: Clock;
  /** @default JSON lines on stderr at the config's `log_level` */
  logger?: Logger;
  /** @default Deno.hostname() */
  hostname?: string;
  /** Outputs by name, replacing what the plugins would build (tests inject capturing outputs). */
  outputs?: Record<string, Output>;
  /** How often `hitship enable`/`disable` requests are looked for, in real ms. @default 1000 */
  controlInterval?: number;
}

/** How a drain ended. */
export interface DrainResult {
  /**
   * Outputs that still hold undelivered hits: those that ran out of time and those that were
   * auto-disabled. Outputs turned off on purpose are not listed.
   */
  undelivered: Record<string, { hits: number; state: OutputStatus["state"] }>;
}

const decoder = new TextDecoder();
const HOUR = 3_600_000;
const NEWLINE = 0x0a;

/** The path of an output's state file. */
export function outputStatePath(dataDir: string, name: string): string {
  return joinPath(dataDir, "outputs", `${name}.json`);
}

/**
 * Runs the data path: input → journal → outputs.
 *
 * @example
 * ```ts ignore
 * const engine = await Engine.start(config, { plugins: builtinPlugins });
 * for await (const chunk of Deno.stdin.readable) await engine.ingester.push(chunk);
 * await engine.ingester.end();
 * await engine.drain(25_000);
 * ```
 */
export class Engine {
  /** The config in force (outputs, retry, auto-disable and alerts change on reload). */
  config: Config;
  readonly journal: Journal;
  readonly status: StatusBoard;
  readonly ingester: Ingester;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly runners: OutputRunner[] = [];
  readonly #stop = new AbortController();
  readonly #runs = new Map<OutputRunner, { stop: AbortController; done: Promise<void> }>();
  #options: EngineOptions = { plugins: [] };
  #hostname = "";
  #alerts: AlertWatcher;
  #control: ReturnType<typeof setInterval> | undefined;
  #draining = false;
  readonly #timers = new AbortController();
  #reporting: Promise<void> = Promise.resolve();
  #applying = false;
  #lock: DataDirLock | undefined;
  #full = false;

  private constructor(
    config: Config,
    journal: Journal,
    status: StatusBoard,
    logger: Logger,
    clock: Clock,
  ) {
    this.config = config;
    this.journal = journal;
    this.status = status;
    this.logger = logger;
    this.clock = clock;
    this.#alerts = new AlertWatcher(config.alerts, (event) => this.emit(event));
    this.ingester = new Ingester({
      journal,
      status,
      logger,
      deadLetter: new DeadLetter(
        config.data_dir,
        config.dead_letter_max_bytes,
        () => clock.now(),
        logger,
      ),
      maxLineBytes: config.input.max_line_bytes,
      maxJournalBytes: config.max_journal_bytes,
      makeRoom: () => this.makeRoom(),
      onResume: () => {
        this.#full = false;
      },
    });
    this.#watchHits();
    status.onSnapshot(() => {
      for (const runner of this.runners) runner.status.pending_hits = runner.pendingHits();
    });
  }

  /** Hits go to the alert watcher only when it has rules: unobserved hits are not kept. */
  #watchHits(): void {
    const alerts = this.#alerts;
    this.ingester.onHit = alerts.empty ? undefined : (hit) => alerts.observe(hit, this.clock.now());
  }

  /** Every hour, an `hourly_report` event with what the last hour processed. */
  async #reportEveryHour(signal: AbortSignal): Promise<void> {
    const counts = () => ({
      at: this.clock.now(),
      lines: this.status.input.lines,
      hits: this.status.input.hits,
      rejected: this.status.input.rejected,
      delivered: Object.fromEntries(this.runners.map((r) => [r.name, r.status.delivered_hits])),
    });
    let last = counts();
    for (;;) {
      try {
        await this.clock.sleep(HOUR, signal);
      } catch {
        return;
      }
      const now = counts();
      const delivered = Object.fromEntries(
        Object.entries(now.delivered).map(([name, n]) => [name, n - (last.delivered[name] ?? 0)]),
      );
      const hits = now.hits - last.hits;
      this.emit({
        kind: "report",
        name: "hourly_report",
        summary: `hitship read ${hits} hits in the last hour`,
        details: {
          period_start: new Date(last.at).toISOString(),
          period_end: new Date(now.at).toISOString(),
          lines_read: now.lines - last.lines,
          hits_read: hits,
          hits_rejected: now.rejected - last.rejected,
          delivered,
        },
        time: now.at,
      });
      last = now;
    }
  }

  /** Opens the journal and state in `data_dir`, builds every output and starts its runner. */
  static async start(config: Config, options: EngineOptions): Promise<Engine> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger ?? jsonLogger(config.log_level);
    // First the lock: opening the journal cuts what another process has not committed yet.
    const lock = await DataDirLock.acquire(config.data_dir);
    let journal: Journal;
    try {
      await Deno.mkdir(joinPath(config.data_dir, "outputs"), { recursive: true });
      const statusDir = config.status_file.replace(/\/[^/]*$/, "");
      if (statusDir !== config.status_file) {
        // A status file that cannot be written is said in the log; it does not stop shipping.
        await Deno.mkdir(statusDir, { recursive: true }).catch(() => {});
      }
      journal = await Journal.open(joinPath(config.data_dir, "journal"), {
        segmentBytes: config.journal_segment_bytes,
        directIO: config.journal_direct_io,
        logger,
      });
    } catch (error) {
      lock.release();
      throw error;
    }
    const status = new StatusBoard(config.status_file, clock, {
      type: config.input.type,
      path: typeof config.input.path === "string" ? config.input.path : null,
    });
    status.onWriteError((error) => {
      if (error) {
        logger.warn(
          `Cannot write the status file "${config.status_file}": ${error}; shipping goes on, and "hitship status --config" says so`,
          { status_file: config.status_file },
        );
      } else logger.info("The status file is written again", { status_file: config.status_file });
      lock.noteStatusError(config.status_file, error);
    });
    const engine = new Engine(config, journal, status, logger, clock);
    engine.#lock = lock;
    engine.#options = options;
    engine.#hostname = options.hostname ?? Deno.hostname();
    try {
      for (const outputConfig of config.outputs) {
        engine.runners.push(await engine.#build(outputConfig, false));
      }
    } catch (error) {
      journal.close();
      lock.release();
      throw error;
    }
    status.journal.bytes = journal.bytes;
    status.journal.segments = journal.segmentCount;
    await status.stateChanged();
    await engine.#findRemoved();
    for (const runner of engine.runners) engine.#launch(runner);
    if (engine.runners.some((r) => r.takes("report"))) {
      engine.#reporting = engine.#reportEveryHour(engine.#timers.signal);
    }
    engine.#control = setInterval(() => engine.applyRequests(), options.controlInterval ?? 1000);
    Deno.unrefTimer(engine.#control as unknown as number);
    return engine;
  }

  /**
   * Outputs whose state is in `data_dir` but which the config no longer has: removed while
   * hitship was stopped. Each is announced once.
   */
  async #findRemoved(): Promise<void> {
    const dir = joinPath(this.config.data_dir, "outputs");
    const names = new Set(this.config.outputs.map((o) => o.name));
    for await (const entry of Deno.readDir(dir)) {
      const name = /^(.+)\.json$/.exec(entry.name)?.[1];
      if (!entry.isFile || !name || names.has(name) || name.endsWith(".request")) continue;
      const state = await readJsonFile<OutputStateFile>(joinPath(dir, entry.name)).catch(() =>
        undefined
      );
      if (state?.version === 1 && !state.removed_at) await this.#removed(name, state.type);
    }
  }

  /** An output left the config: `delete_integration` for the others, noted in its state. */
  async #removed(name: string, type: string): Promise<void> {
    this.emit({
      kind: "system",
      name: "delete_integration",
      summary: `Integration "${name}" (${type}) was deleted`,
      details: { integration: name, type },
      time: this.clock.now(),
    }, name);
    const path = outputStatePath(this.config.data_dir, name);
    try {
      const state = await readJsonFile<OutputStateFile>(path);
      if (state) {
        await writeFileAtomic(
          path,
          JSON.stringify({ ...state, removed_at: new Date(this.clock.now()).toISOString() }),
        );
      }
    } catch (error) {
      this.logger.warn(
        `Cannot note that output "${name}" was removed: ${(error as Error).message}`,
      );
    }
  }

  /** Builds an output and its runner; an output new to `data_dir` starts at the journal's end. */
  async #build(outputConfig: OutputConfig, fresh: boolean): Promise<OutputRunner> {
    const plugin = outputPluginsOf(this.#options.plugins).find((p) => p.type === outputConfig.type);
    if (!plugin) throw new Error(`Unknown output type "${outputConfig.type}"`);
    const output = this.#options.outputs?.[outputConfig.name] ??
      await plugin.create(pluginFields(outputConfig) as never, {
        name: outputConfig.name,
        clock: this.clock,
        logger: this.logger,
        hostname: this.#hostname,
        events: outputConfig.events ?? defaultEventsOf(plugin),
      });
    const runner = new OutputRunner(this, outputConfig, plugin, output, this.#hostname);
    await runner.load(fresh);
    return runner;
  }

  #launch(runner: OutputRunner): void {
    const stop = new AbortController();
    if (this.#stop.signal.aborted) stop.abort(this.#stop.signal.reason);
    const onStop = () => stop.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    const done = runner.run(stop.signal).finally(() =>
      this.#stop.signal.removeEventListener("abort", onStop)
    );
    this.#runs.set(runner, { stop, done });
  }

  /** Stops one output's runner and saves its state; its hits stay in the journal. */
  async #retire(runner: OutputRunner): Promise<void> {
    const run = this.#runs.get(runner);
    run?.stop.abort(new Error("reload"));
    await run?.done;
    this.#runs.delete(runner);
    await runner.save();
    await runner.output.close?.();
    this.runners.splice(this.runners.indexOf(runner), 1);
    delete this.status.outputs[runner.name];
  }

  /**
   * Applies a new config without a restart: outputs are added, removed, or rebuilt when their
   * config (or the shared retry or auto-disable) changed; each keeps its cursor and the batch it
   * had in flight, so no journaled hit is lost. An output added here starts at the journal's end.
   * Alerts change too; the input, `data_dir`, `http` and status file need a restart.
   *
   * @returns What changed.
   */
  async reload(next: Config): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const current = this.config;
    for (const key of ["input", "data_dir", "status_file", "http"] as const) {
      if (JSON.stringify(current[key]) !== JSON.stringify(next[key])) {
        this.logger.warn(`Reload: a change of "${key}" needs a restart; it is not applied`);
      }
    }
    const shared = JSON.stringify([current.retry, current.auto_disable]) !==
      JSON.stringify([next.retry, next.auto_disable]);
    const byName = new Map(next.outputs.map((o) => [o.name, o]));
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    for (const runner of [...this.runners]) {
      const wanted = byName.get(runner.name);
      if (!wanted) {
        await this.#retire(runner);
        removed.push(runner.name);
        await this.#removed(runner.name, runner.type);
      } else if (shared || JSON.stringify(wanted) !== JSON.stringify(runner.config)) {
        await this.#retire(runner);
        changed.push(runner.name);
      }
    }
    this.config = {
      ...current,
      outputs: next.outputs,
      retry: next.retry,
      auto_disable: next.auto_disable,
      alerts: next.alerts,
    };
    this.#alerts = new AlertWatcher(next.alerts, (event) => this.emit(event));
    this.#watchHits();
    const running = new Set(this.runners.map((r) => r.name));
    for (const outputConfig of next.outputs) {
      if (running.has(outputConfig.name)) continue;
      const isNew = !changed.includes(outputConfig.name);
      const runner = await this.#build(outputConfig, isNew);
      this.runners.push(runner);
      if (this.#draining) runner.drain();
      this.#launch(runner);
      if (isNew) added.push(outputConfig.name);
    }
    // Keep the config's order of outputs.
    this.runners.sort((a, b) =>
      next.outputs.findIndex((o) => o.name === a.name) -
      next.outputs.findIndex((o) => o.name === b.name)
    );
    this.status.lastConfigError = null;
    await this.status.stateChanged();
    this.logger.info("Config reloaded", { added, removed, changed });
    return { added, removed, changed };
  }

  /**
   * Applies `hitship enable` / `hitship disable` requests left in `data_dir/outputs`. A running
   * engine checks every second.
   */
  async applyRequests(): Promise<void> {
    if (this.#applying) return;
    this.#applying = true;
    try {
      for (const runner of this.runners) await runner.applyRequest();
    } catch (error) {
      this.logger.error(`Cannot apply an enable/disable request: ${(error as Error).message}`);
    } finally {
      this.#applying = false;
    }
  }

  /** The runner of an output. */
  runner(name: string): OutputRunner | undefined {
    return this.runners.find((r) => r.name === name);
  }

  /** Resolves when every runner has ended, including runners started by a reload meanwhile. */
  async #allDone(): Promise<void> {
    for (;;) {
      const runs = [...this.#runs.values()].map((r) => r.done);
      await Promise.all(runs);
      if ([...this.#runs.values()].every((r) => runs.includes(r.done))) return;
    }
  }

  /** True while the input waits for room in the journal or on the disk. */
  get full(): boolean {
    return this.#full;
  }

  /** True once the engine drains or stops. */
  get draining(): boolean {
    return this.#draining;
  }

  /** True once every output has drained its hits. */
  hitsDone(): boolean {
    return this.runners.every((r) => r.hitsDone);
  }

  /** Wakes every idle output. */
  pokeAll(): void {
    for (const runner of this.runners) runner.poke();
  }

  /** Queues a system event for every output, but `from`, whose `events` include its kind. */
  emit(event: SystemEvent, from?: string): void {
    this.logger.info(event.summary, { event: event.name, ...event.details });
    for (const runner of this.runners) {
      if (runner.name !== from && runner.takes(event.kind)) runner.queueEvent(event);
    }
  }

  /**
   * Reads the input until it ends (stdin, a file read once) or `signal` aborts: its plugin gives
   * events, each checked and journaled before the next is asked for.
   *
   * @param stdin The standard input to give an input that reads it. @default the process's own
   */
  async readInputs(signal: AbortSignal, stdin?: ReadableStream<Uint8Array>): Promise<void> {
    const { type, max_line_bytes: _max, ...fields } = this.config.input;
    const plugin = inputPluginsOf(this.#options.plugins).find((p) => p.type === type);
    if (!plugin) throw new Error(`Unknown input type "${type}"`);
    const ingester = this.ingester;
    const events = plugin.open(fields as never, {
      name: ingester.input,
      checkpoint: this.journal.checkpointOf(ingester.input)?.state ?? null,
      signal,
      logger: this.logger,
      clock: this.clock,
      stdin,
    });
    for await (const event of events) {
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
      if (signal.aborted) return;
    }
  }

  /** Runs `fn` after `ms` of the engine's clock, unless the engine stops first. */
  afterDelay(ms: number, fn: () => void): void {
    this.clock.sleep(ms, this.#timers.signal).then(fn, () => {});
  }

  /**
   * Frees the oldest journal segment when only outputs that are off still need it (their hits in
   * it are dropped for them alone, counted), or when no output needs it at all (the active
   * segment is rolled first). The input calls it when the journal or the disk is full.
   *
   * @returns True when a segment was freed; false when an output that is on still needs it.
   */
  async makeRoom(): Promise<boolean> {
    const journal = this.journal;
    const oldest = journal.oldest;
    if (oldest.end.offset <= oldest.start.offset) return false; // nothing in it
    const holders = this.runners.filter((r) => r.needs(oldest.start.offset, oldest.end.offset));
    if (holders.some((r) => !r.disabled)) {
      // An output that is on is behind: it cuts its batch now rather than wait for the
      // interval, which the full journal would not let end.
      this.#full = true;
      this.pokeAll();
      return false;
    }
    if (oldest.active) {
      try {
        journal.roll();
      } catch {
        return false; // no new segment can be made (a full disk): the input waits
      }
    }
    for (const runner of holders) await runner.dropThrough(oldest.end);
    const before = journal.segmentCount;
    await this.releaseSegments();
    return journal.segmentCount < before;
  }

  /** Deletes the journal segments no output needs any more. */
  async releaseSegments(): Promise<void> {
    const ranges = this.runners.flatMap((r) => r.neededRanges());
    await this.journal.retain(ranges);
    this.status.journal.bytes = this.journal.bytes;
    this.status.journal.segments = this.journal.segmentCount;
  }

  /**
   * The input has ended: every output delivers what the journal holds, then the engine stops.
   * Outputs that cannot deliver within `timeout` ms keep their hits in the journal for the next
   * run.
   */
  async drain(timeout: number): Promise<DrainResult> {
    this.#draining = true;
    for (const runner of this.runners) runner.drain();
    const timer = new AbortController();
    const all = this.#allDone();
    const expired = await Promise.race([
      all.then(() => false),
      this.clock.sleep(timeout, timer.signal).then(() => true, () => false),
    ]);
    timer.abort();
    if (expired) this.#stop.abort(new Error("drain timeout"));
    await all;
    return await this.#finish();
  }

  /** Stops at once: in-flight requests are aborted, state is saved, nothing is lost. */
  async stop(): Promise<DrainResult> {
    this.#draining = true;
    this.#stop.abort(new Error("stopped"));
    await this.#allDone();
    return await this.#finish();
  }

  async #finish(): Promise<DrainResult> {
    clearInterval(this.#control);
    this.#timers.abort();
    await this.#reporting;
    const undelivered: DrainResult["undelivered"] = {};
    for (const runner of this.runners) {
      await runner.save().catch((error) => {
        // A full disk: the last saved state stands; what was delivered since is sent again.
        this.logger.error(
          `Cannot save the state of output "${runner.name}": ${(error as Error).message}`,
          { output: runner.name },
        );
      });
      await runner.output.close?.();
      const hits = runner.pendingHits();
      const state = runner.status.state;
      if (hits > 0 && (!runner.disabled || state === "auto_disabled")) {
        undelivered[runner.name] = { hits, state };
      }
    }
    await this.releaseSegments();
    this.journal.close();
    await this.status.close();
    this.#lock?.release();
    return { undelivered };
  }
}

/** An output's config without the fields the engine owns: what its plugin's factory takes. */
export function pluginFields(config: OutputConfig): Record<string, unknown> {
  const {
    enabled: _e,
    while_disabled: _w,
    events: _v,
    filter: _f,
    retry: _r,
    auto_disable: _a,
    ...rest
  } = config;
  return rest;
}

/** The delivery loop of one output. */
export class OutputRunner {
  readonly name: string;
  readonly type: string;
  readonly output: Output;
  readonly status: OutputStatus;
  readonly #engine: Engine;
  readonly #config: OutputConfig;
  readonly #batching: BatchOptions;
  readonly #filter: HitFilter | undefined;
  readonly #schedule: RetrySchedule;
  readonly #window: FailureWindow;
  readonly #events: Set<string>;
  readonly #hostname: string;
  readonly #statePath: string;
  #state: OutputStateFile;
  #queue: SystemEvent[] = [];
  #sentAt: number[] = [];
  #draining = false;
  #hitsDone = false;
  #waiter: (() => void) | undefined;
  #urgentWaiter: (() => void) | undefined;
  #poked = false;
  #sendAbort: AbortController | undefined;
  #unannounced: Partial<Record<"journal_full" | "skipped_while_disabled", number>> = {};
  #announcing = false;
  #announcedAt = -Infinity;

  constructor(
    engine: Engine,
    config: OutputConfig,
    plugin: OutputPlugin,
    output: Output,
    hostname: string,
  ) {
    this.#engine = engine;
    this.#config = config;
    this.name = config.name;
    this.type = config.type;
    this.output = output;
    this.#hostname = hostname;
    this.#batching = batchingOf(plugin, pluginFields(config));
    this.#filter = compileFilter(config.filter);
    this.#events = new Set(config.events ?? defaultEventsOf(plugin));
    const retry = { ...engine.config.retry, ...config.retry };
    this.#schedule = new RetrySchedule(retry.cycles, retry.then_every);
    const auto = { ...engine.config.auto_disable, ...config.auto_disable };
    this.#window = new FailureWindow({
      window: auto.window,
      minRequests: auto.min_requests,
      failureRatio: auto.failure_ratio,
    });
    this.#statePath = outputStatePath(engine.config.data_dir, config.name);
    this.status = newOutputStatus(config.type);
    engine.status.outputs[config.name] = this.status;
    this.#state = {
      version: 1,
      type: config.type,
      cursor: engine.journal.end,
      intent: null,
      batch_seq: 0,
      last_base_key: null,
      key_repeat: 0,
      disabled: null,
      disabled_at: null,
      skip: null,
      window: [],
      counters: {
        delivered_hits: 0,
        requests: 0,
        failed_requests: 0,
        dropped_hits: 0,
        skipped_hits: 0,
      },
      last_error: null,
    };
  }

  /**
   * Restores the persisted state. An output with no state starts at the journal's oldest line at
   * start-up, or at its end when `fresh` (added by a reload).
   */
  async load(fresh = false): Promise<void> {
    const saved = await readJsonFile<OutputStateFile>(this.#statePath);
    const journal = this.#engine.journal;
    if (saved) {
      this.#state = { ...this.#state, ...saved, type: this.type, removed_at: null };
      if (this.#state.cursor.offset < journal.start.offset) {
        // The output was out of the config while its segments were deleted.
        this.#engine.logger.warn(
          `Output "${this.name}" resumes at the journal's oldest line: what it had not delivered before it was removed from the config is gone`,
          { output: this.name, skipped_hits: journal.start.seq - this.#state.cursor.seq },
        );
        this.#state.cursor = { ...journal.start };
        this.#state.intent = null;
        this.#state.skip = null;
        this.#state.disabled_at = null;
      }
    } else if (fresh) {
      this.#state.cursor = { ...journal.end };
    } else {
      this.#state.cursor = journal.start.offset === 0 ? ORIGIN : journal.start;
    }
    const now = this.#engine.clock.now();
    this.#window.restore(this.#state.window, now);
    Object.assign(this.status, this.#state.counters);
    this.status.last_error = this.#state.last_error;
    if (!this.#config.enabled) this.#turnOff("config");
    else if (this.#state.disabled === "config") this.#turnOn();
    this.#refresh();
    try {
      await this.save();
    } catch (error) {
      // A full disk at start: the state is saved again with the first batch; start anyway.
      this.#engine.logger.warn(
        `Cannot save the state of output "${this.name}" now: ${(error as Error).message}`,
        { output: this.name },
      );
    }
    await this.applyRequest();
  }

  /** Applies a pending `hitship enable`/`disable` request for this output, if any. */
  async applyRequest(): Promise<void> {
    const path = this.#statePath.replace(/\.json$/, ".request.json");
    const request = await readJsonFile<{ enabled: boolean }>(path);
    if (!request) return;
    await Deno.remove(path).catch(() => {});
    if (request.enabled && this.#state.disabled === "config") return;
    if (await this.setEnabled(request.enabled)) {
      this.#engine.logger.info(
        `Output "${this.name}" ${request.enabled ? "enabled" : "disabled"}`,
        {
          output: this.name,
        },
      );
    }
  }

  /** The output's config. */
  get config(): OutputConfig {
    return this.#config;
  }

  /** True while the output is off. */
  get disabled(): boolean {
    return this.#state.disabled !== null;
  }

  /** The persisted state, for `status` and tests. */
  get state(): Readonly<OutputStateFile> {
    return this.#state;
  }

  /** True when the output receives events of this kind. */
  takes(kind: string): boolean {
    return this.#events.has(kind) && !this.disabled;
  }

  /** Queues a system event for delivery. */
  queueEvent(event: SystemEvent): void {
    this.#queue.push(event);
    if (this.#queue.length > 1000) {
      const dropped = this.#queue.shift()!;
      this.#engine.logger.warn("Dropped the oldest queued system event", {
        output: this.name,
        event: dropped.name,
      });
    }
    this.#poke(false);
  }

  /** The input has ended: finish what the journal holds, then stop. */
  drain(): void {
    this.#draining = true;
    this.#poke(false);
  }

  /** Where the hits this output will take end: the journal's end, or, skipping, where it went off. */
  #takesUntil(): Position {
    const at = this.#state.disabled_at;
    return at && this.#skipsWhileOff ? at : this.#engine.journal.end;
  }

  get #skipsWhileOff(): boolean {
    return this.#config.while_disabled === "skip";
  }

  /** Hits of the journal this output has still to deliver. */
  pendingHits(): number {
    if (!this.#events.has("hits")) return 0;
    const cursor = this.#state.cursor;
    let pending = this.#takesUntil().seq - cursor.seq;
    const skip = this.#state.skip;
    if (skip && !this.disabled) {
      pending -= Math.max(0, skip.to.seq - Math.max(skip.from.seq, cursor.seq));
    }
    return Math.max(0, pending);
  }

  /** Spans of the journal this output will still read. */
  neededRanges(): Array<{ from: number; to: number }> {
    if (!this.#events.has("hits")) return [];
    const from = this.#state.cursor.offset;
    const until = this.#takesUntil();
    if (until !== this.#engine.journal.end) return [{ from, to: until.offset }];
    const skip = this.#state.skip;
    if (skip && skip.to.offset > from) {
      return [{ from, to: skip.from.offset }, { from: skip.to.offset, to: Infinity }];
    }
    return [{ from, to: Infinity }];
  }

  /** True when this output still needs some of the journal between two offsets. */
  needs(from: number, to: number): boolean {
    return this.neededRanges().some((r) => r.from < to && r.to > from && r.from < r.to);
  }

  /**
   * Drops the hits before `position` for this output alone (the journal is full and the output is
   * off): its cursor moves there, a batch cut in that span is given up, and the hits are counted
   * and announced.
   */
  async dropThrough(position: Position): Promise<void> {
    const cursor = this.#state.cursor;
    if (position.offset <= cursor.offset) return;
    const until = this.#takesUntil();
    const end = until.offset < position.offset ? until : position;
    let dropped = Math.max(0, end.seq - cursor.seq);
    const skip = this.#state.skip;
    if (skip && !this.disabled) {
      dropped -= Math.max(
        0,
        Math.min(skip.to.seq, end.seq) - Math.max(skip.from.seq, cursor.seq),
      );
    }
    const intent = this.#state.intent;
    if (intent && intent.from.offset < position.offset) this.#state.intent = null;
    this.#skipTo(position);
    this.status.dropped_hits += dropped;
    this.#refresh();
    await this.save();
    this.#engine.logger.warn(
      `The journal is full: dropped ${dropped} hits for output "${this.name}", which is off`,
      { output: this.name, dropped_hits: dropped },
    );
    this.#announceLost(dropped, "journal_full");
  }

  /**
   * Announces lost hits (dropped, or skipped while off) in a `hits_dropped` system event, at
   * most once an hour per output: what comes within the hour after an event waits for the next.
   */
  #announceLost(hits: number, reason: "journal_full" | "skipped_while_disabled"): void {
    if (hits <= 0) return;
    const pending = this.#unannounced;
    pending[reason] = (pending[reason] ?? 0) + hits;
    if (this.#announcing) return;
    const clock = this.#engine.clock;
    const announce = () => {
      this.#announcing = false;
      this.#announcedAt = clock.now();
      const counts = this.#unannounced;
      this.#unannounced = {};
      const total = (counts.journal_full ?? 0) + (counts.skipped_while_disabled ?? 0);
      this.#engine.emit({
        kind: "system",
        name: "hits_dropped",
        summary: `Integration "${this.name}" (${this.type}) lost ${total} hits`,
        details: {
          integration: this.name,
          type: this.type,
          dropped_hits: counts.journal_full ?? 0,
          skipped_hits: counts.skipped_while_disabled ?? 0,
          dropped_hits_total: this.status.dropped_hits,
          skipped_hits_total: this.status.skipped_hits,
        },
        time: clock.now(),
      }, this.name);
    };
    const wait = this.#announcedAt + HOUR - clock.now();
    if (wait <= 0) return announce();
    this.#announcing = true;
    this.#engine.afterDelay(wait, announce);
  }

  /** Turns the output off (`hitship disable`, the config, or auto-disable). */
  #turnOff(by: DisabledBy): void {
    if (this.#state.disabled === null) {
      this.#state.disabled_at = { ...this.#engine.journal.end };
    }
    this.#state.disabled = by;
    this.#sendAbort?.abort(new Error("disabled"));
    this.#poke(true);
  }

  /**
   * Turns the output back on: it resumes from its cursor. With `while_disabled: skip` it passes
   * over what came while it was off; with `keep` it delivers that too.
   */
  #turnOn(): void {
    const at = this.#state.disabled_at;
    if (at && this.#skipsWhileOff) {
      const end = this.#engine.journal.end;
      const cursor = this.#state.cursor;
      if (end.offset > at.offset && end.offset > cursor.offset) {
        const from = cursor.offset > at.offset ? cursor : at;
        this.#state.skip = { from, to: { ...end } };
        const skipped = this.#events.has("hits") ? end.seq - from.seq : 0;
        this.status.skipped_hits += skipped;
        this.#announceLost(skipped, "skipped_while_disabled");
      }
    }
    this.#state.disabled = null;
    this.#state.disabled_at = null;
    this.#schedule.reset();
    this.#poke(true);
  }

  /**
   * Wakes the loop. An idle wait always ends; a wait between retries ends only when `urgent`
   * (a state change), so events and new lines never cut the retry schedule short.
   */
  #poke(urgent: boolean): void {
    const waiter = this.#waiter ?? (urgent ? this.#urgentWaiter : undefined);
    this.#waiter = undefined;
    this.#urgentWaiter = undefined;
    if (waiter) waiter();
    else this.#poked = true;
  }

  /** Writes the state file. */
  async save(): Promise<void> {
    this.#state.window = this.#window.toJSON();
    this.#state.counters = {
      delivered_hits: this.status.delivered_hits,
      requests: this.status.requests,
      failed_requests: this.status.failed_requests,
      dropped_hits: this.status.dropped_hits,
      skipped_hits: this.status.skipped_hits,
    };
    this.#state.last_error = this.status.last_error;
    await writeFileAtomic(this.#statePath, JSON.stringify(this.#state, null, 2) + "\n");
  }

  #refresh(): void {
    const s = this.status;
    const { ratio } = this.#window.counts(this.#engine.clock.now());
    s.failure_ratio = Math.round(ratio * 1000) / 1000;
    s.pending_hits = this.pendingHits();
    s.retry_attempt = this.#schedule.failures;
    if (this.#state.disabled === "auto") s.state = "auto_disabled";
    else if (this.#state.disabled) s.state = "disabled";
    else if (this.#schedule.failures > 0) s.state = "retrying";
    else s.state = "active";
    if (s.state !== "retrying") s.next_retry_at = null;
  }

  /** The delivery loop, until the output has drained or the engine stops. */
  async run(stop: AbortSignal): Promise<void> {
    const onStop = () => this.#poke(true);
    stop.addEventListener("abort", onStop);
    let failures = 0;
    try {
      while (!stop.aborted) {
        try {
          if (await this.#step(stop)) return;
          failures = 0;
        } catch (error) {
          if (stop.aborted) return;
          // A local failure (a full disk when saving state, a journal read error): log it, wait,
          // and go on; the output never stops for good.
          const wait = Math.min(30_000, 1000 * 2 ** Math.min(failures++, 5));
          this.#engine.logger.error(
            `Output "${this.name}" hit a local error, trying again in ${wait / 1000}s: ${
              (error as Error).message
            }`,
            { output: this.name },
          );
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, wait);
            function done() {
              clearTimeout(timer);
              stop.removeEventListener("abort", done);
              resolve();
            }
            stop.addEventListener("abort", done, { once: true });
          });
        }
      }
    } finally {
      stop.removeEventListener("abort", onStop);
      this.#refresh();
    }
  }

  /** One turn of the loop: events first, then the pending batch, then the next batch. */
  async #step(stop: AbortSignal): Promise<boolean> {
    if (this.disabled || this.#hitsDone) {
      if (this.#draining) {
        if (!this.#hitsDone) this.#finishHits();
        // Stay for events until every output has finished its hits: one of them may still be
        // auto-disabled and tell the others.
        if (this.#engine.hitsDone() && (this.disabled || this.#queue.length === 0)) return true;
      }
      if (this.disabled || this.#queue.length === 0) {
        await this.#idle(stop);
        return false;
      }
    }
    const event = this.#queue[0];
    if (event) {
      if (await this.#attempt(stop, (signal) => this.#sendEvent(event, signal))) {
        this.#queue.shift();
      }
      return false;
    }
    const intent = this.#state.intent;
    if (intent) {
      if (await this.#attempt(stop, (signal) => this.output.send(this.#batch(intent), signal))) {
        await this.#delivered(intent);
      }
      return false;
    }
    if (!await this.#collect(stop)) this.#finishHits();
    return false;
  }

  /** True once the output has drained its hits (or, off, has none to drain). */
  get hitsDone(): boolean {
    return this.#hitsDone;
  }

  #finishHits(): void {
    this.#hitsDone = true;
    this.#engine.pokeAll();
  }

  /** Wakes the loop from an idle wait (another output finished, say). */
  poke(): void {
    this.#poke(false);
  }

  #sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    if (!this.output.sendEvent) return Promise.resolve({ ok: true });
    return this.output.sendEvent(event, signal);
  }

  /** Waits for something to do: new lines, an event, a state change, the drain, or `until`. */
  async #idle(stop: AbortSignal, until?: number, journalOffset?: number): Promise<void> {
    if (stop.aborted) return;
    if (this.#poked) {
      this.#poked = false;
      return;
    }
    const done = new AbortController();
    const waits: Promise<unknown>[] = [
      new Promise<void>((resolve) => (this.#waiter = resolve)),
    ];
    if (journalOffset !== undefined) {
      waits.push(this.#engine.journal.waitFor(journalOffset, done.signal).catch(() => {}));
    }
    if (until !== undefined) {
      const wait = Math.max(0, until - this.#engine.clock.now());
      waits.push(this.#engine.clock.sleep(wait, done.signal).catch(() => {}));
    }
    await Promise.race(waits);
    done.abort();
    this.#waiter = undefined;
  }

  /**
   * One request, with the supervision: on failure, count it, maybe auto-disable, and wait out the
   * schedule's next interval.
   *
   * @returns True when the request succeeded.
   */
  async #attempt(
    stop: AbortSignal,
    send: (signal: AbortSignal) => Promise<SendResult>,
  ): Promise<boolean> {
    const clock = this.#engine.clock;
    if (!await this.#rateLimit(stop)) return false;
    const abort = new AbortController();
    this.#sendAbort = abort;
    const onStop = () => abort.abort(stop.reason);
    stop.addEventListener("abort", onStop, { once: true });
    let result: SendResult;
    try {
      result = await send(abort.signal);
    } catch (error) {
      result = { ok: false, error: (error as Error).message ?? String(error) };
    } finally {
      stop.removeEventListener("abort", onStop);
      this.#sendAbort = undefined;
    }
    // Cut short by a stop or a turn-off: not the output's failure, not counted. A request that
    // finished with success all the same is delivered.
    if (abort.signal.aborted && !result.ok) return false;
    const now = clock.now();
    this.#window.record(!result.ok, now);
    this.status.requests++;
    if (result.ok) {
      this.#schedule.reset();
      this.status.last_success_at = new Date(now).toISOString();
      this.#refresh();
      this.#engine.status.changed();
      return true;
    }
    this.status.failed_requests++;
    this.status.last_error = result.error;
    this.#engine.logger.warn(`Output "${this.name}" request failed: ${result.error}`, {
      output: this.name,
      status: result.status,
      attempt: this.#schedule.failures + 1,
    });
    if (this.#window.tripped(now)) {
      await this.#autoDisable(result.error);
      return false;
    }
    const delay = this.#schedule.next();
    this.status.next_retry_at = new Date(now + delay).toISOString();
    this.#refresh();
    await this.save();
    await this.#engine.status.stateChanged();
    if (this.disabled || stop.aborted) return false;
    const wait = new AbortController();
    this.#poked = false;
    this.#urgentWaiter = () => wait.abort();
    await clock.sleep(delay, wait.signal).catch(() => {});
    this.#urgentWaiter = undefined;
    return false;
  }

  /**
   * Waits until one more request fits in `rate_limit` requests per minute.
   *
   * @returns False when the wait was cut short by a stop or a state change.
   */
  async #rateLimit(stop: AbortSignal): Promise<boolean> {
    const rate = this.#batching.ratePerMinute;
    if (!rate) return true;
    const clock = this.#engine.clock;
    const sent = this.#sentAt;
    while (sent.length > 0 && sent[0]! <= clock.now() - 60_000) sent.shift();
    if (sent.length >= rate) {
      const wait = new AbortController();
      this.#urgentWaiter = () => wait.abort();
      await clock.sleep(sent[0]! + 60_000 - clock.now(), wait.signal).catch(() => {});
      this.#urgentWaiter = undefined;
      if (wait.signal.aborted || stop.aborted || this.disabled) return false;
      sent.shift();
    }
    sent.push(clock.now());
    return true;
  }

  async #autoDisable(lastError: string): Promise<void> {
    const { ratio, requests, failures } = this.#window.counts(this.#engine.clock.now());
    this.#turnOff("auto");
    this.#schedule.reset();
    this.#refresh();
    await this.save();
    await this.#engine.status.stateChanged();
    this.#engine.logger.error(`Output "${this.name}" auto-disabled`, {
      output: this.name,
      failure_ratio: ratio,
      requests,
      failures,
    });
    this.#engine.emit({
      kind: "system",
      name: "integration_broken",
      summary: `Integration "${this.name}" (${this.type}) is broken and was disabled`,
      details: {
        integration: this.name,
        type: this.type,
        failure_ratio: Math.round(ratio * 1000) / 1000,
        requests,
        failed_requests: failures,
        last_error: lastError,
      },
      time: this.#engine.clock.now(),
    }, this.name);
  }

  /** Turns the output on or off by command; returns false when nothing changed. */
  async setEnabled(enabled: boolean, by: DisabledBy = "command"): Promise<boolean> {
    if (enabled === !this.disabled) return false;
    if (enabled) this.#turnOn();
    else this.#turnOff(by);
    this.#refresh();
    await this.save();
    await this.#engine.status.stateChanged();
    if (!enabled) {
      this.#engine.emit({
        kind: "system",
        name: "disable_integration",
        summary: `Integration "${this.name}" (${this.type}) was disabled`,
        details: { integration: this.name, type: this.type, by },
        time: this.#engine.clock.now(),
      }, this.name);
    }
    return true;
  }

  async #delivered(intent: BatchIntent): Promise<void> {
    this.#state.cursor = intent.to;
    this.#state.intent = null;
    this.status.delivered_hits += intent.count;
    this.status.last_error = null;
    this.#refresh();
    await this.save();
    await this.#engine.releaseSegments();
    this.#engine.status.changed();
  }

  #batch(intent: BatchIntent): Batch {
    const journal = this.#engine.journal;
    const filter = this.#filter;
    const state = this.#state;
    const save = () => this.save();
    return {
      seq: intent.seq,
      get key() {
        return intent.key;
      },
      async nextKey() {
        const base = intent.base_key ?? intent.key;
        intent.base_key = base;
        intent.suffix = (intent.suffix ?? 0) + 1;
        intent.key = withSuffix(base, intent.suffix);
        // The next batch of the same second starts past the names taken here.
        if (state.last_base_key === base) {
          state.key_repeat = Math.max(state.key_repeat, intent.suffix);
        }
        await save();
        return intent.key;
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
          yield lines.filter((line) => filter(JSON.parse(decoder.decode(line))));
        }
      },
    };
  }

  /** Moves the cursor over a span this output does not take. */
  #skipTo(position: Position): void {
    this.#state.cursor = position;
    if (this.#state.skip && position.offset >= this.#state.skip.to.offset) this.#state.skip = null;
  }

  /**
   * Reads the journal from the cursor into the next batch, waiting for lines or the interval.
   *
   * @returns False when the output has drained and should stop.
   */
  async #collect(stop: AbortSignal): Promise<boolean> {
    const journal = this.#engine.journal;
    if (!this.#events.has("hits")) {
      if (this.#draining) return false;
      await this.#idle(stop);
      return true;
    }
    const { interval, maxHits, maxBytes } = this.#batching;
    const clock = this.#engine.clock;
    let count = 0;
    let raw = 0;
    let firstAt = 0;
    let to = this.#state.cursor;
    const skip = this.#state.skip;
    if (skip && to.offset >= skip.from.offset && to.offset < skip.to.offset) {
      this.#skipTo(skip.to);
      to = skip.to;
    }
    const stopAt = skip && to.offset < skip.from.offset ? skip.from : undefined;
    const filter = this.#filter;
    let reader: JournalReader | undefined;
    try {
      for (;;) {
        if (stop.aborted || this.disabled || this.#queue.length > 0) {
          if (count === 0 && to.offset > this.#state.cursor.offset) this.#skipTo(to);
          return true;
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
            if (count >= maxHits) {
              await this.#cut(count, raw, to);
              return true;
            }
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
              if (count >= maxHits || raw >= maxBytes) {
                await this.#cut(count, raw, { offset, seq });
                return true;
              }
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
            if (filter && !filter(JSON.parse(decoder.decode(line)))) continue;
            if (count === 0) firstAt = clock.now();
            count++;
            raw += line.length;
            if (count >= maxHits || raw >= maxBytes) {
              await this.#cut(count, raw, { offset, seq });
              return true;
            }
          }
          to = chunk.end;
          continue;
        }
        if (stopAt && to.offset >= stopAt.offset) {
          // Reached the span skipped while the output was off.
          if (count > 0) await this.#cut(count, raw, to);
          else this.#skipTo(stopAt);
          return true;
        }
        if (
          count > 0 && (this.#draining || this.#engine.full || clock.now() - firstAt >= interval)
        ) {
          await this.#cut(count, raw, to);
          return true;
        }
        if (count === 0) {
          if (to.offset > this.#state.cursor.offset) {
            this.#skipTo(to);
            await this.save();
            await this.#engine.releaseSegments();
          }
          if (this.#draining) return false;
        }
        this.#refresh();
        await this.#idle(stop, count > 0 ? firstAt + interval : undefined, to.offset);
      }
    } finally {
      reader?.close();
    }
  }

  async #cut(count: number, raw: number, to: Position): Promise<void> {
    const now = this.#engine.clock.now();
    const seq = ++this.#state.batch_seq;
    const c = this.#config as OutputConfig & {
      key?: string;
      format?: Format;
      compression?: Compression;
    };
    const base = renderKey(
      c.key ?? `${this.name}-{timestamp}`,
      { time: now, hostname: this.#hostname, seq, output: this.name },
      c.format,
      c.compression,
    );
    this.#state.key_repeat = base === this.#state.last_base_key ? this.#state.key_repeat + 1 : 0;
    this.#state.last_base_key = base;
    this.#state.intent = {
      seq,
      key: withSuffix(base, this.#state.key_repeat),
      base_key: base,
      suffix: this.#state.key_repeat,
      from: this.#state.cursor,
      to,
      count,
      raw_bytes: raw,
      created_at: now,
    };
    await this.save();
  }
}
