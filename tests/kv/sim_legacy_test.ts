/**
 * Our nodes beside models of the original Rust node (`legacy_model.ts`) on the simulator:
 * writes flow both ways, the original's hard-coded address (D1) is handled by the contact-address
 * rule (§6.2), and nothing our nodes send ever makes an original exit or panic.
 *
 * Replay one seed: KV_SIM_SEED=<n> deno test --config tests/deno.json --allow-read --allow-env tests/kv/sim_legacy_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import { FAST_TIMINGS, kvSeeds, KvSim, range } from "./_sim_kv.ts";
import { check } from "./_sim_scenarios.ts";
import { LEGACY_ADVERTISE, LegacyNode } from "./legacy_model.ts";

const REPLAY =
  "deno test --config tests/deno.json --allow-read --allow-env tests/kv/sim_legacy_test.ts";

/**
 * 3 of our nodes and 1–2 originals; clients write on both kinds; datagrams are lost and
 * duplicated (streams never lose bytes; one fixed delay keeps pushes in order, so the last Sync an
 * original gets is the newest). With `crashes`, our nodes crash and restart.
 */
function legacyRun(seed: number, crashes: boolean) {
  const setup = KvSim.setupPrng(seed);
  const legacy = setup.int(1, 2);
  const d = setup.int(1, 20);
  const link = {
    dropRate: setup.float() * 0.1,
    dupRate: setup.float() * 0.05,
    delayMs: [d, d] as const,
    chunkBytesMax: setup.pick([1, 7, 64, 1460]),
  };
  const sim = new KvSim({ seed, nodes: 3, legacy, link, node: FAST_TIMINGS });
  const p = sim.prng, net = sim.net;
  const legacyWrites = new Map<string, string>(); // key → last acknowledged value
  for (let i = 0; i < 12; i++) {
    const key = `ts-${p.int(0, 2)}`, value = `t${i}`;
    net.clock.setTimer(p.int(500, 6000), () => {
      const up = sim.nodes.filter((n) => n.up);
      if (up.length > 0) sim.set(p.pick(up), key, value);
    });
  }
  sim.legacy.forEach((l, j) => {
    for (let i = 0; i < 4; i++) {
      const key = `legacy${j}-${p.int(0, 1)}`, value = `l${j}.${i}`;
      net.clock.setTimer(2000 + 1200 * i, () => {
        if (l.node.exited !== undefined || l.node.peers.size === 0) return;
        sim.request(l.tcp, { type: "Setvalue", key, value }, (r) => {
          if (r.ok && r.message.type === "ValueResponse") legacyWrites.set(key, value);
        });
      });
    }
  });
  if (crashes) {
    for (let i = p.int(1, 3); i > 0; i--) {
      const n = p.pick(sim.nodes), at = p.int(500, 6000);
      net.clock.setTimer(at, () => n.up && n.crash());
      net.clock.setTimer(at + p.int(10, 1500), () => n.up || n.start());
    }
  }
  sim.runUntil(7500);
  for (const n of sim.nodes) if (!n.up) n.start();
  net.setDefaults({ dropRate: 0, dupRate: 0 });
  const settled = sim.settle(60_000);
  sim.runUntil(net.now + 12_000); // an original announces every 5 s; let late pushes land
  return { sim, settled, legacyWrites };
}

function exits(sim: KvSim): string[] {
  return sim.legacy.map((l) => l.node.exited).filter((e): e is string => e !== undefined);
}

Deno.test("writes flow between our nodes and originals both ways, and no original ever exits", () => {
  let fromLegacy = 0;
  const seeds = kvSeeds(range(1, 40));
  for (const seed of seeds) {
    const hint = `seed ${seed}\nreplay: KV_SIM_SEED=${seed} ${REPLAY}`;
    const { sim, settled, legacyWrites } = legacyRun(seed, false);
    assert.deepEqual(exits(sim), [], hint);
    check(sim, settled, REPLAY);
    for (const l of sim.legacy) {
      assert.equal(l.node.panics, 0, `an original could not parse a request; ${hint}`);
      // our nodes reach the original at its real address, not the one it advertises (D1)
      for (const n of sim.nodes) {
        const m = n.node.members().find((m) => m.name === "" && m.address === l.tcp);
        assert.ok(m !== undefined && m.state === "alive", `${n.name} knows ${l.tcp}; ${hint}`);
      }
      // every entry of ours reached the original (plain Syncs)
      for (const [key, e] of sim.durableMax) {
        assert.equal(l.node.store.get(key), e.value, `${l.ip} has ${key}; ${hint}`);
      }
    }
    // every acknowledged write on an original reached all our nodes (its one-hop Sync)
    for (const [key, value] of legacyWrites) {
      fromLegacy++;
      for (const n of sim.nodes) assert.equal(n.node.get(key)?.value, value, `${key}; ${hint}`);
    }
  }
  if (seeds.length > 1) assert.ok(fromLegacy > 0, "no write on an original was acknowledged");
});

Deno.test("with our nodes crashing, an original only ever exits for a heartbeat to a node that was down (D4)", () => {
  let exited = 0;
  const seeds = kvSeeds(range(1, 40));
  for (const seed of seeds) {
    const hint = `seed ${seed}\nreplay: KV_SIM_SEED=${seed} ${REPLAY}`;
    const { sim, settled } = legacyRun(seed, true);
    for (const reason of exits(sim)) {
      exited++;
      assert.match(
        reason,
        /^heartbeat to 10\.0\.0\.\d:9000 failed: (refused|reset)$/,
        `${reason}; ${hint}`,
      );
    }
    for (const l of sim.legacy) assert.equal(l.node.panics, 0, hint);
    check(sim, settled, REPLAY);
  }
  if (seeds.length > 1) {
    assert.ok(exited > 0, "D4 never happened: the crash runs do not test what they claim");
  }
});

Deno.test("the legacy model exits on a bad datagram and on a refused heartbeat, as the original", () => {
  const net = new KvSim({ seed: 1, nodes: 0, legacy: 1 });
  const l = net.legacy[0];
  assert.equal(LEGACY_ADVERTISE, "192.168.177.20:9000");
  const hs = (name: string, addr: string) =>
    new TextEncoder().encode(`{"Handshake":{"node_name":"${name}","tcp_address":"${addr}"}}`);
  const probe = net.net.bind("10.0.0.9:8888", () => {});
  probe.send(l.udp, hs("", "10.0.0.9:9000")); // its own name: ignored
  probe.send(l.udp, hs("x", "10.0.0.9:9000")); // nobody listens there
  net.runUntil(4000);
  assert.equal(l.node.exited, undefined);
  assert.equal(l.node.tasks.length, 1);
  net.runUntil(6000);
  assert.match(l.node.exited ?? "", /^heartbeat to 10\.0\.0\.9:9000 failed/);
  const other = new LegacyNode({ broadcast: [] });
  other.handleDatagram("10.0.0.9:8888", new TextEncoder().encode('{"Heartbeat":[]}'), 0);
  assert.match(other.exited ?? "", /^bad datagram/);
});
