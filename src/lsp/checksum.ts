/**
 * The LSP Data checksum: a 16-bit ones'-complement style sum over ConnID, SeqNum, Size and the
 * payload, with the Go reference's *lost carry* when the two halves of each 32-bit header field are
 * added (spec §4). Copy it exactly: a textbook fold would be off by one for ordinary values such as
 * SeqNum 1987365748, and the reference drops such messages.
 *
 * @module
 */

/**
 * Folds one integer header field into 16 bits the way the reference does: the low 32 bits
 * (two's complement) split into halves, added as 16-bit values, carry discarded.
 */
function part(value: number): number {
  const u = value >>> 0; // ToUint32: exact modulo 2^32 for any integral Number, negatives included
  return ((u & 0xffff) + (u >>> 16)) & 0xffff;
}

/**
 * Computes the checksum of a Data message over its header fields and payload bytes.
 *
 * `connId`, `seqNum` and `size` may be any integral Numbers (negative or ≥ 2^32 included: only
 * their low 32 bits count). The payload is summed as little-endian 16-bit words, an odd tail byte
 * padded with 0x00. A receiver computes it over the payload *after* truncation to `size`.
 *
 * @param connId The message's ConnID.
 * @param seqNum The message's SeqNum.
 * @param size The message's Size field (the claimed payload length).
 * @param payload The payload bytes covered by the checksum.
 * @returns The checksum, an integer in 0..65535.
 *
 * @example Worked example A of the spec
 * ```ts
 * import { checksum } from "./checksum.ts";
 * import assert from "node:assert/strict";
 * const payload = Uint8Array.of(0x38, 0xe6, 0x7b, 0xff, 0x2a);
 * assert.equal(checksum(1, 2, 5, payload), 6681);
 * ```
 *
 * @example The lost carry (a textbook fold would give 11456)
 * ```ts
 * import { checksum } from "./checksum.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checksum(-1, 5, 2, Uint8Array.of(0x38, 0xd3)), 11457);
 * ```
 */
export function checksum(
  connId: number,
  seqNum: number,
  size: number,
  payload: Uint8Array,
): number {
  let sum = part(connId) + part(seqNum) + part(size);
  const n = payload.length;
  const even = n & ~1;
  for (let i = 0; i < even; i += 2) sum += payload[i] | (payload[i + 1] << 8);
  if (even !== n) sum += payload[even];
  // Payloads up to 2^37 bytes keep `sum` exact in a Number; reduce to 32 bits like the reference.
  let s = sum % 0x100000000;
  while (s > 0xffff) s = (s >>> 16) + (s & 0xffff); // end-around carry fold of the total
  return ~s & 0xffff;
}
