/**
 * `run`: the sidecar. Reads the inputs to their end (or a signal), journals and delivers, drains
 * within `shutdown_timeout`, reloads the config on SIGHUP, serves `/health`, `/ready` and
 * `/metrics` when configured, and ends with a last log line of what it did and cost.
 *
 * @module
 */
import process from "node:process";
import { systemClock } from "../base/clock.ts";
import { jsonLogger, LOG_LEVELS, type Logger, type LogLevel } from "../base/log.ts";
import { type Config, parseInputConfig } from "../config/config.ts";
import { type DrainResult, Engine } from "../engine/engine.ts";
import { serveHttp } from "../status/endpoint.ts";
import {
  type CliEnvironment,
  parse,
  readConfig,
  UsageError,
  VERSION,
  type Write,
} from "./environment.ts";
import { backfillSize, showProgress } from "./progress.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU time and peak memory of this process, for the last log line. */
function usage() {
  const u = process.resourceUsage();
  return {
    cpu_user_ms: Math.round(u.userCPUTime / 1000),
    cpu_system_ms: Math.round(u.systemCPUTime / 1000),
    max_rss_bytes: Math.max(rssPeak, Deno.memoryUsage().rss),
  };
}

/**
 * Peak RSS, sampled every 5 s (more often would wake an idle sidecar for it alone; the benchmark
 * reads the kernel's VmHWM from outside as well). Not getrusage's maxRSS: Linux carries that
 * across fork and exec, so a process started by a large parent would report the parent's peak;
 * and /proc/self needs --allow-all, which the sidecar does not have.
 */
let rssPeak = 0;
function sampleRss(): () => void {
  const timer = setInterval(() => {
    rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
  }, 5000);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}

/** The config `run` runs with: the file's (or the default), `--input` in place of its inputs. */
async function runConfig(
  values: { config?: string; input?: string },
  environment: CliEnvironment,
): Promise<Config> {
  const config = await readConfig(values.config, environment);
  const inputPath = values.input;
  if (inputPath !== undefined) {
    // --input: a file read once to its end, or - for stdin, instead of the config's input.
    const max_line_bytes = config.inputs[0]!.max_line_bytes;
    config.inputs = [parseInputConfig(
      inputPath === "-"
        ? { type: "stdin", max_line_bytes }
        : { type: "file", path: inputPath, follow: false, max_line_bytes },
      environment.plugins,
    )];
  }
  return config;
}

/**
 * The signals of a run: the first SIGTERM or SIGINT stops reading and drains, a second stops at
 * once; SIGHUP reloads the config file (one reload at a time; a bad config keeps the running one).
 */
class Signals {
  readonly #engine: Engine;
  readonly #logger: Logger;
  readonly #reload: { path: string; read(): Promise<Config> } | undefined;
  readonly #handlers: Array<[Deno.Signal, () => void]>;
  /** Aborts at the first stop signal: reading ends. */
  readonly reading = new AbortController();
  /** Resolves at the first stop signal. */
  readonly first: Promise<void>;
  /** Resolves with a second stop signal's result. */
  readonly hardStop: Promise<DrainResult>;
  /** Resolves when the reloads asked for are done. */
  reloading: Promise<void> = Promise.resolve();
  count = 0;

