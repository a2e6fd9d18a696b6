/**
 * The built-in output plugins, keyed by their YAML `type`.
 *
 * @module
 */
import type { OutputPlugin } from "../src/sdk/output.ts";
import { fileOutput } from "./outputs/file/mod.ts";
import { insightconnectOutput } from "./outputs/insightconnect/mod.ts";
import { minioHitlogsOutput } from "./outputs/minio_hitlogs/mod.ts";

/** Every output plugin hitship ships with. */
export const builtinPlugins: readonly OutputPlugin[] = [
  fileOutput as unknown as OutputPlugin,
  minioHitlogsOutput as unknown as OutputPlugin,
  insightconnectOutput as unknown as OutputPlugin,
];
