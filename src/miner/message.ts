/**
 * The miner protocol's message codec (spec `miner.md` §2): one JSON object per LSP payload,
 * written byte for byte as the Go reference writes it and read with Go's `encoding/json` rules,
 * with exact uint64 values (`bigint`) both ways.
 *
 * **Encoding** is canonical: `{"Type":T,"Data":"…","Lower":L,"Upper":U,"Hash":H,"Nonce":N}`, these
 * six keys in this order, no whitespace, integers as plain decimal digits (never an exponent, a
 * fraction, a sign or a rounded value). `Data` is escaped as Go escapes it: `"` `\` and control
 * characters (`\b \f \n \r \t`, else `\u00XX`), `<` `>` `&` as `\u003c \u003e \u0026`, U+2028 and
 * U+2029 as `\u2028 \u2029`, and a lone surrogate as `\ufffd` (Go's replacement of invalid UTF-8).
 * Encoders throw on local misuse: `TypeError` for a wrong type, `RangeError` for a value out of
 * range or a message longer than {@linkcode MAX_MESSAGE_BYTES} (one LSP payload).
 *
 * **Decoding** never throws and never rounds. It accepts what Go's decoder accepts into the
 * handout's struct: keys in any order and letter case (Go's case folding: `ſ` matches `s`),
 * whitespace, escaped keys, unknown keys with any value (ignored), missing keys (`""` / 0),
 * duplicate keys (the last wins, and a `null` leaves the field as it was), invalid UTF-8 inside
 * strings (read as U+FFFD). It rejects, with a typed reason, what Go rejects: not JSON, trailing
 * data, a byte-order mark, an integer with a sign, fraction or exponent, a uint64 above
 * 2^64 − 1, a string, boolean, array or object where an integer belongs, a non-string `Data`, and
 * a `Type` beyond int64. On top of Go it rejects a top-level `null` (Go would read it as a Join;
 * spec §2.3 says a payload that is not an object is ignored), a `Type` other than 0–3, a Request
 * or Progress with `Lower > Upper` (the error carries the decoded Request, for a receiver that
 * wants to answer it anyway, spec §4), and input over {@linkcode MAX_DECODE_BYTES}.
 *
 * **Progress extension** (ours; the reference never sees it). A client that wants progress
 * reports adds one key to its Request: `{"Type":1,…,"Nonce":0,"Progress":true}`. A reference
 * server ignores the unknown key and serves the Request as usual; our server then sends that
 * client — and only clients that asked — Progress messages of a fourth type while the search
 * runs: `{"Type":3,"Data":"","Lower":L,"Upper":U,"Hash":H,"Nonce":N,"Searched":S}` where `L..U`
 * is the request's range, `H`/`N` the best hash and nonce found so far and `S` the number of
 * nonces searched so far (always below the range's size: the final answer is a Result). A
 * reference client never receives one (it never asks); if one did, Go decodes it (the unknown
 * `Searched` key is ignored) and drops it as a message that is not a Result. Only the exact
 * value `true` asks for progress; any other value (or none) is read as "no", never as an error,
 * because a reference server accepts any value there.
 *
 * @example A round trip with a uint64 above 2^53
 * ```ts
 * import { decodeMessage, encodeMessage, resultMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeMessage(resultMessage(18446744073709551615n, 42n));
 * assert.equal(
 *   new TextDecoder().decode(bytes),
 *   '{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":18446744073709551615,"Nonce":42}',
 * );
 * const m = decodeMessage(bytes);
 * assert.ok(m?.type === "result");
 * assert.equal(m.hash, 18446744073709551615n);
 * ```
 *
 * @module
 */

import { goFieldMatcher, jsonStringText, scanGoObject } from "../util/mod.ts";

/**
 * The largest uint64, 2^64 − 1: the top of every nonce and hash range.
 *
 * @example The full nonce range
 * ```ts
 * import { MAX_UINT64 } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_UINT64, 18446744073709551615n);
 * ```
 */
export const MAX_UINT64 = 0xffff_ffff_ffff_ffffn;

/**
 * The longest message we encode, in bytes: one LSP payload (`specs/lsp.md` §2).
 *
 * @example Checking a size
 * ```ts
 * import { MAX_MESSAGE_BYTES } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_MESSAGE_BYTES, 1000);
 * ```
 */
export const MAX_MESSAGE_BYTES = 1000;

