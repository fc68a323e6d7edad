// Property: an ArqSender and an ArqReceiver joined by a simulated link that loses (up to 30%),
// duplicates and reorders datagrams in both directions, driven by a virtual clock (no timers),
// deliver exactly the written byte stream followed by the end of stream, and the sender obeys the
// wire rules on the way (payload size, SYN/FIN/RTO flags, span ≤ 65533).
import assert from "node:assert/strict";
import fc from "fast-check";
import { ArqSender, type OutSegment } from "../../src/lrp2p/arq_sender.ts";
import { ArqReceiver } from "../../src/lrp2p/arq_receiver.ts";
import { Prng } from "../../src/util/prng.ts";

type Ack = { lastInOrder: number; window: number; ackedSeq: number };
type Ev =
  & { at: number; order: number }
  & (
    | { kind: "data"; seg: OutSegment }
    | { kind: "ack"; ack: Ack }
  );

/** A binary min-heap of events by time (ties in insertion order). */
class Events {
  #h: Ev[] = [];
  #order = 0;
  get size() {
    return this.#h.length;
  }
  push(e: { at: number } & ({ kind: "data"; seg: OutSegment } | { kind: "ack"; ack: Ack })) {
    const h = this.#h;
    h.push({ ...e, order: this.#order++ } as Ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  peek(): Ev | undefined {
    return this.#h[0];
  }
  pop(): Ev {
    const h = this.#h;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l], h[m])) m = l;
        if (r < h.length && this.#less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
  #less(a: Ev, b: Ev) {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }
}

interface Scenario {
  seed: number;
  size: number;
  maxPayload: number;
  loss: number;
  dup: number;
  minDelay: number;
  jitter: number;
  goPeer: boolean;
  windowSegments: number;
  bufferBytes: number;
  readPerTick: number; // bytes the application reads every 20 ms (0 = everything at once)
}

function run(sc: Scenario): { received: Uint8Array; data: Uint8Array; now: number } {
  const rng = Prng.seeded(sc.seed);
  const data = Uint8Array.from({ length: sc.size }, () => rng.int(0, 255));
  const sender = new ArqSender(0, {
    maxPayload: sc.maxPayload,
    sendBufferBytes: 64 * 1024,
    goPeer: sc.goPeer,
    maxTimeouts: 1000, // a 30% loss rate makes long runs of lost retransmissions likely
  });
  const receiver = new ArqReceiver({
    goPeer: sc.goPeer,
    windowSegments: sc.windowSegments,
    bufferBytes: sc.bufferBytes,
    maxPayload: sc.maxPayload,
  });
  const link = new Events();
  const send = (at: number, e: { kind: "data"; seg: OutSegment } | { kind: "ack"; ack: Ack }) => {
    if (rng.chance(sc.loss)) return;
    const copies = rng.chance(sc.dup) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      link.push({ ...e, at: at + sc.minDelay + rng.int(0, sc.jitter) });
    }
  };
  const received: number[] = [];
  let written = 0, finished = false, eof = false, now = 0, nextRead = 0;
  const seen = new Map<number, OutSegment>(); // first copy of every seq, to check retransmissions
  let maxSeqSent = -1;
  // The sender's view of what is acknowledged, rebuilt from the ACKs it was given.
  const acked = new Set<number>();
  let oldestUnacked = 0;
  const noteAck = (a: Ack) => {
    acked.add(a.ackedSeq);
    if (a.lastInOrder > 0) { for (let q = oldestUnacked; q <= a.lastInOrder; q++) acked.add(q); }
    while (acked.has(oldestUnacked)) acked.delete(oldestUnacked++);
  };

  const pump = () => {
    while (written < data.length) {
      const n = sender.write(data.subarray(written, written + rng.int(1, 3000)), now);
      if (n === 0) break;
      written += n;
    }
    if (written === data.length && !finished) {
      sender.finish(now);
      finished = true;
    }
    for (let seg = sender.poll(now); seg !== undefined; seg = sender.poll(now)) {
      assert.ok(seg.payload.length <= sc.maxPayload);
      assert.equal((seg.flags & 0x02) !== 0, seg.seq === 0, "SYN exactly on seq 0");
      const first = seen.get(seg.seq);
      if (first === undefined) {
        assert.equal(seg.flags & 0x08, 0, "a first transmission has no RTO flag");
        assert.equal(seg.seq, maxSeqSent + 1, "new segments take consecutive seqs");
        maxSeqSent = seg.seq;
        seen.set(seg.seq, { ...seg, payload: seg.payload.slice() });
      } else {
        assert.equal(seg.flags, first.flags | 0x08, "a retransmission adds RTO and keeps the rest");
        assert.deepEqual(seg.payload, first.payload);
      }
      if ((seg.flags & 0x04) !== 0) assert.equal(seg.payload.length, 0, "FIN is empty");
      assert.ok(seg.seq - oldestUnacked <= 65533, "span within the Go ring");
      send(now, { kind: "data", seg });
    }
  };
  const readApp = () => {
    for (;;) {
      const chunk = receiver.read(sc.readPerTick === 0 ? undefined : sc.readPerTick);
      if (chunk === null) {
        eof = true;
        return;
      }
      if (chunk === undefined) return;
      received.push(...chunk);
      if (sc.readPerTick !== 0) return;
    }
  };

  for (let steps = 0; !(eof && sender.finAcked); steps++) {
    assert.ok(steps < 2_000_000, "no progress");
    pump();
    const candidates = [link.peek()?.at, sender.nextTimeout()];
    // A slow reader reads every 20 ms, but only while there is something to read.
    if (sc.readPerTick !== 0 && receiver.readable + (receiver.finReceived ? 1 : 0) > 0 && !eof) {
      candidates.push(Math.max(nextRead, now));
    }
    const times = candidates.filter((t): t is number => t !== undefined);
    assert.ok(times.length > 0, `deadlock at ${now}: nothing scheduled`);
    now = Math.max(now, Math.min(...times));
    while (link.size > 0 && link.peek()!.at <= now) {
      const ev = link.pop();
      if (ev.kind === "data") {
        const { ack } = receiver.onData(ev.seg);
        if (ack !== undefined) send(now, { kind: "ack", ack });
        if (sc.readPerTick === 0) readApp();
      } else {
        noteAck(ev.ack);
        sender.onAck(ev.ack, now);
      }
    }
    if (sc.readPerTick !== 0 && now >= nextRead) {
      readApp();
      nextRead = now + 20;
    }
    assert.equal(sender.failed, false);
  }
  return { received: new Uint8Array(received), data, now };
}

/** 150 runs; ARQ_RUNS=n (with --allow-env) runs more. */
function runs(): number {
  const env = Deno.permissions.querySync({ name: "env", variable: "ARQ_RUNS" });
  return env.state === "granted" ? Number(Deno.env.get("ARQ_RUNS") ?? 150) : 150;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer(),
  size: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 3000, max: 60_000 })),
  maxPayload: fc.oneof(fc.constant(1330), fc.integer({ min: 1, max: 1330 })),
  loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
  dup: fc.double({ min: 0, max: 0.1, noNaN: true }),
  minDelay: fc.integer({ min: 1, max: 100 }),
  jitter: fc.integer({ min: 0, max: 200 }),
  goPeer: fc.boolean(),
  windowSegments: fc.integer({ min: 1, max: 4096 }),
  bufferBytes: fc.integer({ min: 1330, max: 1 << 20 }),
  readPerTick: fc.oneof(fc.constant(0), fc.integer({ min: 500, max: 20_000 })),
});

Deno.test("arq over a lossy, duplicating, reordering link delivers the exact stream, then EOF", () => {
  fc.assert(
    fc.property(scenario, (sc) => {
      const { received, data } = run(sc);
      assert.equal(received.length, data.length);
      assert.deepEqual(received, data);
    }),
    { numRuns: runs() },
  );
});

Deno.test("arq link: 30% loss each way, a full Go-style transfer of 300 segments, several seeds", () => {
  for (let seed = 1; seed <= 8; seed++) {
    const { received, data } = run({
      seed,
      size: 300 * 1330,
      maxPayload: 1330,
      loss: 0.3,
      dup: 0.05,
      minDelay: 10,
      jitter: 50,
      goPeer: true,
      windowSegments: 4096,
      bufferBytes: 1 << 22,
      readPerTick: 0,
    });
    assert.deepEqual(received, data);
  }
});
