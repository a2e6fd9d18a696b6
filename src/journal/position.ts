/**
 * A place in the journal.
 *
 * @module
 */

/** A place in the journal: a byte offset and a hit sequence number, both counted from the start. */
export interface Position {
  /** Bytes from the start of the journal, line terminators included. */
  offset: number;
  /** Hits from the start of the journal. */
  seq: number;
}

/** The start of an empty journal. */
export const ORIGIN: Position = { offset: 0, seq: 0 };
