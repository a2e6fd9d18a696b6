/**
 * The engine: one journal, and for each output a runner that reads the journal from its own
 * cursor, filters, batches, and delivers through the shared supervision (retry schedule,
 * failure window, auto-disable, system events). Outputs never wait on each other. The engine
 * owns what it acquires (the data directory's lock, the journal, the status file) in one place,
 * and the inputs, the room in the journal, and the end of a run; its outputs are an
 * {@linkcode OutputFleet}.
 *
 * @module
 */
import { type Clock, systemClock } from "../base/clock.ts";
import { joinPath } from "../base/fs.ts";
import { jsonLogger, type Logger } from "../base/log.ts";
import type { Config } from "../config/config.ts";
import { pluginsOfModules } from "../config/plugin_modules.ts";
import { DeadLetter } from "../ingest/dead_letter.ts";
import { Ingester } from "../ingest/ingester.ts";
import { Journal } from "../journal/journal.ts";
import type { Output } from "../sdk/output.ts";
import type { Plugin } from "../sdk/plugin.ts";
import { StatusBoard, type StatusDocument } from "../status/status.ts";
import { AlertWatcher } from "../hit/alerts.ts";
import { DataDirLock } from "./data_dir_lock.ts";
import { reportEveryHour } from "./events.ts";
import { readInput } from "./inputs.ts";
import { JournalRoom } from "./room.ts";
import { type DrainResult, OutputFleet } from "./fleet.ts";
import type { OutputRunner } from "./runner.ts";

export type { DrainResult } from "./fleet.ts";

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

/** The status model of a run, its write errors told in the log and beside the lock. */
function statusBoardOf(
  config: Config,
  clock: Clock,
  logger: Logger,
  lock: DataDirLock,
): StatusBoard {
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
  return status;
}

