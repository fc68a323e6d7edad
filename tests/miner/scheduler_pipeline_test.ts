/**
 * The scheduler's pipeline (issue 13, item 3): every miner holds its next chunk behind its
 * current one, chunks are sized from each miner's measured rate (small first), a miner lost with
 * two chunks out gives both back, and Results arriving out of order across miners and requests,
 * or twice, still add up to the exact answers. Driven by hand with a cheap stand-in hash.
 */
import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeMessage,
  joinMessage,
  type RequestMessage,
  requestMessage,
  resultMessage,
} from "../../src/miner/message.ts";
import { Scheduler, type SchedulerOptions } from "../../src/miner/scheduler.ts";
import { Prng } from "../../src/util/prng.ts";

function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A cheap deterministic stand-in for the SHA-256 hash. */
function fakeHash(data: string, nonce: bigint): bigint {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data.charCodeAt(i), 0x01000193);
  const a = mix32(h ^ mix32(Number(nonce & 0xffffffffn)));
  return (BigInt(a) << 32n) | BigInt(mix32(a ^ 0x5bd1e995));
}

function bruteMin(data: string, lo: bigint, hi: bigint): [bigint, bigint] {
  let best: [bigint, bigint] = [1n << 64n, 0n];
  for (let n = lo; n <= hi; n++) {
    const h = fakeHash(data, n);
    if (h < best[0]) best = [h, n];
  }
  return best;
}

/** A scheduler, its miners' held chunks, and what its clients got. */
class Rig {
  readonly s: Scheduler;
  now = 0;
  readonly held = new Map<number, RequestMessage[]>();
  readonly sent: { miner: number; m: RequestMessage }[] = [];
  readonly answers = new Map<number, [bigint, bigint]>();

  constructor(options: SchedulerOptions) {
    this.s = new Scheduler({ hashOf: fakeHash, ...options });
  }

  drain(): void {
    for (let a = this.s.pollAction(); a; a = this.s.pollAction()) {
      assert.equal(a.type, "send");
      if (a.type !== "send") continue;
      const m = decodeMessage(a.bytes)!;
      if (m.type === "request") {
        this.held.get(a.connId)!.push(m);
        this.sent.push({ miner: a.connId, m });
      } else if (m.type === "result") {
        assert.ok(!this.answers.has(a.connId), "two answers to one client");
        this.answers.set(a.connId, [m.hash, m.nonce]);
      }
    }
    while (this.s.pollLog());
  }

  join(connId: number): void {
    this.held.set(connId, []);
    this.s.handleMessage(connId, encodeMessage(joinMessage()), this.now);
    this.drain();
  }

  request(connId: number, data: string, lo: bigint, hi: bigint): void {
    this.s.handleMessage(connId, encodeMessage(requestMessage(data, lo, hi)), this.now);
    this.drain();
  }

  /** Miner `connId` answers its chunk at `index` (taken off its list) with the true minimum. */
  answer(connId: number, index = 0): RequestMessage {
    const [chunk] = this.held.get(connId)!.splice(index, 1);
    assert.ok(chunk !== undefined, `miner ${connId} holds nothing at ${index}`);
    const [h, n] = bruteMin(chunk.data, chunk.lower, chunk.upper);
    this.s.handleMessage(connId, encodeMessage(resultMessage(h, n)), this.now);
    this.drain();
    return chunk;
  }

  lose(connId: number): void {
    this.held.delete(connId);
    this.s.handleLost(connId, this.now);
    this.drain();
  }

  depths(): number[] {
    return [...this.held.values()].map((list) => list.length);
  }
}

const span = (m: RequestMessage) => [m.lower, m.upper];

Deno.test("Scheduler keeps each miner's next chunk queued behind its current one", () => {
  const r = new Rig({ minChunkNonces: 100, maxChunkNonces: 400, targetChunkMillis: 100 });
  r.join(1);
  r.join(2);
  r.request(10, "big", 0n, 99_999n);
  assert.deepEqual(r.depths(), [2, 2], "two Requests outstanding on every miner");
  for (let i = 0; i < 20; i++) {
    r.now += 7;
    r.answer(i % 2 === 0 ? 1 : 2);
    assert.deepEqual(r.depths(), [2, 2], `after Result ${i}: refilled at once`);
  }
  assert.equal(r.s.freeSlots, 0);
});

