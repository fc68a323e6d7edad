/**
 * The messages of the Part 1 tracker protocol (spec §2.2–2.4) and their exact bytes.
 *
 * | Direction         | Bytes                                                                   |
 * |-------------------|-------------------------------------------------------------------------|
 * | size request      | the 8 ASCII bytes `REGISTER`, not pickled                               |
 * | size reply        | protocol-0 pickle of the int: `I16\n.`                                  |
 * | item request      | a pickled int (protocols 0–2 in the original; 0–5 here by default)      |
 * | item reply        | protocol-0 pickle of the entry at that list position: `(I12\nS'of'\np0\ntp1\n.` |
 * | error reply       | protocol-0 pickle of the py2 str `'Bad request'`: `S'Bad request'\np0\n.` |
 *
 * One request per TCP connection, at most one reply, then the tracker closes. Nothing is
 * length-prefixed: `framing.ts` finds the end of a request and of a reply.
 *
 * @module
 */

import { encodePickle, Py2Str, pyText, PyTuple, type PyValue } from "../pickle/mod.ts";
import type { Part1Entry } from "./entry.ts";

/**
 * The most bytes the original reads (`recv(1024)`): the largest request it understands and the
 * most a client may send it.
 *
 * @example The original's read size
 * ```ts
 * import { MAX_MESSAGE_BYTES } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_MESSAGE_BYTES, 1024);
 * ```
 */
export const MAX_MESSAGE_BYTES = 1024;

/**
 * The raw size request, `REGISTER` (hex `5245474953544552`). Shared: treat it as read-only.
 *
 * @example The raw size request
 * ```ts
 * import { REGISTER_REQUEST } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new TextDecoder().decode(REGISTER_REQUEST), "REGISTER");
 * ```
 */
export const REGISTER_REQUEST: Uint8Array = new TextEncoder().encode("REGISTER");

/**
 * The text of the original's error reply.
 *
 * @example The error text
 * ```ts
 * import { BAD_REQUEST } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(BAD_REQUEST, "Bad request");
 * ```
 */
export const BAD_REQUEST = "Bad request";

/**
 * The original's error reply, `S'Bad request'\np0\n.` (a pickled py2 str, not a tuple). Treat it
 * as read-only.
 *
 * @example The error reply's bytes
 * ```ts
 * import { ERROR_REPLY } from "./wire.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new TextDecoder().decode(ERROR_REPLY), "S'Bad request'\np0\n.");
 * ```
 */
export const ERROR_REPLY: Uint8Array = encodePickle(Py2Str.fromText(BAD_REQUEST));

/**
 * A well-formed request: the size (`REGISTER`) or the entry at a list position.
 */
export type Part1Query =
  | { readonly type: "size" }
  | {
    readonly type: "item";
    /** The list position, as the pickled integer says (negative counts from the end). */
    readonly index: number | bigint;
  };

/**
 * A reply of the tracker: the size, an entry, or the error reply (whose text is `Bad request` in
 * the original).
 */
export type Part1Reply =
  | { readonly type: "size"; readonly count: number }
  | { readonly type: "item"; readonly entry: Part1Entry }
  | { readonly type: "error"; readonly message: string };

/** Text as a py2 str when it is ASCII (what the original sends), else as text (spec §5.6). */
function pyString(text: string): PyValue {
  // deno-lint-ignore no-control-regex
  return /^[\u0000-\u007f]*$/.test(text) ? Py2Str.fromText(text) : text;
}

/**
 * The pickle protocols a request may be written with. The original decodes 0 to 2.
 */
export type Part1RequestProtocol = 0 | 1 | 2;

function int32le(op: number, value: number, size: 1 | 2 | 4): number[] {
  const out = [op];
  for (let i = 0; i < size; i++) out.push((value >>> (8 * i)) & 0xff);
  return out;
}

/** An int as Python 2 pickles it at protocol 1 (BININT1, BININT2, BININT, else INT). */
function intProtocol1(value: number | bigint): Uint8Array {
  const n = typeof value === "bigint" && value >= -(2n ** 31n) && value < 2n ** 31n
    ? Number(value)
    : value;
  let ops: number[];
  if (typeof n === "number" && n >= 0 && n <= 0xff) ops = int32le(0x4b, n, 1);
  else if (typeof n === "number" && n >= 0 && n <= 0xffff) ops = int32le(0x4d, n, 2);
  else if (typeof n === "number" && n >= -(2 ** 31) && n < 2 ** 31) ops = int32le(0x4a, n, 4);
  else return new TextEncoder().encode(`I${n}\n.`);
  ops.push(0x2e);
  return Uint8Array.from(ops);
}

