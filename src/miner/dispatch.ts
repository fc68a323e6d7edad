/**
 * The scheduler's dispatch: which chunk goes to which free miner slot (`scheduler.ts` has the
 * roles and the outputs). Whenever a miner has a free slot it gets a chunk of the most urgent live request
 * (SRPT, with an anti-starvation slot), sized from its measured speed, or a copy of a straggling
 * chunk of a request more urgent still.
 *
 * ## Chunks
 *
 * Requests are split lazily (a range may hold 2^64 nonces) into chunks sized from the receiving
 * miner's measured speed (see `chunking.ts`): about `targetChunkMillis` of its work, between
 * `minChunkNonces` and `maxChunkNonces`, and at most 32 times the largest chunk it has answered.
 * Near a request's end a miner gets half its share of what is left, shared so that all miners
 * would finish together given when each will be done with the chunks it holds (at least an eighth
 * of the target, or the round trip would dominate; the minimum when the others finish without
 * it), so the tail is spread over all miners instead of one big last chunk. Each miner holds at
 * most `pipelineDepth` chunks (default 2): while it works on one, the next is already on its way,
 * hiding the round trip. Results carry no job id, so a Result belongs to the chunk of
 * its miner whose range holds its nonce and (with `hashOf`, which the server always passes) whose
 * Data hashes with that nonce to its hash (spec §8.4): a miner may answer its chunks in any order
 * (a Go miner that mines each Request in its own goroutine does). One miner's chunks of the same
 * Data (requests of different clients) are kept nested or disjoint, so that the innermost match
 * is always right. A Result that matches no chunk the miner holds is logged and dropped; it frees
 * nothing. Without `hashOf` the oldest chunk whose range holds the nonce is taken.
 *
 * ## Scheduling strategy: efficient and fair
 *
 * Whenever a miner has a free slot, the scheduler gives it a chunk of the live request with the
 * least work remaining (shortest remaining processing time, SRPT: nonces not yet searched,
 * including those out on miners), ties going to the earlier arrival; every `starvationEvery`-th
 * chunk (default 5th) instead goes to the oldest request with work to hand out. Chunks given
 * back by a lost miner come first within their request.
 *
 * - *Efficient:* SRPT minimises mean response time. A small request arriving after a huge one has
 *   less remaining work, so it takes the next free slots and finishes within a chunk time or two,
 *   while the huge one continues afterwards.
 * - *Fair:* among equal requests the earlier one always has less (or equal) work left and wins
 *   ties, so equal requests finish in arrival order; and the anti-starvation slot keeps a huge
 *   old request moving (a fifth of the chunks) under a constant stream of small ones.
 * - *Busy miners:* a free slot is filled at once (on Join, on every Result, on every new request
 *   or given-back chunk), so no miner is idle while any live request has work to hand out; with
 *   the pipeline, a miner normally has its next chunk before it finishes the current one.
 * - *Stragglers:* a request with nothing left to hand out still waits for its chunks out on
 *   miners, and one slow, overloaded or stalled miner (a lost datagram holds an LSP connection up
 *   to an epoch) would hold it up. A free slot may therefore take a copy of such a chunk (at
 *   most `maxCopies` extra copies) when the chunk is late — every holder past twice its expected
 *   time plus `targetChunkMillis`; `nextTimeout()` wakes the core then — and its request is more
 *   urgent than the request the slot would otherwise serve; and an idle miner may take a copy of
 *   any such chunk it would finish in less than half the time its holder still needs. The first
 *   Result for a chunk counts; later ones are consumed and ignored. Nothing is ever taken away
 *   from a miner, so a copy only adds work.
 *
 * ## Failures
 *
 * A lost miner's chunks that no other miner holds go back to the front of their requests'
 * queues, keeping their order, and are handed out again (split if the next miner is slower).
 * Nothing is timed out on a clock: only the transport's loss of a miner reassigns its work (the
 * copies above only add work). A lost client's requests stop at once: nothing more is handed out
 * for them, and Results for their chunks still out on miners are consumed and ignored. If every
 * miner is gone, work waits until one joins.
 *
 * Results go to a client in the order of its requests (the reference client sends one). A client
 * that asked for progress (`"Progress":true`, see `message.ts`) also gets a Progress message at
 * most every `progressIntervalMillis` while its request runs.
 *
 * @module
 */
