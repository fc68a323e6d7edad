// The LRP2P ARQ sender (spec §4, §6.1, §8.3, §8.4): SYN, RTO flag, Karn, backoff, fast retransmit,
// windows, buffer and span bounds, FIN, keepalive and the L14 sequence limit.
import assert from "node:assert/strict";
import { ARQ_LAST_DATA_SEQ, ArqSender, type OutSegment } from "../../src/lrp2p/arq_sender.ts";

const SYN = 0x02, FIN = 0x04, RTO = 0x08;

function drain(s: ArqSender, now: number): OutSegment[] {
  const out: OutSegment[] = [];
  for (let seg = s.poll(now); seg !== undefined; seg = s.poll(now)) out.push(seg);
  return out;
}
const ack = (ackedSeq: number, lastInOrder = 0, window = 65535) => ({
  lastInOrder,
  window,
  ackedSeq,
});
const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

Deno.test("sender: seq from 0, SYN only on the first segment, payloads of at most 1330 bytes", () => {
  const s = new ArqSender(0);
  assert.equal(s.write(bytes(3000), 0), 3000);
  const segs = drain(s, 0);
  assert.deepEqual(segs.map((x) => [x.flags, x.seq, x.payload.length]), [
    [SYN, 0, 1330],
    [0, 1, 1330],
    [0, 2, 340],
  ]);
  assert.deepEqual(new Uint8Array(segs.flatMap((x) => [...x.payload])), bytes(3000));
});

Deno.test("sender: writes queued while the window is closed are coalesced up to maxPayload", () => {
  const s = new ArqSender(0, { initialCwnd: 1 });
  s.write(bytes(10), 0);
  assert.equal(drain(s, 0).length, 1); // cwnd 1: one segment in flight
  for (let i = 0; i < 5; i++) s.write(bytes(10, 10 + 10 * i), 0);
  assert.equal(s.poll(0), undefined);
  s.onAck(ack(0), 10);
  const segs = drain(s, 10);
  assert.equal(segs.length, 1);
  assert.deepEqual(segs[0].payload, bytes(50, 10));
});

Deno.test("sender: an expiry resends the oldest segment with RTO added and doubles the timeout", () => {
  const s = new ArqSender(0);
  s.write(bytes(100), 0);
  const [first] = drain(s, 0);
  assert.equal(first.flags, SYN);
  assert.equal(s.nextTimeout(), 1000); // initial RTO 1 s
  assert.equal(s.poll(999), undefined);
  const r1 = s.poll(1000)!;
  assert.deepEqual([r1.flags, r1.seq], [SYN | RTO, 0]);
  assert.equal(s.stats.rto, 2000);
  assert.equal(s.nextTimeout(), 3000);
  assert.equal(s.poll(2999), undefined);
  const r2 = s.poll(3000)!;
  assert.deepEqual([r2.flags, r2.seq], [SYN | RTO, 0]); // RTO stays set
  assert.equal(s.nextTimeout(), 7000);
  assert.equal(s.stats.retransmits, 2);
});

Deno.test("sender: after an expiry only the oldest goes out at once; ACKs clock out the rest with RTO", () => {
  const s = new ArqSender(0, { maxPayload: 10 });
  s.write(bytes(50), 0);
  assert.equal(drain(s, 0).length, 5);
  const resent = drain(s, 1000);
  assert.deepEqual(resent.map((x) => [x.seq, x.flags]), [[0, SYN | RTO]]);
  s.onAck(ack(0), 1100);
  const next = drain(s, 1100);
  assert.deepEqual(next.map((x) => [x.seq, x.flags]), [[1, RTO], [2, RTO]]); // slow start from 1
});

