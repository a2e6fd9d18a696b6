/**
 * `status`: the status file for a person (a table, or JSON), once or redrawn with rates.
 *
 * @module
 */
import { systemClock } from "../base/clock.ts";
import { parseDuration } from "../base/duration.ts";
import { isLocked, readLockInfo } from "../engine/data_dir_lock.ts";
import { readStatus, type StatusDocument } from "../status/status.ts";
import { type CliEnvironment, parse, readConfig, UsageError, type Write } from "./environment.ts";

async function statusFilePath(
  values: { "status-file"?: string; config?: string },
  environment: CliEnvironment,
): Promise<string> {
  if (values["status-file"]) return values["status-file"];
  const config = await readConfig(values.config, environment);
  return config.status_file;
}

/** `status [--status-file FILE | --config FILE] [--json | --watch]`. */
export async function statusCommand(
  args: string[],
  environment: CliEnvironment,
  out: Write,
  _err: Write,
): Promise<number> {
  const { values } = parse(args, {
    "status-file": { type: "string", short: "s" },
    config: { type: "string", short: "c" },
    json: { type: "boolean" },
    watch: { type: "boolean", short: "w" },
    interval: { type: "string" },
    count: { type: "string" },
  });
  if (values.watch) {
    if (values.json) throw new UsageError("--watch draws the table; leave out --json");
    const path = await statusFilePath(
      values as { "status-file"?: string; config?: string },
      environment,
    );
    const interval = values.interval ? parseDuration(values.interval as string) : 1000;
    if (interval === undefined || !(interval >= 100)) {
      throw new UsageError("--interval must be a duration of at least 100ms, e.g. 1s");
    }
    const count = values.count ? Number(values.count) : Infinity;
    const clock = environment.clock ?? systemClock;
    let previous: { status: StatusDocument; at: number } | undefined;
    for (let drawn = 0; drawn < count; drawn++) {
      if (drawn > 0) await clock.sleep(interval);
      const status = await readStatus(path).catch(() => undefined);
      const at = clock.now();
      // Home and clear, then the table: the way `watch` or `top` redraws.
      out(
        "\x1b[H\x1b[2J" +
          (status
            ? formatStatus(status, previous, at)
            : `No status file at "${path}" yet; waiting\n`),
      );
      if (status) previous = { status, at };
    }
    return 0;
  }
  const path = await statusFilePath(
    values as { "status-file"?: string; config?: string },
    environment,
  );
  let unreadable: string | undefined;
  const status = await readStatus(path).catch((error) => {
    unreadable = (error as Error).message;
    return undefined;
  });
  // With the config, the lock in data_dir tells whether hitship runs, and what it could not do.
  const config = values.config && !values["status-file"]
    ? await readConfig(values.config as string, environment)
    : undefined;
  const holder = config && await isLocked(config.data_dir)
    ? await readLockInfo(config.data_dir)
    : undefined;
  const problem = holder?.status_error
    ? `hitship (pid ${holder.pid}) runs on data_dir "${
      config!.data_dir
    }" but cannot write its status file "${path}": ${holder.status_error}`
    : undefined;
  if (!status) {
    if (problem) throw new Error(`No status file: ${problem}`);
    if (holder) {
      throw new Error(
        `No status file at "${path}" yet: hitship (pid ${holder.pid}) runs on data_dir "${
          config!.data_dir
        }"`,
      );
    }
    if (unreadable) throw new Error(`Cannot read the status file "${path}": ${unreadable}`);
    throw new Error(`No status file at "${path}": has hitship run with this config?`);
  }
  if (values.json) out(JSON.stringify(status, null, 2) + "\n");
  else out((problem ? `WARNING: this status is stale: ${problem}\n` : "") + formatStatus(status));
  return 0;
}

/** Whether the process that wrote the status runs, when this process may look. */
function isRunning(pid: number): boolean | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).length > 0;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? false : undefined;
  }
}

/**
 * The status file as a table for a person. With `previous` (and `now`, clock time), each output's
 * delivery rate since then is shown too; LAG is the age of the oldest hit still to deliver.
 */
export function formatStatus(
  status: StatusDocument,
  previous?: { status: StatusDocument; at: number },
  now: number = Date.now(),
): string {
  const alive = status.pid === Deno.pid ? false : isRunning(status.pid);
  const running = alive === undefined ? "" : alive ? ", running" : ", not running";
  const line = (label: string, i: StatusDocument["input"]) =>
    `${label}: ${i.type}${i.path ? ` ${i.path}` : ""}: ${i.lines} lines, ${i.hits} hits, ` +
    `${i.rejected} rejected, offset ${i.offset}${i.paused ? ", PAUSED (journal full)" : ""}`;
  const inputs = Object.entries(status.inputs ?? {});
  const lines = [
    `hitship status at ${status.updated_at} (pid ${status.pid}${running})`,
    ...(inputs.length > 1
      ? inputs.map(([name, i]) => line(`input ${name}`, i))
      : [line("input", status.input)]),
    `journal: ${status.journal.bytes} bytes in ${status.journal.segments} segments`,
  ];
  if (status.last_config_error) lines.push(`config error: ${status.last_config_error}`);
  const header = [
    "OUTPUT",
    "TYPE",
    "STATE",
    "DELIVERED",
    ...(previous ? ["HITS/S"] : []),
    "PENDING",
    "LAG",
    "REQUESTS",
    "FAILED",
    "RATIO",
    "NEXT RETRY",
    "LAST ERROR",
  ];
  const seconds = previous ? Math.max(0.001, (now - previous.at) / 1000) : 1;
  const rate = (name: string, delivered: number) => {
    const before = previous?.status.outputs[name]?.delivered_hits;
    return before === undefined ? "-" : (Math.max(0, delivered - before) / seconds).toFixed(1);
  };
  const lag = (ms: number) => {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  };
  const rows = Object.entries(status.outputs).map(([name, o]) => [
    name,
    o.type,
    o.state,
    String(o.delivered_hits),
    ...(previous ? [rate(name, o.delivered_hits)] : []),
    String(o.pending_hits),
    o.oldest_pending_at ? lag(now - Date.parse(o.oldest_pending_at)) : "-",
    String(o.requests),
    String(o.failed_requests),
    o.failure_ratio.toFixed(2),
    o.next_retry_at ?? "-",
    o.last_error ?? "-",
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (row: string[]) =>
    row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ");
  lines.push("", fmt(header), ...rows.map(fmt));
  return lines.join("\n") + "\n";
}
