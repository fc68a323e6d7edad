/**
 * The source of the miner's WebAssembly SIMD kernel: a generator that writes the module as WAT
 * text (`sha256_simd.wat` beside this file is its output; `deno task build:wasm` assembles it into
 * `sha256_simd_module.ts`). Generating keeps the 64 unrolled rounds regular and the memory layout
 * in one place, shared with the TypeScript side (`sha256_simd.ts`).
 *
 * The module hashes {@linkcode LANES} nonces at once: {@linkcode VECTORS} `v128` values of four
 * `i32` lanes each, interleaved so that two independent dependency chains keep the core busy. Its
 * memory holds, per lane, the message tail (the bytes after the prefix's whole blocks: the rest of
 * the prefix, the nonce's digits, the padding, the bit length) as big-endian words interleaved by
 * lane: byte `p` of lane `j` lives at {@linkcode tailByteAddress}`(j, p)`, so that a plain
 * little-endian `v128.load` of word `w` yields that word of every lane of a vector, and the
 * digits can be incremented in place byte by byte. Exports:
 *
 * - `memory`: one page, laid out as in {@linkcode LAYOUT}.
 * - `compress(in, pre, msg, out, start)`: SHA-256 compression of the {@linkcode LANES} lanes:
 *   input state at `in` (8 words, interleaved like the message), 16 message words at `msg`,
 *   result (`in` + working variables) at `out`. The rounds start at round `start` (0 … 15) from
 *   the working variables at `pre` (`pre` = `in` when `start` is 0).
 * - `scan(count, digitsAt, digitsEnd, blocks, start) → index`: hashes `count` consecutive nonces,
 *   lane `j` starting at the digits already written for it, each lane stepping by
 *   {@linkcode LANES} in decimal; the last block starts at round `start` from `LAYOUT.pre`. It
 *   writes the smallest hash (two words, high first) at `LAYOUT.result` and returns its offset
 *   (the lowest offset on a tie). Lanes at offsets `≥ count` are hashed but never win.
 *
 * Pure: it builds a string.
 *
 * @module
 */

/**
 * `v128` vectors hashed side by side per step.
 *
 * @example Eight nonces per step
 * ```ts
 * import { LANES, VECTORS } from "./sha256_simd_wat.ts";
 * import assert from "node:assert/strict";
 * assert.equal(LANES, VECTORS * 4);
 * ```
 */
export const VECTORS = 1;

/** Nonces hashed per step of `scan`: four `i32` lanes per vector. */
export const LANES: number = VECTORS * 4;

/** Bytes of one interleaved word (that word of every lane). */
const ROW = 16 * VECTORS;

/**
 * Byte addresses in the module's memory. Every region of 8 or 32 words is interleaved by lane
 * (word `w` of lane `j` at `region + w * ROW + (j >> 2) * 16 + (j & 3) * 4`).
 *
 * @example The regions do not overlap
 * ```ts
 * import { LAYOUT } from "./sha256_simd_wat.ts";
 * import assert from "node:assert/strict";
 * assert.ok(LAYOUT.message < LAYOUT.midstate && LAYOUT.result < LAYOUT.k);
 * ```
 */
export const LAYOUT = {
  /** 32 message words (two blocks) per lane. */
  message: 0,
  /** 8 state words per lane: the state after the prefix's whole blocks. */
  midstate: 32 * ROW,
  /** 8 state words per lane: the state after the first of two tail blocks. */
  block1: 40 * ROW,
  /** 8 state words per lane: the last result of `scan`. */
  out: 48 * ROW,
  /** 8 state words per lane: the working variables after the first `start` rounds. */
  pre: 56 * ROW,
  /** Two i32: the smallest hash of the last `scan`, high word first. */
  result: 64 * ROW,
  /** The 64 round constants, i32 little-endian. */
  k: 64 * ROW + 16,
} as const;

/**
 * The address of byte `p` (0 … 127) of lane `lane`'s tail in {@linkcode LAYOUT}.message: words
 * are stored little-endian, so the bytes of each big-endian word are reversed.
 *
 * @param lane 0 … {@linkcode LANES} − 1.
 * @param p Byte offset in the two-block tail.
 * @returns The byte address.
 *
 * @example The first byte of lane 0 is the top byte of its first word
 * ```ts
 * import { tailByteAddress } from "./sha256_simd_wat.ts";
 * import assert from "node:assert/strict";
 * assert.equal(tailByteAddress(0, 0), 3);
 * assert.equal(tailByteAddress(1, 3), 4);
 * ```
 */
