/**
 * The one set of argument checks for local misuse (a caller's bug, never network input): each
 * returns the value it checked, or throws a `TypeError`/`RangeError` whose message reads
 * "Cannot <action>: <what is wrong>".
 *
 * @module
 */

/**
 * Checks that `value` is a safe integer in `min..max` (both included).
 *
 * @param name What the value is, for the message.
 * @param action What the caller was doing, for the message ("Cannot <action>: …").
 * @returns `value`.
 * @throws {TypeError} When `value` is not a number.
 * @throws {RangeError} When `value` is not a safe integer or lies outside the range.
 *
 * @example A window size
 * ```ts
 * import { checkInt } from "./checks.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkInt("window", 8, 1, 64), 8);
 * assert.throws(() => checkInt("window", 0, 1, 64), RangeError);
 * ```
 */
export function checkInt(
  name: string,
  value: number,
  min: number,
  max: number,
  action = `use ${name}`,
): number {
  if (typeof value !== "number") throw new TypeError(`Cannot ${action}: ${name} is not a number`);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot ${action}: ${name} ${value} is not an integer in ${min}..${max}`);
  }
  return value;
}

/**
 * Checks that `now` is a usable time in milliseconds: finite and not negative.
 *
 * @param what What the time is, for the message.
 * @returns `now`.
 * @throws {RangeError} When `now` is NaN, infinite or negative.
 *
 * @example
 * ```ts
 * import { checkTime } from "./checks.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkTime(12.5), 12.5);
 * assert.throws(() => checkTime(Number.NaN), RangeError);
 * ```
 */
export function checkTime(now: number, what = "time"): number {
  if (typeof now !== "number" || !Number.isFinite(now) || now < 0) {
    throw new RangeError(
      `Cannot use ${what} ${String(now)}: it must be a finite number of ms, not negative`,
    );
  }
  return now;
}
