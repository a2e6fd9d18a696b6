/**
 * Promises that wait for a wake-up, all woken at once.
 *
 * @module
 */

/** Waiters for one kind of wake-up. */
export class Waiters {
  readonly #waiting = new Set<() => void>();

  /** Resolves at the next {@linkcode Waiters.wakeAll}; rejects when `signal` aborts first. */
  wait(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const wake = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#waiting.delete(wake);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.add(wake);
    });
  }

  /** Wakes every waiter. */
  wakeAll(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const wake of waiting) wake();
  }
}
