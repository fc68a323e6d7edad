/**
 * A BitClone network as a seeded swarm scenario (`deno task sim`): 8 to 20 peers on one /16 or
 * on many address groups, joining one after another through a predecessor, over stream links
 * whose delay and chunking come from the seed; one or two peers crash mid-run (their streams are
 * reset) and come back later from their saved address book. After the churn every running peer
 * must know every other peer's address, and hold at most target + 1 established connections.
 * Throws when a property fails.
 */
import { knownCount, simPeerAddresses, SimPeers } from "./_sim_peers.ts";
import { Prng } from "../../src/util/prng.ts";

const TARGET = 5;

/**
 * Runs the network scenario for one seed.
 *
 * @returns A trace of what every peer knew and held at the end, and a summary.
 */
export function bitcloneNetworkScenario(seed: number): { trace: string; summary: string } {
  const draw = Prng.seeded(-7 - seed);
  const n = draw.int(8, 20);
  const lab = draw.chance(0.5);
  const addresses = lab
    ? Array.from({ length: n }, (_, i) => `10.77.${i >> 8}.${(i & 255) + 1}:8333`)
    : simPeerAddresses(n);
  const sim = new SimPeers({
    seed,
    links: { delayMs: [1, draw.int(5, 120)], chunkBytesMax: draw.int(1, 512) },
    nodeDefaults: { targetPeers: TARGET },
  });
  sim.start(addresses[0]);
  for (let i = 1; i < n; i++) {
    sim.startAt(i * draw.int(50, 2000), addresses[i], { manualPeers: [addresses[i - 1]] });
  }
  sim.run(n * 2000 + 60_000);
  const victims = draw.shuffle(addresses.slice(1)).slice(0, draw.int(1, 2));
  for (const v of victims) sim.host(v).crash();
  sim.run(draw.int(30_000, 120_000));
  for (const v of victims) sim.restart(v, { manualPeers: [] });
  const describe = () =>
    sim.live().map((h) => {
      const s = h.node.status();
      return `${h.address} in ${s.inbound} out ${s.outbound} knows ${knownCount(h, addresses)}`;
    }).join("\n");
  const everyoneKnows = () =>
    sim.live().length === n && sim.live().every((h) => knownCount(h, addresses) === n - 1);
  const at = sim.runUntil(everyoneKnows, 10 * 60_000, 1_000);
  if (at === undefined) {
    throw new Error(`not every peer knows all ${n - 1} others after the churn:\n${describe()}`);
  }
  sim.run(90_000); // past the trim delay: the counts settle back to the target
  for (const h of sim.live()) {
    const s = h.node.status();
    if (s.inbound + s.outbound > TARGET + 1) {
      throw new Error(`${h.address} holds ${s.inbound + s.outbound} connections:\n${describe()}`);
    }
  }
  return {
    trace: describe(),
    summary: `${n} peers (${lab ? "one /16" : "many groups"}), ${victims.length} crashed, ` +
      `all known by ${Math.round(at / 1000)} s`,
  };
}
