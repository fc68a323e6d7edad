// The ARQ sender's loss detection beyond 3 later ACKs (RFC 8985, RACK-TLP): a segment is lost once
// a segment sent after it is acknowledged and an RTT plus the reordering window has passed; an
// ACK that can only be for an earlier copy of a retransmission moves nothing; a tail loss probe
// goes out 2·SRTT after the last progress when ACKs stop.
import assert from "node:assert/strict";
import { ArqSender, type OutSegment } from "../../src/lrp2p/arq_sender.ts";

const RTO = 0x08;
const ack = (ackedSeq: number, lastInOrder = 0) => ({ lastInOrder, window: 65535, ackedSeq });

function drain(s: ArqSender, now: number): OutSegment[] {
  const out: OutSegment[] = [];
  for (let seg = s.poll(now); seg !== undefined; seg = s.poll(now)) out.push(seg);
  return out;
}

Deno.test("RACK: one later ACK and an RTT plus the reordering window mark a segment lost", () => {
  const s = new ArqSender(0, { maxPayload: 10 });
  s.write(new Uint8Array(30), 0);
  assert.equal(drain(s, 0).length, 3); // seqs 0, 1, 2 at t=0
  s.onAck(ack(1), 8); // RTT 8 ms; 0 was sent before 1 and is not acknowledged
  assert.equal(s.poll(8), undefined); // the reordering window (≥ 1 ms, minRtt/4 = 2) has not passed
  const at = s.nextTimeout()!;
  assert.equal(at, 0 + 8 + 2); // sentAt + RACK.rtt + reordering window
  assert.ok(at < s.stats.rto); // long before the RTO
  assert.equal(s.poll(at - 0.5), undefined);
  const r = s.poll(at)!;
  assert.deepEqual([r.seq, r.flags & RTO], [0, RTO]);
  assert.equal(s.stats.retransmits, 1);
});

Deno.test("RACK: segments sent after the newest acknowledged one are never marked by time", () => {
  const s = new ArqSender(0, { maxPayload: 10 });
  s.write(new Uint8Array(10), 0);
  drain(s, 0); // seq 0 at t=0
  s.write(new Uint8Array(20), 5);
  drain(s, 5); // seqs 1, 2 at t=5
  s.onAck(ack(0), 10);
  // 1 and 2 were sent after 0: they are only in flight, and RACK leaves them be
  assert.equal(s.poll(29), undefined);
  assert.equal(s.stats.retransmits, 0);
  // what comes next is the tail loss probe (2·SRTT after the ACK), not a RACK loss
  assert.equal(s.nextTimeout(), 30);
  assert.equal(s.poll(30)!.seq, 1);
  assert.deepEqual([s.stats.retransmits, s.stats.probes], [1, 1]);
  assert.equal(s.poll(30), undefined);
});

Deno.test("RACK: an ACK sooner than any round trip after a retransmission is for the earlier copy", () => {
  const s = new ArqSender(0, { maxPayload: 10 });
  s.write(new Uint8Array(60), 0);
  assert.equal(drain(s, 0).length, 6); // 0..5 at t=0
  s.onAck(ack(1), 10); // RTT 10; minRtt 10
  s.onAck(ack(2), 10);
  s.onAck(ack(3), 10); // 3 later ACKs: 0 is lost
  assert.equal(s.poll(10)!.seq, 0); // resent at t=10, after 4 and 5
  // the ORIGINAL 0 was only late: its ACK comes 1 ms after the retransmission (< minRtt). It must
  // not count as "0's retransmission delivered", which would make 4 and 5 (sent before it, 11 ms
  // ago) look lost.
  s.onAck(ack(0), 11);
  assert.equal(s.poll(30), undefined); // (the tail loss probe would come at 11 + 2·10)
  assert.equal(s.stats.retransmits, 1);
});

Deno.test("TLP: when ACKs stop, the oldest in-flight segment is probed after 2·SRTT, once", () => {
  const s = new ArqSender(0, { maxPayload: 10 });
  s.write(new Uint8Array(40), 0);
  assert.equal(drain(s, 0).length, 4); // 0..3 at t=0
  s.onAck(ack(0), 20); // SRTT 20; 1, 2, 3 are lost (a tail: nothing after them is acknowledged)
  const pto = s.nextTimeout()!;
  assert.equal(pto, 20 + 2 * 20);
  assert.ok(pto < 0 + s.stats.rto); // before the RTO
  assert.equal(s.poll(pto - 1), undefined);
  const probe = s.poll(pto)!;
  assert.deepEqual([probe.seq, probe.flags & RTO], [1, RTO]);
  assert.equal(s.stats.probes, 1);
  assert.equal(s.poll(pto + 100), undefined); // one probe until progress (then the RTO)
  // the probe's ACK: 2 and 3 were sent before it, an RTT ago: RACK resends them at once
  s.onAck(ack(1), pto + 20);
  assert.deepEqual(drain(s, pto + 20).map((x) => x.seq), [2, 3]);
});

Deno.test("TLP: no probe before the first RTT sample (the RTO alone, as before)", () => {
  const s = new ArqSender(0);
  s.write(new Uint8Array(10), 0);
  drain(s, 0);
  assert.equal(s.nextTimeout(), 1000);
});
