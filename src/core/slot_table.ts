/**
 * A table of objects by numeric id for tables that churn (an entry per connection, added and
 * removed thousands of times a second), with the part of `Map` that such tables use.
 *
 * Why not a `Map<number, V>`: when V8 rebuilds a map's hash table (which a map that keeps adding
 * and deleting does every few dozen changes), the old table keeps pointing to the values it held.
 * Once the table lives in the old generation, that dead table is a root for every young-generation
 * collection until the next full one: the values it pointed to survive, are promoted, and keep
 * alive in turn whatever they point to, connection after connection. At thousands of connections
 * a second the young collections then copy and promote megabytes each, and take milliseconds.
 * (And each rebuilt table of an old map is itself allocated in the old generation.)
 *
 * Here the values sit in an array whose slot is cleared when its id is deleted, and the ids are
 * found through an open-addressing hash index in typed arrays (linear probing, deletion by
 * backward shift), with the insertion order in two more: nothing is allocated while the table
 * does not grow.
 *
 * @module
 */

/** Slots of a new table (it doubles when full). */
const INITIAL_SLOTS = 16;
/** The most slots kept once the table is empty again (beyond it, the arrays are dropped). */
const SLOTS_KEPT = 1024;
const NONE = -1;

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

/** A hash of a number that treats `0` and `-0` alike, as `Map` does. */
function hashOf(id: number): number {
  if ((id | 0) === id) return Math.imul(id, 0x9e3779b1);
  F64[0] = id;
  return Math.imul(U32[0] ^ Math.imul(U32[1], 0x85ebca6b), 0x9e3779b1);
}

