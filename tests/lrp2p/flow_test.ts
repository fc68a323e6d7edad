/**
 * Flow control between two TS peers on the simulator: a receiver that stops reading holds the
 * sender back through the window field (the sender honours it instead of overrunning the receive
 * buffer), and once the reader drains the buffer a window update lets the sender resume at once.
 */
import assert from "node:assert/strict";
import { openPair, sameBytes, simLrp, Transfer } from "./_sim_lrp.ts";

Deno.test("lrp2p flow: a stalled reader holds the sender back without retransmissions", () => {
  const BUF = 64 * 1024;
  const { net, peers, prng } = simLrp(7, 2, { delayMs: [5, 5] }, {
    receiveBufferBytes: BUF,
    sendBufferBytes: BUF,
  });
  const [a, b] = peers;
  const idA = a.ep.connect(b.addr, net.now);
  let idB: bigint | undefined;
  net.runWhile(() => {
    idB ??= b.ep.accept();
    return idB === undefined || a.ep.conn(idA)?.state !== "open";
  }, { maxTime: 10_000 });
  assert.notEqual(idB, undefined);
  const t = new Transfer(a.ep, idA, b.ep, idB!, prng.bytes(1_000_000), true);
  // the writer writes; nobody reads for 20 s
  const stallUntil = net.now + 20_000;
  net.runWhile(() => {
    while (t.sent < t.data.length) {
      const n = a.ep.write(idA, t.data.subarray(t.sent, t.sent + 8192), net.now);
      if (n === 0) break;
      t.sent += n;
    }
    return net.now < stallUntil;
  }, { maxTime: 30_000 });
  const stalled = a.ep.conn(idA)!.arq!;
  assert.ok(t.sent <= 2 * BUF, `${t.sent} bytes taken with two ${BUF}-byte buffers`);
  assert.equal(a.ep.conn(idA)!.state, "open");
  // at most the zero-window probe is repeated (once per backed-off RTO)
  assert.ok(stalled.retransmits <= 8, `${stalled.retransmits} retransmissions while stalled`);
  const resumedAt = net.now;
  const end = net.runWhile(() => {
    t.step(net.now);
    return !(t.complete && t.eof);
  }, { maxTime: resumedAt + 120_000 });
  assert.equal(end, "done", `${t.gotBytes} of ${t.data.length} bytes`);
  assert.ok(sameBytes(t.received(), t.data));
  // no retransmission storm after the stall either
  const s = a.ep.conn(idA)?.arq;
  if (s) assert.ok(s.retransmits <= 16, `${s.retransmits} retransmissions in all`);
});

Deno.test("lrp2p flow: a reader stalled 70 s (the probe's RTO beyond the keepalive) resumes", () => {
  // Before the fix, the keepalive deadline stayed in the past while a segment was in flight longer
  // than keepaliveMs (the zero-window probe's backed-off RTO), and handleTick() could not move
  // nextTimeout(): the simulator (and the live UDP driver) threw "Cannot settle the core".
  const BUF = 64 * 1024;
  const { net, peers, prng } = simLrp(8, 2, { delayMs: [5, 5] }, { receiveBufferBytes: BUF });
  const [a, b] = peers;
  const idA = a.ep.connect(b.addr, net.now);
  let idB: bigint | undefined;
  net.runWhile(() => {
    idB ??= b.ep.accept();
    return idB === undefined || a.ep.conn(idA)?.state !== "open";
  }, { maxTime: 10_000 });
  const t = new Transfer(a.ep, idA, b.ep, idB!, prng.bytes(300_000), true);
  const stallUntil = net.now + 70_000;
  net.runWhile(() => {
    while (t.sent < t.data.length) {
      const n = a.ep.write(idA, t.data.subarray(t.sent, t.sent + 8192), net.now);
      if (n === 0) break;
      t.sent += n;
    }
    return net.now < stallUntil;
  }, { maxTime: stallUntil + 1000 });
  assert.equal(a.ep.conn(idA)?.state, "open");
  const end = net.runWhile(() => {
    t.step(net.now);
    return !(t.complete && t.eof);
  }, { maxTime: net.now + 300_000 });
  assert.equal(end, "done", `${t.gotBytes} of ${t.data.length} bytes`);
  assert.ok(sameBytes(t.received(), t.data));
});

Deno.test("lrp2p flow: a writer blocked on a full send buffer is woken once a quarter of it (at most 64 KiB) is free, not at every acknowledged segment", () => {
  const BUF = 400_000; // a quarter is 100,000: the 64 KiB cap applies
  const { net, peers, prng } = simLrp(11, 2, { delayMs: [2, 2] }, { sendBufferBytes: BUF });
  const [a, b] = peers;
  const { idA, idB } = openPair(net, a, b, 10_000);
  assert.notEqual(idB, undefined);
  const data = prng.bytes(3_000_000);
  let sent = 0, wakes = 0, blocked = false, received = 0;
  const takenAfterWake: number[] = [];
  const end = net.runWhile(() => {
    for (let e = a.ep.pollEvent(); e; e = a.ep.pollEvent()) {
      if (e.type === "writable" && e.connId === idA && blocked) {
        wakes++;
        blocked = false;
        takenAfterWake.push(a.ep.write(idA, data.subarray(sent), net.now));
        sent += takenAfterWake.at(-1)!;
      }
    }
    if (!blocked && sent < data.length) {
      const n = a.ep.write(idA, data.subarray(sent), net.now);
      sent += n;
      if (sent < data.length) blocked = true;
    }
    for (let r = b.ep.read(idB!); r; r = b.ep.read(idB!)) received += r.length;
    return received < data.length;
  }, { maxTime: net.now + 120_000 });
  assert.equal(end, "done", `${received} of ${data.length} bytes`);
  assert.ok(wakes > 0);
  for (const n of takenAfterWake.slice(0, -1)) assert.ok(n >= 64 * 1024, `${n} bytes taken`);
  assert.ok(wakes <= data.length / (64 * 1024) + 2, `${wakes} wakes`);
});
