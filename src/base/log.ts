/**
 * Structured JSON log lines on stderr: `{"time":"...","level":"warn","msg":"...",...fields}`.
 *
 * @module
 */

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Where hitship's log lines go. */
export interface Logger {
  /** Detail for finding a problem. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  /** What happens, as it happens. */
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Something is wrong, and hitship goes on. */
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** Something failed. */
  error(msg: string, fields?: Record<string, unknown>): void;
}

const encoder = new TextEncoder();

/**
 * A logger that writes one JSON object per line.
 *
 * @param level The least severe level that is written. @default "info"
 * @param write Where the encoded lines go. @default standard error
 */
export function jsonLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (line) => Deno.stderr.writeSync(encoder.encode(line)),
  now: () => number = Date.now,
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const log = (lvl: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(lvl) < min) return;
    write(
      JSON.stringify({ time: new Date(now()).toISOString(), level: lvl, msg, ...fields }) + "\n",
    );
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/** A logger that keeps its records in memory, for tests. */
export function memoryLogger(): Logger & {
  records: Array<{ level: LogLevel; msg: string } & Record<string, unknown>>;
} {
  const records: Array<{ level: LogLevel; msg: string } & Record<string, unknown>> = [];
  const log = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) =>
    void records.push({ level, msg, ...fields });
  return {
    records,
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
  };
}
