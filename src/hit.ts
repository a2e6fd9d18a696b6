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
import { describeIssue, formatPath } from "./issue.ts";

const DIGITS = /^\d+$/;

/** A `point` item: a string, a number, or a nested array of those. */
export type PointItem = string | number | PointItem[];

const pointItem: z.ZodType<PointItem> = z.lazy(() =>
  z.union([z.string(), z.number(), z.array(pointItem)])
);

const integer = () => z.int({ error: "expected an integer" });

/**
 * The zod schema of a hit, from the node's export format. Unknown extra fields are kept.
 */
export const hitSchema = z.looseObject({
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

/** A validated hit. Extra fields the node adds are kept as they are. */
export type Hit = z.output<typeof hitSchema> & Record<string, unknown>;

/** The outcome of checking one line. */
export type LineCheck =
  | { ok: true; hit: Hit }
  | { ok: false; reason: string };

/**
 * Checks one line of the node's hit stream (without its line terminator).
 *
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
export function checkLine(line: string): LineCheck {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${(error as Error).message}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = Array.isArray(value) ? "an array" : value === null ? "null" : typeof value;
    return { ok: false, reason: `expected a JSON object, got ${kind}` };
  }
  const result = hitSchema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, hit: result.data as Hit };
  const issue = result.error.issues[0]!;
  return { ok: false, reason: `${formatPath(issue.path)}: ${describeIssue(issue)}` };
}
