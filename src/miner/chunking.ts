/**
 * Chunk sizing for the miner server: each miner's speed is measured from the completion times of
 * its chunks, and the next chunk is sized to take about `targetChunkMillis` of its work, within
 * `minChunkNonces..maxChunkNonces`. A miner whose speed is not known yet gets
 * `initialChunkNonces`.
 *
 * Why 4 s by default: the server keeps a miner's next chunk queued behind its current one, so the
 * miner only idles when the next chunk takes longer to come than the current one takes to
 * search. Over LSP with the reference's window of one message, a lost datagram (a Result, a
 * Request or either one's Ack) holds the connection until the sender's next epoch, up to
 * EpochMillis (2 s by default) later, and the next Request only leaves once the Result is in: a
 * lost Result and then a lost Request cost two epochs. With 1 s chunks, 5% loss left miners idle
 * 10–12% of the time in the simulation, with 2 s 3–5%; on real sockets (two one-worker miners,
 * 10^9 nonces, 5% loss each way) 2 s chunks left them busy 82–83%, 4 s chunks 87–100%.
 *
 * A chunk's duration is measured at the server and includes the round trip: a fast miner's first
 * chunks are small and grow over its first few Results as the round trip's share shrinks.
 *
 * @module
 */

/**
 * Options of chunk sizing (part of the scheduler's options).
 */
export interface ChunkingOptions {
  /**
   * How long one chunk should keep a miner busy, in milliseconds: about two LSP epochs, so that
   * the queued chunk outlasts the stall of a lost Result followed by a lost Request.
   *
   * @default 4000
   */
  targetChunkMillis?: number;
  /**
   * The smallest chunk handed out (unless a request has less left), in nonces.
   *
   * @default 10000
   */
  minChunkNonces?: number;
  /**
   * The largest chunk handed out, in nonces.
   *
   * @default 1000000000
   */
  maxChunkNonces?: number;
  /**
   * The chunk size for a miner whose speed is not known yet, in nonces.
   *
   * @default the value of `minChunkNonces`
   */
  initialChunkNonces?: number;
}

/**
 * Chunking options with every default filled in and checked.
 *
 * @example Defaults
 * ```ts
 * import { resolveChunking, type ResolvedChunking } from "./chunking.ts";
 * import assert from "node:assert/strict";
 * const c: ResolvedChunking = resolveChunking();
 * assert.equal(c.minChunkNonces, 10_000);
 * assert.equal(c.initialChunkNonces, 10_000);
 * ```
 */
export type ResolvedChunking = Readonly<Required<ChunkingOptions>>;

