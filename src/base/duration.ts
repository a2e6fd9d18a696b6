/**
 * Durations and byte sizes as written in the YAML config: `500ms`, `10s`, `10m`, `12h`, `1d`;
 * `512KiB`, `64MiB`, `1GB`, or a plain number of bytes.
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

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$/i;

/**
 * Parses a byte size: a number, or a string such as `512KiB`, `64MiB`, `1GB`.
 *
 * @returns The size in bytes, or `undefined` when the text is not a size.
 *
 * @example
 * ```ts
 * import { parseSize } from "./duration.ts";
 * parseSize("64MiB"); // 67108864
 * ```
 */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isInteger(text) && text >= 0 ? text : undefined;
  const match = SIZE_RE.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? "b").toLowerCase()]!);
}

/**
 * The longest duration hitship takes: timers hold at most 2^31 - 1 ms (about 24.8 days); a
 * longer one would fire at once.
 */
export const MAX_DURATION_MS = 24 * 86_400_000;

/** Formats bytes as the shortest exact size (`64MiB`, `1GiB`, `1000`). */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

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

/**
 * A byte size (`1048576`, `512KiB`, `64MiB`, `1GB`) in the config, resolved to bytes, within
 * `range`.
 *
 * @param range Bounds in bytes. @default 0 to 2^53 - 1
 */
export function byteSize(range: Range = {}): z.ZodType<number, number | string> {
  const min = range.min ?? 0;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const bounds = `${formatSize(min)} to ${formatSize(max)}`;
  return z.union([z.int().nonnegative(), z.string()], {
    error: "expected a size such as 1048576, 512KiB, 64MiB or 1GB",
  })
    .refine((value) => parseSize(value) !== undefined, {
      error: "expected a size such as 1048576, 512KiB, 64MiB or 1GB",
    })
    .transform((value) => parseSize(value)!)
    .check((ctx) => {
      if (ctx.value < min || ctx.value > max) {
        ctx.issues.push({
          code: "custom",
          input: ctx.value,
          message: `expected a size from ${bounds}, got ${formatSize(ctx.value)}`,
          params: { plain: true },
        });
      }
    })
    .meta({ "x-range": bounds });
}
