/**
 * The hit: one detected malicious request, as the WAF node writes it, one JSON object per line.
 *
 * hitship validates each line against {@linkcode hitSchema} and then ships the line exactly as it
 * was read: no field is renamed, reordered or re-typed.
 *
 * @module
 */
import { isIP } from "node:net";
import { z } from "zod";
import { describeIssue, formatPath } from "../base/zod_issue.ts";
import { countKeys, parseJson } from "../base/json.ts";

export { parseJson } from "../base/json.ts";

const DIGITS = /^\d+$/;

/** A `point` item: a string, a number, or a nested array of those. */
export type PointItem = string | number | PointItem[];

const pointItem: z.ZodType<PointItem> = z.lazy(() =>
  z.union([z.string(), z.number(), z.array(pointItem)])
);

const integer = (): z.ZodInt => z.int({ error: "expected an integer" });

/** A validated hit, in the node's export format. Extra fields the node adds are kept as they are. */
export interface Hit {
  /** Unix seconds: a string of digits, as the node writes it, or an integer. */
  time: string | number;
  request_id: string;
  /** The client's IPv4 or IPv6 address. */
  ip: string;
  datacenter: string;
  tor: string;
  remote_country: string | null;
  application_id: number[];
  domain: string;
  method: string;
  uri: string;
  protocol: string;
  status_code: number;
  attack_type: string;
  block_status: string;
  payload: string[];
  point: PointItem[];
  tags: Record<string, unknown>;
  /** Fields the node adds, kept. */
  [field: string]: unknown;
}

/**
 * The zod schema of a hit, from the node's export format. Unknown extra fields are kept.
 */
export const hitSchema: z.ZodType<Hit> = z.looseObject({
  time: z.custom<string | number>(
    (v) =>
      (typeof v === "string" && DIGITS.test(v)) ||
      (typeof v === "number" && Number.isInteger(v) && v >= 0),
    { error: "expected Unix seconds (a string of digits or an integer)" },
  ),
  request_id: z.string(),
  ip: z.custom<string>(
    (v) => typeof v === "string" && isIP(v) !== 0,
    { error: "expected an IPv4 or IPv6 address" },
  ),
  datacenter: z.string(),
  tor: z.string(),
  remote_country: z.string({ error: "expected a string or null" }).nullable(),
  application_id: z.array(integer()),
  domain: z.string(),
  method: z.string(),
  uri: z.string(),
  protocol: z.string(),
  status_code: integer(),
  attack_type: z.string(),
  block_status: z.string(),
  payload: z.array(z.string()),
  point: z.array(pointItem),
  tags: z.record(z.string(), z.unknown()),
});

const isString = (v: unknown): v is string => typeof v === "string";

function isIpFast(v: unknown): boolean {
  if (typeof v !== "string") return false;
  // Dotted quads are most hits: check them without a regular expression.
  let parts = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++parts > 3) return isIP(v) !== 0;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if ((digits > 0 && value === 0) || ++digits > 3) return isIP(v) !== 0;
      value = value * 10 + c - 48;
      if (value > 255) return false;
    } else {
      return isIP(v) !== 0;
    }
  }
  return parts === 3 && digits > 0 ? true : isIP(v) !== 0;
}

function isIntArray(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (const item of v) if (!Number.isSafeInteger(item)) return false;
  return true;
}

/** `point` nests arrays; the depth is bounded, so a hostile line cannot exhaust the stack. */
function isPoint(v: unknown, depth = 2): boolean {
  if (!Array.isArray(v) || depth > MAX_DEPTH) return false;
  for (const item of v) {
    if (typeof item === "string") continue;
    if (typeof item === "number") {
      if (!Number.isFinite(item)) return false;
      continue;
    }
    if (!isPoint(item, depth + 1)) return false;
  }
  return true;
}

/**
 * How deep a hit's JSON may nest: objects and arrays, the hit itself counting as one level. A
 * deeper line is rejected before it is parsed.
 */
export const MAX_DEPTH = 64;

const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether JSON text nests objects and arrays deeper than `max` levels. A text with at most `max`
 * opening brackets cannot, which a few `indexOf` calls tell; only a text with more is scanned,
 * skipping strings. The text need not be valid JSON.
 *
 * @example
 * ```ts
 * import { nestsDeeperThan } from "./hit.ts";
 * nestsDeeperThan("[[[]]]", 2); // true
 * nestsDeeperThan('{"a":"[[[["}', 1); // false
 * ```
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let openers = 0;
  for (let i = text.indexOf("["); i >= 0 && openers <= max; i = text.indexOf("[", i + 1)) {
    openers++;
  }
  for (let i = text.indexOf("{"); i >= 0 && openers <= max; i = text.indexOf("{", i + 1)) {
    openers++;
  }
  if (openers <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
  }
  return false;
}

