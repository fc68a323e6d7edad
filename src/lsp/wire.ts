/**
 * The LSP message codec (spec §3): one JSON object per UDP datagram, written byte for byte as the
 * Go reference writes it, and read with the Go reference's `encoding/json` rules.
 *
 * Encoding is canonical: `{"Type":T,"ConnID":C,"SeqNum":S,"Size":N,"Checksum":K,"Payload":P}`
 * in this key order, no whitespace, integers in plain decimal, `P` either `null` or standard
 * padded base64 in quotes.
 *
 * Decoding never throws and never rounds: it returns `undefined` for anything the reference
 * drops (and for the few things the spec tells us to drop on top), and otherwise the fields as
 * the reference would see them. Accepted like the reference: keys in any order and letter case
 * (Go's case folding, `ſ` and the Kelvin sign included), whitespace, unknown keys (ignored), missing
 * keys (0 / `null`), duplicate keys (the last one wins, a `null` leaves an integer untouched),
 * `Payload` as a string, `null` or an array of bytes, base64 with `\r`/`\n` inside. Dropped:
 * not JSON, not an object, integers written with a fraction or exponent, non-integers, strings or
 * booleans where an integer belongs, integers beyond ±(2^53 − 1), `Checksum` outside 0..65535,
 * `Type` outside 0..3, unpadded or URL-safe or otherwise invalid base64, nesting deeper than 10000.
 * The decoder checks structure only: Size, truncation and checksum are the receiver's job (§5).
 *
 * @module
 */

import { checksum } from "./checksum.ts";
import {
  endOfJsonValue,
  GO_MAX_NESTING_DEPTH,
  goFieldMatcher,
  jsonStringText,
  scanGoObject,
  skipJsonSpace,
} from "../util/mod.ts";

/**
 * The four message types and their wire numbers.
 *
 * @example Testing a message's type
 * ```ts
 * import { ackMessage, MsgType } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(ackMessage(1, 0).type, MsgType.Ack);
 * ```
 */
export const MsgType = { Connect: 0, Data: 1, Ack: 2, CAck: 3 } as const;

/**
 * A message type number: 0 Connect, 1 Data, 2 Ack, 3 CAck.
 */
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

/**
 * One LSP message as it travels on the wire. Integers are exact (safe integers); `payload` is
 * `null` when the wire says `null` (Connect, Ack, CAck), and bytes otherwise (`""` is an empty
 * array). `size` and `checksum` are what the sender claims, not checked here.
 */
export interface LspMessage {
  /** Message type, 0..3. */
  readonly type: MsgType;
  /** Connection id given by the server (0 in a Connect). */
  readonly connId: number;
  /** Sequence number (the ISN in a Connect; 0 in a heartbeat). */
  readonly seqNum: number;
  /** Payload length claimed by the sender (0 except on Data). */
  readonly size: number;
  /** Checksum claimed by the sender, 0..65535 (0 except on Data). */
  readonly checksum: number;
  /** Payload bytes, or `null` for a JSON `null`. */
  readonly payload: Uint8Array | null;
}

/**
 * Largest payload any Data message can carry within {@linkcode MAX_DATAGRAM_BYTES}: 1071 bytes,
 * reached only with one-digit ConnID, SeqNum and Checksum. Whether a payload up to this size
 * fits depends on those fields, as it does for the reference, which exchanges any payload whose
 * Data message fits in its 1500-byte datagram: 1068 bytes always fit with small numbers (any
 * Checksum), 1044 bytes fit with any safe-integer ConnID and SeqNum. {@linkcode encodedLength}
 * gives the exact size of a message; `write()` refuses a payload whose Data message, with its
 * real ConnID, SeqNum and Checksum, is longer than 1500 bytes.
 *
 * @example A payload over this never fits
 * ```ts
 * import { dataMessage, encodedLength, MAX_DATAGRAM_BYTES, MAX_PAYLOAD_BYTES } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const m = dataMessage(1, 1, new Uint8Array(MAX_PAYLOAD_BYTES + 1));
 * assert.ok(encodedLength(m) > MAX_DATAGRAM_BYTES);
 * ```
 */
export const MAX_PAYLOAD_BYTES = 1071;

/**
 * Largest datagram we send or accept. The reference reads into a 1500-byte buffer and crashes on
 * anything longer; our receivers read into 64 KiB and drop anything longer than this.
 *
 * @example Checking a datagram
 * ```ts
 * import { encodeMessage, heartbeatMessage, MAX_DATAGRAM_BYTES } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.ok(encodeMessage(heartbeatMessage(1)).length <= MAX_DATAGRAM_BYTES);
 * ```
 */
