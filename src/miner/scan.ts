/**
 * The miner's search (spec §4): the nonce in an inclusive range with the smallest hash, the lowest
 * such nonce on a tie. Synchronous and pure; it runs the kernel in chunks so that it can report
 * progress and notice cancellation without slowing the hot loop. Off the event loop it runs in
 * the workers of `worker_pool.ts`.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { MAX_NONCE } from "./sha256_kernel.ts";
import { createNonceKernel, type KernelKind, type MinerKernel } from "./sha256_simd.ts";

/**
 * The answer to a search: the smallest hash and the nonce that gives it.
 */
export interface ScanResult {
  /** The smallest hash found, a uint64. */
  readonly hash: bigint;
  /** The (lowest) nonce that gives it. */
  readonly nonce: bigint;
}

/**
 * How far a search has come, passed to {@linkcode ScanOptions.onProgress}.
 */
export interface ScanProgress {
  /** Nonces hashed so far, from the lower bound up. */
  readonly scanned: bigint;
  /** Nonces in the whole range: `upper - lower + 1`. */
  readonly total: bigint;
  /** The best result over the nonces scanned so far. */
  readonly best: ScanResult;
}

/**
 * Anything with an `aborted` flag: an `AbortSignal`, or a plain object a worker flips.
 */
export interface CancelSignal {
  /** True once the search should stop. */
  readonly aborted: boolean;
  /** Thrown by the search when it stops; an `AbortError` when undefined. */
  readonly reason?: unknown;
}

/**
 * Options of {@linkcode scanRange}.
 *
 * @example Progress every 1000 nonces
 * ```ts
 * import { scanRange, type ScanOptions } from "./scan.ts";
 * import assert from "node:assert/strict";
 * let calls = 0;
 * const options: ScanOptions = { checkEvery: 1000, onProgress: () => calls++ };
 * scanRange("msg", 0n, 2999n, options);
 * assert.equal(calls, 3);
 * ```
 */
export interface ScanOptions {
  /**
   * Nonces hashed between two progress reports and cancellation checks: an integer in
   * 1 … 2^32.
   *
   * @default {65536}
   */
  checkEvery?: number;
  /**
   * Called after every `checkEvery` nonces and once after the last one, synchronously.
   *
   * @default {undefined}
   */
  onProgress?: (progress: ScanProgress) => void;
  /**
   * Checked before the first nonce and after every `checkEvery` nonces; once `aborted`, the search
   * throws `signal.reason` (or an `AbortError` `DOMException` without one).
   *
   * @default {undefined}
   */
  signal?: CancelSignal;
  /**
   * The kernel: WebAssembly SIMD where the runtime has it (`"auto"`), or forced (`"simd"`,
   * `"js"`, the JavaScript fallback). Both give the same answers.
   *
   * @default {"auto"}
   */
  kernel?: KernelKind;
}

/**
 * Picks the better of two results: the smaller hash, the smaller nonce on equal hashes (the rule
 * every merge uses: miner scan, worker pool, server). An absent result loses.
 *
 * @param a A result, or undefined.
 * @param b Another result.
 * @returns The better of the two.
 *
 * @example Equal hashes: the smaller nonce wins
 * ```ts
 * import { betterResult } from "./scan.ts";
 * import assert from "node:assert/strict";
 * const best = betterResult({ hash: 5n, nonce: 9n }, { hash: 5n, nonce: 4n });
 * assert.equal(best.nonce, 4n);
 * assert.equal(betterResult(undefined, best), best);
 * ```
 */
export function betterResult(a: ScanResult | undefined, b: ScanResult): ScanResult {
  if (a === undefined) return b;
  if (b.hash < a.hash || (b.hash === a.hash && b.nonce < a.nonce)) return b;
  return a;
}

/** Throws unless `value` is a uint64 bigint. */
function checkBound(value: bigint, name: string): void {
  if (typeof value !== "bigint") throw new TypeError(`Cannot scan: ${name} is not a bigint`);
  if (value < 0n || value > MAX_NONCE) {
    throw new RangeError(`Cannot scan: ${name} ${value} is outside 0..${MAX_NONCE}`);
  }
}

/**
 * Checks the arguments of a range search the way {@linkcode scanRange} does, without searching
 * (for adapters that hand the range to workers).
 *
 * @param data The message.
 * @param lower First nonce, included.
 * @param upper Last nonce, included.
 * @throws {TypeError} When `data` is not a string or a bound is not a bigint.
 * @throws {RangeError} When a bound is outside the uint64 range or `lower > upper`.
 *
 * @example A reversed range
 * ```ts
 * import { checkScanArgs } from "./scan.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => checkScanArgs("msg", 3n, 2n), RangeError);
 * ```
 */
export function checkScanArgs(data: string, lower: bigint, upper: bigint): void {
  if (typeof data !== "string") throw new TypeError("Cannot scan: data is not a string");
  checkBound(lower, "lower");
  checkBound(upper, "upper");
  if (lower > upper) throw new RangeError(`Cannot scan: lower ${lower} is above upper ${upper}`);
}

/** Throws the reason of an aborted signal. */
function throwIfAborted(signal: CancelSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason ?? new DOMException("The scan was aborted", "AbortError");
  }
}