import { assert } from "../util/mod.ts";
import { chunkNonces, type MinerLoad, type ResolvedChunking } from "./chunking.ts";
import { type MinerMessage, requestMessage } from "./message.ts";
import {
  before,
  type Chunk,
  type CopyInfo,
  crosses,
  type Miner,
  nestedEnd,
  type Req,
  unassigned,
} from "./scheduler_state.ts";
import type { SchedulerStats } from "./scheduler_types.ts";

/** What a {@linkcode Dispatcher} works on: the scheduler's tables and policy. */
export interface DispatchContext {
  readonly chunking: ResolvedChunking;
  /** Chunks a miner may hold at once. */
  readonly depth: number;
  readonly starvationEvery: number;
  readonly maxCopies: number;
  /** The miners by connection (shared with the scheduler). */
  readonly miners: Map<number, Miner>;
  /** Live requests with nonces to hand out (shared with the scheduler). */
  readonly waiting: Set<Req>;
  /** The scheduler's counters (`chunksSent`, `chunksCopied` are counted here). */
  readonly stats: SchedulerStats;
  /** Sends a message to a connection. */
  readonly send: (connId: number, message: MinerMessage) => void;
}

/**
 * Hands out chunks to free miner slots. Sans-I/O: time comes in as `now`.
 *
 * @example No miners: nothing to do
 * ```ts
 * import { Dispatcher } from "./dispatch.ts";
 * import { resolveChunking } from "./chunking.ts";
 * import { newSchedulerStats } from "./scheduler_types.ts";
 * import assert from "node:assert/strict";
 * const sent: number[] = [];
 * const d = new Dispatcher({
 *   chunking: resolveChunking({}), depth: 2, starvationEvery: 5, maxCopies: 1,
 *   miners: new Map(), waiting: new Set(), stats: newSchedulerStats(),
 *   send: (connId) => sent.push(connId),
 * });
 * d.dispatch(0);
 * assert.equal(d.freeSlots, 0);
 * assert.deepEqual(sent, []);
 * ```
 */
export class Dispatcher {
  readonly #chunking: ResolvedChunking;
  readonly #depth: number;
  readonly #starvationEvery: number;
  readonly #maxCopies: number;
  readonly #miners: Map<number, Miner>;
  readonly #waiting: Set<Req>;
  readonly #stats: SchedulerStats;
  readonly #send: (connId: number, message: MinerMessage) => void;
  #dispatchCount = 0;

  /** Works on the scheduler's tables given in `context`. */
  constructor(context: DispatchContext) {
    this.#chunking = context.chunking;
    this.#depth = context.depth;
    this.#starvationEvery = context.starvationEvery;
    this.#maxCopies = context.maxCopies;
    this.#miners = context.miners;
    this.#waiting = context.waiting;
    this.#stats = context.stats;
    this.#send = context.send;
  }

