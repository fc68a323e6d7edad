/**
 * A bounded-wait FIFO of results for `read()`: items queue until read; readers queue until an item
 * arrives; once ended, readers get the end error after the queued items are read.
 *
 * @module
 */

/** One queued outcome: a value or an error. */
export type ReadItem<T> = { value: T } | { error: Error };

/**
 * Serves `read()` calls in call order from items pushed by an adapter.
 *
 * @example
 * ```ts
 * import { ReadQueue } from "./_reader.ts";
 * import assert from "node:assert/strict";
 * const q = new ReadQueue<number>();
 * q.push({ value: 1 });
 * assert.equal((await q.read()), 1);
 * ```
 */
export class ReadQueue<T> {
  #items: ReadItem<T>[] = [];
  #head = 0;
  #waiting: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  #end: Error | undefined;

  /** Items waiting to be read. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds an item; a waiting reader takes it at once. Ignored after `end()`. */
  push(item: ReadItem<T>): void {
    if (this.#end) return;
    const reader = this.#waiting.shift();
    if (reader) {
      if ("value" in item) reader.resolve(item.value);
      else reader.reject(item.error);
      return;
    }
    this.#items.push(item);
  }

  /** Removes queued items that match `predicate`. */
  discard(predicate: (item: ReadItem<T>) => boolean): void {
    this.#items = this.#items.slice(this.#head).filter((i) => !predicate(i));
    this.#head = 0;
  }

  /**
   * Ends the queue: once queued items are read (or at once when `dropQueued`), every read fails
   * with `error`. On a queue that has already ended, only a `dropQueued` end has an effect: it
   * drops what is left and replaces the end error (a local close after a loss).
   */
  end(error: Error, dropQueued = false): void {
    if (this.#end && !dropQueued) return;
    this.#end = error;
    if (dropQueued) {
      this.#items = [];
      this.#head = 0;
    }
    for (const reader of this.#waiting.splice(0)) reader.reject(error);
  }

  /** The next item, in order; waits when there is none. */
  read(): Promise<T> {
    if (this.#head < this.#items.length) {
      const item = this.#items[this.#head++];
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      return "value" in item ? Promise.resolve(item.value) : Promise.reject(item.error);
    }
    if (this.#end) return Promise.reject(this.#end);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
}
