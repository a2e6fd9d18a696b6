/**
 * Putting one object from a body that arrives in chunks, through one reused part buffer: a body
 * smaller than a part goes as one PUT, a larger one as a multipart upload, a part at a time, so
 * memory stays at one part whatever the object's size. With `conditional`, an object is only
 * created, never replaced: `If-None-Match: *` on the PUT and on completion, and a look first,
 * since stores ignore the header on multipart uploads or honour it only at the end.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Client } from "minio";
import { contentType } from "@hitship/hitship/sdk";
import type { Attempt } from "./attempt.ts";

const decoder = new TextDecoder();

/** Where and how an object is put. */
export interface PutTarget {
  bucket: string;
  key: string;
  /** Create only: when the name is taken, nothing is written. */
  conditional: boolean;
  /** Bodies larger than this go as multipart uploads of parts this large. */
  partSize: number;
}

/** What a put came to: the object's ETag and parts, or the name was taken (`conditional`). */
export type PutResult = { ok: true; etag: string; parts: number } | { ok: false };

/**
 * The part buffer of one output, reused across uploads (which never overlap) while its size suits
 * them: a steady load reuses one buffer, a quiet output's windows do not keep the 8 MiB of a busy
 * one's. (A new buffer per upload would leave the last for the garbage collector: a higher peak,
 * not a lower one.)
 */
export class PartBuffer {
  #buffer: Uint8Array | undefined;

  /** A buffer for a body of `size` bytes: `partSize` for a multipart upload, else its size. */
  take(size: number, partSize: number): Uint8Array {
    const wanted = Math.max(1, Math.min(partSize, size));
    const kept = this.#buffer;
    if (kept && kept.length >= wanted && kept.length <= 2 * wanted) return kept;
    this.#buffer = new Uint8Array(wanted);
    return this.#buffer;
  }

  /** The body is larger than it said: a whole part, keeping what `buffer` holds. */
  grow(buffer: Uint8Array, partSize: number): Uint8Array {
    const grown = new Uint8Array(partSize);
    grown.set(buffer);
    this.#buffer = grown;
    return grown;
  }
}

/** Whether an object of that name is there. */
export async function exists(attempt: Attempt, bucket: string, key: string): Promise<boolean> {
  try {
    await attempt.race(attempt.client.statObject(bucket, key));
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "NotFound") return false;
    throw error;
  }
}

const taken = (error: unknown) => (error as { code?: string }).code === "PreconditionFailed";

/** One multipart upload, begun at its first part. */
class MultipartUpload {
  readonly #attempt: Attempt;
  readonly #target: PutTarget;
  readonly #headers: Record<string, string>;
  #uploadId: string | undefined;
  readonly #etags: Array<{ part: number; etag: string }> = [];

  constructor(attempt: Attempt, target: PutTarget, headers: Record<string, string>) {
    this.#attempt = attempt;
    this.#target = target;
    this.#headers = headers;
  }

  /** Parts uploaded so far. */
  get parts(): number {
    return this.#etags.length;
  }

