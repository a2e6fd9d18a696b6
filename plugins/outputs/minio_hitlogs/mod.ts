/**
 * The `minio-hitlogs` output: every `interval` (10 minutes by default), the hits of that window as
 * one object `hitlogs-{timestamp}.json` in a MinIO or other S3-compatible bucket, in the node's own
 * export format. Path-style addressing, any region; large windows upload as multipart, streamed
 * from the journal.
 *
 * @module
 */
import type { IncomingMessage, RequestOptions } from "node:http";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Client } from "minio";
import {
  type Batch,
  batchBody,
  batchOptionsOf,
  batchShape,
  bodySize,
  bodyStream,
  byteSize,
  contentType,
  definePlugin,
  duration,
  keySafeHostname,
  type Output,
  type PluginContext,
  type SendResult,
  withExtension,
  z,
} from "@hitship/hitship/sdk";

const ENDPOINT = /^(https?):\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/;

/** Where Linux distributions keep their CA bundle. */
const CA_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
  "/etc/pki/tls/certs/ca-bundle.crt", // Fedora, RHEL
  "/etc/ssl/cert.pem",
];

/**
 * The system's CA bundle, read as a file: the runtime's own store would need `--allow-sys`
 * for all system information, where reading one file needs only `--allow-read` of it.
 *
 * @returns The PEM text, or `undefined` to let the runtime use its store.
 */
async function systemCaBundle(): Promise<string | undefined> {
  const paths = [Deno.env.get("SSL_CERT_FILE"), ...CA_BUNDLES].filter((p): p is string => !!p);
  for (const path of paths) {
    try {
      return await Deno.readTextFile(path);
    } catch {
      // next
    }
  }
  return undefined;
}

interface Transport {
  Client: typeof Client;
  http: typeof import("node:http");
  https: typeof import("node:https");
}
let transport: Promise<Transport> | undefined;

/**
 * The minio client and Node's HTTP modules are loaded when an output first sends: the client
 * costs about 28 MB of memory, the HTTP modules about 10 ms of start-up.
 */
function loadTransport(): Promise<Transport> {
  transport ??= Promise.all([import("minio"), import("node:http"), import("node:https")])
    .then(([minio, http, https]) => ({
      Client: minio.Client,
      http: http.default,
      https: https.default,
    }));
  return transport;
}

/** The config fields of a `minio-hitlogs` output. */
export const minioHitlogsSchema = z.strictObject({
  endpoint: z.string().regex(ENDPOINT, {
    error: "expected a URL with scheme and optional port, e.g. http://minio:9000",
  }).meta({
    description: "S3 endpoint URL with scheme and port",
    examples: ["http://minio.storage.svc:9000"],
  }),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
    error: "expected a bucket name of 3-63 lowercase letters, digits, '.' or '-'",
  }).meta({ description: "Bucket the objects are written to", examples: ["wallarm-hits"] }),
  access_key: z.string().min(1).meta({
    description: "Access key (use ${ENV_VAR})",
    examples: ["${MINIO_ACCESS_KEY}"],
  }),
  secret_key: z.string().min(1).meta({
    description: "Secret key (use ${ENV_VAR}); never logged",
    examples: ["${MINIO_SECRET_KEY}"],
  }),
  region: z.string().min(1).default("us-east-1").meta({ description: "Region of the bucket" }),
  create_bucket: z.boolean().default(false).meta({
    description: "Create the bucket when it does not exist",
  }),
  part_size: byteSize({ min: 5 * 1024 * 1024, max: 1024 ** 3 }).prefault("8MiB").meta({
    description: "Objects larger than this upload as multipart, a part at a time in memory",
    examples: ["8MiB"],
  }),
  timeout: duration({ min: 1000 }).prefault("30s").meta({
    description: "A request that makes no progress for this long fails (and is retried)",
    examples: ["30s"],
  }),
  tls: z.strictObject({
    ca_file: z.string().min(1).optional().meta({
      description: "PEM file of the CA that signed the server's certificate (default: the " +
        "system's CA bundle, /etc/ssl/certs/ca-certificates.crt or SSL_CERT_FILE)",
    }),
    verify: z.boolean().default(true).meta({
      description: "Verify the server's certificate (turn off only for tests)",
    }),
  }).optional().meta({ description: "TLS settings for https endpoints" }),
  ...batchShape,
});

