/**
 * The quick hit check: one regular expression, compiled by V8 to native code, that matches a hit
 * exactly as the node writes it (its fields in its order, compact, an IPv4 address, flat tags) and
 * only lines that {@linkcode checkLine} accepts. It builds no objects, which makes it about three
 * times as fast as `JSON.parse` alone. A line it does not match is not rejected: it goes the usual
 * way (`JSON.parse` and the checks, or `checkLine`). A differential test over generated and
 * damaged lines holds it to accept nothing that `checkLine` rejects.
 *
 * @module
 */

/** A JSON string's content: plain characters (no quote, backslash or control) and escapes. */
const S = String.raw`(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*`;
/** A key of `tags`, without escapes: its text is its value, so repeats show as equal text. */
const K = String.raw`[^"\\\x00-\x1f]*`;
/** A safe integer: at most 15 digits. */
const INT = String.raw`-?(?:0|[1-9]\d{0,14})`;
/** A finite number: at most 15 integer digits and a two-digit exponent. */
const NUM = String.raw`-?(?:0|[1-9]\d{0,14})(?:\.\d+)?(?:[eE][+-]?\d{1,2})?`;
const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;
const IPV4 = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
const POINT0 = `(?:"${S}"|${NUM})`;
const POINT = `(?:"${S}"|${NUM}|\\[(?:${POINT0}(?:,${POINT0})*)?\\])`;
const SCALAR = `(?:"${S}"|${NUM}|true|false|null)`;
const str = (field: string) => `"${field}":"${S}"`;

const HIT = new RegExp(
  "^\\{" + [
    `"time":(?:"\\d+"|(?:0|[1-9]\\d{0,14}))`,
    str("request_id"),
    `"ip":"${IPV4}"`,
    str("datacenter"),
    str("tor"),
    `"remote_country":(?:"${S}"|null)`,
    `"application_id":\\[(?:${INT}(?:,${INT})*)?\\]`,
    str("domain"),
    str("method"),
    str("uri"),
    str("protocol"),
    `"status_code":${INT}`,
    str("attack_type"),
    str("block_status"),
    `"payload":\\[(?:"${S}"(?:,"${S}")*)?\\]`,
    `"point":\\[(?:${POINT}(?:,${POINT})*)?\\]`,
    `"tags":\\{(?:"${K}":${SCALAR}(?:,"${K}":${SCALAR})*)?\\}`,
  ].join(",") + "\\}$",
);
/** One `"key":value` pair of the tags, after their `{` or a comma. */
const TAG = new RegExp(`[{,]"(${K})":${SCALAR}`, "y");

/**
 * True only for a line (without its terminator) that is a valid hit, written the way the node
 * writes one; false says nothing (the line goes the usual way).
 *
 * @example
 * ```ts
 * import { quickHit } from "./scan.ts";
 * quickHit('{"time":"1"}'); // false: not the node's whole hit; checkLine decides
 * ```
 */
export function quickHit(line: string): boolean {
  if (!HIT.test(line)) return false;
  // The tags are the last field: `"tags":{...}}`. Several of them: each key once.
  const open = line.lastIndexOf('"tags":{') + 7;
  const first = line.indexOf('":', open);
  if (line.indexOf('":', first + 2) < 0) return true; // one key or none
  const keys: string[] = [];
  TAG.lastIndex = open;
  for (let m = TAG.exec(line); m; m = TAG.exec(line)) {
    if (keys.includes(m[1]!)) return false;
    keys.push(m[1]!);
  }
  return true;
}
