/**
 * LRP2P transport encryption (spec lrp2p.md §3.5) and the replay window of §8.2, including the
 * fix of flaw L3: a forged datagram never advances or marks the window.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { NONCE_LIMIT, ReplayWindow, TransportCipher } from "../../src/lrp2p/transport.ts";
import { encodeData, readConnId } from "../../src/lrp2p/wire.ts";

const K1 = new Uint8Array(32).fill(0x11), K2 = new Uint8Array(32).fill(0x22);
const CONN = 0x0102030405060708n;

function pair(windowSize?: number): { a: TransportCipher; b: TransportCipher } {
  return {
    a: new TransportCipher({ connId: CONN, sendKey: K1, recvKey: K2, windowSize }),
    b: new TransportCipher({ connId: CONN, sendKey: K2, recvKey: K1, windowSize }),
  };
}

/** A datagram with counter `n` and garbage ciphertext (what an attacker who saw the connId sends). */
function forged(n: bigint, len = 40): Uint8Array {
  const d = new Uint8Array(len).fill(0x5a);
  const v = new DataView(d.buffer);
  v.setBigUint64(0, CONN);
  v.setBigUint64(8, n);
  return d;
}

function counterOf(d: Uint8Array): bigint {
  return new DataView(d.buffer, d.byteOffset).getBigUint64(8);
}

Deno.test("seal/open round trip, layout and counters", () => {
  const { a, b } = pair();
  const seg = encodeData(0, 3, Uint8Array.of(1, 2, 3));
  assert.equal(a.sendCounter, 0n);
  const d0 = a.seal(seg);
  const d1 = a.seal(seg);
  assert.equal(a.sendCounter, 2n);
  assert.equal(d0.length, 32 + seg.length);
  assert.equal(readConnId(d0), CONN);
  assert.equal(counterOf(d0), 0n);
  assert.equal(counterOf(d1), 1n);
  assert.notDeepEqual(d0.subarray(16), d1.subarray(16), "a fresh nonce per datagram");
  assert.deepEqual(b.open(d1), seg);
  assert.deepEqual(b.open(d0), seg);
  assert.equal(a.open(d0), undefined, "the sender's own datagram does not open with recvKey");
});

Deno.test("property: any segment round trips in both directions", () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 1400 }), { maxLength: 8 }), (segs) => {
      const { a, b } = pair();
      for (const s of segs) {
        assert.deepEqual(b.open(a.seal(s)), s);
        assert.deepEqual(a.open(b.seal(s)), s);
      }
    }),
    { numRuns: 50 },
  );
});

Deno.test("a replayed datagram is dropped", () => {
  const { a, b } = pair();
  const d = a.seal(Uint8Array.of(6, 0, 0, 0, 0, 0));
  assert.ok(b.open(d));
  assert.equal(b.open(d), undefined);
  assert.equal(b.open(d.slice()), undefined);
});

Deno.test("L3: a forged datagram does not burn its counter nor advance the window", () => {
  const { a, b } = pair();
  const real = [0, 1, 2].map((i) => a.seal(Uint8Array.of(6, 0, 0, 0, 0, i)));
  // forgeries for counter 0 (next) and far in the future (would push 0..2 out of a Go-like window)
  assert.equal(b.open(forged(0n)), undefined);
  assert.equal(b.open(forged(1_000_000n)), undefined);
  assert.equal(b.window.highest, -1n, "window untouched");
  // a datagram with the real counter but a flipped tag bit
  const tampered = real[1].slice();
  tampered[tampered.length - 1] ^= 1;
  assert.equal(b.open(tampered), undefined);
  for (let i = 0; i < 3; i++) assert.deepEqual(b.open(real[i]), Uint8Array.of(6, 0, 0, 0, 0, i));
});

Deno.test("too old datagrams are dropped; reordering within 4096 is accepted", () => {
  const { a, b } = pair();
  const ds = Array.from({ length: 4200 }, () => a.seal(new Uint8Array(6)));
  assert.ok(b.open(ds[4100]));
  assert.equal(b.open(ds[4]), undefined, "4 + 4096 <= 4100: too old");
  assert.equal(b.open(ds[0]), undefined);
  assert.ok(b.open(ds[5]), "5 + 4096 > 4100: still inside");
  assert.equal(b.open(ds[5]), undefined, "but only once");
  assert.ok(b.open(ds[4099]));
  assert.ok(b.open(ds[2000]));
  assert.ok(b.open(ds[4199]));
  assert.equal(b.open(ds[4100]), undefined, "replay of the old highest");
  assert.equal(b.open(ds[102]), undefined, "102 + 4096 <= 4199 now");
  assert.ok(b.open(ds[104]));
});

