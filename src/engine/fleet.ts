/**
 * The outputs of one engine: building each (its plugin's output and its runner), starting and
 * retiring runners, a reload's changes, system events to the outputs that take them, the
 * `hitship enable`/`disable` requests, and what each still holds at the end.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import { joinPath, readJsonFile } from "../base/fs.ts";
import type { Logger } from "../base/log.ts";
import type { Config, OutputConfig } from "../config/config.ts";
import { defaultEventsOf, outputPluginsOf } from "../config/registry.ts";
import type { Output, SystemEvent } from "../sdk/output.ts";
import type { Plugin } from "../sdk/plugin.ts";
import type { OutputStatus, StatusBoard } from "../status/status.ts";
import { deleteIntegration } from "./events.ts";
import { type OutputStateFile, outputStatePath, writeOutputState } from "./output_state.ts";
import type { RunnerHost } from "./host.ts";
import { OutputRunner, pluginFields } from "./runner.ts";

/** How a drain ended. */
export interface DrainResult {
  /**
   * Outputs that still hold undelivered hits: those that ran out of time and those that were
   * auto-disabled. Outputs turned off on purpose are not listed.
   */
  undelivered: Record<string, { hits: number; state: OutputStatus["state"] }>;
}

/** What the fleet is built from. */
export interface FleetOptions {
  clock: Clock;
  logger: Logger;
  status: StatusBoard;
  hostname: string;
  /** Outputs by name, replacing what the plugins would build (tests inject capturing outputs). */
  outputs?: Record<string, Output> | undefined;
  /** What every runner may ask of the engine, but for the fleet's own part (`peers`). */
  host: Omit<RunnerHost, "peers">;
}

/** The outputs of an engine and their runners. */
export class OutputFleet {
  /** The runners, in the config's order. */
  readonly runners: OutputRunner[] = [];
  readonly #runs = new Map<OutputRunner, { stop: AbortController; done: Promise<void> }>();
  readonly #options: FleetOptions;
  /** Aborts every runner (the engine stops). */
  readonly #stop = new AbortController();
  #applying: Promise<void> = Promise.resolve();

  /** An empty fleet. */
  constructor(options: FleetOptions) {
    this.#options = options;
  }

  /** The runner of an output. */
  runner(name: string): OutputRunner | undefined {
    return this.runners.find((r) => r.name === name);
  }

