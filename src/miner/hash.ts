/**
 * The miner hash (spec §3): the first 8 bytes, big-endian, of SHA-256 over the UTF-8 of
 * `data + " " + decimal(nonce)`, as a uint64 bigint. {@linkcode hash} is the reference, on Web
 * Crypto; {@linkcode hashSync} computes the same value with the synchronous JavaScript kernel of
 * `sha256_kernel.ts` (one hash at a time; scans use the SIMD kernel of `sha256_simd.ts`).
 *
 * @module
 */

import { MAX_NONCE, NonceKernel } from "./sha256_kernel.ts";

export { MAX_NONCE };

/** Throws unless `nonce` is a uint64 bigint. */
function checkNonce(nonce: bigint): void {
  if (typeof nonce !== "bigint") throw new TypeError("Cannot hash: nonce is not a bigint");
  if (nonce < 0n || nonce > MAX_NONCE) {
    throw new RangeError(`Cannot hash: nonce ${nonce} is outside 0..${MAX_NONCE}`);
  }
}

/**
 * Computes the miner hash with `crypto.subtle.digest`: the reference the kernel is tested against.
 * One promise per nonce: far too slow for scanning (spec §3.5), use `scanRange()` for that.
 *
 * @param data The message (hashed as UTF-8; lone surrogates become U+FFFD).
 * @param nonce A uint64, 0 … {@linkcode MAX_NONCE}.
 * @returns The first 8 digest bytes as a big-endian uint64.
 * @throws {TypeError} When `data` is not a string or `nonce` not a bigint.
 * @throws {RangeError} When `nonce` is outside the uint64 range.
 *
 * @example A handout vector
 * ```ts
 * import { hash } from "./hash.ts";
 * import assert from "node:assert/strict";
 * assert.equal(await hash("msg", 1n), 4754799531757243342n);
 * ```
 */
export async function hash(data: string, nonce: bigint): Promise<bigint> {
  if (typeof data !== "string") throw new TypeError("Cannot hash: data is not a string");
  checkNonce(nonce);
  const input = new TextEncoder().encode(`${data} ${nonce}`);
  const digest = await crypto.subtle.digest("SHA-256", input);
  return new DataView(digest).getBigUint64(0, false);
}

/**
 * Computes the miner hash synchronously with the specialised kernel; equals {@linkcode hash}.
 * Builds a kernel per call: to hash many nonces of one message use `NonceKernel` or
 * `scanRange()`.
 *
 * @param data The message (hashed as UTF-8; lone surrogates become U+FFFD).
 * @param nonce A uint64, 0 … {@linkcode MAX_NONCE}.
 * @returns The first 8 digest bytes as a big-endian uint64.
 * @throws {TypeError} When `data` is not a string or `nonce` not a bigint.
 * @throws {RangeError} When `nonce` is outside the uint64 range.
 *
 * @example The largest nonce
 * ```ts
 * import { hashSync, MAX_NONCE } from "./hash.ts";
 * import assert from "node:assert/strict";
 * assert.equal(hashSync("msg", MAX_NONCE), 11760006151797969436n);
 * ```
 */
export function hashSync(data: string, nonce: bigint): bigint {
  checkNonce(nonce);
  const kernel = new NonceKernel(data);
  kernel.seek(nonce);
  kernel.scan(1);
  return kernel.minHash();
}