export const MAX_DATAGRAM_BYTES = 1500;

// ---------------------------------------------------------------------------------------------
// Constructors

const EMPTY = new Uint8Array(0);

/**
 * Builds a Connect carrying the client's initial sequence number.
 *
 * @param isn The client's ISN (non-negative for a conforming client).
 * @returns `Connect(0, isn)` with `null` payload.
 *
 * @example A Connect with ISN 100
 * ```ts
 * import { connectMessage, encodeMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(connectMessage(100)));
 * assert.equal(text, '{"Type":0,"ConnID":0,"SeqNum":100,"Size":0,"Checksum":0,"Payload":null}');
 * ```
 */
export function connectMessage(isn: number): LspMessage {
  return { type: MsgType.Connect, connId: 0, seqNum: isn, size: 0, checksum: 0, payload: null };
}

/**
 * Builds a Data message: `size` is the payload length and `checksum` is computed (§4).
 * The payload is not copied. A `null` payload is an empty one sent as `"Payload":null`, as the
 * reference echoes a Data message that came with a `null` payload.
 *
 * @param connId The connection id.
 * @param seqNum The message's sequence number.
 * @param payload The payload bytes, or `null` (empty, written as `null`).
 * @returns The Data message.
 *
 * @example "hello" as the first message of ISN 100
 * ```ts
 * import { dataMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const m = dataMessage(1, 101, new TextEncoder().encode("hello"));
 * assert.equal(m.size, 5);
 * assert.equal(m.checksum, 11601);
 * ```
 */
export function dataMessage(
  connId: number,
  seqNum: number,
  payload: Uint8Array | null,
): LspMessage {
  const size = payload === null ? 0 : payload.length;
  return {
    type: MsgType.Data,
    connId,
    seqNum,
    size,
    checksum: checksum(connId, seqNum, size, payload ?? EMPTY),
    payload,
  };
}

/**
 * Builds an Ack of one Data message (or of the Connect, with the ISN).
 *
 * @param connId The connection id.
 * @param seqNum The acknowledged sequence number.
 * @returns The Ack message.
 *
 * @example Acknowledging Data 101
 * ```ts
 * import { ackMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(ackMessage(1, 101).seqNum, 101);
 * ```
 */
export function ackMessage(connId: number, seqNum: number): LspMessage {
  return { type: MsgType.Ack, connId, seqNum, size: 0, checksum: 0, payload: null };
}

/**
 * Builds a cumulative Ack: every Data message with a SeqNum up to `seqNum` is acknowledged.
 *
 * @param connId The connection id.
 * @param seqNum The highest acknowledged sequence number.
 * @returns The CAck message.
 *
 * @example A cumulative Ack
 * ```ts
 * import { cackMessage, MsgType } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(cackMessage(1, 105).type, MsgType.CAck);
 * ```
 */
export function cackMessage(connId: number, seqNum: number): LspMessage {
  return { type: MsgType.CAck, connId, seqNum, size: 0, checksum: 0, payload: null };
}

/**
 * Builds a heartbeat, `Ack(connId, 0)`.
 *
 * @param connId The connection id.
 * @returns The heartbeat.
 *
 * @example A heartbeat
 * ```ts
 * import { heartbeatMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(heartbeatMessage(3).seqNum, 0);
 * ```
 */
export function heartbeatMessage(connId: number): LspMessage {
  return ackMessage(connId, 0);
}

// ---------------------------------------------------------------------------------------------
// Base64 (RFC 4648 standard alphabet, with padding), both ways

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_CODES = new Uint8Array(64);
const B64_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  B64_CODES[i] = B64_ALPHABET.charCodeAt(i);
  B64_VALUES[B64_ALPHABET.charCodeAt(i)] = i;
}
const PAD = 0x3d; // '='

function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

