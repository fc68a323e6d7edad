/**
 * SipHash-2-4 (Aumasson and Bernstein), the keyed hash of the BitClone address book (spec §C.7),
 * in pure TypeScript with 32-bit halves (no BigInt).
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * SipHash-2-4 of `message` under a 16-byte key, computed with 32-bit halves (no BigInt).
 *
 * @param key 16 bytes.
 * @param message Any bytes.
 * @returns The 64-bit result as `[high32, low32]` (unsigned).
 * @throws {RangeError} When the key is not 16 bytes.
 * @example The reference vector of the SipHash paper
 * ```ts
 * import { sipHash24 } from "./siphash.ts";
 * import assert from "node:assert/strict";
 * const key = Uint8Array.from({ length: 16 }, (_, i) => i);
 * const msg = Uint8Array.from({ length: 15 }, (_, i) => i);
 * assert.deepEqual(sipHash24(key, msg), [0xa129ca61, 0x49be45e5]);
 * ```
 */
export function sipHash24(key: Uint8Array, message: Uint8Array): [number, number] {
  if (!(key instanceof Uint8Array) || key.length !== 16) {
    throw new RangeError("Cannot hash: the SipHash key must be 16 bytes");
  }
  const k0l = le32(key, 0), k0h = le32(key, 4), k1l = le32(key, 8), k1h = le32(key, 12);
  // state: v0h v0l v1h v1l v2h v2l v3h v3l
  const s = new Uint32Array(8);
  s[0] = k0h ^ 0x736f6d65;
  s[1] = k0l ^ 0x70736575;
  s[2] = k1h ^ 0x646f7261;
  s[3] = k1l ^ 0x6e646f6d;
  s[4] = k0h ^ 0x6c796765;
  s[5] = k0l ^ 0x6e657261;
  s[6] = k1h ^ 0x74656462;
  s[7] = k1l ^ 0x79746573;
  const n = message.length;
  const whole = n - (n % 8);
  for (let i = 0; i < whole; i += 8) {
    const ml = le32(message, i), mh = le32(message, i + 4);
    s[6] ^= mh;
    s[7] ^= ml;
    sipRound(s);
    sipRound(s);
    s[0] ^= mh;
    s[1] ^= ml;
  }
  let bl = 0, bh = (n & 0xff) << 24;
  for (let i = whole; i < n; i++) {
    const shift = (i - whole) * 8;
    if (shift < 32) bl |= message[i] << shift;
    else bh |= message[i] << (shift - 32);
  }
  bl >>>= 0;
  bh >>>= 0;
  s[6] ^= bh;
  s[7] ^= bl;
  sipRound(s);
  sipRound(s);
  s[0] ^= bh;
  s[1] ^= bl;
  s[5] ^= 0xff;
  for (let r = 0; r < 4; r++) sipRound(s);
  return [(s[0] ^ s[2] ^ s[4] ^ s[6]) >>> 0, (s[1] ^ s[3] ^ s[5] ^ s[7]) >>> 0];
}

/**
 * UTF-8 bytes of `text`; plain ASCII (all hash inputs in practice) without a TextEncoder.
 *
 * @example
 * ```ts
 * import { utf8 } from "./siphash.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(utf8("a\u00e9"), new Uint8Array([0x61, 0xc3, 0xa9]));
 * ```
 */
export function utf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return encoder.encode(text);
    out[i] = c;
  }
  return out;
}

function le32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/** a += b on the 64-bit halves at indexes a, b of `s`. */
function add64(s: Uint32Array, a: number, b: number): void {
  const lo = (s[a + 1] + s[b + 1]) >>> 0;
  const carry = lo < s[a + 1] ? 1 : 0;
  s[a] = (s[a] + s[b] + carry) >>> 0;
  s[a + 1] = lo;
}

/** Rotates the 64-bit value at index a of `s` left by n (0 < n < 64, n ≠ 32). */
function rotl64(s: Uint32Array, a: number, n: number): void {
  let h = s[a], l = s[a + 1];
  if (n > 32) {
    [h, l] = [l, h];
    n -= 32;
  }
  s[a] = ((h << n) | (l >>> (32 - n))) >>> 0;
  s[a + 1] = ((l << n) | (h >>> (32 - n))) >>> 0;
}

function swap32(s: Uint32Array, a: number): void {
  const h = s[a];
  s[a] = s[a + 1];
  s[a + 1] = h;
}

function xor64(s: Uint32Array, a: number, b: number): void {
  s[a] ^= s[b];
  s[a + 1] ^= s[b + 1];
}

function sipRound(s: Uint32Array): void {
  const V0 = 0, V1 = 2, V2 = 4, V3 = 6;
  add64(s, V0, V1);
  rotl64(s, V1, 13);
  xor64(s, V1, V0);
  swap32(s, V0);
  add64(s, V2, V3);
  rotl64(s, V3, 16);
  xor64(s, V3, V2);
  add64(s, V0, V3);
  rotl64(s, V3, 21);
  xor64(s, V3, V0);
  add64(s, V2, V1);
  rotl64(s, V1, 17);
  xor64(s, V1, V2);
  swap32(s, V2);
}