  /**
   * Listens for the run's signals.
   *
   * @param reload The config file to reload, or undefined when there is none.
   */
  constructor(
    engine: Engine,
    logger: Logger,
    shutdownTimeout: number,
    reload: { path: string; read(): Promise<Config> } | undefined,
  ) {
    this.#engine = engine;
    this.#logger = logger;
    this.#reload = reload;
    let signalled: () => void = () => {};
    this.first = new Promise<void>((resolve) => (signalled = resolve));
    let stopped: (result: DrainResult) => void = () => {};
    this.hardStop = new Promise<DrainResult>((resolve) => (stopped = resolve));
    const onStop = (name: string) => () => {
      if (++this.count === 1) {
        logger.info(`Received ${name}: draining`, { shutdown_timeout_ms: shutdownTimeout });
        this.reading.abort(new Error(name));
        signalled();
      } else {
        logger.warn(`Received ${name} again: stopping now`);
        engine.stop().then(stopped);
      }
    };
    this.#handlers = [
      ["SIGTERM", onStop("SIGTERM")],
      ["SIGINT", onStop("SIGINT")],
      ["SIGHUP", () => this.reloading = this.reloading.then(() => this.#reloaded())],
    ];
    for (const [signal, handler] of this.#handlers) Deno.addSignalListener(signal, handler);
  }

  async #reloaded(): Promise<void> {
    const reload = this.#reload;
    if (!reload) {
      this.#logger.warn("Received SIGHUP: there is no config file to reload (built-in default)");
      return;
    }
    this.#logger.info("Received SIGHUP: reloading the config", { config: reload.path });
    const telemetry = this.#engine.status.telemetry;
    try {
      await this.#engine.reload(await reload.read());
      telemetry.reloads.success++;
    } catch (error) {
      telemetry.reloads.failure++;
      const message = (error as Error).message;
      this.#logger.error(`Reload failed; the running config stays: ${message}`);
      await this.#engine.noteConfigError(message);
    }
  }

  /** Stops listening. */
  remove(): void {
    for (const [signal, handler] of this.#handlers) Deno.removeSignalListener(signal, handler);
  }
}

/** Says which outputs could not deliver everything; true when one could not. */
function reportUndelivered(result: DrainResult, err: Write): boolean {
  const undelivered = Object.entries(result.undelivered);
  for (const [name, { hits, state }] of undelivered) {
    const why = state === "auto_disabled"
      ? `is auto-disabled after failed requests; its ${hits} undelivered hits stay in the journal (hitship enable ${name})`
      : `could not deliver ${hits} hits in time; they stay in the journal for the next run`;
    err(`hitship: output "${name}" ${why}\n`);
  }
  return undelivered.length > 0;
}

/** `run [--config FILE] [--input PATH|-] [--log-level LEVEL]`. */
export async function runCommand(
  args: string[],
  environment: CliEnvironment,
  _out: Write,
  err: Write,
): Promise<number> {
  const { values } = parse(args, {
    config: { type: "string", short: "c" },
    input: { type: "string", short: "i" },
    "log-level": { type: "string" },
  });
  const level = values["log-level"] as string | undefined;
  if (level !== undefined && !LOG_LEVELS.includes(level as LogLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`);
  }
  const configPath = values.config as string | undefined;
  const config = await runConfig(values as { config?: string; input?: string }, environment);
  const clock = environment.clock ?? systemClock;
  // A backfill from a regular file, watched from a terminal: a progress line on stderr.
  const total = environment.stderr === undefined && Deno.stderr.isTerminal()
    ? backfillSize(values.input as string | undefined, config.inputs, environment.stdin)
    : undefined;
  let progressShown = false;
  const logger = jsonLogger((level ?? config.log_level) as LogLevel, (line) => {
    // A log line goes over the progress line, which the next tick draws again.
    if (progressShown) err("\r\x1b[K");
    progressShown = false;
    err(line);
  }, () => clock.now());
  const stopSampling = sampleRss();
  const engine = await Engine.start(config, { plugins: environment.plugins, clock, logger });
  const progress = total === undefined ? undefined : showProgress(total, () => {
    const { input } = engine.snapshot();
    return { bytes: input.offset, hits: input.hits };
  }, (line) => {
    err(line);
    progressShown = !line.endsWith("\n");
  });
  const signals = new Signals(
    engine,
    logger,
    config.shutdown_timeout,
    configPath === undefined
      ? undefined
      : { path: configPath, read: () => readConfig(configPath, environment) },
  );
  const stopping = () => signals.count > 0;
  const server = config.http
    ? serveHttp(config.http.listen, {
      snapshot: () => engine.snapshot(),
      alive: () => !stopping() && !engine.draining,
      ready: () => !stopping() && engine.ready,
      version: VERSION,
      journalMaxBytes: config.max_journal_bytes,
      telemetry: engine.status.telemetry,
    }, logger)
    : undefined;
  try {
    logger.info("hitship started", {
      version: VERSION,
      inputs: config.inputs.map((i) => `${i.name} (${i.type})`),
      outputs: config.outputs.map((o) => o.name),
    });
    // Reads the input to its end (or to the first signal); each chunk is journaled before the
    // next is read. A signal stops reading at once, even while stdin blocks; a chunk being
    // journaled finishes.
    const consuming = engine.readInputs(signals.reading.signal, environment.stdin);
    await Promise.race([consuming, signals.first]);
    if (stopping()) await Promise.race([consuming.catch(() => {}), delay(1000)]);
    else await consuming;
    await signals.reloading;
    progress?.finish();
    const result = await Promise.race([engine.drain(config.shutdown_timeout), signals.hardStop]);
    const { input } = engine.snapshot();
    logger.info("hitship stopped", {
      lines: input.lines,
      hits: input.hits,
      rejected: input.rejected,
      ...usage(),
    });
    return reportUndelivered(result, err) ? 1 : 0;
  } finally {
    progress?.stop();
    stopSampling();
    signals.remove();
    await server?.shutdown();
  }
}
