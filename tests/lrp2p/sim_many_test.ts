/**
 * 100 LRP2P connections at once on one server socket: from 100 client endpoints, and from 5
 * endpoints with 20 connections each, over a slightly lossy network. Every transfer arrives intact
 * in both directions and every connection closes cleanly, with the default backlog of 16 (it
 * counts half-open handshakes too): the clients turned away come back at jittered times.
 */
import assert from "node:assert/strict";
import { addPeer, EventLog, sameBytes, simLrp, Transfer } from "./_sim_lrp.ts";

function many(seed: number, clients: number, perClient: number): void {
  const { net, peers, prng } = simLrp(seed, clients, { delayMs: [1, 30], dropRate: 0.02 });
  const server = addPeer(net, seed + 1000, "10.0.1.1:7000");
  const cs = [...peers];
  peers.push(server);
  const log = new EventLog(peers.map((p) => p.ep));
  const up = new Map<bigint, Transfer>(); // client → server, by connId (the same on both sides)
  const down = new Map<bigint, Transfer>();
  const owner = new Map<bigint, (typeof cs)[number]>();
  for (const c of cs) {
    for (let i = 0; i < perClient; i++) owner.set(c.ep.connect(server.addr, net.now), c);
  }
  const total = clients * perClient;
  assert.equal(owner.size, total);
  let maxUnaccepted = 0;
  const end = net.runWhile(() => {
    for (let id = server.ep.accept(); id !== undefined; id = server.ep.accept()) {
      const c = owner.get(id);
      assert.ok(c, "accepted an unknown connection");
      up.set(id, new Transfer(c.ep, id, server.ep, id, prng.bytes(prng.int(1, 8000)), true));
      down.set(id, new Transfer(server.ep, id, c.ep, id, prng.bytes(prng.int(1, 8000)), true));
    }
    maxUnaccepted = Math.max(maxUnaccepted, server.ep.size - up.size);
    for (const t of up.values()) t.step(net.now);
    for (const t of down.values()) t.step(net.now);
    let closed = 0;
    for (const [id, c] of owner) {
      if (log.closed(c.ep, id) && log.closed(server.ep, id)) closed++;
    }
    return closed < total;
  }, { maxTime: 300_000 });
  assert.equal(end, "done", `${up.size}/${total} accepted at ${net.now} ms`);
  assert.equal(up.size, total);
  for (const [id, c] of owner) {
    assert.ok(sameBytes(up.get(id)!.received(), up.get(id)!.data), `up ${id}`);
    assert.ok(sameBytes(down.get(id)!.received(), down.get(id)!.data), `down ${id}`);
    assert.equal(log.closed(c.ep, id)!.error, undefined);
    assert.equal(log.closed(server.ep, id)!.error, undefined);
  }
  assert.ok(maxUnaccepted <= 100, `${maxUnaccepted} unaccepted`);
  net.runWhile(() => peers.some((p) => p.ep.size > 0), { maxTime: net.now + 60_000 });
  for (const p of peers) assert.equal(p.ep.nextTimeout(), undefined);
}

Deno.test("lrp2p sim: 100 client endpoints, one server socket", () => {
  many(1, 100, 1);
});

Deno.test("lrp2p sim: 5 endpoints with 20 connections each, one server socket", () => {
  many(2, 5, 20);
});
