/**
 * Regressions found by the LRP2P simulation tests (each failed before its fix in conn.ts,
 * arq_sender.ts or rto.ts): a clean end of a stream with its tail missing, a timer due forever by
 * a rounding error, a lost ACK of a FIN ending the other side with an error, a corrupted message
 * 1 blocking the handshake, and RTO backoff compounding across segments.
 */
import assert from "node:assert/strict";
import { ArqSender } from "../../src/lrp2p/arq_sender.ts";
import { LrpEndpoint } from "../../src/lrp2p/endpoint.ts";
import { generateKeyPair } from "../../src/lrp2p/noise.ts";
import { Prng } from "../../src/util/prng.ts";
import { EventLog, openPair, sameBytes, simLrp, Transfer } from "./_sim_lrp.ts";

/** Drops datagrams from `from` while `when(now)` holds (and `size` matches, if given). */
function dropWhile(from: string, when: (now: number) => boolean, size?: number) {
  return (p: { from: string; time: number; bytes: Uint8Array }) =>
    p.from === from && when(p.time) && (size === undefined || p.bytes.length === size)
      ? "drop" as const
      : undefined;
}

Deno.test("lrp2p fix: a TS peer's stream never ends cleanly with its tail missing", () => {
  // b closes at once (nothing to send); a's data and FIN are then cut off for 25 s, longer than
  // closeMs (10 s). Before: b ended "cleanly" after 10 s and read() said end of stream.
  const { net, peers, prng } = simLrp(3, 2, { delayMs: [5, 5] });
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  const { idA, idB } = openPair(net, a, b);
  assert.ok(idB !== undefined);
  b.ep.close(idB, net.now);
  net.runUntil(net.now + 500);
  const cutFrom = net.now, cutTo = net.now + 25_000;
  net.setMiddlebox(dropWhile(a.addr, (t) => t >= cutFrom && t < cutTo));
  const ab = new Transfer(a.ep, idA, b.ep, idB, prng.bytes(5000), true);
  const end = net.runWhile(() => {
    ab.step(net.now);
    return !(ab.eof && log.closed(a.ep, idA) && log.closed(b.ep, idB));
  }, { maxTime: net.now + 200_000 });
  assert.equal(end, "done");
  const cb = log.closed(b.ep, idB)!;
  assert.equal(cb.error, undefined);
  assert.ok(ab.complete, `b ended cleanly with ${ab.gotBytes}/5000 bytes`);
  assert.ok(sameBytes(ab.received(), ab.data));
  assert.equal(log.closed(a.ep, idA)!.error, undefined);
});

Deno.test("lrp2p fix: the idle timeout fires even when now - lastHeard rounds below idleMs", () => {
  // (x + 60000) - x < 60000 for this x: the tick at nextTimeout() did nothing, for ever
  const x = 50860.13702206413;
  assert.ok(x + 60_000 - x < 60_000 && x + 15_000 - x < 15_000);
  const rng = Prng.seeded(9);
  const random = (n: number) => rng.bytes(n);
  const a = new LrpEndpoint({ staticKey: generateKeyPair(random), random });
  const b = new LrpEndpoint({ staticKey: generateKeyPair(random), random });
  const id = a.connect("b:1", 0);
  b.handleDatagram("a:1", a.pollTransmit()!.bytes, 0);
  a.handleDatagram("b:1", b.pollTransmit()!.bytes, x); // message 2 at x: open, heard at x
  assert.equal(a.conn(id)?.state, "open");
  let closed: string | undefined;
  for (let i = 0, last = -1; i < 100; i++) {
    while (a.pollTransmit()); // b is silent from now on
    for (let e = a.pollEvent(); e; e = a.pollEvent()) if (e.type === "closed") closed = e.error;
    const t = a.nextTimeout();
    if (t === undefined) break;
    assert.ok(t > last, `nextTimeout() stuck at ${t}`);
    last = t;
    a.handleTick(t);
  }
  assert.equal(closed, "idle timeout");
  assert.equal(a.size, 0);
});

Deno.test("lrp2p: a sender that gives up ends the connection with peer unreachable", () => {
  // after 8 RTO expiries (about 51 s, before the 60 s idle timeout)
  const { net, peers, prng } = simLrp(4, 2, { delayMs: [5, 5] });
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  const { idA, idB } = openPair(net, a, b);
  assert.ok(idB !== undefined);
  const warm = new Transfer(a.ep, idA, b.ep, idB, prng.bytes(20_000));
  net.runWhile(() => (warm.step(net.now), !warm.complete));
  net.setMiddlebox(() => "drop");
  a.ep.write(idA, prng.bytes(100), net.now);
  net.runWhile(() => !log.closed(a.ep, idA), { maxTime: net.now + 120_000 });
  assert.equal(log.closed(a.ep, idA)?.error, "peer unreachable");
});

