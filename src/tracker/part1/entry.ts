/**
 * One entry of the Part 1 database, shared by the database (`db.ts`) and the wire (`wire.ts`)
 * without either importing the other.
 *
 * @module
 */

/**
 * One entry of the database: its SEQNUM (the word's place in the message) and its word.
 */
export interface Part1Entry {
  /** The word's place in the message, `0..n-1`. */
  readonly seq: number;
  /** The word: any text without control characters (ASCII goes on the wire as a py2 str). */
  readonly word: string;
}
