/**
 * A virtual clock with timers for the deterministic simulator. Time is a plain number of
 * milliseconds that only moves when the test says so; timers fire in time order, ties in the order
 * they were set.
 *
 * @module
 */

import { checkTime as checkTimeIn } from "../util/mod.ts";

/**
 * Identifies a timer set on a {@linkcode VirtualClock}; pass it to `cancel()`.
 */
export type TimerId = number;

/**
 * A timer callback; it receives the clock's time, which equals the timer's deadline.
 */
export type TimerCallback = (now: number) => void;

/**
 * Options for {@linkcode VirtualClock}.
 */
export interface VirtualClockOptions {
  /**
   * The time the clock starts at, in milliseconds.
   *
   * @default {0}
   */
  startMs?: number;
  /**
   * The most timers that may be pending at once; setting one more throws a `RangeError`.
   *
   * @default {1_000_000}
   */
  maxTimers?: number;
  /**
   * The most timers that may fire at one single instant during one advance (a guard against
   * zero-delay loops); one more throws an `Error`.
   *
   * @default {1_000_000}
   */
  maxFiresPerInstant?: number;
}

interface Entry {
  readonly at: number;
  readonly seq: number;
  readonly fn: TimerCallback;
  cancelled: boolean;
}

/** Orders entries by deadline, then by insertion. */
function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function checkTime(what: string, t: number): void {
  checkTimeIn(t, `time (to ${what})`);
}

/**
 * A virtual clock: `now` moves only through {@linkcode VirtualClock.advanceTo},
 * {@linkcode VirtualClock.advanceBy} or {@linkcode VirtualClock.fireNext}, never backwards. Timers
 * live in a binary heap keyed by (deadline, insertion order).
 *
 * @example Timers fire in time order
 * ```ts
 * import { VirtualClock } from "./clock.ts";
 * import assert from "node:assert/strict";
 * const clock = new VirtualClock();
 * const fired: string[] = [];
 * clock.setTimeout(20, () => fired.push("b"));
 * clock.setTimeout(10, () => fired.push("a"));
 * clock.advanceTo(25);
 * assert.equal(fired.join(), "a,b");
 * assert.equal(clock.now, 25);
 * ```
 */
export class VirtualClock {
  #now: number;
  #heap: Entry[] = [];
  #byId = new Map<TimerId, Entry>();
  #seq = 0;
  #cancelledInHeap = 0;
  readonly #maxTimers: number;
  readonly #maxFiresPerInstant: number;

  /**
   * Makes a clock at `options.startMs` (default 0) with no timers.
   *
   * @throws {RangeError} When an option is out of range.
   * @example A clock that starts at one second
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new VirtualClock({ startMs: 1000 }).now, 1000);
   * ```
   */
  constructor(options: VirtualClockOptions = {}) {
    const { startMs = 0, maxTimers = 1_000_000, maxFiresPerInstant = 1_000_000 } = options;
    checkTime("start the clock", startMs);
    if (!(maxTimers >= 1) || !(maxFiresPerInstant >= 1)) {
      throw new RangeError("Cannot create the clock: limits must be at least 1");
    }
    this.#now = startMs;
    this.#maxTimers = maxTimers;
    this.#maxFiresPerInstant = maxFiresPerInstant;
  }

  /**
   * The current virtual time in milliseconds.
   *
   * @example Reading the time
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new VirtualClock().now, 0);
   * ```
   */
  get now(): number {
    return this.#now;
  }

  /**
   * How many timers are pending (set, not yet fired or cancelled).
   *
   * @example Counting timers
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock();
   * clock.setTimeout(5, () => {});
   * assert.equal(clock.pending, 1);
   * ```
   */
  get pending(): number {
    return this.#byId.size;
  }

  /**
   * Sets a timer that fires when the clock reaches `at` (absolute ms). A timer at `now` fires at
   * the next advance, even an advance to the current time.
   *
   * @param at The deadline, at or after `now`.
   * @param fn Called with the time when the timer fires.
   * @returns An id for {@linkcode VirtualClock.cancel}.
   * @throws {RangeError} When `at` is before `now` or not finite, or too many timers are pending.
   * @example An absolute timer
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock();
   * let at = -1;
   * clock.setTimer(100, (now) => at = now);
   * clock.advanceTo(150);
   * assert.equal(at, 100);
   * ```
   */
  setTimer(at: number, fn: TimerCallback): TimerId {
    checkTime("set a timer", at);
    if (at < this.#now) {
      throw new RangeError(`Cannot set a timer: ${at} is before now (${this.#now})`);
    }
    if (typeof fn !== "function") throw new TypeError("Cannot set a timer: callback is missing");
    if (this.#byId.size >= this.#maxTimers) {
      throw new RangeError(`Cannot set a timer: ${this.#maxTimers} timers are already pending`);
    }
    const seq = ++this.#seq;
    const entry: Entry = { at, seq, fn, cancelled: false };
    this.#byId.set(seq, entry);
    this.#push(entry);
    return seq;
  }