const COLON = 0x3a;

/** Whether the character before `i` is not an escape: an even run of backslashes. */
function unescaped(text: string, i: number): boolean {
  let k = i - 1;
  while (text.charCodeAt(k) === BACKSLASH) k--;
  return (i - 1 - k) % 2 === 0;
}

/**
 * An upper bound of the keys in JSON text: every `:` right after a string's closing quote (and
 * whitespace). A key is always counted; a string value that begins with a colon is counted too,
 * which only sends the line to the exact scan.
 */
function keySeparators(text: string): number {
  let n = 0;
  for (let i = text.indexOf(":"); i >= 0; i = text.indexOf(":", i + 1)) {
    let j = i - 1;
    let c = text.charCodeAt(j);
    while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) c = text.charCodeAt(--j);
    if (c === QUOTE && (text.charCodeAt(j - 1) !== BACKSLASH || unescaped(text, j))) n++;
  }
  return n;
}

/**
 * Whether the keys of JSON `text` can be taken as `JSON.parse` gave them in `value`: no key holds
 * a backslash, and no key appears twice in one object. False sends a line to the slow path, which
 * says why ({@linkcode duplicateKey}) or parses it again ({@linkcode parseJson}).
 */
export function keysAreSound(text: string, value: object): boolean {
  const keys = countKeys(value, text.includes("\\"));
  return keys >= 0 && keySeparators(text) <= keys;
}

/** The path of the first key that appears twice in one object of valid JSON text, or undefined. */
function firstDuplicate(text: string): PropertyKey[] | undefined {
  // One frame per open object or array: the keys seen (objects), the index (arrays).
  const stack: Array<{ keys?: Set<string>; index: number; key?: PropertyKey }> = [];
  let pendingKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = i + 1;
      for (; text.charCodeAt(end) !== QUOTE; end++) if (text.charCodeAt(end) === BACKSLASH) end++;
      const top = stack.at(-1);
      let after = end + 1;
      while (/\s/.test(text[after] ?? "")) after++;
      if (top?.keys && text.charCodeAt(after) === COLON) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) return [...stack.slice(1).map((f) => f.key!), key];
        top.keys.add(key);
        pendingKey = key;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const parent = stack.at(-1);
      const key = parent?.keys ? pendingKey : parent?.index;
      stack.push(c === OPEN_BRACE ? { keys: new Set(), index: 0, key } : { index: 0, key });
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
    } else if (c === 0x2c) { // ,
      const top = stack.at(-1);
      if (top && !top.keys) top.index++;
    }
  }
  return undefined;
}

/**
 * The first key that appears twice in one object of JSON `text`, given `value`, what
 * {@linkcode parseJson} made of it (which keeps only the last of each): readers that keep the first
 * and readers that keep the last would see different hits. The reason, with the key's path, or
 * undefined. Cheap when no key repeats: the keys of `value` against the key separators of `text`.
 *
 * @example
 * ```ts
 * import { duplicateKey } from "./hit.ts";
 * const text = '{"status_code":"abc","status_code":499}';
 * duplicateKey(text, JSON.parse(text)); // "status_code: appears twice in one object"
 * ```
 */
export function duplicateKey(text: string, value: unknown): string | undefined {
  const keys = value !== null && typeof value === "object" ? countKeys(value, false) : 0;
  if (keySeparators(text) <= keys) return undefined;
  const path = firstDuplicate(text);
  return path && `${formatPath(path)}: appears twice in one object`;
}

/** An escaped UTF-16 surrogate: `\uD800` to `\uDFFF`. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
/** A number written with a three-digit exponent or 309 digits: it may pass a double's range. */
const LARGE_NUMBER = /[eE][+-]?\d{3}|\d{309}/;

/**
 * Why JSON `text`, parsed as `value`, is not I-JSON (RFC 7493), or undefined: a string (a key
 * too) holding a lone surrogate (written as an escape: as UTF-8 bytes it is not valid UTF-8), or a
 * number beyond a double's range (`1e400`, which `JSON.parse` makes `Infinity`). Readers differ on
 * both: one replaces the surrogate, another fails; one keeps `1e400`, another writes `null`. Only
 * a text that shows one of them is walked.
 *
 * @example
 * ```ts
 * import { notIJson } from "./hit.ts";
 * const text = '{"tags":{"n":1e400}}';
 * notIJson(text, JSON.parse(text)); // "tags.n: a number beyond the range of a double ..."
 * ```
 */
