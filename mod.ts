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
export { main, VERSION } from "./src/cli/main.ts";
export type { CliEnvironment } from "./src/cli/main.ts";
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
} from "./src/config/config.ts";
export { type Clock, FakeClock, systemClock } from "./src/base/clock.ts";
export { checkLine, type Hit, hitSchema, type LineCheck } from "./src/hit/hit.ts";
export {
  compileFilter,
  type FilterConfig,
  filterSchema,
  type HitFilter,
} from "./src/hit/filter.ts";
export { Journal, JournalReader, type Position } from "./src/journal/journal.ts";
export { jsonLogger, type Logger, type LogLevel, memoryLogger } from "./src/base/log.ts";
export {
  type Batch,
  type BatchOptions,
  definePlugin,
  type Output,
  type OutputPlugin,
  type PluginContext,
  type SendResult,
  type SystemEvent,
} from "./src/sdk/output.ts";
export { batchOptionsOf, batchShape } from "./src/sdk/batch.ts";
export { bodySize, bodyStream, contentType, formatBody } from "./src/sdk/body.ts";
export { renderKey } from "./src/sdk/key.ts";
export { Engine, type EngineOptions } from "./src/engine/engine.ts";
export { type OutputStatus, readStatus, type StatusDocument } from "./src/status/status.ts";
export { FailureWindow, RetrySchedule } from "./src/engine/supervision.ts";
export {
  type CapturedRequest,
  CaptureOutput,
  type Responder,
} from "./src/testing/capture_output.ts";
export { builtinPlugins } from "./plugins/mod.ts";
export { fileOutput, fileOutputSchema } from "./plugins/outputs/file/mod.ts";

import { main } from "./src/cli/main.ts";
import { builtinPlugins } from "./plugins/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args, { plugins: builtinPlugins }));
}
