/**
 * BitClone PeerNodes on simulated TCP links in lab shapes the address book must survive (spec
 * §C.7 "no loss below capacity"): ten peers in a chain on one address range (127.0.0.1, one /16)
 * must each come to know all nine others and keep them across a restart from the saved file;
 * with `targetPeers` 5 no node may hold more than 6 established connections (target + 1 while the
 * 60 s trim of spec §A.8.1 waits) nor be left without one; and a lab in one /16 (10.1.x.y), each
 * machine booting within 30 s with 3 random others in its saved book, settles with every peer
 * knowing every other address exactly (whole-book `getaddr` answers and the address refresh).
 *
 * The lab has 300 peers in the suite (about 10 s); SIM_LAB_PEERS=1000 runs the lab of 1,000
 * (about 2 minutes of CPU time, 2.7 GB of memory).
 *
 * Replay one seed: SIM_SEED=<n> deno test --allow-read --allow-env tests/bitclone/sim_lab_test.ts
 */
import assert from "node:assert/strict";
import { readEnv, replayHint, simSeeds } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";
import { knownCount, SIM_UNIX_MS_AT_ZERO, simPeerAddresses, SimPeers } from "./_sim_peers.ts";

const COMMAND = "deno test --allow-read --allow-env tests/bitclone/sim_lab_test.ts";
const TARGET = 5;

function chain(seed: number, addresses: readonly string[]): SimPeers {
  const sim = new SimPeers({ seed });
  sim.start(addresses[0]);
  for (let i = 1; i < addresses.length; i++) {
    sim.startAt(i * 200, addresses[i], { manualPeers: [addresses[i - 1]] });
  }
  return sim;
}

const RANGES: [string, string[]][] = [
  ["127.0.0.1", Array.from({ length: 10 }, (_, i) => `127.0.0.1:${8001 + i}`)],
  ["10.9.0.0/16", Array.from({ length: 10 }, (_, i) => `10.9.0.${i + 1}:8333`)],
];

for (const seed of simSeeds([1, 2, 3])) {
  for (const [range, addresses] of RANGES) {
    Deno.test(`PeerNode chain of ten on ${range}: every peer learns all nine others and reloads them (seed ${seed})`, () => {
      const sim = chain(seed, addresses);
      const describe = () =>
        `${replayHint(seed, COMMAND)}\n` + sim.live().map((h) => {
          const s = h.node.status();
          return `${h.address} in ${s.inbound} out ${s.outbound} knows ${knownCount(h, addresses)}`;
        }).join("\n");
      const all = () =>
        sim.live().length === 10 && sim.live().every((h) => knownCount(h, addresses) === 9);
      const at = sim.runUntil(all, 5 * 60_000, 1_000);
      assert.ok(at !== undefined, `not every peer knows all nine others:\n${describe()}`);
      // Gossip keeps going: nothing is lost later either.
      sim.run(3 * 60_000);
      assert.ok(all(), `an address was lost:\n${describe()}`);
      // A restart under a fresh book key reloads every saved address.
      const victim = sim.host(addresses[4]);
      victim.stop();
      const saved = victim.lastSave!.map((p) => p.address).filter((a) => addresses.includes(a));
      assert.equal(saved.length, 9, `saved ${saved.join(", ")}`);
      const again = sim.restart(victim.address, { manualPeers: [] });
      assert.equal(knownCount(again, addresses), 9, describe());
      assert.ok(again.logs.some((l) => l.includes("starting: 0 manual peers, 9 saved addresses")));
      assert.ok(!again.logs.some((l) => l.includes("entries skipped")), again.logs.join("\n"));
    });
  }
}

