/**
 * The BitClone address book (spec §C.7): a scaled-down Bitcoin Core addrman. Gossiped addresses go
 * into a *new* table (256 buckets × 64 slots), addresses we completed an outbound handshake with
 * into a *tried* table (16 × 16); buckets and slots come from a keyed hash of the address, its
 * network group and the network group of the peer that told us, so one source group can fill
 * only its 32 buckets (2,048 slots) of the new table. Nothing is lost below that capacity: when
 * an address's hashed slot is taken, the other slots of its bucket and then the source group's
 * other buckets are probed in a fixed order (a lab in one /16, where every address hashes to one
 * bucket, is kept whole); a newcomer is discarded only when every slot it may use holds a good
 * entry. Manual (command-line) peers live beside the tables: never evicted,
 * never terrible. Every entry keeps its last-seen time (penalised gossip time), last try, last
 * success, failed attempts and a *dropped* mark (spec §A.7).
 *
 * The book is a plain data structure: time comes in as Unix seconds (`nowSec`), randomness as a
 * `Prng`. The keyed hash is SipHash-2-4 (`src/util/siphash.ts`). The tables and where an entry
 * goes are in `book_tables.ts`, how entries enter and change in `book_entries.ts`, drawing from them in `book_draws.ts`, the saved form in
 * `book_saved.ts`, the types and the per-entry rules in `address_book_types.ts`.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import { sipHash24, utf8 } from "../util/mod.ts";
import type { PeerAddress } from "./address.ts";
import type { SavedPeer } from "./peer_node_types.ts";
import {
  type AddOptions,
  type AddressBookOptions,
  type AddResult,
  type BookEntry,
  isTerribleEntry,
  type SelectOptions,
} from "./address_book_types.ts";
import { BookTables, toText } from "./book_tables.ts";
import { drawCandidate, sampleEntries } from "./book_draws.ts";
import { loadSavedPeers, toSavedPeers } from "./book_saved.ts";
import { addEntry, addManualEntry, recordGood } from "./book_entries.ts";

export {
  type AddOptions,
  type AddressBookOptions,
  type AddResult,
  type BookEntry,
  type BookTable,
  isTerribleEntry,
  saneTime,
  type SelectOptions,
} from "./address_book_types.ts";
export { sipHash24 } from "../util/mod.ts";

/**
 * The address book (see the module doc). At most 256 × 64 new (2,048 per source group),
 * 16 × 16 tried and 256 manual entries.
 *
 * @example Gossip, a successful dial, and a save
 * ```ts
 * import { AddressBook } from "./address_book.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const now = 1_700_000_000;
 * const book = new AddressBook({ prng: Prng.seeded(1) });
 * book.add("198.51.100.7:4001", now - 60, now, { source: "203.0.113.1:8333" });
 * const pick = book.select(Prng.seeded(2), now);
 * assert.equal(pick?.text, "198.51.100.7:4001");
 * book.markAttempt(pick!.text, now);
 * book.markGood(pick!.text, now);
 * assert.equal(book.triedCount, 1);
 * assert.equal(book.toSaved()[0].tried, true);
 * ```
 */
export class AddressBook {
  readonly #sipKey: Uint8Array;
  readonly #t = new BookTables((...values) => this.hash(...values));
  readonly #refused = new Set<string>();

  /**
   * Makes an empty book with a secret key.
   *
   * @throws {TypeError} When neither `key` nor `prng` is given.
   * @throws {RangeError} When `key` is not 32 bytes.
   * @example A key of the wrong size, or none
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * assert.throws(() => new AddressBook({ key: new Uint8Array(16) }), RangeError);
   * assert.throws(() => new AddressBook({}), TypeError);
   * ```
   */
  constructor(options: AddressBookOptions) {
    const { prng, key } = options ?? {};
    let k: Uint8Array;
    if (key !== undefined) {
      if (!(key instanceof Uint8Array) || key.length !== 32) {
        throw new RangeError("Cannot create the address book: the key must be 32 bytes");
      }
      k = key;
    } else if (prng !== undefined && typeof prng.bytes === "function") {
      k = prng.bytes(32);
    } else {
      throw new TypeError("Cannot create the address book: key or prng is required");
    }
    this.#sipKey = new Uint8Array(16);
    for (let i = 0; i < 16; i++) this.#sipKey[i] = k[i] ^ k[i + 16];
  }

