/**
 * Byte sizes in the config: `1048576`, `512KiB`, `64MiB`, `1GB`, parsed, formatted, and as zod
 * schemas with their bounds.
 *
 * @module
 */
import { z } from "zod";
import type { Range } from "./duration.ts";

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
 * import { parseSize } from "./size.ts";
 * parseSize("64MiB"); // 67108864
 * ```
 */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === "number") return Number.isInteger(text) && text >= 0 ? text : undefined;
  const match = SIZE_RE.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * SIZE_UNITS[(match[2] ?? "b").toLowerCase()]!);
}

/** Formats bytes as the shortest exact size (`64MiB`, `1GiB`, `1000`). */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
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