/** Writes the base64 of `bytes` as ASCII codes into `out` at `at`; returns the end index. */
function writeBase64(bytes: Uint8Array, out: Uint8Array, at: number): number {
  const n = bytes.length;
  const whole = n - (n % 3);
  let o = at;
  for (let i = 0; i < whole; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out[o++] = B64_CODES[v >>> 18];
    out[o++] = B64_CODES[(v >>> 12) & 63];
    out[o++] = B64_CODES[(v >>> 6) & 63];
    out[o++] = B64_CODES[v & 63];
  }
  if (n - whole === 1) {
    const v = bytes[whole] << 16;
    out[o++] = B64_CODES[v >>> 18];
    out[o++] = B64_CODES[(v >>> 12) & 63];
    out[o++] = PAD;
    out[o++] = PAD;
  } else if (n - whole === 2) {
    const v = (bytes[whole] << 16) | (bytes[whole + 1] << 8);
    out[o++] = B64_CODES[v >>> 18];
    out[o++] = B64_CODES[(v >>> 12) & 63];
    out[o++] = B64_CODES[(v >>> 6) & 63];
    out[o++] = PAD;
  }
  return o;
}

/**
 * Encodes bytes as standard base64 with `=` padding (what Go's `encoding/json` writes for a
 * `[]byte`).
 *
 * @param bytes The bytes to encode.
 * @returns The base64 text.
 *
 * @example Encoding hello
 * ```ts
 * import { encodeBase64 } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(encodeBase64(new TextEncoder().encode("hello")), "aGVsbG8=");
 * ```
 */
export function encodeBase64(bytes: Uint8Array): string {
  const out = new Uint8Array(base64Length(bytes.length));
  writeBase64(bytes, out, 0);
  let text = "";
  for (let i = 0; i < out.length; i += 4096) {
    text += String.fromCharCode(...out.subarray(i, i + 4096));
  }
  return text;
}

function b64Value(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? B64_VALUES[c] : -1;
}

/**
 * Decodes base64 the way Go's `base64.StdEncoding` does: standard alphabet, padding required,
 * `\r` and `\n` ignored anywhere, anything else (spaces, URL-safe `-_`, missing padding, data
 * after padding) rejected. Like Go's non-strict mode it accepts non-zero unused trailing bits.
 *
 * @param text The base64 text.
 * @returns The bytes, or `undefined` when the text is not valid base64.
 *
 * @example Decoding, strictly
 * ```ts
 * import { decodeBase64 } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(decodeBase64("aGVsbG8=")?.length, 5);
 * assert.equal(decodeBase64("aGVsbG8"), undefined); // unpadded: the reference drops it
 * ```
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.includes("\r") || text.includes("\n")) text = text.replace(/[\r\n]/g, "");
  const n = text.length;
  if (n % 4 !== 0) return undefined;
  let pad = 0;
  if (n > 0 && text.charCodeAt(n - 1) === PAD) pad = text.charCodeAt(n - 2) === PAD ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    const last = i + 4 === n;
    const a = b64Value(text, i);
    const b = b64Value(text, i + 1);
    const c = last && pad === 2 ? 0 : b64Value(text, i + 2);
    const d = last && pad > 0 ? 0 : b64Value(text, i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >>> 16;
    if (o < out.length) out[o++] = (v >>> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function checkInteger(name: string, value: unknown): void {
  if (typeof value !== "number") {
    throw new TypeError(`Cannot encode message: ${name} is not a number`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`Cannot encode message: ${name} ${value} is not a safe integer`);
  }
}

/**
 * Encodes a message in the canonical form, byte for byte what the Go reference writes.
 * The output is ASCII and {@linkcode encodedLength} bytes long; the encoder itself sets no
 * size limit (senders check it against {@linkcode MAX_DATAGRAM_BYTES}).
 *
 * @param msg The message to encode.
 * @returns The datagram bytes.
 * @throws {TypeError} When a field has the wrong type.
 * @throws {RangeError} When an integer is not a safe integer, `type` is not 0..3 or `checksum`
 * is not 0..65535.
 *
 * @example The spec's Data example
 * ```ts
 * import { dataMessage, encodeMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeMessage(dataMessage(1, 101, new TextEncoder().encode("hello")));
 * assert.equal(new TextDecoder().decode(bytes), '{"Type":1,"ConnID":1,"SeqNum":101,"Size":5,"Checksum":11601,"Payload":"aGVsbG8="}');
 * ```
 */
