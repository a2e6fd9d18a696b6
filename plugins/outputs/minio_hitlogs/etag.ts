/**
 * The ETag S3 gives an object, computed from its body: how an upload tells its own earlier write
 * (a replay after a crash) from another writer's object under the same name.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * The ETag an upload of this body gets from S3: the MD5 of a single PUT, or the MD5 of the
 * parts' MD5s and their count for a multipart upload of `partSize` parts.
 */
export async function etagOf(body: AsyncIterable<Uint8Array>, partSize: number): Promise<string> {
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
