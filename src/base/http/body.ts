/**
 * Reading a request from a connection: its head (read ahead into a buffer, the empty lines before
 * it skipped), and its body, by length or chunked, into memory counted against the bytes of all
 * bodies held at once, each read within a deadline that a minimum rate moves.
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { BufferPool, release } from "../buffer_pool.ts";
import { Deadline, Timeout } from "../deadline.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { headEnd, HeadError } from "./head.ts";

/** The body would pass the largest allowed. */
export class TooLarge extends Error {}
/** The bodies held at once would pass their limit. */
export class Busy extends Error {}

/** Bytes of a content-length body read (and counted against the budget) at a time. */
const BODY_READ_BYTES = 256 * 1024;
/** A body's first 10 s do not count for its rate. */
const BODY_GRACE_MS = 10_000;

/** A connection's read-ahead buffer: a request head, or a chunked body's pieces. */
const READ_BYTES = 16 * 1024;
/** Bytes of one connection read ahead of what is consumed. */
export class ConnReader {
  readonly #conn: Deno.Conn;
  readonly #deadline: Deadline;
  readonly #pool: BufferPool;
  readonly #onProgress: () => void;
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;

  /** Reads with a buffer from `pool` (each connection has one): `close` gives it back. */
  constructor(conn: Deno.Conn, deadline: Deadline, pool: BufferPool, onProgress: () => void) {
    this.#conn = conn;
    this.#deadline = deadline;
    this.#pool = pool;
    this.#onProgress = onProgress;
    this.#buffer = pool.take(READ_BYTES) ?? new Uint8Array(READ_BYTES);
  }