for (const seed of simSeeds([1, 2])) {
  for (const lab of [false, true]) {
    const shape = lab ? "one /16" : "many groups";
    Deno.test(`PeerNode network of 50 on ${shape} with target 5 holds at most 6 connections per peer and isolates none (seed ${seed})`, () => {
      const addresses = lab
        ? Array.from({ length: 50 }, (_, i) => `10.9.0.${i + 1}:8333`)
        : simPeerAddresses(50);
      const sim = chain(seed, addresses);
      sim.run(3 * 60_000); // start-up: everyone joins through its predecessor
      let max = 0, min = Infinity, sum = 0, samples = 0;
      const worst: string[] = [];
      for (let t = 0; t < 300; t++) {
        sim.run(1_000);
        for (const h of sim.live()) {
          const s = h.node.status();
          const total = s.inbound + s.outbound;
          if (total > TARGET + 1 || total < 1) worst.push(`${sim.now} ${h.address} ${total}`);
          max = Math.max(max, total);
          min = Math.min(min, total);
          sum += total;
          samples++;
        }
      }
      const mean = sum / samples;
      const summary = `${replayHint(seed, COMMAND)}\nmax ${max} min ${min} mean ${mean.toFixed(2)}`;
      assert.equal(sim.live().length, 50);
      assert.deepEqual(worst.slice(0, 20), [], summary);
      assert.ok(mean <= TARGET + 0.5, summary); // without the trim: 7.4–7.7
      assert.ok(
        sim.live().some((h) => h.logs.some((l) => l.includes("over the target of 5 connections"))),
        "the trim ran",
      );
    });
  }
}

const LAB_PEERS = Number(readEnv("SIM_LAB_PEERS") ?? 300);
/** Virtual time the lab may take to settle (it takes 3–5 minutes). */
const LAB_SETTLE_MS = 10 * 60_000;

for (const seed of simSeeds([1])) {
  Deno.test(
    `PeerNode lab of ${LAB_PEERS} in one /16, 3 saved addresses each: every peer learns all ${
      LAB_PEERS - 1
    } others (seed ${seed})`,
    () => {
      // One /16 fills at most 2,048 slots of a book (spec §C.7): a lab of up to 2,000 fits.
      assert.ok(
        Number.isSafeInteger(LAB_PEERS) && LAB_PEERS >= 10 && LAB_PEERS <= 2000,
        "SIM_LAB_PEERS",
      );
      const addresses = Array.from(
        { length: LAB_PEERS },
        (_, i) => `10.1.${(i + 1) >> 8}.${(i + 1) & 255}:8333`,
      );
      // Large segments: the lab is about gossip, not framing (the other tests chunk at 512 bytes).
      const sim = new SimPeers({ seed, links: { chunkBytesMax: 65_536 }, logLimit: 20 });
      const prng = Prng.seeded(seed);
      const lastSeen = Math.floor(SIM_UNIX_MS_AT_ZERO / 1000) - 3600;
      for (let i = 0; i < LAB_PEERS; i++) {
        const seeds = new Set<string>();
        while (seeds.size < 3) {
          const j = prng.int(0, LAB_PEERS - 1);
          if (j !== i) seeds.add(addresses[j]);
        }
        sim.startAt(prng.int(0, 30_000), addresses[i], {
          savedPeers: [...seeds].map((address) => ({ address, lastSeen })),
          statusIntervalMs: Infinity,
        });
      }
      const counts = () => sim.live().map((h) => knownCount(h, addresses));
      const all = () =>
        sim.live().length === LAB_PEERS && counts().every((k) => k === LAB_PEERS - 1);
      const describe = () => {
        const ks = counts().sort((a, b) => a - b);
        const mean = ks.reduce((a, b) => a + b, 0) / Math.max(1, ks.length);
        const short = ks.filter((k) => k < LAB_PEERS - 1).length;
        return `${replayHint(seed, COMMAND)}\n${ks.length} peers, at ${sim.now} ms: least ${
          ks[0]
        }, mean ${mean.toFixed(1)}, ${short} short of ${LAB_PEERS - 1}`;
      };
      const at = sim.runUntil(all, LAB_SETTLE_MS, 10_000);
      assert.ok(at !== undefined, `the lab did not settle:\n${describe()}`);
      // Settled stays settled.
      sim.run(60_000);
      assert.ok(all(), `an address was lost:\n${describe()}`);
    },
  );
}
