/**
 * Reusable buffers. Memory a process has touched before is cheap to use again, where new memory
 * costs page faults (on a virtual machine that hands free memory back to its host, many): the
 * journal's read buffers, the aligned buffers of direct I/O and the body scratch come back here
 * when they are done with.
 *
 * @module
 */

/** Buffers of one use, kept for the next taker: at most `max`. */
export class BufferPool {
  readonly #max: number;
  readonly #buffers: Uint8Array[] = [];

  /**
   * A pool that keeps up to `max` buffers.
   *
   * @param max How many buffers are kept at most. @default 8
   */
  constructor(max = 8) {
    this.#max = max;
  }

  /** A kept buffer of at least `size` bytes, taken out of the pool, or `undefined`. */
  take(size: number): Uint8Array | undefined {
    const i = this.#buffers.findIndex((b) => b.length >= size);
    return i < 0 ? undefined : this.#buffers.splice(i, 1)[0];
  }

  /** Gives a buffer back, for the next taker (dropped when the pool is full). */
  give(buffer: Uint8Array): void {
    if (this.#buffers.length < this.#max) this.#buffers.push(buffer);
  }
}

/**
 * Frees a buffer's memory now: a large buffer let go is otherwise only freed at V8's next full
 * collection, and many of them (request bodies) make the process grow by tens of megabytes in
 * between. Every view of the buffer is empty afterwards: only for a buffer nothing else holds.
 */
export function release(buffer: Uint8Array): void {
  const backing = buffer.buffer;
  if (backing instanceof ArrayBuffer && !backing.detached && backing.byteLength > 0) {
    backing.transfer(0);
  }
}