  // ---- getters ---------------------------------------------------------------------------------

  /**
   * Entries in the book (new + tried + manual).
   *
   * @example A gossiped and a manual peer
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * book.addManual("192.0.2.1:8333", 1_700_000_000);
   * assert.equal(book.size, 2);
   * ```
   */
  get size(): number {
    return this.#t.entries.size;
  }

  /**
   * Entries in the new table.
   *
   * @example Gossip goes to the new table
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * assert.equal(book.newCount, 1);
   * assert.equal(book.triedCount, 0);
   * ```
   */
  get newCount(): number {
    return this.#t.newList.length;
  }

  /**
   * Entries in the tried table.
   *
   * @example A successful dial moves an entry from new to tried
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * book.markGood("198.51.100.7:4001", 1_700_000_000);
   * assert.equal(book.triedCount, 1);
   * assert.equal(book.newCount, 0);
   * ```
   */
  get triedCount(): number {
    return this.#t.triedList.length;
  }

  /**
   * Manual peers.
   *
   * @example One manual peer
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.addManual("192.0.2.1:8333", 1_700_000_000);
   * assert.equal(book.manualCount, 1);
   * ```
   */
  get manualCount(): number {
    return this.#t.manual.length;
  }

  /**
   * A counter raised by every change worth saving (compare it with the value at the last save).
   *
   * @example Counting changes
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const before = book.changes;
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * assert.ok(book.changes > before);
   * ```
   */
  get changes(): number {
    return this.#t.changes;
  }

