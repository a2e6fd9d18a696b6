/**
 * Threshold alerts: when more than `threshold` hits matching an alert's filter arrive within its
 * `period`, one `hits_threshold_exceeded` event goes out (at most one per period).
 *
 * @module
 */
import { z } from "zod";
import { duration, formatDuration } from "../base/duration.ts";
import { compileFilter, filterSchema, type HitFilter } from "./filter.ts";
import type { SystemEvent } from "../sdk/output.ts";
import type { FilterConfig } from "./filter.ts";

/** One entry of the top-level `alerts` list. */
export const alertSchema = z.strictObject({
  name: z.string().min(1).meta({ description: "Name of the alert", examples: ["sqli-burst"] }),
  filter: filterSchema.optional(),
  threshold: z.int().positive().max(1_000_000_000).meta({
    description: "The alert fires when more than this many matching hits arrive within `period`",
    examples: [100],
  }),
  period: duration({ min: 1000 }).meta({ description: "The sliding period", examples: ["1m"] }),
}).meta({ description: "A threshold alert" });

/** A threshold alert, resolved: more than `threshold` matching hits within `period`. */
export interface AlertConfig {
  /** Name of the alert. */
  name: string;
  /** Which hits count. */
  filter?: FilterConfig;
  /** The alert fires past this many matching hits within `period`. */
  threshold: number;
  /** The sliding period, ms. */
  period: number;
}

// The schema resolves to this type: a change to one that the other lacks does not compile.
const _alert: (resolved: z.output<typeof alertSchema>) => AlertConfig = (a) => a;
void _alert;

interface Watch {
  config: AlertConfig;
  filter: HitFilter | undefined;
  /** Arrival times of the last `threshold + 1` matching hits. */
  times: number[];
  /** When the alert last fired. */
  firedAt: number;
}

/** Watches hits for every alert and says when one fires. */
export class AlertWatcher {
  readonly #watches: Watch[];
  readonly #emit: (event: SystemEvent) => void;

  /** @param emit Called with each `hits_threshold_exceeded` event. */
  constructor(alerts: readonly AlertConfig[], emit: (event: SystemEvent) => void) {
    this.#watches = alerts.map((config) => ({
      config,
      filter: compileFilter(config.filter),
      times: [],
      firedAt: -Infinity,
    }));
    this.#emit = emit;
  }

  /** True when there is nothing to watch. */
  get empty(): boolean {
    return this.#watches.length === 0;
  }

  /** Counts one hit that arrived at `now`. */
  observe(hit: Record<string, unknown>, now: number): void {
    for (const watch of this.#watches) {
      if (watch.filter && !watch.filter(hit)) continue;
      const { threshold, period, name } = watch.config;
      const times = watch.times;
      times.push(now);
      if (times.length > threshold + 1) times.shift();
      if (times.length <= threshold || now - times[0]! >= period) continue;
      if (now - watch.firedAt < period) continue;
      watch.firedAt = now;
      this.#emit({
        kind: "alerts",
        name: "hits_threshold_exceeded",
        summary: `More than ${threshold} hits matched alert "${name}" within ${
          formatDuration(period)
        }`,
        details: {
          alert: name,
          threshold,
          period: formatDuration(period),
          filter: watch.config.filter ?? {},
          last_hit: {
            attack_type: hit.attack_type,
            domain: hit.domain,
            ip: hit.ip,
            uri: hit.uri,
          },
        },
        time: now,
      });
    }
  }
}
