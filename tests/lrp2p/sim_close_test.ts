/**
 * Closing LRP2P connections in every state (spec §8.4): during the handshake (initiator in hello,
 * responder waiting), with data in flight, after the peer closed, both at once, and abort. Every
 * close ends with `closed` events on both sides (clean or with a reason) and, once everything is
 * closed and has lingered, no connection and no timer is left. Then the idle timeout and the
 * keepalive, with shortened timings.
 */
import assert from "node:assert/strict";
import type { SimNet } from "../../src/sim/mod.ts";
import {
  EventLog,
  forSeeds,
  openPair,
  sameBytes,
  simLrp,
  type SimPeer,
  Transfer,
} from "./_sim_lrp.ts";

/** Runs until no connection is held; then no timer may be left. */
function drainsToNothing(net: SimNet, peers: SimPeer[]): void {
  const end = net.runWhile(() => peers.some((p) => p.ep.size > 0), { maxTime: net.now + 120_000 });
  assert.equal(end, "done", `still held: ${peers.map((p) => p.ep.size)}`);
  for (const p of peers) assert.equal(p.ep.nextTimeout(), undefined);
  assert.equal(net.runWhile(() => true, { maxTime: net.now + 600_000 }), "idle");
}

const LINK = { delayMs: [2, 20] as const, dropRate: 0.05, dupRate: 0.02 };

Deno.test("lrp2p close: the initiator closes while its message 1 is unanswered", () => {
  const { net, peers } = simLrp(1, 2, { ...LINK, dropRate: 0 });
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  const id = a.ep.connect(b.addr, net.now);
  a.ep.close(id, net.now);
  assert.deepEqual(log.closed(a.ep, id), { type: "closed", connId: id, error: undefined });
  drainsToNothing(net, peers); // b's half-open connection expires unreported
  assert.equal(b.ep.accept(), undefined);
  assert.deepEqual(log.events.get(b.ep), []);
});

Deno.test("lrp2p close: the responder closes while waiting for message 3", () => {
  const { net, peers } = simLrp(2, 2, { delayMs: [2, 4] });
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  net.setMiddlebox((p) => (p.bytes.length === 72 ? "drop" : undefined)); // every message 3
  const id = a.ep.connect(b.addr, net.now);
  net.runWhile(() => b.ep.conn(id)?.state !== "waiting" || a.ep.conn(id)?.state !== "open");
  b.ep.close(id, net.now); // the application never saw it: nothing reported
  a.ep.write(id, new Uint8Array(1000), net.now);
  net.runWhile(() => !log.closed(a.ep, id), { maxTime: net.now + 200_000 });
  assert.ok(log.closed(a.ep, id)?.error, "a reports the dead connection with a reason");
  drainsToNothing(net, peers);
  assert.deepEqual(log.events.get(b.ep), []);
});

/** Opens a pair over `LINK` for `seed`, returns what the close tests need. */
function pair(seed: number) {
  const { net, peers, prng } = simLrp(seed, 2, LINK);
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  const { idA, idB } = openPair(net, a, b);
  assert.ok(idB !== undefined, "no connection");
  return { net, peers, prng, a, b, log, idA, idB };
}

Deno.test("lrp2p close: with data in flight, after the peer closed, both at once (20 seeds)", () => {
  forSeeds(20, (seed) => {
    for (const order of ["in-flight", "after-peer", "both"] as const) {
      const { net, peers, prng, a, b, log, idA, idB } = pair(seed);
      const ab = new Transfer(a.ep, idA, b.ep, idB, prng.bytes(60_000), true); // close at once
      const ba = new Transfer(b.ep, idB, a.ep, idA, prng.bytes(order === "both" ? 30_000 : 0));
      let bClosed = false;
      const end = net.runWhile(() => {
        ab.step(net.now);
        ba.step(net.now);
        const closeB = order === "both" || (order === "after-peer" ? ab.eof : ab.complete);
        if (closeB && !bClosed && ba.sent === ba.data.length) {
          bClosed = true;
          b.ep.close(idB, net.now);
        }
        return !(log.closed(a.ep, idA) && log.closed(b.ep, idB));
      }, { maxTime: net.now + 300_000 });
      const what = `${order}: ${ab.gotBytes} and ${ba.gotBytes} at ${net.now}`;
      assert.equal(end, "done", what);
      assert.equal(log.closed(a.ep, idA)!.error, undefined, what);
      assert.equal(log.closed(b.ep, idB)!.error, undefined, what);
      assert.ok(sameBytes(ab.received(), ab.data), what);
      ba.step(net.now);
      assert.ok(sameBytes(ba.received(), ba.data), what);
      drainsToNothing(net, peers);
    }
  });
});

Deno.test("lrp2p close: abort ends it at once; the peer ends with the idle timeout", () => {
  const { net, peers, a, b, log, idA, idB } = pair(3);
  a.ep.write(idA, new Uint8Array(10_000), net.now);
  net.runUntil(net.now + 5);
  a.ep.abort(idA, net.now);
  assert.equal(log.closed(a.ep, idA)?.error, "aborted");
  assert.equal(a.ep.size, 0);
  net.runWhile(() => !log.closed(b.ep, idB), { maxTime: net.now + 200_000 });
  assert.equal(log.closed(b.ep, idB)?.error, "idle timeout");
  drainsToNothing(net, peers);
});

const SHORT = { keepaliveMs: 500, idleMs: 2000 };

Deno.test("lrp2p idle: a connection without data stays open through keepalives", () => {
  const { net, peers } = simLrp(5, 2, { delayMs: [5, 10], dropRate: 0.1 }, { timings: SHORT });
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  const { idA, idB } = openPair(net, a, b);
  assert.ok(idB !== undefined);
  net.runUntil(net.now + 60_000); // 30 idle timeouts long
  assert.equal(a.ep.conn(idA)?.state, "open");
  assert.equal(b.ep.conn(idB)?.state, "open");
  assert.equal(log.closed(a.ep, idA), undefined);
  // then the peer goes silent: both end with "idle timeout"
  net.setMiddlebox(() => "drop");
  const t0 = net.now;
  net.runWhile(() => !(log.closed(a.ep, idA) && log.closed(b.ep, idB)));
  assert.equal(log.closed(a.ep, idA)?.error, "idle timeout");
  assert.equal(log.closed(b.ep, idB)?.error, "idle timeout");
  assert.ok(net.now - t0 <= SHORT.idleMs + 100, `ended ${net.now - t0} ms after the cut`);
  drainsToNothing(net, peers);
});

Deno.test("lrp2p idle: a peer that vanishes ends the connection with idle timeout", () => {
  const { net, peers } = simLrp(6, 2, { delayMs: [5, 10] }, { timings: SHORT });
  const [a, b] = peers;
  const log = new EventLog([a.ep]);
  const { idA } = openPair(net, a, b);
  net.remove(b.addr);
  net.runWhile(() => !log.closed(a.ep, idA), { maxTime: net.now + 60_000 });
  assert.equal(log.closed(a.ep, idA)?.error, "idle timeout");
  drainsToNothing(net, [a]);
});
