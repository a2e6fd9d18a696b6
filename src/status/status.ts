/**
 * The status model: one in-memory picture of the input and every output, written atomically to
 * the status file at least every second while anything changes and at once on a state change.
 *
 * @module
 */
import type { Clock } from "../base/clock.ts";
import { readJsonFile, writeFileAtomic } from "../base/fs.ts";

/** The state of an output. */
export type OutputState = "active" | "retrying" | "disabled" | "auto_disabled";

/** An output's part of the status file. */
export interface OutputStatus {
  type: string;
  state: OutputState;
  delivered_hits: number;
  /** Hits dropped for this output alone: it was off, or behind, when the journal was full. */
  dropped_hits: number;
  /** Hits passed over while it was off (`while_disabled: skip`). */
  skipped_hits: number;
  requests: number;
  failed_requests: number;
  failure_ratio: number;
  pending_hits: number;
  retry_attempt: number;
  last_error: string | null;
  last_success_at: string | null;
  next_retry_at: string | null;
}

/** The input's part of the status file. */
export interface InputStatus {
  type: string;
  path: string | null;
  lines: number;
  hits: number;
  rejected: number;
  offset: number;
  paused: boolean;
  truncations: number;
  /** Rejected lines the dead-letter file could not take (a full disk). */
  dead_letters_dropped: number;
}

/** The status file's content. */
export interface StatusDocument {
  version: 1;
  updated_at: string;
  pid: number;
  journal: { bytes: number; segments: number };
  input: InputStatus;
  outputs: Record<string, OutputStatus>;
  last_config_error: string | null;
}

/** Reads a status file, or returns `undefined` when there is none. */
export function readStatus(path: string): Promise<StatusDocument | undefined> {
  return readJsonFile<StatusDocument>(path);
}

/** A fresh output status. */
export function newOutputStatus(type: string, state: OutputState = "active"): OutputStatus {
  return {
    type,
    state,
    delivered_hits: 0,
    dropped_hits: 0,
    skipped_hits: 0,
    requests: 0,
    failed_requests: 0,
    failure_ratio: 0,
    pending_hits: 0,
    retry_attempt: 0,
    last_error: null,
    last_success_at: null,
    next_retry_at: null,
  };
}

/**
 * Holds the status and writes it: {@linkcode StatusBoard.changed} for counters (written within a
 * second), {@linkcode StatusBoard.stateChanged} for state changes (written at once).
 */
export class StatusBoard {
  readonly input: InputStatus;
  readonly outputs: Record<string, OutputStatus> = {};
  readonly journal = { bytes: 0, segments: 0 };
  lastConfigError: string | null = null;
  readonly #path: string | undefined;
  readonly #clock: Clock;
  #dirty = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #lastWrite = 0;
  #listeners = new Set<() => void>();
  #refreshers: Array<() => void> = [];
  #writeError: string | null = null;
  #onWriteError: ((error: string | null) => void) | undefined;

  /** @param path The status file; `undefined` keeps the status in memory only. */
  constructor(path: string | undefined, clock: Clock, input: Pick<InputStatus, "type" | "path">) {
    this.#path = path;
    this.#clock = clock;
    this.input = {
      ...input,
      lines: 0,
      hits: 0,
      rejected: 0,
      offset: 0,
      paused: false,
      truncations: 0,
      dead_letters_dropped: 0,
    };
  }

  /** Calls `listener` on every change (the HTTP endpoint and tests use it). */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Calls `listener` when writing the status file fails (with the error), and when it works again
   * after failing (with `null`); not on every write.
   */
  onWriteError(listener: (error: string | null) => void): void {
    this.#onWriteError = listener;
  }

  /** Why the status file cannot be written, or `null` while it can. */
  get writeError(): string | null {
    return this.#writeError;
  }

  /** Calls `refresh` before every snapshot: for figures computed when read (pending hits). */
  onSnapshot(refresh: () => void): void {
    this.#refreshers.push(refresh);
  }

  /** The status file's content now. */
  snapshot(): StatusDocument {
    for (const refresh of this.#refreshers) refresh();
    return {
      version: 1,
      updated_at: new Date(this.#clock.now()).toISOString(),
      pid: Deno.pid,
      journal: { ...this.journal },
      input: { ...this.input },
      outputs: structuredClone(this.outputs),
      last_config_error: this.lastConfigError,
    };
  }

  /** Counters changed: the file is written within a second. */
  changed(): void {
    this.#dirty = true;
    for (const listener of this.#listeners) listener();
    if (this.#timer !== undefined || !this.#path) return;
    // Real time, not the injected clock: this paces disk writes, it is not behaviour under test,
    // and on a fake clock it would stand among the timers a test waits for.
    const wait = Math.max(0, 1000 - (Date.now() - this.#lastWrite));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, wait);
  }

  /** A state changed: the file is written now. */
  stateChanged(): Promise<void> {
    this.#dirty = true;
    for (const listener of this.#listeners) listener();
    return this.flush();
  }

  /** Writes the file now if anything changed since the last write. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#path || !this.#dirty) return this.#writing;
    this.#dirty = false;
    this.#lastWrite = Date.now();
    const doc = JSON.stringify(this.snapshot(), null, 2) + "\n";
    const path = this.#path;
    this.#writing = this.#writing.then(() => writeFileAtomic(path, doc)).then(
      () => this.#wrote(null),
      (error) => this.#wrote((error as Error).message ?? String(error)),
    );
    return this.#writing;
  }

  #wrote(error: string | null): void {
    if (error === this.#writeError) return;
    this.#writeError = error;
    try {
      this.#onWriteError?.(error);
    } catch {
      // the listener's trouble is not the status file's
    }
  }

  /** Stops the timer and writes the final status. */
  async close(): Promise<void> {
    this.#dirty = true;
    await this.flush();
  }
}
