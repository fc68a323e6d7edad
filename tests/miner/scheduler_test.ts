import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeMessage,
  encodeMessage,
  joinMessage,
  MAX_UINT64,
  type MinerMessage,
  type RequestMessage,
  requestMessage,
  resultMessage,
} from "../../src/miner/message.ts";
import { Scheduler, type SchedulerOptions } from "../../src/miner/scheduler.ts";

const te = new TextEncoder();

function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A cheap deterministic stand-in for the SHA-256 hash (unit tests only check the plumbing). */
function fakeHash(data: string, nonce: bigint): bigint {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data.charCodeAt(i), 0x01000193);
  const lo = Number(nonce & 0xffffffffn), hi = Number(nonce >> 32n);
  const a = mix32(h ^ mix32(lo ^ mix32(hi)));
  const b = mix32(a ^ lo ^ 0x5bd1e995);
  return (BigInt(a) << 32n) | BigInt(b);
}

/** Brute-force minimum over lo..hi (small ranges), ties to the smaller nonce. */
function bruteMin(data: string, lo: bigint, hi: bigint): [bigint, bigint] {
  let best: [bigint, bigint] = [MAX_UINT64 + 1n, 0n];
  for (let n = lo; n <= hi; n++) {
    const h = fakeHash(data, n);
    if (h < best[0]) best = [h, n];
  }
  return best;
}

const SMALL: SchedulerOptions = {
  minChunkNonces: 1000,
  maxChunkNonces: 20_000,
  targetChunkMillis: 100,
};

/**
 * Drives a Scheduler by hand: joins miners, sends requests, plays the miners (answering their
 * oldest chunk with the fake hash's true minimum) and records everything the scheduler sends.
 */
class Bench {
  readonly s: Scheduler;
  now = 0;
  readonly miners = new Set<number>();
  /** Chunks each miner holds, oldest first, as the scheduler sent them. */
  readonly held = new Map<number, RequestMessage[]>();
  /** Every chunk ever sent, in order. */
  readonly chunks: { miner: number; at: number; m: RequestMessage }[] = [];
  /** Messages to each client. */
  readonly toClient = new Map<number, MinerMessage[]>();
  readonly closes: number[] = [];
  readonly logs: string[] = [];

  constructor(options: SchedulerOptions = SMALL) {
    this.s = new Scheduler(options);
  }

  drain(): void {
    for (let a = this.s.pollAction(); a; a = this.s.pollAction()) {
      if (a.type === "close") {
        this.closes.push(a.connId);
        continue;
      }
      const m = decodeMessage(a.bytes);
      assert.ok(m !== undefined, "the scheduler sent bytes that do not decode");
      if (this.miners.has(a.connId)) {
        assert.equal(m.type, "request");
        this.held.get(a.connId)!.push(m as RequestMessage);
        this.chunks.push({ miner: a.connId, at: this.now, m: m as RequestMessage });
      } else {
        const list = this.toClient.get(a.connId) ?? [];
        list.push(m);
        this.toClient.set(a.connId, list);
      }
    }
    for (let l = this.s.pollLog(); l; l = this.s.pollLog()) {
      this.logs.push(`${l.code}: ${l.message}`);
    }
  }

  send(connId: number, bytes: Uint8Array | string): void {
    this.s.handleMessage(connId, typeof bytes === "string" ? te.encode(bytes) : bytes, this.now);
    this.drain();
  }

  join(connId: number): void {
    this.miners.add(connId);
    this.held.set(connId, []);
    this.send(connId, encodeMessage(joinMessage()));
  }

  request(connId: number, data: string, lo: bigint, hi: bigint, wantProgress = false): void {
    this.send(connId, encodeMessage(requestMessage(data, lo, hi, { wantProgress })));
  }

  /**
   * The miner answers its oldest chunk (or the one at `index`, counted from the newest when
   * negative): correctly up to 20 000 nonces; above, with the hash of its first nonce (tests
   * never check the answers of such huge requests).
   */
  answer(connId: number, index = 0): RequestMessage {
    const held = this.held.get(connId)!;
    const [chunk] = held.splice(index, 1);
    assert.ok(chunk !== undefined, `miner ${connId} holds nothing at ${index}`);
    const [h, n] = chunk.upper - chunk.lower < 20_000n
      ? bruteMin(chunk.data, chunk.lower, chunk.upper)
      : [fakeHash(chunk.data, chunk.lower), chunk.lower];
    this.send(connId, encodeMessage(resultMessage(h, n)));
    return chunk;
  }

  lose(connId: number): void {
    this.s.handleLost(connId, this.now);
    this.miners.delete(connId);
    this.held.delete(connId);
    this.drain();
  }

  /** Answers chunks round-robin until nothing is held (bounded). */
  runAll(maxAnswers = 10_000): void {
    for (let i = 0; i < maxAnswers; i++) {
      const busy = [...this.held].filter(([, list]) => list.length > 0).map(([id]) => id);
      if (busy.length === 0) return;
      this.now += 10;
      for (const id of busy) if (this.held.has(id)) this.answer(id);
    }
    assert.fail("runAll() did not settle");
  }

