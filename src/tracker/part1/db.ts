/**
 * The database of the Part 1 tracker (spec §2.1): a list of `(SEQNUM, WORD)` entries stored in
 * shuffled order. A request names a **list position**; the reply carries the entry's own
 * SEQNUM. Sorting the words by SEQNUM and joining them with single spaces gives the message.
 *
 * A {@linkcode Part1Db} is immutable and validated on construction: 1 to
 * {@linkcode MAX_DB_ENTRIES} entries whose SEQNUMs are `0..n-1`, each once (the original has 16),
 * and words that are non-empty, free of control characters and short enough for every item reply
 * to fit the original's 1024-byte read ({@linkcode MAX_MESSAGE_BYTES}).
 *
 * @module
 */

import type { Part1Entry } from "./entry.ts";
import { encodeReply, MAX_MESSAGE_BYTES } from "./wire.ts";

export type { Part1Entry };

/**
 * The most entries a database may hold (the original holds 16).
 *
 * @example The entry limit
 * ```ts
 * import { MAX_DB_ENTRIES } from "./db.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_DB_ENTRIES, 4096);
 * ```
 */
export const MAX_DB_ENTRIES = 4096;

/**
 * The most UTF-16 code units a word may hold (its reply must also fit 1024 bytes).
 *
 * @example The word length limit
 * ```ts
 * import { MAX_WORD_LENGTH } from "./db.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_WORD_LENGTH, 256);
 * ```
 */
export const MAX_WORD_LENGTH = 256;

/** C0 and C1 control characters, DEL, and lone surrogates (which no pickle can carry). */
const BAD_WORD_CHAR =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Checks one word; returns why it is refused, or `undefined` when it is fine.
 *
 * @param word The candidate word.
 * @returns A reason ("is empty", …) or `undefined`.
 *
 * @example Accepted and refused words
 * ```ts
 * import { checkWord } from "./db.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkWord("python."), undefined);
 * assert.equal(checkWord("a\tb"), "holds a control character");
 * ```
 */
export function checkWord(word: string): string | undefined {
  if (typeof word !== "string") return "is not a string";
  if (word.length === 0) return "is empty";
  if (word.length > MAX_WORD_LENGTH) return `is longer than ${MAX_WORD_LENGTH} characters`;
  if (BAD_WORD_CHAR.test(word)) return "holds a control character";
  if (word.trim() !== word) return "starts or ends with white space";
  return undefined;
}

/**
 * An immutable, validated Part 1 database.
 *
 * @example Python list indexing on the stored order
 * ```ts
 * import { Part1Db } from "./db.ts";
 * import assert from "node:assert/strict";
 * const db = new Part1Db([{ seq: 1, word: "world" }, { seq: 0, word: "hello" }]);
 * assert.equal(db.size, 2);
 * assert.equal(db.at(0)?.word, "world");
 * assert.equal(db.at(-1)?.word, "hello");
 * assert.equal(db.at(2), undefined);
 * assert.equal(db.at(true)?.seq, 0);
 * assert.equal(db.message, "hello world");
 * ```
 */
export class Part1Db {
  /** The entries in list order (position 0 first), frozen. */
  readonly entries: readonly Part1Entry[];
  #message: string | undefined;
  #replies: (Uint8Array | undefined)[];

