/**
 * A first-in first-out queue with O(1) amortised shift, for the LSP cores' unbounded send queue
 * and their output queues (datagrams to send, events for the application).
 *
 * @module
 */

/**
 * An unbounded FIFO. Shifted slots are released; the backing array is reset when the queue
 * empties and compacted when over half of it is spent.
 *
 * @example First in, first out
 * ```ts
 * import { Fifo } from "./fifo.ts";
 * import assert from "node:assert/strict";
 * const q = new Fifo<string>();
 * q.push("a");
 * q.push("b");
 * assert.equal(q.length, 2);
 * assert.equal(q.peek(), "a");
 * assert.equal(q.shift(), "a");
 * assert.equal(q.shift(), "b");
 * assert.equal(q.shift(), undefined);
 * ```
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** The number of items held. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /**
   * Appends an item at the tail.
   *
   * @param item The item.
   */
  push(item: T): void {
    this.#items.push(item);
  }

  /**
   * The item at the head, without removing it.
   *
   * @returns The head item, or `undefined` when empty.
   */
  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /**
   * Removes and returns the item at the head.
   *
   * @returns The head item, or `undefined` when empty.
   */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes every item. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