  /**
   * Sets a timer `delayMs` after `now`.
   *
   * @throws {RangeError} When `delayMs` is negative or not finite.
   * @example A relative timer
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock({ startMs: 10 });
   * let fired = false;
   * clock.setTimeout(5, () => fired = true);
   * clock.advanceTo(15);
   * assert.ok(fired);
   * ```
   */
  setTimeout(delayMs: number, fn: TimerCallback): TimerId {
    checkTime("set a timeout", delayMs);
    if (delayMs < 0) throw new RangeError(`Cannot set a timeout: delay ${delayMs} is negative`);
    return this.setTimer(this.#now + delayMs, fn);
  }

  /**
   * Cancels a pending timer.
   *
   * @returns `true` if the timer was pending, `false` if it already fired, was cancelled or never
   * existed.
   * @example Cancelling
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock();
   * const id = clock.setTimeout(5, () => { throw new Error("must not fire"); });
   * assert.ok(clock.cancel(id));
   * clock.advanceTo(10);
   * ```
   */
  cancel(id: TimerId): boolean {
    const entry = this.#byId.get(id);
    if (entry === undefined) return false;
    this.#byId.delete(id);
    entry.cancelled = true;
    this.#cancelledInHeap++;
    this.#compactIfSparse();
    return true;
  }

  /**
   * The deadline of the earliest pending timer, or `undefined` when none is pending.
   *
   * @example The next deadline
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock();
   * assert.equal(clock.nextDeadline(), undefined);
   * clock.setTimeout(7, () => {});
   * assert.equal(clock.nextDeadline(), 7);
   * ```
   */
  nextDeadline(): number | undefined {
    return this.#peek()?.at;
  }

  /**
   * Moves the clock to `t`, firing every timer due at or before `t` in (deadline, insertion) order;
   * `now` equals each timer's deadline while it runs. Timers set while firing also fire if they are
   * due by `t`.
   *
   * @returns How many timers fired.
   * @throws {RangeError} When `t` is before `now` or not finite.
   * @throws {Error} When more than `maxFiresPerInstant` timers fire at one instant.
   * @example Advancing
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock();
   * clock.setTimeout(1, (now) => clock.setTimeout(1, () => {}));
   * assert.equal(clock.advanceTo(10), 2);
   * assert.equal(clock.now, 10);
   * ```
   */
  advanceTo(t: number): number {
    checkTime("advance the clock", t);
    if (t < this.#now) {
      throw new RangeError(`Cannot advance the clock: ${t} is before now (${this.#now})`);
    }
    let fired = 0;
    let atInstant = 0;
    for (let top = this.#peek(); top !== undefined && top.at <= t; top = this.#peek()) {
      if (top.at === this.#now) {
        if (++atInstant > this.#maxFiresPerInstant) {
          throw new Error(
            `Cannot advance the clock: over ${this.#maxFiresPerInstant} timers fired at ${this.#now}ms`,
          );
        }
      } else {
        atInstant = 1;
      }
      this.#pop();
      this.#byId.delete(top.seq);
      this.#now = top.at;
      fired++;
      top.fn(top.at);
    }
    this.#now = t;
    return fired;
  }

  /**
   * Moves the clock forward by `ms`, like `advanceTo(now + ms)`.
   *
   * @example Advancing by a duration
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock({ startMs: 5 });
   * clock.advanceBy(10);
   * assert.equal(clock.now, 15);
   * ```
   */
  advanceBy(ms: number): number {
    checkTime("advance the clock", ms);
    if (ms < 0) throw new RangeError(`Cannot advance the clock: ${ms} is negative`);
    return this.advanceTo(this.#now + ms);
  }

  /**
   * Jumps to the next deadline and fires every timer due then (including timers those set for the
   * same instant).
   *
   * @returns `false` when no timer was pending.
   * @example One instant at a time
   * ```ts
   * import { VirtualClock } from "./clock.ts";
   * import assert from "node:assert/strict";
   * const clock = new VirtualClock();
   * clock.setTimeout(3, () => {});
   * clock.setTimeout(9, () => {});
   * assert.ok(clock.fireNext());
   * assert.equal(clock.now, 3);
   * ```
   */
  fireNext(): boolean {
    const at = this.nextDeadline();
    if (at === undefined) return false;
    this.advanceTo(at);
    return true;
  }

  #peek(): Entry | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0].cancelled) {
      this.#pop();
      this.#cancelledInHeap--;
    }
    return heap[0];
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    let i = heap.length;
    heap.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && before(heap[r], heap[l]) ? r : l;
      if (!before(heap[child], last)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
  }

  /** Rebuilds the heap without cancelled entries once they outnumber the live ones. */
  #compactIfSparse(): void {
    if (this.#cancelledInHeap < 1024 || this.#cancelledInHeap < this.#byId.size) return;
    const live = this.#heap.filter((e) => !e.cancelled);
    this.#heap = [];
    this.#cancelledInHeap = 0;
    for (const e of live) this.#push(e);
  }
}
