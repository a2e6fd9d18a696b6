/**
 * The msgpack the `forward` input reads, without building objects: where a message ends in a
 * stream of bytes ({@link MessageFramer}), and a record written straight out as JSON text
 * ({@link JsonWriter}), keys in their order, `__proto__` a key like any other, 64-bit integers
 * with all their digits.
 *
 * @module
 */

/** The msgpack cannot be read: a byte no value starts with, a value cut short, nesting too deep. */
export class MsgpackError extends Error {}

// What a value's first bytes say: its kind, the length of its head, and its size (data bytes for
// numbers, strings, binaries and extensions; items for arrays, pairs for maps).
const FIXINT = 0;
const NIL = 1;
const FALSE = 2;
const TRUE = 3;
const UINT = 4;
const SINT = 5;
const FLOAT = 6;
const STR = 7;
const BIN = 8;
const ARRAY = 9;
const MAP = 10;
const EXT = 11;

let kind = 0;
let head = 0;
let size = 0;

/** Reads the head of the value at `at` into kind, head and size; false when it runs past `end`. */
function readHead(b: Uint8Array, at: number, end: number): boolean {
  const t = b[at];
  head = 1;
  if (t < 0x80 || t >= 0xe0) {
    kind = FIXINT;
    size = 0;
  } else if (t < 0x90) {
    kind = MAP;
    size = t & 0x0f;
  } else if (t < 0xa0) {
    kind = ARRAY;
    size = t & 0x0f;
  } else if (t < 0xc0) {
    kind = STR;
    size = t & 0x1f;
  } else {
    return readTypedHead(b, at, end, t);
  }
  return true;
}

/** The head of a value whose first byte `t` names its type (0xc0 to 0xdf). */
function readTypedHead(b: Uint8Array, at: number, end: number, t: number): boolean {
  if (t >= 0xca && t <= 0xd3) {
    // Numbers: their size follows from the type.
    kind = t <= 0xcb ? FLOAT : t <= 0xcf ? UINT : SINT;
    size = t <= 0xcb ? (t === 0xca ? 4 : 8) : 1 << ((t - 0xcc) & 3);
    return true;
  }
  switch (t) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      kind = t === 0xc0 ? NIL : t === 0xc2 ? FALSE : TRUE;
      size = 0;
      return true;
    case 0xc4:
    case 0xc5:
    case 0xc6:
      kind = BIN;
      return readLength(b, at, end, 1 << (t - 0xc4), 0);
    case 0xc7:
    case 0xc8:
    case 0xc9:
      kind = EXT;
      return readLength(b, at, end, 1 << (t - 0xc7), 1);
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
      kind = EXT;
      head = 2;
      size = 1 << (t - 0xd4);
      return true;
    case 0xd9:
    case 0xda:
    case 0xdb:
      kind = STR;
      return readLength(b, at, end, 1 << (t - 0xd9), 0);
    case 0xdc:
    case 0xdd:
      kind = ARRAY;
      return readLength(b, at, end, t === 0xdc ? 2 : 4, 0);
    case 0xde:
    case 0xdf:
      kind = MAP;
      return readLength(b, at, end, t === 0xde ? 2 : 4, 0);
    default:
      throw new MsgpackError(`0x${t.toString(16)} at byte ${at} starts no msgpack value`);
  }
}

/** Reads a big-endian length of `bytes` bytes after the type byte; `extra` bytes follow it. */
function readLength(b: Uint8Array, at: number, end: number, bytes: number, extra: number) {
  head = 1 + bytes + extra;
  if (at + head > end) return false;
  size = bytes === 1
    ? b[at + 1]
    : bytes === 2
    ? (b[at + 1] << 8) | b[at + 2]
    : ((b[at + 1] << 24) | (b[at + 2] << 16) | (b[at + 3] << 8) | b[at + 4]) >>> 0;
  return true;
}

/** Bytes a value of the current kind has after its head (0 for arrays and maps). */
function dataBytes(): number {
  return kind === ARRAY || kind === MAP ? 0 : size;
}

/**
 * Finds where the first msgpack value of a growing buffer ends, picking up where the last look
 * stopped, so a large message read in many pieces is walked once. Nothing is decoded.
 */
export class MessageFramer {
  readonly #maxDepth: number;
  #at = 0;
  #remaining = 1;
  #stack: number[] = [];

  /** @param maxDepth Arrays and maps inside one another a message may have. */
  constructor(maxDepth: number) {
    this.#maxDepth = maxDepth;
  }