export function encodeMessage(msg: LspMessage): Uint8Array {
  const { type, connId, seqNum, size, checksum: sum, payload } = msg;
  checkInteger("Type", type);
  checkInteger("ConnID", connId);
  checkInteger("SeqNum", seqNum);
  checkInteger("Size", size);
  checkInteger("Checksum", sum);
  if (type < 0 || type > 3) throw new RangeError(`Cannot encode message: Type ${type} is not 0..3`);
  if (sum < 0 || sum > 0xffff) {
    throw new RangeError(`Cannot encode message: Checksum ${sum} is not 0..65535`);
  }
  if (payload !== null && !(payload instanceof Uint8Array)) {
    throw new TypeError("Cannot encode message: Payload is neither null nor a Uint8Array");
  }
  // `${-0}` is "0", like Go; safe integers never print with an exponent.
  const head = `{"Type":${type},"ConnID":${connId},"SeqNum":${seqNum},"Size":${size},` +
    `"Checksum":${sum},"Payload":`;
  const tail = payload === null ? "null}" : undefined;
  const bodyLength = payload === null ? tail!.length : base64Length(payload.length) + 3;
  const out = new Uint8Array(head.length + bodyLength);
  let o = 0;
  for (let i = 0; i < head.length; i++) out[o++] = head.charCodeAt(i);
  if (payload === null) {
    for (let i = 0; i < tail!.length; i++) out[o++] = tail!.charCodeAt(i);
  } else {
    out[o++] = 0x22; // "
    o = writeBase64(payload, out, o);
    out[o++] = 0x22;
    out[o++] = 0x7d; // }
  }
  return out;
}

/**
 * The exact length of {@linkcode encodeMessage}'s output for a message with valid fields, computed
 * without encoding it: what a sender checks against {@linkcode MAX_DATAGRAM_BYTES}.
 *
 * @param msg The message (fields as {@linkcode encodeMessage} accepts them).
 * @returns The datagram's length in bytes.
 *
 * @example The spec's Data example is 81 bytes
 * ```ts
 * import { dataMessage, encodedLength, encodeMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const m = dataMessage(1, 101, new TextEncoder().encode("hello"));
 * assert.equal(encodedLength(m), encodeMessage(m).length);
 * assert.equal(encodedLength(m), 81);
 * ```
 */
export function encodedLength(msg: LspMessage): number {
  const { type, connId, seqNum, size, checksum: sum, payload } = msg;
  // {"Type":,"ConnID":,"SeqNum":,"Size":,"Checksum":,"Payload":} is 60 bytes around the values.
  return 60 + `${type}`.length + `${connId}`.length + `${seqNum}`.length + `${size}`.length +
    `${sum}`.length + (payload === null ? 4 : base64Length(payload.length) + 2);
}

/**
 * The length of the shortest Data message that can carry a payload of `payloadBytes` bytes (one-
 * digit ConnID, SeqNum and Checksum): no Data message with that payload is shorter.
 *
 * @param payloadBytes The payload's length.
 * @returns The shortest encoded length in bytes.
 *
 * @example The largest payload that can ever fit
 * ```ts
 * import { MAX_DATAGRAM_BYTES, MAX_PAYLOAD_BYTES, shortestDataMessageLength } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.ok(shortestDataMessageLength(MAX_PAYLOAD_BYTES) <= MAX_DATAGRAM_BYTES);
 * assert.ok(shortestDataMessageLength(MAX_PAYLOAD_BYTES + 1) > MAX_DATAGRAM_BYTES);
 * ```
 */
export function shortestDataMessageLength(payloadBytes: number): number {
  return 60 + 1 + 1 + 1 + `${payloadBytes}`.length + 1 + base64Length(payloadBytes) + 2;
}

// ---------------------------------------------------------------------------------------------
// Decoding

// Non-fatal like Go (invalid UTF-8 inside strings becomes U+FFFD), and a BOM is kept so that
// JSON.parse rejects it as Go does.
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

// Field numbers, as fieldOf() returns them; the integer ones index the `ints` of decodeObject().
const F_NONE = -1;
const F_CHECKSUM = 4;
const F_PAYLOAD = 5;

/** Maps a key to a field like Go: exact name or Go's case folding (`ſ`, Kelvin sign included). */
const fieldOf = goFieldMatcher(["Type", "ConnID", "SeqNum", "Size", "Checksum", "Payload"]);

/**
 * Reads an integer like Go's `strconv.ParseInt(text, 10, 64)` and then insists on a safe
 * integer. Returns `null` for a JSON `null` (Go leaves the field untouched), `undefined` on error.
 */
