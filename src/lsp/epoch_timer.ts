/**
 * The single epoch timer of an {@linkcode LspEndpoint} (`endpoint.ts`) and its view of time:
 * the caller's clock readings, never going backwards, and the next epoch boundary while any
 * connection exists. Epochs a late caller missed are skipped (like Go's ticker), not replayed.
 * Pure: time only comes in as arguments.
 *
 * @module
 */

import { TimeKeeper } from "../core/mod.ts";
import { assert } from "../util/mod.ts";

/**
 * An epoch timer over caller-supplied time in milliseconds.
 *
 * @example Starting, firing late, and skipping the missed epochs
 * ```ts
 * import { EpochTimer } from "./epoch_timer.ts";
 * import assert from "node:assert/strict";
 * const timer = new EpochTimer(100);
 * const at = timer.advance(0);
 * timer.start(at);
 * assert.equal(timer.dueAt, 100);
 * assert.equal(timer.take(timer.advance(99)), false);
 * assert.equal(timer.take(timer.advance(350)), true);
 * assert.equal(timer.dueAt, 400);
 * assert.equal(timer.advance(10), 350); // time never goes backwards
 * ```
 */
export class EpochTimer {
  /** The epoch length in milliseconds. */
  readonly period: number;
  readonly #time = new TimeKeeper();
  #dueAt: number | undefined;

  /**
   * Makes a stopped timer.
   *
   * @param period The epoch length in milliseconds (a validated LSP parameter).
   */
  constructor(period: number) {
    this.period = period;
  }

  /** The next epoch boundary, or `undefined` while stopped. */
  get dueAt(): number | undefined {
    return this.#dueAt;
  }

  /**
   * Takes the caller's time under the one time policy ({@linkcode TimeKeeper}): never backwards.
   *
   * @param now The current time in milliseconds.
   * @returns The time to use: `now`, or the latest time seen when `now` is earlier.
   * @throws {RangeError} When `now` is NaN, infinite or negative.
   */
  advance(now: number): number {
    return this.#time.advance(now);
  }

  /**
   * Starts the timer one period after `at`, unless it is running.
   *
   * @param at The current time (from {@linkcode EpochTimer.advance}).
   */
  start(at: number): void {
    this.#dueAt ??= at + this.period;
  }

  /** Stops the timer: no epoch is due until the next start. */
  stop(): void {
    this.#dueAt = undefined;
  }

  /**
   * Whether an epoch is due at `at`; if so, moves the timer to the first boundary after `at`.
   *
   * @param at The current time (from {@linkcode EpochTimer.advance}).
   * @returns `true` when an epoch is due (the caller runs it).
   */
  take(at: number): boolean {
    const due = this.#dueAt;
    if (due === undefined || at < due) return false;
    this.#dueAt = due + (Math.floor((at - due) / this.period) + 1) * this.period;
    assert(this.#dueAt > at, "the next epoch is not in the future");
    return true;
  }
}
