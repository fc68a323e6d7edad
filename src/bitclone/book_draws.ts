/**
 * Drawing from the address book's tables: a dial candidate (spec §C.8) and a random sample for a
 * `getaddr` answer (spec §C.5).
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
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
 * @example One fresh entry is drawn unless skipped
 * ```ts
 * import { drawCandidate } from "./book_draws.ts";
 * import { BookTables } from "./book_tables.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const now = 1_700_000_000;
 * const t = new BookTables(() => 7);
 * assert.equal(drawCandidate(t, Prng.seeded(1), now), undefined); // nothing to draw
 * const entry = {
 *   address: { ip: "198.51.100.7", v6: false, port: 4001 }, text: "198.51.100.7:4001",
 *   group: "198.51", time: now, source: "local", lastTry: 0, lastSuccess: 0, attempts: 0,
 *   droppedAt: undefined, table: "new" as const, pos: -1, listIndex: -1,
 * };
 * t.placeNew(entry, now);
 * assert.equal(drawCandidate(t, Prng.seeded(1), now), entry);
 * assert.equal(drawCandidate(t, Prng.seeded(1), now, { skip: () => true }), undefined);
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
 * @example A dropped entry is left out
 * ```ts
 * import { sampleEntries } from "./book_draws.ts";
 * import { BookTables } from "./book_tables.ts";
 * import { parsePeerAddress } from "./address.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const now = 1_700_000_000;
 * const t = new BookTables(() => 7);
 * const entry = (text: string) => ({
 *   address: parsePeerAddress(text)!, text, group: "198.51", time: now, source: "local",
 *   lastTry: 0, lastSuccess: 0, attempts: 0, droppedAt: undefined as number | undefined,
 *   table: "new" as const, pos: -1, listIndex: -1,
 * });
 * const a = entry("198.51.100.7:4001"), b = entry("198.51.100.8:4001");
 * t.placeNew(a, now);
 * t.placeNew(b, now);
 * b.droppedAt = now;
 * assert.deepEqual(sampleEntries(t, Prng.seeded(1), 5, now), [a]);
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
