/**
 * The address book in its saved form (`peers.json` objects, see README): writing every entry out,
 * and loading saved entries back in.
 *
 * @module
 */

import { parsePeerAddress, type PeerAddress } from "./address.ts";
import type { AddOptions, AddResult, BookEntry } from "./address_book_types.ts";
import type { BookTables } from "./book_tables.ts";
import type { SavedPeer } from "./peer_node_types.ts";

/**
 * Entries in the `peers.json` object form (see `AddressBook.toSaved`).
 *
 * @example A manual peer counts as tried once it was reached
 * ```ts
 * import { toSavedPeers } from "./book_saved.ts";
 * import { AddressBook } from "./address_book.ts";
 * import assert from "node:assert/strict";
 * const book = new AddressBook({ key: new Uint8Array(32) });
 * book.addManual("192.0.2.1:8333", 1_700_000_000);
 * assert.equal(toSavedPeers(book.entries())[0].tried, false);
 * book.markGood("192.0.2.1:8333", 1_700_000_100);
 * const [p] = toSavedPeers(book.entries());
 * assert.equal(p.tried, true);
 * assert.equal(p.lastSuccess, 1_700_000_100);
 * ```
 */
export function toSavedPeers(entries: Iterable<BookEntry>): SavedPeer[] {
  const out: SavedPeer[] = [];
  for (const e of entries) {
    const p: {
      -readonly [K in keyof SavedPeer]: SavedPeer[K];
    } = {
      address: e.text,
      lastSeen: e.time,
      tried: e.table === "tried" || (e.table === "manual" && e.lastSuccess > 0),
    };
    if (e.lastTry > 0) p.lastTry = e.lastTry;
    if (e.lastSuccess > 0) p.lastSuccess = e.lastSuccess;
    p.attempts = e.attempts;
    p.source = e.source;
    out.push(p);
  }
  return out;
}
/**
 * Loads saved entries through `book.add` (see `AddressBook.load`).
 *
 * @example Unreadable and refused entries are skipped
 * ```ts
 * import { loadSavedPeers } from "./book_saved.ts";
 * import { BookTables } from "./book_tables.ts";
 * import type { PeerAddress } from "./address.ts";
 * import assert from "node:assert/strict";
 * const asked: string[] = [];
 * const book = { add: (a: PeerAddress) => (asked.push(a.ip), "refused" as const) };
 * const saved = [{ address: "198.51.100.7:4001" }, { address: "not an address" }];
 * assert.deepEqual(loadSavedPeers(book, new BookTables(() => 0), saved, 0), { loaded: 0, skipped: 2 });
 * assert.deepEqual(asked, ["198.51.100.7"]); // the unreadable one never reaches the book
 * ```
 */
export function loadSavedPeers(
  book: {
    add(address: PeerAddress, time: number, nowSec: number, options?: AddOptions): AddResult;
  },
  t: BookTables,
  saved: readonly SavedPeer[],
  nowSec: number,
): { loaded: number; skipped: number } {
  let loaded = 0, skipped = 0;
  for (const p of saved) {
    const a = typeof p?.address === "string" ? parsePeerAddress(p.address) : undefined;
    if (a === undefined) {
      skipped++;
      continue;
    }
    const r = book.add(a, p.lastSeen ?? 0, nowSec, { source: p.source ?? "saved" });
    const entry = t.find(a);
    if (entry === undefined || r === "refused" || r === "collision") {
      skipped++;
      continue;
    }
    loaded++;
    if (r !== "added") continue; // a duplicate line: keep the first
    entry.lastTry = count(p.lastTry);
    entry.lastSuccess = count(p.lastSuccess);
    entry.attempts = Math.min(count(p.attempts), 1_000_000);
    if (p.tried === true) t.promote(entry, nowSec);
  }
  return { loaded, skipped };
}
function count(v: number | undefined): number {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : 0;
}
