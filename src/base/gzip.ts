/**
 * Gunzipping what a sender sent, bounded: a small body that unpacks to gigabytes stops at `max`
 * while it is being inflated, having held at most `max` bytes, and the event loop turns while a
 * large body is inflated, so other connections are served meanwhile.
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
 * Packed bytes given to the inflater at a time: deflate unpacks at most about 1,032 bytes from
 * one, so one slice is at most ~16 MiB of work before the limit is looked at again.
 */
const SLICE_BYTES = 16 * 1024;
/** Time the inflater may keep the event loop before it lets it turn. */
const TURN_MS = 8;

type Zlib = typeof import("node:zlib");
let zlib: Zlib | undefined;

/**
 * Gunzips at most `max` bytes: gzip members one after another (RFC 1952 allows them, and senders
 * concatenate them) unpack to their concatenation; zero bytes after the last member are ignored.
 * Throws {@linkcode UnpackedTooLarge} as soon as the output passes `max`, and the decompressor's
 * error for broken gzip (a bad header, a cut stream, a wrong checksum).
 *
 * @example
 * ```ts
 * import { gzipSync } from "node:zlib";
 * import { gunzip } from "./gzip.ts";
 * const packed = gzipSync(new TextEncoder().encode("a\n"));
 * new TextDecoder().decode(await gunzip(packed, 1024)); // "a\n"
 * ```
 */
export async function gunzip(data: Uint8Array, max: number): Promise<Uint8Array> {
  // node:zlib, loaded on first use: its streams handle concatenated members, and they stop
  // mid-inflate when destroyed (a DecompressionStream unpacks a whole input chunk at once).
  zlib ??= await import("node:zlib");
  const inflater = zlib.createGunzip({ chunkSize: 64 * 1024 });
  // A gzip member ends with its unpacked size (mod 2^32): for the usual single member, the one
  // buffer needed. New memory is costly (page faults), so it is taken once where it can be.
  const claimed = data.length >= 18
    ? new DataView(data.buffer, data.byteOffset + data.length - 4, 4).getUint32(0, true)
    : 0;
  let out = new Uint8Array(Math.min(max, Math.max(claimed, 64 * 1024)));
  let length = 0;
  let failure: Error | undefined;
  inflater.on("data", (chunk: Uint8Array) => {
    if (failure) return;
    // A plain view of node's Buffer: `set` from a Buffer itself takes V8's slow path (60x).
    const part = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    if (length + part.length > max) {
      failure = new UnpackedTooLarge(max);
      inflater.destroy();
      return;
    }
    if (length + part.length > out.length) {
      const bigger = new Uint8Array(Math.min(max, Math.max(length + part.length, out.length * 2)));
      bigger.set(out.subarray(0, length));
      out = bigger;
    }
    out.set(part, length);
    length += part.length;
  });
  inflater.on("error", (error: Error) => {
    failure ??= error;
  });
  const settled = new Promise<void>((resolve) => {
    inflater.on("end", resolve);
    inflater.on("close", resolve);
  });
  let turned = performance.now();
  for (let at = 0; at < data.length && !failure; at += SLICE_BYTES) {
    const written = new Promise<void>((resolve) => {
      inflater.write(data.subarray(at, at + SLICE_BYTES), () => resolve());
    });
    await Promise.race([written, settled]);
    if (performance.now() - turned > TURN_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      turned = performance.now();
    }
  }
  if (!failure) inflater.end();
  await settled;
  if (failure) throw failure;
  return out.subarray(0, length);
}
