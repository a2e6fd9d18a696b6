/**
 * hitship: a sidecar that ships a WAF node's detected hits to S3/MinIO, Rapid7 InsightConnect and
 * local files, with a disk journal, one retry schedule for every output, auto-disable and a
 * status file.
 *
 * Run it: `deno run --allow-read --allow-write --allow-env --allow-net --allow-sys=hostname
 * mod.ts run --config hitship.yaml`. Use it as a library to embed the engine:
 *
 * ```ts ignore
 * import { builtinPlugins, Engine, loadConfig } from "@hitship/hitship";
 * const config = await loadConfig("hitship.yaml", { plugins: builtinPlugins });
 * const engine = await Engine.start(config, { plugins: builtinPlugins });
 * await engine.readInputs(new AbortController().signal);
 * const { undelivered } = await engine.drain(25_000);
 * ```
 *
 * A plugin of your own imports the SDK, `@hitship/hitship/sdk`, which this module re-exports.
 *
 * @module
 */
export { type CliEnvironment, main, VERSION } from "./src/cli/main.ts";
export {
  type AutoDisableConfig,
  type Config,
  ConfigError,
  type ConfigProblem,
  type InputConfig,
  loadConfig,
  type LoadOptions,
  type OutputConfig,
  parseConfig,
  type RetryConfig,
} from "./src/config/config.ts";
export type { FilterConfig } from "./src/hit/filter.ts";
export type { AlertConfig } from "./src/hit/alerts.ts";
export { type DrainResult, Engine, type EngineOptions } from "./src/engine/engine.ts";
export {
  type InputStatus,
  type OutputState,
  type OutputStatus,
  readStatus,
  type StatusDocument,
} from "./src/status/status.ts";
export { builtinPlugins } from "./plugins/mod.ts";
export { FakeClock, systemClock } from "./src/base/clock.ts";
export {
  type CapturedRequest,
  CaptureOutput,
  type Responder,
} from "./src/testing/capture_output.ts";
export * from "./src/sdk/mod.ts";

import { main } from "./src/cli/main.ts";
import { builtinPlugins } from "./plugins/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args, { plugins: builtinPlugins }));
}
