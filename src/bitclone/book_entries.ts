/**
 * How addresses enter the address book and change there: the gossip merge rule (a known entry's
 * time only rises, newer evidence clears the dropped mark, a newcomer takes a new-table slot),
 * manual (command-line) peers beside the tables, and the successful outbound handshake that
 * promotes an entry to the tried table (spec §C.7). `AddressBook` delegates to these functions.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import {
  addressScope,
  formatPeerAddress,
  networkGroup,
  parseIp,
  parsePeerAddress,
  type PeerAddress,
} from "./address.ts";
import {
  type AddOptions,
  type AddResult,
  type BookTable,
  type Entry,
  saneTime,
} from "./address_book_types.ts";
import { type BookTables, toAddress } from "./book_tables.ts";

/** The most manual peers kept (command-line peers are few). */
const MANUAL_MAX = 256;
/** The longest `source` text kept from a saved file. */
const SOURCE_MAX = 64;

/**
 * A fresh entry, not yet placed: no tries, no successes, no drop mark.
 *
 * @example A gossiped address
 * ```ts
 * import { newEntry } from "./book_entries.ts";
 * import assert from "node:assert/strict";
 * const e = newEntry({ ip: "198.51.100.7", v6: false, port: 4001 }, 1_700_000_000, "203.0", "new");
 * assert.equal(e.text, "198.51.100.7:4001");
 * assert.equal(e.group, "198.51");
 * assert.equal(e.attempts, 0);
 * assert.equal(e.pos, -1);
 * ```
 */
export function newEntry(a: PeerAddress, time: number, source: string, table: BookTable): Entry {
  return {
    address: a,
    text: formatPeerAddress(a),
    group: networkGroup(a),
    time,
    source,
    lastTry: 0,
    lastSuccess: 0,
    attempts: 0,
    droppedAt: undefined,
    table,
    pos: -1,
    listIndex: -1,
  };
}

/**
 * The network group of a source given as an address, an IP, or a label (`"local"` when none).
 *
 * @example Three forms
 * ```ts
 * import { sourceGroup } from "./book_entries.ts";
 * import assert from "node:assert/strict";
 * assert.equal(sourceGroup("203.0.113.1:8333"), "203.0");
 * assert.equal(sourceGroup("203.0.113.1"), "203.0");
 * assert.equal(sourceGroup(undefined), "local");
 * ```
 */
export function sourceGroup(source: PeerAddress | string | undefined): string {
  if (source === undefined) return "local";
  if (typeof source !== "string") return networkGroup(source);
  const a = parsePeerAddress(source);
  if (a !== undefined) return networkGroup(a);
  if (parseIp(source) !== undefined) return networkGroup(source);
  const label = source.trim().slice(0, SOURCE_MAX);
  return label.length > 0 ? label : "local";
}

/**
 * `AddressBook.add`: stores a gossiped (or saved) address in the new table, or raises a known
 * entry's time; `refused` holds the addresses never stored (ours).
 *
 * @example Added, then known
 * ```ts
 * import { addEntry } from "./book_entries.ts";
 * import { BookTables } from "./book_tables.ts";
 * import assert from "node:assert/strict";
 * const t = new BookTables(() => 7);
 * const now = 1_700_000_000;
 * assert.equal(addEntry(t, new Set(), "198.51.100.7:4001", now, now), "added");
 * assert.equal(addEntry(t, new Set(), "198.51.100.7:4001", now - 9, now), "known");
 * assert.equal(addEntry(t, new Set(["10.0.0.1:1"]), "10.0.0.1:1", now, now), "refused");
 * ```
 */