export function tailByteAddress(lane: number, p: number): number {
  return LAYOUT.message + (p >> 2) * ROW + (lane >> 2) * 16 + (lane & 3) * 4 + ((p & 3) ^ 3);
}

/**
 * The SHA-256 round constants (FIPS 180-4 §4.2.2).
 *
 * @example The first one
 * ```ts
 * import { K } from "./sha256_simd_wat.ts";
 * import assert from "node:assert/strict";
 * assert.equal(K[0], 0x428a2f98);
 * ```
 */
export const K: readonly number[] = [
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
];

const get = (name: string) => `(local.get $${name})`;
const add = (...xs: string[]) => xs.reduce((a, b) => `(i32x4.add ${a} ${b})`);
const xor = (...xs: string[]) => xs.reduce((a, b) => `(v128.xor ${a} ${b})`);
const and = (a: string, b: string) => `(v128.and ${a} ${b})`;
const shr = (x: string, n: number) => `(i32x4.shr_u ${x} (i32.const ${n}))`;
const shl = (x: string, n: number) => `(i32x4.shl ${x} (i32.const ${n}))`;
const rotr = (x: string, n: number) => `(v128.or ${shr(x, n)} ${shl(x, 32 - n)})`;

/**
 * The body of `compress`: loads, 64 rounds of every vector interleaved, adds, stores. The rounds
 * are entered at round `$start` (0 … 15) through a `br_table` into nested blocks, with the working
 * variables loaded from `$pre`: the state after the first `$start` rounds, which the caller
 * computed once because those rounds' words are the same for every nonce of the run.
 */
function compressBody(): string[] {
  const lines: string[] = [];
  const vs = [...Array(VECTORS).keys()];
  const names = ["a", "b", "c", "d", "e", "f", "g", "h"];
  for (const v of vs) {
    for (let t = 0; t < 16; t++) {
      lines.push(`(local.set $w${t}_${v} (v128.load offset=${t * ROW + v * 16} (local.get $msg)))`);
    }
    for (const [i, n] of names.entries()) {
      lines.push(`(local.set $${n}${v} (v128.load offset=${i * ROW + v * 16} (local.get $pre)))`);
    }
    // Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c)); each round's a ^ b is the next round's b ^ c.
    lines.push(`(local.set $bc${v} ${xor(get(`b${v}`), get(`c${v}`))})`);
  }
  for (let t = 15; t >= 0; t--) lines.push(`(block $r${t}`);
  const targets = [...Array(16).keys()].map((t) => `$r${t}`).join(" ");
  lines.push(`(br_table ${targets} (local.get $start)))`);
  for (let t = 0; t < 64; t++) {
    for (const v of vs) {
      const w = `w${t % 16}_${v}`;
      if (t >= 16) {
        const x = get(`w${(t - 15) % 16}_${v}`), y = get(`w${(t - 2) % 16}_${v}`);
        const s0 = xor(rotr(x, 7), rotr(x, 18), shr(x, 3));
        const s1 = xor(rotr(y, 17), rotr(y, 19), shr(y, 10));
        lines.push(`(local.set $${w} ${add(s1, get(`w${(t - 7) % 16}_${v}`), s0, get(w))})`);
      }
      const [a, b, c, d, e, f, g, h] = names.map((n) => get(`${n}${v}`));
      const k = `(v128.load32_splat offset=${LAYOUT.k + 4 * t} (i32.const 0))`;
      const sigma1 = xor(rotr(e, 6), rotr(e, 11), rotr(e, 25));
      const ch = xor(g, and(e, xor(f, g)));
      // The sums are ordered for the shortest dependency chains (the rounds are latency-bound):
      // what is known early (h + K + W, then Ch) first, Σ1 and Σ0 (the slowest) last; the new e
      // is d + (h + K + W + Ch) + Σ1 rather than d + T1, one add more but one step shorter.
      const sigma0 = xor(rotr(a, 2), rotr(a, 13), rotr(a, 22));
      const maj = xor(b, and(get(`ab${v}`), get(`bc${v}`)));
      lines.push(`(local.set $s${v} ${sigma1})`);
      lines.push(`(local.set $t${v} ${add(h, k, get(w), ch)})`);
      lines.push(`(local.set $ab${v} ${xor(a, b)})`);
      lines.push(`(local.set $u${v} ${add(get(`t${v}`), get(`s${v}`), maj)})`);
      lines.push(`(local.set $h${v} ${g}) (local.set $g${v} ${f}) (local.set $f${v} ${e})`);
      lines.push(`(local.set $e${v} ${add(d, get(`t${v}`), get(`s${v}`))})`);
      lines.push(`(local.set $d${v} ${c}) (local.set $c${v} ${b}) (local.set $b${v} ${a})`);
      lines.push(`(local.set $a${v} ${add(get(`u${v}`), sigma0)})`);
      lines.push(`(local.set $bc${v} ${get(`ab${v}`)})`);
    }
    if (t < 15) lines.push(`) ;; $r${t + 1}`);
  }
  for (const v of vs) {
    for (const [i, n] of names.entries()) {
      const at = `offset=${i * ROW + v * 16}`;
      lines.push(
        `(v128.store ${at} (local.get $out) ${
          add(`(v128.load ${at} (local.get $in))`, get(`${n}${v}`))
        })`,
      );
    }
  }
  return lines;
}