/**
 * Encodes a request as a client sends it: `REGISTER`, or the pickled integer.
 *
 * @param query The request.
 * @param protocol The pickle protocol of an item request (0 is Python 2's default).
 * @returns Fresh bytes.
 * @throws {RangeError} When the index is not an integer or the protocol is not 0, 1 or 2.
 *
 * @example Every form of the request for position 5
 * ```ts
 * import { encodeRequest } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
 * assert.equal(hex(encodeRequest({ type: "item", index: 5 })), "49350a2e"); // I5\n.
 * assert.equal(hex(encodeRequest({ type: "item", index: 5 }, 1)), "4b052e"); // K\x05.
 * assert.equal(hex(encodeRequest({ type: "item", index: 5 }, 2)), "80024b052e");
 * assert.equal(new TextDecoder().decode(encodeRequest({ type: "size" })), "REGISTER");
 * ```
 */
export function encodeRequest(query: Part1Query, protocol: Part1RequestProtocol = 0): Uint8Array {
  if (protocol !== 0 && protocol !== 1 && protocol !== 2) {
    throw new RangeError(`Cannot encode a request: protocol must be 0, 1 or 2, got ${protocol}`);
  }
  if (query.type === "size") return REGISTER_REQUEST.slice();
  const { index } = query;
  if (typeof index !== "bigint" && !Number.isSafeInteger(index)) {
    throw new RangeError(`Cannot encode a request: index ${index} is not a safe integer`);
  }
  return protocol === 1 ? intProtocol1(index) : encodePickle(index, { protocol });
}

/**
 * Encodes a reply exactly as the original tracker does (protocol 0; ASCII words as py2 str,
 * other words as text so that Python 3 clients can load them, spec §5.6).
 *
 * @param reply The reply.
 * @returns Fresh bytes.
 * @throws {RangeError} When a count or SEQNUM is not a non-negative safe integer.
 * @throws {TypeError} When a word or message holds a lone surrogate.
 *
 * @example The three replies, byte for byte
 * ```ts
 * import { encodeReply } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const text = (b: Uint8Array) => new TextDecoder().decode(b);
 * assert.equal(text(encodeReply({ type: "size", count: 16 })), "I16\n.");
 * assert.equal(
 *   text(encodeReply({ type: "item", entry: { seq: 12, word: "of" } })),
 *   "(I12\nS'of'\np0\ntp1\n.",
 * );
 * assert.equal(
 *   text(encodeReply({ type: "error", message: "Bad request" })),
 *   "S'Bad request'\np0\n.",
 * );
 * ```
 */
export function encodeReply(reply: Part1Reply): Uint8Array {
  switch (reply.type) {
    case "size":
      if (!Number.isSafeInteger(reply.count) || reply.count < 0) {
        throw new RangeError(`Cannot encode a size reply: bad count ${reply.count}`);
      }
      return encodePickle(reply.count);
    case "item": {
      const { seq, word } = reply.entry;
      if (!Number.isSafeInteger(seq) || seq < 0) {
        throw new RangeError(`Cannot encode an item reply: bad SEQNUM ${seq}`);
      }
      return encodePickle(PyTuple.of(seq, pyString(word)));
    }
    case "error":
      return encodePickle(pyString(reply.message));
  }
}

/** An int of the model as a safe integer (bool counts as int, like Python); else undefined. */
function safeInt(value: PyValue): number | undefined {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  return undefined;
}

/**
 * Reads a decoded reply as the answer to `query`: any string is the error reply (the original
 * sends a py2 str, never a tuple, for errors: check before indexing, spec §2.4); a size reply is a
 * non-negative integer; an item reply is a 2-tuple of an integer SEQNUM and a string word (a py2
 * str is read as Latin-1).
 *
 * @param value The decoded pickle.
 * @param query The request it answers.
 * @returns The reply, or `undefined` when the value is no reply to that request.
 *
 * @example Reading each shape
 * ```ts
 * import { interpretReply } from "./wire.ts";
 * import { Py2Str, PyTuple } from "../pickle/mod.ts";
 * import assert from "node:assert/strict";
 * const item = interpretReply(PyTuple.of(12, Py2Str.fromText("of")), { type: "item", index: 0 });
 * assert.ok(item?.type === "item");
 * assert.equal(item.entry.word, "of");
 * const error = interpretReply(Py2Str.fromText("Bad request"), { type: "size" });
 * assert.equal(error?.type, "error");
 * assert.equal(interpretReply(16, { type: "item", index: 0 }), undefined);
 * ```
 */
export function interpretReply(value: PyValue, query: Part1Query): Part1Reply | undefined {
  const message = pyText(value);
  if (message !== undefined) return { type: "error", message };
  if (query.type === "size") {
    const count = safeInt(value);
    return count !== undefined && count >= 0 ? { type: "size", count } : undefined;
  }
  if (!(value instanceof PyTuple) || value.length !== 2) return undefined;
  const seq = safeInt(value.items[0]);
  const word = pyText(value.items[1]);
  if (seq === undefined || word === undefined) return undefined;
  return { type: "item", entry: { seq, word } };
}