  /**
   * @param bytes The buffer, a message starting at 0.
   * @param length Bytes of it read so far (the same first bytes as on the last call).
   * @returns The end of the message, or -1 while it is incomplete.
   * @throws {MsgpackError} When the bytes are no msgpack or nest too deep.
   */
  end(bytes: Uint8Array, length: number): number {
    let at = this.#at;
    let remaining = this.#remaining;
    const stack = this.#stack;
    for (;;) {
      if (remaining === 0) {
        if (stack.length === 0) {
          this.#at = 0;
          this.#remaining = 1;
          return at;
        }
        remaining = stack.pop()!;
        continue;
      }
      if (at >= length || !readHead(bytes, at, length)) break;
      const next = at + head + dataBytes();
      if (next > length) break;
      at = next;
      remaining--;
      const items = kind === ARRAY ? size : kind === MAP ? size * 2 : 0;
      if (items > 0) {
        if (stack.length >= this.#maxDepth) {
          throw new MsgpackError(`a message nests deeper than ${this.#maxDepth} levels`);
        }
        stack.push(remaining);
        remaining = items;
      }
    }
    this.#at = at;
    this.#remaining = remaining;
    return -1;
  }
}

/** Where the next value starts after the one at `at`, within `end`. */
export function skip(b: Uint8Array, at: number, end: number): number {
  let remaining = 1;
  while (remaining > 0) {
    if (at >= end || !readHead(b, at, end)) throw new MsgpackError("a value is cut short");
    at += head + dataBytes();
    remaining += (kind === ARRAY ? size : kind === MAP ? size * 2 : 0) - 1;
  }
  if (at > end) throw new MsgpackError("a value is cut short");
  return at;
}

/** What the value at `at` is, for reading a message's frame. */
export type ValueKind = "int" | "float" | "str" | "bin" | "array" | "map" | "ext" | "other";

const KIND_NAMES: ValueKind[] = [
  "int",
  "other",
  "other",
  "other",
  "int",
  "int",
  "float",
  "str",
  "bin",
  "array",
  "map",
  "ext",
];