/** `K` as a WAT data string: each constant's four bytes, little-endian, as `\hh` escapes. */
function kData(): string {
  let text = "";
  for (const k of K) {
    for (let i = 0; i < 4; i++) {
      text += "\\" + ((k >>> (8 * i)) & 0xff).toString(16).padStart(2, "0");
    }
  }
  return text;
}

/** The `scan` function: the batch loop, the minimum, the per-lane decimal counters. */
function scanFunction(): string {
  const logRow = Math.log2(ROW);
  // Address of byte $p of the lane whose base offset is $lo.
  const address =
    `(i32.add (local.get $lo) (i32.add (i32.shl (i32.shr_u (local.get $p) (i32.const 2)) ` +
    `(i32.const ${logRow})) (i32.xor (i32.and (local.get $p) (i32.const 3)) (i32.const 3))))`;
  const anyLow = [...Array(VECTORS).keys()]
    .map((v) =>
      `(i32x4.le_u (v128.load offset=${LAYOUT.out + v * 16} (i32.const 0)) (local.get $limit))`
    )
    .reduce((a, b) => `(v128.or ${a} ${b})`);
  return `
  (func $scan (export "scan")
    (param $count i32) (param $digitsAt i32) (param $digitsEnd i32) (param $blocks i32)
    (param $start i32) (result i32)
    (local $base i32) (local $lane i32) (local $lo i32) (local $p i32) (local $at i32)
    (local $d i32) (local $dirty i32) (local $hi i32) (local $low i32)
    (local $minHi i32) (local $minLo i32) (local $minIndex i32) (local $limit v128)
    (local.set $minIndex (i32.const -1))
    (local.set $minHi (i32.const -1))
    (local.set $dirty (i32.const 1))
    (loop $batch
      ;; Hash the ${LANES} lanes: one tail block, or two with the first one's state cached.
      (if (i32.eq (local.get $blocks) (i32.const 2))
        (then
          (if (local.get $dirty)
            (then
              (call $compress (i32.const ${LAYOUT.midstate}) (i32.const ${LAYOUT.midstate})
                (i32.const ${LAYOUT.message}) (i32.const ${LAYOUT.block1}) (i32.const 0))
              (local.set $dirty (i32.const 0))))
          (call $compress (i32.const ${LAYOUT.block1})
            (select (i32.const ${LAYOUT.pre}) (i32.const ${LAYOUT.block1}) (local.get $start))
            (i32.const ${LAYOUT.message + 16 * ROW}) (i32.const ${LAYOUT.out}) (local.get $start)))
        (else
          (call $compress (i32.const ${LAYOUT.midstate})
            (select (i32.const ${LAYOUT.pre}) (i32.const ${LAYOUT.midstate}) (local.get $start))
            (i32.const ${LAYOUT.message}) (i32.const ${LAYOUT.out}) (local.get $start))))
      ;; A lane can only win if its high word is at most the minimum's: look closer then.
      (local.set $limit (i32x4.splat (local.get $minHi)))
      (if (v128.any_true ${anyLow})
        (then
          (local.set $lane (i32.const 0))
          (loop $lanes
            (if (i32.lt_u (i32.add (local.get $base) (local.get $lane)) (local.get $count))
              (then
                (local.set $lo (i32.add (i32.shl (i32.shr_u (local.get $lane) (i32.const 2))
                  (i32.const 4)) (i32.shl (i32.and (local.get $lane) (i32.const 3)) (i32.const 2))))
                (local.set $hi (i32.load offset=${LAYOUT.out} (local.get $lo)))
                (local.set $low (i32.load offset=${LAYOUT.out + ROW} (local.get $lo)))
                (if (i32.or (i32.lt_s (local.get $minIndex) (i32.const 0))
                      (i32.or (i32.lt_u (local.get $hi) (local.get $minHi))
                        (i32.and (i32.eq (local.get $hi) (local.get $minHi))
                          (i32.lt_u (local.get $low) (local.get $minLo)))))
                  (then
                    (local.set $minHi (local.get $hi))
                    (local.set $minLo (local.get $low))
                    (local.set $minIndex (i32.add (local.get $base) (local.get $lane)))))))
            (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
            (br_if $lanes (i32.lt_u (local.get $lane) (i32.const ${LANES}))))))
      ;; Step every lane's decimal digits by ${LANES}, in place.
      (local.set $lane (i32.const 0))
      (loop $lanes
        (local.set $lo (i32.add (i32.shl (i32.shr_u (local.get $lane) (i32.const 2))
          (i32.const 4)) (i32.shl (i32.and (local.get $lane) (i32.const 3)) (i32.const 2))))
        (local.set $p (i32.sub (local.get $digitsEnd) (i32.const 1)))
        (local.set $at ${address})
        (local.set $d (i32.add (i32.load8_u (local.get $at)) (i32.const ${LANES})))
        (if (i32.gt_u (local.get $d) (i32.const 0x39))
          (then
            (i32.store8 (local.get $at) (i32.sub (local.get $d) (i32.const 10)))
            (block $done
              (loop $carry
                (local.set $p (i32.sub (local.get $p) (i32.const 1)))
                ;; Past the first digit: the lane wrapped (only lanes at offsets >= count do).
                (br_if $done (i32.lt_s (local.get $p) (local.get $digitsAt)))
                (local.set $at ${address})
                (local.set $d (i32.load8_u (local.get $at)))
                (if (i32.eq (local.get $d) (i32.const 0x39))
                  (then
                    (i32.store8 (local.get $at) (i32.const 0x30))
                    (br $carry)))
                (i32.store8 (local.get $at) (i32.add (local.get $d) (i32.const 1))))))
          (else (i32.store8 (local.get $at) (local.get $d))))
        ;; A digit of the first of two blocks changed: its state must be recomputed.
        (if (i32.lt_s (local.get $p) (i32.const 64)) (then (local.set $dirty (i32.const 1))))
        (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
        (br_if $lanes (i32.lt_u (local.get $lane) (i32.const ${LANES}))))
      (local.set $base (i32.add (local.get $base) (i32.const ${LANES})))
      (br_if $batch (i32.lt_u (local.get $base) (local.get $count))))
    (i32.store offset=${LAYOUT.result} (i32.const 0) (local.get $minHi))
    (i32.store offset=${LAYOUT.result + 4} (i32.const 0) (local.get $minLo))
    (local.get $minIndex))`;
}

