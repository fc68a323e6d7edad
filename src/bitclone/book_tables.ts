/**
 * The address book's storage (spec §C.7): the *new* (256 × 64) and *tried* (16 × 16) tables and
 * the manual list, every entry by its text, and where an entry goes: its keyed-hash slot, the
 * probe order that keeps every address below capacity, promotion to tried, eviction. The
 * `AddressBook` decides what to store; this places it.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { formatPeerAddress, parseIp, parsePeerAddress, type PeerAddress } from "./address.ts";
import { type Entry, isTerribleEntry } from "./address_book_types.ts";

/** Spec §C.7 table sizes. */
const NEW_BUCKETS = 256;
const NEW_SLOTS = 64;
const NEW_BUCKETS_PER_SOURCE_GROUP = 32;
/** Source groups whose probe buckets are memoised (cleared when full). */
const SOURCE_BUCKETS_MEMO = 1024;
const TRIED_BUCKETS = 16;
const TRIED_SLOTS = 16;
const TRIED_BUCKETS_PER_GROUP = 4;
/** Promotion keeps a tried occupant that succeeded this recently. */
const TRIED_KEEP_SEC = 4 * 3600;

/**
 * The tables of one address book, placed by its keyed hash.
 *
 * @example Placing an entry in the new table
 * ```ts
 * import { BookTables } from "./book_tables.ts";
 * import assert from "node:assert/strict";
 * const tables = new BookTables(() => 7);
 * const entry = {
 *   address: { ip: "198.51.100.7", v6: false, port: 4001 }, text: "198.51.100.7:4001",
 *   group: "198.51", time: 0, source: "local", lastTry: 0, lastSuccess: 0, attempts: 0,
 *   droppedAt: undefined, table: "new" as const, pos: -1, listIndex: -1,
 * };
 * assert.equal(tables.placeNew(entry, 1_700_000_000), true);
 * assert.equal(tables.find("198.51.100.7:4001"), entry);
 * ```
 */
export class BookTables {
  /** Every entry by its canonical text. */
  readonly entries = new Map<string, Entry>();
  /** The new table's slots. */
  readonly newSlots: (Entry | undefined)[] = new Array(NEW_BUCKETS * NEW_SLOTS).fill(undefined);
  /** Occupied slots per new bucket (the probe skips full buckets while looking for a free slot). */
  readonly #newFill = new Uint8Array(NEW_BUCKETS);
  /** A source group's probe buckets, memoised by source. */
  readonly #sourceBuckets = new Map<string, number[]>();
  /** The tried table's slots. */
  readonly triedSlots: (Entry | undefined)[] = new Array(TRIED_BUCKETS * TRIED_SLOTS).fill(
    undefined,
  );
  /** The new table's entries (for uniform random draws). */
  readonly newList: Entry[] = [];
  /** The tried table's entries. */
  readonly triedList: Entry[] = [];
  /** The manual peers. */
  readonly manual: Entry[] = [];
  /** A counter raised on every change. */
  changes = 0;
  readonly #hash: (...values: (string | number)[]) => number;

  /** Empty tables placed by `hash` (the book's keyed hash H). */
  constructor(hash: (...values: (string | number)[]) => number) {
    this.#hash = hash;
  }

  /** The entry for an address in any spelling, or `undefined`. */
  find(address: PeerAddress | string): Entry | undefined {
    if (typeof address === "string") {
      const hit = this.entries.get(address); // canonical text: no parsing
      if (hit !== undefined) return hit;
    } else if (address !== null && typeof address === "object" && typeof address.ip === "string") {
      const hit = this.entries.get(formatPeerAddress(address));
      if (hit !== undefined && hit.address.v6 === address.v6) return hit;
    }
    const text = toText(address);
    return text === undefined ? undefined : this.entries.get(text);
  }

  newPos(entry: Entry): number {
    const inner = this.#hash(entry.group, entry.source) % NEW_BUCKETS_PER_SOURCE_GROUP;
    const bucket = this.#hash(entry.source, inner) % NEW_BUCKETS;
    const slot = this.#hash("new", bucket, entry.text) % NEW_SLOTS;
    return bucket * NEW_SLOTS + slot;
  }

  /** The hashed tried table position of an entry (bucket × slots + slot). */
  triedPos(entry: Entry): number {
    const inner = this.#hash(entry.text) % TRIED_BUCKETS_PER_GROUP;
    const bucket = this.#hash(entry.group, inner) % TRIED_BUCKETS;
    const slot = this.#hash("tried", bucket, entry.text) % TRIED_SLOTS;
    return bucket * TRIED_SLOTS + slot;
  }

  /** A source group's probe buckets (`H(source, i) mod 256`, i = 0…31, distinct), memoised. */
  #probeBuckets(source: string): number[] {
    let buckets = this.#sourceBuckets.get(source);
    if (buckets === undefined) {
      buckets = [];
      for (let i = 0; i < NEW_BUCKETS_PER_SOURCE_GROUP; i++) {
        const bucket = this.#hash(source, i) % NEW_BUCKETS;
        if (!buckets.includes(bucket)) buckets.push(bucket);
      }
      if (this.#sourceBuckets.size >= SOURCE_BUCKETS_MEMO) this.#sourceBuckets.clear();
      this.#sourceBuckets.set(source, buckets);
    }
    return buckets;
  }

