/**
 * The engine: one journal, and for each output a runner that reads the journal from its own
 * cursor, filters, batches, and delivers through the shared supervision (retry schedule,
 * failure window, auto-disable, system events). Outputs never wait on each other.
 *
 * @module
 */
import { type Clock, systemClock } from "../base/clock.ts";
import { joinPath, readJsonFile } from "../base/fs.ts";
import { jsonLogger, type Logger } from "../base/log.ts";
import type { Config, InputConfig, OutputConfig } from "../config/config.ts";
import { AlertWatcher } from "../hit/alerts.ts";
import { DeadLetter } from "../ingest/dead_letter.ts";
import { Ingester } from "../ingest/ingester.ts";
import { Journal } from "../journal/journal.ts";
import { pluginsOfModules } from "../config/plugin_modules.ts";
import { defaultEventsOf, type Output, type SystemEvent } from "../sdk/output.ts";
import { inputPluginsOf, outputPluginsOf, type Plugin } from "../sdk/plugin.ts";
import { type OutputStatus, StatusBoard, type StatusDocument } from "../status/status.ts";
import { DataDirLock } from "./data_dir_lock.ts";
import { deleteIntegration, reportEveryHour } from "./events.ts";
import { type OutputStateFile, outputStatePath, writeOutputState } from "./output_state.ts";
import { OutputRunner, pluginFields, type RunnerHost } from "./runner.ts";

/** Options of {@linkcode Engine.start}. */
export interface EngineOptions {
  /** The plugins the config's input and outputs may use. */
  plugins: readonly Plugin[];
  /** Where time comes from. @default the system clock */
  clock?: Clock;
  /** Where log lines go. @default JSON lines on stderr at the config's `log_level` */
  logger?: Logger;
  /** The hostname for key templates and notifications. @default Deno.hostname() */
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

/**
 * Runs the data path: input → journal → outputs.
 *
 * @example
 * ```ts ignore
 * const engine = await Engine.start(config, { plugins: builtinPlugins });
 * await engine.readInputs(AbortSignal.timeout(60_000));
 * const { undelivered } = await engine.drain(25_000);
 * ```
 */
export class Engine {
  /** The config in force (outputs, retry, auto-disable and alerts change on reload). */
  config: Config;
  /** @ignore The journal (for hitship's own tests). */
  readonly journal: Journal;
  /** @ignore The status model (for hitship's own tests and CLI). */
  readonly status: StatusBoard;
  /** @ignore The inputs' ingesters, in the config's order (for hitship's own tests). */
  readonly ingesters: Ingester[];
  readonly #logger: Logger;
  readonly #clock: Clock;
  /** @ignore The outputs' runners (for hitship's own tests). */
  readonly runners: OutputRunner[] = [];
  readonly #stop = new AbortController();
  readonly #runs = new Map<OutputRunner, { stop: AbortController; done: Promise<void> }>();
  #options: EngineOptions = { plugins: [] };
  /** The plugins the options give, and those of the config's `plugins:` modules. */
  #plugins: readonly Plugin[] = [];
  #hostname = "";
  #alerts: AlertWatcher;
  #control: Promise<void> = Promise.resolve();
  #draining = false;
  readonly #timers = new AbortController();
  #reporting: Promise<void> = Promise.resolve();
  #applying: Promise<void> = Promise.resolve();
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
    this.#logger = logger;
    this.#clock = clock;
    this.#alerts = new AlertWatcher(config.alerts, (event) => this.#emit(event));
    const deadLetter = new DeadLetter(
      config.data_dir,
      config.dead_letter_max_bytes,
      () => clock.now(),
      logger,
    );
    this.ingesters = config.inputs.map((input) =>
      new Ingester({
        journal,
        status,
        logger,
        deadLetter,
        input: input.name,
        maxLineBytes: input.max_line_bytes,
        maxJournalBytes: config.max_journal_bytes,
        makeRoom: () => this.#makeRoom(),
        onResume: () => {
          this.#full = false;
        },
      })
    );
    this.#watchHits();
    status.onSnapshot(() => {
      for (const runner of this.runners) runner.status.pending_hits = runner.pendingHits();
    });
  }

  /** @ignore The first input's ingester (for hitship's own tests). */
  get ingester(): Ingester {
    return this.ingesters[0]!;
  }