  /**
   * Builds a database from entries in list order.
   *
   * @param entries The entries; their SEQNUMs must be `0..n-1`, each once.
   * @throws {RangeError} When there are no entries or more than {@linkcode MAX_DB_ENTRIES}, when
   * the SEQNUMs are not `0..n-1` each once, or when a word is refused (see
   * {@linkcode checkWord}) or its reply would exceed 1024 bytes. The message names the position.
   * @throws {TypeError} When an entry is not `{ seq: number, word: string }`.
   */
  constructor(entries: Iterable<Part1Entry>) {
    const list: Part1Entry[] = [];
    for (const e of entries) {
      if (list.length >= MAX_DB_ENTRIES) {
        throw new RangeError(`Cannot build the db: more than ${MAX_DB_ENTRIES} entries`);
      }
      if (e === null || typeof e !== "object" || typeof e.seq !== "number") {
        throw new TypeError(`Cannot build the db: entry ${list.length} is not { seq, word }`);
      }
      if (typeof e.word !== "string") {
        throw new TypeError(`Cannot build the db: entry ${list.length} has no word`);
      }
      list.push(Object.freeze({ seq: e.seq, word: e.word }));
    }
    if (list.length === 0) throw new RangeError("Cannot build the db: no entries");
    const seen = new Array<number>(list.length).fill(-1);
    list.forEach((e, position) => {
      if (!Number.isSafeInteger(e.seq) || e.seq < 0 || e.seq >= list.length) {
        throw new RangeError(
          `Cannot build the db: entry ${position} has SEQNUM ${e.seq}, not 0..${list.length - 1}`,
        );
      }
      if (seen[e.seq] !== -1) {
        throw new RangeError(
          `Cannot build the db: entries ${seen[e.seq]} and ${position} both have SEQNUM ${e.seq}`,
        );
      }
      seen[e.seq] = position;
      const why = checkWord(e.word);
      if (why !== undefined) {
        throw new RangeError(`Cannot build the db: the word of entry ${position} ${why}`);
      }
    });
    this.entries = Object.freeze(list);
    this.#replies = new Array(list.length);
    for (let position = 0; position < list.length; position++) {
      const bytes = this.itemReply(position);
      if (bytes.length > MAX_MESSAGE_BYTES) {
        throw new RangeError(
          `Cannot build the db: the reply for entry ${position} would be ${bytes.length} bytes, ` +
            `more than ${MAX_MESSAGE_BYTES}`,
        );
      }
    }
  }

  /** The number of entries (the answer to `REGISTER`). */
  get size(): number {
    return this.entries.length;
  }

  /**
   * The entry at a list position, with Python's list indexing: a negative index counts from the
   * end, `true`/`false` are 1/0, and anything out of range gives `undefined`.
   *
   * @param index The requested position, as the request's integer decoded.
   * @returns The entry, or `undefined` when Python would raise `IndexError`.
   */
  at(index: number | bigint | boolean): Part1Entry | undefined {
    const position = this.#position(index);
    return position === undefined ? undefined : this.entries[position];
  }

  /**
   * The protocol-0 pickle of the entry at a list position, exactly as the original sends it
   * (spec §2.3): `(I<SEQNUM>\nS'<WORD>'\np0\ntp1\n.`. Encoded once, then cached.
   *
   * @param index The requested position (Python indexing, as {@linkcode Part1Db.at}).
   * @returns The reply bytes (shared: do not modify them).
   * @throws {RangeError} When the position is out of range.
   */
  itemReply(index: number | bigint | boolean): Uint8Array {
    const position = this.#position(index);
    if (position === undefined) {
      throw new RangeError(`Cannot encode an item reply: position ${index} is out of range`);
    }
    return this.#replies[position] ??= encodeReply({
      type: "item",
      entry: this.entries[position],
    });
  }

  /** The message: the words sorted by SEQNUM, joined with single spaces. */
  get message(): string {
    if (this.#message === undefined) {
      const words = new Array<string>(this.entries.length);
      for (const e of this.entries) words[e.seq] = e.word;
      this.#message = words.join(" ");
    }
    return this.#message;
  }

  #position(index: number | bigint | boolean): number | undefined {
    let i: number;
    if (typeof index === "boolean") i = index ? 1 : 0;
    else if (typeof index === "bigint") {
      if (index < -BigInt(this.size) || index >= BigInt(this.size)) return undefined;
      i = Number(index);
    } else if (typeof index === "number" && Number.isInteger(index)) i = index;
    else return undefined;
    if (i < 0) i += this.size;
    return i >= 0 && i < this.size ? i : undefined;
  }
}
