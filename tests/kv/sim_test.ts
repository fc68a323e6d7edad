/**
 * Deterministic simulation of the key-value store (spec `kv.md` §6): our nodes on `SimNet` with
 * simulated disks, clients, loss, duplication, reordering, delay, corruption, partitions and
 * crashes with restarts from disk. Every failure names its seed.
 *
 * Replay one seed: KV_SIM_SEED=<n> deno test --config tests/deno.json --allow-read --allow-env tests/kv/sim_test.ts
 * More random seeds: KV_SIM_RUNS=<count> (same command).
 *
 * @module
 */

import assert from "node:assert/strict";
import { compareVersions } from "../../src/kv/version.ts";
import { FAST_TIMINGS, kvSeeds, KvSim, range } from "./_sim_kv.ts";
import { check, KV_REPLAY, partitionCrashScenario, snapshot } from "./_sim_scenarios.ts";

Deno.test("16 nodes converge on the greatest acknowledged version of every key after writes on every node", () => {
  for (const seed of kvSeeds([1, 2])) {
    const sim = new KvSim({
      seed,
      nodes: 16,
      link: { dropRate: 0.05, dupRate: 0.02, delayMs: [1, 30] },
      node: FAST_TIMINGS,
    });
    const p = sim.prng;
    let writes = 0;
    for (const n of sim.nodes) {
      for (const key of [`own-${n.name}`, `shared-${p.int(0, 4)}`]) {
        const value = `w${writes++}`;
        sim.net.clock.setTimer(p.int(0, 3000), () => sim.set(n, key, value));
      }
    }
    sim.runUntil(3000);
    const settled = sim.settle(60_000);
    check(sim, settled, KV_REPLAY);
    assert.equal(sim.acked.length, writes, `seed ${seed}: every write is acknowledged`);
    const maxAcked = new Map<string, (typeof sim.acked)[number]>();
    for (const a of sim.acked) {
      const m = maxAcked.get(a.key);
      if (m === undefined || compareVersions(a.version, m.version) > 0) maxAcked.set(a.key, a);
    }
    const want = [...maxAcked.values()]
      .map((a) => `${a.key}=${a.value}@${a.version.clock}/${a.version.origin}`).sort().join();
    for (const n of sim.nodes) assert.equal(snapshot(n), want, `${n.name}, seed ${seed}`);
  }
});

Deno.test("partitions, crashes and faults: every node ends with the greatest durable (and acknowledged) version of every key, 1,000 seeds", () => {
  const seeds = kvSeeds(range(1, 1000));
  const failures: string[] = [];
  for (const seed of seeds) {
    try {
      partitionCrashScenario(seed);
    } catch (err) {
      failures.push((err as Error).message);
      if (failures.length >= 3) break;
    }
  }
  assert.equal(failures.length, 0, `${failures.length} seeds failed; first:\n${failures[0]}`);
});

/**
 * One node cut off from the others takes writes, crashes at a random moment and restarts from
 * its disk alone: it must still hold every write it acknowledged. Returns what went wrong.
 */
function crashRestartRun(seed: number, ackBeforeDurable: boolean): string[] {
  const sim = new KvSim({
    seed,
    nodes: 3,
    link: { delayMs: [1, 10] },
    node: FAST_TIMINGS,
    diskDelayMs: [5, 120],
    ackBeforeDurable,
  });
  const p = sim.prng, net = sim.net;
  const [x, ...others] = sim.nodes;
  sim.partition([x], others);
  for (let i = 0; i < 30; i++) {
    net.clock.setTimer(p.int(0, 2000), () => x.up && sim.set(x, `k${p.int(0, 5)}`, `w${i}`));
  }
  const crashAt = p.int(200, 2000);
  net.clock.setTimer(crashAt, () => x.crash());
  sim.runUntil(crashAt + 1);
  const acked = [...sim.acked];
  x.start();
  const problems: string[] = [];
  for (const a of acked) {
    const got = x.node.get(a.key);
    if (got === undefined || compareVersions(got, a.version) < 0) {
      problems.push(`lost ${a.key}=${a.value}@${a.version.clock} acknowledged at ${a.at}ms`);
    }
  }
  sim.heal();
  const settled = sim.settle(30_000);
  try {
    check(sim, settled, KV_REPLAY);
  } catch (err) {
    problems.push((err as Error).message.split("\n")[0]);
  }
  return problems;
}

Deno.test("no acknowledged write is lost when its node crashes and restarts from its disk", () => {
  for (const seed of kvSeeds(range(1, 200))) {
    const problems = crashRestartRun(seed, false);
    assert.deepEqual(problems, [], `seed ${seed}\nreplay: KV_SIM_SEED=${seed} ${KV_REPLAY}`);
  }
});

Deno.test("the crash check catches a disk that acknowledges before the write is durable", () => {
  let caught = 0;
  for (const seed of range(1, 40)) {
    if (crashRestartRun(seed, true).some((p) => p.startsWith("lost "))) caught++;
  }
  assert.ok(caught > 0, "a disk that lies was never caught");
});

Deno.test("a power cut of every node at once loses no acknowledged write", () => {
  for (const seed of kvSeeds(range(1, 100))) {
    const sim = new KvSim({ seed, nodes: 4, link: { delayMs: [1, 40] }, node: FAST_TIMINGS });
    const p = sim.prng, net = sim.net;
    for (let i = 0; i < 20; i++) {
      net.clock.setTimer(p.int(0, 1500), () => {
        const up = sim.nodes.filter((n) => n.up);
        if (up.length > 0) sim.set(p.pick(up), `k${p.int(0, 3)}`, `w${i}`);
      });
    }
    const cut = p.int(300, 1500);
    net.clock.setTimer(cut, () => sim.nodes.forEach((n) => n.crash()));
    net.clock.setTimer(cut + p.int(10, 500), () => sim.nodes.forEach((n) => n.start()));
    sim.runUntil(2000);
    check(sim, sim.settle(30_000), KV_REPLAY);
  }
});