Deno.test("sender: Karn's rule: an ACK of a retransmitted segment gives no RTT sample", () => {
  const s = new ArqSender(0);
  s.write(bytes(10), 0);
  drain(s, 0);
  drain(s, 1000); // retransmission
  s.onAck(ack(0), 1010);
  assert.equal(s.stats.srtt, 0); // no sample: 10 ms would have been wrong
  assert.equal(s.stats.rto, 1000); // answered within the base RTO: backoff ended (no sample)
  s.write(bytes(10), 1010);
  drain(s, 1010);
  s.onAck(ack(1, 0), 1090);
  assert.equal(s.stats.srtt, 80);
  assert.equal(s.stats.rto, 240);
});

Deno.test("sender: fast retransmit of the oldest segment after ACKs of 3 later ones", () => {
  const s = new ArqSender(0, { maxPayload: 10 });
  s.write(bytes(60), 0);
  assert.equal(drain(s, 0).length, 6);
  s.onAck(ack(1), 50);
  s.onAck(ack(2), 50);
  assert.equal(s.poll(50), undefined);
  s.onAck(ack(2), 50); // a duplicate ACK does not count
  assert.equal(s.poll(50), undefined);
  const before = s.stats.cwnd;
  s.onAck(ack(3), 50);
  const r = s.poll(50)!;
  assert.deepEqual([r.seq, r.flags], [0, SYN | RTO]);
  assert.equal(s.stats.cwnd, before * 0.7); // one reduction
  // three ACKs of segments sent after the first transmission of 0 do not cause another resend
  s.onAck(ack(4), 60);
  s.onAck(ack(5), 60);
  assert.equal(s.poll(60), undefined);
});

Deno.test("sender: a lost retransmission is detected again by ACKs of segments sent after it", () => {
  const s = new ArqSender(0, { maxPayload: 1 });
  s.write(bytes(10), 0);
  assert.equal(drain(s, 0).length, 10);
  for (const q of [1, 2, 3]) s.onAck(ack(q), 10);
  assert.equal(s.poll(10)!.seq, 0); // fast retransmit
  s.write(bytes(3), 10);
  for (const q of [4, 5, 6, 7, 8, 9]) s.onAck(ack(q), 10);
  const fresh = drain(s, 10);
  assert.deepEqual(fresh.map((x) => x.seq), [10, 11, 12]);
  for (const q of [10, 11]) s.onAck(ack(q), 20);
  // 2 later ACKs, and less than an RTT plus the reordering window (10 + 2.5 ms) since the resend
  assert.equal(s.poll(20), undefined);
  s.onAck(ack(12), 20);
  assert.deepEqual([s.poll(20)!.seq], [0]); // the retransmission of 0 was lost too
});

Deno.test("sender: lastInOrder > 0 acknowledges everything up to it", () => {
  const s = new ArqSender(0, { maxPayload: 1 });
  s.write(bytes(5), 0);
  drain(s, 0);
  s.onAck(ack(4, 3), 10); // the ACKs of 0..3 were lost
  assert.equal(s.allAcked, true);
  assert.equal(s.bufferedBytes, 0);
});

Deno.test("sender: the send buffer is bounded and frees on ACKs", () => {
  const s = new ArqSender(0, { sendBufferBytes: 5000 });
  assert.equal(s.write(bytes(4000), 0), 4000);
  assert.equal(s.write(bytes(4000), 0), 1000);
  assert.equal(s.writable, false);
  assert.equal(s.bufferedBytes, 5000);
  const segs = drain(s, 0);
  assert.equal(s.bufferedBytes, 5000); // sent but unacknowledged still counts
  assert.equal(s.write(bytes(1), 0), 0);
  s.onAck(ack(segs[0].seq), 10);
  assert.equal(s.bufferedBytes, 5000 - 1330);
  assert.equal(s.write(bytes(4000), 10), 1330);
  assert.equal(s.write(new Uint8Array(0), 10), 0);
});