Deno.test("property: any order within the window accepts each datagram exactly once", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 299 }), { minLength: 1, maxLength: 600 }),
      (order) => {
        const { a, b } = pair(512);
        const ds = Array.from({ length: 300 }, (_, i) => a.seal(Uint8Array.of(i & 0xff)));
        const seen = new Set<number>();
        for (const i of order) {
          const p = b.open(ds[i]);
          assert.equal(p !== undefined, !seen.has(i), `datagram ${i}`);
          seen.add(i);
        }
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("truncated, short or foreign datagrams give undefined without throwing", () => {
  const { a, b } = pair();
  const d = a.seal(new Uint8Array(20));
  for (let len = 0; len < d.length; len++) {
    assert.equal(b.open(d.subarray(0, len)), undefined, `length ${len}`);
  }
  const other = new TransportCipher({ connId: CONN + 1n, sendKey: K1, recvKey: K2 });
  const foreign = other.seal(new Uint8Array(6));
  assert.equal(b.open(foreign), undefined, "another connId");
  assert.ok(b.open(d), "the untruncated datagram still opens: failures did not touch the window");
  // 32 bytes = header + tag of an empty segment: opens to an empty plaintext
  assert.deepEqual(b.open(a.seal(new Uint8Array(0))), new Uint8Array(0));
});

Deno.test("property: open never throws on random bytes", () => {
  const { b } = pair();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.boolean(), (bytes, ours) => {
      if (ours && bytes.length >= 8) new DataView(bytes.buffer).setBigUint64(0, CONN);
      assert.equal(b.open(bytes), undefined);
    }),
    { numRuns: 500 },
  );
});

Deno.test("L14: the counter stops before 2^64-1", () => {
  const a = new TransportCipher({
    connId: CONN,
    sendKey: K1,
    recvKey: K2,
    sendCounter: NONCE_LIMIT - 1n,
  });
  const b = new TransportCipher({ connId: CONN, sendKey: K2, recvKey: K1 });
  assert.equal(a.exhausted, false);
  const last = a.seal(new Uint8Array(6));
  assert.equal(counterOf(last), NONCE_LIMIT - 1n);
  assert.equal(a.exhausted, true);
  assert.throws(() => a.seal(new Uint8Array(6)));
  assert.equal(a.sendCounter, NONCE_LIMIT, "a refused seal does not move the counter");
  assert.deepEqual(b.open(last), new Uint8Array(6));
  assert.equal(b.open(forged(NONCE_LIMIT)), undefined);
});

Deno.test("ReplayWindow: check does not change it, commit does; large jumps clear it", () => {
  const w = new ReplayWindow(8);
  assert.ok(w.check(0n));
  assert.ok(w.check(0n), "check alone records nothing");
  w.commit(0n);
  assert.ok(!w.check(0n));
  w.commit(3n);
  assert.ok(w.check(1n) && w.check(2n) && !w.check(3n));
  w.commit(10n); // 3 + 8 > 10: 3 still remembered
  assert.ok(!w.check(3n), "3 is remembered");
  assert.ok(!w.check(2n), "2 + 8 <= 10: too old");
  assert.ok(w.check(4n) && w.check(9n));
  w.commit(100n); // jump larger than the window
  assert.ok(!w.check(92n) && w.check(93n) && w.check(99n) && !w.check(100n));
  w.commit(101n);
  assert.ok(w.check(94n), "slot of 94 was cleared by the jump");
  assert.ok(!w.check(-1n));
  assert.throws(() => new ReplayWindow(0), RangeError);
});