/** A resolved `minio-hitlogs` config. */
export type MinioHitlogsConfig = z.output<typeof minioHitlogsSchema>;

const decoder = new TextDecoder();
/** The statuses whose body the minio client does not read (it would retry them). */
const UNREAD_STATUSES = (status: number) =>
  status >= 500 || status === 408 || status === 429 || status === 499;
/** Names tried past a taken one before an upload fails. */
const MAX_SUFFIXES = 1000;

/** HTTP statuses of S3 error codes, for servers whose error has no status attached. */
const S3_STATUS: Record<string, number> = {
  AccessDenied: 403,
  SignatureDoesNotMatch: 403,
  InvalidAccessKeyId: 403,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  SlowDown: 503,
  ServiceUnavailable: 503,
  InternalError: 500,
};

interface Attempt {
  client: Client;
  /** Fails the attempt: destroys its sockets. */
  abort(reason: string): void;
  /** Marks progress, pushing the inactivity deadline back. */
  progress(): void;
  /** The last HTTP status seen. */
  status(): number | undefined;
  /** The start of the last 5xx answer's body, once it has come (or 1 s has passed). */
  errorBody(): Promise<string>;
  /** Rejects when the attempt is aborted. */
  aborted: Promise<never>;
  close(): void;
}

class MinioHitlogs implements Output {
  readonly #config: MinioHitlogsConfig;
  readonly #context: PluginContext;
  readonly #url: { secure: boolean; host: string; port: number };
  #ca: string | undefined;
  #bucketReady = false;
  /** The part buffer, kept for the next upload while its size suits the load. */
  #part: Uint8Array | undefined;

