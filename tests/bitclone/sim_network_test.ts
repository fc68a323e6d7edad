/**
 * BitClone PeerNodes on simulated TCP links (SimNet, via `_sim_peers.ts`): a 50-peer network
 * seeded from one address must converge within a few gossip rounds, a crashed peer must leave
 * everyone's active set after 90 virtual seconds, a cleanly stopped one at once, and both must
 * reconnect from their saved file alone.
 *
 * Replay one seed: SIM_SEED=<n> deno test --allow-read --allow-env tests/bitclone/sim_network_test.ts
 */
import assert from "node:assert/strict";
import { replayHint, simSeeds } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";
import { knownCount, simPeerAddresses, type SimPeerHost, SimPeers } from "./_sim_peers.ts";

const N = 50;
const TARGET = 5;
const MIN_OUTBOUND = 2;
const GOSSIP_ROUND_MS = 30_000;
const COMMAND = "deno test --allow-read --allow-env tests/bitclone/sim_network_test.ts";

interface Knowledge {
  /** The least any node knows, as a share of the other addresses. */
  min: number;
  /** The mean share. */
  mean: number;
  /** The share of nodes that know at least 90 % of the other addresses. */
  at90: number;
}

function knowledge(sim: SimPeers, addresses: readonly string[]): Knowledge {
  const shares = sim.live().map((h) => knownCount(h, addresses) / (addresses.length - 1));
  return {
    min: Math.min(...shares),
    mean: shares.reduce((a, b) => a + b, 0) / shares.length,
    at90: shares.filter((s) => s >= 0.9).length / shares.length,
  };
}

function atTarget(h: SimPeerHost): boolean {
  const s = h.node.status();
  return s.inbound + s.outbound >= TARGET && s.outbound >= MIN_OUTBOUND &&
    s.inbound + s.outbound + s.pending <= 12;
}

/**
 * Converged: every node at its target, and the network knows almost every address. The keyed
 * 2-peer relay of spec §C.6 and the one-slot-per-address new table of §C.7 leave a few gaps at a
 * few nodes in a static network (measured over 40 seeds: mean ≥ 98.6 %, ≥ 96 % of the nodes at
 * ≥ 90 %, the worst node at 84–96 %), hence three bounds instead of "every node ≥ 90 %".
 */
function converged(sim: SimPeers, addresses: readonly string[]): boolean {
  const live = sim.live();
  if (live.length !== addresses.length || !live.every(atTarget)) return false;
  const k = knowledge(sim, addresses);
  return k.mean >= 0.97 && k.at90 >= 0.9 && k.min >= 0.8;
}

function describe(sim: SimPeers, addresses: readonly string[]): string {
  const k = knowledge(sim, addresses);
  const rows = sim.live().map((h) => {
    const s = h.node.status();
    return `${h.address} in ${s.inbound} out ${s.outbound} pending ${s.pending} knows ${
      knownCount(h, addresses)
    }`;
  });
  return `at ${sim.now} ms: knowledge min ${k.min.toFixed(2)} mean ${k.mean.toFixed(3)} ` +
    `≥90%: ${k.at90.toFixed(2)}\n${rows.join("\n")}`;
}

/** Builds the network: the seed node first, the others within `staggerMs`, each told the seed. */
function network(seed: number, staggerMs: number) {
  const shape = Prng.seeded(seed ^ 0x5eed);
  const sim = new SimPeers({
    seed,
    links: { delayMs: [1, shape.int(5, 80)], chunkBytesMax: shape.int(16, 1460) },
  });
  const addresses = simPeerAddresses(N);
  sim.start(addresses[0]);
  for (const a of addresses.slice(1)) {
    sim.startAt(staggerMs === 0 ? 0 : shape.int(0, staggerMs), a, { manualPeers: [addresses[0]] });
  }
  return { sim, addresses, shape };
}