  results(client: number): MinerMessage[] {
    return (this.toClient.get(client) ?? []).filter((m) => m.type === "result");
  }
}

Deno.test("Scheduler holds work while no miner exists and hands it out when one joins", () => {
  const b = new Bench();
  b.request(100, "msg", 0n, 2500n);
  assert.equal(b.chunks.length, 0);
  assert.equal(b.s.waitingRequestCount, 1);
  b.now = 5000;
  b.join(1);
  assert.deepEqual(b.chunks.map((c) => [c.m.lower, c.m.upper]), [[0n, 999n], [1000n, 1999n]]);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 2500n))]);
  assert.equal(b.s.requestCount, 0);
});

Deno.test("Scheduler combines chunk minima into the exact answer for several requests", () => {
  const b = new Bench();
  b.join(1);
  b.join(2);
  b.join(3);
  b.request(100, "alpha", 0n, 9999n);
  b.request(101, "beta", 5n, 6000n);
  b.request(102, "gamma", 42n, 42n);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("alpha", 0n, 9999n))]);
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("beta", 5n, 6000n))]);
  assert.deepEqual(b.results(102), [resultMessage(...bruteMin("gamma", 42n, 42n))]);
  // Chunks of a request tile its range (copies of a chunk repeat it exactly).
  for (const [data, lo, hi] of [["alpha", 0n, 9999n], ["beta", 5n, 6000n]] as const) {
    const keys = new Set(b.chunks.filter((c) => c.m.data === data).map((c) => `${c.m.lower}`));
    const spans = [...keys].map((k) => {
      const c = b.chunks.find((c) => c.m.data === data && `${c.m.lower}` === k)!;
      assert.ok(
        b.chunks.every((d) =>
          d.m.data !== data || d.m.lower !== c.m.lower || d.m.upper === c.m.upper
        ),
      );
      return [c.m.lower, c.m.upper];
    });
    spans.sort((x, y) => (x[0] < y[0] ? -1 : 1));
    let next = lo;
    for (const [l, u] of spans) {
      assert.equal(l, next);
      next = u + 1n;
    }
    assert.equal(next, hi + 1n);
  }
  assert.equal(b.s.stats().requestsCompleted, 3);
});

Deno.test("Scheduler hands a lost miner's chunks out again first, in order", () => {
  const b = new Bench({ ...SMALL, maxCopies: 0 });
  b.join(1);
  b.request(100, "msg", 0n, 99_999n);
  const lostChunks = b.held.get(1)!.map((m) => [m.lower, m.upper]);
  assert.equal(lostChunks.length, 2);
  b.lose(1);
  assert.equal(b.s.stats().chunksReassigned, 2);
  b.join(2);
  assert.deepEqual(b.held.get(2)!.map((m) => [m.lower, m.upper]), lostChunks);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 99_999n))]);
});

Deno.test("Scheduler splits a given-back chunk when the next miner is slower", () => {
  const b = new Bench({ ...SMALL, maxCopies: 0, pipelineDepth: 1, maxChunkNonces: 20_000 });
  b.join(1);
  b.request(100, "msg", 0n, 99_999n);
  for (let i = 0; i < 2; i++) { // a fast miner: 1000s of nonces per ms
    b.now += 1;
    b.answer(1);
  }
  const big = b.held.get(1)![0];
  assert.equal(big.upper - big.lower + 1n, 20_000n);
  b.lose(1);
  b.join(2); // unknown speed: the initial chunk size
  assert.deepEqual(b.held.get(2)!.map((m) => [m.lower, m.upper]), [[big.lower, big.lower + 999n]]);
  b.answer(2);
  assert.deepEqual(b.held.get(2)!.map((m) => m.lower), [big.lower + 1000n]);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 99_999n))]);
});

Deno.test("Scheduler stops a lost client's work and ignores its late results", () => {
  const b = new Bench({ ...SMALL, maxCopies: 0 });
  b.join(1);
  b.request(100, "doomed", 0n, 50_000n);
  assert.equal(b.held.get(1)!.length, 2);
  b.lose(100);
  assert.equal(b.s.requestCount, 0);
  b.request(101, "other", 0n, 1500n);
  assert.equal(b.held.get(1)!.length, 2, "the miner is still full of dead chunks");
  b.answer(1); // a dead chunk: consumed, ignored; the slot goes to the live request
  assert.equal(b.s.stats().resultsIgnored, 1);
  assert.equal(b.held.get(1)!.at(-1)!.data, "other");
  b.runAll();
  assert.equal(b.chunks.filter((c) => c.m.data === "doomed").length, 2);
  assert.equal(b.toClient.get(100), undefined);
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("other", 0n, 1500n))]);
  assert.equal(b.s.stats().requestsAbandoned, 1);
});

Deno.test("Scheduler drops a Result for work never given", () => {
  const b = new Bench();
  const r = encodeMessage(resultMessage(5n, 5n));
  b.send(7, r); // a connection that never joined
  b.join(1);
  b.send(1, r); // a miner holding nothing
  b.request(100, "msg", 0n, 10n);
  b.send(100, r); // a client
  assert.equal(b.s.stats().resultsRejected, 1);
  assert.equal(b.s.stats().messagesDropped, 2);
  assert.ok(b.logs.some((l) => l.includes("work never given")));
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 10n))]);
});

