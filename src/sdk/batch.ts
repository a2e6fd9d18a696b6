/**
 * The config fields every batching output shares: `interval`, `max_hits`, `max_bytes`, `format`,
 * `compression` and `key`.
 *
 * @module
 */
import { z } from "zod";
import { duration } from "../base/duration.ts";
import { byteSize, parseSize } from "../base/size.ts";
import { COMPRESSIONS, FORMATS } from "./body.ts";
import type { Compression, Format } from "./body.ts";
import { KEY_FIELDS, PLACEHOLDER, unsafeKey } from "./key.ts";
import type { BatchOptions } from "./output.ts";

/** The batching fields of an output's schema, as zod schemas (see {@linkcode batchShape}). */
export interface BatchShape {
  /** `interval`: a duration, resolved to ms. */
  interval: z.ZodType<number, string | undefined>;
  /** `max_hits`. */
  max_hits: z.ZodType<number, number | undefined>;
  /** `max_bytes`: a size, resolved to bytes. */
  max_bytes: z.ZodType<number, number | string | undefined>;
  /** `format`: `json` or `jsonl`. */
  format: z.ZodType<Format, Format | undefined>;
  /** `compression`: `none` or `gzip`. */
  compression: z.ZodType<Compression, Compression | undefined>;
  /** `key`: the name template. */
  key: z.ZodType<string, string | undefined>;
}

/**
 * The config fields of a batching output, for a plugin's schema to spread:
 * `z.strictObject({ path: z.string(), ...batchShape })`.
 */
export const batchShape: BatchShape = {
  interval: duration().prefault("10m").meta({
    description: "Hits are exported this long after the first hit of a batch",
    examples: ["10m"],
  }),
  max_hits: z.int().positive().max(100_000_000).default(100_000).meta({
    description: "A batch is exported early when it holds this many hits",
    examples: [100000],
  }),
  max_bytes: byteSize({ min: 1 }).prefault("64MiB").meta({
    description: "A batch is exported early when its hits add up to this many bytes",
    examples: ["64MiB"],
  }),
  format: z.enum(FORMATS).default("json").meta({
    description: "`json`: one JSON array, as the node exports; `jsonl`: one hit per line",
  }),
  compression: z.enum(COMPRESSIONS).default("none").meta({
    description: "`gzip` compresses the object and adds `.gz` to its name",
  }),
  key: z.string().min(1).superRefine((template, ctx) => {
    for (const match of template.matchAll(PLACEHOLDER)) {
      if (!KEY_FIELDS.includes(match[1]!)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a template using only ${
            KEY_FIELDS.map((f) => `{${f}}`).join(", ")
          }, got "{${match[1]}}"`,
          params: { plain: true },
        });
        return;
      }
    }
    const why = unsafeKey(template.replace(PLACEHOLDER, "x"));
    if (why) {
      ctx.addIssue({
        code: "custom",
        message: `expected a name that stays inside the output's place, but ${why}: ${
          JSON.stringify(template)
        }`,
        params: { plain: true },
      });
    }
  })
    .default("hitlogs-{timestamp}.json").meta({
      description:
        "Object name template: {timestamp} (Unix seconds of the export), {date} (YYYY/MM/DD), " +
        "{hostname}, {seq}, {output} (the output's name). With `jsonl`, `.json` becomes `.jsonl`; " +
        "with gzip, `.gz` is added. No `..` segment, leading `/`, backslash or control character",
      examples: ["{hostname}/{date}/hitlogs-{timestamp}.json"],
    }),
};

/** The resolved batch fields of an output's config. */
export interface BatchConfig {
  /** A batch is cut this long after its first hit, ms. */
  interval: number;
  /** A batch is cut early at this many hits. */
  max_hits: number;
  /** A batch is cut early at this many bytes of hits. */
  max_bytes: number;
  /** `json` (one array, as the node exports) or `jsonl`. */
  format: Format;
  /** `none` or `gzip`. */
  compression: Compression;
  /** The name template of an export. */
  key: string;
}

/**
 * The engine's batching for a config with {@linkcode batchShape} or {@linkcode sendBatchShape}.
 */
export function batchOptionsOf(
  config: Pick<BatchConfig, "interval" | "max_hits" | "max_bytes">,
): BatchOptions {
  return { interval: config.interval, maxHits: config.max_hits, maxBytes: config.max_bytes };
}

/** Defaults and bounds of {@linkcode sendBatchShape}. */
export interface SendBatchDefaults {
  /** The default `interval`. @default "1s" */
  interval?: string;
  /** The default `max_hits`. @default 1000 */
  max_hits?: number;
  /** Most a receiver takes in one request. @default 100000 */
  max_hits_limit?: number;
  /** The default `max_bytes`. @default "1MiB" */
  max_bytes?: string;
  /** Most a receiver takes in one request. @default "256MiB" */
  max_bytes_limit?: string | number;
}

/** The batching fields of a request-sending output (see {@linkcode sendBatchShape}). */
export interface SendBatchShape {
  /** `interval`: a duration, resolved to ms. */
  interval: z.ZodType<number, string | undefined>;
  /** `max_hits`. */
  max_hits: z.ZodType<number, number | undefined>;
  /** `max_bytes`: a size, resolved to bytes. */
  max_bytes: z.ZodType<number, number | string | undefined>;
}

/**
 * The batching fields of an output that sends hits in requests (a SIEM, a log intake): a request
 * is made `interval` after a batch's first hit, or at once at `max_hits` or `max_bytes` of hits,
 * within what the receiver takes.
 */
export function sendBatchShape(defaults: SendBatchDefaults = {}): SendBatchShape {
  const maxHits = defaults.max_hits_limit ?? 100_000;
  return {
    interval: duration({ max: 3_600_000 }).prefault(defaults.interval ?? "1s").meta({
      description: "A request is made this long after the first hit of a batch (0s: at once)",
      examples: [defaults.interval ?? "1s"],
    }),
    max_hits: z.int().positive().max(maxHits).default(defaults.max_hits ?? 1000).meta({
      description:
        `A request is made at once when a batch holds this many hits (at most ${maxHits})`,
      examples: [defaults.max_hits ?? 1000],
    }),
    max_bytes: byteSize({
      min: 1024,
      max: typeof defaults.max_bytes_limit === "number"
        ? defaults.max_bytes_limit
        : parseSize(defaults.max_bytes_limit ?? "256MiB")!,
    }).prefault(defaults.max_bytes ?? "1MiB").meta({
      description: "A request is made at once when a batch's hits add up to this many bytes",
      examples: [defaults.max_bytes ?? "1MiB"],
    }),
  };
}