  /** Hits go to the alert watcher only when it has rules: unobserved hits are not kept. */
  #watchHits(): void {
    const alerts = this.#alerts;
    for (const ingester of this.ingesters) {
      ingester.onHit = alerts.empty ? undefined : (hit) => alerts.observe(hit, this.#clock.now());
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
        clock,
      });
    } catch (error) {
      lock.release();
      throw error;
    }
    const status = new StatusBoard(
      config.status_file,
      clock,
      config.inputs.map(({ name, type, path }) => ({
        name,
        type,
        path: typeof path === "string" ? path : null,
      })),
    );
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
    try {
      engine.#plugins = await engine.#withModules(config);
    } catch (error) {
      journal.close();
      lock.release();
      throw error;
    }
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
      engine.#reporting = reportEveryHour(engine.#clock, engine.#timers.signal, () => ({
        lines: status.input.lines,
        hits: status.input.hits,
        rejected: status.input.rejected,
        delivered: Object.fromEntries(engine.runners.map((r) => [r.name, r.status.delivered_hits])),
      }), (event) => engine.#emit(event));
    }
    engine.#control = engine.#applyRequestsEvery(options.controlInterval ?? 1000);
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
    this.#emit(deleteIntegration(name, type, this.#clock.now()), name);
    const path = outputStatePath(this.config.data_dir, name);
    try {
      const state = await readJsonFile<OutputStateFile>(path);
      if (state) {
        await writeOutputState(path, {
          ...state,
          removed_at: new Date(this.#clock.now()).toISOString(),
        });
      }
    } catch (error) {
      this.#logger.warn(
        `Cannot note that output "${name}" was removed: ${(error as Error).message}`,
      );
    }
  }

  /** The options' plugins and those of a config's `plugins:` modules. */
  async #withModules(config: Config): Promise<readonly Plugin[]> {
    const given = this.#options.plugins;
    return [...given, ...await pluginsOfModules(config.plugins, given)];
  }

  /** Builds an output and its runner; an output new to `data_dir` starts at the journal's end. */
  async #build(outputConfig: OutputConfig, fresh: boolean): Promise<OutputRunner> {
    const plugin = outputPluginsOf(this.#plugins).find((p) => p.type === outputConfig.type);
    if (!plugin) throw new Error(`Unknown output type "${outputConfig.type}"`);
    const output = this.#options.outputs?.[outputConfig.name] ??
      await plugin.create(pluginFields(outputConfig) as never, {
        name: outputConfig.name,
        clock: this.#clock,
        logger: this.#logger,
        hostname: this.#hostname,
        events: outputConfig.events ?? defaultEventsOf(plugin),
      });
    const runner = new OutputRunner(this.#host, {
      config: outputConfig,
      plugin,
      output,
      hostname: this.#hostname,
      statePath: outputStatePath(this.config.data_dir, outputConfig.name),
      retry: this.config.retry,
      autoDisable: this.config.auto_disable,
    });
    this.status.outputs[outputConfig.name] = runner.status;
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
    for (const key of ["inputs", "data_dir", "status_file", "http"] as const) {
      if (JSON.stringify(current[key]) !== JSON.stringify(next[key])) {
        this.#logger.warn(`Reload: a change of "${key}" needs a restart; it is not applied`);
      }
    }
    this.#plugins = await this.#withModules(next);
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
      plugins: next.plugins,
    };
    this.#alerts = new AlertWatcher(next.alerts, (event) => this.#emit(event));
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
    this.#logger.info("Config reloaded", { added, removed, changed });
    return { added, removed, changed };
  }

  /**
   * Applies `hitship enable`/`disable` requests as they come, until the engine stops: on a
   * file-system event in `data_dir/outputs`, and every `ms` where there are no such events.
   */
  async #applyRequestsEvery(ms: number): Promise<void> {
    const signal = this.#timers.signal;
    let watcher: Deno.FsWatcher | undefined;
    try {
      watcher = Deno.watchFs(joinPath(this.config.data_dir, "outputs"), { recursive: false });
    } catch {
      watcher = undefined;
    }
    if (watcher) {
      const close = () => watcher!.close();
      signal.addEventListener("abort", close, { once: true });
      try {
        for await (const event of watcher) {
          if (event.paths.some((path) => path.endsWith(".request.json"))) {
            await this.applyRequests();
          }
        }
      } catch {
        // the directory went away
      } finally {
        signal.removeEventListener("abort", close);
      }
      if (signal.aborted) return;
    }
    for (;;) {
      try {
        await this.#clock.sleep(ms, signal);
      } catch {
        return;
      }
      await this.applyRequests();
    }
  }

  /**
   * Applies `hitship enable` / `hitship disable` requests left in `data_dir/outputs`. A running
   * engine applies them as their files appear.
   */
  applyRequests(): Promise<void> {
    // One pass at a time; a call during a pass runs after it (its request may have come late).
    this.#applying = this.#applying.then(async () => {
      try {
        for (const runner of this.runners) await runner.applyRequest();
      } catch (error) {
        this.#logger.error(`Cannot apply an enable/disable request: ${(error as Error).message}`);
      }
    });
    return this.#applying;
  }

  /** @ignore The runner of an output (for hitship's own tests). */
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

  /** What the runners may ask of the engine. */
  get #host(): RunnerHost {
    return {
      journal: this.journal,
      telemetry: this.status.telemetry,
      clock: this.#clock,
      logger: this.#logger,
      changed: () => this.status.changed(),
      stateChanged: () => this.status.stateChanged(),
      emit: (event, from) => this.#emit(event, from),
      releaseSegments: () => this.#releaseSegments(),
      hitsDone: () => this.#hitsDone(),
      pokeAll: () => this.#pokeAll(),
      full: () => this.#full,
      afterDelay: (ms, fn) => this.#afterDelay(ms, fn),
    };
  }

  /** The status now: what the status file and `/metrics` show. */
  snapshot(): StatusDocument {
    return this.status.snapshot();
  }

  /** True while hits can be taken and delivered: not draining, and some output is on. */
  get ready(): boolean {
    return !this.#draining && this.runners.some((r) => !r.disabled);
  }

  /** Records in the status that a config could not be reloaded (`null`: the error is over). */
  async noteConfigError(message: string | null): Promise<void> {
    this.status.lastConfigError = message;
    await this.status.stateChanged();
  }

  /** True once the engine drains or stops. */
  get draining(): boolean {
    return this.#draining;
  }

  /** True once every output has drained its hits. */
  #hitsDone(): boolean {
    return this.runners.every((r) => r.hitsDone);
  }

  /** Wakes every idle output. */
  #pokeAll(): void {
    for (const runner of this.runners) runner.poke();
  }

  /** Queues a system event for every output, but `from`, whose `events` include its kind. */
  #emit(event: SystemEvent, from?: string): void {
    this.#logger.info(event.summary, { event: event.name, ...event.details });
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
    await Promise.all(
      this.config.inputs.map((input, i) =>
        this.#readInput(input, this.ingesters[i]!, signal, stdin)
      ),
    );
  }

  /** Reads one input until it ends or `signal` aborts. */
  async #readInput(
    input: InputConfig,
    ingester: Ingester,
    signal: AbortSignal,
    stdin: ReadableStream<Uint8Array> | undefined,
  ): Promise<void> {
    const { type, name, max_line_bytes: _max, ...fields } = input;
    const plugin = inputPluginsOf(this.#plugins).find((p) => p.type === type);
    if (!plugin) throw new Error(`Unknown input type "${type}"`);
    const opened = plugin.open(fields as never, {
      name,
      checkpoint: this.journal.checkpointOf(name)?.state ?? null,
      signal,
      logger: this.#logger,
      clock: this.#clock,
      stdin,
      submit: (body, options) => ingester.submit(body, options),
      full: () =>
        this.#full || ingester.waiting || this.journal.bytes >= this.config.max_journal_bytes,
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
      if (signal.aborted) return;
    }
  }

  /** Runs `fn` after `ms` of the engine's clock, unless the engine stops first. */
  #afterDelay(ms: number, fn: () => void): void {
    this.#clock.sleep(ms, this.#timers.signal).then(fn, () => {});
  }

  /**
   * Frees the oldest journal segment when only outputs that are off still need it (their hits in
   * it are dropped for them alone, counted), or when no output needs it at all (the active
   * segment is rolled first). The input calls it when the journal or the disk is full.
   *
   * @returns True when a segment was freed; false when an output that is on still needs it.
   */
  async #makeRoom(): Promise<boolean> {
    const journal = this.journal;
    const oldest = journal.oldest;
    if (oldest.end.offset <= oldest.start.offset) return false; // nothing in it
    const holders = this.runners.filter((r) => r.needs(oldest.start.offset, oldest.end.offset));
    if (holders.some((r) => !r.disabled)) {
      // An output that is on is behind: it cuts its batch now rather than wait for the
      // interval, which the full journal would not let end.
      this.#full = true;
      this.#pokeAll();
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
    await this.#releaseSegments();
    return journal.segmentCount < before;
  }

  /** Deletes the journal segments no output needs any more. */
  async #releaseSegments(): Promise<void> {
    const ranges = this.runners.flatMap((r) => r.neededRanges());
    await this.journal.retain(ranges);
    this.status.journal.bytes = this.journal.bytes;
    this.status.journal.segments = this.journal.segmentCount;
    // Room again: outputs go back to their intervals (a server input never pauses to say so).
    if (this.journal.bytes < this.config.max_journal_bytes) this.#full = false;
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
      this.#clock.sleep(timeout, timer.signal).then(() => true, () => false),
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
    this.#timers.abort();
    await this.#control;
    await this.#reporting;
    const undelivered: DrainResult["undelivered"] = {};
    for (const runner of this.runners) {
      await runner.save().catch((error) => {
        // A full disk: the last saved state stands; what was delivered since is sent again.
        this.#logger.error(
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
    await this.#releaseSegments();
    this.journal.close();
    await this.status.close();
    this.#lock?.release();
    return { undelivered };
  }
}