  /** What a runner may ask: the engine's part and the fleet's. */
  get #host(): RunnerHost {
    return {
      ...this.#options.host,
      peers: {
        emit: (event, from) => this.emit(event, from),
        allHitsDone: () => this.runners.every((r) => r.hitsDone),
        pokeAll: () => this.pokeAll(),
      },
    };
  }

  /** Builds an output and its runner; an output new to `data_dir` starts at the journal's end. */
  async build(
    outputConfig: OutputConfig,
    config: Config,
    plugins: readonly Plugin[],
    fresh: boolean,
  ): Promise<OutputRunner> {
    const { clock, logger, hostname, status } = this.#options;
    const plugin = outputPluginsOf(plugins).find((p) => p.type === outputConfig.type);
    if (!plugin) throw new Error(`Unknown output type "${outputConfig.type}"`);
    const output = this.#options.outputs?.[outputConfig.name] ??
      await plugin.create(pluginFields(outputConfig) as never, {
        name: outputConfig.name,
        clock,
        logger,
        hostname,
        events: outputConfig.events ?? defaultEventsOf(plugin),
      });
    const runner = new OutputRunner(this.#host, {
      config: outputConfig,
      plugin,
      output,
      hostname,
      statePath: outputStatePath(config.data_dir, outputConfig.name),
      retry: config.retry,
      autoDisable: config.auto_disable,
    });
    status.outputs[outputConfig.name] = runner.status;
    await runner.load(fresh);
    return runner;
  }

  /** Adds a runner and starts its loop. */
  launch(runner: OutputRunner): void {
    if (!this.runners.includes(runner)) this.runners.push(runner);
    const stop = new AbortController();
    const all = this.#stop.signal;
    if (all.aborted) stop.abort(all.reason);
    const onStop = () => stop.abort(all.reason);
    all.addEventListener("abort", onStop, { once: true });
    const done = runner.run(stop.signal).finally(() => all.removeEventListener("abort", onStop));
    this.#runs.set(runner, { stop, done });
  }

  /** Stops one output's runner and saves its state; its hits stay in the journal. */
  async retire(runner: OutputRunner): Promise<void> {
    const run = this.#runs.get(runner);
    run?.stop.abort(new Error("reload"));
    await run?.done;
    this.#runs.delete(runner);
    await runner.save();
    await runner.output.close?.();
    this.runners.splice(this.runners.indexOf(runner), 1);
    delete this.#options.status.outputs[runner.name];
  }

  /** Keeps the runners in the order of `outputs`. */
  order(outputs: readonly OutputConfig[]): void {
    const at = (name: string) => outputs.findIndex((o) => o.name === name);
    this.runners.sort((a, b) => at(a.name) - at(b.name));
  }

  /** Stops every runner at once: in-flight requests are aborted. */
  stopAll(reason: Error): void {
    this.#stop.abort(reason);
  }

  /** Resolves when every runner has ended, including runners started by a reload meanwhile. */
  async allDone(): Promise<void> {
    for (;;) {
      const runs = [...this.#runs.values()].map((r) => r.done);
      await Promise.all(runs);
      if ([...this.#runs.values()].every((r) => runs.includes(r.done))) return;
    }
  }

  /** Wakes every idle output. */
  pokeAll(): void {
    for (const runner of this.runners) runner.poke();
  }

  /** Queues a system event for every output, but `from`, whose `events` include its kind. */
  emit(event: SystemEvent, from?: string): void {
    this.#options.logger.info(event.summary, { event: event.name, ...event.details });
    for (const runner of this.runners) {
      if (runner.name !== from && runner.takes(event.kind)) runner.queueEvent(event);
    }
  }

  /**
   * Outputs whose state is in `data_dir` but which the config no longer has: removed while
   * hitship was stopped. Each is announced once.
   */
  async findRemoved(config: Config): Promise<void> {
    const dir = joinPath(config.data_dir, "outputs");
    const names = new Set(config.outputs.map((o) => o.name));
    for await (const entry of Deno.readDir(dir)) {
      const name = /^(.+)\.json$/.exec(entry.name)?.[1];
      if (!entry.isFile || !name || names.has(name) || name.endsWith(".request")) continue;
      const state = await readJsonFile<OutputStateFile>(joinPath(dir, entry.name)).catch(() =>
        undefined
      );
      if (state?.version === 1 && !state.removed_at) await this.removed(config, name, state.type);
    }
  }

  /** An output left the config: `delete_integration` for the others, noted in its state. */
  async removed(config: Config, name: string, type: string): Promise<void> {
    const { clock, logger } = this.#options;
    this.emit(deleteIntegration(name, type, clock.now()), name);
    const path = outputStatePath(config.data_dir, name);
    try {
      const state = await readJsonFile<OutputStateFile>(path);
      if (state) {
        await writeOutputState(path, { ...state, removed_at: new Date(clock.now()).toISOString() });
      }
    } catch (error) {
      logger.warn(`Cannot note that output "${name}" was removed: ${(error as Error).message}`);
    }
  }

  /**
   * Applies `hitship enable` / `hitship disable` requests left in `data_dir/outputs`, one pass at
   * a time (a call during a pass runs after it: its request may have come late).
   */
  applyRequests(): Promise<void> {
    this.#applying = this.#applying.then(async () => {
      try {
        for (const runner of this.runners) await runner.applyRequest();
      } catch (error) {
        this.#options.logger.error(
          `Cannot apply an enable/disable request: ${(error as Error).message}`,
        );
      }
    });
    return this.#applying;
  }

  /**
   * The outputs of a new config: those it drops are retired (and announced), those it changes
   * rebuilt (a change of the shared retry or auto-disable changes them all), each keeping its
   * cursor and its batch in flight; those it adds start at the journal's end.
   *
   * @param draining The engine drains: a new runner drains too.
   * @returns What changed.
   */
  async reload(
    current: Config,
    next: Config,
    plugins: readonly Plugin[],
    draining: boolean,
  ): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const shared = JSON.stringify([current.retry, current.auto_disable]) !==
      JSON.stringify([next.retry, next.auto_disable]);
    const byName = new Map(next.outputs.map((o) => [o.name, o]));
    const removed: string[] = [];
    const changed: string[] = [];
    for (const runner of [...this.runners]) {
      const wanted = byName.get(runner.name);
      if (!wanted) {
        await this.retire(runner);
        removed.push(runner.name);
        await this.removed(current, runner.name, runner.type);
      } else if (shared || JSON.stringify(wanted) !== JSON.stringify(runner.config)) {
        await this.retire(runner);
        changed.push(runner.name);
      }
    }
    const added: string[] = [];
    const running = new Set(this.runners.map((r) => r.name));
    for (const outputConfig of next.outputs) {
      if (running.has(outputConfig.name)) continue;
      const isNew = !changed.includes(outputConfig.name);
      const runner = await this.build(outputConfig, next, plugins, isNew);
      if (draining) runner.drain();
      this.launch(runner);
      if (isNew) added.push(outputConfig.name);
    }
    this.order(next.outputs);
    return { added, removed, changed };
  }

  /**
   * Applies `hitship enable`/`disable` requests as they come, until `signal` aborts: on a
   * file-system event in `data_dir/outputs`, and every `ms` where there are no such events.
   */
  async watchRequests(dataDir: string, ms: number, signal: AbortSignal): Promise<void> {
    let watcher: Deno.FsWatcher | undefined;
    try {
      watcher = Deno.watchFs(joinPath(dataDir, "outputs"), { recursive: false });
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
        await this.#options.clock.sleep(ms, signal);
      } catch {
        return;
      }
      await this.applyRequests();
    }
  }

  /** Saves and closes every output; what each still holds that it should have delivered. */
  async finish(): Promise<DrainResult["undelivered"]> {
    const undelivered: DrainResult["undelivered"] = {};
    for (const runner of this.runners) {
      await runner.save().catch((error) => {
        // A full disk: the last saved state stands; what was delivered since is sent again.
        this.#options.logger.error(
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
    return undelivered;
  }
}