  /** Uploads the next part; false when the name is taken (looked at before the first part). */
  async part(bytes: Uint8Array): Promise<boolean> {
    const { client, race } = this.#attempt;
    const { bucket, key, conditional } = this.#target;
    if (this.#uploadId === undefined) {
      if (conditional && await exists(this.#attempt, bucket, key)) return false;
      // A replay after a crash may find the upload it began: start it over.
      const stale = await race(client.findUploadId(bucket, key));
      if (stale) await race(client.abortMultipartUpload(bucket, key, stale));
      this.#uploadId = await race(client.initiateNewMultipartUpload(bucket, key, this.#headers));
    }
    const number = this.#etags.length + 1;
    const { etag } = await race(client.uploadPart({
      bucketName: bucket,
      objectName: key,
      uploadID: this.#uploadId,
      partNumber: number,
      headers: {},
    }, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)));
    this.#etags.push({ part: number, etag });
    this.#attempt.progress();
    return true;
  }

  /** Completes the upload: its ETag, or undefined when the name was taken meanwhile. */
  async complete(createOnly: Record<string, string>): Promise<string | undefined> {
    const { bucket, key, conditional } = this.#target;
    if (conditional && await exists(this.#attempt, bucket, key)) return undefined;
    try {
      const etag = await this.#attempt.race(
        completeUpload(this.#attempt.client, bucket, key, this.#uploadId!, this.#etags, createOnly),
      );
      this.#uploadId = undefined;
      return etag;
    } catch (error) {
      if (conditional && taken(error)) return undefined;
      throw error;
    }
  }

  /** Gives up an upload that did not complete: its parts go. */
  async abort(): Promise<void> {
    if (this.#uploadId === undefined) return;
    const { bucket, key } = this.#target;
    await this.#attempt.race(
      this.#attempt.client.abortMultipartUpload(bucket, key, this.#uploadId),
    ).catch(() => {});
    this.#uploadId = undefined;
  }
}

/**
 * Puts one object from its body chunks (`size` is the body's size, or an upper bound of it).
 *
 * @returns `ok: false` when `conditional` and the name is taken.
 */
export async function putObject(
  attempt: Attempt,
  target: PutTarget,
  body: AsyncIterable<Uint8Array>,
  size: number,
  buffers: PartBuffer,
): Promise<PutResult> {
  const { bucket, key, conditional, partSize } = target;
  const headers: Record<string, string> = {
    "Content-Type": key.endsWith(".gz")
      ? "application/gzip"
      : contentType(key.endsWith(".jsonl") ? "jsonl" : "json"),
  };
  const createOnly: Record<string, string> = conditional ? { "If-None-Match": "*" } : {};
  const upload = new MultipartUpload(attempt, target, headers);
  let part = buffers.take(size, partSize);
  let filled = 0;
  try {
    for await (const chunk of body) {
      attempt.progress();
      for (let at = 0; at < chunk.length;) {
        // More than `size` said (a full part flushes before this): a whole part, then.
        if (filled === part.length) part = buffers.grow(part, partSize);
        const n = Math.min(chunk.length - at, part.length - filled);
        part.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled < partSize) continue;
        if (!await upload.part(part.subarray(0, filled))) return { ok: false };
        filled = 0;
      }
    }
    if (upload.parts === 0) {
      const view = Buffer.from(part.buffer, part.byteOffset, filled);
      try {
        const put = await attempt.race(
          attempt.client.putObject(bucket, key, view, filled, { ...headers, ...createOnly }),
        );
        return { ok: true, etag: put.etag ?? "", parts: 0 };
      } catch (error) {
        if (conditional && taken(error)) return { ok: false };
        throw error;
      }
    }
    if (filled > 0 && !await upload.part(part.subarray(0, filled))) return { ok: false };
    const etag = await upload.complete(createOnly);
    return etag === undefined ? { ok: false } : { ok: true, etag, parts: upload.parts };
  } finally {
    // Given up or taken: the parts go.
    await upload.abort();
  }
}

/** Completes a multipart upload, with `headers` (If-None-Match where the store takes it). */
async function completeUpload(
  client: Client,
  bucket: string,
  key: string,
  uploadId: string,
  etags: Array<{ part: number; etag: string }>,
  headers: Record<string, string>,
): Promise<string> {
  const parts = etags.map((e) =>
    `<Part><PartNumber>${e.part}</PartNumber><ETag>${e.etag}</ETag></Part>`
  ).join("");
  const payload =
    `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts}</CompleteMultipartUpload>`;
  const response = await client.makeRequestAsync({
    method: "POST",
    bucketName: bucket,
    objectName: key,
    query: `uploadId=${encodeURIComponent(uploadId)}`,
    headers,
  }, payload);
  let text = "";
  for await (const chunk of response) text += decoder.decode(chunk as Uint8Array);
  // An error can come with status 200 here (S3 sends it in the body).
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  if (code) throw Object.assign(new Error(code), { code });
  return /<ETag>"?([^<"]*)"?<\/ETag>/.exec(text)?.[1] ?? "";
}