function checkCount(name: string, value: number, min: number, max: number): number {
  if (typeof value !== "number") throw new TypeError(`Cannot use ${name}: not a number`);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot use ${name} ${value}: not an integer in ${min}..${max}`);
  }
  return value;
}

/**
 * Fills in the defaults of {@linkcode ChunkingOptions} and checks the values.
 *
 * @param options The options.
 * @returns The resolved options.
 * @throws {TypeError} When a value is not a number.
 * @throws {RangeError} When a value is not a positive integer, exceeds 2^53 − 1 nonces or a day
 * of work, or when `minChunkNonces > maxChunkNonces` or `initialChunkNonces` lies outside them.
 *
 * @example A bad combination
 * ```ts
 * import { resolveChunking } from "./chunking.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => resolveChunking({ minChunkNonces: 10, maxChunkNonces: 5 }), RangeError);
 * ```
 */
export function resolveChunking(options: ChunkingOptions = {}): ResolvedChunking {
  const {
    targetChunkMillis = 4000,
    minChunkNonces = 10_000,
    maxChunkNonces = 1_000_000_000,
  } = options;
  checkCount("targetChunkMillis", targetChunkMillis, 1, 86_400_000);
  checkCount("minChunkNonces", minChunkNonces, 1, Number.MAX_SAFE_INTEGER);
  checkCount("maxChunkNonces", maxChunkNonces, minChunkNonces, Number.MAX_SAFE_INTEGER);
  const { initialChunkNonces = minChunkNonces } = options;
  checkCount("initialChunkNonces", initialChunkNonces, minChunkNonces, maxChunkNonces);
  return { targetChunkMillis, minChunkNonces, maxChunkNonces, initialChunkNonces };
}

/**
 * A miner's speed, estimated from its completed chunks: the highest rate (nonces per millisecond)
 * among its last five chunks.
 *
 * The caller measures each chunk so that the rate errs low: from when the miner could start it
 * to when its Result arrived, round trip included. Latency and a lossy transport only ever make a
 * chunk look slower (a Result held back by a retransmission), so the highest recent rate is the
 * best estimate. An average would let every stall shrink the next chunks, which then take even
 * longer relative to the round trip: a spiral towards tiny chunks and idle miners. A miner that
 * really slows down is followed within five chunks.
 *
 * @example One stalled sample does not matter
 * ```ts
 * import { SpeedEstimate } from "./chunking.ts";
 * import assert from "node:assert/strict";
 * const speed = new SpeedEstimate();
 * assert.equal(speed.noncesPerMilli, undefined);
 * speed.record(10_000, 10);
 * speed.record(10_000, 2000); // a Result held up by a lost datagram
 * assert.equal(speed.noncesPerMilli, 1000);
 * ```
 */
export class SpeedEstimate {
  static readonly #KEEP = 5;
  readonly #rates: number[] = [];
  #samples = 0;

  /**
   * Records one completed chunk.
   *
   * @param nonces The chunk's size (positive).
   * @param millis How long it took; taken as at least 1 ms.
   * @throws {RangeError} When `nonces` is not positive or `millis` is negative or not finite.
   *
   * @example A sample
   * ```ts
   * import { SpeedEstimate } from "./chunking.ts";
   * import assert from "node:assert/strict";
   * const speed = new SpeedEstimate();
   * speed.record(1000, 0);
   * assert.equal(speed.noncesPerMilli, 1000);
   * assert.equal(speed.samples, 1);
   * ```
   */
  record(nonces: number, millis: number): void {
    if (!(nonces > 0) || !Number.isFinite(nonces)) {
      throw new RangeError(`Cannot record a speed sample: ${nonces} nonces`);
    }
    if (!(millis >= 0) || !Number.isFinite(millis)) {
      throw new RangeError(`Cannot record a speed sample: ${millis} ms`);
    }
    this.#rates.push(nonces / Math.max(1, millis));
    if (this.#rates.length > SpeedEstimate.#KEEP) this.#rates.shift();
    this.#samples++;
  }

  /** Nonces per millisecond, or `undefined` before the first sample. */
  get noncesPerMilli(): number | undefined {
    return this.#rates.length === 0 ? undefined : Math.max(...this.#rates);
  }

  /** How many samples were recorded. */
  get samples(): number {
    return this.#samples;
  }

  /**
   * The expected time to search `nonces`, or `undefined` before the first sample.
   *
   * @param nonces A chunk size.
   * @returns Milliseconds.
   *
   * @example A duration
   * ```ts
   * import { SpeedEstimate } from "./chunking.ts";
   * import assert from "node:assert/strict";
   * const speed = new SpeedEstimate();
   * speed.record(1000, 10);
   * assert.equal(speed.millisFor(500), 5);
   * ```
   */
  millisFor(nonces: number): number | undefined {
    const speed = this.noncesPerMilli;
    return speed === undefined ? undefined : nonces / speed;
  }
}

/**
 * What the scheduler knows about the work left when it sizes a chunk.
 */
export interface ChunkContext {
  /** Nonces of the request not handed out yet. */
  readonly leftNonces: number;
  /** The summed speed of all miners (unknown ones counted at the average known speed). */
  readonly fleetNoncesPerMilli: number;
}

/**
 * The chunk size for a miner: `targetChunkMillis` of its measured speed — or, near the end of a
 * request, half the time the whole fleet needs for what is left, but never under an eighth of
 * the target (shorter chunks would be dominated by the round trip) — within
 * `minChunkNonces..maxChunkNonces`; `initialChunkNonces` while its speed is unknown.
 *
 * Shrinking chunks towards a request's end spreads its tail over all miners instead of leaving
 * one miner with a big last chunk while the others idle.
 *
 * @param speed The miner's estimate.
 * @param chunking The resolved options.
 * @param context The work left, for the tail rule; without it, the plain target.
 * @returns A chunk size in nonces (a positive safe integer).
 *
 * @example A miner doing 5000 nonces per ms
 * ```ts
 * import { chunkNonces, resolveChunking, SpeedEstimate } from "./chunking.ts";
 * import assert from "node:assert/strict";
 * const chunking = resolveChunking({ targetChunkMillis: 1000 });
 * const speed = new SpeedEstimate();
 * assert.equal(chunkNonces(speed, chunking), 10_000);
 * speed.record(50_000, 10);
 * assert.equal(chunkNonces(speed, chunking), 5_000_000);
 * // 1 s of fleet work left: chunks of half a second.
 * const tail = { leftNonces: 20_000_000, fleetNoncesPerMilli: 20_000 };
 * assert.equal(chunkNonces(speed, chunking, tail), 2_500_000);
 * ```
 */
export function chunkNonces(
  speed: SpeedEstimate,
  chunking: ResolvedChunking,
  context?: ChunkContext,
): number {
  const perMilli = speed.noncesPerMilli;
  if (perMilli === undefined) return chunking.initialChunkNonces;
  const target = chunking.targetChunkMillis;
  let millis = target;
  if (context !== undefined && context.fleetNoncesPerMilli > 0) {
    const half = context.leftNonces / context.fleetNoncesPerMilli / 2;
    millis = Math.max(target / 8, Math.min(target, half));
  }
  const wanted = Math.floor(perMilli * millis);
  return Math.min(chunking.maxChunkNonces, Math.max(chunking.minChunkNonces, wanted));
}