  constructor(config: MinioHitlogsConfig, context: PluginContext) {
    this.#config = config;
    this.#context = context;
    const [, scheme, host, port] = ENDPOINT.exec(config.endpoint)!;
    const secure = scheme === "https";
    this.#url = {
      secure,
      host: host!.replace(/^\[|\]$/g, ""),
      port: port ? Number(port) : secure ? 443 : 80,
    };
  }

  /** One client per attempt, with its own connection pool, so an attempt can be cut off. */
  async #attempt(signal: AbortSignal): Promise<Attempt> {
    const { Client, http, https } = await loadTransport();
    const secure = this.#url.secure;
    if (secure && this.#ca === undefined) {
      this.#ca = this.#config.tls?.ca_file
        ? await Deno.readTextFile(this.#config.tls.ca_file)
        : await systemCaBundle();
    }
    const agent = secure
      ? new https.Agent({
        keepAlive: true,
        ca: this.#ca,
        rejectUnauthorized: this.#config.tls?.verify ?? true,
      })
      : new http.Agent({ keepAlive: true });
    let lastStatus: number | undefined;
    let errorBody: Promise<string> = Promise.resolve("");
    const base = secure ? https : http;
    const transport = {
      request(options: RequestOptions, callback?: (res: IncomingMessage) => void) {
        const req = base.request(options, callback);
        req.on("response", (res) => {
          lastStatus = res.statusCode;
          attempt.progress();
          // The client reads no body of what it calls retryable ("Retryable HTTP status: 500"):
          // keep its start, for the S3 error code and message in it.
          if (UNREAD_STATUSES(res.statusCode ?? 0)) {
            errorBody = new Promise((resolve) => {
              let text = "";
              res.on("data", (chunk: Uint8Array) => {
                if (text.length < 4096) text += decoder.decode(chunk);
              });
              res.on("end", () => resolve(text));
              res.on("error", () => resolve(text));
              res.on("close", () => resolve(text));
            });
          }
        });
        return req;
      },
    };
    let fail: (error: Error) => void = () => {};
    const aborted = new Promise<never>((_, reject) => (fail = reject));
    aborted.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const abort = (reason: string) => {
      clearTimeout(timer);
      agent.destroy();
      fail(new Error(reason));
    };
    const onAbort = () => abort("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    const timeout = this.#config.timeout;
    const attempt: Attempt = {
      client: new Client({
        endPoint: this.#url.host,
        port: this.#url.port,
        useSSL: secure,
        accessKey: this.#config.access_key,
        secretKey: this.#config.secret_key,
        region: this.#config.region,
        pathStyle: true,
        partSize: this.#config.part_size,
        transport: transport as never,
        transportAgent: agent,
        retryOptions: { disableRetry: true },
      }),
      abort,
      progress() {
        clearTimeout(timer);
        timer = setTimeout(() => abort(`no progress for ${timeout / 1000}s (timeout)`), timeout);
      },
      status: () => lastStatus,
      errorBody: () =>
        Promise.race([
          errorBody,
          new Promise<string>((resolve) => {
            const timer = setTimeout(() => resolve(""), 1000);
            errorBody.finally(() => clearTimeout(timer));
          }),
        ]),
      aborted,
      close() {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        agent.destroy();
      },
    };
    attempt.progress();
    return attempt;
  }

  async #describe(error: unknown, attempt: Attempt): Promise<{ message: string; status?: number }> {
    const status = attempt.status();
    const e = error as { code?: string; message?: string; cause?: unknown };
    const retryable = /Retryable HTTP status: (\d+)/.exec(e.message ?? "");
    if (retryable) {
      // A 5xx: its code and message are in the body the client did not read.
      const body = await attempt.errorBody();
      const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
      const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
      const http = Number(retryable[1]);
      return {
        message: `${http} ${code ?? "server error"}${message ? `: ${message}` : ""}`,
        status: http,
      };
    }
    const code = e.code ?? (e.cause as { code?: string } | undefined)?.code;
    if (code && /^[A-Z][A-Za-z]+$/.test(code)) {
      const http = status ?? S3_STATUS[code];
      const detail = e.message && e.message !== code ? `: ${e.message}` : "";
      return { message: `${http ?? ""} ${code}${detail}`.trim(), status: http };
    }
    const detail = e.message ?? String(error);
    return { message: code && !detail.includes(code) ? `${code} (${detail})` : detail, status };
  }

  async #ensureBucket(attempt: Attempt): Promise<void> {
    if (this.#bucketReady || !this.#config.create_bucket) return;
    const { client } = attempt;
    if (!await client.bucketExists(this.#config.bucket)) {
      try {
        await client.makeBucket(this.#config.bucket, this.#config.region);
        this.#context.logger.info(`Created bucket "${this.#config.bucket}"`, {
          output: this.#context.name,
        });
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
   * @param size The body's size, or an upper bound of it: the part buffer's size below `part_size`.
   * @param conditional Create only (`If-None-Match: *`): for batches, not for test objects.
   */
  async #upload(
    target: { readonly key: string; nextKey?(): Promise<string> },
    body: () => AsyncIterable<Uint8Array>,
    size: number,
    signal: AbortSignal,
    conditional = true,
  ): Promise<SendResult> {
    const { bucket } = this.#config;
    const attempt = await this.#attempt(signal);
    const race = <T>(p: Promise<T>) => Promise.race([p, attempt.aborted]);
    try {
      await race(this.#ensureBucket(attempt));
      for (let taken = 0; taken < MAX_SUFFIXES; taken++) {
        const key = target.key;
        const put = await this.#put(attempt, key, body(), size, conditional);
        if (put.ok) {
          return {
            ok: true,
            status: attempt.status() ?? 200,
            detail: `${bucket}/${key}${put.parts > 0 ? ` (${put.parts} parts)` : ""} ${put.etag}`
              .trim(),
          };
        }
        // The name is taken: by this batch's own earlier upload, or by another writer.
        const stat = await race(attempt.client.statObject(bucket, key)).catch((error) => {
          if ((error as { code?: string }).code === "NotFound") return undefined;
          throw error;
        });
        if (!stat) continue; // gone again meanwhile: try the same name
        const mine = await this.#etagOf(body());
        if (stat.etag.replace(/"/g, "").toLowerCase() === mine) {
          return {
            ok: true,
            status: 200,
            detail: `${bucket}/${key} ${mine} (uploaded before)`,
          };
        }
        if (!target.nextKey) break;
        const next = await target.nextKey();
        this.#context.logger.warn(
          `Object "${key}" in bucket "${bucket}" was written by another writer: uploading as "${next}"`,
          { output: this.#context.name },
        );
      }
      return {
        ok: false,
        error:
          `Cannot upload object "${target.key}" to bucket "${bucket}" at ${this.#config.endpoint}: the name is taken`,
      };
    } catch (error) {
      const { message, status } = await this.#describe(error, attempt);
      const code = (error as { code?: string }).code;
      const hint = code === "NoSuchBucket"
        ? `bucket "${bucket}" does not exist (${message}); create it or set create_bucket: true`
        : message;
      return {
        ok: false,
        status,
        error:
          `Cannot upload object "${target.key}" to bucket "${bucket}" at ${this.#config.endpoint}: ${hint}`,
      };
    } finally {
      attempt.close();
    }
  }

  /**
   * Puts one object from its body chunks, through one reused part buffer: a body smaller than a
   * part goes as a single PUT, a larger one as a multipart upload, a part at a time. Memory stays
   * at one part whatever the size of the object.
   *
   * @returns `ok: false` when `conditional` and the name is taken.
   */
  async #put(
    attempt: Attempt,
    key: string,
    body: AsyncIterable<Uint8Array>,
    size: number,
    conditional: boolean,
  ): Promise<{ ok: true; etag: string; parts: number } | { ok: false }> {
    const { bucket } = this.#config;
    const client = attempt.client;
    const race = <T>(p: Promise<T>) => Promise.race([p, attempt.aborted]);
    const headers: Record<string, string> = {
      "Content-Type": key.endsWith(".gz")
        ? "application/gzip"
        : contentType(key.endsWith(".jsonl") ? "jsonl" : "json"),
    };
    const createOnly: Record<string, string> = conditional ? { "If-None-Match": "*" } : {};
    const partSize = this.#config.part_size;
    let part = this.#partBuffer(size);
    const view = (n: number) => Buffer.from(part.buffer, part.byteOffset, n);
    const taken = (error: unknown) => (error as { code?: string }).code === "PreconditionFailed";
    let uploadId: string | undefined;
    const etags: Array<{ part: number; etag: string }> = [];
    try {
      let filled = 0;
      const flushPart = async () => {
        if (uploadId === undefined) {
          // Stores ignore If-None-Match on multipart uploads or honour it only at the end:
          // look first.
          if (conditional && await this.#exists(attempt, key)) return false;
          // A replay after a crash may find the upload it began: start it over.
          const stale = await race(client.findUploadId(bucket, key));
          if (stale) await race(client.abortMultipartUpload(bucket, key, stale));
          uploadId = await race(client.initiateNewMultipartUpload(bucket, key, headers));
        }
        const number = etags.length + 1;
        const { etag } = await race(client.uploadPart({
          bucketName: bucket,
          objectName: key,
          uploadID: uploadId,
          partNumber: number,
          headers: {},
        }, view(filled)));
        etags.push({ part: number, etag });
        filled = 0;
        attempt.progress();
        return true;
      };
      for await (const chunk of body) {
        attempt.progress();
        let at = 0;
        while (at < chunk.length) {
          if (filled === part.length) {
            // More than `size` said (a full part flushes before this): a whole part, then.
            const grown = new Uint8Array(partSize);
            grown.set(part);
            part = this.#part = grown;
          }
          const n = Math.min(chunk.length - at, part.length - filled);
          part.set(chunk.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === partSize && !await flushPart()) return { ok: false };
        }
      }
      if (uploadId === undefined) {
        try {
          const put = await race(
            client.putObject(bucket, key, view(filled), filled, { ...headers, ...createOnly }),
          );
          return { ok: true, etag: put.etag ?? "", parts: 0 };
        } catch (error) {
          if (conditional && taken(error)) return { ok: false };
          throw error;
        }
      }
      if (filled > 0) await flushPart();
      if (conditional && await this.#exists(attempt, key)) return { ok: false };
      try {
        const etag = await race(this.#complete(client, key, uploadId, etags, createOnly));
        uploadId = undefined;
        return { ok: true, etag, parts: etags.length };
      } catch (error) {
        if (conditional && taken(error)) return { ok: false };
        throw error;
      }
    } finally {
      if (uploadId !== undefined) {
        // Given up or taken: the parts go.
        await race(client.abortMultipartUpload(bucket, key, uploadId)).catch(() => {});
      }
    }
  }

  /**
   * A part buffer for a body of `size` bytes: `part_size` for a multipart upload, the body's own
   * size for a smaller one. The last upload's buffer is reused while it is at most twice that
   * (uploads never overlap): a steady load reuses one buffer, a quiet output's windows do not keep
   * the 8 MiB of a busy one's. (A new buffer per upload would leave the last for the garbage
   * collector: a higher peak, not a lower one.)
   */
  #partBuffer(size: number): Uint8Array {
    const wanted = Math.max(1, Math.min(this.#config.part_size, size));
    const kept = this.#part;
    if (kept && kept.length >= wanted && kept.length <= 2 * wanted) return kept;
    this.#part = new Uint8Array(wanted);
    return this.#part;
  }

  /** Completes a multipart upload, with `headers` (If-None-Match where the store takes it). */
  async #complete(
    client: Client,
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
      bucketName: this.#config.bucket,
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

  async #exists(attempt: Attempt, key: string): Promise<boolean> {
    try {
      await Promise.race([
        attempt.client.statObject(this.#config.bucket, key),
        attempt.aborted,
      ]);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === "NotFound") return false;
      throw error;
    }
  }

  /**
   * The ETag an upload of this body gets from S3: the MD5 of a single PUT, or the MD5 of the
   * parts' MD5s and their count for a multipart upload of `part_size` parts.
   */
  async #etagOf(body: AsyncIterable<Uint8Array>): Promise<string> {
    const partSize = this.#config.part_size;
    const digests: Uint8Array[] = [];
    let hash = createHash("md5");
    let filled = 0;
    for await (const chunk of body) {
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(chunk.length - at, partSize - filled);
        hash.update(chunk.subarray(at, at + n));
        filled += n;
        at += n;
        if (filled === partSize) {
          digests.push(hash.digest());
          hash = createHash("md5");
          filled = 0;
        }
      }
    }
    if (digests.length === 0) return hash.digest("hex");
    if (filled > 0) digests.push(hash.digest());
    const whole = createHash("md5");
    for (const digest of digests) whole.update(digest);
    return `${whole.digest("hex")}-${digests.length}`;
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
    const key = `hitship-test/${keySafeHostname(this.#context.hostname)}-${
      Math.floor(now / 1000)
    }.json`;
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
    const [, scheme, host, port] = ENDPOINT.exec(config.endpoint)!;
    const where = `${scheme}://${host!.toLowerCase()}:${port ?? (scheme === "https" ? 443 : 80)}`;
    const key = withExtension(
      config.key.replaceAll("{output}", name),
      config.format,
      config.compression,
    );
    return `s3:${where}/${config.bucket}/${key}`;
  },
});
