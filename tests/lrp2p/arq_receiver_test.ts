// The LRP2P ARQ receiver (spec §6.2, flaw L9, FIN of §8.4): ACKs byte-identical to a Go receiver
// (lagging lastInOrder, duplicates acknowledged), no ACK for a segment dropped for lack of space,
// free slots as the window between TS peers, end of stream after every earlier byte.
import assert from "node:assert/strict";
import fc from "fast-check";
import { ArqReceiver } from "../../src/lrp2p/arq_receiver.ts";

const seg = (seq: number, payload: number[] = [seq & 0xff], flags = 0) => ({
  flags,
  seq,
  payload: new Uint8Array(payload),
});

/** The Go receiver of spec §6.2, written from its pseudo-code (ring of 65535 slots). */
class GoReceiver {
  nextExpected = 0;
  lastDelivered = 0;
  slots = new Map<number, number[]>();
  out: number[] = [];
  onData(s: number, payload: number[]) {
    if (s >= this.nextExpected && s <= this.lastDelivered + 65535 && !this.slots.has(s % 65535)) {
      this.slots.set(s % 65535, payload);
    }
    const ack = {
      lastInOrder: this.nextExpected === 0 ? 0 : this.nextExpected - 1,
      window: 65535,
      ackedSeq: s,
    };
    for (
      let p = this.slots.get(this.nextExpected % 65535);
      p !== undefined;
      p = this.slots.get(this.nextExpected % 65535)
    ) {
      this.slots.delete(this.nextExpected % 65535);
      this.out.push(...p);
      this.lastDelivered = this.nextExpected;
      this.nextExpected++;
    }
    return ack;
  }
}

Deno.test("receiver: in-order ACKs lag by one (0 for seq 0), window 65535 toward Go", () => {
  const r = new ArqReceiver({ goPeer: true });
  const acks = [0, 1, 2, 3].map((q) => r.onData(seg(q)).ack);
  assert.deepEqual(acks, [
    { lastInOrder: 0, window: 65535, ackedSeq: 0 },
    { lastInOrder: 0, window: 65535, ackedSeq: 1 },
    { lastInOrder: 1, window: 65535, ackedSeq: 2 },
    { lastInOrder: 2, window: 65535, ackedSeq: 3 },
  ]);
  assert.deepEqual(r.read(), new Uint8Array([0, 1, 2, 3]));
});

Deno.test("receiver: ACKs and delivered bytes equal a Go receiver's for any arrival order with duplicates", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }).chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 0, maxLength: 3 * n }),
        )
      ),
      ([n, extra]) => {
        // every seq once, in a shuffled order given by the extra picks, plus duplicates
        const order = [...extra, ...Array.from({ length: n }, (_, i) => i)];
        const go = new GoReceiver();
        const ts = new ArqReceiver({ goPeer: true });
        for (const q of order) {
          const payload = [q & 0xff, (q * 7) & 0xff];
          assert.deepEqual(ts.onData(seg(q, payload)).ack, go.onData(q, payload));
        }
        assert.deepEqual(ts.read() ?? new Uint8Array(0), new Uint8Array(go.out));
      },
    ),
  );
});

Deno.test("receiver: duplicates of stored and of delivered segments are acknowledged again", () => {
  const r = new ArqReceiver({ goPeer: true });
  r.onData(seg(0));
  r.onData(seg(2)); // stored, not deliverable
  assert.deepEqual(r.onData(seg(2)).ack, { lastInOrder: 0, window: 65535, ackedSeq: 2 });
  assert.deepEqual(r.onData(seg(0)).ack, { lastInOrder: 0, window: 65535, ackedSeq: 0 });
  r.onData(seg(1));
  assert.deepEqual(r.onData(seg(1)).ack, { lastInOrder: 2, window: 65535, ackedSeq: 1 });
  assert.deepEqual(r.read(), new Uint8Array([0, 1, 2])); // no byte twice
});

Deno.test("receiver: a new segment beyond the slots is dropped and NOT acknowledged (L9)", () => {
  const r = new ArqReceiver({ windowSegments: 4 });
  assert.equal(r.onData(seg(4)).ack, undefined);
  assert.deepEqual(r.onData(seg(3)).ack, { lastInOrder: 0, window: 3, ackedSeq: 3 });
  r.onData(seg(0));
  assert.deepEqual(r.onData(seg(4)).ack, { lastInOrder: 0, window: 2, ackedSeq: 4 }); // 4 - 1 < 4 now
});

