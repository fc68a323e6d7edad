/**
 * Invariant checks that stay on in production (TigerBeetle style). A failed `assert` is a bug in
 * bitclone, never a reaction to bad network input: input is validated and dropped instead.
 *
 * @module
 */

/** Thrown when an internal invariant does not hold. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/**
 * Throws {@linkcode AssertionError} when `condition` is false.
 *
 * @example An invariant
 * ```ts
 * import { assert, AssertionError } from "./assert.ts";
 * import nodeAssert from "node:assert/strict";
 * const window = [1, 2];
 * assert(window.length <= 8, "window over its bound"); // holds: nothing happens
 * nodeAssert.throws(() => assert(window.length <= 1, "window over its bound"), AssertionError);
 * ```
 */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/**
 * Marks code that must never run; the type checker proves the switch exhaustive.
 *
 * @example An exhaustive switch
 * ```ts
 * import { unreachable } from "./assert.ts";
 * import assert from "node:assert/strict";
 * type Kind = "a" | "b";
 * function f(k: Kind): number {
 *   switch (k) {
 *     case "a": return 1;
 *     case "b": return 2;
 *     default: return unreachable(k);
 *   }
 * }
 * assert.equal(f("a"), 1);
 * ```
 */
export function unreachable(value: never, message = "unreachable code ran"): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}
