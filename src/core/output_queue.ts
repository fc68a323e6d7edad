/**
 * The one bounded FIFO that every core keeps its outputs in (datagrams to send, actions, events):
 * a ring buffer with O(1) `push` and `shift`, a fixed capacity, and a count of what it refused.
 *
 * @module
 */

import { checkInt } from "../util/mod.ts";

/** Options of {@linkcode OutputQueue}. */
export interface OutputQueueOptions {
  /**
   * The most items held at once; a `push` beyond it is refused and counted.
   *
   * @default {65536}
   */
  capacity?: number;
}

/**
 * A bounded first-in, first-out queue.
 *
 * @typeParam T The item type.
 *
 * @example Items come out in order; a full queue refuses and counts
 * ```ts
 * import { OutputQueue } from "./output_queue.ts";
 * import assert from "node:assert/strict";
 * const q = new OutputQueue<number>({ capacity: 2 });
 * assert.equal(q.push(1), true);
 * assert.equal(q.push(2), true);
 * assert.equal(q.push(3), false);
 * assert.equal(q.refused, 1);
 * assert.equal(q.shift(), 1);
 * assert.equal(q.shift(), 2);
 * assert.equal(q.shift(), undefined);
 * ```
 */
export class OutputQueue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #size = 0;
  #refused = 0;
  readonly #capacity: number;

  /** Makes an empty queue. */
  constructor(options: OutputQueueOptions = {}) {
    const { capacity = 65536 } = options;
    this.#capacity = checkInt("capacity", capacity, 1, 2 ** 30);
  }

  /** The number of items held. */
  get length(): number {
    return this.#size;
  }

  /** The most items held at once. */
  get capacity(): number {
    return this.#capacity;
  }

  /** How many `push` calls were refused because the queue was full. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Appends `item` at the tail.
   *
   * @returns `true`, or `false` (and the item is not kept) when the queue is full.
   */
  push(item: T): boolean {
    if (this.#size === this.#capacity) {
      this.#refused++;
      return false;
    }
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) % this.#items.length] = item;
    this.#size++;
    return true;
  }

  /** Removes and returns the item at the head, or `undefined` when the queue is empty. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    return item;
  }

  /** The item at the head without removing it. */
  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /** Removes every item (the refused count stays). */
  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const old = this.#items;
    const grown: (T | undefined)[] = new Array(
      Math.min(this.#capacity, Math.max(8, old.length * 2)),
    );
    for (let i = 0; i < this.#size; i++) grown[i] = old[(this.#head + i) % old.length];
    this.#items = grown;
    this.#head = 0;
  }
}