export function addEntry(
  t: BookTables,
  refused: ReadonlySet<string>,
  address: PeerAddress | string,
  time: number,
  nowSec: number,
  options: AddOptions = {},
): AddResult {
  const ts = saneTime(time, nowSec);
  const evidence = options.evidenceTime ?? ts;
  // Known entries (most gossip) need no parsing: canonical text is the key.
  let known = t.find(address);
  let a: PeerAddress | undefined;
  if (known === undefined) {
    a = toAddress(address);
    if (a === undefined || addressScope(a) === "unusable") return "refused";
    if (refused.has(formatPeerAddress(a))) return "refused";
    known = t.entries.get(formatPeerAddress(a));
  }
  if (known !== undefined) {
    let changed = false;
    if (ts > known.time) {
      known.time = ts;
      changed = true;
    }
    if (known.droppedAt !== undefined && evidence > known.droppedAt) {
      known.droppedAt = undefined;
      changed = true;
    }
    if (changed) t.changes++;
    return changed ? "updated" : "known";
  }
  assert(a !== undefined, "a new entry without a parsed address");
  const entry = newEntry(a, ts, sourceGroup(options.source), "new");
  return t.placeNew(entry, nowSec) ? "added" : "collision";
}

/**
 * `AddressBook.addManual`: makes an address a manual peer (a known entry keeps its counters).
 *
 * @returns Whether the address is now a manual peer (false: unusable, refused, or 256 already).
 * @example A manual peer
 * ```ts
 * import { addManualEntry } from "./book_entries.ts";
 * import { BookTables } from "./book_tables.ts";
 * import assert from "node:assert/strict";
 * const t = new BookTables(() => 7);
 * assert.ok(addManualEntry(t, new Set(), "127.0.0.1:8334", 1_700_000_000));
 * assert.equal(t.find("127.0.0.1:8334")?.table, "manual");
 * assert.ok(!addManualEntry(t, new Set(), "not an address", 1_700_000_000));
 * ```
 */
export function addManualEntry(
  t: BookTables,
  refused: ReadonlySet<string>,
  address: PeerAddress | string,
  nowSec: number,
): boolean {
  const a = toAddress(address);
  if (a === undefined || addressScope(a) === "unusable") return false;
  const text = formatPeerAddress(a);
  if (refused.has(text)) return false;
  const known = t.entries.get(text);
  if (known?.table === "manual") return true;
  if (t.manual.length >= MANUAL_MAX) return false;
  let entry: Entry;
  if (known !== undefined) {
    t.unplace(known);
    entry = known;
  } else {
    entry = newEntry(a, saneTime(undefined, nowSec), "manual", "manual");
    t.entries.set(text, entry);
  }
  entry.table = "manual";
  entry.pos = -1;
  entry.listIndex = t.manual.length;
  t.manual.push(entry);
  t.changes++;
  return true;
}

/**
 * `AddressBook.markGood`: a successful outbound handshake. An unknown address is added first
 * (forcing a slot if need be: a completed handshake is first-hand evidence); then last success
 * and time are now, attempts reset, the drop mark cleared, and a new entry is promoted to tried.
 *
 * @example Promotion
 * ```ts
 * import { recordGood } from "./book_entries.ts";
 * import { BookTables } from "./book_tables.ts";
 * import assert from "node:assert/strict";
 * const t = new BookTables(() => 7);
 * recordGood(t, new Set(), "198.51.100.7:4001", 1_700_000_000);
 * assert.equal(t.find("198.51.100.7:4001")?.table, "tried");
 * assert.equal(t.find("198.51.100.7:4001")?.lastSuccess, 1_700_000_000);
 * ```
 */
export function recordGood(
  t: BookTables,
  refused: ReadonlySet<string>,
  address: PeerAddress | string,
  nowSec: number,
): void {
  let entry = t.find(address);
  if (entry === undefined) {
    if (addEntry(t, refused, address, nowSec, nowSec, { source: "local" }) === "refused") return;
    entry = t.find(address);
    if (entry === undefined) {
      // Its new slot held a good entry: make room, a completed handshake is first-hand evidence.
      const fresh = newEntry(toAddress(address)!, nowSec, "local", "new");
      t.placeNew(fresh, nowSec, true);
      entry = fresh;
    }
  }
  entry.lastSuccess = nowSec;
  entry.lastTry = Math.max(entry.lastTry, nowSec);
  entry.attempts = 0;
  entry.time = Math.max(entry.time, nowSec);
  entry.droppedAt = undefined;
  t.changes++;
  if (entry.table === "new") t.promote(entry, nowSec);
}
