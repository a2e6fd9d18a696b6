/**
 * The chunked transfer coding (RFC 9112 §7.1), read strictly as bytes arrive: a chunk size is
 * hexadecimal digits only, extensions are `;name` or `;name=value` (token or quoted string), every
 * line ends in CRLF, chunk data is followed by CRLF, trailer fields are well formed.
 *
 * @module
 */
import { isToken } from "./head.ts";

/** The chunked body is not well formed. */
export class ChunkedError extends Error {}

const CR = 0x0d;
const LF = 0x0a;

/** Longest chunk-size line (with extensions), and all trailer lines together. */
const MAX_LINE = 4096;
/** More hexadecimal digits than this pass every limit (and 2^53). */
const MAX_HEX_DIGITS = 13;

const SIZE = 0;
const DATA = 1;
const DATA_END = 2;
const TRAILER = 3;
const DONE = 4;

const latin1 = new TextDecoder("latin1");

/** A chunk-size line without its CRLF: the size, or an error. */
function chunkSize(line: string): number {
  let i = 0;
  while (i < line.length && /[0-9a-fA-F]/.test(line[i]!)) i++;
  if (i === 0) throw new ChunkedError("a chunk size is not hexadecimal");
  if (i > MAX_HEX_DIGITS) throw new ChunkedError("a chunk size is too large");
  const size = parseInt(line.slice(0, i), 16);
  const rest = line.slice(i);
  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), without the optional
  // whitespace, which some readers (llhttp) refuse.
  const ext = /^;([^=; \t]+)(?:=("(?:[^"\\]|\\.)*"|[^; \t"]+))?/;
  let at = 0;
  while (at < rest.length) {
    const match = ext.exec(rest.slice(at));
    if (
      !match || !isToken(match[1]!) || (match[2] && !match[2].startsWith('"') && !isToken(match[2]))
    ) {
      throw new ChunkedError("a chunk extension is not well formed");
    }
    at += match[0].length;
  }
  return size;
}

/**
 * Decodes a chunked body fed in pieces as they arrive.
 *
 * @example
 * ```ts
 * import { ChunkedDecoder } from "./chunked.ts";
 * const decoder = new ChunkedDecoder();
 * const parts: Uint8Array[] = [];
 * decoder.feed(new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\n"), (part) => parts.push(part));
 * decoder.done; // true
 * ```
 */
export class ChunkedDecoder {
  #state = SIZE;
  #left = 0;
  /** The line being read (a chunk size or a trailer), as latin1 text. */
  #line = "";
  #trailerBytes = 0;

  /** Whether the last chunk and the trailers have been read. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** Bytes of chunk data still to come in the current chunk (0 between chunks). */
  get left(): number {
    return this.#state === DATA ? this.#left : 0;
  }

  /**
   * Reads `bytes`, giving chunk data to `onData` (views of `bytes`), up to the end of the body.
   *
   * @returns How many bytes were used: all of them, or fewer when the body ended within them (the
   * rest is the next request).
   * @throws {ChunkedError} When the body is not well formed.
   */
  feed(bytes: Uint8Array, onData: (part: Uint8Array) => void): number {
    let at = 0;
    while (at < bytes.length && this.#state !== DONE) {
      switch (this.#state) {
        case DATA: {
          const n = Math.min(this.#left, bytes.length - at);
          onData(bytes.subarray(at, at + n));
          at += n;
          this.#left -= n;
          if (this.#left === 0) this.#state = DATA_END;
          break;
        }
        case DATA_END: {
          // CRLF after the data: the CR, then the LF (they may arrive apart).
          const expected = this.#line === "" ? CR : LF;
          if (bytes[at] !== expected) throw new ChunkedError("chunk data is not followed by CRLF");
          at++;
          if (expected === CR) this.#line = "\r";
          else {
            this.#line = "";
            this.#state = SIZE;
          }
          break;
        }
        default:
          at = this.#readLine(bytes, at);
      }
    }
    return at;
  }

  /** Reads a chunk-size or trailer line from `at`; acts on it when it is complete. */
  #readLine(bytes: Uint8Array, at: number): number {
    const lf = bytes.indexOf(LF, at);
    const end = lf < 0 ? bytes.length : lf + 1;
    this.#line += latin1.decode(bytes.subarray(at, end));
    const limit = this.#state === SIZE ? MAX_LINE : MAX_LINE - this.#trailerBytes;
    if (this.#line.length > limit) {
      throw new ChunkedError("a chunk line or the trailers are too long");
    }
    if (lf < 0) {
      const cr = this.#line.indexOf("\r");
      if (cr >= 0 && cr < this.#line.length - 1) {
        throw new ChunkedError("a bare CR in a chunk line");
      }
      return end;
    }
    const line = this.#line;
    this.#line = "";
    if (line.length < 2 || line.charCodeAt(line.length - 2) !== CR) {
      throw new ChunkedError("a chunk line ends in a bare LF");
    }
    const content = line.slice(0, -2);
    if (content.includes("\r")) throw new ChunkedError("a bare CR in a chunk line");
    if (this.#state === SIZE) {
      const size = chunkSize(content);
      if (size === 0) this.#state = TRAILER;
      else {
        this.#state = DATA;
        this.#left = size;
      }
      return end;
    }
    // A trailer field, or the empty line that ends the body.
    if (content === "") {
      this.#state = DONE;
      return end;
    }
    this.#trailerBytes += line.length;
    const colon = content.indexOf(":");
    if (colon <= 0 || !isToken(content.slice(0, colon))) {
      throw new ChunkedError("a trailer field is not well formed");
    }
    for (let i = colon + 1; i < content.length; i++) {
      const c = content.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
        throw new ChunkedError("a trailer field holds a control character");
      }
    }
    return end;
  }
}
