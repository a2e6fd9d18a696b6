/**
 * The status model: one in-memory picture of the input and every output, written atomically to
 * the status file at least every second while anything changes and at once on a state change.
 *
 * @module
 */
import { Telemetry } from "./telemetry.ts";
import type { Clock } from "../base/clock.ts";
import { readJsonFile, writeFileAtomic } from "../base/fs.ts";

/** The state of an output. */
export type OutputState = "active" | "retrying" | "disabled" | "auto_disabled";

/** An output's part of the status file. */
export interface OutputStatus {
  /** The output plugin's `type`. */
  type: string;
  /** `active`, `retrying`, `disabled` or `auto_disabled`. */
  state: OutputState;
  /** Hits delivered since the output first ran. */
  delivered_hits: number;
  /** Hits dropped for this output alone: it was off when the journal was full. */
  dropped_hits: number;
  /** Hits passed over while it was off (`while_disabled: skip`). */
  skipped_hits: number;
  /**
   * Hits the receiver refused for good (a document it cannot index, a message too long to send):
   * not retried, each in the dead-letter file with the receiver's reason.
   */
  rejected_hits: number;
  /** Delivery requests made. */
  requests: number;
  /** Requests that failed. */
  failed_requests: number;
  /** Failed share of the requests in the auto-disable window. */
  failure_ratio: number;
  /** Journaled hits it has still to deliver. */
  pending_hits: number;
  /** Bytes of journal it has still to read (its filter may pass over some of them). */
  pending_bytes: number;
  /** When the oldest hit it has still to deliver was journaled (ISO 8601), or null for none. */
  oldest_pending_at: string | null;
  /** Failed attempts of the current batch (0 when none is failing). */
  retry_attempt: number;
  /** The last failure's error, until a success. */
  last_error: string | null;
  /** When the last request succeeded (ISO 8601). */
  last_success_at: string | null;
  /** When the failing batch is sent again (ISO 8601), while retrying. */
  next_retry_at: string | null;
}

/** The input's part of the status file. */
export interface InputStatus {
  /** The input plugin's `type`. */
  type: string;
  /** The input's `path`, when it has one. */
  path: string | null;
  /** Lines read. */
  lines: number;
  /** Valid hits journaled. */
  hits: number;
  /** Lines rejected (see the dead-letter file). */
  rejected: number;
  /** Bytes read (a file: its offset). */
  offset: number;
  /** True while reading waits for room in the journal or on the disk. */
  paused: boolean;
  /** How often the input file was truncated under the reader. */
  truncations: number;
  /** Rejected lines the dead-letter file could not take (a full disk). */
  dead_letters_dropped: number;
}

/** The status file's content. */
export interface StatusDocument {
  /** The format's version. */
  version: 1;
  /** When it was written (ISO 8601). */
  updated_at: string;
  /** The process that wrote it. */
  pid: number;
  /** Bytes and segment files of the journal. */
  journal: { bytes: number; segments: number };
  /** Every input's counters added up (with one input, that input's). */
  input: InputStatus;
  /** Every input, by name. */
  inputs: Record<string, InputStatus>;
  /** Every output, by name. */
  outputs: Record<string, OutputStatus>;
  /** Why the last reload failed, until one works. */
  last_config_error: string | null;
}

/** Reads a status file, or returns `undefined` when there is none. */
export function readStatus(path: string): Promise<StatusDocument | undefined> {
  return readJsonFile<StatusDocument>(path);
}

/** A fresh input status. */
export function newInputStatus(type: string, path: string | null): InputStatus {
  return {
    type,
    path,
    lines: 0,
    hits: 0,
    rejected: 0,
    offset: 0,
    paused: false,
    truncations: 0,
    dead_letters_dropped: 0,
  };
}

/** A fresh output status. */
export function newOutputStatus(type: string, state: OutputState = "active"): OutputStatus {
  return {
    type,
    state,
    delivered_hits: 0,
    dropped_hits: 0,
    skipped_hits: 0,
    rejected_hits: 0,
    requests: 0,
    failed_requests: 0,
    failure_ratio: 0,
    pending_hits: 0,
    pending_bytes: 0,
    oldest_pending_at: null,
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
  /** Every input's counters, by name. */
  readonly inputs: Record<string, InputStatus> = {};
  readonly outputs: Record<string, OutputStatus> = {};
  readonly journal = { bytes: 0, segments: 0 };
  /** Histograms and counters for `/metrics` alone. */
  readonly telemetry: Telemetry = new Telemetry();
  lastConfigError: string | null = null;
  readonly #path: string | undefined;
  readonly #clock: Clock;
  #dirty = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #lastWrite = 0;
  #refreshers: Array<() => void> = [];
  #writeError: string | null = null;
  #onWriteError: ((error: string | null) => void) | undefined;

  /** @param path The status file; `undefined` keeps the status in memory only. */
  constructor(
    path: string | undefined,
    clock: Clock,
    inputs: ReadonlyArray<{ name: string; type: string; path: string | null }>,
  ) {
    this.#path = path;
    this.#clock = clock;
    for (const { name, type, path } of inputs) this.inputs[name] = newInputStatus(type, path);
  }

  /** Every input's counters added up: the status's `input`. */
  get input(): InputStatus {
    const all = Object.values(this.inputs);
    if (all.length === 1) return all[0]!;
    const total = newInputStatus([...new Set(all.map((i) => i.type))].join("+"), null);
    for (const i of all) {
      total.lines += i.lines;
      total.hits += i.hits;
      total.rejected += i.rejected;
      total.offset += i.offset;
      total.paused ||= i.paused;
      total.truncations += i.truncations;
      total.dead_letters_dropped += i.dead_letters_dropped;
    }
    return total;
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
      inputs: structuredClone(this.inputs),
      outputs: structuredClone(this.outputs),
      last_config_error: this.lastConfigError,
    };
  }

  /** Counters changed: the file is written within a second. */
  changed(): void {
    this.#dirty = true;
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
