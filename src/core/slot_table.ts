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
 * Here the hash table maps ids to slot numbers (small integers, which point to nothing) and the
 * values sit in an array whose slot is cleared when its id is deleted.
 *
 * @module
 */

/** The most slots kept once the table is empty again (beyond it, the arrays are dropped). */
const SLOTS_KEPT = 1024;

/**
 * Objects by numeric id: `get`, `has`, `set`, `delete`, `size`, and `values()` in insertion order,
 * as a `Map` does, without a removed value staying reachable from the table's old storage.
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
 * assert.deepEqual([...table.values()].map((v) => v.name), ["a", "c"]);
 * ```
 */
export class SlotTable<V> {
  /** The slot of each id, in insertion order. */
  readonly #slots = new Map<number, number>();
  #values: (V | undefined)[] = [];
  /** Slots free for reuse. */
  #free: number[] = [];

  /** The number of ids held. */
  get size(): number {
    return this.#slots.size;
  }

  /** The value of `id`, or `undefined`. */
  get(id: number): V | undefined {
    const slot = this.#slots.get(id);
    return slot === undefined ? undefined : this.#values[slot];
  }

  /** Whether `id` is held. */
  has(id: number): boolean {
    return this.#slots.has(id);
  }

  /** Sets the value of `id` (a new id goes last in `values()`, a known one keeps its place). */
  set(id: number, value: V): this {
    let slot = this.#slots.get(id);
    if (slot === undefined) {
      slot = this.#free.pop() ?? this.#values.length;
      this.#slots.set(id, slot);
    }
    this.#values[slot] = value;
    return this;
  }

  /** Removes `id`; true when it was held. Its slot no longer points to its value. */
  delete(id: number): boolean {
    const slot = this.#slots.get(id);
    if (slot === undefined) return false;
    this.#slots.delete(id);
    this.#values[slot] = undefined;
    if (this.#slots.size === 0 && this.#values.length > SLOTS_KEPT) {
      this.#values = [];
      this.#free = [];
    } else {
      this.#free.push(slot);
    }
    return true;
  }

  /** Removes every id. */
  clear(): void {
    this.#slots.clear();
    this.#values = [];
    this.#free = [];
  }

  /** The values, in the order their ids were added. */
  *values(): Generator<V, void, undefined> {
    for (const slot of this.#slots.values()) yield this.#values[slot]!;
  }
}