/** `Map`'s key equality for numbers (SameValueZero). */
function same(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

/**
 * Objects by numeric id: `get`, `has`, `set`, `delete`, `size`, and `values()` in insertion order,
 * as a `Map` does, without a removed value staying reachable from the table's storage.
 *
 * @typeParam V The value type.
 *
 * @example Add, look up, delete; values in insertion order
 * ```ts
 * import { SlotTable } from "./slot_table.ts";
 * import assert from "node:assert/strict";
 * const table = new SlotTable<{ name: string }>();
 * table.set(7, { name: "a" }).set(3, { name: "b" }).set(9, { name: "c" });
 * assert.equal(table.get(3)?.name, "b");
 * assert.equal(table.delete(3), true);
 * assert.equal(table.has(3), false);
 * assert.equal(table.size, 2);
 * assert.deepEqual(table.values().map((v) => v.name), ["a", "c"]);
 * ```
 */
export class SlotTable<V> {
  #size = 0;
  /** The values by slot (`undefined` in a free slot). */
  #values: (V | undefined)[] = [];
  /** The id of each slot in use. */
  #ids = new Float64Array(0);
  /** Insertion order: the previous and next slot in use (`NONE` at the ends). */
  #prev = new Int32Array(0);
  #next = new Int32Array(0);
  #head = NONE;
  #tail = NONE;
  /** Free slots, a stack of `#freeCount`. */
  #free = new Int32Array(0);
  #freeCount = 0;
  /** The hash index: slot + 1 per bucket (0: empty), twice as many buckets as slots. */
  #index = new Int32Array(0);
  #mask = 0;

  /** The number of ids held. */
  get size(): number {
    return this.#size;
  }

  /** The value of `id`, or `undefined`. */
  get(id: number): V | undefined {
    const bucket = this.#find(id);
    return bucket === NONE ? undefined : this.#values[this.#index[bucket] - 1];
  }

  /** Whether `id` is held. */
  has(id: number): boolean {
    return this.#find(id) !== NONE;
  }

  /** Sets the value of `id` (a new id goes last in `values()`, a known one keeps its place). */
  set(id: number, value: V): this {
    const bucket = this.#find(id);
    if (bucket !== NONE) {
      this.#values[this.#index[bucket] - 1] = value;
      return this;
    }
    if (this.#freeCount === 0) this.#grow();
    const slot = this.#free[--this.#freeCount];
    this.#ids[slot] = id;
    this.#values[slot] = value;
    this.#prev[slot] = this.#tail;
    this.#next[slot] = NONE;
    if (this.#tail === NONE) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
    let b = hashOf(id) & this.#mask;
    while (this.#index[b] !== 0) b = (b + 1) & this.#mask;
    this.#index[b] = slot + 1;
    this.#size++;
    return this;
  }

  /** Removes `id`; true when it was held. Its slot no longer points to its value. */
  delete(id: number): boolean {
    const bucket = this.#find(id);
    if (bucket === NONE) return false;
    const slot = this.#index[bucket] - 1;
    this.#unindex(bucket);
    const prev = this.#prev[slot], next = this.#next[slot];
    if (prev === NONE) this.#head = next;
    else this.#next[prev] = next;
    if (next === NONE) this.#tail = prev;
    else this.#prev[next] = prev;
    this.#values[slot] = undefined;
    this.#free[this.#freeCount++] = slot;
    if (--this.#size === 0 && this.#values.length > SLOTS_KEPT) this.clear();
    return true;
  }

  /** Removes every id. */
  clear(): void {
    this.#size = 0;
    this.#values = [];
    this.#ids = new Float64Array(0);
    this.#prev = new Int32Array(0);
    this.#next = new Int32Array(0);
    this.#free = new Int32Array(0);
    this.#freeCount = 0;
    this.#index = new Int32Array(0);
    this.#mask = 0;
    this.#head = this.#tail = NONE;
  }

  /** The values, in the order their ids were added (a copy: the table may change meanwhile). */
  values(): V[] {
    const out: V[] = [];
    for (let s = this.#head; s !== NONE; s = this.#next[s]) out.push(this.#values[s]!);
    return out;
  }

  /** The bucket holding `id`, or `NONE`. */
  #find(id: number): number {
    if (this.#size === 0) return NONE;
    const index = this.#index, ids = this.#ids, mask = this.#mask;
    for (let b = hashOf(id) & mask;; b = (b + 1) & mask) {
      const s = index[b];
      if (s === 0) return NONE;
      if (same(ids[s - 1], id)) return b;
    }
  }

  /** Empties `bucket`, moving back the entries after it that it would hide (linear probing). */
  #unindex(bucket: number): void {
    const index = this.#index, ids = this.#ids, mask = this.#mask;
    let hole = bucket;
    for (let b = (bucket + 1) & mask;; b = (b + 1) & mask) {
      const s = index[b];
      if (s === 0) break;
      const home = hashOf(ids[s - 1]) & mask;
      // The entry at b may move to the hole unless its home lies cyclically in (hole, b].
      const stays = hole <= b ? hole < home && home <= b : hole < home || home <= b;
      if (!stays) {
        index[hole] = s;
        hole = b;
      }
    }
    index[hole] = 0;
  }

  /** Doubles the slots (the first time: makes them), keeping the order; slots are renumbered. */
  #grow(): void {
    const old = this.values();
    const oldIds: number[] = [];
    for (let s = this.#head; s !== NONE; s = this.#next[s]) oldIds.push(this.#ids[s]);
    const slots = Math.max(INITIAL_SLOTS, this.#values.length * 2);
    this.clear();
    this.#values = new Array(slots).fill(undefined);
    this.#ids = new Float64Array(slots);
    this.#prev = new Int32Array(slots);
    this.#next = new Int32Array(slots);
    this.#free = new Int32Array(slots);
    for (let i = 0; i < slots; i++) this.#free[i] = slots - 1 - i; // slot 0 first
    this.#freeCount = slots;
    this.#index = new Int32Array(slots * 2);
    this.#mask = slots * 2 - 1;
    for (let i = 0; i < old.length; i++) this.set(oldIds[i], old[i]);
  }
}