Deno.test("Scheduler drops duplicate Results without losing track of the next chunk", () => {
  const b = new Bench({ ...SMALL, hashOf: fakeHash });
  b.join(1);
  b.request(100, "one", 0n, 999n);
  b.request(101, "two", 0n, 999n); // same range: a duplicate nonce would fit the next chunk
  assert.deepEqual(b.held.get(1)!.map((m) => m.data), ["one", "two"]);
  const [h, n] = bruteMin("one", 0n, 999n);
  const dup = encodeMessage(resultMessage(h, n));
  b.answer(1);
  b.send(1, dup); // the same answer again: its hash is wrong for "two"
  assert.equal(b.s.stats().resultsRejected, 1);
  b.send(1, encodeMessage(resultMessage(h, 5000n))); // outside the chunk
  assert.equal(b.s.stats().resultsRejected, 2);
  b.runAll();
  b.send(1, dup); // nothing held any more
  assert.equal(b.s.stats().resultsRejected, 3);
  assert.deepEqual(b.results(100), [resultMessage(h, n)]);
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("two", 0n, 999n))]);
});

Deno.test("Scheduler rejects a Result whose nonce lies outside every chunk the miner holds", () => {
  const b = new Bench(); // no hashOf: only the range check guards the matching
  b.join(1);
  b.request(100, "msg", 0n, 1999n);
  assert.deepEqual(b.held.get(1)!.map((m) => [m.lower, m.upper]), [[0n, 999n], [1000n, 1999n]]);
  const [h, n] = bruteMin("msg", 0n, 999n);
  b.answer(1);
  b.send(1, encodeMessage(resultMessage(h, n))); // a duplicate of the first answer
  assert.equal(b.s.stats().resultsRejected, 1);
  assert.equal(b.s.stats().chunksCompleted, 1);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 1999n))]);
});

// ---------------------------------------------------------------------------------------------
// Results in any order (issue 9, item 1): a miner may answer its chunks in any order.

const VERIFIED: SchedulerOptions = { ...SMALL, hashOf: fakeHash, maxCopies: 0 };

Deno.test("Scheduler matches each Result of a miner answering in reverse order to its chunk", () => {
  const b = new Bench(VERIFIED);
  b.join(1);
  b.request(100, "msg", 0n, 9999n);
  assert.deepEqual(b.held.get(1)!.map((m) => [m.lower, m.upper]), [[0n, 999n], [1000n, 1999n]]);
  b.answer(1, -1); // 1000..1999 first
  assert.equal(b.s.stats().resultsRejected, 0, b.logs.join("\n"));
  assert.equal(b.s.stats().chunksCompleted, 1);
  assert.deepEqual(b.held.get(1)!.map((m) => m.lower), [0n, 2000n], "0..999 is still held");
  for (let i = 0; i < 100 && b.held.get(1)!.length > 0; i++) {
    b.now += 10;
    b.answer(1, -1); // always the newest chunk
  }
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 9999n))]);
  assert.equal(b.s.stats().resultsRejected, 0);
  assert.equal(b.s.requestCount, 0);
});

Deno.test("Scheduler matches a Result by its hash when two held chunks of different Data share its nonce", () => {
  const b = new Bench(VERIFIED);
  b.join(1);
  b.request(100, "one", 0n, 999n);
  b.request(101, "two", 0n, 999n);
  assert.deepEqual(b.held.get(1)!.map((m) => m.data), ["one", "two"]);
  b.answer(1, 1); // "two" first: same range, told apart by the hash
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("two", 0n, 999n))]);
  assert.deepEqual(b.results(100), []);
  b.answer(1);
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("one", 0n, 999n))]);
  assert.equal(b.s.stats().resultsRejected, 0);
});

Deno.test("Scheduler keeps one miner's chunks of the same Data nested or disjoint, and matches the innermost", () => {
  const b = new Bench(VERIFIED);
  b.join(1);
  b.join(2);
  b.request(100, "same", 0n, 1499n);
  b.request(101, "same", 500n, 1999n); // 500..1499 would cross 0..999 on miner 1
  const ranges = (id: number) => b.held.get(id)!.map((m) => [m.lower, m.upper]);
  assert.deepEqual(ranges(1), [[0n, 999n], [500n, 999n]]);
  assert.deepEqual(ranges(2), [[1000n, 1499n], [1000n, 1999n]]);
  // In reverse: a Result of the newer chunk may lie in the older one too; the innermost chunk
  // takes it, and it is that chunk's minimum as well.
  b.answer(1, -1);
  b.answer(2, -1);
  b.answer(1, 0);
  b.answer(2, 0);
  b.runAll();
  assert.equal(b.s.stats().resultsRejected, 0, b.logs.join("\n"));
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("same", 0n, 1499n))]);
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("same", 500n, 1999n))]);
});

