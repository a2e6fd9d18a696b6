/**
 * The delivery loop of one output. Each turn is short: a queued system event first; else the
 * batch in flight; else cut the next batch (the batcher), fix its name and range (the intent,
 * saved before the first attempt), make its body and send it under supervision. The runner also
 * keeps the output's state: its cursor, on and off, and what it lost while off.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import type { Logger } from "../base/log.ts";
import type { OutputConfig } from "../config/config.ts";
import { compileFilter, type HitFilter } from "../hit/filter.ts";
import { parseJson } from "../hit/hit.ts";
import { type Journal, ORIGIN, type Position } from "../journal/journal.ts";
import type { Compression, Format } from "../sdk/body.ts";
import { renderKey, withSuffix } from "../sdk/key.ts";
import {
  type Batch,
  batchingOf,
  defaultEventsOf,
  type Output,
  type OutputPlugin,
  type SendResult,
  type SystemEvent,
} from "../sdk/output.ts";
import { newOutputStatus, type OutputStatus } from "../status/status.ts";
import type { Telemetry } from "../status/telemetry.ts";
import { Batcher, type BatcherHost, type Cut } from "./batcher.ts";
import { disableIntegration, hitsDropped, integrationBroken, LossAnnouncer } from "./events.ts";
import {
  type BatchIntent,
  type DisabledBy,
  newOutputState,
  type OutputStateFile,
  readOutputState,
  takeRequest,
  writeOutputState,
} from "./output_state.ts";
import { type Outcome, Supervisor } from "./supervision.ts";

const decoder = new TextDecoder();
/** Ends a wait: a constant reason spares creating a `DOMException` (and its stack) each time. */
const DONE = new Error("done");

/** What a runner may ask of the engine it runs in, and nothing more. */
export interface RunnerHost {
  readonly journal: Journal;
  /** Histograms for `/metrics`. */
  readonly telemetry: Telemetry;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Counters changed: the status file is written within a second. */
  changed(): void;
  /** A state changed: the status file is written now. */
  stateChanged(): Promise<void>;
  /** Tells the other outputs that take its kind. */
  emit(event: SystemEvent, from: string): void;
  /** Deletes the journal segments no output needs any more. */
  releaseSegments(): Promise<void>;
  /** True once every output has delivered its hits (at the end of the input). */
  hitsDone(): boolean;
  /** Wakes every output (this one has finished its hits). */
  pokeAll(): void;
  /** True while the input waits for room in the journal. */
  full(): boolean;
  /** Runs `fn` after `ms` of the clock, unless the engine stops first. */
  afterDelay(ms: number, fn: () => void): void;
}

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

/** The delivery loop of one output. */
export class OutputRunner {
  readonly name: string;
  readonly type: string;
  readonly output: Output;
  readonly status: OutputStatus;
  readonly #host: RunnerHost;
  readonly #config: OutputConfig;
  readonly #filter: HitFilter | undefined;
  readonly #supervisor: Supervisor;
  readonly #batcher: Batcher;
  readonly #events: Set<string>;
  readonly #hostname: string;
  readonly #statePath: string;
  readonly #losses: LossAnnouncer;
  #state: OutputStateFile;
  #queue: SystemEvent[] = [];
  #draining = false;
  #hitsDone = false;
  #stop: AbortSignal = new AbortController().signal;
  /** Ends an idle wait. */
  #waiter: (() => void) | undefined;
  #poked = false;
  /** Aborted by a state change: cuts short a request, a retry wait, a rate-limit wait. */
  #interruptor = new AbortController();

