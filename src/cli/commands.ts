/**
 * The short commands: `validate`, `test`, `docs`, `enable` and `disable`.
 *
 * @module
 */
import { systemClock } from "../base/clock.ts";
import { readJsonFile } from "../base/fs.ts";
import { jsonLogger } from "../base/log.ts";
import { configJsonSchema, configReference } from "../config/docs.ts";
import { pluginsOfModules } from "../config/plugin_modules.ts";
import { defaultEventsOf, outputPluginsOf } from "../config/registry.ts";
import { type OutputStateFile, outputStatePath, writeRequest } from "../engine/output_state.ts";
import { pluginFields } from "../engine/runner.ts";
import type { SendResult } from "../sdk/output.ts";
import { type CliEnvironment, parse, readConfig, UsageError, type Write } from "./environment.ts";

/** `validate --config FILE`: exit 0 when the config is valid (errors are thrown). */
export async function validateCommand(
  args: string[],
  environment: CliEnvironment,
  out: Write,
  _err: Write,
): Promise<number> {
  const { values } = parse(args, { config: { type: "string", short: "c" } });
  if (values.config === undefined) throw new UsageError("validate needs --config FILE");
  const config = await readConfig(values.config as string, environment);
  const outputs = config.outputs.map((o) => `${o.name} (${o.type})`).join(", ");
  const inputs = config.inputs.length === 1
    ? `input ${config.inputs[0]!.type}`
    : `inputs: ${config.inputs.map((i) => `${i.name} (${i.type})`).join(", ")}`;
  out(`${values.config}: valid; ${inputs}; outputs: ${outputs}\n`);
  return 0;
}

/** `test [--config FILE] [NAME...]`: each output's test message, a line each. */
export async function testCommand(
  args: string[],
  environment: CliEnvironment,
  out: Write,
  err: Write,
): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: "string", short: "c" } }, Infinity);
  const config = await readConfig(values.config as string | undefined, environment);
  const chosen = positionals.length > 0 ? positionals : config.outputs.map((o) => o.name);
  const plugins = [
    ...environment.plugins,
    ...await pluginsOfModules(config.plugins, environment.plugins),
  ];
  const clock = environment.clock ?? systemClock;
  const logger = jsonLogger("error", (line) => err(line), () => clock.now());
  let failed = 0;
  for (const name of chosen) {
    const outputConfig = config.outputs.find((o) => o.name === name);
    if (!outputConfig) throw new UsageError(`no output named "${name}" in the config`);
    const plugin = outputPluginsOf(plugins).find((p) => p.type === outputConfig.type)!;
    const output = await plugin.create(pluginFields(outputConfig) as never, {
      name,
      clock,
      logger,
      hostname: Deno.hostname(),
      events: outputConfig.events ?? defaultEventsOf(plugin),
    });
    const started = performance.now();
    const result: SendResult = output.test
      ? await output.test(AbortSignal.timeout(60_000)).catch((error) => ({
        ok: false as const,
        error: (error as Error).message,
      }))
      : { ok: true as const, detail: "no test message for this output type" };
    await output.close?.();
    const ms = Math.round(performance.now() - started);
    const status = result.status !== undefined ? ` HTTP ${result.status}` : "";
    if (result.ok) {
      out(
        `${name} (${outputConfig.type}): ok${status} in ${ms} ms${
          result.detail ? `: ${result.detail}` : ""
        }\n`,
      );
    } else {
      failed++;
      out(`${name} (${outputConfig.type}): FAILED${status} in ${ms} ms: ${result.error}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

/** `docs [--config FILE] [--json]`: the config reference, or its JSON Schema. */
export async function docsCommand(
  args: string[],
  environment: CliEnvironment,
  out: Write,
): Promise<number> {
  const { values } = parse(args, {
    config: { type: "string", short: "c" },
    json: { type: "boolean" },
  });
  const plugins = values.config
    ? [
      ...environment.plugins,
      ...await pluginsOfModules(
        (await readConfig(values.config as string, environment)).plugins,
        environment.plugins,
      ),
    ]
    : environment.plugins;
  out(
    values.json
      ? JSON.stringify(configJsonSchema(plugins), null, 2) + "\n"
      : configReference(plugins) + "\n",
  );
  return 0;
}

/** `enable NAME` / `disable NAME`: a request a running (or the next) hitship applies. */
export async function enableCommand(
  enable: boolean,
  args: string[],
  environment: CliEnvironment,
  out: Write,
  _err: Write,
): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: "string", short: "c" } }, 1);
  const name = positionals[0];
  if (!name) throw new UsageError(`${enable ? "enable" : "disable"} needs an output NAME`);
  const config = await readConfig(values.config as string | undefined, environment);
  const output = config.outputs.find((o) => o.name === name);
  if (!output) throw new Error(`No output named "${name}" in the config`);
  if (enable && !output.enabled) {
    throw new Error(`Output "${name}" has enabled: false in the config; turn it on there`);
  }
  const state = await readJsonFile<OutputStateFile>(outputStatePath(config.data_dir, name));
  await writeRequest(config.data_dir, name, enable);
  const was = state?.disabled
    ? (state.disabled === "auto" ? "auto-disabled" : "disabled")
    : "enabled";
  out(`Output "${name}" ${enable ? "enabled" : "disabled"} (was ${was})\n`);
  return 0;
}
