/**
 * The command line: `hitship run | validate | test | status | enable | disable | docs`.
 *
 * Exit codes: 0 success, 1 failure, 2 usage error.
 *
 * @module
 */
import { ConfigError } from "../config/config.ts";
import { docsCommand, enableCommand, testCommand, validateCommand } from "./commands.ts";
import { type CliEnvironment, UsageError, VERSION } from "./environment.ts";
import { runCommand } from "./run.ts";
import { statusCommand } from "./status.ts";

export { type CliEnvironment, VERSION } from "./environment.ts";
export { formatStatus } from "./status.ts";

const encoder = new TextEncoder();

const HELP: Record<string, string> = {
  main:
    `hitship ${VERSION}: ships a WAF node's hits to S3/MinIO, InsightConnect, SIEMs and log pipelines

Usage: hitship <command> [options]

Commands:
  run       Run the sidecar: read hits, journal them, deliver them to every output
  validate  Check a config file without sending anything
  test      Send each output's test message
  status    Print the status file
  enable    Turn an output back on
  disable   Turn an output off
  docs      Print the config reference (with a config's own plugins)

Options:
  -h, --help     Show help (also: hitship <command> --help)
  -V, --version  Show the version`,
  run: `Usage: hitship run [--config FILE] [--input PATH|-] [--log-level LEVEL]

Reads hits from the configured input (or --input: a file read to its end, or - for stdin),
journals them in data_dir and delivers them to every output. With stdin or follow: false it
drains, flushes every output and exits at the end of the input; SIGTERM/SIGINT drain and flush
within shutdown_timeout, a second signal exits at once. With no --config: stdin -> ./hitlogs.

Options:
  -c, --config FILE      The YAML config
  -i, --input PATH|-     Read this file (to its end) or - for stdin instead of the config's input
      --log-level LEVEL  debug, info, warn or error (default: the config's log_level)`,
  validate: `Usage: hitship validate --config FILE

Checks the config: YAML syntax, environment variables, every key against the schemas. Prints
every error as FILE:LINE:COL: path: what was expected. Exit 0 when valid, 1 otherwise.`,
  test: `Usage: hitship test --config FILE [NAME...]

Sends each chosen output's test message (all outputs by default) and prints one line per
output. Exit 0 when every output succeeded.`,
  status:
    `Usage: hitship status [--status-file FILE | --config FILE] [--json] [--watch [--interval 1s]]

Prints the status file for a person, or as JSON with --json. --watch redraws the table every
--interval (1 s) with each output's delivery rate (hits/s since the last draw) until interrupted.`,
  enable: `Usage: hitship enable NAME [--config FILE]

Turns an output back on; it resumes from its cursor. A running hitship picks it up within a second.`,
  docs: `Usage: hitship docs [--config FILE] [--json]

Prints the config reference in Markdown, made from the plugins' schemas: the built-in ones and,
with --config, those of the modules the config lists under plugins:. With --json, the JSON
Schema of the config instead, for editors.`,
  disable: `Usage: hitship disable NAME [--config FILE]

Turns an output off; it keeps what it had accepted. A running hitship picks it up within a second.`,
};

/**
 * Runs the CLI with `args` (without the program name).
 *
 * @returns The exit code.
 */
export async function main(args: string[], environment: CliEnvironment): Promise<number> {
  const out = environment.stdout ?? ((t: string) => void Deno.stdout.writeSync(encoder.encode(t)));
  const err = environment.stderr ?? ((t: string) => void Deno.stderr.writeSync(encoder.encode(t)));
  // Options without a command are `run`'s (`docker run IMAGE --config FILE`, as images before
  // the entrypoint took a command did).
  const implicitRun = args[0]?.startsWith("-") &&
    !["-h", "--help", "-V", "--version"].includes(args[0]);
  const [command, ...rest] = implicitRun ? ["run", ...args] : args;
  try {
    if (command === undefined || command === "-h" || command === "--help" || command === "help") {
      out(HELP.main + "\n");
      return command === undefined ? 2 : 0;
    }
    if (command === "-V" || command === "--version") {
      out(`hitship ${VERSION}\n`);
      return 0;
    }
    if (!(command in HELP) || command === "main") {
      throw new UsageError(`unknown command "${command}"`);
    }
    if (rest.includes("-h") || rest.includes("--help")) {
      out(HELP[command] + "\n");
      return 0;
    }
    switch (command) {
      case "run":
        return await runCommand(rest, environment, out, err);
      case "validate":
        return await validateCommand(rest, environment, out, err);
      case "test":
        return await testCommand(rest, environment, out, err);
      case "status":
        return await statusCommand(rest, environment, out, err);
      case "docs":
        return await docsCommand(rest, environment, out);
      default:
        return await enableCommand(command === "enable", rest, environment, out, err);
    }
  } catch (error) {
    if (
      error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      const message = (error as Error).message.replace(/\. To specify.*$/s, "");
      const topic = command && command in HELP ? `hitship ${command} --help` : "hitship --help";
      err(`hitship: ${message} (see "${topic}")\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      err(error.message + "\n");
      return 1;
    }
    err(`hitship: ${(error as Error).message}\n`);
    return 1;
  }
}
