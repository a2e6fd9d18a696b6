/**
 * `JSON.parse`, made right for keys that end in an escape (see {@linkcode parseJson}), and the
 * count of keys it gave, by which hit checks tell a key written twice.
 *
 * @module
 */

const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** How many keys a parsed JSON value holds, in every object at every depth; -1 when one holds `\`. */
export function countKeys(value: object, backslashes: boolean): number {
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) {
      if (item !== null && typeof item === "object") {
        const inner = countKeys(item, backslashes);
        if (inner < 0) return -1;
        n += inner;
      }
    }
    return n;
  }
  // for...in: JSON.parse's objects have no enumerable inherited keys, and it is the fastest walk.
  for (const key in value) {
    if (backslashes && key.includes("\\")) return -1;
    n++;
    const item = (value as Record<string, unknown>)[key];
    if (item !== null && typeof item === "object") {
      const inner = countKeys(item, backslashes);
      if (inner < 0) return -1;
      n += inner;
    }
  }
  return n;
}

/**
 * Parses valid JSON `text` without `JSON.parse`'s object fast path (see {@linkcode parseJson});
 * strings and numbers still go through `JSON.parse`, one token at a time.
 */
function parseExact(text: string): unknown {
  let at = 0;
  const space = () => {
    for (let c = text.charCodeAt(at); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;) {
      c = text.charCodeAt(++at);
    }
  };
  const value = (): unknown => {
    space();
    const c = text.charCodeAt(at);
    if (c === QUOTE) {
      let end = at + 1;
      for (; text.charCodeAt(end) !== QUOTE; end++) if (text.charCodeAt(end) === BACKSLASH) end++;
      const string = JSON.parse(text.slice(at, end + 1)) as string;
      at = end + 1;
      return string;
    }
    if (c === OPEN_BRACE) {
      at++;
      const object: Record<string, unknown> = {};
      space();
      if (text.charCodeAt(at) === CLOSE_BRACE) {
        at++;
        return object;
      }
      for (;;) {
        space();
        const key = value() as string;
        space();
        at++; // :
        // An own property, whatever the key (`__proto__` too), as JSON.parse makes it.
        Object.defineProperty(object, key, {
          value: value(),
          writable: true,
          enumerable: true,
          configurable: true,
        });
        space();
        if (text.charCodeAt(at++) === CLOSE_BRACE) return object;
      }
    }
    if (c === OPEN_BRACKET) {
      at++;
      const array: unknown[] = [];
      space();
      if (text.charCodeAt(at) === CLOSE_BRACKET) {
        at++;
        return array;
      }
      for (;;) {
        array.push(value());
        space();
        if (text.charCodeAt(at++) === CLOSE_BRACKET) return array;
      }
    }
    let end = at;
    while (end < text.length && !/[\s,\]}]/.test(text[end]!)) end++;
    const scalar = JSON.parse(text.slice(at, end));
    at = end;
    return scalar;
  };
  return value();
}

/**
 * `JSON.parse`, made right for keys that end in an escape. V8's `JSON.parse` (Deno 2.9.6, V8
 * 15.0) mis-reads such a key in a place where it has read a key ending in a backslash before:
 * after `{"a":1,"\\":2}`, `{"a":1,"\u0062":2}` gives the keys `a` and `\`. Every such wrong result
 * holds a key with a backslash, which the node never writes: only then is the text parsed again,
 * without the object fast path.
 *
 * @example
 * ```ts
 * import { parseJson } from "./hit.ts";
 * parseJson('{"a":1,"\\\\":2}');
 * parseJson('{"a":1,"\\u0062":2}'); // { a: 1, b: 2 }
 * ```
 */
export function parseJson(text: string): unknown {
  const value = JSON.parse(text);
  if (
    typeof value === "object" && value !== null && text.includes("\\") && countKeys(value, true) < 0
  ) {
    return parseExact(text);
  }
  return value;
}
