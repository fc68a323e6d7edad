/**
 * The scheduler's bookkeeping records — requests, their chunks, miners and clients — and the pure
 * rules over them: remaining work, SRPT order, nesting of one miner's chunks of the same Data,
 * and matching a Result to the chunk it answers (see `scheduler.ts` for the strategy).
 *
 * @module
 */
import type { SpeedEstimate } from "./chunking.ts";
import type { MinerMessage } from "./message.ts";
import { assert } from "../util/mod.ts";

/** A nonce range still to hand out. */
export interface Span {
  lo: bigint;
  readonly hi: bigint;
}

export interface Chunk {
  readonly req: Req;
  readonly lo: bigint;
  readonly hi: bigint;
  readonly nonces: bigint;
  holders: number;
  done: boolean;
}

export interface Assignment {
  readonly chunk: Chunk;
  readonly sentAt: number;
  /** How many chunks the miner held when this one was sent. */
  readonly ahead: number;
}

/** What {@linkcode Scheduler} knows of a chunk that may take a copy. */
export interface CopyInfo {
  /** When its first holder is expected to finish it. */
  eta: number;
  /** When every holder is late with it. */
  lateAt: number;
}

export interface Miner {
  readonly connId: number;
  readonly fifo: Assignment[];
  readonly speed: SpeedEstimate;
  /** When its last Result arrived (or when it joined). */
  lastDoneAt: number;
  /** When it last got a free slot: ties between equally loaded miners go to the earliest. */
  freeSince: number;
}

export interface Req {
  readonly seq: number;
  readonly client: Client;
  readonly data: string;
  readonly lower: bigint;
  readonly upper: bigint;
  readonly total: bigint;
  readonly wantProgress: boolean;
  readonly arrivedAt: number;
  state: "active" | "done" | "dead";
  /** Next nonce never handed out. */
  cursor: bigint;
  /** Ranges given back by lost miners, in order. */
  redo: Span[];
  redoNonces: bigint;
  /** Chunks out on miners, not yet answered. */
  readonly inflight: Set<Chunk>;
  searched: bigint;
  bestHash: bigint;
  bestNonce: bigint;
  lastProgressAt: number;
}

export interface Client {
  readonly connId: number;
  /** Its requests not yet answered, in arrival order (answers go out in this order). */
  readonly requests: Req[];
}

export type Conn =
  | { role: "unknown" }
  | { role: "miner"; readonly miner: Miner }
  | { role: "client"; readonly client: Client }
  | { role: "closed" };

export function unassigned(r: Req): bigint {
  return (r.cursor <= r.upper ? r.upper - r.cursor + 1n : 0n) + r.redoNonces;
}

/** SRPT order: less remaining work first, then earlier arrival. */
export function before(a: Req, b: Req): boolean {
  const ra = a.total - a.searched, rb = b.total - b.searched;
  return ra < rb || (ra === rb && a.seq < b.seq);
}

/**
 * Whether two chunks of the same Data overlap without one holding the other: a Result in the
 * overlap could then answer either (see `Scheduler.#matchResult()`).
 */
export function crosses(a: Chunk, b: Chunk): boolean {
  if (a.req.data !== b.req.data || a.hi < b.lo || b.hi < a.lo) return false;
  return !((a.lo <= b.lo && b.hi <= a.hi) || (b.lo <= a.lo && a.hi <= b.hi));
}

/**
 * The end, at most `hi`, of a new chunk `lo..` of `data` for `miner` such that it crosses none
 * of the chunks the miner holds: stops before a held chunk that starts inside it, or at the end
 * of a held chunk it starts inside. At least `lo`: a chunk is never emptied.
 */
export function nestedEnd(miner: Miner, data: string, lo: bigint, hi: bigint): bigint {
  for (let changed = true; changed;) {
    changed = false;
    for (const { chunk: c } of miner.fifo) {
      if (c.req.data !== data || c.hi < lo || hi < c.lo) continue;
      if (lo < c.lo && hi < c.hi) hi = c.lo - 1n; // c starts inside: end before it
      else if (c.lo < lo && c.hi < hi) hi = c.hi; // starts inside c: end with it
      else continue;
      changed = true;
    }
  }
  return hi;
}