  constructor(host: RunnerHost, options: RunnerOptions) {
    const { config, plugin } = options;
    this.#host = host;
    this.#config = config;
    this.name = config.name;
    this.type = config.type;
    this.output = options.output;
    this.#hostname = options.hostname;
    this.#statePath = options.statePath;
    const batching = batchingOf(plugin, pluginFields(config));
    this.#filter = compileFilter(config.filter);
    this.#events = new Set(config.events ?? defaultEventsOf(plugin));
    const retry = { ...options.retry, ...config.retry };
    const auto = { ...options.autoDisable, ...config.auto_disable };
    this.#supervisor = new Supervisor({
      cycles: retry.cycles,
      thenEvery: retry.then_every,
      window: auto.window,
      minRequests: auto.min_requests,
      failureRatio: auto.failure_ratio,
      ratePerMinute: batching.ratePerMinute,
      clock: host.clock,
    });
    this.#batcher = new Batcher(this.#batcherHost(), batching, this.#filter);
    this.status = newOutputStatus(config.type);
    this.#state = newOutputState(config.type, host.journal.end);
    this.#losses = new LossAnnouncer(
      host.clock,
      (ms, fn) => host.afterDelay(ms, fn),
      (lost) =>
        host.emit(
          hitsDropped(this.name, this.type, lost, this.status, host.clock.now()),
          this.name,
        ),
    );
  }

  #batcherHost(): BatcherHost {
    const host = this.#host;
    return {
      journal: host.journal,
      clock: host.clock,
      cursor: () => this.#state.cursor,
      skip: () => this.#state.skip,
      skipTo: (position: Position) => this.#skipTo(position),
      interrupted: () => this.#stop.aborted || this.disabled || this.#queue.length > 0,
      draining: () => this.#draining,
      full: () => host.full(),
      passed: async () => {
        await this.save();
        await host.releaseSegments();
      },
      idle: (until: number | undefined, offset: number) => this.#idle(until, offset),
      refresh: () => this.#refresh(),
    };
  }

  /**
   * Restores the persisted state. An output with no state starts at the journal's oldest line at
   * start-up, or at its end when `fresh` (added by a reload).
   */
  async load(fresh = false): Promise<void> {
    const saved = await readOutputState(this.#statePath);
    const journal = this.#host.journal;
    if (saved) {
      this.#state = { ...this.#state, ...saved, type: this.type, removed_at: null };
      if (this.#state.cursor.offset < journal.start.offset) {
        // The output was out of the config while its segments were deleted.
        this.#host.logger.warn(
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
    this.#supervisor.window.restore(this.#state.window, this.#host.clock.now());
    Object.assign(this.status, this.#state.counters);
    this.status.last_error = this.#state.last_error;
    if (!this.#config.enabled) this.#turnOff("config");
    else if (this.#state.disabled === "config") this.#turnOn();
    this.#refresh();
    try {
      await this.save();
    } catch (error) {
      // A full disk at start: the state is saved again with the first batch; start anyway.
      this.#host.logger.warn(
        `Cannot save the state of output "${this.name}" now: ${(error as Error).message}`,
        { output: this.name },
      );
    }
    await this.applyRequest();
  }

  /** Applies a pending `hitship enable`/`disable` request for this output, if any. */
  async applyRequest(): Promise<void> {
    const request = await takeRequest(this.#statePath);
    if (!request) return;
    if (request.enabled && this.#state.disabled === "config") return;
    if (await this.setEnabled(request.enabled)) {
      this.#host.logger.info(`Output "${this.name}" ${request.enabled ? "enabled" : "disabled"}`, {
        output: this.name,
      });
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
    this.#wake();
  }

  /** The input has ended: finish what the journal holds, then stop. */
  drain(): void {
    this.#draining = true;
    this.#wake();
  }

  /** Where the hits this output will take end: the journal's end, or, skipping, where it went off. */
  #takesUntil(): Position {
    const at = this.#state.disabled_at;
    return at && this.#skipsWhileOff ? at : this.#host.journal.end;
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
    if (until !== this.#host.journal.end) return [{ from, to: until.offset }];
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
    this.#host.logger.warn(
      `The journal is full: dropped ${dropped} hits for output "${this.name}", which is off`,
      { output: this.name, dropped_hits: dropped },
    );
    this.#losses.add(dropped, "journal_full");
  }

  /** Turns the output off (`hitship disable`, the config, or auto-disable). */
  #turnOff(by: DisabledBy): void {
    if (this.#state.disabled === null) {
      this.#state.disabled_at = { ...this.#host.journal.end };
    }
    this.#state.disabled = by;
    this.#interrupt();
  }

  /**
   * Turns the output back on: it resumes from its cursor. With `while_disabled: skip` it passes
   * over what came while it was off; with `keep` it delivers that too.
   */
  #turnOn(): void {
    const at = this.#state.disabled_at;
    if (at && this.#skipsWhileOff) {
      const end = this.#host.journal.end;
      const cursor = this.#state.cursor;
      if (end.offset > at.offset && end.offset > cursor.offset) {
        const from = cursor.offset > at.offset ? cursor : at;
        this.#state.skip = { from, to: { ...end } };
        const skipped = this.#events.has("hits") ? end.seq - from.seq : 0;
        this.status.skipped_hits += skipped;
        this.#losses.add(skipped, "skipped_while_disabled");
      }
    }
    this.#state.disabled = null;
    this.#state.disabled_at = null;
    this.#supervisor.schedule.reset();
    this.#interrupt();
  }

  /** Turns the output on or off by command; returns false when nothing changed. */
  async setEnabled(enabled: boolean, by: DisabledBy = "command"): Promise<boolean> {
    if (enabled === !this.disabled) return false;
    if (enabled) this.#turnOn();
    else this.#turnOff(by);
    this.#refresh();
    await this.save();
    await this.#host.stateChanged();
    if (!enabled) {
      this.#host.emit(
        disableIntegration(this.name, this.type, by, this.#host.clock.now()),
        this.name,
      );
    }
    return true;
  }

  /** Wakes an idle wait (or the next one) of the loop: new work may be there. */
  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter();
    else this.#poked = true;
  }

  /** A state change: cuts short the request in flight and any wait, and wakes the loop. */
  #interrupt(): void {
    this.#interruptor.abort(new Error("the output's state changed"));
    this.#interruptor = new AbortController();
    this.#wake();
  }

  /** Wakes the loop from an idle wait (another output finished, say). */
  poke(): void {
    this.#wake();
  }

  /** Writes the state file. */
  async save(): Promise<void> {
    this.#state.window = this.#supervisor.window.toJSON();
    this.#state.counters = {
      delivered_hits: this.status.delivered_hits,
      requests: this.status.requests,
      failed_requests: this.status.failed_requests,
      dropped_hits: this.status.dropped_hits,
      skipped_hits: this.status.skipped_hits,
    };
    this.#state.last_error = this.status.last_error;
    await writeOutputState(this.#statePath, this.#state);
  }

  #refresh(): void {
    const s = this.status;
    const failures = this.#supervisor.schedule.failures;
    const { ratio } = this.#supervisor.window.counts(this.#host.clock.now());
    s.failure_ratio = Math.round(ratio * 1000) / 1000;
    s.pending_hits = this.pendingHits();
    const cursor = this.#state.cursor;
    s.pending_bytes = s.pending_hits > 0
      ? Math.max(0, this.#takesUntil().offset - cursor.offset)
      : 0;
    s.oldest_pending_at = s.pending_hits > 0
      ? new Date(this.#host.journal.appendedAt(cursor.offset)).toISOString()
      : null;
    s.retry_attempt = failures;
    if (this.#state.disabled === "auto") s.state = "auto_disabled";
    else if (this.#state.disabled) s.state = "disabled";
    else if (failures > 0) s.state = "retrying";
    else s.state = "active";
    if (s.state !== "retrying") s.next_retry_at = null;
  }

  /** The delivery loop, until the output has drained or the engine stops. */
  async run(stop: AbortSignal): Promise<void> {
    this.#stop = stop;
    const onStop = () => this.#interrupt();
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
      this.#refresh();
    }
  }

  /** One turn of the loop: events first, then the batch in flight, then the next batch. */
  async #step(): Promise<boolean> {
    if (this.disabled || this.#hitsDone) {
      if (this.#draining) {
        if (!this.#hitsDone) this.#finishHits();
        // Stay for events until every output has finished its hits: one of them may still be
        // auto-disabled and tell the others.
        if (this.#host.hitsDone() && (this.disabled || this.#queue.length === 0)) return true;
      }
      if (this.disabled || this.#queue.length === 0) {
        await this.#idle();
        return false;
      }
    }
    const event = this.#queue[0];
    if (event) {
      if (await this.#supervised((signal) => this.#sendEvent(event, signal))) this.#queue.shift();
      return false;
    }
    const intent = this.#state.intent;
    if (intent) {
      const delivered = await this.#supervised((signal) =>
        this.output.send(this.#batch(intent), signal)
      );
      if (delivered) await this.#delivered(intent);
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
    this.#host.pokeAll();
  }

  #sendEvent(event: SystemEvent, signal: AbortSignal): Promise<SendResult> {
    if (!this.output.sendEvent) return Promise.resolve({ ok: true });
    return this.output.sendEvent(event, signal);
  }

  /** Waits for something to do: new lines, an event, a state change, the drain, or `until`. */
  async #idle(until?: number, journalOffset?: number): Promise<void> {
    if (this.#stop.aborted) return;
    if (this.#poked) {
      this.#poked = false;
      return;
    }
    const done = new AbortController();
    const waits: Promise<unknown>[] = [
      new Promise<void>((resolve) => (this.#waiter = resolve)),
    ];
    if (journalOffset !== undefined) {
      waits.push(this.#host.journal.waitFor(journalOffset, done.signal).catch(() => {}));
    }
    if (until !== undefined) {
      const wait = Math.max(0, until - this.#host.clock.now());
      waits.push(this.#host.clock.sleep(wait, done.signal).catch(() => {}));
    }
    await Promise.race(waits);
    done.abort(DONE);
    this.#waiter = undefined;
  }

  /**
   * One request under the supervision; records what it came to (counters, status, log, state),
   * auto-disables a broken output, and waits out the retry interval after a failure.
   *
   * @returns True when the request succeeded.
   */
  async #supervised(send: (signal: AbortSignal) => Promise<SendResult>): Promise<boolean> {
    const interrupt = AbortSignal.any([this.#stop, this.#interruptor.signal]);
    const labels = { output: this.name, type: this.type };
    const timed = async (signal: AbortSignal) => {
      const started = performance.now();
      const result = await send(signal);
      if (!signal.aborted) {
        this.#host.telemetry.requestDuration.observe(
          { ...labels, result: result.ok ? "ok" : "failed" },
          (performance.now() - started) / 1000,
        );
      }
      return result;
    };
    const outcome = await this.#supervisor.attempt(timed, interrupt);
    if (outcome.kind === "interrupted") return false;
    const now = this.#host.clock.now();
    this.status.requests++;
    if (outcome.kind === "delivered") {
      this.status.last_success_at = new Date(now).toISOString();
      this.#refresh();
      this.#host.changed();
      return true;
    }
    const { error, status } = outcome.result;
    this.status.failed_requests++;
    this.status.last_error = error;
    this.#host.logger.warn(`Output "${this.name}" request failed: ${error}`, {
      output: this.name,
      status,
      attempt: outcome.kind === "failed" ? this.#supervisor.schedule.failures : undefined,
    });
    if (outcome.kind === "broken") {
      await this.#autoDisable(outcome);
      return false;
    }
    this.status.next_retry_at = new Date(now + outcome.delay).toISOString();
    this.#refresh();
    await this.save();
    await this.#host.stateChanged();
    if (this.disabled || interrupt.aborted) return false;
    this.#poked = false;
    await this.#supervisor.wait(outcome.delay, interrupt);
    return false;
  }

  async #autoDisable(outcome: Extract<Outcome, { kind: "broken" }>): Promise<void> {
    const { ratio, requests, failures } = outcome.window;
    this.#turnOff("auto");
    this.#refresh();
    await this.save();
    await this.#host.stateChanged();
    this.#host.logger.error(`Output "${this.name}" auto-disabled`, {
      output: this.name,
      failure_ratio: ratio,
      requests,
      failures,
    });
    this.#host.emit(
      integrationBroken(
        this.name,
        this.type,
        outcome.window,
        outcome.result.error,
        this.#host.clock.now(),
      ),
      this.name,
    );
  }

  async #delivered(intent: BatchIntent): Promise<void> {
    this.#host.telemetry.batchHits.observe({ output: this.name, type: this.type }, intent.count);
    this.#state.cursor = intent.to;
    this.#state.intent = null;
    this.status.delivered_hits += intent.count;
    this.status.last_error = null;
    this.#refresh();
    await this.save();
    await this.#host.releaseSegments();
    this.#host.changed();
  }

  /** The batch of an intent, as the plugin sees it. */
  #batch(intent: BatchIntent): Batch {
    const journal = this.#host.journal;
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
          yield lines.filter((line) =>
            filter(parseJson(decoder.decode(line)) as Record<string, unknown>)
          );
        }
      },
    };
  }

  /** Moves the cursor over a span this output does not take. */
  #skipTo(position: Position): void {
    this.#state.cursor = position;
    if (this.#state.skip && position.offset >= this.#state.skip.to.offset) this.#state.skip = null;
  }

  /** Fixes the next batch: its name, its range, its sequence number, saved before it is sent. */
  async #cut({ count, raw, to }: Cut): Promise<void> {
    const now = this.#host.clock.now();
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