/** One ingester for each input, sharing the journal and the dead-letter file. */
function ingestersOf(
  config: Config,
  shared: { journal: Journal; status: StatusBoard; logger: Logger; deadLetter: DeadLetter },
  room: { makeRoom(): Promise<boolean>; onResume(): void },
): Ingester[] {
  const { journal, status, logger, deadLetter } = shared;
  return config.inputs.map((input) =>
    new Ingester({
      journal,
      status,
      logger,
      deadLetter,
      input: input.name,
      maxLineBytes: input.max_line_bytes,
      maxJournalBytes: config.max_journal_bytes,
      makeRoom: room.makeRoom,
      onResume: room.onResume,
    })
  );
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
  readonly #fleet: OutputFleet;
  readonly #options: EngineOptions;
  /** What the engine acquired (lock, journal, status file): released at its end, in reverse. */
  #resources = new AsyncDisposableStack();
  /** The plugins the options give, and those of the config's `plugins:` modules. */
  #plugins: readonly Plugin[] = [];
  #alerts: AlertWatcher;
  #control: Promise<void> = Promise.resolve();
  #draining = false;
  readonly #timers = new AbortController();
  #reporting: Promise<void> = Promise.resolve();
  readonly #room: JournalRoom;

  private constructor(
    config: Config,
    acquired: { journal: Journal; status: StatusBoard },
    options: EngineOptions & { clock: Clock; logger: Logger; hostname: string },
  ) {
    const { journal, status } = acquired;
    const { clock, logger } = options;
    this.config = config;
    this.journal = journal;
    this.status = status;
    this.#options = options;
    this.#logger = logger;
    this.#clock = clock;
    this.#room = new JournalRoom(
      journal,
      status,
      () => this.config.max_journal_bytes,
      () => this.runners,
    );
    const deadLetter = new DeadLetter(
      config.data_dir,
      config.dead_letter_max_bytes,
      () => clock.now(),
      logger,
    );
    this.#fleet = new OutputFleet({
      clock,
      logger,
      status,
      hostname: options.hostname,
      outputs: options.outputs,
      host: {
        journal,
        clock,
        logger,
        telemetry: status.telemetry,
        stopping: this.#timers.signal,
        status,
        releaseSegments: () => this.#room.release(),
        full: () => this.#room.full,
        refused: (output, hits) => {
          deadLetter.refused(output, hits);
          return deadLetter.flush();
        },
      },
    });
    this.#alerts = new AlertWatcher(config.alerts, (event) => this.#fleet.emit(event));
    this.ingesters = ingestersOf(config, { journal, status, logger, deadLetter }, {
      makeRoom: () => this.#room.make(() => this.#fleet.pokeAll()),
      onResume: () => {
        this.#room.full = false;
      },
    });
    this.#watchHits();
    status.onSnapshot(() => {
      for (const runner of this.runners) runner.status.pending_hits = runner.pendingHits();
    });
  }

  /** @ignore The outputs' runners (for hitship's own tests). */
  get runners(): readonly OutputRunner[] {
    return this.#fleet.runners;
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

  /**
   * Opens the journal and state in `data_dir`, builds every output and starts its runner. What it
   * acquires is released in one place: at once when starting fails, at the engine's end otherwise.
   */
  static async start(config: Config, options: EngineOptions): Promise<Engine> {
    const clock = options.clock ?? systemClock;
    const logger = options.logger ?? jsonLogger(config.log_level);
    await using resources = new AsyncDisposableStack();
    // First the lock: opening the journal cuts what another process has not committed yet.
    const lock = await DataDirLock.acquire(config.data_dir);
    resources.defer(() => lock.release());
    await Deno.mkdir(joinPath(config.data_dir, "outputs"), { recursive: true });
    const statusDir = config.status_file.replace(/\/[^/]*$/, "");
    if (statusDir !== config.status_file) {
      // A status file that cannot be written is said in the log; it does not stop shipping.
      await Deno.mkdir(statusDir, { recursive: true }).catch(() => {});
    }
    const journal = await Journal.open(joinPath(config.data_dir, "journal"), {
      segmentBytes: config.journal_segment_bytes,
      directIO: config.journal_direct_io,
      logger,
      clock,
    });
    resources.defer(() => journal.close());
    const status = statusBoardOf(config, clock, logger, lock);
    const hostname = options.hostname ?? Deno.hostname();
    const engine = new Engine(config, { journal, status }, {
      ...options,
      clock,
      logger,
      hostname,
    });
    await engine.#startOutputs();
    // Started: the engine owns what it acquired, and writes the last status at its end.
    engine.#resources = resources.move();
    engine.#resources.defer(() => status.close());
    return engine;
  }

  /** Builds every output and starts its runner, the hourly report and the request watcher. */
  async #startOutputs(): Promise<void> {
    const { config, status, journal } = this;
    this.#plugins = await this.#withModules(config);
    for (const outputConfig of config.outputs) {
      this.#fleet.runners.push(await this.#fleet.build(outputConfig, config, this.#plugins, false));
    }
    status.journal.bytes = journal.bytes;
    status.journal.segments = journal.segmentCount;
    await status.stateChanged();
    await this.#fleet.findRemoved(config);
    for (const runner of this.runners) this.#fleet.launch(runner);
    if (this.runners.some((r) => r.takes("report"))) {
      this.#reporting = reportEveryHour(this.#clock, this.#timers.signal, () => ({
        lines: status.input.lines,
        hits: status.input.hits,
        rejected: status.input.rejected,
        delivered: Object.fromEntries(this.runners.map((r) => [r.name, r.status.delivered_hits])),
      }), (event) => this.#fleet.emit(event));
    }
    this.#control = this.#fleet.watchRequests(
      this.config.data_dir,
      this.#options.controlInterval ?? 1000,
      this.#timers.signal,
    );
  }

  /** The options' plugins and those of a config's `plugins:` modules. */
  async #withModules(config: Config): Promise<readonly Plugin[]> {
    const given = this.#options.plugins;
    return [...given, ...await pluginsOfModules(config.plugins, given)];
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
    this.config = {
      ...current,
      outputs: next.outputs,
      retry: next.retry,
      auto_disable: next.auto_disable,
      alerts: next.alerts,
      plugins: next.plugins,
    };
    const changes = await this.#fleet.reload(current, this.config, this.#plugins, this.#draining);
    this.#alerts = new AlertWatcher(next.alerts, (event) => this.#fleet.emit(event));
    this.#watchHits();
    this.status.lastConfigError = null;
    await this.status.stateChanged();
    this.#logger.info("Config reloaded", changes);
    return changes;
  }

  /**
   * Applies `hitship enable` / `hitship disable` requests left in `data_dir/outputs`. A running
   * engine applies them as their files appear.
   */
  applyRequests(): Promise<void> {
    return this.#fleet.applyRequests();
  }

  /** @ignore The runner of an output (for hitship's own tests). */
  runner(name: string): OutputRunner | undefined {
    return this.#fleet.runner(name);
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

  /**
   * Reads the inputs until they end (stdin, a file read once) or `signal` aborts: each plugin
   * gives events, each checked and journaled before the next is asked for.
   *
   * @param stdin The standard input to give an input that reads it. @default the process's own
   */
  async readInputs(signal: AbortSignal, stdin?: ReadableStream<Uint8Array>): Promise<void> {
    await Promise.all(this.config.inputs.map((input, i) => {
      const ingester = this.ingesters[i]!;
      return readInput(input, ingester, {
        plugins: this.#plugins,
        journal: this.journal,
        logger: this.#logger,
        clock: this.#clock,
        signal,
        stdin,
        full: () =>
          this.#room.full || ingester.waiting ||
          this.journal.bytes >= this.config.max_journal_bytes,
      });
    }));
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
    const all = this.#fleet.allDone();
    const expired = await Promise.race([
      all.then(() => false),
      this.#clock.sleep(timeout, timer.signal).then(() => true, () => false),
    ]);
    timer.abort();
    if (expired) this.#fleet.stopAll(new Error("drain timeout"));
    await all;
    return await this.#finish();
  }

  /** Stops at once: in-flight requests are aborted, state is saved, nothing is lost. */
  async stop(): Promise<DrainResult> {
    this.#draining = true;
    this.#fleet.stopAll(new Error("stopped"));
    await this.#fleet.allDone();
    return await this.#finish();
  }

  async #finish(): Promise<DrainResult> {
    this.#timers.abort();
    await this.#control;
    await this.#reporting;
    const undelivered = await this.#fleet.finish();
    await this.#room.release();
    await this.#resources.disposeAsync();
    return { undelivered };
  }
}
