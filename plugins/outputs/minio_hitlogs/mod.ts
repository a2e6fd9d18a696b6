/**
 * The `minio-hitlogs` output: every `interval` (10 minutes by default), the hits of that window as
 * one object `hitlogs-{timestamp}.json` in a MinIO or other S3-compatible bucket, in the node's own
 * export format. Path-style addressing, any region; large windows upload as multipart, streamed
 * from the journal. Its parts, as Fluent Bit's `out_s3` has them: the config (`config.ts`), one
 * attempt at the server and its errors (`attempt.ts`), putting an object whole or in parts
 * (`multipart.ts`), and ETags (`etag.ts`); here, naming: an upload never replaces an object it did
 * not write.
 *
 * @module
 */
import {
  type Batch,
  batchBody,
  batchOptionsOf,
  bodySize,
  bodyStream,
  definePlugin,
  keySafeHostname,
  type Output,
  type PluginContext,
  type SendResult,
  withExtension,
} from "@hitship/hitship/sdk";
import { type Attempt, caOf, describeError, openAttempt } from "./attempt.ts";
import { type MinioHitlogsConfig, minioHitlogsSchema, originOf } from "./config.ts";
import { etagOf } from "./etag.ts";
import { PartBuffer, putObject } from "./multipart.ts";

export { type MinioHitlogsConfig, minioHitlogsSchema } from "./config.ts";

/** Names tried past a taken one before an upload fails. */
const MAX_SUFFIXES = 1000;

/** Where a batch goes: its name, and the next free one when another writer took it. */
interface Target {
  readonly key: string;
  nextKey?(): Promise<string>;
}

class MinioHitlogs implements Output {
  readonly #config: MinioHitlogsConfig;
  readonly #context: PluginContext;
  #ca: string | undefined;
  #bucketReady = false;
  readonly #parts = new PartBuffer();

  constructor(config: MinioHitlogsConfig, context: PluginContext) {
    this.#config = config;
    this.#context = context;
  }

  async #open(signal: AbortSignal): Promise<Attempt> {
    if (this.#config.endpoint.startsWith("https:") && this.#ca === undefined) {
      this.#ca = await caOf(this.#config);
    }
    return await openAttempt(this.#config, this.#ca, signal);
  }

  async #ensureBucket(attempt: Attempt): Promise<void> {
    if (this.#bucketReady || !this.#config.create_bucket) return;
    const { client } = attempt;
    const { bucket, region } = this.#config;
    if (!await client.bucketExists(bucket)) {
      try {
        await client.makeBucket(bucket, region);
        this.#context.logger.info(`Created bucket "${bucket}"`, { output: this.#context.name });
      } catch (error) {
        if ((error as { code?: string }).code !== "BucketAlreadyOwnedByYou") throw error;
      }
    }
    this.#bucketReady = true;
  }

