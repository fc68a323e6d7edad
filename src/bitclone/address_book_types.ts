/**
 * The address book's types (spec §C.7): its entries, the options of its operations, and the two
 * rules on an entry alone: a sane timestamp (spec §C.4) and a *terrible* entry (spec §C.7).
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import type { PeerAddress } from "./address.ts";

/** Timestamp sanity (spec §C.4 step 3). */
const TIME_FLOOR = 100_000_000;
const TIME_FUTURE_SEC = 600;
const TIME_FALLBACK_SEC = 5 * 24 * 3600;
/** Terrible rules (spec §C.7). */
const RECENT_TRY_SEC = 60;
const HORIZON_SEC = 30 * 24 * 3600;
const RETRIES = 3;
const MAX_FAILURES = 10;
const MIN_FAIL_SEC = 7 * 24 * 3600;

/**
 * Which part of the book holds an entry: the *new* or *tried* table, or the manual list.
 */
export type BookTable = "new" | "tried" | "manual";

/**
 * One address book entry (read-only view; the book updates it in place). Times are Unix seconds,
 * 0 meaning never.
 *
 * @example Reading an entry
 * ```ts
 * import { AddressBook } from "./address_book.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const book = new AddressBook({ prng: Prng.seeded(1) });
 * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_100, { source: "203.0.113.1:8333" });
 * const e = book.get("198.51.100.7:4001");
 * assert.ok(e?.table === "new");
 * assert.equal(e.source, "203.0");
 * assert.equal(e.attempts, 0);
 * ```
 */
export interface BookEntry {
  /** The address (canonical IP). */
  readonly address: PeerAddress;
  /** Its canonical text, `ip:port` or `[v6]:port`. */
  readonly text: string;
  /** Its network group (spec §C.7). */
  readonly group: string;
  /** Last seen alive: gossip time with the 2 h penalty, or first-hand time. */
  readonly time: number;
  /** Network group of the peer that told us (or `manual`, `saved`). */
  readonly source: string;
  /** Last dial attempt. */
  readonly lastTry: number;
  /** Last successful outbound handshake. */
  readonly lastSuccess: number;
  /** Failed dials since the last success. */
  readonly attempts: number;
  /** When it was marked dropped (spec §A.7), or `undefined`. */
  readonly droppedAt: number | undefined;
  /** Which table holds it. */
  readonly table: BookTable;
}

/** An entry as the book keeps it (mutable; {@linkcode BookEntry} is its read-only view). */
export interface Entry {
  address: PeerAddress;
  text: string;
  group: string;
  time: number;
  source: string;
  lastTry: number;
  lastSuccess: number;
  attempts: number;
  droppedAt: number | undefined;
  table: BookTable;
  /** Index into the table's slot array (bucket × slots + slot), or -1 for manual. */
  pos: number;
  /** Index in the table's occupied list (for uniform random draws), or -1. */
  listIndex: number;
}

/**
 * What {@linkcode AddressBook.add} did: `added` (new entry), `updated` (known; time raised or
 * dropped mark cleared), `known` (known; nothing newer), `collision` (its slot holds a good entry:
 * discarded), `refused` (unusable address, or one of ours).
 */
export type AddResult = "added" | "updated" | "known" | "collision" | "refused";

/**
 * Options of {@linkcode AddressBook.add}.
 */
export interface AddOptions {
  /**
   * Who told us: an address, an IP, or a group label; its network group picks the new bucket.
   *
   * @default {"local"}
   */
  source?: PeerAddress | string;
  /**
   * The entry's time as received, before the 2 h penalty: when later than the entry's drop
   * (spec §A.7), the drop mark is cleared.
   *
   * @default {time}
   */
  evidenceTime?: number;
}

/**
 * Options of {@linkcode AddressBook.select}.
 */
export interface SelectOptions {
  /**
   * Entries to pass over (connected, pending, ours, discouraged, backing off).
   *
   * @default {undefined}
   */
  skip?: (entry: BookEntry) => boolean;
  /**
   * Network groups of our current outbound peers: a candidate outside them is preferred.
   *
   * @default {undefined}
   */
  avoidGroups?: ReadonlySet<string>;
  /**
   * How many random draws to make.
   *
   * @default {50}
   */
  draws?: number;
}

/**
 * Options for {@linkcode AddressBook}.
 *
 * @example A fixed key (tests): the same key places addresses the same way
 * ```ts
 * import { AddressBook } from "./address_book.ts";
 * import assert from "node:assert/strict";
 * const a = new AddressBook({ key: new Uint8Array(32) });
 * const b = new AddressBook({ key: new Uint8Array(32) });
 * const c = new AddressBook({ key: new Uint8Array(32).fill(7, 16) });
 * assert.equal(a.hash("198.51", 3), b.hash("198.51", 3));
 * assert.notEqual(a.hash("198.51", 3), c.hash("198.51", 3));
 * ```
 */
export interface AddressBookOptions {
  /** Randomness for the secret key when `key` is not given. */
  prng?: Prng;
  /**
   * The secret key: 32 bytes (spec §C.7). Its two halves are folded into SipHash's 16-byte key.
   *
   * @default {prng.bytes(32)}
   */
  key?: Uint8Array;
}

/**
 * Makes an entry's time sane (spec §C.4 step 3): missing, ≤ 10^8 or more than 10 min ahead of
 * `nowSec` becomes `nowSec − 5 days`.
 *
 * @param time Unix seconds, or `undefined`.
 * @param nowSec Unix seconds now.
 * @returns The sane time.
 * @example A time from the future
 * ```ts
 * import { saneTime } from "./address_book_types.ts";
 * import assert from "node:assert/strict";
 * assert.equal(saneTime(2_000_000_000, 1_700_000_000), 1_700_000_000 - 432_000);
 * assert.equal(saneTime(1_699_999_000, 1_700_000_000), 1_699_999_000);
 * ```
 */
export function saneTime(time: number | undefined, nowSec: number): number {
  if (
    time === undefined || !Number.isFinite(time) || time <= TIME_FLOOR ||
    time > nowSec + TIME_FUTURE_SEC
  ) {
    return Math.max(0, nowSec - TIME_FALLBACK_SEC);
  }
  return Math.floor(time);
}

/**
 * Whether an entry is *terrible* (spec §C.7): tried in the last minute is never; otherwise a time
 * more than 10 min ahead, no sighting for 30 days, 3 failures and never a success, or 10 failures
 * and no success in 7 days. Manual peers never are.
 *
 * @example An entry seen 40 days ago
 * ```ts
 * import { isTerribleEntry } from "./address_book_types.ts";
 * import assert from "node:assert/strict";
 * const now = 1_700_000_000;
 * const e = { time: now - 40 * 86400, lastTry: 0, lastSuccess: 0, attempts: 0, table: "new" as const };
 * assert.equal(isTerribleEntry(e, now), true);
 * ```
 */
export function isTerribleEntry(
  entry: Pick<BookEntry, "table" | "lastTry" | "time" | "lastSuccess" | "attempts">,
  nowSec: number,
): boolean {
  if (entry.table === "manual") return false;
  if (entry.lastTry > 0 && entry.lastTry >= nowSec - RECENT_TRY_SEC) return false;
  if (entry.time > nowSec + TIME_FUTURE_SEC) return true;
  if (entry.time === 0 || nowSec - entry.time > HORIZON_SEC) return true;
  if (entry.lastSuccess === 0 && entry.attempts >= RETRIES) return true;
  if (nowSec - entry.lastSuccess > MIN_FAIL_SEC && entry.attempts >= MAX_FAILURES) return true;
  return false;
}
