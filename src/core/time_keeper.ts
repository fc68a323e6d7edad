/**
 * The one policy for the time cores are given: it must be finite and not negative (else a
 * `RangeError`: a driver's bug), and a `now` earlier than the latest one seen is taken as the latest
 * one (a clock that steps back never makes a core go back in time, and never crashes a node).
 *
 * @module
 */

import { checkTime } from "../util/mod.ts";
import type { Millis } from "./types.ts";

/**
 * Keeps a core's view of time monotonic.
 *
 * @example A clock that steps back is held at its latest value
 * ```ts
 * import { TimeKeeper } from "./time_keeper.ts";
 * import assert from "node:assert/strict";
 * const time = new TimeKeeper(100);
 * assert.equal(time.advance(150), 150);
 * assert.equal(time.advance(120), 150);
 * assert.equal(time.now, 150);
 * ```
 */
export class TimeKeeper {
  #now: Millis;

  /** Starts at `start` (default 0). */
  constructor(start: Millis = 0) {
    this.#now = checkTime(start);
  }

  /** The latest time seen. */
  get now(): Millis {
    return this.#now;
  }

  /**
   * Takes a new reading and returns the time the core should use: `now`, or the latest time seen
   * when `now` is earlier.
   *
   * @throws {RangeError} When `now` is NaN, infinite or negative.
   */
  advance(now: Millis): Millis {
    checkTime(now);
    if (now > this.#now) this.#now = now;
    return this.#now;
  }
}