  /** Gives the read buffer back (when it is still the size it began with). */
  close(): void {
    if (this.#buffer.length === READ_BYTES) this.#pool.give(this.#buffer);
    this.#buffer = new Uint8Array(0);
  }

  /** Bytes read and not consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The bytes read and not consumed (a view, valid until the next read). */
  get view(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  /** Reads more, by `by` (clock time); false at the end of the stream. */
  async fill(by: number): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buffer.length) {
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const bigger = new Uint8Array(this.#buffer.length * 2);
        bigger.set(this.#buffer);
        this.#buffer = bigger;
      }
    }
    this.#deadline.set(by);
    const n = await this.#deadline.io(this.#conn.read(this.#buffer.subarray(this.#end)));
    if (n === null) return false;
    this.#end += n;
    this.#onProgress();
    return true;
  }

  /**
   * Reads straight into `target` (nothing must be buffered), by `by`: a large body is not copied
   * through the read-ahead buffer. The number of bytes read, or null at the end of the stream.
   */
  async readInto(target: Uint8Array, by: number): Promise<number | null> {
    this.#deadline.set(by);
    const n = await this.#deadline.io(this.#conn.read(target));
    if (n !== null) this.#onProgress();
    return n;
  }

  /** Drops empty lines before a request line (RFC 9112 §2.2 lets a server ignore them). */
  skipEmptyLines(): void {
    while (
      this.buffered >= 2 && this.#buffer[this.#start] === 13 && this.#buffer[this.#start + 1] === 10
    ) {
      this.#start += 2;
    }
  }

  /** Where the head ends in the buffered bytes (its length), -1 while incomplete, or why not. */
  headEnd(): number | HeadError {
    const end = headEnd(this.#buffer, this.#start, this.#end);
    return typeof end === "number" && end >= 0 ? end - this.#start : end;
  }

  /** Consumes `n` buffered bytes (a view, valid until the next read). */
  take(n: number): Uint8Array {
    const out = this.#buffer.subarray(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }
}

/**
 * The memory of bodies, over all connections: at most `max` bytes held at once, counted as bytes
 * arrive (a body announced large but sent slowly holds only what it sent). Buffers given back are
 * kept for the next body (new memory costs page faults and zeroing, and a large buffer let go is
 * only freed at V8's next full collection), up to `keep` bytes, counted too; `drain` lets them go.
 */
export class BodyBudget {
  readonly #max: number;
  readonly #keep: number;
  #held = 0;
  #kept: Uint8Array[] = [];
  #keptBytes = 0;
  constructor(max: number, keep: number) {
    this.#max = max;
    this.#keep = keep;
  }
  /**
   * Counts `n` more bytes for a body that holds `own` now; false when they would pass the limit
   * while other bodies hold bytes (one body is always taken).
   */
  reserve(n: number, own: number): boolean {
    while (this.#kept.length > 0 && this.#held + this.#keptBytes + n > this.#max) {
      const dropped = this.#kept.pop()!;
      this.#keptBytes -= dropped.length;
      release(dropped);
    }
    if (this.#held - own > 0 && this.#held + n > this.#max) return false;
    this.#held += n;
    return true;
  }
  /** Bytes that may still be counted before the limit. */
  get room(): number {
    return this.#max - this.#held;
  }
  /** Counts `n` bytes less. */
  unreserve(n: number): void {
    this.#held -= n;
  }
  /** A buffer of at least `n` bytes: a kept one not over twice that, or a new one. */
  buffer(n: number): Uint8Array {
    const i = this.#kept.findIndex((b) => b.length >= n && b.length <= 2 * n);
    if (i < 0) return new Uint8Array(n);
    const buffer = this.#kept.splice(i, 1)[0]!;
    this.#keptBytes -= buffer.length;
    return buffer;
  }
  /** Gives a buffer back, to keep or to let go. */
  give(buffer: Uint8Array): void {
    if (buffer.length === 0) return;
    if (
      this.#keptBytes + buffer.length <= this.#keep &&
      this.#held + this.#keptBytes + buffer.length <= this.#max
    ) {
      this.#kept.push(buffer);
      this.#keptBytes += buffer.length;
    } else {
      release(buffer);
    }
  }
  /** Lets the kept buffers go. */
  drain(): void {
    for (const buffer of this.#kept) release(buffer);
    this.#kept = [];
    this.#keptBytes = 0;
  }
}

const EMPTY = new Uint8Array(0);

/** A body as it arrives, to at most `max` bytes, its bytes counted against a budget. */
export class Body {
  #bytes: Uint8Array = EMPTY;
  #length = 0;
  /** The size it will have: its content length, or at most `max`. */
  #target: number;
  readonly #budget: BodyBudget;
  constructor(max: number, budget: BodyBudget) {
    this.#target = max;
    this.#budget = budget;
  }
  get length(): number {
    return this.#length;
  }
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }
  /**
   * A body of known `length`: while the budget has room for all of it, one buffer for all of it
   * (new memory is touched only as bytes arrive); otherwise one that grows.
   */
  expect(length: number): void {
    if (length > this.#target) throw new TooLarge();
    this.#target = length;
    if (length <= this.#budget.room) this.#bytes = this.#budget.buffer(length);
  }
  /** Counts `n` more bytes, and makes room for them. */
  #room(n: number): void {
    if (this.#length + n > this.#target) throw new TooLarge();
    if (!this.#budget.reserve(n, this.#length)) throw new Busy();
    if (this.#length + n <= this.#bytes.length) return;
    const size = Math.min(
      this.#target,
      Math.max(this.#length + n, this.#bytes.length * 2, 64 * 1024),
    );
    const bigger = this.#budget.buffer(size);
    bigger.set(this.#bytes.subarray(0, this.#length));
    this.#budget.give(this.#bytes);
    this.#bytes = bigger;
  }
  append(part: Uint8Array): void {
    this.#room(part.length);
    this.#bytes.set(part, this.#length);
    this.#length += part.length;
  }
  /** Counts up to `n` bytes to read into {@linkcode free}; `grew` says how many came. */
  reserve(n: number): void {
    this.#room(n);
  }
  /** The space after the bytes so far. */
  free(n: number): Uint8Array {
    return this.#bytes.subarray(this.#length, this.#length + n);
  }
  /** `n` of the `reserved` bytes came. */
  grew(n: number, reserved: number): void {
    this.#length += n;
    this.#budget.unreserve(reserved - n);
  }
  /** Gives the memory back: the bytes must not be used after. */
  release(): void {
    this.#budget.unreserve(this.#length);
    this.#budget.give(this.#bytes);
    this.#bytes = EMPTY;
    this.#length = 0;
  }
}

/** How long a body may take: at most `timeout`, and after its first 10 s `minRate` bytes/s. */
export interface BodyTimes {
  clock: Clock;
  /** Longest time for a body, ms. */
  timeout: number;
  /** Bytes per second a body must arrive at, on average, after its first 10 s. */
  minRate: number;
}

/** The time a body has, from `start`, once `received` bytes of it came. */
function bodyDeadline(times: BodyTimes, start: number, received: number): number {
  return start + Math.min(times.timeout, BODY_GRACE_MS + (received / times.minRate) * 1000);
}

/** Reads a body of `length` bytes into `body`, within its time. */
export async function readLength(
  reader: ConnReader,
  body: Body,
  length: number,
  times: BodyTimes,
): Promise<void> {
  const start = times.clock.now();
  body.expect(length);
  if (reader.buffered > 0) body.append(reader.take(Math.min(reader.buffered, length)));
  while (body.length < length) {
    const want = Math.min(BODY_READ_BYTES, length - body.length);
    body.reserve(want);
    let n: number | null = 0;
    try {
      n = await reader.readInto(body.free(want), bodyDeadline(times, start, body.length));
    } finally {
      body.grew(n ?? 0, want);
    }
    if (n === null) throw new Timeout(); // the client went away mid-body
  }
}

/** Reads a chunked body into `body`, within its time. */
export async function readChunked(reader: ConnReader, body: Body, times: BodyTimes): Promise<void> {
  const start = times.clock.now();
  const decoder = new ChunkedDecoder();
  const append = (part: Uint8Array) => body.append(part);
  for (;;) {
    if (reader.buffered > 0) reader.take(decoder.feed(reader.view, append));
    if (decoder.done) return;
    if (!await reader.fill(bodyDeadline(times, start, body.length))) throw new Timeout();
  }
}