Deno.test("Scheduler copies no late chunk to a miner holding a crossing chunk of the same Data", () => {
  const b = new Bench({ ...VERIFIED, maxCopies: 1 });
  b.join(1);
  b.request(100, "same", 0n, 999n);
  b.join(2);
  b.request(101, "same", 500n, 1499n);
  const ranges = (id: number) => b.held.get(id)!.map((m) => `${m.data} ${m.lower}..${m.upper}`);
  assert.deepEqual(ranges(1), ["same 0..999"]);
  assert.deepEqual(ranges(2), ["same 500..1499"]);
  b.now = b.s.nextTimeout()!; // both chunks are late: each miner has a free slot
  b.s.handleTimeout(b.now);
  b.drain();
  assert.equal(b.s.stats().chunksCopied, 0, `${ranges(1)} / ${ranges(2)}`);
  b.answer(2);
  b.answer(1);
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("same", 0n, 999n))]);
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("same", 500n, 1499n))]);
});

Deno.test("Scheduler drops a Result that matches no held chunk and frees nothing", () => {
  const b = new Bench(VERIFIED);
  b.join(1);
  b.request(100, "msg", 0n, 1999n);
  const [h, n] = bruteMin("msg", 1000n, 1999n);
  b.send(1, encodeMessage(resultMessage(h, 5000n))); // in no chunk
  b.send(1, encodeMessage(resultMessage(h + 1n, n))); // in a chunk, wrong hash
  assert.equal(b.s.stats().resultsRejected, 2);
  assert.equal(b.s.stats().chunksCompleted, 0);
  assert.equal(b.chunks.length, 2, "nothing was freed, so nothing new was sent");
  assert.ok(b.logs.some((l) => l.includes("in none of the chunks held (0..999, 1000..1999)")));
  assert.ok(b.logs.some((l) => l.includes(`is not the hash of nonce ${n}`)));
  b.answer(1, -1);
  b.answer(1, 0);
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 1999n))]);
});

Deno.test("Scheduler answers exactly with miners answering in any order, same Data in several requests", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          data: fc.constantFrom("x", "y", "x"),
          lower: fc.integer({ min: 0, max: 3000 }),
          size: fc.integer({ min: 1, max: 5000 }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 0, max: 2 }),
      fc.array(fc.nat(), { minLength: 50, maxLength: 50 }),
      (requests, pipelineDepth, miners, maxCopies, picks) => {
        const b = new Bench({ ...VERIFIED, pipelineDepth, maxCopies, minChunkNonces: 300 });
        for (let id = 1; id <= miners; id++) b.join(id);
        requests.forEach((r, i) =>
          b.request(100 + i, r.data, BigInt(r.lower), BigInt(r.lower + r.size - 1))
        );
        for (let step = 0; step < 10_000 && b.s.requestCount > 0; step++) {
          const busy = [...b.held].filter(([, l]) => l.length > 0).map(([id]) => id);
          if (busy.length === 0) {
            b.now = b.s.nextTimeout() ?? b.now + 1;
            b.s.handleTimeout(b.now);
            b.drain();
            continue;
          }
          const pick = picks[step % picks.length] + step;
          const id = busy[pick % busy.length];
          b.now += 10;
          b.answer(id, pick % b.held.get(id)!.length); // any of its chunks
        }
        assert.equal(b.s.requestCount, 0, "every request finished");
        assert.equal(b.s.stats().resultsRejected, 0, b.logs.join("\n"));
        requests.forEach((r, i) => {
          const lo = BigInt(r.lower), hi = BigInt(r.lower + r.size - 1);
          assert.deepEqual(b.results(100 + i), [resultMessage(...bruteMin(r.data, lo, hi))]);
        });
      },
    ),
    { numRuns: 80 },
  );
});

// ---------------------------------------------------------------------------------------------
// Fixed examples (issue 9, item 12)

Deno.test("Scheduler gives the smaller nonce when two chunks of one request return the same hash", () => {
  // A hash with ties everywhere for "tie": only the nonce can decide.
  const hashOf = (data: string, nonce: bigint) => (data === "tie" ? 77n : fakeHash(data, nonce));
  for (const order of ["in order", "reversed"]) {
    const b = new Bench({ ...SMALL, hashOf, maxCopies: 0 });
    b.join(1);
    b.request(100, "tie", 0n, 1999n);
    assert.deepEqual(b.held.get(1)!.map((m) => [m.lower, m.upper]), [[0n, 999n], [1000n, 1999n]]);
    const answers = [resultMessage(77n, 10n), resultMessage(77n, 1500n)];
    if (order === "reversed") answers.reverse();
    for (const a of answers) b.send(1, encodeMessage(a));
    assert.deepEqual(b.results(100), [resultMessage(77n, 10n)], order);
  }
});

Deno.test("Scheduler gives a fully handed-out request's chunks back when its miner is lost, to a new miner", () => {
  const b = new Bench({ ...SMALL, maxCopies: 0 });
  b.join(1);
  b.request(100, "msg", 0n, 1999n);
  assert.deepEqual(b.held.get(1)!.map((m) => [m.lower, m.upper]), [[0n, 999n], [1000n, 1999n]]);
  assert.equal(b.s.waitingRequestCount, 0, "every nonce is handed out");
  b.lose(1);
  assert.equal(b.s.stats().chunksReassigned, 2);
  assert.equal(b.s.waitingRequestCount, 1, "the given-back chunks wait for a miner");
  b.now = 100;
  b.join(2);
  assert.deepEqual(b.held.get(2)!.map((m) => [m.lower, m.upper]), [[0n, 999n], [1000n, 1999n]]);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 1999n))]);
});