  /** Free chunk slots over all miners (`depth` per miner minus chunks held). */
  get freeSlots(): number {
    let free = 0;
    for (const m of this.#miners.values()) free += this.#depth - m.fifo.length;
    return free;
  }

  /**
   * Fills free miner slots, one chunk at a time: the most urgent request's next chunk (SRPT,
   * anti-starvation slot), or a copy of a straggling chunk of a request more urgent still.
   */
  dispatch(now: number): void {
    const rounds = this.#miners.size * this.#depth + 1;
    let candidates: Map<Chunk, CopyInfo> | undefined;
    for (let round = 0; round < rounds; round++) {
      const miner = this.#freeMiner();
      if (miner === undefined) return;
      // The anti-starvation slot: the oldest request's fresh work, not a copy (if any waits).
      const starving = this.#starvationEvery > 0 && this.#waiting.size > 0 &&
        this.#dispatchCount % this.#starvationEvery === this.#starvationEvery - 1;
      const req = this.#pickRequest(starving);
      if (this.#maxCopies > 0 && !starving) {
        candidates ??= this.#copyCandidates();
        // Without fresh work any free miner may take a copy; try the fastest first.
        const miners = req !== undefined ? [miner] : this.#freeMinersFastestFirst();
        let copied = false;
        for (const m of miners) {
          const copy = this.#pickCopy(m, req, candidates, now);
          if (copy === undefined) continue;
          this.#assign(m, copy, now);
          this.#stats.chunksCopied++;
          this.#dispatchCount++;
          candidates = undefined;
          copied = true;
          break;
        }
        if (copied) continue;
      }
      if (req === undefined) return;
      this.#assign(miner, this.#takeChunk(req, miner, now), now);
      this.#dispatchCount++;
    }
    assert(this.#freeMiner() === undefined || this.#waiting.size === 0, "dispatch did not settle");
  }

  /** The miner with the fewest chunks (below the depth); ties: free longest, then lowest id. */
  #freeMiner(): Miner | undefined {
    let best: Miner | undefined;
    for (const m of this.#miners.values()) {
      if (m.fifo.length >= this.#depth) continue;
      if (
        best === undefined || m.fifo.length < best.fifo.length ||
        (m.fifo.length === best.fifo.length &&
          (m.freeSince < best.freeSince ||
            (m.freeSince === best.freeSince && m.connId < best.connId)))
      ) best = m;
    }
    return best;
  }

  /** The live request with work to hand out that is most urgent (or the oldest, if starving). */
  #pickRequest(starving: boolean): Req | undefined {
    let best: Req | undefined;
    for (const r of this.#waiting) {
      if (best === undefined || (starving ? r.seq < best.seq : before(r, best))) best = r;
    }
    return best;
  }

  #takeChunk(req: Req, miner: Miner, now: number): Chunk {
    const left = unassigned(req);
    assert(left > 0n, "a waiting request has nothing to hand out");
    const fleet = this.#loads(now);
    const freeAt = fleet.get(miner)?.freeAt ?? now;
    const context = { leftNonces: Number(left), freeAt, fleet: [...fleet.values()] };
    const size = BigInt(chunkNonces(miner.speed, this.#chunking, context));
    const span = req.redo[0];
    const lo = span !== undefined ? span.lo : req.cursor;
    const end = span !== undefined ? span.hi : req.upper;
    const hi = nestedEnd(miner, req.data, lo, lo + size - 1n < end ? lo + size - 1n : end);
    if (span !== undefined) {
      if (hi === span.hi) req.redo.shift();
      else span.lo = hi + 1n;
      req.redoNonces -= hi - lo + 1n;
    } else {
      req.cursor = hi + 1n;
    }
    assert(req.lower <= lo && lo <= hi && hi <= req.upper, "a chunk is outside its request");
    if (unassigned(req) === 0n) this.#waiting.delete(req);
    const chunk: Chunk = { req, lo, hi, nonces: hi - lo + 1n, holders: 0, done: false };
    req.inflight.add(chunk);
    return chunk;
  }

  /**
   * Every miner's load for the tail rule: its speed (an unknown one counted at the mean of the
   * known ones) and when it will have finished the chunks it holds (not before `now`); empty
   * while no speed is known.
   */
  #loads(now: number): Map<Miner, MinerLoad> {
    let known = 0, sum = 0;
    for (const m of this.#miners.values()) {
      const v = m.speed.noncesPerMilli;
      if (v === undefined) continue;
      known++;
      sum += v;
    }
    const loads = new Map<Miner, MinerLoad>();
    if (known === 0) return loads;
    for (const m of this.#miners.values()) {
      const noncesPerMilli = m.speed.noncesPerMilli ?? sum / known;
      let free = m.lastDoneAt;
      for (const { chunk, sentAt } of m.fifo) {
        free = Math.max(free, sentAt) + Number(chunk.nonces) / noncesPerMilli;
      }
      loads.set(m, { noncesPerMilli, freeAt: Math.max(now, free) });
    }
    return loads;
  }

  #assign(miner: Miner, chunk: Chunk, now: number): void {
    assert(miner.fifo.length < this.#depth, "a miner got more chunks than the pipeline depth");
    miner.fifo.push({ chunk, sentAt: now, ahead: miner.fifo.length });
    chunk.holders++;
    this.#stats.chunksSent++;
    this.#send(miner.connId, requestMessage(chunk.req.data, chunk.lo, chunk.hi));
  }

  // -------------------------------------------------------------------------------------------
  // Internals: straggler copies

  /**
   * The chunks that may take another copy — out on miners, not answered, held at most
   * `maxCopies` times, of a live request with nothing left to hand out — with when their holders
   * are expected to finish (the earliest of them) and when they count as late (every holder past
   * twice its expected time plus `targetChunkMillis`; a holder whose speed is unknown is expected
   * to take `targetChunkMillis`).
   */
  #copyCandidates(): Map<Chunk, CopyInfo> {
    const out = new Map<Chunk, CopyInfo>();
    const target = this.#chunking.targetChunkMillis;
    for (const m of this.#miners.values()) {
      let free = m.lastDoneAt;
      for (const { chunk, sentAt } of m.fifo) {
        const start = Math.max(free, sentAt);
        const took = m.speed.millisFor(Number(chunk.nonces)) ?? target;
        free = start + took;
        const req = chunk.req;
        if (chunk.done || req.state !== "active" || chunk.holders > this.#maxCopies) continue;
        if (unassigned(req) > 0n) continue;
        const lateAt = start + 2 * took + target;
        const seen = out.get(chunk);
        if (seen === undefined) out.set(chunk, { eta: free, lateAt });
        else {
          seen.eta = Math.min(seen.eta, free);
          seen.lateAt = Math.max(seen.lateAt, lateAt);
        }
      }
    }
    return out;
  }

  /**
   * The chunk `miner` should copy, if any: of a request more urgent than `against` (the request
   * the slot would otherwise serve), not held by `miner`, and either late, or — for an idle
   * miner of known speed — done in less than half the time its holders still need. The most
   * urgent request first, then the chunk expected last.
   */
  #pickCopy(
    miner: Miner,
    against: Req | undefined,
    candidates: Map<Chunk, CopyInfo>,
    now: number,
  ): Chunk | undefined {
    let best: Chunk | undefined;
    for (const [chunk, { eta, lateAt }] of candidates) {
      if (against !== undefined && !before(chunk.req, against)) continue;
      if (miner.fifo.some((a) => a.chunk === chunk || crosses(a.chunk, chunk))) continue;
      const mine = miner.speed.millisFor(Number(chunk.nonces));
      const faster = miner.fifo.length === 0 && mine !== undefined && mine < (eta - now) / 2;
      if (!faster && now < lateAt) continue;
      if (
        best === undefined || before(chunk.req, best.req) ||
        (chunk.req === best.req && eta > candidates.get(best)!.eta)
      ) best = chunk;
    }
    return best;
  }

  /** Miners with a free slot, the least loaded first, then the fastest (unknown speed last). */
  #freeMinersFastestFirst(): Miner[] {
    return [...this.#miners.values()].filter((m) => m.fifo.length < this.#depth).sort((a, b) =>
      a.fifo.length - b.fifo.length ||
      (b.speed.noncesPerMilli ?? 0) - (a.speed.noncesPerMilli ?? 0)
    );
  }

  /**
   * When a dispatch is next worth running: the moment a chunk becomes late while a miner has a
   * free slot to take a copy of it (after `now`), or `undefined`.
   */
  computeTimeout(now: number): number | undefined {
    if (this.#maxCopies === 0 || this.freeSlots === 0) return undefined;
    let at: number | undefined;
    for (const { lateAt } of this.#copyCandidates().values()) {
      if (lateAt > now && (at === undefined || lateAt < at)) at = lateAt;
    }
    return at;
  }
}
