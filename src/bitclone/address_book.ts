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
 * `Prng`. The keyed hash is SipHash-2-4 written here in pure TypeScript ({@linkcode sipHash24}).
 *
 * @module
 */

import type { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";
import {
  addressScope,
  formatPeerAddress,
  networkGroup,
  parseIp,
  parsePeerAddress,
  type PeerAddress,
} from "./address.ts";
import type { SavedPeer } from "./peer_node_types.ts";

/** Spec §C.7 table sizes. */
const NEW_BUCKETS = 256;
const NEW_SLOTS = 64;
const NEW_BUCKETS_PER_SOURCE_GROUP = 32;
const TRIED_BUCKETS = 16;
const TRIED_SLOTS = 16;
const TRIED_BUCKETS_PER_GROUP = 4;
/** The most manual peers kept (command-line peers are few). */
const MANUAL_MAX = 256;
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
/** Promotion keeps a tried occupant that succeeded this recently. */
const TRIED_KEEP_SEC = 4 * 3600;
/** Selection (spec §C.8). */
const SELECT_DRAWS = 50;
const RECENT_SELECT_SEC = 600;
/** The longest `source` text kept from a saved file. */
const SOURCE_MAX = 64;
/** Source groups whose probe buckets are memoised (cleared when full). */
const SOURCE_BUCKETS_MEMO = 1024;

const encoder = new TextEncoder();

/**
 * SipHash-2-4 of `message` under a 16-byte key, computed with 32-bit halves (no BigInt).
 *
 * @param key 16 bytes.
 * @param message Any bytes.
 * @returns The 64-bit result as `[high32, low32]` (unsigned).
 * @throws {RangeError} When the key is not 16 bytes.
 * @example The reference vector of the SipHash paper
 * ```ts
 * import { sipHash24 } from "./address_book.ts";
 * const key = Uint8Array.from({ length: 16 }, (_, i) => i);
 * const msg = Uint8Array.from({ length: 15 }, (_, i) => i);
 * const [hi, lo] = sipHash24(key, msg);
 * console.assert(hi === 0xa129ca61 && lo === 0x49be45e5);
 * ```
 */
export function sipHash24(key: Uint8Array, message: Uint8Array): [number, number] {
  if (!(key instanceof Uint8Array) || key.length !== 16) {
    throw new RangeError("Cannot hash: the SipHash key must be 16 bytes");
  }
  const k0l = le32(key, 0), k0h = le32(key, 4), k1l = le32(key, 8), k1h = le32(key, 12);
  // state: v0h v0l v1h v1l v2h v2l v3h v3l
  const s = new Uint32Array(8);
  s[0] = k0h ^ 0x736f6d65;
  s[1] = k0l ^ 0x70736575;
  s[2] = k1h ^ 0x646f7261;
  s[3] = k1l ^ 0x6e646f6d;
  s[4] = k0h ^ 0x6c796765;
  s[5] = k0l ^ 0x6e657261;
  s[6] = k1h ^ 0x74656462;
  s[7] = k1l ^ 0x79746573;
  const n = message.length;
  const whole = n - (n % 8);
  for (let i = 0; i < whole; i += 8) {
    const ml = le32(message, i), mh = le32(message, i + 4);
    s[6] ^= mh;
    s[7] ^= ml;
    sipRound(s);
    sipRound(s);
    s[0] ^= mh;
    s[1] ^= ml;
  }
  let bl = 0, bh = (n & 0xff) << 24;
  for (let i = whole; i < n; i++) {
    const shift = (i - whole) * 8;
    if (shift < 32) bl |= message[i] << shift;
    else bh |= message[i] << (shift - 32);
  }
  bl >>>= 0;
  bh >>>= 0;
  s[6] ^= bh;
  s[7] ^= bl;
  sipRound(s);
  sipRound(s);
  s[0] ^= bh;
  s[1] ^= bl;
  s[5] ^= 0xff;
  for (let r = 0; r < 4; r++) sipRound(s);
  return [(s[0] ^ s[2] ^ s[4] ^ s[6]) >>> 0, (s[1] ^ s[3] ^ s[5] ^ s[7]) >>> 0];
}

/** UTF-8 bytes of `text`; plain ASCII (all hash inputs in practice) without a TextEncoder. */
function utf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return encoder.encode(text);
    out[i] = c;
  }
  return out;
}

