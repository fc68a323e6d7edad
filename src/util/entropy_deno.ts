/**
 * OS entropy for live adapters. Protocol cores never import this file: they take a
 * {@linkcode Prng} so that the simulator can replay them.
 *
 * @module
 */
import { Prng } from "./prng.ts";

/**
 * Returns a {@linkcode Prng} seeded from `crypto.getRandomValues`.
 *
 * @example A live generator
 * ```ts
 * import { prngFromEntropy } from "./entropy_deno.ts";
 * import assert from "node:assert/strict";
 * const x = prngFromEntropy().float();
 * assert.ok(x >= 0 && x < 1);
 * ```
 */
export function prngFromEntropy(): Prng {
  return Prng.fromWords(crypto.getRandomValues(new Uint32Array(4)));
}
