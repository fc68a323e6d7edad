/**
 * The versioned store of §6.5: every key holds a value with its version (Lamport clock, origin),
 * the larger version wins, and the node's Lamport clock moves past every clock it sees.
 *
 * @module
 */

import type { VersionedEntry } from "./types.ts";
import { isNewer } from "./version.ts";

/** The largest clock a version may carry (2^53 − 1). */
export const CLOCK_MAX = Number.MAX_SAFE_INTEGER;

/**
 * Keys with their versions, and the node's Lamport clock.
 *
 * @example A local write, then a concurrent remote write with a larger clock wins
 * ```ts
 * import { VersionedStore } from "./store.ts";
 * import assert from "node:assert/strict";
 * const store = new VersionedStore("ts-a");
 * const mine = store.write("color", "green");
 * assert.deepEqual(mine, { key: "color", value: "green", clock: 1, origin: "ts-a" });
 * assert.equal(store.apply({ key: "color", value: "red", clock: 1, origin: "ts-0" }), false);
 * assert.equal(store.apply({ key: "color", value: "blue", clock: 5, origin: "ts-b" }), true);
 * assert.equal(store.get("color")?.value, "blue");
 * assert.equal(store.clock, 5);
 * assert.equal(store.write("color", "pink")?.clock, 6);
 * ```
 */
export class VersionedStore {
  readonly #entries = new Map<string, VersionedEntry>();
  /** Per key, the newest version known to be on disk (what may be pushed or served to peers). */
  readonly #saved = new Map<string, VersionedEntry>();
  readonly #self: string;
  #clock = 0;

  /**
   * An empty store for the node named `self`, or one holding `entries` (recovered from disk), with
   * the clock at least `clock`.
   */
  constructor(self: string, entries: Iterable<VersionedEntry> = [], clock = 0) {
    this.#self = self;
    for (const e of entries) if (this.apply(e)) this.markSaved(e);
    this.#clock = Math.max(this.#clock, Math.min(clock, CLOCK_MAX));
  }

  /** The node's Lamport clock. */
  get clock(): number {
    return this.#clock;
  }

  /** The number of keys. */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry of `key`, if any. */
  get(key: string): VersionedEntry | undefined {
    return this.#entries.get(key);
  }

  /** Every entry, in insertion order of their keys. */
  entries(): IterableIterator<VersionedEntry> {
    return this.#entries.values();
  }

  /** Every key. */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** Records that `entry` is on disk (kept when it is newer than the saved version of its key). */
  markSaved(entry: VersionedEntry): void {
    if (isNewer(entry, this.#saved.get(entry.key))) this.#saved.set(entry.key, entry);
  }

  /** The newest saved version of `key`. */
  saved(key: string): VersionedEntry | undefined {
    return this.#saved.get(key);
  }

  /** Every saved entry. */
  savedEntries(): IterableIterator<VersionedEntry> {
    return this.#saved.values();
  }

  /**
   * A write observed here (a `Setvalue`, or a `Sync` without version): it gets the next clock and
   * this node as origin, and always wins.
   *
   * @returns The new entry, or undefined when the clock is spent: past 2^53 − 1 no version is
   * greater than every earlier one, and reusing one would let two values share it (nodes holding
   * either would never agree).
   */
  write(key: string, value: string): VersionedEntry | undefined {
    const stored = this.#entries.get(key)?.clock ?? 0;
    const clock = Math.max(this.#clock, stored) + 1;
    if (clock > CLOCK_MAX) return undefined;
    this.#clock = clock;
    const entry = { key, value, clock, origin: this.#self };
    this.#entries.set(key, entry);
    return entry;
  }

  /**
   * A versioned entry from elsewhere: the clock moves past it; it is stored when it is newer than
   * what the key holds.
   *
   * @returns Whether it was stored (it won).
   */
  apply(entry: VersionedEntry): boolean {
    if (entry.clock > this.#clock) this.#clock = Math.min(entry.clock, CLOCK_MAX);
    if (!isNewer(entry, this.#entries.get(entry.key))) return false;
    this.#entries.set(entry.key, {
      key: entry.key,
      value: entry.value,
      clock: entry.clock,
      origin: entry.origin,
    });
    return true;
  }
}
