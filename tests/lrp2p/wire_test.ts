/**
 * LRP2P segment and connId codecs (spec lrp2p.md §2, §4): exact encodings, every malformed form
 * of §4 rejected, decodeSegment total over random bytes, round trips.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ACK_SEGMENT,
  DATA_HEADER,
  decodeSegment,
  encodeAck,
  encodeData,
  FLAG_ACK,
  FLAG_FIN,
  FLAG_RTO,
  FLAG_SYN,
  GO_DATAGRAM_MAX,
  MAX_PAYLOAD,
  readConnId,
  TRANSPORT_OVERHEAD,
  writeConnId,
} from "../../src/lrp2p/wire.ts";

Deno.test("constants match §2 and §4", () => {
  assert.deepEqual([FLAG_ACK, FLAG_SYN, FLAG_FIN, FLAG_RTO], [1, 2, 4, 8]);
  assert.equal(DATA_HEADER, 6);
  assert.equal(ACK_SEGMENT, 14);
  assert.equal(MAX_PAYLOAD, 1330);
  assert.equal(GO_DATAGRAM_MAX, 1400);
  assert.equal(TRANSPORT_OVERHEAD, 32);
  assert.equal(TRANSPORT_OVERHEAD + DATA_HEADER + MAX_PAYLOAD, 1368, "largest Go datagram");
  assert.equal(TRANSPORT_OVERHEAD + ACK_SEGMENT, 46, "ACK datagram");
});

Deno.test("encodeData: dataOffset 6, flags, BE32 seq, payload", () => {
  const seg = encodeData(FLAG_RTO | FLAG_SYN, 0x01020304, Uint8Array.of(0xaa, 0xbb));
  assert.deepEqual([...seg], [6, 0x0a, 1, 2, 3, 4, 0xaa, 0xbb]);
  assert.deepEqual([...encodeData(FLAG_FIN, 0xffffffff, new Uint8Array(0))], [
    6,
    4,
    0xff,
    0xff,
    0xff,
    0xff,
  ]);
  assert.equal(encodeData(0, 0, new Uint8Array(MAX_PAYLOAD)).length, 1336);
});

Deno.test("encodeData refuses what a TS sender must never produce", () => {
  assert.throws(() => encodeData(FLAG_ACK, 0, new Uint8Array(0)), RangeError);
  assert.throws(() => encodeData(0x100, 0, new Uint8Array(0)), RangeError);
  assert.throws(() => encodeData(-1, 0, new Uint8Array(0)), RangeError);
  assert.throws(() => encodeData(0, -1, new Uint8Array(0)), RangeError);
  assert.throws(() => encodeData(0, 2 ** 32, new Uint8Array(0)), RangeError);
  assert.throws(() => encodeData(0, 1.5, new Uint8Array(0)), RangeError);
  assert.throws(() => encodeData(0, 0, new Uint8Array(MAX_PAYLOAD + 1)), RangeError);
});

Deno.test("encodeAck: 14 bytes, dataOffset 10, flags 0x01", () => {
  assert.deepEqual([...encodeAck(0x11223344, 65535, 0xfffffffe)], [
    10,
    1,
    0x11,
    0x22,
    0x33,
    0x44,
    0,
    0,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xfe,
  ]);
  assert.throws(() => encodeAck(-1, 0, 0), RangeError);
  assert.throws(() => encodeAck(0, 2 ** 32, 0), RangeError);
  assert.throws(() => encodeAck(0, 0, NaN), RangeError);
});

Deno.test("decodeSegment: every malformed form of §4 is invalid", () => {
  const cases: [string, number[]][] = [
    ["empty", []],
    ["1 byte (crashes Go)", [6]],
    ["5 bytes", [6, 0, 0, 0, 0]],
    ["dataOffset 0", [0, 0, 0, 0, 0, 0]],
    ["dataOffset 5", [5, 0, 0, 0, 0, 0, 1]],
    ["dataOffset beyond the end", [7, 0, 0, 0, 0, 0]],
    ["dataOffset 255", [255, 0, 0, 0, 0, 0, 1, 2]],
    ["ACK with dataOffset 6", [6, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]],
    ["ACK with dataOffset 9", [9, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]],
    ["ACK of 13 bytes", [10, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0]],
    ["ACK of 10 bytes", [10, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff]],
    ["ACK dataOffset 11, 14 bytes", [11, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]],
    ["ACK of 6 bytes", [6, 1, 0, 0, 0, 0]],
    ["ACK flag among others, short", [10, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [name, bytes] of cases) {
    const d = decodeSegment(Uint8Array.from(bytes));
    assert.equal(d.kind, "invalid", name);
    assert.ok(d.kind === "invalid" && d.reason.length > 0, name);
  }
});

Deno.test("decodeSegment: the valid edge forms", () => {
  assert.deepEqual(decodeSegment(Uint8Array.of(6, 0, 0, 0, 0, 9)), {
    kind: "data",
    flags: 0,
    seq: 9,
    payload: new Uint8Array(0),
  });
  // a larger dataOffset skips extra header bytes, as the Go receiver does
  const d = decodeSegment(Uint8Array.of(8, 2, 0, 0, 1, 0, 0xee, 0xee, 0x41));
  assert.deepEqual(d, { kind: "data", flags: 2, seq: 256, payload: Uint8Array.of(0x41) });
  // an ACK with a larger dataOffset takes ackedSeq at dataOffset
  const a = decodeSegment(Uint8Array.of(12, 1, 0, 0, 0, 3, 0, 0, 0, 9, 0xee, 0xee, 0, 0, 0, 4));
  assert.deepEqual(a, { kind: "ack", flags: 1, lastInOrder: 3, window: 9, ackedSeq: 4 });
  // bytes after an ACK's ackedSeq are ignored
  const b = decodeSegment(Uint8Array.of(...encodeAck(1, 2, 3), 0x77));
  assert.deepEqual(b, { kind: "ack", flags: 1, lastInOrder: 1, window: 2, ackedSeq: 3 });
  // the payload is a view of a subarray-based input with an offset
  const big = new Uint8Array(20);
  big.set(encodeData(0, 5, Uint8Array.of(1, 2, 3)), 4);
  const v = decodeSegment(big.subarray(4, 13));
  assert.deepEqual(v, { kind: "data", flags: 0, seq: 5, payload: Uint8Array.of(1, 2, 3) });
});

Deno.test("property: decodeSegment is total over random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const d = decodeSegment(bytes);
      assert.ok(["data", "ack", "invalid"].includes(d.kind));
      const valid = bytes.length >= 6 && bytes[0] >= 6 && bytes[0] <= bytes.length &&
        ((bytes[1] & 1) === 0 || (bytes[0] >= 10 && bytes.length >= bytes[0] + 4));
      assert.equal(d.kind !== "invalid", valid);
      if (d.kind === "data") assert.equal(d.payload.length, bytes.length - bytes[0]);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("property: data and ACK segments round trip", () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0x7f }).map((f) => f << 1),
      u32,
      fc.uint8Array({ maxLength: MAX_PAYLOAD }),
      (flags, seq, payload) => {
        const seg = encodeData(flags, seq, payload);
        assert.equal(seg.length, DATA_HEADER + payload.length);
        assert.deepEqual(decodeSegment(seg), { kind: "data", flags, seq, payload });
      },
    ),
    { numRuns: 200 },
  );
  fc.assert(
    fc.property(u32, u32, u32, (lastInOrder, window, ackedSeq) => {
      const seg = encodeAck(lastInOrder, window, ackedSeq);
      assert.equal(seg.length, ACK_SEGMENT);
      assert.deepEqual(decodeSegment(seg), {
        kind: "ack",
        flags: FLAG_ACK,
        lastInOrder,
        window,
        ackedSeq,
      });
    }),
    { numRuns: 200 },
  );
});

Deno.test("connId: BE64, short datagrams give undefined", () => {
  for (let len = 0; len < 8; len++) assert.equal(readConnId(new Uint8Array(len)), undefined);
  assert.equal(readConnId(new Uint8Array(8)), 0n);
  assert.equal(readConnId(new Uint8Array(8).fill(0xff)), 0xffffffffffffffffn);
  const d = writeConnId(0x0102030405060708n, Uint8Array.of(9));
  assert.deepEqual([...d], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(readConnId(d.subarray(1)), 0x0203040506070809n, "works on offset views");
  assert.throws(() => writeConnId(-1n, new Uint8Array(0)), RangeError);
  assert.throws(() => writeConnId(1n << 64n, new Uint8Array(0)), RangeError);
});

Deno.test("property: connId round trip", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array(), (id, rest) => {
      const d = writeConnId(id, rest);
      assert.equal(readConnId(d), id);
      assert.deepEqual(d.subarray(8), rest);
    }),
  );
});
