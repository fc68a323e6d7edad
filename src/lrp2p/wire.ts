/**
 * LRP2P wire codecs (spec lrp2p.md §2 and §4): the plaintext segments carried inside transport
 * datagrams (data and ACK) and the 64-bit connection id that starts every datagram. Encoders only
 * produce the exact forms the spec requires (dataOffset 6 and 10); the decoder is total and
 * rejects every malformed form of §4 with a reason instead of throwing.
 *
 * @module
 */

/** Flag bit of an ACK segment; a receiver tells ACK from data by this bit alone. */
export const FLAG_ACK = 0x01;
/** Flag set on the first data segment a connection ever sends (seq 0); receivers ignore it. */
export const FLAG_SYN = 0x02;
/** FIN extension (§8.4): an empty data segment ending the stream; it consumes a sequence number. */
export const FLAG_FIN = 0x04;
/** Flag added to a data segment when it is retransmitted; receivers ignore it. */
export const FLAG_RTO = 0x08;

/** Header length (and dataOffset) of a data segment. */
export const DATA_HEADER = 6;
/** Length of an ACK segment (dataOffset 10 plus the 4-byte acknowledged seq). */
export const ACK_SEGMENT = 14;
/** Largest data payload a sender may put in one segment (what Go peers send and expect). */
export const MAX_PAYLOAD = 1330;
/** Size of the Go peer's receive buffer: longer datagrams are truncated there. */
export const GO_DATAGRAM_MAX = 1400;
/** Bytes a transport datagram adds to its segment: connId (8) + counter (8) + tag (16). */
export const TRANSPORT_OVERHEAD = 32;

/** dataOffset of an ACK segment. */
const ACK_OFFSET = 10;

/** A decoded segment: a data segment (with its payload) or an ACK. */
export type Segment =
  | { kind: "data"; flags: number; seq: number; payload: Uint8Array }
  | { kind: "ack"; flags: number; lastInOrder: number; window: number; ackedSeq: number };

/** Why a plaintext is not a valid segment. */
export interface InvalidSegment {
  kind: "invalid";
  reason: string;
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/**
 * Encodes a data segment: dataOffset 6, `flags`, BE32 `seq`, then the payload.
 * Throws a RangeError on programming errors (flags with the ACK bit or outside a byte, seq not a
 * u32, payload longer than {@linkcode MAX_PAYLOAD}).
 *
 * @example SYN segment carrying "hi"
 * ```ts
 * import { encodeData, FLAG_SYN } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const seg = encodeData(FLAG_SYN, 0, new TextEncoder().encode("hi"));
 * assert.deepEqual([...seg], [6, 2, 0, 0, 0, 0, 0x68, 0x69]);
 * ```
 */
export function encodeData(flags: number, seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(DATA_HEADER + payload.length);
  writeDataHeader(out, flags, seq, payload.length);
  out.set(payload, DATA_HEADER);
  return out;
}

/**
 * Writes the 6-byte header of a data segment whose payload has `payloadLength` bytes at the start
 * of `out` (checked as {@linkcode encodeData} checks) and returns `out`, so that a header and its
 * payload can be sealed without first being joined.
 *
 * @example
 * ```ts
 * import { writeDataHeader } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...writeDataHeader(new Uint8Array(6), 0x08, 258, 1330)], [6, 8, 0, 0, 1, 2]);
 * assert.throws(() => writeDataHeader(new Uint8Array(6), 0x01, 0, 0), RangeError); // ACK flag
 * ```
 */
export function writeDataHeader(
  out: Uint8Array,
  flags: number,
  seq: number,
  payloadLength: number,
): Uint8Array {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff || (flags & FLAG_ACK) !== 0) {
    throw new RangeError(`invalid data flags ${flags}`);
  }
  if (!isU32(seq)) throw new RangeError(`invalid seq ${seq}`);
  if (payloadLength > MAX_PAYLOAD) {
    throw new RangeError(`payload of ${payloadLength} bytes exceeds ${MAX_PAYLOAD}`);
  }
  out[0] = DATA_HEADER;
  out[1] = flags;
  out[2] = seq >>> 24;
  out[3] = (seq >>> 16) & 0xff;
  out[4] = (seq >>> 8) & 0xff;
  out[5] = seq & 0xff;
  return out;
}

/**
 * Encodes a 14-byte ACK segment: dataOffset 10, flags 0x01, BE32 lastInOrder, BE32 window,
 * BE32 ackedSeq. Throws a RangeError if a field is not a u32.
 *
 * @example The ACK of §3.6
 * ```ts
 * import { encodeAck } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([...encodeAck(0, 65535, 0)], [10, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]);
 * ```
 */
