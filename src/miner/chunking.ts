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
 * chunks are small and grow over its first few Results as the round trip's share shrinks. A chunk
 * is also at most 32 times the largest one the miner has answered: the first samples (the worker
 * still starting) say little, and a chunk sized from one could keep the miner busy far longer or
 * shorter than the scheduler thinks.
 *
 * The start matters under loss: until a miner's queued chunk outlasts an epoch, every lost
 * datagram leaves it idle until the retransmission. A miner's first chunk is therefore a
 * million nonces (about 75 ms on one worker of our kernel), not the minimum, and chunks grow
 * 32-fold per Result: a miner's first two chunks are short, its third lasts seconds. Starting
 * from 10,000 nonces and growing 8-fold, its first eight chunks were under half a second, and
 * with 5% loss each way a miner lost one to three epochs (2–6 s) at the start of a 45 s request:
 * busy 86–88% in the worst runs, 95–100% now (two one-worker miners, 10^9 nonces, four runs
 * each).
 *
 * Near a request's end, chunks shrink so that all miners finish together (see
 * {@linkcode chunkNonces}).
 *
 * @module
 */

/**
 * A chunk is at most this many times the largest chunk the miner has answered: early samples are
 * dominated by the round trip and the worker's start-up, so the estimate errs low, and a chunk
 * sized from it would make the miner look busy for far longer than it is (the tail rule would
 * then hand the others too much). A sample cannot err high by more than twice (a Result held
 * up by the transport counts at least its share of the time since its chunk was sent). Growing
 * 32-fold, a miner of 14 M nonces/s goes from its first million nonces (both of its first two
 * chunks go out before any Result) to 32 million (2.3 s) after its first Result and to 4 s of its
 * work after its third.
 */
const GROWTH = 32;
/** The default first chunk of a miner whose speed is unknown, before the min/max clamp. */
const INITIAL_CHUNK_NONCES = 1_000_000;
/**
 * The shortest tail share, as a fraction of the target (an eighth: 500 ms by default), for a miner
 * that takes part in the tail at all: shorter chunks would cost a round trip each, or an LSP epoch
 * when a datagram is lost.
 */