for (const seed of simSeeds([1, 2, 3])) {
  Deno.test(`PeerNode network of 50 seeded from one address converges, drops a crashed peer in 90 s and reconnects restarted peers from their saved file (seed ${seed})`, () => {
    const { sim, addresses, shape } = network(seed, 5_000);
    const hint = (what: string) =>
      `${what}\n${replayHint(seed, COMMAND)}\n${describe(sim, addresses)}`;

    // 1. Convergence within a few gossip rounds.
    const at = sim.runUntil(() => converged(sim, addresses), 8 * GOSSIP_ROUND_MS, 1_000);
    assert.ok(at !== undefined, hint("no convergence in 8 gossip rounds"));
    assert.ok(at <= 6 * GOSSIP_ROUND_MS, hint(`converged only at ${at} ms`));
    for (const h of sim.live()) {
      assert.equal(h.node.addressBook.get(h.address), undefined, `${h.address} stores itself`);
      assert.ok(h.logCounts.get("connected outbound")! >= 1, h.address);
    }

    // Let everyone save at least once, then crash one peer (silently) and stop another cleanly.
    sim.run(2 * 60_000);
    assert.ok(sim.live().every((h) => h.saves >= 1), hint("no periodic save"));
    const others = addresses.slice(1);
    const crashed = sim.host(others.splice(shape.int(0, others.length - 1), 1)[0]);
    const stopped = sim.host(others[shape.int(0, others.length - 1)]);
    const holders = (h: SimPeerHost) => sim.live().filter((x) => x.peers().includes(h.address));
    assert.ok(holders(crashed).length >= 1 && holders(stopped).length >= 1);
    const crashedNeighbours = holders(crashed);
    const tc = sim.now;
    crashed.crash();
    stopped.stop();
    const finalSave = stopped.lastSave;
    assert.ok(finalSave !== undefined && finalSave.length >= 10, "the clean stop saves the book");

    // 2a. The cleanly stopped peer is dropped at once (its connections were closed).
    sim.run(1_000);
    assert.deepEqual(holders(stopped).map((h) => h.address), [], hint("stopped peer still held"));

    // 2b. The crashed one is only noticed by silence: still held after 55 s, gone after 90 s.
    sim.run(tc + 55_000 - sim.now);
    assert.ok(holders(crashed).length >= 1, hint("a crashed peer cannot be noticed before 60 s"));
    sim.run(tc + 90_000 + 1 - sim.now);
    assert.deepEqual(
      holders(crashed).map((h) => h.address),
      [],
      hint(`${crashed.address} still in an active set 90 s after its crash`),
    );
    // Each former neighbour logged the drop with its reason: inactivity, or (at a full peer) an
    // eviction that came first.
    const reasons = crashedNeighbours.filter((x) => x !== stopped).map((h) => {
      const line = h.drops.find((l) =>
        Number(l.split(" ")[0]) >= tc && l.includes(` ${crashed.address}: `)
      );
      assert.ok(line !== undefined, `${h.address} logs dropping ${crashed.address}`);
      return line.split(`${crashed.address}: `)[1];
    });
    assert.ok(reasons.some((r) => r.startsWith("no line for 9")), JSON.stringify(reasons));
    // (The drop mark itself may already be gone: a neighbour that had not yet noticed the crash
    // advertised the peer as established, which is newer evidence per spec §A.7.)

    // 3. Both restart from their saved file alone (no manual peers) and reconnect.
    sim.run(10_000);
    const crashSave = crashed.lastSave;
    assert.ok(crashSave !== undefined && crashSave.length >= 10, "periodic save before the crash");
    const restarted = [
      sim.restart(crashed.address, { manualPeers: [] }),
      sim.restart(stopped.address, { manualPeers: [] }),
    ];
    const back = sim.runUntil(() => restarted.every(atTarget), 60_000, 500);
    assert.ok(back !== undefined, hint("a restarted peer did not reconnect within 60 s"));
    for (const [i, h] of restarted.entries()) {
      const saved = new Set((i === 0 ? crashSave : finalSave).map((p) => p.address));
      const firstOut = h.logs.find((l) => l.includes("info connected outbound"));
      assert.ok(firstOut !== undefined, h.address);
      const first = firstOut.split("connected outbound ")[1].split(" ")[0];
      assert.ok(saved.has(first), `${h.address} first reconnected to ${first}, not in its file`);
      assert.ok(h.logs.some((l) => /starting: 0 manual peers, \d+ saved addresses/.test(l)));
    }
    // The network is whole again. (Trimming to the target, spec §A.8.1, moves a connection now
    // and then, and its peer is one short until it dials again: look for an instant.)
    sim.run(60_000);
    const whole = sim.runUntil(() => sim.live().every(atTarget), 120_000, 500);
    assert.ok(whole !== undefined, hint("not every peer back at its target"));
  });
}

Deno.test("PeerNode network of 50 started at the same instant converges through busy back-off (seed 7)", () => {
  const { sim, addresses } = network(7, 0);
  const at = sim.runUntil(() => converged(sim, addresses), 10 * GOSSIP_ROUND_MS, 1_000);
  assert.ok(at !== undefined, `${replayHint(7, COMMAND)}\n${describe(sim, addresses)}`);
  // The seed could take only 10 at first; the others were told 503 and came back later, and the
  // seed trimmed its connections back to the target (spec §A.8.1).
  const seedHost = sim.host(addresses[0]);
  assert.ok(seedHost.drops.some((l) => l.includes("over the target of 5 connections")));
  assert.ok(
    sim.live().some((h) => h.logs.some((l) => l.includes("reject from 10.0.0.1:8333: 503"))),
  );
});

Deno.test("PeerNode network gives the same run twice for one seed", () => {
  const run = (seed: number) => {
    const sim = new SimPeers({ seed });
    const addresses = simPeerAddresses(8);
    sim.start(addresses[0]);
    for (const a of addresses.slice(1)) sim.start(a, { manualPeers: [addresses[0]] });
    sim.run(90_000);
    return JSON.stringify([...sim.hosts.values()].map((h) => [h.logs, h.node.status()]));
  };
  assert.equal(run(4), run(4));
  assert.notEqual(run(4), run(5));
});