/**
 * The longest input the decoder reads, in bytes; anything longer is `tooLarge`. No LSP datagram
 * (at most 1500 bytes, base64 inside) can carry a longer payload.
 *
 * @example Checking a size
 * ```ts
 * import { MAX_DECODE_BYTES } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_DECODE_BYTES, 1500);
 * ```
 */
export const MAX_DECODE_BYTES = 1500;

/**
 * The wire numbers of the message types: 0 Join, 1 Request, 2 Result (the handout's), 3 Progress
 * (our extension).
 *
 * @example A type number
 * ```ts
 * import { MinerMsgType } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MinerMsgType.Result, 2);
 * ```
 */
export const MinerMsgType = { Join: 0, Request: 1, Result: 2, Progress: 3 } as const;

/**
 * A miner announcing itself to the server (miner → server), sent once after connecting.
 */
export interface JoinMessage {
  /** The message type. */
  readonly type: "join";
}

/**
 * A search request: find the nonce in `lower..upper` (inclusive) whose hash with `data` is the
 * smallest. Client → server for the whole range, server → miner for one chunk.
 */
export interface RequestMessage {
  /** The message type. */
  readonly type: "request";
  /** The text to hash (any Unicode; hashed as UTF-8). */
  readonly data: string;
  /** First nonce, inclusive. */
  readonly lower: bigint;
  /** Last nonce, inclusive; never below `lower`. */
  readonly upper: bigint;
  /** Whether the sender asks for Progress messages (the `"Progress":true` extension). */
  readonly wantProgress: boolean;
}

/**
 * The answer to a Request: the minimum hash and the nonce giving it (miner → server, server →
 * client).
 */
export interface ResultMessage {
  /** The message type. */
  readonly type: "result";
  /** The minimum hash. */
  readonly hash: bigint;
  /** The (smallest) nonce giving it. */
  readonly nonce: bigint;
}

/**
 * Our extension: how far the search of a Request has got (server → a client that asked).
 */
export interface ProgressMessage {
  /** The message type. */
  readonly type: "progress";
  /** First nonce of the request's range. */
  readonly lower: bigint;
  /** Last nonce of the request's range; never below `lower`. */
  readonly upper: bigint;
  /** The smallest hash found so far. */
  readonly hash: bigint;
  /** The nonce giving it. */
  readonly nonce: bigint;
  /** How many nonces of the range have been searched; at most the range's size. */
  readonly searched: bigint;
}

/**
 * Any message of the miner protocol.
 */
export type MinerMessage = JoinMessage | RequestMessage | ResultMessage | ProgressMessage;

/**
 * Options of {@linkcode requestMessage}.
 */
