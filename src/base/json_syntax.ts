/**
 * Whether bytes are one JSON text (RFC 8259), told without building its values: a body of five
 * million empty objects is checked in one pass over its bytes, with no object made for any. The
 * nesting is followed on a stack of one byte a level, so no depth exhausts the call stack.
 * Strings are checked for their escapes and control characters; their other bytes are taken as
 * they are (UTF-8 is for the reader of each value to check).
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OBJECT = 1;
const ARRAY = 2;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Where the string that starts at `at` (its quote) ends (after its closing quote), or -1. */
function stringEnd(b: Uint8Array, at: number, end: number): number {
  for (let i = at + 1; i < end; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = b[++i];
      if (e === 0x75) { // \uXXXX
        if (i + 4 >= end) return -1;
        for (let k = 1; k <= 4; k++) if (!isHex(b[i + k]!)) return -1;
        i += 4;
      } else if (
        e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 &&
        e !== 0x6e && e !== 0x72 && e !== 0x74
      ) return -1;
    }
  }
  return -1;
}

/** Where the number that starts at `at` ends, or -1. */
function numberEnd(b: Uint8Array, at: number, end: number): number {
  let i = at;
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (i < end && b[i]! >= 0x31 && b[i]! <= 0x39) { while (i < end && isDigit(b[i]!)) i++; }
  else return -1;
  if (b[i] === 0x2e) {
    i++;
    if (!(i < end && isDigit(b[i]!))) return -1;
    while (i < end && isDigit(b[i]!)) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!(i < end && isDigit(b[i]!))) return -1;
    while (i < end && isDigit(b[i]!)) i++;
  }
  return i;
}

/** Where the literal `word` at `at` ends, or -1. */
function literalEnd(b: Uint8Array, at: number, end: number, word: string): number {
  if (at + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word.charCodeAt(k)) return -1;
  return at + word.length;
}

/** Where a key that starts at `at` (its quote) and its colon end, or -1. */
function keyEnd(b: Uint8Array, at: number, end: number): number {
  if (b[at] !== QUOTE) return -1;
  let i = stringEnd(b, at, end);
  if (i < 0) return -1;
  while (i < end && isSpace(b[i]!)) i++;
  return b[i] === 0x3a ? i + 1 : -1;
}

/**
 * Whether `bytes` from `start` to `end` are one JSON value, with whitespace around it allowed.
 *
 * @example
 * ```ts
 * import { isJsonText } from "./json_syntax.ts";
 * const enc = new TextEncoder();
 * isJsonText(enc.encode('[{"a":1}, {}]')); // true
 * isJsonText(enc.encode('{"a":1} {"b":2}')); // false
 * ```
 */
export function isJsonText(bytes: Uint8Array, start = 0, end: number = bytes.length): boolean {
  const b = bytes;
  let stack = new Uint8Array(64);
  let depth = 0;
  let i = start;
  let wantValue = true;
  for (;;) {
    while (i < end && isSpace(b[i]!)) i++;
    if (wantValue) {
      if (i >= end) return false;
      const c = b[i]!;
      if (c === 0x7b || c === 0x5b) {
        if (depth === stack.length) {
          const bigger = new Uint8Array(stack.length * 2);
          bigger.set(stack);
          stack = bigger;
        }
        stack[depth++] = c === 0x7b ? OBJECT : ARRAY;
        i++;
        while (i < end && isSpace(b[i]!)) i++;
        if (b[i] === c + 2) { // the matching `}` or `]`
          i++;
          depth--;
          wantValue = false;
        } else if (c === 0x7b) {
          i = keyEnd(b, i, end);
          if (i < 0) return false;
        }
        continue;
      }
      if (c === QUOTE) i = stringEnd(b, i, end);
      else if (c === 0x2d || isDigit(c)) i = numberEnd(b, i, end);
      else if (c === 0x74) i = literalEnd(b, i, end, "true");
      else if (c === 0x66) i = literalEnd(b, i, end, "false");
      else if (c === 0x6e) i = literalEnd(b, i, end, "null");
      else return false;
      if (i < 0) return false;
      wantValue = false;
      continue;
    }
    // After a value: the end of the text, a comma, or the close of its container.
    if (depth === 0) return i === end;
    if (i >= end) return false;
    const c = b[i]!;
    const inObject = stack[depth - 1] === OBJECT;
    if (c === 0x2c) {
      i = inObject ? keyEnd(b, i + 1 + spaces(b, i + 1, end), end) : i + 1;
      if (i < 0) return false;
      wantValue = true;
    } else if (c === (inObject ? 0x7d : 0x5d)) {
      i++;
      depth--;
    } else {
      return false;
    }
  }
}

/** How many whitespace bytes start at `at`. */
function spaces(b: Uint8Array, at: number, end: number): number {
  let i = at;
  while (i < end && isSpace(b[i]!)) i++;
  return i - at;
}
