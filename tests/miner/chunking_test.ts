/**
 * Chunk sizing (`src/miner/chunking.ts`): the tail's finish-together share and the growth cap.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  chunkNonces,
  finishTime,
  type MinerLoad,
  resolveChunking,
  SpeedEstimate,
} from "../../src/miner/chunking.ts";

const load = fc.record({
  noncesPerMilli: fc.double({ min: 1, max: 1e6, noNaN: true }),
  freeAt: fc.double({ min: 0, max: 1e6, noNaN: true }),
});

/** Nonces the fleet searches by `at` from when each miner is free. */
const doneBy = (fleet: MinerLoad[], at: number) =>
  fleet.reduce((sum, m) => sum + m.noncesPerMilli * Math.max(0, at - m.freeAt), 0);

Deno.test("finishTime() is when the fleet, each miner from when it is free, has searched the rest", () => {
  fc.assert(
    fc.property(fc.array(load, { minLength: 1, maxLength: 8 }), fc.nat(1e12), (fleet, left) => {
      const at = finishTime(left, fleet);
      const earliest = Math.min(...fleet.map((m) => m.freeAt));
      // Rounding: relative to the sums the water level is computed from.
      const scale = left + fleet.reduce((sum, m) => sum + m.noncesPerMilli * m.freeAt, 0);
      assert.ok(at >= earliest * (1 - 1e-12), `${at} < ${earliest}`);
      const done = doneBy(fleet, at);
      assert.ok(Math.abs(done - left) <= 1e-9 * scale + 1e-6, `${done} vs ${left}`);
    }),
    { numRuns: 2000 },
  );
  assert.equal(finishTime(10, [{ noncesPerMilli: 0, freeAt: 0 }]), Infinity);
});

Deno.test("chunkNonces() gives half a miner's finish-together share of the tail, counting what miners hold", () => {
  const chunking = resolveChunking({ targetChunkMillis: 4000 });
  const speed = new SpeedEstimate();
  speed.record(14_000_000, 1000); // 14,000 nonces per ms
  // Two equal miners, 28M nonces left (1 s of the fleet's work): the other one is busy for
  // another 800 ms. Sharing to finish together: this one 1.4 s, the other 0.6 s; half of 1.4 s
  // now. (The rule before gave half the fleet's time, 0.5 s, whatever the other held: this
  // miner then ran dry while the other finished its big chunk.)
  const fleet = [
    { noncesPerMilli: 14_000, freeAt: 0 },
    { noncesPerMilli: 14_000, freeAt: 800 },
  ];
  assert.equal(chunkNonces(speed, chunking, { leftNonces: 28e6, freeAt: 0, fleet }), 9_800_000);
  // The busy one's share is 600 ms: half of it is under the floor, an eighth of the target.
  assert.equal(chunkNonces(speed, chunking, { leftNonces: 28e6, freeAt: 800, fleet }), 7_000_000);
  // Busy until the free one is done with all of it: the minimum.
  assert.equal(
    chunkNonces(speed, chunking, {
      leftNonces: 14e6,
      freeAt: 1000,
      fleet: [fleet[0], { ...fleet[1], freeAt: 1000 }],
    }),
    10_000,
  );
  // Far from the end: the target (4 s of its work).
  assert.equal(chunkNonces(speed, chunking, { leftNonces: 1e12, freeAt: 0, fleet }), 56_000_000);
});

Deno.test("chunkNonces() grows a miner's chunks at most 32-fold over the largest it answered", () => {
  const chunking = resolveChunking({ targetChunkMillis: 4000 });
  const speed = new SpeedEstimate();
  assert.equal(chunkNonces(speed, chunking), 1_000_000); // unknown speed: the first chunk
  speed.record(10_000, 5); // 2,000 nonces per ms: 4 s would be 8M nonces
  assert.equal(chunkNonces(speed, chunking), 320_000);
  speed.record(320_000, 32); // 10,000 per ms: 4 s would be 40M
  assert.equal(chunkNonces(speed, chunking), 10_240_000);
  speed.record(5_000_000, 500); // a big sample: 4 s of 10,000 per ms
  assert.equal(chunkNonces(speed, chunking), 40_000_000);
});