/** The kind of the value at `at`, the length of its head, and its size (bytes or items). */
export function peek(
  b: Uint8Array,
  at: number,
  end: number,
): { kind: ValueKind; head: number; size: number; type: number } {
  if (at >= end || !readHead(b, at, end)) throw new MsgpackError("a value is cut short");
  return { kind: KIND_NAMES[kind], head, size, type: kind === EXT ? b[at + head - 1] : -1 };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = "0123456789abcdef";
const textDecoder = new TextDecoder();

/** JSON text written from msgpack values into one growing buffer. */
export class JsonWriter {
  #out = new Uint8Array(64 * 1024);
  #length = 0;
  readonly #maxDepth: number;
  #view = new DataView(new ArrayBuffer(8));

  /** @param maxDepth Arrays and maps inside one another a record may have. */
  constructor(maxDepth: number) {
    this.#maxDepth = maxDepth;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /** What was written (a view: valid until the next write or reset). */
  bytes(): Uint8Array {
    return this.#out.subarray(0, this.#length);
  }

  /** Starts over. */
  reset(): void {
    this.#length = 0;
    if (this.#out.length > 1024 * 1024) this.#out = new Uint8Array(64 * 1024);
  }

  /** Goes back to `length` bytes (to take back a record that could not be written). */
  truncate(length: number): void {
    this.#length = length;
  }

  #room(n: number): void {
    if (this.#length + n <= this.#out.length) return;
    let capacity = this.#out.length * 2;
    while (capacity < this.#length + n) capacity *= 2;
    const bigger = new Uint8Array(capacity);
    bigger.set(this.#out.subarray(0, this.#length));
    this.#out = bigger;
  }

  /** Appends one byte. */
  byte(c: number): void {
    this.#room(1);
    this.#out[this.#length++] = c;
  }

  /** Appends ASCII text. */
  ascii(text: string): void {
    this.#room(text.length);
    for (let i = 0; i < text.length; i++) this.#out[this.#length++] = text.charCodeAt(i);
  }

  /** Appends UTF-8 bytes as a JSON string: quotes, backslashes and control characters escaped. */
  string(b: Uint8Array, start: number, end: number): void {
    this.#room(end - start + 2);
    let out = this.#out;
    let o = this.#length;
    out[o++] = QUOTE;
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c >= 0x20 && c !== QUOTE && c !== BACKSLASH) {
        out[o++] = c;
        continue;
      }
      this.#length = o;
      this.#escape(c);
      this.#room(end - i + 1);
      out = this.#out;
      o = this.#length;
    }
    out[o++] = QUOTE;
    this.#length = o;
  }

  #escape(c: number): void {
    const short = c === QUOTE
      ? '\\"'
      : c === BACKSLASH
      ? "\\\\"
      : c === 0x0a
      ? "\\n"
      : c === 0x0d
      ? "\\r"
      : c === 0x09
      ? "\\t"
      : c === 0x08
      ? "\\b"
      : c === 0x0c
      ? "\\f"
      : `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
    this.ascii(short);
  }

  /**
   * Writes the msgpack value at `at` as JSON: strings and binaries as strings, maps as objects
   * (keys that are not strings as their JSON text), an EventTime as seconds with its nanoseconds
   * exactly (`1687247390.999999999`), other extensions as null; a float that is not finite makes
   * the record unusable (JSON has none).
   *
   * @returns Where the next value starts.
   * @throws {MsgpackError} When the value is cut short, is no msgpack, or nests too deep.
   */
  value(b: Uint8Array, at: number, end: number, depth = 0): number {
    if (at >= end || !readHead(b, at, end)) throw new MsgpackError("a value is cut short");
    const t = b[at];
    const k = kind;
    const n = size;
    const start = at + head;
    const next = start + dataBytes();
    if (next > end) throw new MsgpackError("a value is cut short");
    switch (k) {
      case FIXINT:
        this.#number(t < 0x80 ? t : t - 256);
        return next;
      case NIL:
        this.ascii("null");
        return next;
      case FALSE:
        this.ascii("false");
        return next;
      case TRUE:
        this.ascii("true");
        return next;
      case UINT:
      case SINT:
      case FLOAT:
        this.#scalar(b, start, k, n);
        return next;
      case STR:
      case BIN:
        this.string(b, start, next);
        return next;
      case EXT:
        if (b[start - 1] === 0 && n === 8) {
          // Seconds and nanoseconds, written exactly: as a double they would round.
          const seconds = this.#read(b, start, 4).getUint32(0);
          const nanos = this.#read(b, start + 4, 4).getUint32(0);
          if (nanos > 999_999_999) throw new MsgpackError("an EventTime with more than 1e9 ns");
          let text = String(seconds);
          if (nanos > 0) text += "." + String(nanos).padStart(9, "0").replace(/0+$/, "");
          this.ascii(text);
        } else {
          this.ascii("null");
        }
        return next;
    }
    if (depth >= this.#maxDepth) {
      throw new MsgpackError(`a record nests deeper than ${this.#maxDepth} levels`);
    }
    if (k === ARRAY) {
      this.byte(0x5b);
      let p = start;
      for (let i = 0; i < n; i++) {
        if (i > 0) this.byte(0x2c);
        p = this.value(b, p, end, depth + 1);
      }
      this.byte(0x5d);
      return p;
    }
    this.byte(0x7b);
    let p = start;
    for (let i = 0; i < n; i++) {
      if (i > 0) this.byte(0x2c);
      p = this.#key(b, p, end);
      this.byte(0x3a);
      p = this.value(b, p, end, depth + 1);
    }
    this.byte(0x7d);
    return p;
  }

  /** A map key: a string as it is, anything else as a string of its JSON text. */
  #key(b: Uint8Array, at: number, end: number): number {
    if (at < end && readHead(b, at, end) && (kind === STR || kind === BIN)) {
      const start = at + head;
      if (start + size > end) throw new MsgpackError("a value is cut short");
      this.string(b, start, start + size);
      return start + size;
    }
    const from = this.#length;
    const next = this.value(b, at, end, this.#maxDepth - 1);
    const text = textDecoder.decode(this.#out.subarray(from, this.#length));
    this.#length = from;
    const quoted = new TextEncoder().encode(JSON.stringify(text));
    this.#room(quoted.length);
    this.#out.set(quoted, this.#length);
    this.#length += quoted.length;
    return next;
  }

  #read(b: Uint8Array, at: number, bytes: number): DataView {
    for (let i = 0; i < bytes; i++) this.#view.setUint8(i, b[at + i]);
    return this.#view;
  }

  #scalar(b: Uint8Array, at: number, k: number, bytes: number): void {
    const v = this.#read(b, at, bytes);
    if (k === FLOAT) {
      const x = bytes === 4 ? v.getFloat32(0) : v.getFloat64(0);
      // JSON has no NaN or Infinity; writing null instead would change the hit.
      if (!Number.isFinite(x)) throw new MsgpackError(`a float that is not finite (${x})`);
      this.ascii(String(x));
      return;
    }
    if (bytes === 8) {
      this.ascii(String(k === UINT ? v.getBigUint64(0) : v.getBigInt64(0)));
      return;
    }
    this.#number(
      k === UINT
        ? (bytes === 1 ? v.getUint8(0) : bytes === 2 ? v.getUint16(0) : v.getUint32(0))
        : (bytes === 1 ? v.getInt8(0) : bytes === 2 ? v.getInt16(0) : v.getInt32(0)),
    );
  }

  #number(x: number): void {
    if (x >= 0 && x < 10 && Number.isInteger(x)) this.byte(0x30 + x);
    else this.ascii(String(x));
  }
}
