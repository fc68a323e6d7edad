/**
 * Seeded scenarios of the key-value store on the simulator (not a test file): used by
 * `sim_test.ts` over many seeds and by the swarm (`deno task sim`, `protocol_scenarios.ts`).
 *
 * @module
 */

import { swarmLinkOptions } from "../../src/sim/mod.ts";
import { compareVersions } from "../../src/kv/version.ts";
import { FAST_TIMINGS, KvSim, type SimKvNode } from "./_sim_kv.ts";

/** What a scenario run leaves behind (as the swarm's scenarios). */
export interface KvScenarioOutcome {
  readonly trace: string;
  readonly summary: string;
}

/** The command that replays one seed of the kv simulation tests. */
export const KV_REPLAY =
  "deno test --config tests/deno.json --allow-read --allow-env tests/kv/sim_test.ts";

const KEYS = ["a", "b", "c", "d"];

/**
 * 3–5 nodes under loss, duplication, reordering, delay and corruption drawn from the seed, with
 * client writes on every side of random partitions and random crashes (restarts from the simulated
 * disk); then the faults stop, every node is up, and within a bound every node must hold, for
 * every key, the greatest version that reached any disk — which is never below any acknowledged
 * write. Throws with the seed and how to replay it.
 *
 * @example One seed
 * ```ts
 * import { partitionCrashScenario } from "./_sim_scenarios.ts";
 * import assert from "node:assert/strict";
 * assert.match(partitionCrashScenario(7).summary, /acknowledged/);
 * ```
 */
export function partitionCrashScenario(
  seed: number,
  options: { replay?: string; traceLimit?: number } = {},
): KvScenarioOutcome {
  const { replay = KV_REPLAY, traceLimit } = options;
  const setup = KvSim.setupPrng(seed);
  const nodes = setup.int(3, 5);
  const link = swarmLinkOptions(setup, { delayMsMax: 80, corruptRateMax: 0.03 });
  const sim = new KvSim({ seed, nodes, link, node: FAST_TIMINGS, traceLimit });
  const net = sim.net;
  const chaosMs = 6000;
  const p = sim.prng;
  const writes = p.int(4, 24);
  let crashes = 0, partitions = 0;
  for (let i = 0; i < writes; i++) {
    net.clock.setTimer(p.int(0, chaosMs), () => {
      const up = sim.nodes.filter((n) => n.up);
      if (up.length > 0) sim.set(p.pick(up), p.pick(KEYS), `w${i}`);
    });
  }
  for (let i = p.int(0, 2); i > 0; i--) {
    const at = p.int(0, chaosMs - 500), length = p.int(300, 3000);
    const order = p.shuffle([...sim.nodes]);
    const cut = p.int(1, order.length - 1);
    net.clock.setTimer(at, () => {
      partitions++;
      sim.partition(order.slice(0, cut), order.slice(cut));
    });
    net.clock.setTimer(Math.min(at + length, chaosMs), () => sim.heal());
  }
  for (let i = p.chance(0.3) ? 0 : p.int(1, 3); i > 0; i--) {
    const at = p.int(0, chaosMs), n = p.pick(sim.nodes), down = p.int(50, 2000);
    net.clock.setTimer(at, () => {
      if (!n.up) return;
      crashes++;
      n.crash();
      net.clock.setTimer(Math.min(at + down, chaosMs), () => n.up || n.start());
    });
  }
  for (let i = p.int(0, 6); i > 0; i--) {
    net.clock.setTimer(p.int(0, chaosMs), () => {
      const n = p.pick(sim.nodes);
      sim.request(n.tcp, { type: "Getvalue", key: p.pick(KEYS) }, (r) => {
        if (r.ok && r.message.type !== "ValueResponse") {
          sim.violations.push(`${n.name} answered a Getvalue with ${r.message.type}`);
        }
      });
    });
  }
  sim.runUntil(chaosMs);
  // the faults stop; every node runs
  sim.heal();
  net.setDefaults({ dropRate: 0, dupRate: 0, corruptRate: 0 });
  for (const n of sim.nodes) if (!n.up) n.start();
  const settled = sim.settle(60_000);
  check(sim, settled, replay);
  const s = net.stats;
  return {
    trace: net.formatTrace(),
    summary: `${nodes} nodes, ${writes} writes (${sim.acked.length} acknowledged), ` +
      `${partitions} partitions, ${crashes} crashes, ${s.drop} lost, ${s.dup} dups, ` +
      `${s.corrupt} corrupted, settled at ${net.now.toFixed(0)}ms`,
  };
}

/**
 * Throws unless the run converged on the greatest durable versions, with no lost ack. `replay`:
 * see {@linkcode KvSim.failure}.
 */
export function check(sim: KvSim, settled: boolean, replay: string): void {
  if (sim.violations.length > 0) throw new Error(sim.failure("a property broke", replay));
  if (!settled) throw new Error(sim.failure("the nodes did not converge", replay));
  for (const a of sim.acked) {
    for (const n of sim.nodes) {
      const got = n.node.get(a.key);
      if (got === undefined || compareVersions(got, a.version) < 0) {
        throw new Error(sim.failure(`${n.name} lost the acknowledged ${a.key}=${a.value}`, replay));
      }
    }
  }
}

/** Every node's entries, for comparisons. */
export function snapshot(n: SimKvNode): string {
  return n.node.entries().map((e) => `${e.key}=${e.value}@${e.clock}/${e.origin}`).sort().join();
}
