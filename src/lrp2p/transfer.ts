/**
 * The file transfer of `bitclone lrp2p send`/`recv` over one LRP2P connection, as pure codecs.
 *
 * Sender to receiver:
 * ```
 * "LRPF" | version 0x01 | name length (u16 BE) | name (UTF-8) | size (u64 BE)   the offer
 * size bytes of the file
 * SHA-256 of the whole file (32 bytes)
 * ```
 * Receiver to sender, once (after the hash was checked and the file is in place, or as soon as
 * it refuses): `status (1 byte: 0 saved, 1 refused or failed) | message length (u16 BE) |
 * message (UTF-8)`. The sender exits 0 only on status 0.
 *
 * @module
 */

/** The first bytes of an offer. */
export const OFFER_MAGIC = new Uint8Array([0x4c, 0x52, 0x50, 0x46]); // "LRPF"
/** The version byte of an offer. */
export const OFFER_VERSION = 1;
/** Longest file name, in UTF-8 bytes. */
export const NAME_MAX_BYTES = 255;
/** Largest file size (2^53 - 1: exact in a JS number). */
export const SIZE_MAX = Number.MAX_SAFE_INTEGER;
/** Length of the trailing hash. */
export const DIGEST_BYTES = 32;

/** What the sender offers. */
export interface Offer {
  name: string;
  size: number;
}

/** The receiver's answer. */
export interface Reply {
  ok: boolean;
  message: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/**
 * Why `name` cannot be a file name in the receiver's directory, or `undefined` when it can:
 * 1 to 255 UTF-8 bytes, not `.` or `..`, no `/`, `\`, NUL or other control characters (so no
 * path traversal, no hidden directory parts).
 *
 * @example
 * ```ts
 * import { fileNameProblem } from "./transfer.ts";
 * import assert from "node:assert/strict";
 * assert.equal(fileNameProblem("report.pdf"), undefined);
 * assert.ok(fileNameProblem("../etc/passwd"));
 * ```
 */
export function fileNameProblem(name: string): string | undefined {
  const bytes = enc.encode(name).length;
  if (bytes === 0) return "the file name is empty";
  if (bytes > NAME_MAX_BYTES) return `the file name is over ${NAME_MAX_BYTES} bytes`;
  if (name === "." || name === "..") return `'${name}' is not a file name`;
  // deno-lint-ignore no-control-regex
  if (/[\/\\\x00-\x1f\x7f]/.test(name)) {
    return "the file name has a slash, a backslash or a control character";
  }
  return undefined;
}

/**
 * Encodes an offer.
 *
 * @throws {RangeError} When the name or the size cannot be sent.
 * @example
 * ```ts
 * import { decodeOffer, encodeOffer } from "./transfer.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeOffer({ name: "a.txt", size: 3 });
 * assert.deepEqual(decodeOffer(bytes), { offer: { name: "a.txt", size: 3 }, length: bytes.length });
 * ```
 */
export function encodeOffer(offer: Offer): Uint8Array {
  const problem = fileNameProblem(offer.name);
  if (problem) throw new RangeError(`Cannot offer the file: ${problem}`);
  if (!Number.isSafeInteger(offer.size) || offer.size < 0) {
    throw new RangeError(`Cannot offer the file: size ${offer.size}`);
  }
  const name = enc.encode(offer.name);
  const out = new Uint8Array(4 + 1 + 2 + name.length + 8);
  const v = new DataView(out.buffer);
  out.set(OFFER_MAGIC, 0);
  out[4] = OFFER_VERSION;
  v.setUint16(5, name.length);
  out.set(name, 7);
  v.setBigUint64(7 + name.length, BigInt(offer.size));
  return out;
}

/**
 * Decodes an offer at the start of `buf`: the offer and its length, `"short"` when more bytes
 * are needed, or an `Error` when the bytes are not a valid offer. Total: never throws.
 *
 * @example
 * ```ts
 * import { decodeOffer } from "./transfer.ts";
 * import assert from "node:assert/strict";
 * assert.equal(decodeOffer(new Uint8Array([0x4c, 0x52])), "short");
 * assert.ok(decodeOffer(new TextEncoder().encode("GET / HTTP/1.1\r\n")) instanceof Error);
 * ```
 */
export function decodeOffer(buf: Uint8Array): { offer: Offer; length: number } | "short" | Error {
  for (let i = 0; i < Math.min(4, buf.length); i++) {
    if (buf[i] !== OFFER_MAGIC[i]) return new Error("not a file offer");
  }
  if (buf.length < 7) return "short";
  if (buf[4] !== OFFER_VERSION) return new Error(`offer version ${buf[4]} is not supported`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const nameLength = v.getUint16(5);
  if (nameLength > NAME_MAX_BYTES) return new Error("the file name is too long");
  if (buf.length < 7 + nameLength + 8) return "short";
  let name: string;
  try {
    name = dec.decode(buf.subarray(7, 7 + nameLength));
  } catch {
    return new Error("the file name is not UTF-8");
  }
  const problem = fileNameProblem(name);
  if (problem) return new Error(problem);
  const size = v.getBigUint64(7 + nameLength);
  if (size > BigInt(SIZE_MAX)) return new Error(`the size ${size} is too large`);
  return { offer: { name, size: Number(size) }, length: 7 + nameLength + 8 };
}

/**
 * Encodes the receiver's reply (the message is cut to 1,000 bytes).
 *
 * @example
 * ```ts
 * import { decodeReply, encodeReply } from "./transfer.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeReply({ ok: true, message: "saved" });
 * assert.deepEqual(decodeReply(bytes), { reply: { ok: true, message: "saved" }, length: bytes.length });
 * ```
 */
export function encodeReply(reply: Reply): Uint8Array {
  let msg = enc.encode(reply.message);
  if (msg.length > 1000) msg = enc.encode(reply.message.slice(0, 900));
  const out = new Uint8Array(3 + msg.length);
  out[0] = reply.ok ? 0 : 1;
  new DataView(out.buffer).setUint16(1, msg.length);
  out.set(msg, 3);
  return out;
}

/** Decodes a reply at the start of `buf` (see {@linkcode decodeOffer}). Total. */
export function decodeReply(buf: Uint8Array): { reply: Reply; length: number } | "short" | Error {
  if (buf.length >= 1 && buf[0] > 1) return new Error(`reply status ${buf[0]} is unknown`);
  if (buf.length < 3) return "short";
  const n = (buf[1] << 8) | buf[2];
  if (buf.length < 3 + n) return "short";
  const message = new TextDecoder().decode(buf.subarray(3, 3 + n));
  return { reply: { ok: buf[0] === 0, message }, length: 3 + n };
}
