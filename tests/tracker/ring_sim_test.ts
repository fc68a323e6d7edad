/**
 * The Part 2 ring in the deterministic simulator (stream links that re-chunk every message at
 * random points and delay each chunk, virtual time, the original timers: PING every 20 s, 5 s
 * timeouts, one QUERY per 2 s): the scenario of `_ring_scenario.ts` over fixed seeds, and a
 * scripted case. Seeds: SIM_SEED / SIM_RUNS (see src/sim/harness_deno.ts).
 */
import assert from "node:assert/strict";
import { SimNet, simSeeds } from "../../src/sim/mod.ts";
import type { RingPeer } from "../../src/tracker/ring/peer.ts";
import { RingTracker } from "../../src/tracker/ring/tracker.ts";
import { Prng } from "../../src/util/prng.ts";
import { SimTcpHost } from "./_ring_sim.ts";
import { addPeer, healed, ringScenario, TRACKER_IP, type World } from "./_ring_scenario.ts";

for (const seed of simSeeds([1, 2, 3, 4, 5, 0xbeef])) {
  Deno.test(`RingTracker and RingPeer: a ring of five converges, loses one and heals (seed ${seed})`, () => {
    ringScenario(seed);
  });
}

Deno.test("RingTracker in the simulator drops a crashed peer after one round with dropAfterFailures 1", () => {
  const net = new SimNet({
    prng: Prng.seeded(9),
    defaults: { delayMs: [1, 5] },
  });
  const w: World = { net, peers: [], log: [], tracker: undefined! };
  w.tracker = new SimTcpHost(
    net,
    TRACKER_IP,
    7777,
    new RingTracker(0, { dropAfterFailures: 1 }),
  );
  for (const [i, handle] of ["a", "b", "c"].entries()) {
    addPeer(w, handle, i, 10 * i);
  }
  net.runUntil(15_000);
  assert.ok(healed(w));
  w.peers[1].crash();
  net.runUntil(20_100);
  assert.deepEqual((w.tracker.core as RingTracker).peers.map((p) => p.handle), [
    "a",
    "c",
  ]);
  assert.ok(healed(w), "c now queries a");
  w.peers[2].crash();
  net.runUntil(40_200);
  assert.deepEqual((w.tracker.core as RingTracker).peers.map((p) => p.handle), [
    "a",
  ]);
  assert.deepEqual(
    (w.peers[0].core as RingPeer).neighbour?.handle,
    "a",
    "alone: its own neighbour (F8)",
  );
});
