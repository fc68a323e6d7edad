/**
 * Hostile input on the simulator: a flood of Handshakes with distinct names does not grow the
 * member table past its capacity, and garbage datagrams and TCP messages never throw (any throw
 * escapes the simulator's run and fails the test) nor stop the node from serving.
 *
 * Replay one seed: KV_SIM_SEED=<n> deno test --config tests/deno.json --allow-read --allow-env tests/kv/sim_bounded_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeMessage } from "../../src/kv/codec.ts";
import type { Prng } from "../../src/util/prng.ts";
import { FAST_TIMINGS, kvSeeds, KvSim } from "./_sim_kv.ts";
import { check } from "./_sim_scenarios.ts";

const REPLAY =
  "deno test --config tests/deno.json --allow-read --allow-env tests/kv/sim_bounded_test.ts";
const te = new TextEncoder();

Deno.test("a flood of Handshakes with distinct names keeps the member table within its capacity", () => {
  for (const seed of kvSeeds([1, 2, 3])) {
    const capacity = 16;
    const sim = new KvSim({ seed, nodes: 2, node: { ...FAST_TIMINGS, capacity } });
    const [a, b] = sim.nodes;
    let most = 0;
    for (let i = 0; i < 600; i++) {
      const src = `10.0.${3 + (i >> 8)}.${i & 255}:8888`;
      const flood = sim.net.bind(src, () => {});
      sim.net.clock.setTimer(i * 10, () => {
        // nobody serves these addresses: each member goes dead and may be evicted for a newer one
        const hs = { type: "Handshake" as const, nodeName: `flood-${i}`, tcpAddress: src };
        flood.send(a.udp, encodeMessage({ ...hs, kvExt: 1, boot: i }));
        flood.send(a.udp, encodeMessage({ ...hs, nodeName: "" })); // a legacy one per IP
        most = Math.max(most, a.node.members().length);
      });
    }
    sim.runUntil(6000);
    const hint = `seed ${seed}\nreplay: KV_SIM_SEED=${seed} ${REPLAY}`;
    most = Math.max(most, a.node.members().length);
    assert.ok(most <= capacity, `${most} members over ${capacity}; ${hint}`);
    assert.equal(a.node.members().length, capacity, hint);
    sim.set(a, "k", "after the flood");
    sim.runUntil(sim.net.now + 100);
    assert.equal(sim.acked.length, 1, `the node still takes writes; ${hint}`);
    // once the flood has gone dead, a real node is let in again and replicates
    sim.runUntil(sim.net.now + 30_000);
    assert.ok(a.node.members().some((m) => m.name === b.name && m.state === "alive"), hint);
    check(sim, sim.settle(30_000), REPLAY);
  }
});

function garbage(p: Prng): Uint8Array {
  const valid = [
    '{"Handshake":{"node_name":"ts-x","tcp_address":"10.0.9.9:9000","kv_ext":1,"boot":1}}',
    '{"Setvalue":{"key":"g","value":"v"}}',
    '{"Getvalue":{"key":"g"}}',
    '{"Sync":{"key":"g","value":"s","clock":1099511627776,"origin":"ts-evil"}}',
    '{"Sync":{"key":"g","value":"s","clock":-1,"origin":""}}',
    '"SyncAll"',
    '{"SyncAll":{}}',
    '{"Members":{}}',
    '"Heartbeat"',
  ];
  switch (p.int(0, 5)) {
    case 0:
      return p.bytes(p.int(0, 300));
    case 1: {
      const v = te.encode(p.pick(valid));
      return v.subarray(0, p.int(0, v.length)); // truncated
    }
    case 2: {
      const v = te.encode(p.pick(valid)).slice();
      for (let i = p.int(1, 4); i > 0; i--) v[p.int(0, v.length - 1)] = p.int(0, 255);
      return v; // corrupted
    }
    case 3:
      return te.encode(p.pick(valid) + " ".repeat(p.int(900, 70_000))); // long
    case 4:
      return te.encode(p.pick(valid) + p.pick(valid)); // two values
    default:
      return te.encode("[".repeat(p.int(1, 5000)));
  }
}

Deno.test("garbage datagrams and TCP messages never throw and never stop the node", () => {
  for (const seed of kvSeeds([1, 2, 3, 4, 5, 6, 7, 8])) {
    const sim = new KvSim({
      seed,
      nodes: 3,
      link: { delayMs: [1, 20], chunkBytesMax: 97 },
      node: FAST_TIMINGS,
    });
    const p = sim.prng, net = sim.net;
    const junk = net.bind("10.0.4.1:8888", () => {});
    for (let i = 0; i < 300; i++) {
      net.clock.setTimer(p.int(0, 4000), () => {
        const n = p.pick(sim.nodes);
        if (p.chance(0.5)) junk.send(n.udp, garbage(p));
        else sim.request_(n.tcp, garbage(p), () => {});
      });
    }
    for (let i = 0; i < 10; i++) {
      net.clock.setTimer(p.int(0, 4000), () => sim.set(p.pick(sim.nodes), `k${i % 3}`, `w${i}`));
    }
    sim.runUntil(4500);
    const hint = `seed ${seed}\nreplay: KV_SIM_SEED=${seed} ${REPLAY}`;
    assert.equal(sim.acked.length, 10, `every real write was acknowledged; ${hint}`);
    const dropped = sim.nodes.reduce(
      (n, x) => n + x.node.stats.datagramsDropped + x.node.stats.requestsDropped,
      0,
    );
    assert.ok(dropped > 0, `the garbage was seen and dropped; ${hint}`);
    check(sim, sim.settle(30_000), REPLAY);
  }
});