  /**
   * The keyed hash H of spec §C.7: SipHash-2-4 under the book's key over the values joined with
   * U+001F, first 6 bytes read as an unsigned integer (0 … 2^48 − 1).
   *
   * @example Deterministic for one key
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * assert.equal(book.hash("a", 1), book.hash("a", 1));
   * assert.notEqual(book.hash("a", 1), book.hash("a", 2));
   * ```
   */
  hash(...values: (string | number)[]): number {
    const [hi, lo] = sipHash24(this.#sipKey, utf8(values.join("\u001f")));
    return (hi & 0xffff) * 0x100000000 + lo;
  }

  /**
   * The entry for an address, or `undefined`.
   *
   * @example Any spelling
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("[2001:DB8::7]:4003", 1_700_000_000, 1_700_000_000);
   * assert.equal(book.get("2001:db8::7:4003")?.text, "[2001:db8::7]:4003");
   * ```
   */
  get(address: PeerAddress | string): BookEntry | undefined {
    return this.#t.find(address);
  }

  /**
   * Every entry (manual, then new, then tried).
   *
   * @example Listing
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * assert.equal([...book.entries()].length, 1);
   * ```
   */
  *entries(): IterableIterator<BookEntry> {
    yield* this.#t.manual;
    yield* this.#t.newList;
    yield* this.#t.triedList;
  }

  // ---- changes ---------------------------------------------------------------------------------

  /**
   * Never store this address again (it is one of ours, spec §C.3): removes it if present.
   *
   * @example Refusing our own address
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.refuse("10.0.0.1:8333");
   * assert.equal(book.add("10.0.0.1:8333", 1_700_000_000, 1_700_000_000), "refused");
   * ```
   */
  refuse(address: PeerAddress | string): void {
    const text = toText(address);
    if (text === undefined) return;
    if (!this.#refused.has(text) && this.#refused.size >= 1024) {
      this.#refused.delete(this.#refused.values().next().value!);
    }
    this.#refused.add(text);
    this.remove(text);
  }

  /**
   * Adds a gossiped (or saved) address to the new table, or raises a known entry's time. `time`
   * is stored as given after the sanity rule (the caller applies the 2 h penalty). A free slot
   * takes a new address; when its hashed slot is taken, the first free slot in probe order (the
   * bucket's other slots, then the source group's other buckets), else the first slot whose
   * occupant is terrible; `collision` only when every such slot holds a good entry.
   *
   * @param address The address.
   * @param time Last-seen Unix seconds (penalised).
   * @param nowSec Unix seconds now.
   * @param options Source and evidence time.
   * @returns What happened.
   * @example Raising the time of a known entry
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * assert.equal(book.add("198.51.100.7:4001", now - 100, now), "added");
   * assert.equal(book.add("198.51.100.7:4001", now - 50, now), "updated");
   * assert.equal(book.add("198.51.100.7:4001", now - 70, now), "known");
   * ```
   */
  add(
    address: PeerAddress | string,
    time: number,
    nowSec: number,
    options: AddOptions = {},
  ): AddResult {
    return addEntry(this.#t, this.#refused, address, time, nowSec, options);
  }

  /**
   * Adds a manual (command-line) peer: kept outside the tables, never evicted, never terrible. A
   * known entry becomes manual and keeps its counters.
   *
   * @returns Whether the address is now a manual peer (false: unusable, ours, or 256 already).
   * @example A manual peer
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * assert.ok(book.addManual("127.0.0.1:8334", 1_700_000_000));
   * assert.equal(book.get("127.0.0.1:8334")?.table, "manual");
   * ```
   */
  addManual(address: PeerAddress | string, nowSec: number): boolean {
    return addManualEntry(this.#t, this.#refused, address, nowSec);
  }

  /**
   * Removes an address (manual peers included).
   *
   * @returns Whether it was there.
   * @example Removing
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * assert.ok(book.remove("198.51.100.7:4001"));
   * assert.equal(book.size, 0);
   * ```
   */
  remove(address: PeerAddress | string): boolean {
    const text = toText(address);
    const entry = text === undefined ? undefined : this.#t.entries.get(text);
    if (entry === undefined) return false;
    this.#t.unplace(entry);
    this.#t.entries.delete(entry.text);
    this.#t.changes++;
    return true;
  }

  /**
   * Records a dial attempt (the last-try time; spec §C.8 makes a recently tried entry unlikely to
   * be drawn again).
   *
   * @example An attempt
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * book.markAttempt("198.51.100.7:4001", 1_700_000_010);
   * assert.equal(book.get("198.51.100.7:4001")?.lastTry, 1_700_000_010);
   * ```
   */
  markAttempt(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#t.find(address);
    if (entry === undefined) return;
    entry.lastTry = nowSec;
    this.#t.changes++;
  }

  /**
   * Records a failed dial or handshake: one more attempt since the last success.
   *
   * @example Three failures and no success make an entry terrible
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * book.add("198.51.100.7:4001", now, now);
   * for (let i = 0; i < 3; i++) book.markFailure("198.51.100.7:4001", now);
   * assert.ok(book.isTerrible(book.get("198.51.100.7:4001")!, now + 3600));
   * ```
   */
  markFailure(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#t.find(address);
    if (entry === undefined) return;
    entry.attempts = Math.min(entry.attempts + 1, 1_000_000);
    if (entry.lastTry === 0) entry.lastTry = nowSec;
    this.#t.changes++;
  }

  /**
   * Records a successful outbound handshake: last success and time are now, attempts reset, the
   * drop mark cleared, and a new entry is promoted to tried (spec §C.7). An unknown address is
   * added first.
   *
   * @example Promotion
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.markGood("198.51.100.7:4001", 1_700_000_000);
   * assert.equal(book.get("198.51.100.7:4001")?.table, "tried");
   * ```
   */
  markGood(address: PeerAddress | string, nowSec: number): void {
    recordGood(this.#t, this.#refused, address, nowSec);
  }

  /**
   * Raises an entry's last-seen time from first-hand evidence (a live connection) and clears its
   * dropped mark.
   *
   * @example Touching
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_699_000_000, 1_700_000_000);
   * book.touch("198.51.100.7:4001", 1_700_000_000);
   * assert.equal(book.get("198.51.100.7:4001")?.time, 1_700_000_000);
   * ```
   */
  touch(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#t.find(address);
    if (entry === undefined) return;
    if (entry.droppedAt !== undefined) {
      entry.droppedAt = undefined;
      this.#t.changes++;
    }
    if (entry.time >= nowSec) return;
    entry.time = nowSec;
    this.#t.changes++;
  }

  /**
   * Marks an address dropped (spec §A.7: 90 s of silence): left out of `addr` answers and
   * advertisements until newer evidence, still a dial candidate.
   *
   * @example Dropping and newer evidence
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * book.add("198.51.100.7:4001", now - 10, now);
   * book.markDropped("198.51.100.7:4001", now);
   * assert.equal(book.get("198.51.100.7:4001")?.droppedAt, now);
   * book.add("198.51.100.7:4001", now + 5 - 7200, now + 5, { evidenceTime: now + 5 });
   * assert.equal(book.get("198.51.100.7:4001")?.droppedAt, undefined);
   * ```
   */
  markDropped(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#t.find(address);
    if (entry === undefined) return;
    entry.droppedAt = nowSec;
    this.#t.changes++;
  }

  // ---- queries ---------------------------------------------------------------------------------

  /**
   * Spec §C.7: never if tried in the last 60 s; otherwise terrible when its time is more than
   * 10 min ahead, or older than 30 days, or 3 attempts and never a success, or 10 failed attempts
   * and no success in 7 days. Manual peers never are.
   *
   * @example An old entry
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * book.add("198.51.100.7:4001", now - 20 * 86400, now);
   * assert.ok(!book.isTerrible(book.get("198.51.100.7:4001")!, now));
   * assert.ok(book.isTerrible(book.get("198.51.100.7:4001")!, now + 11 * 86400));
   * ```
   */
  isTerrible(entry: BookEntry, nowSec: number): boolean {
    return isTerribleEntry(entry, nowSec);
  }

  /**
   * Draws a dial candidate from the tables (spec §C.8; manual peers are the caller's): up to
   * `draws` times pick new or tried with equal odds (only a non-empty one), a random entry in it,
   * pass over skipped and terrible ones, and accept with probability
   * `(tried in the last 10 min ? 0.01 : 1) × 0.66^min(attempts, 8)`. An accepted entry in one of
   * `avoidGroups` is kept as a fallback while the draws go on for one outside them.
   *
   * @returns The candidate, or `undefined` (try again later).
   * @example Nothing to draw
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * assert.equal(book.select(Prng.seeded(1), 1_700_000_000), undefined);
   * ```
   */
  select(prng: Prng, nowSec: number, options: SelectOptions = {}): BookEntry | undefined {
    return drawCandidate(this.#t, prng, nowSec, options);
  }

  /**
   * A random sample of at most `limit` entries that are neither terrible nor dropped and pass
   * `filter` (the getaddr answer of spec §C.5).
   *
   * @example Sampling
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * for (let i = 1; i <= 5; i++) book.add(`198.51.${i}.7:4001`, now, now);
   * assert.equal(book.sample(Prng.seeded(1), 3, now).length, 3);
   * ```
   */
  sample(
    prng: Prng,
    limit: number,
    nowSec: number,
    filter?: (entry: BookEntry) => boolean,
  ): BookEntry[] {
    return sampleEntries(this.#t, prng, limit, nowSec, filter);
  }

  // ---- persistence -----------------------------------------------------------------------------

  /**
   * The whole book in the `peers.json` object form (manual peers included; their `tried` flag
   * says whether they ever completed an outbound handshake).
   *
   * @example Saving
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000, { source: "203.0.113.1:1" });
   * const [p] = book.toSaved();
   * assert.equal(p.address, "198.51.100.7:4001");
   * assert.equal(p.source, "203.0");
   * assert.equal(p.tried, false);
   * ```
   */
  toSaved(): SavedPeer[] {
    return toSavedPeers(this.entries());
  }

  /**
   * Loads saved entries: each goes to the new table (`tried` ones on to the tried table when
   * their slot is free), counters kept. Unusable and refused entries are skipped, and colliding
   * ones only when a source group's 2,048 new slots are full (the key is not saved, so slots
   * differ from the last run; probing keeps every entry below capacity).
   *
   * @returns How many entries were stored and how many skipped.
   * @example Loading
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import assert from "node:assert/strict";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const r = book.load([{ address: "198.51.100.7:4001", tried: true }, { address: "bad" }], 1_700_000_000);
   * assert.equal(r.loaded, 1);
   * assert.equal(r.skipped, 1);
   * assert.equal(book.triedCount, 1);
   * ```
   */
  load(saved: readonly SavedPeer[], nowSec: number): { loaded: number; skipped: number } {
    return loadSavedPeers(this, this.#t, saved, nowSec);
  }
}