export function describe(m: MinerMessage): string {
  switch (m.type) {
    case "join":
      return "Join";
    case "request":
      return `Request ${m.lower}..${m.upper}`;
    case "result":
      return `Result ${m.hash} ${m.nonce}`;
    case "progress":
      return "Progress";
  }
}

/**
 * The index in `miner.fifo` of the chunk a Result answers, or why none does (a line for the
 * log). A chunk matches when its range holds the nonce and, with `hashOf`, its Data hashes with
 * the nonce to the Result's hash: so a miner may answer its chunks in any order (spec §8.4).
 * Several may match only when they share Data (different requests); the dispatch (`takeChunk`,
 * `pickCopy`) keeps such chunks of one miner nested or disjoint, so the matches form a chain and
 * the innermost one (fewest nonces; ties: the oldest) is always a right answer: the Result is the
 * minimum of a range holding it, hence of every range inside that one. Without `hashOf` Data
 * cannot tell chunks apart, and the oldest match is taken (a miner answering in order is always
 * matched right).
 */
export function matchResult(
  miner: Miner,
  hash: bigint,
  nonce: bigint,
  hashOf: ((data: string, nonce: bigint) => bigint) | undefined,
): number | string {
  let best = -1, inRange = 0;
  const hashes = new Map<string, bigint>(); // one hash per Data, however many chunks share it
  for (let i = 0; i < miner.fifo.length; i++) {
    const chunk = miner.fifo[i].chunk;
    if (nonce < chunk.lo || nonce > chunk.hi) continue;
    inRange++;
    if (hashOf !== undefined) {
      let h = hashes.get(chunk.req.data);
      if (h === undefined) {
        h = hashOf(chunk.req.data, nonce);
        hashes.set(chunk.req.data, h);
      }
      if (h !== hash) continue;
    } else if (best >= 0) {
      break; // the oldest match
    }
    if (best < 0 || chunk.nonces < miner.fifo[best].chunk.nonces) best = i;
  }
  if (best >= 0) return best;
  const held = miner.fifo.map(({ chunk }) => `${chunk.lo}..${chunk.hi}`).join(", ");
  return inRange === 0
    ? `Cannot match Result: nonce ${nonce} is in none of the chunks held (${held})`
    : `Cannot match Result: ${hash} is not the hash of nonce ${nonce} for any chunk held`;
}

/**
 * Takes back a lost miner's chunks: those no other miner holds, of live requests, go back to the
 * front of their requests' queues, keeping their order (the requests wait again in `waiting`).
 *
 * @returns How many chunks were given back.
 */
export function giveBack(miner: Miner, waiting: Set<Req>): number {
  const givenBack = new Map<Req, Span[]>();
  let count = 0;
  for (const { chunk } of miner.fifo) {
    chunk.holders--;
    assert(chunk.holders >= 0, "a chunk has a negative holder count");
    const req = chunk.req;
    if (chunk.done || chunk.holders > 0 || req.state !== "active") continue;
    req.inflight.delete(chunk);
    const spans = givenBack.get(req) ?? [];
    spans.push({ lo: chunk.lo, hi: chunk.hi });
    givenBack.set(req, spans);
    req.redoNonces += chunk.nonces;
    count++;
  }
  miner.fifo.length = 0;
  for (const [req, spans] of givenBack) {
    req.redo.unshift(...spans);
    waiting.add(req);
  }
  return count;
}

/**
 * Removes the chunk at `index` from the miner's pipeline once its Result came in at `now`, and
 * records the miner's speed from it.
 *
 * @returns The chunk.
 */
export function takeAnswered(miner: Miner, index: number, now: number, depth: number): Chunk {
  const [head] = miner.fifo.splice(index, 1);
  const chunk = head.chunk;
  chunk.holders--;
  assert(chunk.holders >= 0, "a chunk has a negative holder count");
  // The chunk's time: from when the miner could start it (sent, or its previous Result in).
  // A Result stalled by the transport makes the next one arrive right behind it, so the
  // chunk also gets at least its share of the time since it was sent (it waited behind at
  // most `ahead` others): the rate may err low, never far high.
  const since = now - head.sentAt;
  miner.speed.record(
    Number(chunk.nonces),
    Math.max(now - Math.max(head.sentAt, miner.lastDoneAt), since / (head.ahead + 1)),
  );
  miner.lastDoneAt = now;
  if (miner.fifo.length === depth - 1) miner.freeSince = now;
  return chunk;
}