Deno.test("Scheduler gives back both chunks of a miner lost with two outstanding", () => {
  const r = new Rig({ minChunkNonces: 100, maxChunkNonces: 100, targetChunkMillis: 100 });
  r.join(1);
  r.join(2);
  r.request(10, "job", 0n, 999n);
  const lostChunks = r.held.get(1)!.map(span);
  assert.equal(lostChunks.length, 2);
  r.lose(1);
  assert.equal(r.s.stats().chunksReassigned, 2);
  // Miner 2 frees a slot: the given-back chunks come first, in their order.
  r.answer(2);
  r.answer(2);
  assert.deepEqual(r.held.get(2)!.map(span), lostChunks);
  r.join(3);
  while (r.held.get(2)!.length + r.held.get(3)!.length > 0) {
    r.now += 5;
    for (const id of [2, 3]) if (r.held.get(id)!.length > 0) r.answer(id);
  }
  assert.deepEqual(r.answers.get(10), bruteMin("job", 0n, 999n));
  // Every nonce went out, the lost ones twice.
  const covered = r.sent.map(({ m }) => m.upper - m.lower + 1n).reduce((a, b) => a + b, 0n);
  assert.equal(covered, 1000n + 200n);
});

Deno.test("Scheduler starts a miner on a million nonces, grows its chunks at most 32-fold per Result, then sizes them to about 4 s of its measured rate", () => {
  const r = new Rig({ hashOf: fakeHash }); // the defaults
  r.join(1);
  r.request(10, "huge", 0n, 10n ** 12n);
  const size = (m: RequestMessage) => Number(m.upper - m.lower + 1n);
  assert.deepEqual(r.held.get(1)!.map(size), [1_000_000, 1_000_000]);
  // Answers with a right hash (not the minimum: the request never ends here) when the miner,
  // searching 10,000 nonces per ms, is done, plus 2 ms of round trip for its first chunk.
  const answer = () => {
    const [m] = r.held.get(1)!.splice(0, 1);
    r.now += size(m) / 10_000 + (r.now === 0 ? 2 : 0);
    r.s.handleMessage(1, encodeMessage(resultMessage(fakeHash(m.data, m.lower), m.lower)), r.now);
    r.drain();
  };
  answer();
  answer();
  // The first sample, round trip included, gives 1M in 102 ms: 9,804 nonces/ms; the queued
  // chunk counts at least half the time since it was sent (101 ms): 9,901/ms. 4 s of either
  // would be over 39M nonces, but one sample says little: 32 times the largest answered at most.
  assert.deepEqual(r.held.get(1)!.map(size), [32_000_000, 32_000_000]);
  for (let i = 0; i < 4; i++) answer();
  // Then 4 s of the measured 10,000/ms.
  assert.deepEqual(r.sent.slice(4).map(({ m }) => size(m)), [
    40_000_000,
    40_000_000,
    40_000_000,
    40_000_000,
  ]);
});

Deno.test("Scheduler sums Results arriving out of order across miners and requests, duplicates ignored", () => {
  let replays = 0, copiesIgnored = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const prng = Prng.seeded(seed);
    const r = new Rig({ minChunkNonces: 50, maxChunkNonces: 300, targetChunkMillis: 50 });
    const miners = [1, 2, 3];
    for (const id of miners) r.join(id);
    // Two requests with the same Data (different clients) and one with other Data.
    const requests: [number, string, bigint, bigint][] = [
      [10, "same", 0n, 1_999n],
      [11, "same", 500n, 1_499n],
      [12, "other", 7n, 2_006n],
    ];
    for (const [client, data, lo, hi] of requests) r.request(client, data, lo, hi);
    for (let step = 0; step < 10_000 && r.answers.size < requests.length; step++) {
      r.now += prng.int(1, 40); // late chunks get copies: their second Results are duplicates
      const busy = miners.filter((id) => r.held.get(id)!.length > 0);
      if (busy.length === 0) break;
      const id = prng.pick(busy);
      const list = r.held.get(id)!;
      const chunk = r.answer(id, prng.int(0, list.length - 1)); // any miner, any of its chunks
      const [h, n] = bruteMin(chunk.data, chunk.lower, chunk.upper);
      // The same Result again from the same miner. When the miner holds another chunk of the
      // same Data around its nonce, it is a valid answer for that chunk too (a miner's Results
      // carry no job id), so only replays that fit no held chunk are made.
      const fits = r.held.get(id)!.some((m) =>
        m.data === chunk.data && m.lower <= n && n <= m.upper
      );
      if (!fits && prng.chance(0.3)) {
        const before = r.s.stats();
        r.s.handleMessage(id, encodeMessage(resultMessage(h, n)), r.now);
        r.drain();
        const after = r.s.stats();
        assert.equal(after.chunksCompleted, before.chunksCompleted, `seed ${seed}: counted twice`);
        assert.equal(after.resultsRejected, before.resultsRejected + 1, `seed ${seed}`);
        replays++;
      }
    }
    for (const [client, data, lo, hi] of requests) {
      assert.deepEqual(r.answers.get(client), bruteMin(data, lo, hi), `seed ${seed}, ${client}`);
    }
    copiesIgnored += r.s.stats().resultsIgnored;
  }
  assert.ok(
    replays > 20 && copiesIgnored > 0,
    `replays ${replays}, copies ignored ${copiesIgnored}`,
  );
});
