/**
 * The command line: `hitship run | validate | test | status | enable | disable`.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 *
 * @module
 */
import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";
import fs from "node:fs";
import type { Clock } from "../base/clock.ts";
import { systemClock } from "../base/clock.ts";
import {
  type Config,
  ConfigError,
  DEFAULT_CONFIG_YAML,
  loadConfig,
  parseConfig,
  parseInputConfig,
} from "../config/config.ts";
import { serveHttp } from "../status/endpoint.ts";
import { configJsonSchema, configReference } from "../config/docs.ts";
import { pluginsOfModules } from "../config/plugin_modules.ts";
import { jsonLogger, LOG_LEVELS, type LogLevel } from "../base/log.ts";
import { type DrainResult, Engine } from "../engine/engine.ts";
import { type OutputStateFile, outputStatePath, writeRequest } from "../engine/output_state.ts";
import { pluginFields } from "../engine/runner.ts";
import type { SendResult } from "../sdk/output.ts";
import type { Plugin } from "../sdk/plugin.ts";
import { defaultEventsOf, outputPluginsOf } from "../config/registry.ts";
import { readStatus, type StatusDocument } from "../status/status.ts";
import { readJsonFile } from "../base/fs.ts";
import { parseDuration } from "../base/duration.ts";
import { isLocked, readLockInfo } from "../engine/data_dir_lock.ts";

/** hitship's version. */
export const VERSION: string = "0.1.0";

/** Where the CLI writes and what it runs with; tests replace these. */
export interface CliEnvironment {
  /** The plugins configs may use (the built-ins). */
  plugins: readonly Plugin[];
  /** Where output for a person goes. @default standard output */
  stdout?: (text: string) => void;
  /** Where log lines and errors go. @default standard error */
  stderr?: (text: string) => void;
  /** The input of `run` with `stdin`. @default the process's standard input */
  stdin?: ReadableStream<Uint8Array>;
  /** The environment for `${VAR}`. @default Deno.env */
  env?: (name: string) => string | undefined;
  /** The clock of the engine. @default the system clock */
  clock?: Clock;
}

const encoder = new TextEncoder();
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

/**
 * The size of the input when `run` reads one regular file to its end (`--input FILE`, or a file
 * on stdin), or undefined.
 */
