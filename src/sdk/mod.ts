/**
 * The hitship plugin SDK: everything an input or output plugin imports, and nothing else.
 *
 * An output plugin declares its config schema (which is also its documentation) and a factory;
 * the engine reads the journal, filters, batches, retries and keeps the status, and the plugin
 * only sends what it is given and says what happened. An input plugin gives the engine bytes of
 * hit lines and says where it stands after them.
 *
 * ```ts
 * import { definePlugin, z } from "./mod.ts";
 *
 * export default definePlugin({
 *   type: "my-sink",
 *   description: "Writes each batch somewhere",
 *   schema: z.strictObject({ path: z.string() }),
 *   create(_config, _context) {
 *     return {
 *       async send(batch) {
 *         for await (const lines of batch.lines()) console.log(lines.length);
 *         return { ok: true };
 *       },
 *     };
 *   },
 * });
 * ```
 *
 * @module
 */
export { z } from "zod";
/** zod's types that plugin signatures use, by name (`z.input`, `z.output`, ...). */
export type { input as ZodInput, output as ZodOutput, ZodObject, ZodString, ZodType } from "zod";
export { duration, type Range } from "../base/duration.ts";
export { byteSize } from "../base/size.ts";
export type { Clock } from "../base/clock.ts";
export { BufferPool, release } from "../base/buffer_pool.ts";
export { parseJson } from "../base/json.ts";
export { listenAddress, splitAddress } from "../base/address.ts";
export { gunzip, UnpackedTooLarge } from "../base/gzip.ts";
export { isJsonText } from "../base/json_syntax.ts";
export { Deadline, Timeout } from "../base/deadline.ts";
export { ConnectionSlots } from "../base/slots.ts";
export type { Logger } from "../base/log.ts";
export {
  type Batch,
  type BatchOptions,
  definePlugin,
  EVENT_KINDS,
  type EventKind,
  type Output,
  type OutputPlugin,
  type OutputPluginSpec,
  type PluginContext,
  type RejectedHit,
  type SendResult,
  type SystemEvent,
} from "./output.ts";
export {
  defineInput,
  type InputContext,
  type InputEvent,
  type InputPlugin,
  type InputPluginSpec,
  type JsonValue,
  type SubmitOptions,
  type SubmitResult,
} from "./input.ts";
export {
  type BatchConfig,
  batchOptionsOf,
  type BatchShape,
  batchShape,
  type SendBatchDefaults,
  type SendBatchShape,
  sendBatchShape,
} from "./batch.ts";
export { BatchProgress, packRecords, type PartLimits, type Parts, utf8Length } from "./parts.ts";
export {
  batchLines,
  concatBytes,
  eventRecord,
  type HitFields,
  hitFields,
  hitTime,
  sendTestEvent,
  testEvent,
} from "./records.ts";
export {
  batchBody,
  bodySize,
  bodyStream,
  type Compression,
  COMPRESSIONS,
  contentType,
  type Format,
  formatBody,
  formatFramed,
  FORMATS,
} from "./body.ts";
export {
  keySafeHostname,
  type KeyValues,
  renderKey,
  unsafeKey,
  withExtension,
  withSuffix,
} from "./key.ts";
export { type FileWriter, type FileWriterOptions, openFileWriter } from "./file_writer.ts";
export { isPlugin, type Plugin } from "./plugin.ts";
export { VERSION } from "./version.ts";
export {
  type BoundedServer,
  type BoundedServerOptions,
  type HttpAnswer,
  type HttpRequest,
  type HttpRequestHead,
  serveBounded,
} from "../base/http/server.ts";
export {
  describeHit,
  eventNotification,
  hitsNotification,
  SAMPLE_HIT,
  TEST_PREFIX,
  testNotifications,
} from "./notification.ts";
export {
  extraCaCerts,
  gzipped,
  httpClientOf,
  type HttpOutcome,
  httpRequest,
  type HttpRequestSpec,
  redact,
  requestTimeout,
  type TlsClientConfig,
  type TlsClientOptions,
  tlsClientShape,
} from "./http_client.ts";
