/**
 * Gunzipping what a sender sent, bounded: a small body that unpacks to gigabytes stops at `max`.
 *
 * @module
 */

/** Thrown by {@linkcode gunzip} when the data unpacks past its limit. */
export class UnpackedTooLarge extends Error {
  /**
   * The error for data that unpacks past `max` bytes.
   *
   * @param max The limit that was passed.
   */
  constructor(max: number) {
    super(`unpacks past ${max} bytes`);
  }
}

/**
 * Gunzips at most `max` bytes (gzip members one after another, as senders concatenate them).
 * Throws {@linkcode UnpackedTooLarge} past `max`, and the decompressor's error for broken gzip.
 */
export async function gunzip(data: Uint8Array, max: number): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of stream) {
    size += part.length;
    if (size > max) throw new UnpackedTooLarge(max);
    parts.push(part);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