function readInteger(text: string, unsigned: boolean): number | null | undefined {
  if (text === "null") return null;
  if (!INTEGER.test(text)) return undefined;
  const negative = text.charCodeAt(0) === 0x2d;
  if (negative && unsigned) return undefined; // ParseUint rejects any sign, even "-0"
  const digits = text.length - (negative ? 1 : 0);
  if (digits > 16) return undefined; // ≥ 10^16 > 2^53
  const value = Number(text); // exact below 2^53; anything larger rounds to ≥ 2^53
  if (!Number.isSafeInteger(value)) return undefined;
  return value === 0 ? 0 : value; // no -0
}

/** Reads a `[]byte` field: `null`, a base64 string, or an array of integers 0..255. */
function readPayload(
  text: string,
  start: number,
  end: number,
  previous: Uint8Array | null,
): Uint8Array | null | undefined {
  const first = text.charCodeAt(start);
  if (first === 0x6e) return null; // null: Go sets the slice to nil
  if (first === 0x22) {
    const str = jsonStringText(text.slice(start, end));
    return str === undefined ? undefined : decodeBase64(str);
  }
  if (first !== 0x5b) return undefined; // number, boolean, object: a type error in Go
  const bytes: number[] = [];
  let i = skipJsonSpace(text, start + 1);
  if (text.charCodeAt(i) === 0x5d) return new Uint8Array(0);
  while (i < end) {
    const valueEnd = endOfJsonValue(text, i, 2, GO_MAX_NESTING_DEPTH);
    if (valueEnd < 0) return undefined;
    const element = text.slice(i, valueEnd);
    if (element === "null") {
      bytes.push(previous?.[bytes.length] ?? 0); // Go leaves the (reused) element untouched
    } else {
      const value = readInteger(element, true);
      if (value === undefined || value === null || value > 0xff) return undefined;
      bytes.push(value);
    }
    i = skipJsonSpace(text, valueEnd);
    if (text.charCodeAt(i) === 0x5d) return Uint8Array.from(bytes);
    if (text.charCodeAt(i) !== 0x2c) return undefined;
    i = skipJsonSpace(text, i + 1);
  }
  return undefined;
}

/** Decodes text that JSON.parse has accepted as an object. */
function decodeObject(text: string): LspMessage | undefined {
  const ints = [0, 0, 0, 0, 0];
  let payload: Uint8Array | null = null;
  // Members come in text order, so the last duplicate wins; a bad member stops the walk.
  const ok = scanGoObject(text, GO_MAX_NESTING_DEPTH, (key, valueStart, valueEnd) => {
    const field = fieldOf(key);
    if (field === F_PAYLOAD) {
      const value = readPayload(text, valueStart, valueEnd, payload);
      if (value === undefined) return false;
      payload = value;
    } else if (field !== F_NONE) {
      const value = readInteger(text.slice(valueStart, valueEnd), field === F_CHECKSUM);
      if (value === undefined) return false;
      if (value !== null) ints[field] = value;
    }
  });
  if (!ok) return undefined;
  const [type, connId, seqNum, size, sum] = ints;
  if (type < 0 || type > 3) return undefined;
  if (sum > 0xffff) return undefined; // Go: uint16 overflow
  return { type: type as MsgType, connId, seqNum, size, checksum: sum, payload };
}

/**
 * Decodes one datagram. Never throws: anything the reference would reject (plus integers beyond
 * ±(2^53 − 1) and types outside 0..3) gives `undefined`. No size limit applies here; the
 * endpoint drops datagrams over {@linkcode MAX_DATAGRAM_BYTES} before decoding.
 *
 * @param bytes The datagram.
 * @returns The message, or `undefined` when it must be dropped.
 *
 * @example Lenient like the reference, exact like nobody else
 * ```ts
 * import { decodeMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const enc = (s: string) => new TextEncoder().encode(s);
 * assert.equal(decodeMessage(enc('{ "seqnum": 7, "TYPE": 2, "ConnID": 1 }\n'))?.seqNum, 7);
 * assert.equal(decodeMessage(enc('{"Type":2,"ConnID":1,"SeqNum":7.0}')), undefined);
 * assert.equal(decodeMessage(enc('{"Type":2,"SeqNum":9007199254740993}')), undefined);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): LspMessage | undefined {
  try {
    if (bytes.length === 0) return undefined;
    const text = UTF8.decode(bytes);
    const parsed: unknown = JSON.parse(text); // validates the syntax as strictly as Go does
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
    return decodeObject(text);
  } catch {
    return undefined; // not JSON (or not bytes at all)
  }
}