function le32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** a += b on the 64-bit halves at indexes a, b of `s`. */
function add64(s: Uint32Array, a: number, b: number): void {
  const lo = (s[a + 1] + s[b + 1]) >>> 0;
  const carry = lo < s[a + 1] ? 1 : 0;
  s[a] = (s[a] + s[b] + carry) >>> 0;
  s[a + 1] = lo;
}

/** Rotates the 64-bit value at index a of `s` left by n (0 < n < 64, n ≠ 32). */
function rotl64(s: Uint32Array, a: number, n: number): void {
  let h = s[a], l = s[a + 1];
  if (n > 32) {
    [h, l] = [l, h];
    n -= 32;
  }
  s[a] = ((h << n) | (l >>> (32 - n))) >>> 0;
  s[a + 1] = ((l << n) | (h >>> (32 - n))) >>> 0;
}

function swap32(s: Uint32Array, a: number): void {
  const h = s[a];
  s[a] = s[a + 1];
  s[a + 1] = h;
}

function xor64(s: Uint32Array, a: number, b: number): void {
  s[a] ^= s[b];
  s[a + 1] ^= s[b + 1];
}

function sipRound(s: Uint32Array): void {
  const V0 = 0, V1 = 2, V2 = 4, V3 = 6;
  add64(s, V0, V1);
  rotl64(s, V1, 13);
  xor64(s, V1, V0);
  swap32(s, V0);
  add64(s, V2, V3);
  rotl64(s, V3, 16);
  xor64(s, V3, V2);
  add64(s, V0, V3);
  rotl64(s, V3, 21);
  xor64(s, V3, V0);
  add64(s, V2, V1);
  rotl64(s, V1, 17);
  xor64(s, V1, V2);
  swap32(s, V2);
}

/**
 * Which part of the book holds an entry: the *new* or *tried* table, or the manual list.
 *
 * @example A switch
 * ```ts
 * import type { BookTable } from "./address_book.ts";
 * const verified = (t: BookTable) => t === "tried";
 * console.assert(!verified("new"));
 * ```
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
 * const book = new AddressBook({ prng: Prng.seeded(1) });
 * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_100, { source: "203.0.113.1:8333" });
 * const e = book.get("198.51.100.7:4001");
 * console.assert(e?.table === "new" && e.source === "203.0" && e.attempts === 0);
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

interface Entry {
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
 *
 * @example Checking
 * ```ts
 * import type { AddResult } from "./address_book.ts";
 * const stored = (r: AddResult) => r === "added" || r === "updated" || r === "known";
 * console.assert(!stored("refused"));
 * ```
 */
export type AddResult = "added" | "updated" | "known" | "collision" | "refused";

/**
 * Options of {@linkcode AddressBook.add}.
 *
 * @example A gossiped entry
 * ```ts
 * import type { AddOptions } from "./address_book.ts";
 * const o: AddOptions = { source: "203.0.113.1:8333", evidenceTime: 1_700_000_000 };
 * console.assert(o.evidenceTime! > 0);
 * ```
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
 *
 * @example Skipping connected peers
 * ```ts
 * import type { SelectOptions } from "./address_book.ts";
 * const connected = new Set(["198.51.100.7:4001"]);
 * const o: SelectOptions = { skip: (e) => connected.has(e.text) };
 * console.assert(typeof o.skip === "function");
 * ```
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
 * @example A fixed key (tests)
 * ```ts
 * import { AddressBook } from "./address_book.ts";
 * const book = new AddressBook({ key: new Uint8Array(32) });
 * console.assert(book.size === 0);
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
 * import { saneTime } from "./address_book.ts";
 * console.assert(saneTime(2_000_000_000, 1_700_000_000) === 1_700_000_000 - 432_000);
 * console.assert(saneTime(1_699_999_000, 1_700_000_000) === 1_699_999_000);
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
 * The address book (see the module doc). At most 256 × 64 new (2,048 per source group),
 * 16 × 16 tried and 256 manual entries.
 *
 * @example Gossip, a successful dial, and a save
 * ```ts
 * import { AddressBook } from "./address_book.ts";
 * import { Prng } from "../util/prng.ts";
 * const now = 1_700_000_000;
 * const book = new AddressBook({ prng: Prng.seeded(1) });
 * book.add("198.51.100.7:4001", now - 60, now, { source: "203.0.113.1:8333" });
 * const pick = book.select(Prng.seeded(2), now);
 * console.assert(pick?.text === "198.51.100.7:4001");
 * book.markAttempt(pick!.text, now);
 * book.markGood(pick!.text, now);
 * console.assert(book.triedCount === 1 && book.toSaved()[0].tried === true);
 * ```
 */
