/**
 * The records of the `forward` input's messages as JSON lines: the modes (Message, Forward,
 * PackedForward, CompressedPackedForward), the tags taken, each record written straight from
 * its msgpack bytes, and entries that cannot be hits made lines the check rejects (past 100 in one
 * message, counted instead).
 *
 * @module
 */
import { decode } from "@msgpack/msgpack";
import { gunzip, UnpackedTooLarge } from "@hitship/hitship/sdk";
import { JsonWriter, MsgpackError, peek, skip } from "./msgpack.ts";

/** The protocol's own small messages (options); records never go through it. */
const limits = { maxDepth: 8, maxStrLength: 64 * 1024, maxArrayLength: 16, maxMapLength: 16 };
const decoder = new TextDecoder();
const NEWLINE = 0x0a;
/**
 * Arrays and maps inside one another a record may have: one nested deeper than a hit may be (64)
 * is written out all the same, and rejected by the hit check with the reason a line from stdin
 * would get.
 */
const MESSAGE_DEPTH = 512;
/** Unusable entries of one message written as lines (with their reasons); the rest are counted. */
const MAX_UNUSABLE_LINES = 100;

/** Why a connection is closed. */
export class Refused extends Error {}

/** A CompressedPackedForward body, unpacked to at most `max` bytes. */
async function unpack(data: Uint8Array, max: number): Promise<Uint8Array> {
  try {
    return await gunzip(data, max);
  } catch (error) {
    if (error instanceof UnpackedTooLarge) {
      throw new Refused(`a compressed message unpacks past max_message_bytes (${max} bytes)`);
    }
    throw new Refused(`a compressed message cannot be gunzipped: ${(error as Error).message}`);
  }
}

/** Writes the records of one connection's messages as JSON lines, gathered until reset. */
export class RecordWriter {
  readonly #writer = new JsonWriter(MESSAGE_DEPTH);
  readonly #wanted: (tag: string) => boolean;
  readonly #maxMessageBytes: number;
  /** Unusable entries of the message being written: the first are lines, the rest counted. */
  #unusableCount = 0;
  /** Unusable entries counted, not written, since the last take, and why. */
  unreadable = { count: 0, reason: "" };

  /**
   * @param wanted Whether records of a tag are taken (others are passed over).
   * @param maxMessageBytes The most a compressed message may unpack to.
   */
  constructor(wanted: (tag: string) => boolean, maxMessageBytes: number) {
    this.#wanted = wanted;
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Bytes of lines gathered. */
  get length(): number {
    return this.#writer.length;
  }

  /** The lines gathered (a view, valid until the next write or reset). */
  bytes(): Uint8Array {
    return this.#writer.bytes();
  }

  /** Starts gathering again. */
  reset(): void {
    this.#writer.reset();
  }

  /** The unusable entries counted since the last take, if any; counting starts again. */
  takeUnreadable(): { count: number; reason: string } | undefined {
    const unreadable = this.unreadable.count > 0 ? { ...this.unreadable } : undefined;
    this.unreadable = { count: 0, reason: "" };
    return unreadable;
  }

  /**
   * Writes one message's records as JSON lines, if its tag is wanted.
   *
   * @returns The message's `chunk` option, to acknowledge once the records are journaled.
   */
  async message(b: Uint8Array): Promise<unknown> {
    const end = b.length;
    this.#unusableCount = 0;
    try {
      const top = peek(b, 0, end);
      if (top.kind !== "array" || top.size < 2) {
        throw new Refused("a message that is not [tag, ...]");
      }
      let at = top.head;
      const tagHead = peek(b, at, end);
      if (tagHead.kind !== "str" && tagHead.kind !== "bin") {
        throw new Refused("a message whose tag is not a string");
      }
      const tag = decoder.decode(b.subarray(at + tagHead.head, at + tagHead.head + tagHead.size));
      at += tagHead.head + tagHead.size;
      const wanted = this.#wanted(tag);
      const second = peek(b, at, end);
      const option = (index: number) => {
        if (top.size <= index) return undefined;
        try {
          return decode(b.subarray(at, skip(b, at, end)), limits);
        } catch (error) {
          throw new Refused(`malformed options: ${(error as Error).message}`);
        }
      };
      let options: unknown;
      if (second.kind === "int" || second.kind === "float" || second.kind === "ext") {
        // Message mode: [tag, time, record, option?]
        if (top.size < 3) throw new Refused("a message without its record");
        at = skip(b, at, end);
        if (wanted) at = this.#record(b, at, end);
        else at = skip(b, at, end);
        options = option(3);
      } else if (second.kind === "array") {
        // Forward mode: [tag, [[time, record], ...], option?]
        at += second.head;
        for (let i = 0; i < second.size; i++) {
          at = wanted ? this.#entry(b, at, end) : skip(b, at, end);
        }
        options = option(2);
      } else if (second.kind === "bin" || second.kind === "str") {
        // (Compressed)PackedForward: [tag, entries as bytes, option?]
        let packed = b.subarray(at + second.head, at + second.head + second.size);
        at += second.head + second.size;
        options = option(2);
        if (wanted) {
          if ((options as { compressed?: unknown })?.compressed === "gzip") {
            packed = await unpack(packed, this.#maxMessageBytes);
          }
          for (let p = 0; p < packed.length;) p = this.#entry(packed, p, packed.length);
        }
      } else {
        throw new Refused("a message of an unknown mode");
      }
      return (options as { chunk?: unknown } | undefined)?.chunk;
    } catch (error) {
      if (error instanceof MsgpackError) throw new Refused(`malformed msgpack: ${error.message}`);
      throw error;
    }
  }

  /** An entry `[time, record]` of the Forward modes: the record written, the time passed over. */
  #entry(b: Uint8Array, at: number, end: number): number {
    const entry = peek(b, at, end);
    if (entry.kind !== "array" || entry.size < 2) {
      this.#unusable("an entry that is not [time, record]");
      return skip(b, at, end);
    }
    let p = skip(b, at + entry.head, end);
    p = this.#record(b, p, end);
    for (let i = 2; i < entry.size; i++) p = skip(b, p, end);
    return p;
  }

  /** A record as one JSON line; one that cannot be written becomes a line the check rejects. */
  #record(b: Uint8Array, at: number, end: number): number {
    const from = this.#writer.length;
    try {
      const next = this.#writer.value(b, at, end);
      this.#writer.byte(NEWLINE);
      return next;
    } catch (error) {
      if (!(error instanceof MsgpackError)) throw error;
      this.#writer.truncate(from);
      this.#unusable(error.message);
      return skip(b, at, end);
    }
  }

  /**
   * An entry that cannot be a hit: a line the check rejects with the reason, for the first of a
   * message; the rest are counted, and told in one dead letter.
   */
  #unusable(reason: string): void {
    if (this.#unusableCount++ < MAX_UNUSABLE_LINES) {
      this.#writer.ascii(JSON.stringify(`unusable record: ${reason}`));
      this.#writer.byte(NEWLINE);
      return;
    }
    this.unreadable.count++;
    this.unreadable.reason ||= `more than ${MAX_UNUSABLE_LINES} unusable records in one ` +
      `message, the first of them: ${reason}`;
  }
}