function backfillSize(
  inputPath: string | undefined,
  inputs: Config["inputs"],
  stdin: ReadableStream<Uint8Array> | undefined,
): number | undefined {
  try {
    if (inputPath !== undefined && inputPath !== "-") {
      const info = Deno.statSync(inputPath);
      return info.isFile ? info.size : undefined;
    }
    if (inputs.length !== 1 || inputs[0]!.type !== "stdin" || stdin) return undefined;
    const info = fs.fstatSync(0);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

/** Every second, `read bytes of total (pct), hits/s, ETA`, drawn over itself like `pv`. */
function showProgress(
  total: number,
  read: () => { bytes: number; hits: number },
  write: (text: string) => void,
) {
  const started = performance.now();
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const line = (end: boolean) => {
    const { bytes, hits } = read();
    const seconds = (performance.now() - started) / 1000;
    const pct = total > 0 ? Math.min(100, (bytes / total) * 100) : 100;
    const rate = Math.round(hits / Math.max(seconds, 0.001));
    const left = bytes > 0 ? ((total - bytes) / bytes) * seconds : Infinity;
    const eta = end
      ? `in ${seconds.toFixed(1)} s`
      : Number.isFinite(left)
      ? `ETA ${Math.ceil(left)} s`
      : "ETA -";
    write(
      `\r\x1b[K${mib(bytes)} of ${mib(total)} (${pct.toFixed(0)}%), ${rate} hits/s, ${eta}${
        end ? "\n" : ""
      }`,
    );
  };
  const timer = setInterval(() => line(false), 1000);
  Deno.unrefTimer(timer);
  let done = false;
  return {
    /** The input is read: the last line, with the total time. */
    finish() {
      if (done) return;
      done = true;
      clearInterval(timer);
      line(true);
    },
    stop() {
      clearInterval(timer);
    },
  };
}

class UsageError extends Error {}

const HELP: Record<string, string> = {
  main: `hitship ${VERSION}: ships a WAF node's hits to S3/MinIO, InsightConnect and files

Usage: hitship <command> [options]

Commands:
  run       Run the sidecar: read hits, journal them, deliver them to every output
  validate  Check a config file without sending anything
  test      Send each output's test message
  status    Print the status file
  enable    Turn an output back on
  disable   Turn an output off
  docs      Print the config reference (with a config's own plugins)

Options:
  -h, --help     Show help (also: hitship <command> --help)
  -V, --version  Show the version`,
  run: `Usage: hitship run [--config FILE] [--input PATH|-] [--log-level LEVEL]

Reads hits from the configured input (or --input: a file read to its end, or - for stdin),
journals them in data_dir and delivers them to every output. With stdin or follow: false it
drains, flushes every output and exits at the end of the input; SIGTERM/SIGINT drain and flush
within shutdown_timeout, a second signal exits at once. With no --config: stdin -> ./hitlogs.

Options:
  -c, --config FILE      The YAML config
  -i, --input PATH|-     Read this file (to its end) or - for stdin instead of the config's input
      --log-level LEVEL  debug, info, warn or error (default: the config's log_level)`,
  validate: `Usage: hitship validate --config FILE

Checks the config: YAML syntax, environment variables, every key against the schemas. Prints
every error as FILE:LINE:COL: path: what was expected. Exit 0 when valid, 1 otherwise.`,
  test: `Usage: hitship test --config FILE [NAME...]

Sends each chosen output's test message (all outputs by default) and prints one line per
output. Exit 0 when every output succeeded.`,
  status:
    `Usage: hitship status [--status-file FILE | --config FILE] [--json] [--watch [--interval 1s]]

Prints the status file for a person, or as JSON with --json. --watch redraws the table every
--interval (1 s) with each output's delivery rate (hits/s since the last draw) until interrupted.`,
  enable: `Usage: hitship enable NAME [--config FILE]

Turns an output back on; it resumes from its cursor. A running hitship picks it up within a second.`,
  docs: `Usage: hitship docs [--config FILE] [--json]

Prints the config reference in Markdown, made from the plugins' schemas: the built-in ones and,
with --config, those of the modules the config lists under plugins:. With --json, the JSON
Schema of the config instead, for editors.`,
  disable: `Usage: hitship disable NAME [--config FILE]

Turns an output off; it keeps what it had accepted. A running hitship picks it up within a second.`,
};

/**
 * Runs the CLI with `args` (without the program name).
 *
 * @returns The exit code.
 */
export async function main(args: string[], environment: CliEnvironment): Promise<number> {
  const out = environment.stdout ?? ((t: string) => void Deno.stdout.writeSync(encoder.encode(t)));
  const err = environment.stderr ?? ((t: string) => void Deno.stderr.writeSync(encoder.encode(t)));
  const [command, ...rest] = args;
  try {
    if (command === undefined || command === "-h" || command === "--help" || command === "help") {
      out(HELP.main + "\n");
      return command === undefined ? 2 : 0;
    }
    if (command === "-V" || command === "--version") {
      out(`hitship ${VERSION}\n`);
      return 0;
    }
    if (!(command in HELP) || command === "main") {
      throw new UsageError(`unknown command "${command}"`);
    }
    if (rest.includes("-h") || rest.includes("--help")) {
      out(HELP[command] + "\n");
      return 0;
    }
    switch (command) {
      case "run":
        return await runCommand(rest, environment, out, err);
      case "validate":
        return await validateCommand(rest, environment, out, err);
      case "test":
        return await testCommand(rest, environment, out, err);
      case "status":
        return await statusCommand(rest, environment, out, err);
      case "docs":
        return await docsCommand(rest, environment, out);
      default:
        return await enableCommand(command === "enable", rest, environment, out, err);
    }
  } catch (error) {
    if (
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      const message = (error as Error).message.replace(/\. To specify.*$/s, "");
      const topic = command && command in HELP ? `hitship ${command} --help` : "hitship --help";
      err(`hitship: ${message} (see "${topic}")\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      err(error.message + "\n");
      return 1;
    }
    err(`hitship: ${(error as Error).message}\n`);
    return 1;
  }
}

function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  positionals = 0,
) {
  const parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
  if (parsed.positionals.length > positionals && positionals !== Infinity) {
    throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
  }
  return parsed;
}

async function readConfig(
  path: string | undefined,
  environment: CliEnvironment,
): Promise<Config> {
  const options = { plugins: environment.plugins, env: environment.env };
  if (path === undefined) return parseConfig(DEFAULT_CONFIG_YAML, "(built-in default)", options);
  return await loadConfig(path, options);
}

async function runCommand(
  args: string[],
  environment: CliEnvironment,
  _out: (t: string) => void,
  err: (t: string) => void,
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
  const config = await readConfig(configPath, environment);
  const inputPath = values.input as string | undefined;
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
  const clock = environment.clock ?? systemClock;
  // A backfill from a regular file, watched from a terminal: a progress line on stderr.
  const total = environment.stderr === undefined && Deno.stderr.isTerminal()
    ? backfillSize(inputPath, config.inputs, environment.stdin)
    : undefined;
  let progressShown = false;
  const logger = jsonLogger(
    (level ?? config.log_level) as LogLevel,
    (line) => {
      // A log line goes over the progress line, which the next tick draws again.
      if (progressShown) err("\r\x1b[K");
      progressShown = false;
      err(line);
    },
    () => clock.now(),
  );
  const stopSampling = sampleRss();
  const engine = await Engine.start(config, { plugins: environment.plugins, clock, logger });
  const progress = total === undefined ? undefined : showProgress(total, () => {
    const { input } = engine.snapshot();
    return { bytes: input.offset, hits: input.hits };
  }, (line) => {
    err(line);
    progressShown = !line.endsWith("\n");
  });
  let stopping = false;
  const server = config.http
    ? serveHttp(config.http.listen, {
      snapshot: () => engine.snapshot(),
      alive: () => !stopping && !engine.draining,
      ready: () => !stopping && engine.ready,
      version: VERSION,
      journalMaxBytes: config.max_journal_bytes,
      telemetry: engine.status.telemetry,
    }, logger)
    : undefined;
  const reading = new AbortController();
  let signals = 0;
  let stopped: (result: DrainResult) => void = () => {};
  const hardStop = new Promise<DrainResult>((resolve) => (stopped = resolve));
  let signalled: () => void = () => {};
  const firstSignal = new Promise<void>((resolve) => (signalled = resolve));
  const onSignal = (name: string) => () => {
    signals++;
    if (signals === 1) {
      stopping = true;
      logger.info(`Received ${name}: draining`, { shutdown_timeout_ms: config.shutdown_timeout });
      reading.abort(new Error(name));
      signalled();
    } else {
      logger.warn(`Received ${name} again: stopping now`);
      engine.stop().then(stopped);
    }
  };
  let reloading = Promise.resolve();
  const onReload = () => {
    reloading = reloading.then(async () => {
      if (!configPath) {
        logger.warn("Received SIGHUP: there is no config file to reload (built-in default)");
        return;
      }
      logger.info("Received SIGHUP: reloading the config", { config: configPath });
      try {
        const next = await readConfig(configPath, environment);
        await engine.reload(next);
        engine.status.telemetry.reloads.success++;
      } catch (error) {
        engine.status.telemetry.reloads.failure++;
        const message = (error as Error).message;
        logger.error(`Reload failed; the running config stays: ${message}`);
        await engine.noteConfigError(message);
      }
    });
  };
  const handlers: Array<[Deno.Signal, () => void]> = [
    ["SIGTERM", onSignal("SIGTERM")],
    ["SIGINT", onSignal("SIGINT")],
    ["SIGHUP", onReload],
  ];
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  try {
    logger.info("hitship started", {
      version: VERSION,
      inputs: config.inputs.map((i) => `${i.name} (${i.type})`),
      outputs: config.outputs.map((o) => o.name),
    });
    // Reads the input to its end (or to the first signal); each chunk is journaled before the
    // next is read.
    const consuming = engine.readInputs(reading.signal, environment.stdin);
    // A signal stops reading at once, even while stdin blocks; a chunk being journaled finishes.
    await Promise.race([consuming, firstSignal]);
    if (signals > 0) await Promise.race([consuming.catch(() => {}), delay(1000)]);
    else await consuming;
    await reloading;
    progress?.finish();
    const result = await Promise.race([engine.drain(config.shutdown_timeout), hardStop]);
    const { input } = engine.snapshot();
    logger.info("hitship stopped", {
      lines: input.lines,
      hits: input.hits,
      rejected: input.rejected,
      ...usage(),
    });
    const undelivered = Object.entries(result.undelivered);
    for (const [name, { hits, state }] of undelivered) {
      const why = state === "auto_disabled"
        ? `is auto-disabled after failed requests; its ${hits} undelivered hits stay in the journal (hitship enable ${name})`
        : `could not deliver ${hits} hits in time; they stay in the journal for the next run`;
      err(`hitship: output "${name}" ${why}\n`);
    }
    if (undelivered.length > 0) return 1;
    return 0;
  } finally {
    progress?.stop();
    stopSampling();
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    await server?.shutdown();
  }
}

async function validateCommand(
  args: string[],
  environment: CliEnvironment,
  out: (t: string) => void,
  _err: (t: string) => void,
): Promise<number> {
  const { values } = parse(args, { config: { type: "string", short: "c" } });
  if (values.config === undefined) throw new UsageError("validate needs --config FILE");
  const config = await readConfig(values.config as string, environment);
  const outputs = config.outputs.map((o) => `${o.name} (${o.type})`).join(", ");
  const inputs = config.inputs.length === 1
    ? `input ${config.inputs[0]!.type}`
    : `inputs: ${config.inputs.map((i) => `${i.name} (${i.type})`).join(", ")}`;
  out(`${values.config}: valid; ${inputs}; outputs: ${outputs}\n`);
  return 0;
}

async function testCommand(
  args: string[],
  environment: CliEnvironment,
  out: (t: string) => void,
  err: (t: string) => void,
): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: "string", short: "c" } }, Infinity);
  const config = await readConfig(values.config as string | undefined, environment);
  const chosen = positionals.length > 0 ? positionals : config.outputs.map((o) => o.name);
  const plugins = [
    ...environment.plugins,
    ...await pluginsOfModules(config.plugins, environment.plugins),
  ];
  const clock = environment.clock ?? systemClock;
  const logger = jsonLogger("error", (line) => err(line), () => clock.now());
  let failed = 0;
  for (const name of chosen) {
    const outputConfig = config.outputs.find((o) => o.name === name);
    if (!outputConfig) throw new UsageError(`no output named "${name}" in the config`);
    const plugin = outputPluginsOf(plugins).find((p) => p.type === outputConfig.type)!;
    const output = await plugin.create(pluginFields(outputConfig) as never, {
      name,
      clock,
      logger,
      hostname: Deno.hostname(),
      events: outputConfig.events ?? defaultEventsOf(plugin),
    });
    const started = performance.now();
    const result: SendResult = output.test
      ? await output.test(AbortSignal.timeout(60_000)).catch((error) => ({
        ok: false as const,
        error: (error as Error).message,
      }))
      : { ok: true as const, detail: "no test message for this output type" };
    await output.close?.();
    const ms = Math.round(performance.now() - started);
    const status = result.status !== undefined ? ` HTTP ${result.status}` : "";
    if (result.ok) {
      out(
        `${name} (${outputConfig.type}): ok${status} in ${ms} ms${
          result.detail ? `: ${result.detail}` : ""
        }\n`,
      );
    } else {
      failed++;
      out(`${name} (${outputConfig.type}): FAILED${status} in ${ms} ms: ${result.error}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

async function docsCommand(
  args: string[],
  environment: CliEnvironment,
  out: (t: string) => void,
): Promise<number> {
  const { values } = parse(args, {
    config: { type: "string", short: "c" },
    json: { type: "boolean" },
  });
  const plugins = values.config
    ? [
      ...environment.plugins,
      ...await pluginsOfModules(
        (await readConfig(values.config as string, environment)).plugins,
        environment.plugins,
      ),
    ]
    : environment.plugins;
  out(
    values.json
      ? JSON.stringify(configJsonSchema(plugins), null, 2) + "\n"
      : configReference(plugins) + "\n",
  );
  return 0;
}

async function statusFilePath(
  values: { "status-file"?: string; config?: string },
  environment: CliEnvironment,
): Promise<string> {
  if (values["status-file"]) return values["status-file"];
  const config = await readConfig(values.config, environment);
  return config.status_file;
}

async function statusCommand(
  args: string[],
  environment: CliEnvironment,
  out: (t: string) => void,
  _err: (t: string) => void,
): Promise<number> {
  const { values } = parse(args, {
    "status-file": { type: "string", short: "s" },
    config: { type: "string", short: "c" },
    json: { type: "boolean" },
    watch: { type: "boolean", short: "w" },
    interval: { type: "string" },
    count: { type: "string" },
  });
  if (values.watch) {
    if (values.json) throw new UsageError("--watch draws the table; leave out --json");
    const path = await statusFilePath(
      values as { "status-file"?: string; config?: string },
      environment,
    );
    const interval = values.interval ? parseDuration(values.interval as string) : 1000;
    if (interval === undefined || !(interval >= 100)) {
      throw new UsageError("--interval must be a duration of at least 100ms, e.g. 1s");
    }
    const count = values.count ? Number(values.count) : Infinity;
    const clock = environment.clock ?? systemClock;
    let previous: { status: StatusDocument; at: number } | undefined;
    for (let drawn = 0; drawn < count; drawn++) {
      if (drawn > 0) await clock.sleep(interval);
      const status = await readStatus(path).catch(() => undefined);
      const at = clock.now();
      // Home and clear, then the table: the way `watch` or `top` redraws.
      out(
        "\x1b[H\x1b[2J" +
          (status
            ? formatStatus(status, previous, at)
            : `No status file at "${path}" yet; waiting\n`),
      );
      if (status) previous = { status, at };
    }
    return 0;
  }
  const path = await statusFilePath(
    values as { "status-file"?: string; config?: string },
    environment,
  );
  let unreadable: string | undefined;
  const status = await readStatus(path).catch((error) => {
    unreadable = (error as Error).message;
    return undefined;
  });
  // With the config, the lock in data_dir tells whether hitship runs, and what it could not do.
  const config = values.config && !values["status-file"]
    ? await readConfig(values.config as string, environment)
    : undefined;
  const holder = config && await isLocked(config.data_dir)
    ? await readLockInfo(config.data_dir)
    : undefined;
  const problem = holder?.status_error
    ? `hitship (pid ${holder.pid}) runs on data_dir "${
      config!.data_dir
    }" but cannot write its status file "${path}": ${holder.status_error}`
    : undefined;
  if (!status) {
    if (problem) throw new Error(`No status file: ${problem}`);
    if (holder) {
      throw new Error(
        `No status file at "${path}" yet: hitship (pid ${holder.pid}) runs on data_dir "${
          config!.data_dir
        }"`,
      );
    }
    if (unreadable) throw new Error(`Cannot read the status file "${path}": ${unreadable}`);
    throw new Error(`No status file at "${path}": has hitship run with this config?`);
  }
  if (values.json) out(JSON.stringify(status, null, 2) + "\n");
  else out((problem ? `WARNING: this status is stale: ${problem}\n` : "") + formatStatus(status));
  return 0;
}

/** Whether the process that wrote the status runs, when this process may look. */
function isRunning(pid: number): boolean | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).length > 0;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? false : undefined;
  }
}

/**
 * The status file as a table for a person. With `previous` (and `now`, clock time), each output's
 * delivery rate since then is shown too; LAG is the age of the oldest hit still to deliver.
 */
export function formatStatus(
  status: StatusDocument,
  previous?: { status: StatusDocument; at: number },
  now: number = Date.now(),
): string {
  const alive = status.pid === Deno.pid ? false : isRunning(status.pid);
  const running = alive === undefined ? "" : alive ? ", running" : ", not running";
  const line = (label: string, i: StatusDocument["input"]) =>
    `${label}: ${i.type}${i.path ? ` ${i.path}` : ""}: ${i.lines} lines, ${i.hits} hits, ` +
    `${i.rejected} rejected, offset ${i.offset}${i.paused ? ", PAUSED (journal full)" : ""}`;
  const inputs = Object.entries(status.inputs ?? {});
  const lines = [
    `hitship status at ${status.updated_at} (pid ${status.pid}${running})`,
    ...(inputs.length > 1
      ? inputs.map(([name, i]) => line(`input ${name}`, i))
      : [line("input", status.input)]),
    `journal: ${status.journal.bytes} bytes in ${status.journal.segments} segments`,
  ];
  if (status.last_config_error) lines.push(`config error: ${status.last_config_error}`);
  const header = [
    "OUTPUT",
    "TYPE",
    "STATE",
    "DELIVERED",
    ...(previous ? ["HITS/S"] : []),
    "PENDING",
    "LAG",
    "REQUESTS",
    "FAILED",
    "RATIO",
    "NEXT RETRY",
    "LAST ERROR",
  ];
  const seconds = previous ? Math.max(0.001, (now - previous.at) / 1000) : 1;
  const rate = (name: string, delivered: number) => {
    const before = previous?.status.outputs[name]?.delivered_hits;
    return before === undefined ? "-" : (Math.max(0, delivered - before) / seconds).toFixed(1);
  };
  const lag = (ms: number) => {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  };
  const rows = Object.entries(status.outputs).map(([name, o]) => [
    name,
    o.type,
    o.state,
    String(o.delivered_hits),
    ...(previous ? [rate(name, o.delivered_hits)] : []),
    String(o.pending_hits),
    o.oldest_pending_at ? lag(now - Date.parse(o.oldest_pending_at)) : "-",
    String(o.requests),
    String(o.failed_requests),
    o.failure_ratio.toFixed(2),
    o.next_retry_at ?? "-",
    o.last_error ?? "-",
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (row: string[]) =>
    row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ");
  lines.push("", fmt(header), ...rows.map(fmt));
  return lines.join("\n") + "\n";
}

async function enableCommand(
  enable: boolean,
  args: string[],
  environment: CliEnvironment,
  out: (t: string) => void,
  _err: (t: string) => void,
): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: "string", short: "c" } }, 1);
  const name = positionals[0];
  if (!name) throw new UsageError(`${enable ? "enable" : "disable"} needs an output NAME`);
  const config = await readConfig(values.config as string | undefined, environment);
  const output = config.outputs.find((o) => o.name === name);
  if (!output) throw new Error(`No output named "${name}" in the config`);
  if (enable && !output.enabled) {
    throw new Error(`Output "${name}" has enabled: false in the config; turn it on there`);
  }
  const state = await readJsonFile<OutputStateFile>(outputStatePath(config.data_dir, name));
  await writeRequest(config.data_dir, name, enable);
  const was = state?.disabled
    ? (state.disabled === "auto" ? "auto-disabled" : "disabled")
    : "enabled";
  out(`Output "${name}" ${enable ? "enabled" : "disabled"} (was ${was})\n`);
  return 0;
}
