/**
 * The config of a `minio-hitlogs` output: its schema, which is also its documentation, and where
 * its endpoint points.
 *
 * @module
 */
import { batchShape, byteSize, duration, z } from "@hitship/hitship/sdk";

const ENDPOINT = /^(https?):\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/;

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

/** Where an endpoint URL points: its scheme, host (IPv6 without brackets) and port. */
export function endpointOf(endpoint: string): { secure: boolean; host: string; port: number } {
  const [, scheme, host, port] = ENDPOINT.exec(endpoint)!;
  const secure = scheme === "https";
  return {
    secure,
    host: host!.replace(/^\[|\]$/g, ""),
    port: port ? Number(port) : secure ? 443 : 80,
  };
}

/** An endpoint as one origin, for telling two outputs' places apart: `http://host:port`. */
export function originOf(endpoint: string): string {
  const [, scheme, host, port] = ENDPOINT.exec(endpoint)!;
  return `${scheme}://${host!.toLowerCase()}:${port ?? (scheme === "https" ? 443 : 80)}`;
}