export interface RequestOptions {
  /**
   * Ask the server for Progress messages (adds `"Progress":true`; see the module doc).
   *
   * @default false
   */
  wantProgress?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Constructors

function checkUint64(action: string, name: string, value: unknown): bigint {
  if (typeof value !== "bigint") {
    throw new TypeError(`Cannot ${action}: ${name} is not a bigint`);
  }
  if (value < 0n || value > MAX_UINT64) {
    throw new RangeError(`Cannot ${action}: ${name} ${value} is not in 0..2^64-1`);
  }
  return value;
}

/**
 * Builds a Join.
 *
 * @returns The Join message.
 *
 * @example Encoding a Join
 * ```ts
 * import { encodeMessage, joinMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(joinMessage()));
 * assert.equal(text, '{"Type":0,"Data":"","Lower":0,"Upper":0,"Hash":0,"Nonce":0}');
 * ```
 */
export function joinMessage(): JoinMessage {
  return { type: "join" };
}

/**
 * Builds a Request, checking its fields.
 *
 * @param data The text to hash.
 * @param lower First nonce, inclusive.
 * @param upper Last nonce, inclusive.
 * @param options Whether to ask for progress.
 * @returns The Request message.
 * @throws {TypeError} When `data` is not a string or a bound not a bigint.
 * @throws {RangeError} When a bound is outside 0..2^64 − 1 or `lower > upper`.
 *
 * @example The handout's first chunk
 * ```ts
 * import { encodeMessage, requestMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(requestMessage("bradfitz", 0n, 9999n)));
 * assert.equal(text, '{"Type":1,"Data":"bradfitz","Lower":0,"Upper":9999,"Hash":0,"Nonce":0}');
 * ```
 */
export function requestMessage(
  data: string,
  lower: bigint,
  upper: bigint,
  options: RequestOptions = {},
): RequestMessage {
  const { wantProgress = false } = options;
  if (typeof data !== "string") throw new TypeError("Cannot build Request: Data is not a string");
  checkUint64("build Request", "Lower", lower);
  checkUint64("build Request", "Upper", upper);
  if (lower > upper) {
    throw new RangeError(`Cannot build Request: Lower ${lower} is above Upper ${upper}`);
  }
  if (typeof wantProgress !== "boolean") {
    throw new TypeError("Cannot build Request: wantProgress is not a boolean");
  }
  return { type: "request", data, lower, upper, wantProgress };
}

/**
 * Builds a Result, checking its fields.
 *
 * @param hash The minimum hash.
 * @param nonce The nonce giving it.
 * @returns The Result message.
 * @throws {TypeError} When a field is not a bigint.
 * @throws {RangeError} When a field is outside 0..2^64 − 1.
 *
 * @example A Result
 * ```ts
 * import { encodeMessage, resultMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(resultMessage(1419516646206828n, 9898n)));
 * assert.equal(text, '{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":1419516646206828,"Nonce":9898}');
 * ```
 */
export function resultMessage(hash: bigint, nonce: bigint): ResultMessage {
  checkUint64("build Result", "Hash", hash);
  checkUint64("build Result", "Nonce", nonce);
  return { type: "result", hash, nonce };
}

/**
 * Builds a Progress message (our extension), checking its fields.
 *
 * @param fields The request's range, the best hash and nonce so far, and the nonces searched.
 * @returns The Progress message.
 * @throws {TypeError} When a field is not a bigint.
 * @throws {RangeError} When a field is outside 0..2^64 − 1, `lower > upper`, or `searched`
 * exceeds the range's size.
 *
 * @example A Progress message
 * ```ts
 * import { encodeMessage, progressMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const m = progressMessage({ lower: 0n, upper: 99999n, hash: 7n, nonce: 8n, searched: 50000n });
 * assert.equal(
 *   new TextDecoder().decode(encodeMessage(m)),
 *   '{"Type":3,"Data":"","Lower":0,"Upper":99999,"Hash":7,"Nonce":8,"Searched":50000}',
 * );
 * ```
 */
export function progressMessage(
  fields: Omit<ProgressMessage, "type">,
): ProgressMessage {
  const { lower, upper, hash, nonce, searched } = fields;
  for (const [name, value] of [["Lower", lower], ["Upper", upper], ["Hash", hash]] as const) {
    checkUint64("build Progress", name, value);
  }
  checkUint64("build Progress", "Nonce", nonce);
  checkUint64("build Progress", "Searched", searched);
  if (lower > upper) {
    throw new RangeError(`Cannot build Progress: Lower ${lower} is above Upper ${upper}`);
  }
  if (searched > upper - lower + 1n) {
    throw new RangeError(`Cannot build Progress: Searched ${searched} exceeds the range's size`);
  }
  return { type: "progress", lower, upper, hash, nonce, searched };
}

// ---------------------------------------------------------------------------------------------
// Encoding

const HEX = "0123456789abcdef";
/** Strings made only of these need no escaping at all. */
const PLAIN = /^[\x20-\x21\x23-\x25\x27-\x3b\x3d\x3f-\x5b\x5d-\x7e]*$/;

/** Writes a JSON string literal exactly as Go's encoder does (see the module doc). */
function goString(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i] + s[i + 1];
        i++;
      } else {
        out += "\\ufffd";
      }
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\\ufffd";
      continue;
    }
    switch (c) {
      case 0x22:
        out += '\\"';
        continue;
      case 0x5c:
        out += "\\\\";
        continue;
      case 0x08:
        out += "\\b";
        continue;
      case 0x0c:
        out += "\\f";
        continue;
      case 0x0a:
        out += "\\n";
        continue;
      case 0x0d:
        out += "\\r";
        continue;
      case 0x09:
        out += "\\t";
        continue;
    }
    if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += "\\u" + HEX[c >> 12] + HEX[(c >> 8) & 15] + HEX[(c >> 4) & 15] + HEX[c & 15];
      continue;
    }
    out += s[i];
  }
  return out + '"';
}

const encoder = new TextEncoder();

function toBytes(action: string, text: string): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `Cannot ${action}: it takes ${bytes.length} bytes, more than ${MAX_MESSAGE_BYTES}`,
    );
  }
  return bytes;
}

