/**
 * A batch in several requests, for receivers with a limit per request (Datadog: 1,000 entries
 * and 5 MB; Sumo Logic: 1 MB) or one request per hit (webhook notifications). The parts of a
 * batch are cut the same way each time, and a batch sent again after a failure goes on from the
 * part that failed: the parts before it were answered 2xx and are not sent twice by this process.
 *
 * @module
 */
import type { RejectedHit, SendResult } from "./output.ts";

/** The bytes of `text` in UTF-8, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** How the records of a request are framed, and what one request may hold. */
export interface PartLimits {
  /** Most records in one request. */
  maxRecords: number;
  /** Most bytes in one request's body (framing included, before compression). */
  maxBytes: number;
  /** Most bytes of one record; a longer one is refused (never cut). @default maxBytes */
  maxRecordBytes?: number;
  /** Before the first record (`[`). @default "" */
  open?: string;
  /** Between records (`,` or `\n`). @default "\n" */
  separator?: string;
  /** After the last record (`]`, `\n`). @default "" */
  close?: string;
  /** What the receiver is called in the reason of a refused record. */
  receiver: string;
}

/** The requests of a batch: their bodies, and the records too long for any. */
export interface Parts {
  /** The bodies, in order. */
  bodies: string[];
  /** Records over the limit, with their hit lines, for {@linkcode SendResult} `rejected`. */
  rejected: RejectedHit[];
}

/**
 * Packs records into request bodies within `limits`, in order. `lines[i]` is the hit line of
 * `records[i]` (for a refused record's dead letter).
 */
export function packRecords(
  records: readonly string[],
  lines: readonly string[],
  limits: PartLimits,
): Parts {
  const open = limits.open ?? "";
  const separator = limits.separator ?? "\n";
  const close = limits.close ?? "";
  const maxRecord = Math.min(
    limits.maxRecordBytes ?? limits.maxBytes,
    limits.maxBytes - open.length - close.length,
  );
  const bodies: string[] = [];
  const rejected: RejectedHit[] = [];
  let part: string[] = [];
  let size = 0;
  const flush = () => {
    if (part.length > 0) bodies.push(open + part.join(separator) + close);
    part = [];
    size = 0;
  };
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const bytes = utf8Length(record);
    if (bytes > maxRecord) {
      rejected.push({
        line: lines[i]!,
        reason:
          `${bytes} bytes as a record, over the ${maxRecord} ${limits.receiver} takes; not cut`,
      });
      continue;
    }
    const grown = size + bytes + (part.length > 0 ? separator.length : open.length + close.length);
    if (part.length >= limits.maxRecords || (part.length > 0 && grown > limits.maxBytes)) flush();
    size += bytes + (part.length > 0 ? separator.length : open.length + close.length);
    part.push(record);
  }
  flush();
  return { bodies, rejected };
}

/**
 * Where a batch sent in parts stands: which parts of which batch were answered 2xx. One for each
 * output; it lives as long as the process.
 */
export class BatchProgress {
  #seq = -1;
  #sent = 0;

  /**
   * Sends `parts` in order with `send`, skipping the ones an earlier attempt of the same batch
   * (`seq`) delivered. Stops at the first failure, which the engine retries.
   *
   * @returns The last request's result, or the failure.
   */
  async send<T>(
    seq: number,
    parts: readonly T[],
    send: (part: T) => Promise<SendResult>,
  ): Promise<SendResult> {
    const from = this.#seq === seq ? this.#sent : 0;
    let last: SendResult = { ok: true };
    for (let i = from; i < parts.length; i++) {
      last = await send(parts[i]!);
      if (!last.ok) {
        this.#seq = seq;
        this.#sent = i;
        return last;
      }
    }
    this.#seq = seq;
    this.#sent = parts.length;
    return last;
  }
}
