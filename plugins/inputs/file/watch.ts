/**
 * Waiting for a tailed file to change: on file-system events in its directory, polling where
 * events come too fast or not at all.
 *
 * @module
 */
import type { Clock } from "@hitship/hitship/sdk";

/**
 * A file written to more often than every `poll_interval` (500 ms by default) is polled every
 * `poll_interval`, and file-system events are not listened to: a writer that appends a line every
 * 10 ms costs one read, one journal append and one checkpoint per poll, not an event, a read and a
 * checkpoint per write. (Each event costs the watcher thread a few system calls and the event loop
 * a turn: with both, 2,000 hits/s in 100 writes a second took 0.067 CPU-s a second; polling every
 * 100 ms 0.043, every 250 ms 0.027. A poll costs more than its hits as well: the same hits read in
 * smaller pieces took longer each, 2,000 real hits/s for 30 s 78-91 ticks polled every 250 ms,
 * 63-77 every 500 ms, 59-77 every 1 s.) A file written to less often is read on each event, so a
 * trickle of hits costs one read each and no polls. After this long without new data polling stops
 * and the tail sleeps on events again.
 */
const QUIET_MS = 1000;

/**
 * Where file-system events come, the file is still checked this often (a missed event, a
 * filesystem that reports none for some writes): an idle sidecar wakes every 2 s, not 4 times a
 * second. Without events, `poll_interval` alone.
 */
const SAFETY_POLL_MS = 2000;

/** Aborts a timer: a constant reason spares creating a `DOMException` (and its stack) each time. */
const DONE = new Error("done");

/**
 * Waits for the file to change: on file-system events in its directory (with a check every
 * {@linkcode SAFETY_POLL_MS}); polling every `poll_interval` while events come faster than that,
 * until the file has been quiet for {@linkcode QUIET_MS}; polling alone where there are no events.
 */
export class FileWatch {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #pollInterval: number;
  #wake: (() => void) | undefined;
  #pending = false;
  #watcher: Deno.FsWatcher | undefined;
  /** Whether this filesystem gives events at all (false after the first refusal). */
  #eventsWork = true;
  #quietSince: number | undefined;
  /**
   * Times of the last events: as many in one poll interval as a poll would take in a second
   * means the file is written to faster than it would be polled.
   */
  readonly #busyEvents: number;
  #recent: number[] = [];
  #sustained = false;

  /** Watches the file at `path`, polling every `pollInterval` where it must. */
  constructor(path: string, clock: Clock, pollInterval: number) {
    const slash = path.lastIndexOf("/");
    this.#dir = slash < 0 ? "." : path.slice(0, slash) || "/";
    this.#clock = clock;
    this.#pollInterval = pollInterval;
    this.#busyEvents = Math.max(2, Math.ceil(1000 / pollInterval));
    this.#listen();
  }

  /** Listens to file-system events in the file's directory; false where there are none. */
  #listen(): boolean {
    if (this.#watcher) return true;
    if (!this.#eventsWork) return false;
    let current: Deno.FsWatcher;
    try {
      current = Deno.watchFs(this.#dir, { recursive: false });
    } catch {
      this.#eventsWork = false; // No file-system events here: poll.
      return false;
    }
    this.#watcher = current;
    this.#recent = [];
    this.#sustained = false;
    this.#take(current);
    return true;
  }

  /** Takes the events of `watcher` until it closes. */
  async #take(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const _ of watcher) {
        const now = this.#clock.now();
        const recent = this.#recent;
        recent.push(now);
        if (recent.length > this.#busyEvents) recent.shift();
        if (recent.length === this.#busyEvents && now - recent[0]! < 1000) this.#sustained = true;
        if (this.#wake) this.#wake();
        else this.#pending = true;
      }
    } catch {
      // The directory went away: polling goes on.
    }
    if (this.#watcher === watcher) this.#watcher = undefined;
  }

  #stopListening(): void {
    const current = this.#watcher;
    this.#watcher = undefined;
    this.#pending = false;
    try {
      current?.close();
    } catch {
      // already closed
    }
  }

  /** Waits `ms`, or for an event, or for the signal. */
  #waitOnce(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = new AbortController();
      const done = () => {
        timer.abort(DONE);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      this.#clock.sleep(ms, timer.signal).then(done, () => {});
      signal.addEventListener("abort", done, { once: true });
      this.#wake = done;
    });
  }

  /**
   * Returns when the file may have changed. `grew`: the last look found new data (or a new file).
   */
  async wait(signal: AbortSignal, grew: boolean): Promise<void> {
    const now = this.#clock.now();
    if (grew) this.#quietSince = undefined;
    else this.#quietSince ??= now;
    if (this.#watcher) {
      // Events come faster than polls would: poll instead.
      if (this.#sustained) this.#stopListening();
      else return await this.#waitOnce(Math.max(this.#pollInterval, SAFETY_POLL_MS), signal);
    }
    const quiet = this.#quietSince !== undefined && now - this.#quietSince >= QUIET_MS;
    if (this.#eventsWork && quiet && this.#listen()) {
      // Listening from now: look once more, for what was written before the watch began.
      return;
    }
    await this.#waitOnce(this.#pollInterval, signal);
  }

  /** Stops watching. */
  close(): void {
    this.#stopListening();
  }
}
