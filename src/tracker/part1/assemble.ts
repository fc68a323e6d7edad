/**
 * The last step of the Part 1 client (spec §2.5): the words keyed by the SEQNUM each reply
 * carries (not by the position asked for), sorted, joined with single spaces.
 *
 * @module
 */

import type { Part1Entry } from "./db.ts";

/**
 * The assembled message and what did not fit.
 */
export interface AssembledMessage {
  /** The words sorted by SEQNUM, joined with single spaces. */
  readonly message: string;
  /** SEQNUMs in `0..count-1` no entry carried (empty when `count` is not given). */
  readonly missing: readonly number[];
  /** SEQNUMs carried by more than one entry (the last one's word is used, like a Python dict). */
  readonly duplicates: readonly number[];
}

/**
 * Assembles the message from the entries fetched.
 *
 * @param entries The entries, in the order they were fetched.
 * @param count The size the tracker announced, to report missing SEQNUMs.
 * @returns The message, plus the missing and duplicated SEQNUMs (both sorted).
 * @throws {RangeError} When `count` is not an integer from 0 to 65536.
 *
 * @example Keyed by SEQNUM, not by position
 * ```ts
 * import { assembleMessage } from "./assemble.ts";
 * import assert from "node:assert/strict";
 * const entries = [{ seq: 2, word: "gamma" }, { seq: 0, word: "alpha" }, { seq: 1, word: "beta" }];
 * assert.equal(assembleMessage(entries, 3).message, "alpha beta gamma");
 * assert.equal(assembleMessage(entries.slice(1), 3).missing[0], 2);
 * ```
 */
export function assembleMessage(entries: Iterable<Part1Entry>, count?: number): AssembledMessage {
  if (count !== undefined && (!Number.isInteger(count) || count < 0 || count > 65536)) {
    throw new RangeError(`Cannot assemble the message: count must be 0..65536, got ${count}`);
  }
  const words = new Map<number, string>();
  const duplicates = new Set<number>();
  for (const { seq, word } of entries) {
    if (words.has(seq)) duplicates.add(seq);
    words.set(seq, word);
  }
  const order = [...words.keys()].sort((a, b) => a - b);
  const missing: number[] = [];
  if (count !== undefined) {
    for (let seq = 0; seq < count; seq++) if (!words.has(seq)) missing.push(seq);
  }
  return {
    message: order.map((seq) => words.get(seq)).join(" "),
    missing,
    duplicates: [...duplicates].sort((a, b) => a - b),
  };
}