/**
 * Finds the nonce in `lower … upper` (both included) with the smallest miner hash; on equal
 * hashes the lowest nonce wins. Synchronous: it blocks for the whole range (about 10 million
 * nonces a second per core on the SIMD kernel), so an adapter runs it in a worker or in slices.
 *
 * A request with `lower > upper` is not a range: the miner answers it with the single nonce
 * `lower` (spec §4) by calling `scanRange(data, lower, lower)`.
 *
 * @param data The message (hashed as UTF-8).
 * @param lower First nonce, included; a uint64.
 * @param upper Last nonce, included; a uint64 (2^64 − 1 is fine: the loop cannot overflow).
 * @param options Progress and cancellation.
 * @returns The smallest hash and its lowest nonce.
 * @throws {TypeError} When `data` is not a string or a bound is not a bigint.
 * @throws {RangeError} When a bound is outside the uint64 range, `lower > upper`, or
 *   `checkEvery` is not an integer in 1 … 2^32.
 * @throws {unknown} `options.signal.reason` (or an `AbortError`) once the signal is aborted.
 *
 * @example The handout's request
 * ```ts
 * import { scanRange } from "./scan.ts";
 * import assert from "node:assert/strict";
 * const { hash, nonce } = scanRange("msg", 0n, 2n);
 * assert.equal(hash, 4754799531757243342n);
 * assert.equal(nonce, 1n);
 * ```
 *
 * @example Cancellation
 * ```ts
 * import { scanRange } from "./scan.ts";
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * assert.throws(
 *   () =>
 *     scanRange("msg", 0n, 10_000_000n, {
 *       checkEvery: 100,
 *       onProgress: ({ scanned }) => scanned >= 500n && controller.abort(),
 *       signal: controller.signal,
 *     }),
 *   { name: "AbortError" },
 * );
 * ```
 */
export function scanRange(
  data: string,
  lower: bigint,
  upper: bigint,
  options: ScanOptions = {},
): ScanResult {
  checkScanArgs(data, lower, upper);
  checkCheckEvery(options.checkEvery);
  throwIfAborted(options.signal);
  return scanWith(createNonceKernel(data, options.kernel), lower, upper, options);
}

/** Throws unless `checkEvery` is undefined or an integer in 1 … 2^32. */
function checkCheckEvery(checkEvery: number | undefined): void {
  if (checkEvery === undefined) return;
  if (!Number.isInteger(checkEvery) || checkEvery < 1 || checkEvery > 0x1_0000_0000) {
    throw new RangeError(`Cannot scan: checkEvery ${checkEvery} is not an integer in 1..2^32`);
  }
}

/**
 * {@linkcode scanRange} on a kernel the caller keeps (a worker reuses one over the slices of its
 * jobs instead of building one per call); `options.kernel` is ignored.
 *
 * @param kernel A kernel for the message (any position: it is moved to `lower`).
 * @param lower First nonce, included; a uint64.
 * @param upper Last nonce, included; a uint64, not below `lower`.
 * @param options Progress and cancellation.
 * @returns The smallest hash and its lowest nonce.
 * @throws {TypeError} When a bound is not a bigint.
 * @throws {RangeError} When a bound is outside the uint64 range, `lower > upper`, or
 *   `checkEvery` is not an integer in 1 … 2^32.
 * @throws {unknown} `options.signal.reason` (or an `AbortError`) once the signal is aborted.
 *
 * @example Two ranges on one kernel
 * ```ts
 * import { scanWith } from "./scan.ts";
 * import { createNonceKernel } from "./sha256_simd.ts";
 * import assert from "node:assert/strict";
 * const kernel = createNonceKernel("bradfitz");
 * assert.equal(scanWith(kernel, 0n, 9999n).nonce, 9898n);
 * assert.equal(scanWith(kernel, 10000n, 99999n).nonce, 98985n);
 * ```
 */
export function scanWith(
  kernel: MinerKernel,
  lower: bigint,
  upper: bigint,
  options: ScanOptions = {},
): ScanResult {
  const { checkEvery = 65536, onProgress, signal } = options;
  checkScanArgs(kernel.data, lower, upper);
  checkCheckEvery(checkEvery);
  throwIfAborted(signal);
  kernel.seek(lower);
  const total = upper - lower + 1n;
  const step = BigInt(checkEvery);
  let scanned = 0n;
  let best: ScanResult | undefined;
  let bestHi = 0, bestLo = 0;
  // One chunk per pass; at most ceil(2^64 / checkEvery) passes: bounded by the range itself.
  while (scanned < total) {
    const left = total - scanned;
    const count = left < step ? Number(left) : checkEvery;
    const index = kernel.scan(count);
    const hi = kernel.minHi, lo = kernel.minLo;
    // Chunks ascend, so a tie keeps the earlier nonce: strictly smaller only.
    if (best === undefined || hi < bestHi || (hi === bestHi && lo < bestLo)) {
      bestHi = hi;
      bestLo = lo;
      best = { hash: kernel.minHash(), nonce: lower + scanned + BigInt(index) };
    }
    scanned += BigInt(count);
    onProgress?.({ scanned, total, best });
    if (scanned < total) throwIfAborted(signal);
  }
  assert(best !== undefined, "a non-empty range has a best nonce");
  return best;
}