Deno.test("property: ReplayWindow agrees with a set-based model", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 70 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.boolean())),
      (size, ops) => {
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let highest = -1;
        for (const [n, doCommit] of ops) {
          const expect = n > highest || (n + size > highest && !seen.has(n));
          assert.equal(w.check(BigInt(n)), expect, `check ${n}`);
          if (doCommit && expect) {
            w.commit(BigInt(n));
            seen.add(n);
            highest = Math.max(highest, n);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("TransportCipher with libsodium's sealInto gives @noble's datagrams, and each opens the other's", async () => {
  const { sodiumAead } = await import("../../src/lrp2p/aead_deno.ts");
  const k1 = new Uint8Array(32).fill(1), k2 = new Uint8Array(32).fill(2);
  const fast = new TransportCipher({ connId: 9n, sendKey: k1, recvKey: k2, aead: sodiumAead });
  const slow = new TransportCipher({ connId: 9n, sendKey: k1, recvKey: k2 });
  const peer = new TransportCipher({ connId: 9n, sendKey: k2, recvKey: k1, aead: sodiumAead });
  for (const size of [0, 6, 14, 1336]) {
    const segment = new Uint8Array(size).map((_, i) => i * 13);
    const d = fast.seal(segment);
    assert.deepEqual(d, slow.seal(segment), `size ${size}`);
    assert.deepEqual(peer.open(d), segment);
  }
});

Deno.test("sealParts(head, body) is seal(head || body) with every cipher, into any alloc; openView opens what open opens", async () => {
  const { opensslAead, sodiumAead } = await import("../../src/lrp2p/aead_deno.ts");
  const slab = new Uint8Array(1 << 16);
  let at = 0;
  const alloc = (n: number) => slab.subarray(at, at += n); // views at odd offsets of one buffer
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 20 }),
      fc.uint8Array({ maxLength: 1400 }),
      fc.constantFrom(undefined, opensslAead, sodiumAead),
      (head, body, aead) => {
        at = 0;
        const a = new TransportCipher({ connId: CONN, sendKey: K1, recvKey: K2, aead, alloc });
        const ref = new TransportCipher({ connId: CONN, sendKey: K1, recvKey: K2 });
        const peer = new TransportCipher({ connId: CONN, sendKey: K2, recvKey: K1, aead });
        const joined = new Uint8Array([...head, ...body]);
        const d = a.sealParts(head, body);
        assert.equal(d.buffer, slab.buffer, "made by alloc");
        assert.deepEqual(d, ref.seal(joined));
        const view = peer.openView(d);
        assert.deepEqual(view, joined);
        assert.equal(peer.openView(d), undefined, "a replay");
        const e = a.seal(joined);
        assert.deepEqual(peer.open(e), joined);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("openView's plaintext (with a cipher that has openInto) is shared: the next openView overwrites it", async () => {
  const { sodiumAead: aead } = await import("../../src/lrp2p/aead_deno.ts");
  const a = new TransportCipher({ connId: CONN, sendKey: K1, recvKey: K2, aead });
  const b = new TransportCipher({ connId: CONN, sendKey: K2, recvKey: K1, aead });
  const first = b.openView(a.seal(Uint8Array.of(1, 2, 3)))!;
  const kept = first.slice();
  b.openView(a.seal(Uint8Array.of(9, 9, 9)));
  assert.deepEqual([...first], [9, 9, 9]);
  assert.deepEqual([...kept], [1, 2, 3]);
});

Deno.test("openInto of every cipher: the plaintext's length, or -1 for a forged, short or foreign datagram", async () => {
  const { opensslAead, sodiumAead } = await import("../../src/lrp2p/aead_deno.ts");
  const key = new Uint8Array(32).fill(4), nonce = new Uint8Array(12).fill(8);
  for (const size of [0, 14, 1336, 65_536, 70_000]) {
    const plain = new Uint8Array(size).map((_, i) => i * 5);
    const sealed = opensslAead.seal(key, nonce, plain);
    const out = new Uint8Array(size + 3).fill(0xee);
    assert.equal(sodiumAead.openInto!(key, nonce, sealed, out), size, `size ${size}`);
    assert.deepEqual(out.subarray(0, size), plain);
    assert.deepEqual([...out.subarray(size)], [0xee, 0xee, 0xee], "nothing written past it");
    sealed[sealed.length - 1] ^= 1;
    assert.equal(sodiumAead.openInto!(key, nonce, sealed, out), -1, `forged ${size}`);
  }
  assert.equal(sodiumAead.openInto!(key, nonce, new Uint8Array(15), new Uint8Array(0)), -1);
  const out = new Uint8Array(8);
  const sealed = sodiumAead.seal(key, nonce, Uint8Array.of(1, 2));
  assert.equal(sodiumAead.openInto!(new Uint8Array(32), nonce, sealed, out), -1, "another key");
});

Deno.test("property: ReplayWindow's number and BigInt entries agree with the model across 2^53", () => {
  const base = 2n ** 53n - 150n;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 70 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.boolean())),
      (size, ops) => {
        const w = new ReplayWindow(size);
        const seen = new Set<bigint>();
        let highest = -1n;
        for (const [offset, doCommit, asNumber] of ops) {
          const n = base + BigInt(offset);
          const expect = n > highest || (n + BigInt(size) > highest && !seen.has(n));
          const byNumber = n <= BigInt(Number.MAX_SAFE_INTEGER) && asNumber;
          assert.equal(byNumber ? w.checkSafe(Number(n)) : w.check(n), expect, `check ${n}`);
          if (doCommit) {
            if (byNumber) w.commitSafe(Number(n));
            else w.commit(n);
            if (expect) {
              seen.add(n);
              if (n > highest) highest = n;
            }
          }
          assert.equal(w.highest, highest);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("the send counter crosses 2^53 and stays exact: each datagram's counter and nonce open on the other side", () => {
  const start = 2n ** 53n - 2n;
  const a = new TransportCipher({ connId: CONN, sendKey: K1, recvKey: K2, sendCounter: start });
  const b = new TransportCipher({ connId: CONN, sendKey: K2, recvKey: K1 });
  for (let i = 0n; i < 4n; i++) {
    assert.equal(a.sendCounter, start + i);
    const d = a.seal(Uint8Array.of(Number(i)));
    assert.equal(counterOf(d), start + i);
    assert.deepEqual(b.open(d), Uint8Array.of(Number(i)));
  }
  assert.equal(b.window.highest, start + 3n);
});