// ---------------------------------------------------------------------------------------------
// Log lines (issue 9, item 10)

Deno.test("Scheduler logs a client that got its Result and went as left, not lost", () => {
  const b = new Bench();
  b.join(1);
  b.request(100, "done", 0n, 10n);
  b.request(101, "pending", 0n, 50_000n);
  b.answer(1);
  assert.equal(b.results(100).length, 1);
  b.lose(100); // closed after its Result: LSP reports the connection gone
  b.lose(101); // gone before its Result
  assert.ok(b.logs.includes("clientLeft: Client 100 left"), b.logs.join("\n"));
  assert.ok(!b.logs.some((l) => l.includes("Client 100 lost")), b.logs.join("\n"));
  assert.ok(b.logs.includes("clientLost: Client 101 lost; 1 request(s) stopped"));
  assert.equal(b.s.stats().clients, 0);
});

Deno.test("Scheduler logs a request's duration rounded to the millisecond", () => {
  const b = new Bench();
  b.join(1);
  b.now = 1000.1;
  b.request(100, "msg", 0n, 10n);
  b.now = 1172.0426000000003;
  b.answer(1);
  const done = b.logs.find((l) => l.startsWith("requestDone"));
  assert.match(done ?? "", /^requestDone: Request 1 done after 172 ms: \d+ \d+$/);
});

Deno.test("Scheduler closes a client whose Request has Lower > Upper and carries on", () => {
  const b = new Bench();
  b.join(1);
  b.request(100, "good", 0n, 100n);
  b.send(101, '{"Type":1,"Data":"bad","Lower":10,"Upper":9,"Hash":0,"Nonce":0}');
  assert.deepEqual(b.closes, [101]);
  assert.equal(b.s.stats().requestsRejected, 1);
  b.request(101, "after close", 0n, 5n); // late message on the closing connection: dropped
  b.s.handleEvent({ type: "closed", connId: 101 }, b.now);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("good", 0n, 100n))]);
  assert.equal(b.toClient.get(101), undefined);
  assert.equal(b.chunks.filter((c) => c.m.data !== "good").length, 0);
});

Deno.test("Scheduler closes a client whose Data is too long to forward", () => {
  const b = new Bench();
  b.join(1);
  // Fits in the client's Request with Upper 9, but not in a chunk up to 2^64 − 1.
  const data = "x".repeat(910);
  b.send(100, `{"Type":1,"Data":"${data}","Upper":18446744073709551615}`);
  assert.deepEqual(b.closes, [100]);
  b.send(101, `{"Type":1,"Data":"${data}","Upper":9}`);
  assert.deepEqual(b.closes, [100]);
  b.runAll();
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin(data, 0n, 9n))]);
});

const HOSTILE = [
  "",
  "not json",
  "null",
  "[1,2,3]",
  '{"Type":2,"Hash":-1,"Nonce":0}',
  '{"Type":2,"Hash":1.5,"Nonce":0}',
  '{"Type":2,"Hash":18446744073709551616}',
  '{"Type":1,"Data":5,"Upper":10}',
  '{"Type":1,"Lower":"0","Upper":10}',
  '{"Type":9}',
  '{"Type":"1"}',
  '{"Type":3,"Upper":5,"Searched":2}',
  "\u0000\u0001\u0002",
  "{".repeat(500),
];

Deno.test("Scheduler logs and drops malformed or hostile JSON from clients and miners", () => {
  const b = new Bench();
  b.join(1);
  b.request(100, "msg", 0n, 3000n);
  const before = b.chunks.length;
  for (const bad of HOSTILE) {
    b.send(1, bad); // from the miner
    b.send(100, bad); // from the client
    b.send(200, bad); // from a connection without a role
  }
  b.send(1, new Uint8Array(5000));
  assert.equal(b.chunks.length, before);
  assert.deepEqual(b.closes, []);
  assert.equal(b.s.stats().messagesDropped, HOSTILE.length * 3 + 1);
  assert.ok(b.logs.filter((l) => l.startsWith("badMessage")).length >= HOSTILE.length * 2);
  b.runAll();
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 3000n))]);
});

Deno.test("Scheduler drops messages a connection's role may not send", () => {
  const b = new Bench();
  b.join(1);
  b.send(1, encodeMessage(joinMessage())); // a second Join
  b.send(1, encodeMessage(requestMessage("x", 0n, 5n))); // a Request from a miner
  b.request(100, "msg", 0n, 5n);
  b.send(100, encodeMessage(joinMessage())); // a Join from a client
  assert.equal(b.s.stats().messagesDropped, 3);
  assert.equal(b.s.minerCount, 1);
  assert.equal(b.chunks.filter((c) => c.m.data === "x").length, 0);
  b.runAll();
  assert.equal(b.results(100).length, 1);
});

