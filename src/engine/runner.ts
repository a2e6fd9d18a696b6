/**
 * The delivery loop of one output. Each turn is short: a queued system event first; else the
 * batch in flight; else cut the next batch (the batcher), fix its name and range (the intent,
 * saved before the first attempt), and send it under supervision. What the output's state and
 * status are, and every change of them, is its {@linkcode OutputLedger}'s; how batches are named
 * and seen by the plugin is `batch_factory.ts`'s; how the loop waits is {@linkcode Waker}'s.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { OutputConfig } from "../config/config.ts";
import { batchingOf, defaultEventsOf } from "../config/registry.ts";
import { compileFilter, type HitFilter } from "../hit/filter.ts";
import type { Position } from "../journal/journal.ts";
import type { Compression, Format } from "../sdk/body.ts";
import type { Output, OutputPlugin, RejectedHit, SendResult, SystemEvent } from "../sdk/output.ts";
import type { OutputStatus } from "../status/status.ts";
import { batchOf, cutBatch } from "./batch_factory.ts";
import { Batcher, type BatcherHost, type Cut } from "./batcher.ts";
import { hitsDropped, LossAnnouncer } from "./events.ts";
import type { RunnerHost } from "./host.ts";
import { OutputLedger } from "./ledger.ts";
import { type BatchIntent, type DisabledBy, type OutputStateFile } from "./output_state.ts";
import { SupervisedRequests } from "./requests.ts";
import { OutputSwitch } from "./switch.ts";
import { Supervisor } from "./supervision.ts";
import { Waker } from "./waker.ts";

export type { RunnerHost } from "./host.ts";

/** What a runner is built from. */
export interface RunnerOptions {
  config: OutputConfig;
  plugin: OutputPlugin;
  output: Output;
  hostname: string;
  /** The output's state file. */
  statePath: string;
  /** The retry schedule and auto-disable of the config's top level, which `config` may override. */
  retry: { cycles: number[][]; then_every: number };
  autoDisable: { window: number; min_requests: number; failure_ratio: number };
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

/** The supervision of an output: the retry schedule and failure window of its config. */
function supervisorOf(options: RunnerOptions, clock: Clock, ratePerMinute?: number): Supervisor {
  const retry = { ...options.retry, ...options.config.retry };
  const auto = { ...options.autoDisable, ...options.config.auto_disable };
  return new Supervisor({
    cycles: retry.cycles,
    thenEvery: retry.then_every,
    window: auto.window,
    minRequests: auto.min_requests,
    failureRatio: auto.failure_ratio,
    ratePerMinute,
    clock,
  });
}

/** The delivery loop of one output. */
export class OutputRunner {
  readonly name: string;
  readonly type: string;
  readonly output: Output;
  readonly #host: RunnerHost;
  readonly #config: OutputConfig;
  readonly #filter: HitFilter | undefined;
  readonly #supervisor: Supervisor;
  readonly #batcher: Batcher;
  readonly #events: Set<string>;
  readonly #hostname: string;
  readonly #ledger: OutputLedger;
  readonly #waker: Waker;
  readonly #requests: SupervisedRequests;
  readonly #switch: OutputSwitch;
  #queue: SystemEvent[] = [];
  #draining = false;
  #hitsDone = false;
  #stop: AbortSignal = new AbortController().signal;