  /**
   * Uploads one batch under its key, or, when another writer's object has that name, under the
   * next free one (`batch.nextKey()`): an upload never replaces an object it did not write. An
   * object already there with the ETag this body gives is this batch's own earlier upload.
   *
   * @param size The body's size, or an upper bound of it.
   * @param conditional Create only (`If-None-Match: *`): for batches, not for test objects.
   */
  async #upload(
    target: Target,
    body: () => AsyncIterable<Uint8Array>,
    size: number,
    signal: AbortSignal,
    conditional = true,
  ): Promise<SendResult> {
    const { bucket, endpoint } = this.#config;
    const attempt = await this.#open(signal);
    try {
      await attempt.race(this.#ensureBucket(attempt));
      for (let tries = 0; tries < MAX_SUFFIXES; tries++) {
        const key = target.key;
        const put = await putObject(
          attempt,
          {
            bucket,
            key,
            conditional,
            partSize: this.#config.part_size,
          },
          body(),
          size,
          this.#parts,
        );
        if (put.ok) {
          const parts = put.parts > 0 ? ` (${put.parts} parts)` : "";
          const detail = `${bucket}/${key}${parts} ${put.etag}`.trim();
          return { ok: true, status: attempt.status() ?? 200, detail };
        }
        const next = await this.#taken(attempt, target, body);
        if (typeof next === "object") {
          return {
            ok: true,
            status: 200,
            detail: `${bucket}/${key} ${next.mine} (uploaded before)`,
          };
        }
        if (next === "stuck") break;
      }
      return {
        ok: false,
        error:
          `Cannot upload object "${target.key}" to bucket "${bucket}" at ${endpoint}: the name is taken`,
      };
    } catch (error) {
      const { message, status } = await describeError(error, attempt);
      const hint = (error as { code?: string }).code === "NoSuchBucket"
        ? `bucket "${bucket}" does not exist (${message}); create it or set create_bucket: true`
        : message;
      return {
        ok: false,
        status,
        error: `Cannot upload object "${target.key}" to bucket "${bucket}" at ${endpoint}: ${hint}`,
      };
    } finally {
      attempt.close();
    }
  }

  /**
   * The name is taken: by this batch's own earlier upload (`mine`: its ETag is this body's), by nothing any
   * more (`again`), or by another writer: then the batch moves to the next name (`again`), or,
   * where names cannot move, the upload fails (`stuck`).
   */
  async #taken(
    attempt: Attempt,
    target: Target,
    body: () => AsyncIterable<Uint8Array>,
  ): Promise<{ mine: string } | "again" | "stuck"> {
    const { bucket } = this.#config;
    const key = target.key;
    const stat = await attempt.race(attempt.client.statObject(bucket, key)).catch((error) => {
      if ((error as { code?: string }).code === "NotFound") return undefined;
      throw error;
    });
    if (!stat) return "again"; // gone again meanwhile: try the same name
    const mine = await etagOf(body(), this.#config.part_size);
    if (stat.etag.replace(/"/g, "").toLowerCase() === mine) return { mine };
    if (!target.nextKey) return "stuck";
    const next = await target.nextKey();
    this.#context.logger.warn(
      `Object "${key}" in bucket "${bucket}" was written by another writer: uploading as "${next}"`,
      { output: this.#context.name },
    );
    return "again";
  }

  #body(batch: Batch): AsyncIterable<Uint8Array> {
    const { format, compression } = this.#config;
    return compression === "none"
      ? batchBody(batch, format, true)
      : bodyStream(batchBody(batch, format), compression);
  }

  send(batch: Batch, signal: AbortSignal): Promise<SendResult> {
    // Compressed, the body is smaller than this: an upper bound.
    const size = bodySize(this.#config.format, batch.count, batch.rawBytes);
    return this.#upload(batch, () => this.#body(batch), size, signal);
  }

  async test(signal: AbortSignal): Promise<SendResult> {
    const now = this.#context.clock.now();
    const host = keySafeHostname(this.#context.hostname);
    const key = `hitship-test/${host}-${Math.floor(now / 1000)}.json`;
    const body = new TextEncoder().encode(
      JSON.stringify({
        summary: "[Test message] hitship can write to this bucket",
        output: this.#context.name,
        hostname: this.#context.hostname,
        time: new Date(now).toISOString(),
      }) + "\n",
    );
    return await this.#upload(
      { key },
      async function* () {
        yield body;
      },
      body.length,
      signal,
      false,
    );
  }
}

/** The `minio-hitlogs` output plugin. */
export const minioHitlogsOutput = definePlugin({
  type: "minio-hitlogs",
  description: "Uploads each window of hits as one object to a MinIO / S3-compatible bucket",
  schema: minioHitlogsSchema,
  supportedEvents: ["hits"],
  defaultEvents: ["hits"],
  batchOptions: batchOptionsOf,
  create: (config, context) => new MinioHitlogs(config, context),
  destination(config, name) {
    const key = withExtension(
      config.key.replaceAll("{output}", name),
      config.format,
      config.compression,
    );
    return `s3:${originOf(config.endpoint)}/${config.bucket}/${key}`;
  },
});