export function notIJson(text: string, value: unknown): string | undefined {
  const surrogates = text.includes("\\") && SURROGATE_ESCAPE.test(text);
  const large = LARGE_NUMBER.test(text);
  if (!surrogates && !large) return undefined;
  const path: PropertyKey[] = [];
  const walk = (v: unknown): string | undefined => {
    if (typeof v === "string") {
      return v.isWellFormed() ? undefined : "a string holds a lone UTF-16 surrogate";
    }
    if (typeof v === "number") {
      return Number.isFinite(v) ? undefined : "a number beyond the range of a double";
    }
    if (v === null || typeof v !== "object") return undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const why = walk(v[i]);
        if (why) return why;
        path.pop();
      }
      return undefined;
    }
    for (const key in v) {
      if (!key.isWellFormed()) return "a key holds a lone UTF-16 surrogate";
      path.push(key);
      const why = walk((v as Record<string, unknown>)[key]);
      if (why) return why;
      path.pop();
    }
    return undefined;
  };
  const why = walk(value);
  return why && `${formatPath(path) || "the hit"}: ${why} (not I-JSON, RFC 7493)`;
}

/**
 * The hit schema's checks, written out by hand for speed: true only for what
 * {@linkcode hitSchema} accepts (a property test holds them together). When it says false, the
 * zod schema gives the reason.
 */
export function isValidHit(h: Record<string, unknown>): boolean {
  const time = h.time;
  if (typeof time === "string") {
    if (!DIGITS.test(time)) return false;
  } else if (!(typeof time === "number" && Number.isInteger(time) && time >= 0)) return false;
  if (
    !isString(h.request_id) || !isIpFast(h.ip) || !isString(h.datacenter) || !isString(h.tor) ||
    !(h.remote_country === null || isString(h.remote_country)) || !isIntArray(h.application_id) ||
    !isString(h.domain) || !isString(h.method) || !isString(h.uri) || !isString(h.protocol) ||
    !Number.isSafeInteger(h.status_code) || !isString(h.attack_type) ||
    !isString(h.block_status)
  ) return false;
  const payload = h.payload;
  if (!Array.isArray(payload)) return false;
  for (const p of payload) if (typeof p !== "string") return false;
  if (!isPoint(h.point)) return false;
  const tags = h.tags;
  return tags !== null && typeof tags === "object" && !Array.isArray(tags);
}

/** The outcome of checking one line. */
export type LineCheck =
  | { ok: true; hit: Hit }
  | { ok: false; reason: string };

/**
 * Checks one line of the node's hit stream (without its line terminator).
 *
 * @param explain Word the reason of a line that only the zod schema rejects (false: an empty
 * reason, for a line that is only counted).
 * @returns The parsed hit, or the reason the line is rejected: the path of the first bad field and
 * what was expected (`status_code: expected an integer, got "abc"`).
 *
 * @example
 * ```ts
 * import { checkLine } from "./hit.ts";
 * const result = checkLine('{"time": "abc"}');
 * if (!result.ok) console.log(result.reason);
 * ```
 */
export function checkLine(line: string, explain = true): LineCheck {
  try {
    return check(line, explain);
  } catch (error) {
    // Whatever goes wrong with one line is that line's rejection, never the process's.
    return { ok: false, reason: `cannot check the line: ${(error as Error)?.message ?? error}` };
  }
}

function check(line: string, explain: boolean): LineCheck {
  if (nestsDeeperThan(line, MAX_DEPTH)) {
    return { ok: false, reason: `nests deeper than ${MAX_DEPTH} levels of objects and arrays` };
  }
  let value: unknown;
  try {
    value = parseJson(line);
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = Array.isArray(value) ? "an array" : value === null ? "null" : typeof value;
    return { ok: false, reason: `expected a JSON object, got ${kind}` };
  }
  const twice = duplicateKey(line, value);
  if (twice) return { ok: false, reason: twice };
  const unsafe = notIJson(line, value);
  if (unsafe) return { ok: false, reason: unsafe };
  if (isValidHit(value as Record<string, unknown>)) return { ok: true, hit: value as Hit };
  if (!explain) return { ok: false, reason: "" };
  const result = hitSchema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, hit: value as Hit };
  const issue = result.error.issues[0]!;
  return { ok: false, reason: `${formatPath(issue.path)}: ${describeIssue(issue)}` };
}