export function encodeAck(lastInOrder: number, window: number, ackedSeq: number): Uint8Array {
  if (!isU32(lastInOrder)) throw new RangeError(`invalid lastInOrder ${lastInOrder}`);
  if (!isU32(window)) throw new RangeError(`invalid window ${window}`);
  if (!isU32(ackedSeq)) throw new RangeError(`invalid ackedSeq ${ackedSeq}`);
  const out = new Uint8Array(ACK_SEGMENT);
  const view = new DataView(out.buffer);
  out[0] = ACK_OFFSET;
  out[1] = FLAG_ACK;
  view.setUint32(2, lastInOrder);
  view.setUint32(6, window);
  view.setUint32(10, ackedSeq);
  return out;
}

/**
 * Decodes one segment plaintext. Total: never throws. Applies the checks of §4: `len >= 6`,
 * `6 <= dataOffset <= len`, and for ACKs (flag 0x01) `dataOffset >= 10` and
 * `len >= dataOffset + 4`. Like a Go receiver it locates the payload (for ACKs, the acknowledged
 * seq) at `dataOffset`, so extra header bytes are skipped. A data payload is a view into `plain`
 * (no copy).
 *
 * @example Data, ACK and invalid plaintexts
 * ```ts
 * import { decodeSegment, encodeAck, encodeData } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const d = decodeSegment(encodeData(0, 7, new Uint8Array([1, 2])));
 * assert.equal(d.kind, "data");
 * assert.ok(d.kind === "data" && d.seq === 7 && d.payload.length === 2);
 * assert.deepEqual(decodeSegment(encodeAck(4, 65535, 5)), {
 *   kind: "ack", flags: 1, lastInOrder: 4, window: 65535, ackedSeq: 5,
 * });
 * assert.equal(decodeSegment(new Uint8Array([6])).kind, "invalid");
 * ```
 */
export function decodeSegment(plain: Uint8Array): Segment | InvalidSegment {
  const len = plain.length;
  if (len < DATA_HEADER) return { kind: "invalid", reason: `segment of ${len} bytes (< 6)` };
  const dataOffset = plain[0];
  const flags = plain[1];
  if (dataOffset < DATA_HEADER) {
    return { kind: "invalid", reason: `dataOffset ${dataOffset} < 6` };
  }
  if (dataOffset > len) {
    return { kind: "invalid", reason: `dataOffset ${dataOffset} beyond ${len}-byte segment` };
  }
  const view = new DataView(plain.buffer, plain.byteOffset, len);
  if ((flags & FLAG_ACK) !== 0) {
    if (dataOffset < ACK_OFFSET) {
      return { kind: "invalid", reason: `ACK with dataOffset ${dataOffset} < 10` };
    }
    if (len < dataOffset + 4) {
      return { kind: "invalid", reason: `ACK of ${len} bytes lacks ackedSeq at ${dataOffset}` };
    }
    return {
      kind: "ack",
      flags,
      lastInOrder: view.getUint32(2),
      window: view.getUint32(6),
      ackedSeq: view.getUint32(dataOffset),
    };
  }
  return { kind: "data", flags, seq: view.getUint32(2), payload: plain.subarray(dataOffset) };
}

/**
 * Reads the BE64 connection id at the start of a datagram; `undefined` if it has fewer than 8
 * bytes.
 *
 * @example
 * ```ts
 * import { readConnId } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(readConnId(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])), 0x0102030405060708n);
 * assert.equal(readConnId(new Uint8Array(7)), undefined);
 * ```
 */
export function readConnId(datagram: Uint8Array): bigint | undefined {
  if (datagram.length < 8) return undefined;
  return new DataView(datagram.buffer, datagram.byteOffset, 8).getBigUint64(0);
}

/**
 * Prefixes `rest` with the BE64 connection id (a new array). Throws a RangeError if `connId` is
 * not a u64.
 *
 * @example
 * ```ts
 * import { readConnId, writeConnId } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const d = writeConnId(0xfedcba9876543210n, new Uint8Array([42]));
 * assert.equal(d.length, 9);
 * assert.equal(readConnId(d), 0xfedcba9876543210n);
 * assert.equal(d[8], 42);
 * ```
 */
export function writeConnId(connId: bigint, rest: Uint8Array): Uint8Array {
  if (connId < 0n || connId > 0xffffffffffffffffn) throw new RangeError(`invalid connId ${connId}`);
  const out = new Uint8Array(8 + rest.length);
  new DataView(out.buffer).setBigUint64(0, connId);
  out.set(rest, 8);
  return out;
}