function sixKeys(type: number, data: string, l: bigint, u: bigint, h: bigint, n: bigint): string {
  return `{"Type":${type},"Data":${goString(data)},"Lower":${l},"Upper":${u},"Hash":${h},` +
    `"Nonce":${n}`;
}

/**
 * Encodes a message as the Go reference would (see the module doc), plus the extension's keys
 * for a Request that asks for progress and for a Progress message. The fields are checked first,
 * as the constructors check them, so a hand-built object cannot produce a bad message.
 *
 * @param message The message.
 * @returns The UTF-8 JSON bytes, at most {@linkcode MAX_MESSAGE_BYTES}.
 * @throws {TypeError} When a field has the wrong type or the message type is unknown.
 * @throws {RangeError} When a field is out of range or the message is too long.
 *
 * @example A Request whose Data Go would escape
 * ```ts
 * import { encodeMessage, requestMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(requestMessage('a<b & "c"', 5n, 6n)));
 * assert.equal(
 *   text,
 *   '{"Type":1,"Data":"a\\u003cb \\u0026 \\"c\\"","Lower":5,"Upper":6,"Hash":0,"Nonce":0}',
 * );
 * ```
 */
export function encodeMessage(message: MinerMessage): Uint8Array {
  const m = message as unknown as Partial<Record<string, unknown>> | null;
  switch (m?.type) {
    case "join":
      return toBytes("encode Join", sixKeys(MinerMsgType.Join, "", 0n, 0n, 0n, 0n) + "}");
    case "request": {
      const r = requestMessage(
        m.data as string,
        m.lower as bigint,
        m.upper as bigint,
        { wantProgress: (m.wantProgress ?? false) as boolean },
      );
      const tail = r.wantProgress ? ',"Progress":true}' : "}";
      return toBytes(
        "encode Request",
        sixKeys(MinerMsgType.Request, r.data, r.lower, r.upper, 0n, 0n) + tail,
      );
    }
    case "result": {
      const r = resultMessage(m.hash as bigint, m.nonce as bigint);
      return toBytes(
        "encode Result",
        sixKeys(MinerMsgType.Result, "", 0n, 0n, r.hash, r.nonce) + "}",
      );
    }
    case "progress": {
      const p = progressMessage(m as unknown as ProgressMessage);
      return toBytes(
        "encode Progress",
        sixKeys(MinerMsgType.Progress, "", p.lower, p.upper, p.hash, p.nonce) +
          `,"Searched":${p.searched}}`,
      );
    }
    default:
      throw new TypeError(`Cannot encode message: unknown type ${String(m?.type)}`);
  }
}

/**
 * Whether every Request for `data` whose bounds are at most `upper` fits in one LSP payload
 * (without the progress key). The server checks it before accepting a client's Request, since it
 * must forward `data` to miners with chunk bounds up to the request's `upper`; a client can check
 * it before sending (spec §2.5).
 *
 * @param data The text to hash.
 * @param upper The largest bound the Requests will carry.
 * @returns True when such Requests encode within {@linkcode MAX_MESSAGE_BYTES}.
 * @throws {TypeError} When `data` is not a string or `upper` not a bigint.
 * @throws {RangeError} When `upper` is outside 0..2^64 − 1.
 *
 * @example About 900 bytes of plain Data fit
 * ```ts
 * import { requestFits } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.ok(requestFits("x".repeat(903)));
 * assert.ok(!requestFits("x".repeat(904)));
 * assert.ok(requestFits("x".repeat(935), 9999n));
 * assert.ok(!requestFits("x".repeat(936), 9999n));
 * ```
 */
