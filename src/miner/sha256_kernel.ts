/**
 * A synchronous SHA-256 specialised for the miner's hash input `UTF8(data) ‖ " " ‖ decimal(nonce)`
 * (spec §3, §3.5). The prefix `UTF8(data) ‖ 0x20` is the same for every nonce, so its whole 64-byte
 * blocks are compressed once (the *midstate*); per nonce only the tail — the rest of the prefix,
 * the nonce's decimal digits, the padding and the length — is compressed, one or two blocks.
 *
 * The hot loop allocates nothing: the digits live in a preallocated tail buffer and are incremented
 * in place (a carry that adds a digit, 9 → 10, rebuilds the padding), only the 32-bit words the
 * increment touched are re-read, the state after the first of two blocks is reused while only
 * digits of the second block change, the message schedule is a preallocated `Uint32Array`, the 64
 * rounds are unrolled on Int32 arithmetic, and hashes are compared as two uint32 halves (high word
 * first) without building a BigInt.
 *
 * Pure: no I/O, no clock. `hash()` in `hash.ts` (Web Crypto) is the reference it is tested against.
 *
 * @module
 */

/**
 * The largest nonce, 2^64 − 1: nonces are uint64 on the wire (spec §2.2).
 *
 * @example The top of the range
 * ```ts
 * import { MAX_NONCE } from "./sha256_kernel.ts";
 * import assert from "node:assert/strict";
 * assert.equal(String(MAX_NONCE), "18446744073709551615");
 * ```
 */
export const MAX_NONCE: bigint = 0xffff_ffff_ffff_ffffn;

/** Digits of {@linkcode MAX_NONCE} (20), plus one so a counter stepping past it stays in bounds. */
const MAX_DIGITS = 21;

/** The SHA-256 initial hash value (FIPS 180-4 §5.3.3). */
const IV = Int32Array.of(
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
);

const ASCII_0 = 0x30;
const ASCII_9 = 0x39;

/**
 * The SHA-256 compression function: `out` = `state` compressed with the 16 big-endian words
 * `m[o .. o + 16)`. `state` and `out` may be the same array. The 64 rounds are unrolled (the
 * working variables rename instead of moving) and the round constants inlined as int32 literals.
 * Every round has the same shape: round t names the working variables (a … h) rotated by t mod 8,
 * loads (t < 16) or expands (t ≥ 16) the schedule word, and stores it only while a later round reads it.
 */