/**
 * The module's WAT text. Deterministic: the same text on every call, so that the shipped module
 * can be checked against it.
 *
 * @returns The text of `sha256_simd.wat`.
 *
 * @example A module with the two functions
 * ```ts
 * import { sha256SimdWat } from "./sha256_simd_wat.ts";
 * import assert from "node:assert/strict";
 * const wat = sha256SimdWat();
 * assert.match(wat, /\(func \$compress/);
 * assert.match(wat, /\(func \$scan \(export "scan"\)/);
 * ```
 */
export function sha256SimdWat(): string {
  const locals: string[] = [];
  for (let v = 0; v < VECTORS; v++) {
    for (const n of ["a", "b", "c", "d", "e", "f", "g", "h", "s", "t", "u", "ab", "bc"]) {
      locals.push(`$${n}${v}`);
    }
    for (let i = 0; i < 16; i++) locals.push(`$w${i}_${v}`);
  }
  const body = compressBody().map((line) => `    ${line}`).join("\n");
  return `;; Generated by src/miner/wasm/sha256_simd_wat.ts (deno task build:wasm): do not edit.
;; SHA-256 of ${LANES} miner nonces at once (${VECTORS} x i32x4), for src/miner/sha256_simd.ts.
(module
  (memory (export "memory") 1)
  (data (i32.const ${LAYOUT.k}) "${kData()}")
  (func $compress (export "compress")
    (param $in i32) (param $pre i32) (param $msg i32) (param $out i32) (param $start i32)
    ${locals.map((l) => `(local ${l} v128)`).join(" ")}
${body})
${scanFunction()})
`;
}
