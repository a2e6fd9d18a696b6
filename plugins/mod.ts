/**
 * The built-in plugins: the inputs and outputs hitship ships with, picked by their YAML `type`.
 *
 * @module
 */
import type { Plugin } from "../src/sdk/plugin.ts";
import { fileInput } from "./inputs/file/mod.ts";
import { forwardInput } from "./inputs/forward/mod.ts";
import { httpInput } from "./inputs/http/mod.ts";
import { stdinInput } from "./inputs/stdin/mod.ts";
import { fileOutput } from "./outputs/file/mod.ts";
import { datadogOutput } from "./outputs/datadog/mod.ts";
import { elasticsearchOutput } from "./outputs/elasticsearch/mod.ts";
import { forwardOutput } from "./outputs/forward/mod.ts";
import { httpOutput } from "./outputs/http/mod.ts";
import { opentelemetryOutput } from "./outputs/opentelemetry/mod.ts";
import { splunkHecOutput } from "./outputs/splunk_hec/mod.ts";
import { sumologicOutput } from "./outputs/sumologic/mod.ts";
import { syslogOutput } from "./outputs/syslog/mod.ts";
import { insightconnectOutput } from "./outputs/insightconnect/mod.ts";
import { minioHitlogsOutput } from "./outputs/minio_hitlogs/mod.ts";

/** Every plugin hitship ships with. */
export const builtinPlugins: readonly Plugin[] = [
  stdinInput,
  fileInput,
  httpInput,
  forwardInput,
  fileOutput,
  minioHitlogsOutput,
  insightconnectOutput,
  httpOutput,
  datadogOutput,
  sumologicOutput,
  splunkHecOutput,
  elasticsearchOutput,
  syslogOutput,
  forwardOutput,
  opentelemetryOutput,
];