const FLOOR = 8;

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
   * @default `minChunkNonces` when that is given (small chunks asked for); otherwise 1000000,
   * or `maxChunkNonces` when that is smaller
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
 * assert.equal(c.initialChunkNonces, 1_000_000);
 * assert.equal(resolveChunking({ maxChunkNonces: 50_000 }).initialChunkNonces, 50_000);
 * assert.equal(resolveChunking({ minChunkNonces: 100 }).initialChunkNonces, 100);
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
  const {
    initialChunkNonces = options.minChunkNonces ??
      Math.min(maxChunkNonces, Math.max(minChunkNonces, INITIAL_CHUNK_NONCES)),
  } = options;
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
  #largest = 0;

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
    this.#largest = Math.max(this.#largest, nonces);
  }

  /** The largest chunk recorded, in nonces (0 before the first sample). */
  get largestNonces(): number {
    return this.#largest;
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
 * One miner's load, for the tail rule: how fast it goes and when it will have finished the chunks
 * it holds.
 */
export interface MinerLoad {
  /** Its speed in nonces per millisecond (positive; an unknown one counted at the fleet's mean). */
  readonly noncesPerMilli: number;
  /** When it will have finished every chunk it holds, in milliseconds (now if it holds none). */
  readonly freeAt: number;
}

/**
 * What the scheduler knows about the work left when it sizes a chunk.
 */
export interface ChunkContext {
  /** Nonces of the request not handed out yet. */
  readonly leftNonces: number;
  /** When the miner being given the chunk will have finished the chunks it holds. */
  readonly freeAt: number;
  /** Every miner's load, the one being given the chunk included. */
  readonly fleet: readonly MinerLoad[];
}

/**
 * When the fleet would finish `leftNonces` more nonces if they were shared out so that every
 * miner that takes a share finishes at the same moment (water-filling): each miner searches from
 * its `freeAt` on at its speed, and a miner busy past that moment takes nothing.
 *
 * @param leftNonces The nonces to share out (not negative).
 * @param fleet The miners' loads; those without a positive finite speed are left out.
 * @returns The common finishing time in milliseconds, `Infinity` when no miner has a speed.
 *
 * @example Two miners, one busy for longer
 * ```ts
 * import { finishTime } from "./chunking.ts";
 * import assert from "node:assert/strict";
 * // 3000 nonces: the first miner alone until 100 ms (1000 nonces), then both (2000 in 100 ms).
 * const fleet = [{ noncesPerMilli: 10, freeAt: 0 }, { noncesPerMilli: 10, freeAt: 100 }];
 * assert.equal(finishTime(3000, fleet), 200);
 * // 500 nonces: done by the first before the second is free.
 * assert.equal(finishTime(500, fleet), 50);
 * assert.equal(finishTime(500, []), Infinity);
 * ```
 */
export function finishTime(leftNonces: number, fleet: readonly MinerLoad[]): number {
  const loads = fleet.filter((m) => m.noncesPerMilli > 0 && Number.isFinite(m.noncesPerMilli))
    .sort((a, b) => a.freeAt - b.freeAt);
  let speed = 0, weighted = 0; // the speeds and the speed-weighted free times of those taking part
  for (let i = 0; i < loads.length; i++) {
    speed += loads[i].noncesPerMilli;
    weighted += loads[i].noncesPerMilli * loads[i].freeAt;
    const at = (Math.max(0, leftNonces) + weighted) / speed;
    if (i + 1 === loads.length || at <= loads[i + 1].freeAt) return at;
  }
  return Infinity;
}

/**
 * The chunk size for a miner: `targetChunkMillis` of its measured speed — or, near the end of a
 * request, half its share of what is left when the rest is shared out so that every miner
 * finishes at the same moment (see {@linkcode finishTime}), but at least an eighth of the target,
 * and only the minimum when the others finish the rest before it is free — within
 * `minChunkNonces..maxChunkNonces` and at most 32 times the largest chunk it has answered;
 * `initialChunkNonces` while its speed is unknown.
 *
 * The share counts the chunks out on miners: a miner still busy with a big chunk gets less, a
 * free one more, so that they finish together. Only half of it goes out at once: the rest is
 * shared out again at the next free slots, with fresher speeds, so the last chunks shrink towards
 * the floor and an error in a speed costs a fraction of a small chunk. The rule before, half the
 * time the fleet needs for what is left, ignored the chunks out on miners: one miner could hold a
 * big chunk while the other, given halves of an ever smaller rest, ran dry and waited for it
 * (two miners reached 0.86–0.87x of their kernels' rate on 10^8 nonces).
 *
 * @param speed The miner's estimate.
 * @param chunking The resolved options.
 * @param context The work left and the fleet's loads, for the tail rule; without it, the plain
 * target.
 * @returns A chunk size in nonces (a positive safe integer).
 *
 * @example A miner doing 5000 nonces per ms
 * ```ts
 * import { chunkNonces, resolveChunking, SpeedEstimate } from "./chunking.ts";
 * import assert from "node:assert/strict";
 * const chunking = resolveChunking({ targetChunkMillis: 1000 });
 * const speed = new SpeedEstimate();
 * assert.equal(chunkNonces(speed, chunking), 1_000_000); // speed unknown: the first chunk
 * speed.record(50_000, 10);
 * assert.equal(chunkNonces(speed, chunking), 1_600_000); // 32 times the largest chunk answered
 * speed.record(1_000_000, 200);
 * assert.equal(chunkNonces(speed, chunking), 5_000_000); // a second of its work
 * // 5M nonces left; this miner is free at 0 ms, another as fast at 400 ms: all done at 700 ms,
 * // this one's share is 700 ms, half of it now.
 * const fleet = [{ noncesPerMilli: 5000, freeAt: 0 }, { noncesPerMilli: 5000, freeAt: 400 }];
 * const tail = { leftNonces: 5_000_000, freeAt: 0, fleet };
 * assert.equal(chunkNonces(speed, chunking, tail), 1_750_000);
 * // 1M left: the other miner alone would finish at 200 ms; this one, busy until 100 ms, takes
 * // part (both done at 150 ms) with at least an eighth of the target, 125 ms.
 * const soon = [{ noncesPerMilli: 5000, freeAt: 0 }, { noncesPerMilli: 5000, freeAt: 100 }];
 * assert.equal(chunkNonces(speed, chunking, { leftNonces: 1e6, freeAt: 100, fleet: soon }), 625_000);
 * // Busy until 300 ms, it is not needed: the minimum.
 * const late = [{ noncesPerMilli: 5000, freeAt: 0 }, { noncesPerMilli: 5000, freeAt: 300 }];
 * assert.equal(chunkNonces(speed, chunking, { leftNonces: 1e6, freeAt: 300, fleet: late }), 10_000);
 * ```
 */
export function chunkNonces(
  speed: SpeedEstimate,
  chunking: ResolvedChunking,
  context?: ChunkContext,
): number {
  const perMilli = speed.noncesPerMilli;
  if (perMilli === undefined) return chunking.initialChunkNonces;
  let millis = chunking.targetChunkMillis;
  if (context !== undefined) {
    const share = finishTime(context.leftNonces, context.fleet) - context.freeAt;
    if (share / 2 < millis) millis = share > 0 ? Math.max(millis / FLOOR, share / 2) : 0;
  }
  const wanted = Math.min(Math.floor(perMilli * millis), GROWTH * speed.largestNonces);
  return Math.min(chunking.maxChunkNonces, Math.max(chunking.minChunkNonces, wanted));
}
