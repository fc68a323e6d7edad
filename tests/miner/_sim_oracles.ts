/**
 * Hash functions and oracles for the miner simulation tests: the real hash (spec §3.1, with
 * node:crypto, tabulated over small ranges) and a fake hash for huge ranges whose range minimum
 * has a closed form (checked against brute force in `sim_scheduler_test.ts`).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MAX_UINT64 } from "../../src/miner/message.ts";

export type Best = readonly [hash: bigint, nonce: bigint];

export function better(a: Best | undefined, b: Best): Best {
  return a === undefined || b[0] < a[0] || (b[0] === a[0] && b[1] < a[1]) ? b : a;
}

/** Spec §3.1 with node:crypto. */
export function realHash(data: string, nonce: bigint): bigint {
  const d = createHash("sha256").update(`${data} ${nonce}`).digest();
  return (BigInt(d.readUInt32BE(0)) << 32n) | BigInt(d.readUInt32BE(4));
}

/** Real hashes of nonces 0..REAL_MAX for a few fixed messages, computed once (slow: ~10 µs each). */
export const REAL_MAX = 19_999;
export const REAL_DATA = [
  "bradfitz",
  "msg",
  "6969395957072160278",
  "héllo wörld ✓ 日本 🚀",
];
const realTables = new Map<string, BigUint64Array>();

export function realTable(data: string): BigUint64Array {
  let table = realTables.get(data);
  if (table === undefined) {
    table = new BigUint64Array(REAL_MAX + 1);
    for (let n = 0; n <= REAL_MAX; n++) table[n] = realHash(data, BigInt(n));
    realTables.set(data, table);
  }
  return table;
}

/** Brute force over the real hash table. */
export function realRangeMin(data: string, lo: bigint, hi: bigint): Best {
  assert.ok(
    hi <= BigInt(REAL_MAX),
    `real-hash range ${lo}..${hi} is beyond the table`,
  );
  const table = realTable(data);
  let best: Best | undefined;
  for (let n = Number(lo); n <= Number(hi); n++) {
    best = better(best, [table[n], BigInt(n)]);
  }
  return best!;
}

function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/**
 * A fake hash for huge ranges whose range minimum has a closed form. Nonces fall in blocks of
 * `block` (a power of two); each block has one "planted" nonce at a pseudo-random offset with a
 * pseudo-random hash below 2^63; every other nonce hashes to 2^64 − 1 − offset minus a constant
 * of the seed (below 2^62; `block` at most 2^32), so within a block the unplanted minimum is the
 * highest offset, and Data of different seeds do not share hashes: as with SHA-256, a Result
 * verifies only against its own Data (the server tells chunks of different Data apart so).
 */
export function fakeHash(seed: number, nonce: bigint, block: bigint): bigint {
  const k = nonce / block, off = nonce % block;
  const [plantedOff, plantedHash] = planted(seed, k, block);
  return off === plantedOff ? plantedHash : unplanted(seed, off);
}

function unplanted(seed: number, off: bigint): bigint {
  return MAX_UINT64 - (BigInt(seed & 0x3fffffff) << 32n) - off;
}

function planted(seed: number, k: bigint, block: bigint): [bigint, bigint] {
  const a = mix32(
    seed ^ mix32(Number(k & 0xffffffffn) ^ mix32(Number(k >> 32n))),
  );
  const off = BigInt(a) % block;
  const hash = (BigInt(mix32(a ^ 0x2545f491) >>> 1) << 32n) |
    BigInt(mix32(a ^ 0x6c078965));
  return [off, hash];
}

/** The closed-form minimum of `fakeHash` over lo..hi (at most 10^5 blocks). */
export function fakeRangeMin(
  seed: number,
  lo: bigint,
  hi: bigint,
  block: bigint,
): Best {
  const kLo = lo / block, kHi = hi / block;
  assert.ok(kHi - kLo < 100_000n, "fakeRangeMin() over too many blocks");
  let best: Best | undefined;
  for (let k = kLo; k <= kHi; k++) {
    const s = k * block > lo ? k * block : lo;
    const e = k * block + block - 1n < hi ? k * block + block - 1n : hi;
    const [off, hash] = planted(seed, k, block);
    const p = k * block + off;
    if (s <= p && p <= e) best = better(best, [hash, p]);
    const top = e === p ? e - 1n : e;
    if (top >= s) best = better(best, [unplanted(seed, top % block), top]);
  }
  return best!;
}

export const BLOCK = 1n << 20n;

/** What simulated miners compute and what results are checked against: by the data's prefix. */
export function rangeMin(data: string, lo: bigint, hi: bigint): Best {
  return data.startsWith("fake:")
    ? fakeRangeMin(fnv(data), lo, hi, BLOCK)
    : realRangeMin(data, lo, hi);
}

/** The hash the simulated miners use, for the server to match and verify their Results. */
export function simHash(data: string, nonce: bigint): bigint {
  if (data.startsWith("fake:")) return fakeHash(fnv(data), nonce, BLOCK);
  return nonce <= BigInt(REAL_MAX) ? realTable(data)[Number(nonce)] : realHash(data, nonce);
}
