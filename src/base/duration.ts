/**
 * Durations as written in the YAML config: `500ms`, `10s`, `10m`, `12h`, `1d`, parsed, formatted,
 * and as zod schemas with their bounds (sizes are in `size.ts`).
 *
 * @module
 */
import { z } from "zod";

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Parses a duration string into milliseconds.
 *
 * @param text A duration such as `500ms`, `10s`, `10m`, `12h` or `1d`.
 * @returns The duration in milliseconds, or `undefined` when the text is not a duration.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * parseDuration("10m"); // 600000
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_RE.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]!]!);
}

/**
 * Formats milliseconds as the shortest exact duration string (`90s` rather than `1.5m`).
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * formatDuration(600000); // "10m"
 * ```
 */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"]) {
    const size = DURATION_UNITS[unit]!;
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * The longest duration hitship takes: timers hold at most 2^31 - 1 ms (about 24.8 days); a
 * longer one would fire at once.
 */
export const MAX_DURATION_MS = 24 * 86_400_000;

/** Bounds of a duration or size field, inclusive. */
export interface Range {
  /** The least value. @default 0 */
  min?: number;
  /** The greatest value. */
  max?: number;
}

/**
 * A duration string (`500ms`, `10s`, `10m`, `12h`) in the config, resolved to milliseconds,
 * within `range`.
 *
 * @param range Bounds in ms. @default 0 to {@linkcode MAX_DURATION_MS}
 */
export function duration(range: Range = {}): z.ZodType<number, string> {
  const min = range.min ?? 0;
  const max = Math.min(range.max ?? MAX_DURATION_MS, MAX_DURATION_MS);
  const bounds = `${formatDuration(min)} to ${formatDuration(max)}`;
  return z.string({ error: "expected a duration such as 500ms, 10s, 10m or 12h" })
    .refine((text) => parseDuration(text) !== undefined, {
      error: "expected a duration such as 500ms, 10s, 10m or 12h",
    })
    .transform((text) => parseDuration(text)!)
    .check((ctx) => {
      if (ctx.value < min || ctx.value > max) {
        ctx.issues.push({
          code: "custom",
          input: ctx.value,
          message: `expected a duration from ${bounds}, got ${formatDuration(ctx.value)}`,
          params: { plain: true },
        });
      }
    })
    .meta({ "x-range": bounds });
}