Deno.test("Scheduler sizes chunks from each miner's measured speed, within bounds", () => {
  const b = new Bench({
    minChunkNonces: 1000,
    maxChunkNonces: 50_000,
    targetChunkMillis: 100,
    pipelineDepth: 1,
    maxCopies: 0,
  });
  b.join(1);
  b.join(2);
  b.request(100, "msg", 0n, 10_000_000n);
  const size = (id: number) => {
    const m = b.held.get(id)![0];
    return Number(m.upper - m.lower + 1n);
  };
  assert.equal(size(1), 1000);
  for (let i = 0; i < 5; i++) {
    b.now += 2; // miner 1: 1000 nonces in 2 ms and faster: capped at maxChunkNonces
    b.answer(1);
  }
  assert.equal(size(1), 50_000);
  b.now += 10_000; // miner 2: 1000 nonces in 10 s: below the minimum
  b.answer(2);
  assert.equal(size(2), 1000);
  assert.equal(b.s.stats().chunksCompleted, 6);
});

Deno.test("Scheduler gives a small request arriving after a huge one the next free slots", () => {
  const b = new Bench({ ...SMALL, starvationEvery: 0, maxCopies: 0 });
  b.join(1);
  b.join(2);
  b.request(100, "huge", 0n, 10n ** 12n);
  b.request(101, "small", 0n, 2999n);
  assert.ok(b.chunks.every((c) => c.m.data === "huge"));
  b.now += 10;
  b.answer(1);
  b.answer(2);
  const last = b.chunks.slice(-2).map((c) => c.m.data);
  assert.deepEqual(last, ["small", "small"]);
  for (let i = 0; i < 3 && b.results(101).length === 0; i++) {
    b.now += 10;
    b.answer(1);
    b.answer(2);
  }
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("small", 0n, 2999n))]);
  assert.equal(b.results(100).length, 0);
});

Deno.test("Scheduler serves equal requests in arrival order", () => {
  const b = new Bench({ ...SMALL, maxCopies: 0 });
  b.join(1);
  b.join(2);
  for (let c = 0; c < 6; c++) b.request(100 + c, `req${c}`, 0n, 4999n);
  const finished: number[] = [];
  for (let round = 0; round < 100 && finished.length < 6; round++) {
    b.now += 10;
    for (const id of [1, 2]) if (b.held.get(id)!.length > 0) b.answer(id);
    for (let c = 0; c < 6; c++) {
      if (b.results(100 + c).length > 0 && !finished.includes(c)) finished.push(c);
    }
  }
  assert.deepEqual(finished, [0, 1, 2, 3, 4, 5]);
});

Deno.test("Scheduler gives every fifth chunk to the oldest request", () => {
  const b = new Bench({ ...SMALL, starvationEvery: 5, pipelineDepth: 1, maxCopies: 0 });
  b.join(1);
  b.request(100, "old", 0n, 10n ** 9n);
  b.answer(1); // some progress on the old request
  for (let c = 0; c < 20; c++) b.request(200 + c, `new${c}`, 0n, 999n);
  for (let i = 0; i < 20; i++) b.answer(1);
  const order = b.chunks.map((c) => (c.m.data === "old" ? "O" : "n")).join("");
  assert.equal(order.slice(0, 2), "OO");
  // After the first two, every fifth dispatch goes to the old request.
  assert.equal(order.slice(2), "nnOnnnnOnnnnOnnnnOnn");
});

Deno.test("Scheduler answers a client's requests in the order it sent them", () => {
  const b = new Bench({ ...SMALL, starvationEvery: 0 });
  b.join(1);
  b.request(100, "long", 0n, 20_000n);
  b.request(100, "short", 0n, 10n);
  b.runAll();
  assert.deepEqual(b.results(100), [
    resultMessage(...bruteMin("long", 0n, 20_000n)),
    resultMessage(...bruteMin("short", 0n, 10n)),
  ]);
});

Deno.test("Scheduler sends Progress only to clients that asked, at most once per interval", () => {
  const b = new Bench({ ...SMALL, progressIntervalMillis: 1000, maxCopies: 0 });
  b.join(1);
  b.request(100, "quiet", 0n, 30_000n);
  b.request(101, "chatty", 0n, 30_000n, true);
  for (let i = 0; i < 200 && b.s.requestCount > 0; i++) {
    b.now += 300;
    b.answer(1);
  }
  assert.equal(b.s.requestCount, 0);
  assert.deepEqual(b.toClient.get(100)!.map((m) => m.type), ["result"]);
  const chatty = b.toClient.get(101)!;
  assert.equal(chatty.at(-1)!.type, "result");
  const progress = chatty.filter((m) => m.type === "progress");
  assert.ok(progress.length >= 2, `${progress.length} progress messages`);
  let lastSearched = 0n;
  for (const p of progress) {
    assert.ok(p.type === "progress" && p.upper === 30_000n && p.searched > lastSearched);
    assert.ok(p.searched < 30_001n);
    lastSearched = p.searched;
  }
  assert.equal(b.s.stats().progressSent, progress.length);
});

