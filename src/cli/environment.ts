/**
 * What every command of the CLI shares: the environment it runs in (tests replace it), the usage
 * error, argument parsing, and reading the config.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { Clock } from "../base/clock.ts";
import { type Config, DEFAULT_CONFIG_YAML, loadConfig, parseConfig } from "../config/config.ts";
import type { Plugin } from "../sdk/plugin.ts";

export { VERSION } from "../sdk/version.ts";

/** Where the CLI writes and what it runs with; tests replace these. */
export interface CliEnvironment {
  /** The plugins configs may use (the built-ins). */
  plugins: readonly Plugin[];
  /** Where output for a person goes. @default standard output */
  stdout?: (text: string) => void;
  /** Where log lines and errors go. @default standard error */
  stderr?: (text: string) => void;
  /** The input of `run` with `stdin`. @default the process's standard input */
  stdin?: ReadableStream<Uint8Array>;
  /** The environment for `${VAR}`. @default Deno.env */
  env?: (name: string) => string | undefined;
  /** The clock of the engine. @default the system clock */
  clock?: Clock;
}

/** Where a command writes text. */
export type Write = (text: string) => void;

/** A wrong use of the command line: exit 2, with a hint. */
export class UsageError extends Error {}

/** Parses a command's arguments strictly; more than `positionals` positionals is a usage error. */
export function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  positionals = 0,
) {
  const parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
  if (parsed.positionals.length > positionals && positionals !== Infinity) {
    throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"`);
  }
  return parsed;
}

/** The config at `path`, or the built-in default without one. */
export async function readConfig(
  path: string | undefined,
  environment: CliEnvironment,
): Promise<Config> {
  const options = { plugins: environment.plugins, env: environment.env };
  if (path === undefined) return parseConfig(DEFAULT_CONFIG_YAML, "(built-in default)", options);
  return await loadConfig(path, options);
}