Deno.test("receiver: a segment over the byte budget is dropped unacknowledged until the app reads", () => {
  const r = new ArqReceiver({ bufferBytes: 10, maxPayload: 5 });
  assert.deepEqual(r.onData(seg(0, [1, 2, 3, 4, 5, 6])).ack, {
    lastInOrder: 0,
    window: 0,
    ackedSeq: 0,
  });
  assert.equal(r.onData(seg(1, [7, 8, 9, 10, 11])).ack, undefined); // 6 + 5 > 10
  assert.equal(r.nextExpected, 1);
  assert.deepEqual(r.read(4), new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual(r.onData(seg(1, [7, 8, 9, 10, 11])).ack, {
    lastInOrder: 0,
    window: 0,
    ackedSeq: 1,
  });
  assert.deepEqual(r.read(), new Uint8Array([5, 6, 7, 8, 9, 10, 11]));
  assert.equal(r.freeSlots, 2);
});

Deno.test("receiver: the window is the free slots, never 65535, between TS peers", () => {
  const r = new ArqReceiver({ windowSegments: 70_000, bufferBytes: 1e9 });
  assert.equal(r.onData(seg(5)).ack!.window, 65534);
  const small = new ArqReceiver({ windowSegments: 8 });
  small.onData(seg(3));
  assert.equal(small.onData(seg(5)).ack!.window, 6);
  assert.equal(small.onData(seg(0)).ack!.window, 6); // 0 delivered at once; 3 and 5 wait
});

Deno.test("receiver: FIN ends the stream after every earlier byte, even when it arrives first", () => {
  const r = new ArqReceiver();
  r.onData(seg(2, [], 0x04));
  assert.equal(r.finReceived, false);
  r.onData(seg(0, [1]));
  assert.deepEqual(r.read(), new Uint8Array([1]));
  assert.equal(r.read(), undefined); // seq 1 is missing: not the end yet
  assert.ok(r.onData(seg(1, [2])).ack);
  assert.equal(r.finReceived, true);
  assert.deepEqual(r.read(), new Uint8Array([2]));
  assert.equal(r.read(), null);
  assert.equal(r.read(), null);
  assert.deepEqual(r.onData(seg(2, [], 0x04)).ack, {
    lastInOrder: 2,
    window: Math.floor((4 << 20) / 1330), // the default 4 MiB byte budget binds before 4096 slots
    ackedSeq: 2,
  });
  assert.equal(r.onData(seg(3)).ack, undefined); // nothing exists after the FIN
});

Deno.test("receiver: read(max) splits and joins payloads in order", () => {
  const r = new ArqReceiver();
  r.onData(seg(0, [1, 2, 3]));
  r.onData(seg(1, [4, 5]));
  assert.equal(r.readable, 5);
  assert.deepEqual(r.read(2), new Uint8Array([1, 2]));
  assert.deepEqual(r.read(2), new Uint8Array([3, 4]));
  assert.deepEqual(r.read(9), new Uint8Array([5]));
  assert.equal(r.read(), undefined);
});

Deno.test("receiver: out-of-order data cannot fill the byte budget and lock out nextExpected", () => {
  const r = new ArqReceiver({ bufferBytes: 2660, maxPayload: 1330 });
  const full = (q: number) => seg(q, Array.from({ length: 1330 }, () => q));
  assert.ok(r.onData(full(1)).ack); // 1330 + 1330 reserve fits
  assert.equal(r.onData(full(2)).ack, undefined); // would leave no room for seq 0
  assert.ok(r.onData(full(0)).ack);
  assert.equal(r.read()!.length, 2660);
});

Deno.test("ArqReceiver.readInto gives the bytes read(max) gives, for any segments and buffer sizes", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 1330 }), { maxLength: 30 }),
      fc.array(fc.integer({ min: 0, max: 4000 }), { minLength: 1, maxLength: 20 }),
      (payloads, sizes) => {
        const a = new ArqReceiver(), b = new ArqReceiver();
        payloads.forEach((payload, seq) => {
          a.onData({ flags: 0, seq, payload });
          b.onData({ flags: 0, seq, payload });
        });
        a.onData({ flags: 0x04, seq: payloads.length, payload: new Uint8Array(0) });
        b.onData({ flags: 0x04, seq: payloads.length, payload: new Uint8Array(0) });
        for (let i = 0;; i++) {
          const size = sizes[i % sizes.length];
          const out = new Uint8Array(size);
          const n = a.readInto(out);
          const r = b.read(size);
          if (r === null) {
            assert.equal(n, null);
            break;
          }
          assert.equal(n, r!.length);
          assert.deepEqual(out.subarray(0, n!), r);
          if (size === 0 && i > sizes.length) break; // only empty buffers: nothing moves
        }
      },
    ),
    { numRuns: 300 },
  );
});
