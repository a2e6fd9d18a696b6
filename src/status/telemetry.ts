/**
 * What `/metrics` shows beside the status file: request durations and batch sizes as histograms,
 * and config reloads by result. Kept in memory only (they restart with the process, as Prometheus
 * expects of counters); the status file stays what `hitship status` reads.
 *
 * @module
 */

type Labels = Record<string, string>;

/** Label values as one key, in a fixed order. */
const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels));

function escape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `{a="1",b="2"}` with Prometheus escapes, or nothing for no labels. */
export function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(",");
  return pairs ? `{${pairs}}` : "";
}

/** A Prometheus histogram with fixed upper bounds, one series per label set. */
export class Histogram {
  readonly #bounds: number[];
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number }>();

  constructor(bounds: number[]) {
    this.#bounds = bounds;
  }

  /** Counts one observation. */
  observe(labels: Labels, value: number): void {
    const key = keyOf(labels);
    let series = this.#series.get(key);
    if (!series) {
      series = { labels, counts: new Array(this.#bounds.length + 1).fill(0), sum: 0 };
      this.#series.set(key, series);
    }
    let i = this.#bounds.findIndex((bound) => value <= bound);
    if (i < 0) i = this.#bounds.length;
    series.counts[i]!++;
    series.sum += value;
  }

  /** The exposition text of the histogram. */
  render(name: string, help: string): string {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    for (const { labels, counts, sum } of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += counts[i]!;
        lines.push(`${name}_bucket${labelText({ ...labels, le: String(bound) })} ${cumulative}`);
      });
      cumulative += counts[this.#bounds.length]!;
      lines.push(`${name}_bucket${labelText({ ...labels, le: "+Inf" })} ${cumulative}`);
      lines.push(`${name}_sum${labelText(labels)} ${sum}`);
      lines.push(`${name}_count${labelText(labels)} ${cumulative}`);
    }
    return lines.join("\n");
  }
}

/** The process's histograms and counters for `/metrics`. */
export class Telemetry {
  /** Seconds per delivery request, by output, type and result (`ok`, `failed`). */
  readonly requestDuration = new Histogram([
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
  ]);
  /** Hits per delivered batch, by output and type. */
  readonly batchHits = new Histogram([1, 10, 100, 1000, 10_000, 100_000, 1_000_000]);
  /** Config reloads by result (`success`, `failure`). */
  readonly reloads: Record<"success" | "failure", number> = { success: 0, failure: 0 };

  /** The exposition text of all of it. */
  render(): string {
    return [
      this.requestDuration.render(
        "hitship_output_request_duration_seconds",
        "Time of one delivery request, by result",
      ),
      this.batchHits.render("hitship_output_batch_hits", "Hits per delivered batch"),
      "# HELP hitship_config_reloads_total Config reloads (SIGHUP) by result",
      "# TYPE hitship_config_reloads_total counter",
      `hitship_config_reloads_total{result="success"} ${this.reloads.success}`,
      `hitship_config_reloads_total{result="failure"} ${this.reloads.failure}`,
    ].join("\n");
  }
}
