/**
 * A small, fast, seeded pseudo-random number generator (sfc32), the only source of randomness a
 * protocol core may use. Live adapters seed it from the OS ({@linkcode prngFromEntropy}); the
 * simulator seeds it from a number so that every run can be replayed.
 *
 * @module
 */

/** Mixes a 32-bit value (splitmix32's finaliser), used to spread a seed over the state. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A seeded PRNG with the helpers protocol cores and tests need.
 *
 * @example Same seed, same numbers
 * ```ts
 * import { Prng } from "./prng.ts";
 * import assert from "node:assert/strict";
 * const a = Prng.seeded(42), b = Prng.seeded(42);
 * assert.equal(a.u32(), b.u32());
 * ```
 */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  private constructor(a: number, b: number, c: number, d: number) {
    this.#a = a | 0;
    this.#b = b | 0;
    this.#c = c | 0;
    this.#d = d | 0;
    if ((this.#a | this.#b | this.#c) === 0) this.#a = 1; // never the all-zero state
    for (let i = 0; i < 12; i++) this.u32(); // warm up
  }

  /**
   * Builds a generator from a seed (any integer; only its low 53 bits matter).
   *
   * @example Seeding
   * ```ts
   * import { Prng } from "./prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(Prng.seeded(7).float(), Prng.seeded(7).float());
   * assert.notEqual(Prng.seeded(7).u32(), Prng.seeded(8).u32());
   * ```
   */
  static seeded(seed: number | bigint): Prng {
    const s = BigInt.asUintN(64, BigInt(seed));
    const lo = Number(s & 0xffffffffn), hi = Number(s >> 32n);
    return new Prng(mix32(lo), mix32(hi ^ 0x6a09e667), mix32(lo ^ 0xbb67ae85), mix32(hi + 1));
  }

  /**
   * Builds a generator from four 32-bit words (used by {@linkcode prngFromEntropy}).
   *
   * @example From words
   * ```ts
   * import { Prng } from "./prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(Prng.fromWords([1, 2, 3, 4]).u32(), Prng.fromWords([1, 2, 3, 4]).u32());
   * ```
   */
  static fromWords(words: ArrayLike<number>): Prng {
    return new Prng(words[0] ?? 0, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0);
  }

  /** Returns an unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Returns a float in [0, 1) with 53 bits of randomness, like `Math.random()`. */
  float(): number {
    const hi = this.u32() >>> 5, lo = this.u32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * Returns an integer in [min, max], both inclusive, without modulo bias.
   *
   * @example A die
   * ```ts
   * import { Prng } from "./prng.ts";
   * import assert from "node:assert/strict";
   * const n = Prng.seeded(1).int(1, 6);
   * assert.ok(n >= 1);
   * assert.ok(n <= 6);
   * ```
   */
  int(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min) {
      throw new RangeError(`Cannot draw an integer: bad range [${min}, ${max}]`);
    }
    const span = max - min + 1;
    if (span <= 0x100000000) {
      const limit = 0x100000000 - (0x100000000 % span);
      for (;;) {
        const x = this.u32();
        if (x < limit) return min + (x % span);
      }
    }
    return min + Math.floor(this.float() * span);
  }

  /** Returns true with probability `p` (0 never, 1 always). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.float() < p;
  }

  /** Returns one element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick: the array is empty");
    return items[this.int(0, items.length - 1)];
  }

  /** Shuffles an array in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** Returns `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let x = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++, x >>>= 8) out[i + k] = x & 0xff;
    }
    return out;
  }

  /**
   * Returns an independent child generator; the parent moves on. Give each consumer (network,
   * each node) its own fork so that adding a draw in one does not shift the others.
   *
   * @example Forking
   * ```ts
   * import { Prng } from "./prng.ts";
   * import assert from "node:assert/strict";
   * const root = Prng.seeded(3);
   * const net = root.fork(), node = root.fork();
   * assert.notEqual(net.u32(), node.u32());
   * ```
   */
  fork(): Prng {
    return new Prng(
      mix32(this.u32()),
      mix32(this.u32() ^ 0x3c6ef372),
      mix32(this.u32()),
      mix32(this.u32()),
    );
  }
}