Deno.test("sender: the span seq - oldestUnacked never exceeds 65533", () => {
  const s = new ArqSender(0, { maxPayload: 1, sendBufferBytes: 1 << 20, initialCwnd: 1e6 });
  s.write(new Uint8Array(70_000), 0);
  const segs = drain(s, 0);
  assert.equal(segs.length, 65534); // seqs 0..65533
  assert.equal(segs.at(-1)!.seq, 65533);
  s.onAck(ack(1), 10); // not the oldest: no room
  assert.equal(s.poll(10), undefined);
  s.onAck(ack(0), 10);
  assert.deepEqual(drain(s, 10).map((x) => x.seq), [65534, 65535]);
});

Deno.test("sender: a smaller span can be configured and applies to retransmissions' room", () => {
  const s = new ArqSender(0, { maxPayload: 1, maxSpan: 3 });
  s.write(bytes(10), 0);
  assert.deepEqual(drain(s, 0).map((x) => x.seq), [0, 1, 2, 3]);
});

Deno.test("sender: FIN follows all data, is empty, consumes a seq, and ends writing", () => {
  const s = new ArqSender(0, { initialCwnd: 2 });
  s.write(bytes(4000), 0);
  s.finish(0);
  assert.equal(s.write(bytes(1), 0), 0);
  assert.equal(s.writable, false);
  const a = drain(s, 0);
  assert.deepEqual(a.map((x) => x.seq), [0, 1]); // cwnd 2; FIN must wait for data
  s.onAck(ack(0), 10);
  s.onAck(ack(1), 10);
  const b = drain(s, 10);
  assert.deepEqual(b.map((x) => [x.seq, x.flags, x.payload.length]), [[2, 0, 1330], [3, 0, 10], [
    4,
    FIN,
    0,
  ]]);
  assert.equal(s.finAcked, false);
  s.onAck(ack(2), 20);
  s.onAck(ack(4), 20);
  assert.equal(s.finAcked, true);
  assert.equal(s.allAcked, false); // seq 3 is still unacknowledged
  s.onAck(ack(3), 20);
  assert.equal(s.allAcked, true);
});

Deno.test("sender: a keepalive is one empty segment without flags, skipped when data is queued", () => {
  const s = new ArqSender(0);
  s.write(bytes(1), 0);
  drain(s, 0);
  s.onAck(ack(0), 10);
  s.keepalive(15_000);
  s.keepalive(15_000); // once
  assert.deepEqual(drain(s, 15_000).map((x) => [x.seq, x.flags, x.payload.length]), [[1, 0, 0]]);
  s.onAck(ack(1), 15_010);
  s.write(bytes(1), 20_000);
  s.keepalive(20_000);
  assert.deepEqual(drain(s, 20_000).map((x) => [x.seq, x.payload.length]), [[2, 1]]);
  assert.equal(s.lastSendAt, 20_000);
});

Deno.test("sender: the first segment gets SYN even if it is a keepalive or the FIN", () => {
  const k = new ArqSender(0);
  k.keepalive(0);
  assert.equal(k.poll(0)!.flags, SYN);
  const f = new ArqSender(0);
  f.finish(0);
  assert.equal(f.poll(0)!.flags, SYN | FIN);
});

Deno.test("sender: L14: data stops at seq 2^32-3, the FIN takes at most 2^32-2, never 2^32-1", () => {
  const s = new ArqSender(0, { maxPayload: 10, firstSeq: ARQ_LAST_DATA_SEQ - 1 });
  assert.equal(ARQ_LAST_DATA_SEQ, 2 ** 32 - 3);
  assert.equal(s.write(bytes(15), 0), 15);
  assert.equal(s.write(bytes(15), 0), 5); // two segments of 10 bytes left
  assert.equal(s.writable, false);
  s.keepalive(0); // no room for it either
  s.finish(0);
  const segs = drain(s, 0);
  assert.deepEqual(segs.map((x) => [x.seq, x.flags & FIN, x.payload.length]), [
    [2 ** 32 - 4, 0, 10],
    [2 ** 32 - 3, 0, 10],
    [2 ** 32 - 2, FIN, 0],
  ]);
  assert.equal(s.poll(0), undefined);
});

