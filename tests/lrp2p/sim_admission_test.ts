/**
 * LRP2P admission (spec §8.1, L7, L13, L16): a flood of message 1 datagrams (40 bytes, random
 * connIds) from many source IPs is answered with at most the configured rate of new handshakes
 * (message 2s counted on the wire), the backlog bounds the connections not yet accepted, the
 * endpoint's size stays bounded; and datagrams of every length 0..2000 never throw, in any state.
 */
import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import { addPeer, openPair, sameBytes, simLrp, Transfer } from "./_sim_lrp.ts";

/** Floods `server` for `seconds` from `ips` sources; returns message 2 counts and the peak size. */
function flood(
  options: Parameters<typeof addPeer>[3],
  ips: number,
  perSecond: number,
  seconds = 3,
) {
  const { net } = simLrp(1, 0, { delayMs: [1, 2] });
  const server = addPeer(net, 2, "10.0.0.1:7000", options);
  const rng = Prng.seeded(3);
  const answered = new Set<string>();
  let msg2 = 0;
  const perIp = new Map<number, number>();
  const socks = Array.from(
    { length: ips },
    (_, i) =>
      net.bind(`10.${1 + (i >> 8)}.${i & 255}.9:4000`, (_, bytes) => {
        assert.equal(bytes.length, 104);
        msg2++;
        answered.add(bytes.subarray(0, 8).join());
        perIp.set(i, (perIp.get(i) ?? 0) + 1);
      }),
  );
  let peak = 0;
  const gap = 1000 / perSecond;
  for (let t = 0; t < seconds * 1000; t += gap) {
    net.runUntil(t);
    const sock = socks[rng.int(0, ips - 1)];
    sock.send(server.addr, rng.bytes(40));
    peak = Math.max(peak, server.ep.size);
  }
  net.runUntil(net.now + 40_000); // resends, then every half-open connection expires
  peak = Math.max(peak, server.ep.size);
  return { msg2, answered: answered.size, peak, perIp, server, end: server.ep.size };
}

Deno.test("lrp2p admission: a message 1 flood gets at most the configured handshake rate", () => {
  // 2,000 message 1s per second from 300 IPs for 3 s; backlog and table out of the way
  const r = flood({ backlog: 1e6, maxConnections: 1e6 }, 300, 2000);
  const allowed = 200 + 200 * 3; // the bucket's burst plus 200/s
  assert.ok(r.answered <= allowed, `${r.answered} handshakes admitted`);
  assert.ok(r.answered >= 200 * 3, `${r.answered}: the limit is a rate, not a stop`);
  assert.ok(r.msg2 <= 3 * r.answered, `${r.msg2} message 2s`); // the answer and 2 timer resends
  assert.ok(r.peak <= allowed, `size ${r.peak}`);
  assert.equal(r.end, 0);
  assert.equal(r.server.ep.nextTimeout(), undefined);
  assert.ok(r.server.ep.drops.rateLimited >= 6000 - allowed);
});

Deno.test("lrp2p admission: one IP gets at most its own rate", () => {
  const r = flood({ backlog: 1e6, maxConnections: 1e6 }, 1, 500);
  assert.ok(r.answered <= 20 + 20 * 3, `${r.answered} from one IP`);
});

Deno.test("lrp2p admission: the backlog bounds connections not yet accepted", () => {
  const r = flood({}, 300, 2000);
  assert.ok(r.peak <= 16, `size ${r.peak}`);
  assert.ok(r.answered <= 16 * 2, `${r.answered}`); // 16, then 16 more after they expired
  assert.ok(r.server.ep.drops.backlogFull > 0);
  const t = flood({ maxConnections: 10, backlog: 100 }, 300, 2000);
  assert.ok(t.peak <= 10, `size ${t.peak}`);
  assert.ok(t.server.ep.drops.tableFull > 0);
});

Deno.test("lrp2p admission: datagrams of every length 0..2000 never throw, in any state", () => {
  const { net, peers, prng } = simLrp(4, 3, { delayMs: [1, 3] });
  const [a, b, c] = peers;
  const { idA, idB } = openPair(net, a, b);
  assert.ok(idB !== undefined);
  const hello = c.ep.connect("10.0.0.99:7000", net.now); // nobody there: c stays in hello
  net.setMiddlebox((p) => (p.bytes.length === 72 ? "drop" : undefined));
  const waiting = a.ep.connect(c.addr, net.now); // c waits for a message 3 that never comes
  net.runUntil(net.now + 50);
  net.setMiddlebox(undefined);
  assert.equal(c.ep.conn(waiting)?.state, "waiting");
  assert.equal(c.ep.conn(hello)?.state, "hello");
  const rng = Prng.seeded(5);
  const ids = [idA, hello, waiting, 0n];
  for (let round = 0; round < 3; round++) {
    for (let len = 0; len <= 2000; len++) {
      const d = rng.bytes(len);
      if (len >= 8 && rng.chance(0.7)) {
        new DataView(d.buffer).setBigUint64(0, ids[rng.int(0, ids.length - 1)]);
      }
      for (const p of peers) p.ep.handleDatagram("10.0.0.77:1", d, net.now);
    }
    net.runUntil(net.now + 10);
  }
  // the real connection still carries data both ways
  const ab = new Transfer(a.ep, idA, b.ep, idB, prng.bytes(30_000));
  const ba = new Transfer(b.ep, idB, a.ep, idA, prng.bytes(30_000));
  net.runWhile(() => (ab.step(net.now), ba.step(net.now), !(ab.complete && ba.complete)), {
    maxTime: net.now + 60_000,
  });
  assert.ok(sameBytes(ab.received(), ab.data) && sameBytes(ba.received(), ba.data));
  assert.ok(b.ep.drops.short > 0 && b.ep.drops.authFailed > 0);
});