export class AddressBook {
  readonly #sipKey: Uint8Array;
  readonly #entries = new Map<string, Entry>();
  readonly #newSlots: (Entry | undefined)[] = new Array(NEW_BUCKETS * NEW_SLOTS).fill(undefined);
  /** Occupied slots per new bucket (the probe skips full buckets while looking for a free slot). */
  readonly #newFill = new Uint8Array(NEW_BUCKETS);
  /** A source group's probe buckets (`H(source, i) mod 256`, i = 0…31, distinct), memoised. */
  readonly #sourceBuckets = new Map<string, number[]>();
  readonly #triedSlots: (Entry | undefined)[] = new Array(TRIED_BUCKETS * TRIED_SLOTS).fill(
    undefined,
  );
  readonly #newList: Entry[] = [];
  readonly #triedList: Entry[] = [];
  readonly #manual: Entry[] = [];
  readonly #refused = new Set<string>();
  #changes = 0;

  /**
   * Makes an empty book with a secret key.
   *
   * @throws {TypeError} When neither `key` nor `prng` is given.
   * @throws {RangeError} When `key` is not 32 bytes.
   * @example A random key
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import { Prng } from "../util/prng.ts";
   * console.assert(new AddressBook({ prng: Prng.seeded(1) }).size === 0);
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
   * @example Empty
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * console.assert(new AddressBook({ key: new Uint8Array(32) }).size === 0);
   * ```
   */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Entries in the new table.
   *
   * @example Empty
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * console.assert(new AddressBook({ key: new Uint8Array(32) }).newCount === 0);
   * ```
   */
  get newCount(): number {
    return this.#newList.length;
  }

  /**
   * Entries in the tried table.
   *
   * @example Empty
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * console.assert(new AddressBook({ key: new Uint8Array(32) }).triedCount === 0);
   * ```
   */
  get triedCount(): number {
    return this.#triedList.length;
  }

  /**
   * Manual peers.
   *
   * @example One manual peer
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.addManual("192.0.2.1:8333", 1_700_000_000);
   * console.assert(book.manualCount === 1);
   * ```
   */
  get manualCount(): number {
    return this.#manual.length;
  }

  /**
   * A counter raised by every change worth saving (compare it with the value at the last save).
   *
   * @example Counting changes
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const before = book.changes;
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * console.assert(book.changes > before);
   * ```
   */
  get changes(): number {
    return this.#changes;
  }

  /**
   * The keyed hash H of spec §C.7: SipHash-2-4 under the book's key over the values joined with
   * U+001F, first 6 bytes read as an unsigned integer (0 … 2^48 − 1).
   *
   * @example Deterministic for one key
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * console.assert(book.hash("a", 1) === book.hash("a", 1) && book.hash("a", 1) !== book.hash("a", 2));
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
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("[2001:DB8::7]:4003", 1_700_000_000, 1_700_000_000);
   * console.assert(book.get("2001:db8::7:4003")?.text === "[2001:db8::7]:4003");
   * ```
   */
  get(address: PeerAddress | string): BookEntry | undefined {
    return this.#find(address);
  }

  /**
   * Every entry (manual, then new, then tried).
   *
   * @example Listing
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * console.assert([...book.entries()].length === 1);
   * ```
   */
  *entries(): IterableIterator<BookEntry> {
    yield* this.#manual;
    yield* this.#newList;
    yield* this.#triedList;
  }

  // ---- changes ---------------------------------------------------------------------------------

  /**
   * Never store this address again (it is one of ours, spec §C.3): removes it if present.
   *
   * @example Refusing our own address
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.refuse("10.0.0.1:8333");
   * console.assert(book.add("10.0.0.1:8333", 1_700_000_000, 1_700_000_000) === "refused");
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
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * console.assert(book.add("198.51.100.7:4001", now - 100, now) === "added");
   * console.assert(book.add("198.51.100.7:4001", now - 50, now) === "updated");
   * console.assert(book.add("198.51.100.7:4001", now - 70, now) === "known");
   * ```
   */
  add(
    address: PeerAddress | string,
    time: number,
    nowSec: number,
    options: AddOptions = {},
  ): AddResult {
    const t = saneTime(time, nowSec);
    const evidence = options.evidenceTime ?? t;
    // Known entries (most gossip) need no parsing: canonical text is the key.
    let known = this.#find(address);
    let a: PeerAddress | undefined;
    if (known === undefined) {
      a = toAddress(address);
      if (a === undefined || addressScope(a) === "unusable") return "refused";
      if (this.#refused.has(formatPeerAddress(a))) return "refused";
      known = this.#entries.get(formatPeerAddress(a));
    }
    if (known !== undefined) {
      let changed = false;
      if (t > known.time) {
        known.time = t;
        changed = true;
      }
      if (known.droppedAt !== undefined && evidence > known.droppedAt) {
        known.droppedAt = undefined;
        changed = true;
      }
      if (changed) this.#changes++;
      return changed ? "updated" : "known";
    }
    assert(a !== undefined, "a new entry without a parsed address");
    const entry: Entry = {
      address: a,
      text: formatPeerAddress(a),
      group: networkGroup(a),
      time: t,
      source: sourceGroup(options.source),
      lastTry: 0,
      lastSuccess: 0,
      attempts: 0,
      droppedAt: undefined,
      table: "new",
      pos: -1,
      listIndex: -1,
    };
    return this.#placeNew(entry, nowSec) ? "added" : "collision";
  }

  /**
   * Adds a manual (command-line) peer: kept outside the tables, never evicted, never terrible. A
   * known entry becomes manual and keeps its counters.
   *
   * @returns Whether the address is now a manual peer (false: unusable, ours, or 256 already).
   * @example A manual peer
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * console.assert(book.addManual("127.0.0.1:8334", 1_700_000_000));
   * console.assert(book.get("127.0.0.1:8334")?.table === "manual");
   * ```
   */
  addManual(address: PeerAddress | string, nowSec: number): boolean {
    const a = toAddress(address);
    if (a === undefined || addressScope(a) === "unusable") return false;
    const text = formatPeerAddress(a);
    if (this.#refused.has(text)) return false;
    const known = this.#entries.get(text);
    if (known?.table === "manual") return true;
    if (this.#manual.length >= MANUAL_MAX) return false;
    let entry: Entry;
    if (known !== undefined) {
      this.#unplace(known);
      entry = known;
    } else {
      entry = {
        address: a,
        text,
        group: networkGroup(a),
        time: saneTime(undefined, nowSec),
        source: "manual",
        lastTry: 0,
        lastSuccess: 0,
        attempts: 0,
        droppedAt: undefined,
        table: "manual",
        pos: -1,
        listIndex: -1,
      };
      this.#entries.set(text, entry);
    }
    entry.table = "manual";
    entry.pos = -1;
    entry.listIndex = this.#manual.length;
    this.#manual.push(entry);
    this.#changes++;
    return true;
  }

  /**
   * Removes an address (manual peers included).
   *
   * @returns Whether it was there.
   * @example Removing
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * console.assert(book.remove("198.51.100.7:4001") && book.size === 0);
   * ```
   */
  remove(address: PeerAddress | string): boolean {
    const text = toText(address);
    const entry = text === undefined ? undefined : this.#entries.get(text);
    if (entry === undefined) return false;
    this.#unplace(entry);
    this.#entries.delete(entry.text);
    this.#changes++;
    return true;
  }

  /**
   * Records a dial attempt (the last-try time; spec §C.8 makes a recently tried entry unlikely to
   * be drawn again).
   *
   * @example An attempt
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000);
   * book.markAttempt("198.51.100.7:4001", 1_700_000_010);
   * console.assert(book.get("198.51.100.7:4001")?.lastTry === 1_700_000_010);
   * ```
   */
  markAttempt(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#find(address);
    if (entry === undefined) return;
    entry.lastTry = nowSec;
    this.#changes++;
  }

  /**
   * Records a failed dial or handshake: one more attempt since the last success.
   *
   * @example Three failures and no success make an entry terrible
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * book.add("198.51.100.7:4001", now, now);
   * for (let i = 0; i < 3; i++) book.markFailure("198.51.100.7:4001", now);
   * console.assert(book.isTerrible(book.get("198.51.100.7:4001")!, now + 3600));
   * ```
   */
  markFailure(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#find(address);
    if (entry === undefined) return;
    entry.attempts = Math.min(entry.attempts + 1, 1_000_000);
    if (entry.lastTry === 0) entry.lastTry = nowSec;
    this.#changes++;
  }

  /**
   * Records a successful outbound handshake: last success and time are now, attempts reset, the
   * drop mark cleared, and a new entry is promoted to tried (spec §C.7). An unknown address is
   * added first.
   *
   * @example Promotion
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.markGood("198.51.100.7:4001", 1_700_000_000);
   * console.assert(book.get("198.51.100.7:4001")?.table === "tried");
   * ```
   */
  markGood(address: PeerAddress | string, nowSec: number): void {
    let entry = this.#find(address);
    if (entry === undefined) {
      if (this.add(address, nowSec, nowSec, { source: "local" }) === "refused") return;
      entry = this.#find(address);
      if (entry === undefined) {
        // Its new slot held a good entry: make room, a completed handshake is first-hand evidence.
        const a = toAddress(address)!;
        const fresh: Entry = {
          address: a,
          text: formatPeerAddress(a),
          group: networkGroup(a),
          time: nowSec,
          source: "local",
          lastTry: 0,
          lastSuccess: 0,
          attempts: 0,
          droppedAt: undefined,
          table: "new",
          pos: -1,
          listIndex: -1,
        };
        this.#placeNew(fresh, nowSec, true);
        entry = fresh;
      }
    }
    entry.lastSuccess = nowSec;
    entry.lastTry = Math.max(entry.lastTry, nowSec);
    entry.attempts = 0;
    entry.time = Math.max(entry.time, nowSec);
    entry.droppedAt = undefined;
    this.#changes++;
    if (entry.table === "new") this.#promote(entry, nowSec);
  }

  /**
   * Raises an entry's last-seen time from first-hand evidence (a live connection) and clears its
   * dropped mark.
   *
   * @example Touching
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_699_000_000, 1_700_000_000);
   * book.touch("198.51.100.7:4001", 1_700_000_000);
   * console.assert(book.get("198.51.100.7:4001")?.time === 1_700_000_000);
   * ```
   */
  touch(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#find(address);
    if (entry === undefined) return;
    if (entry.droppedAt !== undefined) {
      entry.droppedAt = undefined;
      this.#changes++;
    }
    if (entry.time >= nowSec) return;
    entry.time = nowSec;
    this.#changes++;
  }

  /**
   * Marks an address dropped (spec §A.7: 90 s of silence): left out of `addr` answers and
   * advertisements until newer evidence, still a dial candidate.
   *
   * @example Dropping and newer evidence
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * book.add("198.51.100.7:4001", now - 10, now);
   * book.markDropped("198.51.100.7:4001", now);
   * console.assert(book.get("198.51.100.7:4001")?.droppedAt === now);
   * book.add("198.51.100.7:4001", now + 5 - 7200, now + 5, { evidenceTime: now + 5 });
   * console.assert(book.get("198.51.100.7:4001")?.droppedAt === undefined);
   * ```
   */
  markDropped(address: PeerAddress | string, nowSec: number): void {
    const entry = this.#find(address);
    if (entry === undefined) return;
    entry.droppedAt = nowSec;
    this.#changes++;
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
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * book.add("198.51.100.7:4001", now - 20 * 86400, now);
   * console.assert(!book.isTerrible(book.get("198.51.100.7:4001")!, now));
   * console.assert(book.isTerrible(book.get("198.51.100.7:4001")!, now + 11 * 86400));
   * ```
   */
  isTerrible(entry: BookEntry, nowSec: number): boolean {
    if (entry.table === "manual") return false;
    if (entry.lastTry > 0 && entry.lastTry >= nowSec - RECENT_TRY_SEC) return false;
    if (entry.time > nowSec + TIME_FUTURE_SEC) return true;
    if (entry.time === 0 || nowSec - entry.time > HORIZON_SEC) return true;
    if (entry.lastSuccess === 0 && entry.attempts >= RETRIES) return true;
    if (nowSec - entry.lastSuccess > MIN_FAIL_SEC && entry.attempts >= MAX_FAILURES) return true;
    return false;
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
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * console.assert(book.select(Prng.seeded(1), 1_700_000_000) === undefined);
   * ```
   */
  select(prng: Prng, nowSec: number, options: SelectOptions = {}): BookEntry | undefined {
    const { skip, avoidGroups, draws = SELECT_DRAWS } = options;
    let fallback: Entry | undefined;
    for (let i = 0; i < draws; i++) {
      const newN = this.#newList.length, triedN = this.#triedList.length;
      if (newN + triedN === 0) return undefined;
      const useTried = triedN > 0 && (newN === 0 || prng.chance(0.5));
      const list = useTried ? this.#triedList : this.#newList;
      const entry = list[prng.int(0, list.length - 1)];
      if (entry === fallback) continue;
      if (skip?.(entry) || this.isTerrible(entry, nowSec)) continue;
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
   * `filter` (the getaddr answer of spec §C.5).
   *
   * @example Sampling
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * import { Prng } from "../util/prng.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const now = 1_700_000_000;
   * for (let i = 1; i <= 5; i++) book.add(`198.51.${i}.7:4001`, now, now);
   * console.assert(book.sample(Prng.seeded(1), 3, now).length === 3);
   * ```
   */
  sample(
    prng: Prng,
    limit: number,
    nowSec: number,
    filter?: (entry: BookEntry) => boolean,
  ): BookEntry[] {
    const pool: Entry[] = [];
    for (const e of this.entries() as IterableIterator<Entry>) {
      if (e.droppedAt !== undefined || this.isTerrible(e, nowSec)) continue;
      if (filter !== undefined && !filter(e)) continue;
      pool.push(e);
    }
    prng.shuffle(pool);
    return pool.slice(0, Math.max(0, limit));
  }

  // ---- persistence -----------------------------------------------------------------------------

  /**
   * The whole book in the `peers.json` object form (manual peers included; their `tried` flag
   * says whether they ever completed an outbound handshake).
   *
   * @example Saving
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * book.add("198.51.100.7:4001", 1_700_000_000, 1_700_000_000, { source: "203.0.113.1:1" });
   * const [p] = book.toSaved();
   * console.assert(p.address === "198.51.100.7:4001" && p.source === "203.0" && p.tried === false);
   * ```
   */
  toSaved(): SavedPeer[] {
    const out: SavedPeer[] = [];
    for (const e of this.entries()) {
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
   * Loads saved entries: each goes to the new table (`tried` ones on to the tried table when
   * their slot is free), counters kept. Unusable and refused entries are skipped, and colliding
   * ones only when a source group's 2,048 new slots are full (the key is not saved, so slots
   * differ from the last run; probing keeps every entry below capacity).
   *
   * @returns How many entries were stored and how many skipped.
   * @example Loading
   * ```ts
   * import { AddressBook } from "./address_book.ts";
   * const book = new AddressBook({ key: new Uint8Array(32) });
   * const r = book.load([{ address: "198.51.100.7:4001", tried: true }, { address: "bad" }], 1_700_000_000);
   * console.assert(r.loaded === 1 && r.skipped === 1 && book.triedCount === 1);
   * ```
   */
  load(saved: readonly SavedPeer[], nowSec: number): { loaded: number; skipped: number } {
    let loaded = 0, skipped = 0;
    for (const p of saved) {
      const a = typeof p?.address === "string" ? parsePeerAddress(p.address) : undefined;
      if (a === undefined) {
        skipped++;
        continue;
      }
      const r = this.add(a, p.lastSeen ?? 0, nowSec, { source: p.source ?? "saved" });
      const entry = this.#find(a);
      if (entry === undefined || r === "refused" || r === "collision") {
        skipped++;
        continue;
      }
      loaded++;
      if (r !== "added") continue; // a duplicate line: keep the first
      entry.lastTry = count(p.lastTry);
      entry.lastSuccess = count(p.lastSuccess);
      entry.attempts = Math.min(count(p.attempts), 1_000_000);
      if (p.tried === true) this.#promote(entry, nowSec);
    }
    return { loaded, skipped };
  }

  // ---- internals -------------------------------------------------------------------------------

  #find(address: PeerAddress | string): Entry | undefined {
    if (typeof address === "string") {
      const hit = this.#entries.get(address); // canonical text: no parsing
      if (hit !== undefined) return hit;
    } else if (address !== null && typeof address === "object" && typeof address.ip === "string") {
      const hit = this.#entries.get(formatPeerAddress(address));
      if (hit !== undefined && hit.address.v6 === address.v6) return hit;
    }
    const text = toText(address);
    return text === undefined ? undefined : this.#entries.get(text);
  }

  #newPos(entry: Entry): number {
    const inner = this.hash(entry.group, entry.source) % NEW_BUCKETS_PER_SOURCE_GROUP;
    const bucket = this.hash(entry.source, inner) % NEW_BUCKETS;
    const slot = this.hash("new", bucket, entry.text) % NEW_SLOTS;
    return bucket * NEW_SLOTS + slot;
  }

  #triedPos(entry: Entry): number {
    const inner = this.hash(entry.text) % TRIED_BUCKETS_PER_GROUP;
    const bucket = this.hash(entry.group, inner) % TRIED_BUCKETS;
    const slot = this.hash("tried", bucket, entry.text) % TRIED_SLOTS;
    return bucket * TRIED_SLOTS + slot;
  }

  /**
   * The new-table slots an entry may use, in probe order (spec §C.7 "no loss below capacity"):
   * its hashed slot, the other slots of that bucket, then the source group's other buckets
   * (`H(source, i) mod 256`, i = 0…31), each from the entry's hashed slot in it onwards.
   */
  #probeBuckets(source: string): number[] {
    let buckets = this.#sourceBuckets.get(source);
    if (buckets === undefined) {
      buckets = [];
      for (let i = 0; i < NEW_BUCKETS_PER_SOURCE_GROUP; i++) {
        const bucket = this.hash(source, i) % NEW_BUCKETS;
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
   * entry's hashed slot in it onwards), else the first slot in that order whose occupant is
   * terrible, else (`force` only) its hashed slot; -1 when none. Full buckets are passed over
   * while looking for a free slot, so a lab whose addresses all share one bucket stays linear.
   */
  #newSlotFor(entry: Entry, nowSec: number, force: boolean): number {
    const first = this.#newPos(entry);
    if (this.#newSlots[first] === undefined) return first;
    const bucket0 = Math.floor(first / NEW_SLOTS);
    const order = [bucket0, ...this.#probeBuckets(entry.source).filter((b) => b !== bucket0)];
    const starts = new Map<number, number>([[bucket0, first % NEW_SLOTS]]);
    const start = (bucket: number) => {
      let s = starts.get(bucket);
      if (s === undefined) {
        s = this.hash("new", bucket, entry.text) % NEW_SLOTS;
        starts.set(bucket, s);
      }
      return s;
    };
    for (const bucket of order) {
      if (this.#newFill[bucket] >= NEW_SLOTS) continue;
      const s = start(bucket);
      for (let k = 0; k < NEW_SLOTS; k++) {
        const pos = bucket * NEW_SLOTS + (s + k) % NEW_SLOTS;
        if (this.#newSlots[pos] === undefined) return pos;
      }
    }
    for (const bucket of order) {
      const s = start(bucket);
      for (let k = 0; k < NEW_SLOTS; k++) {
        const pos = bucket * NEW_SLOTS + (s + k) % NEW_SLOTS;
        if (this.isTerrible(this.#newSlots[pos]!, nowSec)) return pos;
      }
    }
    return force ? first : -1;
  }

  /**
   * Puts a fresh entry into the new table (see {@linkcode AddressBook.#newSlotFor}); `force`
   * evicts the occupant of its hashed slot when every slot it may use holds a good entry.
   */
  #placeNew(entry: Entry, nowSec: number, force = false): boolean {
    const pos = this.#newSlotFor(entry, nowSec, force);
    if (pos < 0) return false;
    const occupant = this.#newSlots[pos];
    if (occupant !== undefined) {
      this.#unplace(occupant);
      this.#entries.delete(occupant.text);
    }
    entry.table = "new";
    entry.pos = pos;
    this.#newSlots[pos] = entry;
    this.#newFill[Math.floor(pos / NEW_SLOTS)]++;
    entry.listIndex = this.#newList.length;
    this.#newList.push(entry);
    this.#entries.set(entry.text, entry);
    this.#changes++;
    return true;
  }

  /** Moves a new entry to tried (spec §C.7 promotion rules). */
  #promote(entry: Entry, nowSec: number): void {
    assert(entry.table === "new", "promoting an entry that is not new");
    const pos = this.#triedPos(entry);
    const occupant = this.#triedSlots[pos];
    if (occupant !== undefined) {
      if (occupant.lastSuccess >= nowSec - TRIED_KEEP_SEC) return; // newcomer stays in new
      // The occupant goes back to new, into its own new slot (evicting whoever is there).
      this.#unplace(occupant);
      this.#entries.delete(occupant.text);
      this.#unplace(entry);
      this.#placeTried(entry, pos);
      occupant.table = "new";
      this.#placeNew(occupant, nowSec, true);
      return;
    }
    this.#unplace(entry);
    this.#placeTried(entry, pos);
  }

  #placeTried(entry: Entry, pos: number): void {
    assert(this.#triedSlots[pos] === undefined, "tried slot taken");
    entry.table = "tried";
    entry.pos = pos;
    this.#triedSlots[pos] = entry;
    entry.listIndex = this.#triedList.length;
    this.#triedList.push(entry);
    this.#entries.set(entry.text, entry);
    this.#changes++;
  }

  /** Takes an entry out of its table and list (it stays in #entries). */
  #unplace(entry: Entry): void {
    let list: Entry[];
    if (entry.table === "new") {
      if (this.#newSlots[entry.pos] === entry) {
        this.#newSlots[entry.pos] = undefined;
        this.#newFill[Math.floor(entry.pos / NEW_SLOTS)]--;
      }
      list = this.#newList;
    } else if (entry.table === "tried") {
      if (this.#triedSlots[entry.pos] === entry) this.#triedSlots[entry.pos] = undefined;
      list = this.#triedList;
    } else {
      list = this.#manual;
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

function toAddress(address: PeerAddress | string): PeerAddress | undefined {
  if (typeof address === "string") return parsePeerAddress(address);
  if (address === null || typeof address !== "object") return undefined;
  const ip = parseIp(address.ip);
  if (ip === undefined || !Number.isInteger(address.port)) return undefined;
  if (address.port < 1 || address.port > 65535) return undefined;
  return { ip: ip.text, v6: ip.v6, port: address.port };
}

function toText(address: PeerAddress | string): string | undefined {
  const a = toAddress(address);
  return a === undefined ? undefined : formatPeerAddress(a);
}

/** The network group of a source given as an address, an IP, or a label. */
function sourceGroup(source: PeerAddress | string | undefined): string {
  if (source === undefined) return "local";
  if (typeof source !== "string") return networkGroup(source);
  const a = parsePeerAddress(source);
  if (a !== undefined) return networkGroup(a);
  if (parseIp(source) !== undefined) return networkGroup(source);
  const label = source.trim().slice(0, SOURCE_MAX);
  return label.length > 0 ? label : "local";
}

function count(v: number | undefined): number {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : 0;
}