function compress(
  state: Int32Array,
  m: Int32Array,
  o: number,
  out: Int32Array,
  W: Uint32Array,
): void {
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  let w = 0, x = 0, y = 0, t1 = 0;
  w = m[o + 0];
  W[0] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + 0x428a2f98 + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  w = m[o + 1];
  W[1] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + 0x71374491 + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  w = m[o + 2];
  W[2] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + -0x4a3f0431 + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  w = m[o + 3];
  W[3] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + -0x164a245b + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  w = m[o + 4];
  W[4] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + 0x3956c25b + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  w = m[o + 5];
  W[5] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + 0x59f111f1 + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  w = m[o + 6];
  W[6] = w;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + -0x6dc07d5c + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  w = m[o + 7];
  W[7] = w;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + -0x54e3a12b + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  w = m[o + 8];
  W[8] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + -0x27f85568 + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  w = m[o + 9];
  W[9] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + 0x12835b01 + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  w = m[o + 10];
  W[10] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + 0x243185be + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  w = m[o + 11];
  W[11] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + 0x550c7dc3 + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  w = m[o + 12];
  W[12] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + 0x72be5d74 + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  w = m[o + 13];
  W[13] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + -0x7f214e02 + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  w = m[o + 14];
  W[14] = w;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + -0x6423f959 + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  w = m[o + 15];
  W[15] = w;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + -0x3e640e8c + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  x = W[1];
  y = W[14];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[9] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[0] | 0;
  W[16] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + -0x1b64963f + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  x = W[2];
  y = W[15];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[10] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[1] | 0;
  W[17] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + -0x1041b87a + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  x = W[3];
  y = W[16];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[11] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[2] | 0;
  W[18] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + 0xfc19dc6 + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  x = W[4];
  y = W[17];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[12] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[3] | 0;
  W[19] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + 0x240ca1cc + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  x = W[5];
  y = W[18];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[13] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[4] | 0;
  W[20] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + 0x2de92c6f + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  x = W[6];
  y = W[19];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[14] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[5] | 0;
  W[21] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + 0x4a7484aa + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  x = W[7];
  y = W[20];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[15] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[6] | 0;
  W[22] = w;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + 0x5cb0a9dc + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  x = W[8];
  y = W[21];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[16] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[7] | 0;
  W[23] = w;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + 0x76f988da + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  x = W[9];
  y = W[22];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[17] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[8] | 0;
  W[24] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + -0x67c1aeae + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  x = W[10];
  y = W[23];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[18] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[9] | 0;
  W[25] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + -0x57ce3993 + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  x = W[11];
  y = W[24];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[19] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[10] | 0;
  W[26] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + -0x4ffcd838 + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  x = W[12];
  y = W[25];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[20] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[11] | 0;
  W[27] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + -0x40a68039 + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  x = W[13];
  y = W[26];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[21] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[12] | 0;
  W[28] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + -0x391ff40d + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  x = W[14];
  y = W[27];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[22] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[13] | 0;
  W[29] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + -0x2a586eb9 + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  x = W[15];
  y = W[28];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[23] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[14] | 0;
  W[30] = w;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + 0x6ca6351 + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  x = W[16];
  y = W[29];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[24] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[15] | 0;
  W[31] = w;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + 0x14292967 + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  x = W[17];
  y = W[30];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[25] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[16] | 0;
  W[32] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + 0x27b70a85 + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  x = W[18];
  y = W[31];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[26] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[17] | 0;
  W[33] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + 0x2e1b2138 + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  x = W[19];
  y = W[32];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[27] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[18] | 0;
  W[34] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + 0x4d2c6dfc + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  x = W[20];
  y = W[33];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[28] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[19] | 0;
  W[35] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + 0x53380d13 + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  x = W[21];
  y = W[34];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[29] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[20] | 0;
  W[36] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + 0x650a7354 + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  x = W[22];
  y = W[35];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[30] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[21] | 0;
  W[37] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + 0x766a0abb + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  x = W[23];
  y = W[36];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[31] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[22] | 0;
  W[38] = w;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + -0x7e3d36d2 + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  x = W[24];
  y = W[37];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[32] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[23] | 0;
  W[39] = w;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + -0x6d8dd37b + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  x = W[25];
  y = W[38];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[33] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[24] | 0;
  W[40] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + -0x5d40175f + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  x = W[26];
  y = W[39];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[34] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[25] | 0;
  W[41] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + -0x57e599b5 + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  x = W[27];
  y = W[40];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[35] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[26] | 0;
  W[42] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + -0x3db47490 + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  x = W[28];
  y = W[41];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[36] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[27] | 0;
  W[43] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + -0x3893ae5d + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  x = W[29];
  y = W[42];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[37] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[28] | 0;
  W[44] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + -0x2e6d17e7 + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  x = W[30];
  y = W[43];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[38] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[29] | 0;
  W[45] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + -0x2966f9dc + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  x = W[31];
  y = W[44];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[39] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[30] | 0;
  W[46] = w;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + -0xbf1ca7b + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  x = W[32];
  y = W[45];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[40] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[31] | 0;
  W[47] = w;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + 0x106aa070 + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  x = W[33];
  y = W[46];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[41] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[32] | 0;
  W[48] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + 0x19a4c116 + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  x = W[34];
  y = W[47];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[42] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[33] | 0;
  W[49] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + 0x1e376c08 + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  x = W[35];
  y = W[48];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[43] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[34] | 0;
  W[50] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + 0x2748774c + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  x = W[36];
  y = W[49];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[44] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[35] | 0;
  W[51] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + 0x34b0bcb5 + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  x = W[37];
  y = W[50];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[45] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[36] | 0;
  W[52] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + 0x391c0cb3 + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  x = W[38];
  y = W[51];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[46] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[37] | 0;
  W[53] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + 0x4ed8aa4a + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  x = W[39];
  y = W[52];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[47] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[38] | 0;
  W[54] = w;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + 0x5b9cca4f + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  x = W[40];
  y = W[53];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[48] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[39] | 0;
  W[55] = w;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + 0x682e6ff3 + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  x = W[41];
  y = W[54];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[49] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[40] | 0;
  W[56] = w;
  t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
      (g ^ (e & (f ^ g))) + 0x748f82ee + w | 0;
  d = d + t1 | 0;
  h = t1 +
      ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) | 0;
  x = W[42];
  y = W[55];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[50] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[41] | 0;
  W[57] = w;
  t1 = g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
      (f ^ (d & (e ^ f))) + 0x78a5636f + w | 0;
  c = c + t1 | 0;
  g = t1 +
      ((((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) | 0;
  x = W[43];
  y = W[56];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[51] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[42] | 0;
  W[58] = w;
  t1 = f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
      (e ^ (c & (d ^ e))) + -0x7b3787ec + w | 0;
  b = b + t1 | 0;
  f = t1 +
      ((((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) | 0;
  x = W[44];
  y = W[57];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[52] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[43] | 0;
  W[59] = w;
  t1 = e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
      (d ^ (b & (c ^ d))) + -0x7338fdf8 + w | 0;
  a = a + t1 | 0;
  e = t1 +
      ((((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) | 0;
  x = W[45];
  y = W[58];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[53] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[44] | 0;
  W[60] = w;
  t1 = d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
      (c ^ (a & (b ^ c))) + -0x6f410006 + w | 0;
  h = h + t1 | 0;
  d = t1 +
      ((((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) | 0;
  x = W[46];
  y = W[59];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[54] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[45] | 0;
  W[61] = w;
  t1 = c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
      (b ^ (h & (a ^ b))) + -0x5baf9315 + w | 0;
  g = g + t1 | 0;
  c = t1 +
      ((((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) | 0;
  x = W[47];
  y = W[60];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[55] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[46] | 0;
  t1 = b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
      (a ^ (g & (h ^ a))) + -0x41065c09 + w | 0;
  f = f + t1 | 0;
  b = t1 +
      ((((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) | 0;
  x = W[48];
  y = W[61];
  w = (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[56] +
      (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + W[47] | 0;
  t1 = a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
      (h ^ (f & (g ^ h))) + -0x398e870e + w | 0;
  e = e + t1 | 0;
  a = t1 +
      ((((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) | 0;
  out[0] = (state[0] + a) | 0;
  out[1] = (state[1] + b) | 0;
  out[2] = (state[2] + c) | 0;
  out[3] = (state[3] + d) | 0;
  out[4] = (state[4] + e) | 0;
  out[5] = (state[5] + f) | 0;
  out[6] = (state[6] + g) | 0;
  out[7] = (state[7] + h) | 0;
}

/** Reads the big-endian 32-bit word at byte `q` of `bytes`. */
function wordAt(bytes: Uint8Array, q: number): number {
  return (bytes[q] << 24) | (bytes[q + 1] << 16) | (bytes[q + 2] << 8) | bytes[q + 3];
}

/**
 * The miner hash of one fixed `data` over consecutive nonces, synchronous and allocation-free per
 * nonce. The kernel keeps a *current nonce* (0 after construction): {@linkcode NonceKernel.seek}
 * sets it, {@linkcode NonceKernel.scan} hashes a run of nonces from it and leaves it just past the
 * run. It counts in decimal text, so it does not know or check numeric bounds: the caller keeps
 * the run within 0 … {@linkcode MAX_NONCE} (as `scanRange()` does).
 *
 * @example The smallest hash over nonces 0, 1, 2
 * ```ts
 * import { NonceKernel } from "./sha256_kernel.ts";
 * import assert from "node:assert/strict";
 * const kernel = new NonceKernel("msg");
 * const index = kernel.scan(3); // nonces 0, 1, 2
 * assert.equal(index, 1);
 * assert.equal(kernel.minHash(), 4754799531757243342n);
 * assert.equal(kernel.nonceText, "3");
 * ```
 */
export class NonceKernel {
  /** The message hashed with each nonce. */
  readonly data: string;
  /** Bytes of `UTF8(data) ‖ 0x20`. */
  readonly prefixLength: number;
  /** High 32 bits (unsigned) of the smallest hash of the last {@linkcode NonceKernel.scan}. */
  minHi = 0;
  /** Low 32 bits (unsigned) of the smallest hash of the last {@linkcode NonceKernel.scan}. */
  minLo = 0;

  /** State after the prefix's whole 64-byte blocks. */
  readonly #mid = new Int32Array(8);
  /** State after the first tail block, valid while `#block1Valid` (two-block tails only). */
  readonly #block1 = new Int32Array(8);
  /** The final state of the last compression. */
  readonly #out = new Int32Array(8);
  /** The message schedule. */
  readonly #w = new Uint32Array(64);
  /** Tail bytes: rest of the prefix, digits, 0x80, zeros, 64-bit bit length; one or two blocks. */
  readonly #tail = new Uint8Array(128);
  /** `#tail` as big-endian words, kept in step with it. */
  readonly #m = new Int32Array(32);
  /** Where the digits start in `#tail` (the prefix length mod 64). */
  readonly #digitsAt: number;
  /** One past the last digit in `#tail`. */
  #digitsEnd = 0;
  /** Tail blocks per nonce: 1 or 2. */
  #blocks = 1;
  #block1Valid = false;

  /**
   * Precomputes the midstate of `data` and positions the kernel at nonce 0.
   *
   * @param data The message; hashed as UTF-8 (lone surrogates become U+FFFD, as with
   *   `TextEncoder`).
   *
   * @example A kernel for a message with multibyte characters
   * ```ts
   * import { NonceKernel } from "./sha256_kernel.ts";
   * import assert from "node:assert/strict";
   * const kernel = new NonceKernel("héllo");
   * assert.equal(kernel.prefixLength, 7);
   * ```
   */
  constructor(data: string) {
    if (typeof data !== "string") throw new TypeError("Cannot hash: data is not a string");
    this.data = data;
    const utf8 = new TextEncoder().encode(data);
    this.prefixLength = utf8.length + 1;
    const whole = utf8.length + 1 - ((utf8.length + 1) % 64);
    const block = new Int32Array(16);
    this.#mid.set(IV);
    const prefix = new Uint8Array(64);
    for (let at = 0; at < whole; at += 64) {
      prefix.set(utf8.subarray(at, at + 64));
      if (at + 64 > utf8.length) prefix[63] = 0x20; // the space closes the last whole block
      for (let i = 0; i < 16; i++) block[i] = wordAt(prefix, i * 4);
      compress(this.#mid, block, 0, this.#mid, this.#w);
    }
    this.#digitsAt = this.prefixLength - whole;
    this.#tail.set(utf8.subarray(whole));
    if (this.#digitsAt > 0) this.#tail[this.#digitsAt - 1] = 0x20;
    this.#setDigits("0");
  }

  /**
   * The decimal digits of the current nonce (the next one {@linkcode NonceKernel.scan} hashes).
   *
   * @example After a seek
   * ```ts
   * import { NonceKernel } from "./sha256_kernel.ts";
   * import assert from "node:assert/strict";
   * const kernel = new NonceKernel("msg");
   * kernel.seek(99n);
   * kernel.scan(1);
   * assert.equal(kernel.nonceText, "100");
   * ```
   */
  get nonceText(): string {
    let text = "";
    for (let p = this.#digitsAt; p < this.#digitsEnd; p++) {
      text += String.fromCharCode(this.#tail[p]);
    }
    return text;
  }

  /**
   * Makes `nonce` the current nonce.
   *
   * @param nonce A uint64, 0 … {@linkcode MAX_NONCE}.
   * @throws {TypeError} When `nonce` is not a bigint.
   * @throws {RangeError} When `nonce` is outside the uint64 range.
   *
   * @example Seeking to the largest nonce
   * ```ts
   * import { MAX_NONCE, NonceKernel } from "./sha256_kernel.ts";
   * import assert from "node:assert/strict";
   * const kernel = new NonceKernel("msg");
   * kernel.seek(MAX_NONCE);
   * kernel.scan(1);
   * assert.equal(kernel.minHash(), 11760006151797969436n);
   * ```
   */
  seek(nonce: bigint): void {
    if (typeof nonce !== "bigint") throw new TypeError("Cannot seek: nonce is not a bigint");
    if (nonce < 0n || nonce > MAX_NONCE) {
      throw new RangeError(`Cannot seek: nonce ${nonce} is outside 0..${MAX_NONCE}`);
    }
    this.#setDigits(nonce.toString());
  }

  /**
   * Hashes `count` consecutive nonces from the current one, records the smallest hash in
   * {@linkcode NonceKernel.minHi} / {@linkcode NonceKernel.minLo} and returns its offset from the
   * first nonce (the lowest offset on a tie). The current nonce advances by `count`.
   *
   * @param count How many nonces, 1 … 2^53 − 1.
   * @returns The offset (0 … count − 1) of the nonce with the smallest hash.
   * @throws {RangeError} When `count` is not an integer in range.
   *
   * @example The minimum of a range crossing 9 → 10
   * ```ts
   * import { NonceKernel } from "./sha256_kernel.ts";
   * import assert from "node:assert/strict";
   * const kernel = new NonceKernel("bradfitz");
   * kernel.seek(5n);
   * const index = kernel.scan(10); // nonces 5 … 14
   * assert.equal(index, 2); // nonce 7
   * assert.equal(kernel.nonceText, "15");
   * ```
   */
  scan(count: number): number {
    if (!Number.isSafeInteger(count) || count < 1) {
      throw new RangeError(`Cannot scan: count ${count} is not an integer in 1..2^53-1`);
    }
    const tail = this.#tail, m = this.#m, w = this.#w, out = this.#out;
    const mid = this.#mid, block1 = this.#block1;
    const digitsAt = this.#digitsAt;
    let digitsEnd = this.#digitsEnd, twoBlocks = this.#blocks === 2;
    let block1Valid = this.#block1Valid;
    let minHi = 0, minLo = 0, minIndex = 0;
    for (let i = 0; i < count; i++) {
      if (twoBlocks) {
        if (!block1Valid) {
          compress(mid, m, 0, block1, w);
          block1Valid = true;
        }
        compress(block1, m, 16, out, w);
      } else {
        compress(mid, m, 0, out, w);
      }
      const hi = out[0] >>> 0, lo = out[1] >>> 0;
      if (i === 0 || hi < minHi || (hi === minHi && lo < minLo)) {
        minHi = hi;
        minLo = lo;
        minIndex = i;
      }
      // Increment the decimal digits in place; `p` ends at the leftmost byte that changed.
      let p = digitsEnd - 1;
      while (p >= digitsAt && tail[p] === ASCII_9) tail[p--] = ASCII_0;
      if (p < digitsAt) { // all nines: one more digit ("1" then zeros) moves the padding
        this.#setDigits("1" + "0".repeat(digitsEnd - digitsAt));
        digitsEnd = this.#digitsEnd;
        twoBlocks = this.#blocks === 2;
        block1Valid = false;
        continue;
      }
      tail[p]++;
      for (let q = p & ~3; q < digitsEnd; q += 4) m[q >>> 2] = wordAt(tail, q);
      if (p < 64) block1Valid = false;
    }
    this.#digitsEnd = digitsEnd;
    this.#block1Valid = block1Valid;
    this.minHi = minHi;
    this.minLo = minLo;
    return minIndex;
  }

  /**
   * The smallest hash of the last {@linkcode NonceKernel.scan} as a uint64.
   *
   * @example One nonce
   * ```ts
   * import { NonceKernel } from "./sha256_kernel.ts";
   * import assert from "node:assert/strict";
   * const kernel = new NonceKernel("msg");
   * kernel.scan(1); // nonce 0
   * assert.equal(kernel.minHash(), 13781283048668101583n);
   * ```
   */
  minHash(): bigint {
    return (BigInt(this.minHi) << 32n) | BigInt(this.minLo);
  }

  /** Writes `digits` after the prefix, then the padding and the bit length; resyncs the words. */
  #setDigits(digits: string): void {
    if (digits.length > MAX_DIGITS) {
      throw new RangeError(`Cannot count past ${MAX_DIGITS} digits`);
    }
    const tail = this.#tail, at = this.#digitsAt;
    tail.fill(0, at);
    for (let i = 0; i < digits.length; i++) tail[at + i] = digits.charCodeAt(i);
    const end = at + digits.length;
    tail[end] = 0x80;
    this.#digitsEnd = end;
    this.#blocks = end + 9 <= 64 ? 1 : 2;
    const bits = (this.prefixLength + digits.length) * 8;
    const lengthAt = this.#blocks * 64 - 8;
    const bitsHi = Math.floor(bits / 0x1_0000_0000), bitsLo = bits >>> 0;
    for (let i = 0; i < 4; i++) {
      tail[lengthAt + i] = (bitsHi >>> (24 - 8 * i)) & 0xff;
      tail[lengthAt + 4 + i] = (bitsLo >>> (24 - 8 * i)) & 0xff;
    }
    for (let q = 0; q < this.#blocks * 64; q += 4) this.#m[q >>> 2] = wordAt(tail, q);
    this.#block1Valid = false;
  }
}
