/**
 * Drawing from the address book's tables: a dial candidate (spec §C.8) and a random sample for a
 * `getaddr` answer (spec §C.5).
 *
 * @module
 */

import type { Prng } from "../util/prng.ts";
import {
  type BookEntry,
  type Entry,
  isTerribleEntry,
  type SelectOptions,
} from "./address_book_types.ts";
import type { BookTables } from "./book_tables.ts";

/** Selection (spec §C.8). */
const SELECT_DRAWS = 50;
const RECENT_SELECT_SEC = 600;

/**
 * Draws a dial candidate (see `AddressBook.select`).
 *
 * @example Nothing to draw
 * ```ts
 * import { drawCandidate } from "./book_draws.ts";
 * import { BookTables } from "./book_tables.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * assert.equal(drawCandidate(new BookTables(() => 0), Prng.seeded(1), 1_700_000_000), undefined);
 * ```
 */
export function drawCandidate(
  t: BookTables,
  prng: Prng,
  nowSec: number,
  options: SelectOptions = {},
): BookEntry | undefined {
  const { skip, avoidGroups, draws = SELECT_DRAWS } = options;
  let fallback: Entry | undefined;
  for (let i = 0; i < draws; i++) {
    const newN = t.newList.length, triedN = t.triedList.length;
    if (newN + triedN === 0) return undefined;
    const useTried = triedN > 0 && (newN === 0 || prng.chance(0.5));
    const list = useTried ? t.triedList : t.newList;
    const entry = list[prng.int(0, list.length - 1)];
    if (entry === fallback) continue;
    if (skip?.(entry) || isTerribleEntry(entry, nowSec)) continue;
    const recent = entry.lastTry > 0 && entry.lastTry >= nowSec - RECENT_SELECT_SEC;
    const chance = (recent ? 0.01 : 1) * 0.66 ** Math.min(entry.attempts, 8);
    if (!prng.chance(chance)) continue;
    if (avoidGroups === undefined || !avoidGroups.has(entry.group)) return entry;
    fallback ??= entry;
  }
  return fallback;
}
/**
 * A random sample of at most `limit` entries that are neither terrible nor dropped and pass
 * `filter` (see `AddressBook.sample`).
 *
 * @example An empty book
 * ```ts
 * import { sampleEntries } from "./book_draws.ts";
 * import { BookTables } from "./book_tables.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(sampleEntries(new BookTables(() => 0), Prng.seeded(1), 5, 0), []);
 * ```
 */
export function sampleEntries(
  t: BookTables,
  prng: Prng,
  limit: number,
  nowSec: number,
  filter?: (entry: BookEntry) => boolean,
): BookEntry[] {
  const pool: Entry[] = [];
  for (const e of [...t.manual, ...t.newList, ...t.triedList]) {
    if (e.droppedAt !== undefined || isTerribleEntry(e, nowSec)) continue;
    if (filter !== undefined && !filter(e)) continue;
    pool.push(e);
  }
  prng.shuffle(pool);
  return pool.slice(0, Math.max(0, limit));
}