Deno.test("sender: a window below 65535 is honoured, 65535 (Go) ignored, goPeer ignores any", () => {
  const s = new ArqSender(0, { maxPayload: 1 });
  s.write(bytes(20), 0);
  assert.equal(drain(s, 0).length, 10); // initial cwnd
  s.onAck(ack(0, 0, 2), 10);
  assert.equal(s.peerWindow, 2);
  assert.equal(drain(s, 10).length, 0); // 9 in flight > 2
  for (let q = 1; q < 9; q++) s.onAck(ack(q, 0, 2), 20);
  assert.deepEqual(drain(s, 20).map((x) => x.seq), [10]); // 1 in flight + 1 = 2
  s.onAck(ack(10, 0, 65535), 30);
  assert.equal(s.peerWindow, 2); // 65535 carries no information
  const g = new ArqSender(0, { maxPayload: 1, goPeer: true });
  g.write(bytes(20), 0);
  drain(g, 0);
  g.onAck(ack(0, 0, 1), 10);
  assert.equal(g.peerWindow, Infinity);
});

Deno.test("sender: a zero window keeps one probe in flight, resent per RTO, without failing", () => {
  const s = new ArqSender(0, { maxPayload: 1, maxTimeouts: 2 });
  s.write(bytes(5), 0);
  drain(s, 0);
  for (let q = 0; q < 5; q++) s.onAck(ack(q, 0, 0), 100);
  s.write(bytes(5), 100);
  const probe = drain(s, 100);
  assert.deepEqual(probe.map((x) => x.seq), [5]);
  let now = 100;
  for (let i = 0; i < 6; i++) {
    now = s.nextTimeout()!;
    assert.deepEqual(drain(s, now).map((x) => [x.seq, x.flags]), [[5, RTO]]);
  }
  assert.equal(s.failed, false);
  s.onAck(ack(5, 4, 10), now + 1); // the receiver has room again
  assert.deepEqual(drain(s, now + 1).map((x) => x.seq), [6, 7, 8, 9]);
});

Deno.test("sender: fails after maxTimeouts expiries without progress and then stays silent", () => {
  const s = new ArqSender(0, { maxTimeouts: 3 });
  s.write(bytes(10), 0);
  drain(s, 0);
  let now = 0;
  let resends = 0;
  while (!s.failed && resends < 10) {
    now = s.nextTimeout()!;
    resends += drain(s, now).length;
  }
  assert.equal(resends, 2);
  assert.equal(s.failed, true);
  assert.equal(s.writable, false);
  assert.equal(s.poll(now + 1e6), undefined);
  assert.equal(s.nextTimeout(), undefined);
});

Deno.test("sender: write copies the caller's bytes", () => {
  const s = new ArqSender(0);
  const buf = bytes(4);
  s.write(buf, 0);
  buf.fill(0);
  assert.deepEqual(s.poll(0)!.payload, bytes(4));
});

Deno.test("ArqSender.probe: the oldest unacknowledged segment again, or the FIN once all is acknowledged", () => {
  const s = new ArqSender(0);
  s.write(new Uint8Array(3000), 0);
  const first = s.poll(0)!;
  assert.equal(first.seq, 0);
  const p = s.probe(10)!;
  assert.equal(p.seq, 0);
  assert.equal(p.flags & 0x08, 0x08, "flagged RTO");
  assert.equal(s.lastSendAt, 10);
  const s2 = new ArqSender(0);
  assert.equal(s2.probe(0), undefined, "nothing to probe with");
  s2.finish(0);
  const fin = s2.poll(0)!;
  assert.equal(fin.flags & 0x04, 0x04);
  s2.onAck({ lastInOrder: 0, window: 65535, ackedSeq: fin.seq }, 5);
  assert.ok(s2.finAcked);
  const again = s2.probe(20)!;
  assert.equal(again.seq, fin.seq);
  assert.equal(again.flags, 0x04 | 0x08);
});