export function requestFits(data: string, upper: bigint = MAX_UINT64): boolean {
  if (typeof data !== "string") throw new TypeError("Cannot size Request: Data is not a string");
  checkUint64("size Request", "Upper", upper);
  const text = sixKeys(MinerMsgType.Request, data, upper, upper, 0n, 0n) + "}";
  // Cheap bound first: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (text.length * 3 <= MAX_MESSAGE_BYTES) return true;
  return encoder.encode(text).length <= MAX_MESSAGE_BYTES;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Why a payload was not decoded:
 *
 * - `notBytes`: the input is not a `Uint8Array`.
 * - `tooLarge`: over {@linkcode MAX_DECODE_BYTES}.
 * - `notJson`: empty, not valid JSON (Go's syntax rules), or trailing data.
 * - `notObject`: valid JSON, but not an object (`null` included).
 * - `badField`: a known key has a value Go would not store (wrong JSON type, a sign, fraction or
 *   exponent, or out of range).
 * - `unknownType`: `Type` is not 0–3.
 * - `lowerAboveUpper`: a Request or Progress with `Lower > Upper`.
 *
 * @example Reading a reason
 * ```ts
 * import { type DecodeFailure, readMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const r = readMessage(new TextEncoder().encode("[]"));
 * const reason: DecodeFailure | undefined = r.ok ? undefined : r.reason;
 * assert.equal(reason, "notObject");
 * ```
 */
export type DecodeFailure =
  | "notBytes"
  | "tooLarge"
  | "notJson"
  | "notObject"
  | "badField"
  | "unknownType"
  | "lowerAboveUpper";

/**
 * What {@linkcode readMessage} returns: the message, or why there is none.
 *
 * @example Handling both outcomes
 * ```ts
 * import { type ReadResult, readMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const r: ReadResult = readMessage(new TextEncoder().encode('{"Type":0}'));
 * assert.ok(r.ok);
 * assert.equal(r.message.type, "join");
 * ```
 */
export type ReadResult =
  | { readonly ok: true; readonly message: MinerMessage }
  | {
    readonly ok: false;
    /** The kind of failure. */
    readonly reason: DecodeFailure;
    /** A short human-readable explanation for logs. */
    readonly detail: string;
    /** The wire `Type`, when it was read (0–3 only). */
    readonly wireType?: number;
    /** For `lowerAboveUpper` on a Request: the Request as read, bounds unchecked. */
    readonly request?: RequestMessage;
  };

// Non-fatal like Go (invalid UTF-8 inside strings becomes U+FFFD), and a BOM is kept so that
// JSON.parse rejects it as Go does.
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

const UINT = /^(?:0|[1-9][0-9]*)$/;
const INT = /^-?(?:0|[1-9][0-9]*)$/;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

// Field numbers, as fieldOf() returns them; F_LOWER..F_SEARCHED index the `ints` of readObject().
const F_NONE = -1;
const F_LOWER = 0;
const F_NONCE = 3;
const F_SEARCHED = 4;
const F_TYPE = 5;
const F_DATA = 6;
const F_PROGRESS = 7;
const INT_NAMES = ["Lower", "Upper", "Hash", "Nonce", "Searched"];

/** Maps a key to a field like Go: exact name or Go's case folding (`ſ` matches `s`). */
const fieldOf = goFieldMatcher([...INT_NAMES, "Type", "Data", "Progress"]);

type Failure = Extract<ReadResult, { ok: false }>;

function fail(reason: DecodeFailure, detail: string, extra: Partial<Failure> = {}): Failure {
  return { ok: false, reason, detail, ...extra };
}

/** Reads the members of a JSON.parse-validated top-level object. */
function readObject(text: string): ReadResult {
  const ints: bigint[] = [0n, 0n, 0n, 0n, 0n];
  const intsBad: (string | undefined)[] = [];
  let type = 0n;
  let data = "";
  let progressRaw = "";
  let failure: Failure | undefined;
  // Members come in text order, so the last duplicate wins; a bad Type or Data stops the walk.
  // No nesting limit, as before: MAX_DECODE_BYTES keeps payloads far below Go's 10000 levels.
  const ok = scanGoObject(text, Infinity, (key, valueStart, valueEnd) => {
    const field = fieldOf(key);
    const raw = text.slice(valueStart, valueEnd);
    if (raw === "null") return;
    if (field === F_TYPE) {
      if (!INT.test(raw)) {
        failure = fail("badField", `Type ${preview(raw)} is not an integer`);
        return false;
      }
      const value = BigInt(raw);
      if (value < INT64_MIN || value > INT64_MAX) {
        failure = fail("badField", `Type ${preview(raw)} is out of range`);
        return false;
      }
      type = value;
    } else if (field === F_DATA) {
      if (raw.charCodeAt(0) !== 0x22) {
        failure = fail("badField", `Data ${preview(raw)} is not a string`);
        return false;
      }
      const value = jsonStringText(raw);
      if (value === undefined) return false; // not with validated input (JSON.parse threw here)
      data = value;
    } else if (field === F_PROGRESS) {
      progressRaw = raw;
    } else if (field !== F_NONE) {
      // Like Go, the first bad value sticks even if a later duplicate key is fine. Searched
      // is ours: only a Progress message must have a valid one (checked below).
      const value = UINT.test(raw) ? BigInt(raw) : -1n;
      if (value < 0n || value > MAX_UINT64) intsBad[field] ??= raw;
      else ints[field] = value;
    }
  });
  if (failure !== undefined) return failure;
  // Not reachable with validated input; reported like a throw in readMessage().
  if (!ok) return fail("notJson", "the payload could not be read");
  for (let f = F_LOWER; f <= F_NONCE; f++) {
    const bad = intsBad[f];
    if (bad !== undefined) {
      return fail("badField", `${INT_NAMES[f]} ${preview(bad)} is not a uint64`);
    }
  }
  if (type < 0n || type > 3n) return fail("unknownType", `Type ${type} is not 0..3`);
  const wireType = Number(type);
  const [lower, upper, hash, nonce, searched] = ints;
  switch (wireType) {
    case MinerMsgType.Join:
      return { ok: true, message: { type: "join" } };
    case MinerMsgType.Request: {
      const message: RequestMessage = {
        type: "request",
        data,
        lower,
        upper,
        wantProgress: progressRaw === "true",
      };
      if (lower > upper) {
        return fail("lowerAboveUpper", `Request Lower ${lower} is above Upper ${upper}`, {
          wireType,
          request: message,
        });
      }
      return { ok: true, message };
    }
    case MinerMsgType.Result:
      return { ok: true, message: { type: "result", hash, nonce } };
    default: {
      const bad = intsBad[F_SEARCHED];
      if (bad !== undefined) {
        return fail("badField", `Searched ${preview(bad)} is not a uint64`, { wireType });
      }
      if (lower > upper) {
        return fail("lowerAboveUpper", `Progress Lower ${lower} is above Upper ${upper}`, {
          wireType,
        });
      }
      if (searched > upper - lower + 1n) {
        return fail("badField", `Searched ${searched} exceeds the range's size`, { wireType });
      }
      return { ok: true, message: { type: "progress", lower, upper, hash, nonce, searched } };
    }
  }
}

function preview(raw: string): string {
  return raw.length <= 24 ? raw : `${raw.slice(0, 21)}...`;
}

/**
 * Decodes one payload, reporting why when it cannot (see the module doc for the rules). Never
 * throws.
 *
 * @param bytes The payload.
 * @returns The message, or the reason it was rejected.
 *
 * @example Lenient like Go, exact where JSON.parse is not
 * ```ts
 * import { readMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const enc = (s: string) => new TextEncoder().encode(s);
 * const r = readMessage(enc(' { "nonce": 9007199254740993, "TYPE": 2, "x": [1] } '));
 * assert.ok(r.ok);
 * assert.ok(r.message.type === "result");
 * assert.equal(r.message.nonce, 9007199254740993n);
 * const bad = readMessage(enc('{"Type":2,"Hash":1e3}'));
 * assert.ok(!bad.ok);
 * assert.equal(bad.reason, "badField");
 * ```
 */
export function readMessage(bytes: Uint8Array): ReadResult {
  if (!(bytes instanceof Uint8Array)) return fail("notBytes", "the payload is not a Uint8Array");
  if (bytes.length > MAX_DECODE_BYTES) {
    return fail("tooLarge", `the payload has ${bytes.length} bytes, over ${MAX_DECODE_BYTES}`);
  }
  if (bytes.length === 0) return fail("notJson", "the payload is empty");
  try {
    const text = UTF8.decode(bytes);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text); // validates the syntax as strictly as Go does
    } catch {
      return fail("notJson", "the payload is not JSON");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return fail("notObject", "the payload is not a JSON object");
    }
    return readObject(text);
  } catch {
    // Not reachable with validated input; a decoder must never throw all the same.
    return fail("notJson", "the payload could not be read");
  }
}

/**
 * Decodes one payload; `undefined` for anything {@linkcode readMessage} rejects. Never throws.
 *
 * @param bytes The payload.
 * @returns The message, or `undefined`.
 *
 * @example Rejecting a rounded number
 * ```ts
 * import { decodeMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const enc = (s: string) => new TextEncoder().encode(s);
 * assert.equal(decodeMessage(enc('{"Type":2,"Hash":1.8446744073709552e+19}')), undefined);
 * assert.equal(decodeMessage(enc('{"Type":1,"Data":"msg","Upper":2}'))?.type, "request");
 * ```
 */
export function decodeMessage(bytes: Uint8Array): MinerMessage | undefined {
  const r = readMessage(bytes);
  return r.ok ? r.message : undefined;
}