Deno.test("Scheduler serves a request for the whole uint64 range lazily until its client goes", () => {
  const b = new Bench({ ...SMALL, maxChunkNonces: 1_000_000_000 });
  b.join(1);
  b.join(2);
  b.request(100, "forever", 0n, MAX_UINT64);
  for (let i = 0; i < 50; i++) {
    b.now += 5;
    b.answer(1);
    b.answer(2);
  }
  const highest = b.chunks.reduce((m, c) => (c.m.upper > m ? c.m.upper : m), 0n);
  assert.ok(highest < 10n ** 12n && b.chunks.length === 104);
  b.lose(100);
  const sent = b.chunks.length;
  for (let i = 0; i < 2; i++) {
    b.answer(1);
    b.answer(2);
  }
  assert.equal(b.chunks.length, sent);
  assert.equal(b.s.stats().resultsIgnored, 4);
  // The last nonce is reachable: a request at the very top of the range completes.
  b.request(101, "top", MAX_UINT64 - 2500n, MAX_UINT64);
  b.runAll();
  assert.deepEqual(b.results(101), [
    resultMessage(...bruteMin("top", MAX_UINT64 - 2500n, MAX_UINT64)),
  ]);
});

Deno.test("Scheduler copies a late chunk to an idle miner and counts the first Result", () => {
  const b = new Bench({ ...SMALL, pipelineDepth: 1, maxCopies: 1 });
  b.join(1);
  b.request(100, "msg", 0n, 999n);
  assert.equal(b.s.nextTimeout(), undefined);
  b.join(2); // idle, nothing to hand out: a timer for when miner 1's chunk is late
  const due = b.s.nextTimeout();
  assert.equal(due, 0 + 2 * 100 + 100); // start + twice the (target) time + target
  b.now = due! - 1;
  b.s.handleTimeout(b.now);
  b.drain();
  assert.equal(b.held.get(2)!.length, 0);
  b.now = due!;
  b.s.handleTimeout(b.now);
  b.drain();
  assert.deepEqual(b.held.get(2)!.map((m) => [m.lower, m.upper]), [[0n, 999n]]);
  assert.equal(b.s.stats().chunksCopied, 1);
  assert.equal(b.s.nextTimeout(), undefined);
  b.answer(2);
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 999n))]);
  b.answer(1); // the straggler's answer is consumed and ignored
  assert.equal(b.results(100).length, 1);
  assert.equal(b.s.stats().resultsIgnored, 1);
});

Deno.test("Scheduler copies a chunk at once to an idle miner that would finish it much sooner", () => {
  const b = new Bench({ ...SMALL, pipelineDepth: 1, maxCopies: 1 });
  b.join(1);
  b.join(2);
  b.request(100, "msg", 0n, 1999n);
  assert.deepEqual(b.held.get(2)!.map((m) => [m.lower, m.upper]), [[1000n, 1999n]]);
  assert.equal(b.s.stats().chunksCopied, 0, "no copy while both speeds are unknown");
  b.now = 1;
  b.answer(1); // 1000 nonces per ms: 1 ms for miner 2's chunk, expected to take 100 ms there
  assert.deepEqual(b.held.get(1)!.map((m) => [m.lower, m.upper]), [[1000n, 1999n]]);
  assert.equal(b.s.stats().chunksCopied, 1);
  b.now = 2;
  b.answer(1);
  assert.deepEqual(b.results(100), [resultMessage(...bruteMin("msg", 0n, 1999n))]);
  b.now = 5000;
  b.answer(2);
  assert.equal(b.results(100).length, 1);
  assert.equal(b.s.stats().resultsIgnored, 1);
  // Miner 2 is now known to be slow: a chunk on the fast miner is never copied to it.
  b.request(101, "next", 0n, 999n);
  assert.equal(b.held.get(1)!.length + b.held.get(2)!.length, 1);
  assert.equal(b.s.stats().chunksCopied, 1);
});

Deno.test("Scheduler copies a late chunk of an urgent request even while other work waits", () => {
  const b = new Bench({ ...SMALL, pipelineDepth: 1, maxCopies: 1, starvationEvery: 0 });
  b.join(1);
  b.join(2);
  b.request(100, "huge", 0n, 10n ** 9n);
  b.now = 10;
  b.answer(1); // miner 1 takes the next chunk of the huge request
  b.request(101, "small", 0n, 999n); // waits for a free slot
  b.now = 20;
  b.answer(2); // miner 2 takes all of the small request: expected done by 40, late at 160
  assert.deepEqual(b.held.get(2)!.map((m) => m.data), ["small"]);
  b.now = 200; // miner 2 is silent (a stalled connection); miner 1 frees its slot
  b.answer(1);
  assert.deepEqual(b.held.get(1)!.map((m) => [m.data, m.lower, m.upper]), [["small", 0n, 999n]]);
  assert.equal(b.s.stats().chunksCopied, 1);
  b.answer(1);
  assert.deepEqual(b.results(101), [resultMessage(...bruteMin("small", 0n, 999n))]);
  assert.equal(b.held.get(1)![0].data, "huge", "then back to the huge request");
});