  constructor(host: RunnerHost, options: RunnerOptions) {
    const { config, plugin } = options;
    this.#host = host;
    this.#config = config;
    this.name = config.name;
    this.type = config.type;
    this.output = options.output;
    this.#hostname = options.hostname;
    const batching = batchingOf(plugin, pluginFields(config));
    this.#filter = compileFilter(config.filter);
    this.#events = new Set(config.events ?? defaultEventsOf(plugin));
    this.#supervisor = supervisorOf(options, host.clock, batching.ratePerMinute);
    this.#batcher = new Batcher(this.#batcherHost(), batching, this.#filter);
    this.#waker = new Waker(host.clock, host.journal);
    this.#ledger = new OutputLedger({
      name: this.name,
      type: this.type,
      statePath: options.statePath,
      rules: {
        takesHits: this.#events.has("hits"),
        skipsWhileOff: config.while_disabled === "skip",
      },
      journal: host.journal,
      clock: host.clock,
      logger: host.logger,
      supervisor: this.#supervisor,
      losses: new LossAnnouncer(host.clock, host.stopping, (lost) =>
        host.peers.emit(
          hitsDropped(this.name, this.type, lost, this.status, host.clock.now()),
          this.name,
        )),
    });
    this.#switch = new OutputSwitch({
      name: this.name,
      type: this.type,
      statePath: options.statePath,
      ledger: this.#ledger,
      waker: this.#waker,
      host,
    });
    this.#requests = new SupervisedRequests({
      name: this.name,
      type: this.type,
      supervisor: this.#supervisor,
      ledger: this.#ledger,
      waker: this.#waker,
      host,
    });
  }

  #batcherHost(): BatcherHost {
    const host = this.#host;
    return {
      journal: host.journal,
      clock: host.clock,
      cursor: () => this.#ledger.state.cursor,
      skip: () => this.#ledger.state.file.skip,
      skipTo: (position: Position) => this.#ledger.state.skipTo(position),
      interrupted: () => this.#stop.aborted || this.disabled || this.#queue.length > 0,
      draining: () => this.#draining,
      full: () => host.full(),
      passed: async () => {
        await this.save();
        await host.releaseSegments();
      },
      idle: (until: number | undefined, offset: number) => this.#idle(until, offset),
      refresh: () => this.#ledger.refresh(),
    };
  }

  /**
   * Restores the persisted state and applies the config's `enabled` and a pending request. An
   * output with no state starts at the journal's oldest line at start-up, or at its end when
   * `fresh` (added by a reload).
   */
  load(fresh = false): Promise<void> {
    return this.#switch.load(fresh, this.#config.enabled);
  }

  /** Applies a pending `hitship enable`/`disable` request for this output, if any. */
  applyRequest(): Promise<void> {
    return this.#switch.applyRequest();
  }

  /**
   * Drops the hits before `position` for this output alone (the journal is full and the output is
   * off): its cursor moves there, a batch cut in that span is given up, and the hits are counted
   * and announced.
   */
  dropThrough(position: Position): Promise<void> {
    return this.#switch.dropThrough(position);
  }

  /** Turns the output on or off by command; returns false when nothing changed. */
  setEnabled(enabled: boolean, by: DisabledBy = "command"): Promise<boolean> {
    return this.#switch.set(enabled, by);
  }

  /** The output's status figures. */
  get status(): OutputStatus {
    return this.#ledger.status;
  }

  /** The output's config. */
  get config(): OutputConfig {
    return this.#config;
  }

  /** True while the output is off. */
  get disabled(): boolean {
    return this.#ledger.state.disabled;
  }

  /** The persisted state, for `status` and tests. */
  get state(): Readonly<OutputStateFile> {
    return this.#ledger.state.file;
  }

  /** True when the output receives events of this kind. */
  takes(kind: string): boolean {
    return this.#events.has(kind) && !this.disabled;
  }

  /** Queues a system event for delivery (at most 1,000 wait; the oldest goes first). */
  queueEvent(event: SystemEvent): void {
    this.#queue.push(event);
    if (this.#queue.length > 1000) {
      const dropped = this.#queue.shift()!;
      this.#host.logger.warn("Dropped the oldest queued system event", {
        output: this.name,
        event: dropped.name,
      });
    }
    this.#waker.wake();
  }

  /** The input has ended: finish what the journal holds, then stop. */
  drain(): void {
    this.#draining = true;
    this.#waker.wake();
  }

  /** Hits of the journal this output has still to deliver. */
  pendingHits(): number {
    return this.#ledger.pending();
  }

  /** Spans of the journal this output will still read. */
  neededRanges(): Array<{ from: number; to: number }> {
    return this.#ledger.state.neededRanges(this.#host.journal.end);
  }

  /** True when this output still needs some of the journal between two offsets. */
  needs(from: number, to: number): boolean {
    return this.neededRanges().some((r) => r.from < to && r.to > from && r.from < r.to);
  }

  /** Wakes the loop from an idle wait (another output finished, say). */
  poke(): void {
    this.#waker.wake();
  }

  /** Writes the state file. */
  save(): Promise<void> {
    return this.#ledger.save();
  }

  /** The delivery loop, until the output has drained or the engine stops. */
  async run(stop: AbortSignal): Promise<void> {
    this.#stop = stop;
    const onStop = () => this.#waker.interrupt();
    stop.addEventListener("abort", onStop);
    let failures = 0;
    try {
      while (!stop.aborted) {
        try {
          if (await this.#step()) return;
          failures = 0;
        } catch (error) {
          if (stop.aborted) return;
          // A local failure (a full disk when saving state, a journal read error): log it, wait,
          // and go on; the output never stops for good.
          const wait = Math.min(30_000, 1000 * 2 ** Math.min(failures++, 5));
          this.#host.logger.error(
            `Output "${this.name}" hit a local error, trying again in ${wait / 1000}s: ${
              (error as Error).message
            }`,
            { output: this.name },
          );
          await this.#host.clock.sleep(wait, stop).catch(() => {});
        }
      }
    } finally {
      stop.removeEventListener("abort", onStop);
      this.#ledger.refresh();
    }
  }

  /** One turn of the loop: events first, then the batch in flight, then the next batch. */
  async #step(): Promise<boolean> {
    if (this.disabled || this.#hitsDone) {
      if (this.#draining) {
        if (!this.#hitsDone) this.#finishHits();
        // Stay for events until every output has finished its hits: one of them may still be
        // auto-disabled and tell the others.
        if (this.#host.peers.allHitsDone() && (this.disabled || this.#queue.length === 0)) {
          return true;
        }
      }
      if (this.disabled || this.#queue.length === 0) {
        await this.#idle();
        return false;
      }
    }
    const event = this.#queue[0];
    if (event) {
      const sent = await this.#requests.send(
        (signal) => this.#sendEvent(event, signal),
        this.#stop,
      );
      if (sent) this.#queue.shift();
      return false;
    }
    const intent = this.#ledger.state.file.intent;
    if (intent) {
      await this.#deliver(intent);
      return false;
    }
    if (!this.#events.has("hits")) {
      if (this.#draining) this.#finishHits();
      else await this.#idle();
      return false;
    }
    const next = await this.#batcher.collect();
    if (next === "drained") this.#finishHits();
    else if (next !== "interrupted") await this.#cut(next);
    return false;
  }

  /** True once the output has drained its hits (or, off, has none to drain). */
  get hitsDone(): boolean {
    return this.#hitsDone;
  }

  #finishHits(): void {
    this.#hitsDone = true;
    this.#host.peers.pokeAll();
  }

  #sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    if (!this.output.sendEvent) return Promise.resolve({ ok: true });
    return this.output.sendEvent(event, signal);
  }

  /** Waits for something to do: new lines, an event, a state change, the drain, or `until`. */
  async #idle(until?: number, journalOffset?: number): Promise<void> {
    if (this.#stop.aborted) return;
    await this.#waker.idle(until, journalOffset);
  }

  /** Sends the batch in flight; once delivered, the cursor moves past it. */
  async #deliver(intent: BatchIntent): Promise<void> {
    const batch = batchOf(intent, {
      journal: this.#host.journal,
      filter: this.#filter,
      state: this.#ledger.state.file,
    }, () => this.save());
    const result = await this.#requests.send(
      (signal) => this.output.send(batch, signal),
      this.#stop,
    );
    if (!result) return;
    this.#host.telemetry.batchHits.observe({ output: this.name, type: this.type }, intent.count);
    const refused = result.rejected ?? [];
    if (refused.length > 0) await this.#refused(refused);
    this.#ledger.delivered(intent, refused.length);
    this.#ledger.refresh();
    await this.save();
    await this.#host.releaseSegments();
    this.#host.status.changed();
  }

  /** Hits the receiver refused for good: to the dead-letter file, and said once per batch. */
  async #refused(hits: readonly RejectedHit[]): Promise<void> {
    const lost = await this.#host.refused(this.name, hits);
    this.#host.logger.warn(
      `Output "${this.name}": the receiver refused ${hits.length} hits of a batch for good (${
        hits[0]!.reason
      }${hits.length > 1 ? ", ..." : ""}); ${
        lost > 0
          ? "they could not be written to the dead-letter file"
          : "they are in the dead-letter file"
      }`,
      { output: this.name, rejected_hits: hits.length },
    );
  }

  /** Fixes the next batch: its name, its range, its sequence number, saved before it is sent. */
  async #cut(cut: Cut): Promise<void> {
    const c = this.#config as OutputConfig & {
      key?: string;
      format?: Format;
      compression?: Compression;
    };
    cutBatch(this.#ledger.state.file, cut, {
      output: this.name,
      key: c.key,
      format: c.format,
      compression: c.compression,
      hostname: this.#hostname,
    }, this.#host.clock.now());
    await this.save();
  }
}
