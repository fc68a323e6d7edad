/**
 * A bounded-wait FIFO of results for `read()`: items queue until read; readers queue until an item
 * arrives; once ended, readers get the end error after the queued items are read. An optional
 * `onTake` hook sees every value handed to a reader, so an adapter can tell its core that the
 * application made room (read-queue push-back).
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
  readonly #onTake: ((value: T) => void) | undefined;

  /**
   * Makes an empty queue.
   *
   * @param onTake Called with each value as a reader takes it (not for errors or discarded items).
   */
  constructor(onTake?: (value: T) => void) {
    this.#onTake = onTake;
  }

  /** Items waiting to be read. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds an item; a waiting reader takes it at once. Ignored after `end()`. */
  push(item: ReadItem<T>): void {
    if (this.#end) return;
    const reader = this.#waiting.shift();
    if (reader) {
      if ("value" in item) {
        this.#onTake?.(item.value);
        reader.resolve(item.value);
      } else reader.reject(item.error);
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
      if (!("value" in item)) return Promise.reject(item.error);
      this.#onTake?.(item.value);
      return Promise.resolve(item.value);
    }
    if (this.#end) return Promise.reject(this.#end);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }
}

/**
 * The adapters' default read-queue bound per connection: the larger of 1024 messages and four
 * windows. 1024 leaves room for the conformance tests' buffering (spec §15.10: 500 unread
 * messages per client must be taken while the server does not read).
 *
 * @param params The connection's window size.
 * @returns The bound, in messages.
 *
 * @example
 * ```ts
 * import { defaultReadQueueMax } from "./_reader.ts";
 * import assert from "node:assert/strict";
 * assert.equal(defaultReadQueueMax({ windowSize: 1 }), 1024);
 * assert.equal(defaultReadQueueMax({ windowSize: 1000 }), 4000);
 * ```
 */
export function defaultReadQueueMax(params: { readonly windowSize: number }): number {
  return Math.max(1024, 4 * params.windowSize);
}