Deno.test("Scheduler still copies late chunks when the anti-starvation slot comes up", () => {
  for (let warmup = 0; warmup < 5; warmup++) {
    const b = new Bench({ ...SMALL, pipelineDepth: 1, maxCopies: 1, starvationEvery: 5 });
    b.join(1);
    for (let i = 0; i < warmup; i++) { // move the dispatch counter along
      b.request(200 + i, `warm${i}`, 0n, 999n);
      b.answer(1);
    }
    b.request(100, "msg", 0n, 999n);
    b.join(2); // idle, unknown speed: copies miner 1's chunk once it is late
    b.now = b.s.nextTimeout()!;
    b.s.handleTimeout(b.now);
    b.drain();
    assert.equal(b.held.get(2)!.length, 1, `after ${warmup} warm-up chunks`);
  }
});

// ---------------------------------------------------------------------------------------------
// Model-based: random interleavings of joins, requests, answers, losses and garbage.

type Op =
  | { op: "join" }
  | { op: "request"; size: number; lower: number }
  | { op: "answer"; pick: number; wait: number }
  | { op: "loseMiner"; pick: number }
  | { op: "loseClient"; pick: number }
  | { op: "garbage"; pick: number; text: string }
  | { op: "timeout"; wait: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ op: "join" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("request" as const),
      size: fc.integer({ min: 1, max: 6000 }),
      lower: fc.integer({ min: 0, max: 1_000_000 }),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant("answer" as const),
      pick: fc.nat(),
      wait: fc.integer({ min: 0, max: 500 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("loseMiner" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("loseClient" as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("garbage" as const),
      pick: fc.nat(),
      text: fc.oneof(fc.string(), fc.constantFrom(...HOSTILE)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("timeout" as const),
      wait: fc.integer({ min: 0, max: 2000 }),
    }),
  },
);

Deno.test("Scheduler keeps miners busy, answers exactly and never serves the dead, for any interleaving", () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { minLength: 20, maxLength: 150, size: "max" }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 0, max: 2 }),
      (ops, pipelineDepth, maxCopies) => {
        const b = new Bench({ ...SMALL, pipelineDepth, maxCopies, targetChunkMillis: 50 });
        let nextId = 1;
        const clients = new Map<number, { data: string; lo: bigint; hi: bigint }>();
        const lostAt = new Map<string, number>(); // data of a lost client's request → when
        const heardAtLoss = new Map<number, number>(); // lost client → messages it had got
        const check = () => {
          assert.ok(
            b.s.waitingRequestCount === 0 || b.s.freeSlots === 0,
            "a miner has a free slot while work waits",
          );
          for (const c of b.chunks) {
            const lost = lostAt.get(c.m.data);
            assert.ok(lost === undefined || c.at <= lost, "a lost client's work was handed out");
          }
        };
        for (const o of ops) {
          switch (o.op) {
            case "join":
              b.join(nextId++);
              break;
            case "request": {
              const id = nextId++;
              const data = `r${id}`;
              const lo = BigInt(o.lower), hi = lo + BigInt(o.size) - 1n;
              clients.set(id, { data, lo, hi });
              b.request(id, data, lo, hi);
              break;
            }
            case "answer": {
              const busy = [...b.held].filter(([, l]) => l.length > 0).map(([id]) => id);
              if (busy.length === 0) break;
              b.now += o.wait;
              b.answer(busy[o.pick % busy.length]);
              break;
            }
            case "loseMiner": {
              const ids = [...b.miners];
              if (ids.length > 0) b.lose(ids[o.pick % ids.length]);
              break;
            }
            case "loseClient": {
              const ids = [...clients.keys()];
              if (ids.length === 0) break;
              const id = ids[o.pick % ids.length];
              lostAt.set(clients.get(id)!.data, b.now);
              heardAtLoss.set(id, b.toClient.get(id)?.length ?? 0);
              clients.delete(id);
              b.s.handleLost(id, b.now);
              b.drain();
              break;
            }
            case "garbage": {
              const ids = [...b.miners, ...clients.keys()];
              if (ids.length > 0) b.send(ids[o.pick % ids.length], o.text);
              break;
            }
            case "timeout": {
              b.now += o.wait;
              const due = b.s.nextTimeout();
              if (due !== undefined && due <= b.now) {
                b.s.handleTimeout(b.now);
                b.drain();
                const after = b.s.nextTimeout();
                assert.ok(after === undefined || after > b.now, "the timer did not move");
              }
              break;
            }
          }
          check();
        }
        // Liveness: with a miner present, every live request finishes, exactly.
        if (b.miners.size === 0) b.join(nextId++);
        for (let i = 0; i < 10_000 && b.s.requestCount > 0; i++) {
          const busy = [...b.held].filter(([, l]) => l.length > 0).map(([id]) => id);
          if (busy.length === 0) {
            b.now = b.s.nextTimeout() ?? b.now + 1;
            b.s.handleTimeout(b.now);
            b.drain();
            continue;
          }
          b.now += 10;
          b.answer(busy[0]);
          check();
        }
        assert.equal(b.s.requestCount, 0);
        for (const [id, { data, lo, hi }] of clients) {
          assert.deepEqual(b.results(id), [resultMessage(...bruteMin(data, lo, hi))], data);
        }
        for (const [id, heard] of heardAtLoss) {
          assert.equal(b.toClient.get(id)?.length ?? 0, heard, "a lost client got a message");
        }
      },
    ),
    { numRuns: 60 },
  );
});