Deno.test("lrp2p fix: lost ACKs of a FIN still end both sides cleanly", () => {
  for (const [dropMs, bytes, both] of [[6000, 1000, false], [30_000, 0, true]] as const) {
    // b closes first; then a writes `bytes` and closes, and every ACK from b is lost for dropMs.
    // 6 s: b lingers (renewed by a's retransmissions) until a's data and FIN are acknowledged;
    // before, b left after 2 s and a gave up. 30 s, and a's datagrams lost too once its FIN is
    // in: b lingers 10 s and leaves; a has the peer's FIN and all its data acknowledged, so it
    // ends cleanly after closeMs; before, it waited for the ACK of its FIN: "idle timeout".
    const { net, peers, prng } = simLrp(5, 2, { delayMs: [5, 5] });
    const [a, b] = peers;
    const log = new EventLog([a.ep, b.ep]);
    const { idA, idB } = openPair(net, a, b);
    assert.ok(idB !== undefined);
    b.ep.close(idB, net.now);
    net.runUntil(net.now + 200);
    const from = net.now;
    const fromB = dropWhile(b.addr, (t) => t >= from && t < from + dropMs);
    const fromA = dropWhile(a.addr, (t) => both && t >= from + 50 && t < from + dropMs);
    net.setMiddlebox((p) => fromB(p) ?? fromA(p));
    const ab = new Transfer(a.ep, idA, b.ep, idB, prng.bytes(bytes), true);
    const end = net.runWhile(
      () => (ab.step(net.now), !(log.closed(a.ep, idA) && log.closed(b.ep, idB))),
      { maxTime: net.now + 200_000 },
    );
    assert.equal(end, "done");
    assert.ok(ab.complete);
    assert.equal(log.closed(a.ep, idA)!.error, undefined, `drop ${dropMs}: a`);
    assert.equal(log.closed(b.ep, idB)!.error, undefined, `drop ${dropMs}: b`);
  }
});

Deno.test("lrp2p fix: a corrupted message 1 does not block the handshake", () => {
  // the responder answered only the first message 1 of a connId; a corrupted key in it (message
  // 1 is not authenticated) made every resend of the real one go unanswered
  const { net, peers } = simLrp(6, 2, { delayMs: [5, 5] });
  const [a, b] = peers;
  let corrupted = 0;
  net.setMiddlebox((p) => {
    if (p.from !== a.addr || p.bytes.length !== 40 || corrupted > 0) return undefined;
    corrupted++;
    const bad = p.bytes.slice();
    bad[20] ^= 0x55; // in the ephemeral key, after the connId
    return bad;
  });
  const { idA, idB } = openPair(net, a, b);
  assert.equal(corrupted, 1);
  assert.ok(idB !== undefined, `not opened: ${a.ep.conn(idA)?.state}`);
  assert.equal(a.ep.conn(idA)?.state, "open");
});

Deno.test("lrp2p fix: an ACK of a retransmission soon after it was sent ends the RTO backoff", () => {
  const s = new ArqSender(0);
  s.write(new Uint8Array(3000), 0);
  const first = [s.poll(0)!, s.poll(0)!, s.poll(0)!];
  s.onAck({ lastInOrder: 0, window: 65535, ackedSeq: first[0].seq }, 100); // sample: RTO 300
  const base = s.stats.rto;
  let now = 100;
  for (let i = 0; i < 3; i++) {
    now = s.nextTimeout()!;
    assert.ok(s.poll(now)!.flags & 0x08); // an expiry: the oldest again, RTO doubled
  }
  assert.equal(s.stats.rto, base * 8);
  s.onAck({ lastInOrder: 0, window: 65535, ackedSeq: first[1].seq }, now + 100);
  assert.equal(s.stats.rto, base);
  // an ACK that comes later than the base RTO after the last send proves nothing: no change
  const t = s.nextTimeout()!;
  s.poll(t);
  const after = s.stats.rto;
  s.onAck({ lastInOrder: 0, window: 65535, ackedSeq: first[2].seq }, t + base + 1);
  assert.equal(s.stats.rto, after);
});
