/**
 * hitship: a sidecar that ships a WAF node's detected hits to S3/MinIO, Rapid7 InsightConnect and
 * local files, with a disk journal, one retry schedule for every output, auto-disable and a
 * status file.
 *
 * Run it: `deno run --allow-read --allow-write --allow-env --allow-net --allow-sys mod.ts run
 * --config hitship.yaml`. Use it as a library to embed the engine or write an output plugin:
 *
 * ```ts ignore
 * import { builtinPlugins, Engine, loadConfig } from "./mod.ts";
 * const config = await loadConfig("hitship.yaml", { plugins: builtinPlugins });
 * const engine = await Engine.start(config, { plugins: builtinPlugins });
 * ```
 *
 * @module
 */
export { main, VERSION } from "./src/cli.ts";
export type { CliEnvironment } from "./src/cli.ts";
export {
  autoDisableSchema,
  byteSize,
  commonOutputShape,
  type Config,
  ConfigError,
  type ConfigInput,
  type ConfigProblem,
  configSchema,
  DEFAULT_CONFIG_YAML,
  DEFAULT_RETRY_CYCLES,
  duration,
  loadConfig,
  type OutputConfig,
  parseConfig,
  retrySchema,
} from "./src/config.ts";
export { type Clock, FakeClock, systemClock } from "./src/clock.ts";
export { checkLine, type Hit, hitSchema, type LineCheck } from "./src/hit.ts";
export { compileFilter, type FilterConfig, filterSchema, type HitFilter } from "./src/filter.ts";
export { Journal, JournalReader, type Position } from "./src/journal.ts";
export { jsonLogger, type Logger, type LogLevel, memoryLogger } from "./src/log.ts";
export {
  type Batch,
  type BatchOptions,
  definePlugin,
  type Output,
  type OutputPlugin,
  type PluginContext,
  type SendResult,
  type SystemEvent,
} from "./src/plugin.ts";
export {
  batchOptionsOf,
  batchShape,
  bodySize,
  bodyStream,
  contentType,
  formatBody,
  renderKey,
} from "./src/batch.ts";
export { Engine, type EngineOptions, OutputRunner } from "./src/pipeline.ts";
export { type OutputStatus, readStatus, type StatusDocument } from "./src/status.ts";
export { FailureWindow, RetrySchedule } from "./src/supervisor.ts";
export { type CapturedRequest, CaptureOutput, type Responder } from "./src/testing.ts";
export { builtinPlugins } from "./plugins/mod.ts";
export { fileOutput, fileOutputSchema } from "./plugins/file/mod.ts";

import { main } from "./src/cli.ts";
import { builtinPlugins } from "./plugins/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args, { plugins: builtinPlugins }));
}