  /**
   * Where a fresh entry goes in the new table: the first free slot in probe order (its hashed
   * slot, the other slots of that bucket, then the source group's other buckets, each from the
   * entry's hashed slot in it onwards; spec §C.7 "no loss below capacity"), else the first slot in
   * that order whose occupant is terrible, else (`force` only) its hashed slot; -1 when none.
   * Full buckets are passed over while looking for a free slot, so a lab whose addresses all share
   * one bucket stays linear.
   */
  newSlotFor(entry: Entry, nowSec: number, force: boolean): number {
    const first = this.newPos(entry);
    if (this.newSlots[first] === undefined) return first;
    const bucket0 = Math.floor(first / NEW_SLOTS);
    const order = [bucket0, ...this.#probeBuckets(entry.source).filter((b) => b !== bucket0)];
    const starts = new Map<number, number>([[bucket0, first % NEW_SLOTS]]);
    const start = (bucket: number) => {
      let s = starts.get(bucket);
      if (s === undefined) {
        s = this.#hash("new", bucket, entry.text) % NEW_SLOTS;
        starts.set(bucket, s);
      }
      return s;
    };
    for (const bucket of order) {
      if (this.#newFill[bucket] >= NEW_SLOTS) continue;
      const s = start(bucket);
      for (let k = 0; k < NEW_SLOTS; k++) {
        const pos = bucket * NEW_SLOTS + (s + k) % NEW_SLOTS;
        if (this.newSlots[pos] === undefined) return pos;
      }
    }
    for (const bucket of order) {
      const s = start(bucket);
      for (let k = 0; k < NEW_SLOTS; k++) {
        const pos = bucket * NEW_SLOTS + (s + k) % NEW_SLOTS;
        if (isTerribleEntry(this.newSlots[pos]!, nowSec)) return pos;
      }
    }
    return force ? first : -1;
  }

  /**
   * Puts a fresh entry into the new table (see {@linkcode AddressBook.newSlotFor}); `force`
   * evicts the occupant of its hashed slot when every slot it may use holds a good entry.
   */
  placeNew(entry: Entry, nowSec: number, force = false): boolean {
    const pos = this.newSlotFor(entry, nowSec, force);
    if (pos < 0) return false;
    const occupant = this.newSlots[pos];
    if (occupant !== undefined) {
      this.unplace(occupant);
      this.entries.delete(occupant.text);
    }
    entry.table = "new";
    entry.pos = pos;
    this.newSlots[pos] = entry;
    this.#newFill[Math.floor(pos / NEW_SLOTS)]++;
    entry.listIndex = this.newList.length;
    this.newList.push(entry);
    this.entries.set(entry.text, entry);
    this.changes++;
    return true;
  }

  /** Moves a new entry to tried (spec §C.7 promotion rules). */
  promote(entry: Entry, nowSec: number): void {
    assert(entry.table === "new", "promoting an entry that is not new");
    const pos = this.triedPos(entry);
    const occupant = this.triedSlots[pos];
    if (occupant !== undefined) {
      if (occupant.lastSuccess >= nowSec - TRIED_KEEP_SEC) return; // newcomer stays in new
      // The occupant goes back to new, into its own new slot (evicting whoever is there).
      this.unplace(occupant);
      this.entries.delete(occupant.text);
      this.unplace(entry);
      this.placeTried(entry, pos);
      occupant.table = "new";
      this.placeNew(occupant, nowSec, true);
      return;
    }
    this.unplace(entry);
    this.placeTried(entry, pos);
  }

  /** Puts an entry into a free tried slot. */
  placeTried(entry: Entry, pos: number): void {
    assert(this.triedSlots[pos] === undefined, "tried slot taken");
    entry.table = "tried";
    entry.pos = pos;
    this.triedSlots[pos] = entry;
    entry.listIndex = this.triedList.length;
    this.triedList.push(entry);
    this.entries.set(entry.text, entry);
    this.changes++;
  }

  /** Takes an entry out of its table and list (it stays in `entries`). */
  unplace(entry: Entry): void {
    let list: Entry[];
    if (entry.table === "new") {
      if (this.newSlots[entry.pos] === entry) {
        this.newSlots[entry.pos] = undefined;
        this.#newFill[Math.floor(entry.pos / NEW_SLOTS)]--;
      }
      list = this.newList;
    } else if (entry.table === "tried") {
      if (this.triedSlots[entry.pos] === entry) this.triedSlots[entry.pos] = undefined;
      list = this.triedList;
    } else {
      list = this.manual;
    }
    const i = entry.listIndex;
    if (i >= 0 && list[i] === entry) {
      const last = list.pop()!;
      if (last !== entry) {
        list[i] = last;
        last.listIndex = i;
      }
    }
    entry.pos = -1;
    entry.listIndex = -1;
  }
}

/** An address in any form, canonical, or `undefined` when unusable. */
export function toAddress(address: PeerAddress | string): PeerAddress | undefined {
  if (typeof address === "string") return parsePeerAddress(address);
  if (address === null || typeof address !== "object") return undefined;
  const ip = parseIp(address.ip);
  if (ip === undefined || !Number.isInteger(address.port)) return undefined;
  if (address.port < 1 || address.port > 65535) return undefined;
  return { ip: ip.text, v6: ip.v6, port: address.port };
}

/** An address in any form as canonical text, or `undefined` when unusable. */
export function toText(address: PeerAddress | string): string | undefined {
  const a = toAddress(address);
  return a === undefined ? undefined : formatPeerAddress(a);
}
