/**
 * Where a Part 1 request or reply ends (spec §1): nothing on the wire says, so the bytes received
 * so far are parsed and the message is complete as soon as they hold one.
 *
 * Requests (tracker side), decided on the bytes received so far:
 * - first byte `R` (0x52, which cannot start a valid pickle): the raw path. The request is the
 *   size request when the bytes are exactly `REGISTER`; a prefix of it waits for more; anything
 *   else (`register`, `REGISTER\n`, `REGISTER` plus anything in the same read) is invalid, as the
 *   original compares its whole first read with `REGISTER`;
 * - anything else: a pickle, decoded by the safe decoder. "Truncated" waits for more bytes; a
 *   complete pickle of an int (or bool, which Python indexes with) is an item request, whatever
 *   follows STOP is ignored (as the original does); any other value or any decoder error is
 *   invalid;
 * - a request still incomplete at end of input, or longer than the size cap, is invalid.
 *
 * Replies (client side): a pickle of the shape the request calls for (see `interpretReply`),
 * complete at its STOP; cut short by end of input, undecodable, of the wrong shape or too big,
 * it fails.
 *
 * @module
 */

import { decodePickle, type DecodePickleOptions, pyTypeOf, type PyValue } from "../pickle/mod.ts";
import { interpretReply, MAX_MESSAGE_BYTES, type Part1Query, type Part1Reply } from "./wire.ts";

/** `R`: the first byte of `REGISTER`, which no valid pickle starts with. */
const R = 0x52;
const REGISTER = [0x52, 0x45, 0x47, 0x49, 0x53, 0x54, 0x45, 0x52];

/**
 * Why a request is invalid (every one gets the error reply):
 * - `raw`: starts with `R` but is not exactly `REGISTER`;
 * - `pickle`: the safe decoder refused it (malformed, unsafe opcode, protocol too high…);
 * - `type`: a valid pickle of something other than an int or bool (a float, a string, a tuple…);
 * - `truncated`: the client ended its side (or sent nothing) before a complete request;
 * - `too-large`: more than the size cap without a complete request;
 * - `timeout`: no complete request within the request timeout.
 */
export type Part1InvalidReason = "raw" | "pickle" | "type" | "truncated" | "too-large" | "timeout";

/**
 * A request as the tracker received it: a well-formed query, or an invalid request with the reason
 * and a one-line detail for logs.
 */
export type Part1Request =
  | Part1Query
  | {
    readonly type: "invalid";
    readonly reason: Part1InvalidReason;
    /** What was wrong, for logs. */
    readonly detail: string;
  };

/**
 * Options of {@linkcode frameRequest}.
 */
export interface FrameRequestOptions {
  /**
   * The size cap: a request not complete within this many bytes is invalid (16 to 65536).
   *
   * @default 1024
   */
  maxRequestBytes?: number;
  /**
   * The highest pickle protocol accepted in an item request (0 to 5). 2 is what the original
   * (Python 2) loads; the default accepts what Python 3 clients send by default (spec §2.6).
   *
   * @default 5
   */
  maxProtocol?: number;
}

/**
 * The outcome of {@linkcode frameRequest}: more bytes are needed, or the request is complete
 * (possibly invalid). `protocol` is the pickle protocol of an item request.
 */
export type RequestFrame =
  | { readonly status: "needData" }
  | {
    readonly status: "complete";
    readonly request: Part1Request;
    /** The pickle protocol of an item request (undefined for the raw path and failures). */
    readonly protocol?: number;
    /**
     * The bytes of a valid request itself (undefined for an invalid one): any beyond it came after
     * the request (they are ignored).
     */
    readonly length?: number;
  };

/**
 * Checks request framing options; returns them with defaults filled in.
 *
 * @param options The options to check.
 * @returns Every option, defaults filled in.
 * @throws {RangeError} When an option is out of range.
 *
 * @example The defaults
 * ```ts
 * import { requestOptions } from "./framing.ts";
 * import assert from "node:assert/strict";
 * const o = requestOptions({});
 * assert.equal(o.maxRequestBytes, 1024);
 * assert.equal(o.maxProtocol, 5);
 * ```
 */
export function requestOptions(options: FrameRequestOptions): Required<FrameRequestOptions> {
  const { maxRequestBytes = MAX_MESSAGE_BYTES, maxProtocol = 5 } = options;
  if (!Number.isInteger(maxRequestBytes) || maxRequestBytes < 16 || maxRequestBytes > 65536) {
    throw new RangeError(
      `Cannot frame requests: maxRequestBytes must be 16..65536, got ${maxRequestBytes}`,
    );
  }
  if (!Number.isInteger(maxProtocol) || maxProtocol < 0 || maxProtocol > 5) {
    throw new RangeError(`Cannot frame requests: maxProtocol must be 0..5, got ${maxProtocol}`);
  }
  return { maxRequestBytes, maxProtocol };
}

/** The decoder's options for each (size cap, protocol) seen, frozen: resolved once by the decoder. */
const DECODE_OPTIONS = new Map<number, Readonly<DecodePickleOptions>>();

function decodeOptions(maxInputBytes: number, maxProtocol: number): Readonly<DecodePickleOptions> {
  const key = maxInputBytes * 8 + maxProtocol;
  let options = DECODE_OPTIONS.get(key);
  if (options === undefined) {
    options = Object.freeze({ maxInputBytes, maxProtocol });
    if (DECODE_OPTIONS.size < 64) DECODE_OPTIONS.set(key, options);
  }
  return options;
}

function invalid(reason: Part1InvalidReason, detail: string): RequestFrame {
  return { status: "complete", request: { type: "invalid", reason, detail } };
}

function kindOf(value: PyValue): string {
  const name = pyTypeOf(value);
  return name === "none" ? "None" : name === "int" ? "an int" : `a ${name}`;
}

/**
 * Decides whether `bytes` (everything received on the connection so far) hold a complete
 * request. Never throws on any input.
 *
 * @param bytes The bytes received so far (only the first `maxRequestBytes + 1` matter).
 * @param eof True when the client has ended its side: nothing more will come.
 * @param options The size cap and the highest protocol.
 * @returns `needData`, or the complete request (see the module documentation).
 * @throws {RangeError} When an option is out of range.
 *
 * @example REGISTER, an item request and garbage
 * ```ts
 * import { frameRequest } from "./framing.ts";
 * import assert from "node:assert/strict";
 * const te = new TextEncoder();
 * assert.equal(frameRequest(te.encode("REGIS"), false).status, "needData");
 * const size = frameRequest(te.encode("REGISTER"), false);
 * assert.ok(size.status === "complete");
 * assert.equal(size.request.type, "size");
 * const item = frameRequest(Uint8Array.of(0x80, 2, 0x4b, 5, 0x2e), false); // pickle.dumps(5, 2)
 * assert.ok(item.status === "complete");
 * assert.deepEqual(item.request, { type: "item", index: 5 });
 * assert.equal(item.protocol, 2);
 * const bad = frameRequest(te.encode("REGISTER\n"), false);
 * assert.ok(bad.status === "complete");
 * assert.equal(bad.request.type, "invalid");
 * ```
 */
export function frameRequest(
  bytes: Uint8Array,
  eof: boolean,
  options: FrameRequestOptions = {},
): RequestFrame {
  const { maxRequestBytes, maxProtocol } = requestOptions(options);
  const n = bytes.length;
  if (n === 0 || n > SHORT_BYTES || bytes[0] === R) {
    return frameBytes(bytes, eof, maxRequestBytes, maxProtocol);
  }
  // A short pickle (every usual request: `I5\n.`, `\x80\x02K\x05.`): its outcome, once complete,
  // is kept, so the next one takes a lookup instead of the decoder.
  let key = n; // n * 256^n + the bytes: one key per byte string of up to 6 bytes (< 2^51)
  for (let i = 0; i < n; i++) key = key * 256 + bytes[i];
  // (the outcome depends on the size cap too: a declared length past it is "too large")
  const frames = shortFrames(maxRequestBytes, maxProtocol);
  const known = frames.get(key);
  if (known !== undefined) return known;
  const frame = frameBytes(bytes, eof, maxRequestBytes, maxProtocol);
  // Kept: complete outcomes that do not depend on `eof` (not "truncated"), frozen as they are shared.
  if (
    frame.status === "complete" &&
    !(frame.request.type === "invalid" && frame.request.reason === "truncated") &&
    frames.size < SHORT_FRAMES_MAX
  ) {
    Object.freeze(frame.request);
    frames.set(key, Object.freeze(frame));
  }
  return frame;
}

/** Requests of at most this many bytes have their outcome kept (see {@linkcode frameRequest}). */
const SHORT_BYTES = 6;
/** The most outcomes kept per protocol limit (junk cannot grow it without bound). */
const SHORT_FRAMES_MAX = 4096;
/** Outcomes of short requests, per (size cap, highest protocol accepted). */
const SHORT_FRAMES = new Map<number, Map<number, RequestFrame>>();
/** The most option pairs with a cache of their own (others share a throwaway one). */
const SHORT_OPTIONS_MAX = 64;

function shortFrames(maxRequestBytes: number, maxProtocol: number): Map<number, RequestFrame> {
  const key = maxRequestBytes * 8 + maxProtocol;
  let frames = SHORT_FRAMES.get(key);
  if (frames === undefined) {
    frames = new Map();
    if (SHORT_FRAMES.size < SHORT_OPTIONS_MAX) SHORT_FRAMES.set(key, frames);
  }
  return frames;
}

/** {@linkcode frameRequest} on checked options, without the cache. */
function frameBytes(
  bytes: Uint8Array,
  eof: boolean,
  maxRequestBytes: number,
  maxProtocol: number,
): RequestFrame {
  if (bytes.length === 0) {
    return eof ? invalid("truncated", "no bytes before the end of input") : { status: "needData" };
  }
  if (bytes[0] === R) {
    const n = Math.min(bytes.length, REGISTER.length);
    for (let i = 0; i < n; i++) {
      if (bytes[i] !== REGISTER[i]) return invalid("raw", "a raw request other than REGISTER");
    }
    if (bytes.length > REGISTER.length) {
      return invalid("raw", `REGISTER followed by ${bytes.length - REGISTER.length} more byte(s)`);
    }
    if (bytes.length === REGISTER.length) {
      return { status: "complete", request: { type: "size" }, length: REGISTER.length };
    }
    return eof ? invalid("truncated", "end of input inside REGISTER") : { status: "needData" };
  }
  const input = bytes.length > maxRequestBytes + 1 ? bytes.subarray(0, maxRequestBytes + 1) : bytes;
  const r = decodePickle(input, decodeOptions(maxRequestBytes, maxProtocol));
  if (!r.ok) {
    const { error } = r;
    if (error.kind === "truncated") {
      if (bytes.length > maxRequestBytes) {
        return invalid("too-large", `no complete request in ${maxRequestBytes} bytes`);
      }
      return eof
        ? invalid("truncated", `end of input inside a pickle after ${bytes.length} byte(s)`)
        : { status: "needData" };
    }
    if (error.kind === "limit" && error.limit === "maxInputBytes") {
      return invalid("too-large", `no complete request in ${maxRequestBytes} bytes`);
    }
    return invalid("pickle", error.message);
  }
  const { value, protocol, consumed: length } = r;
  if (typeof value === "boolean") {
    return {
      status: "complete",
      request: { type: "item", index: value ? 1 : 0 },
      protocol,
      length,
    };
  }
  if (typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value))) {
    return { status: "complete", request: { type: "item", index: value }, protocol, length };
  }
  return invalid("type", `a pickle of ${kindOf(value)}, not an int`);
}

/**
 * Why a reply could not be read:
 * - `truncated`: the tracker closed before a complete pickle;
 * - `malformed`: the bytes are no pickle the safe decoder accepts;
 * - `unexpected`: a valid pickle that is no reply to the request;
 * - `too-large`: more than the reply size cap without a complete pickle;
 * - `timeout`: no complete reply within the timeout (set by the client connection).
 */
export type Part1ReplyFailure = "truncated" | "malformed" | "unexpected" | "too-large" | "timeout";

/**
 * The outcome of {@linkcode frameReply}.
 */
export type ReplyFrame =
  | { readonly status: "needData" }
  | { readonly status: "complete"; readonly reply: Part1Reply }
  | { readonly status: "failed"; readonly reason: Part1ReplyFailure; readonly detail: string };

/**
 * Options of {@linkcode frameReply}.
 */
export interface FrameReplyOptions {
  /**
   * The most bytes a reply may take (16 to 65536).
   *
   * @default 65536
   */
  maxReplyBytes?: number;
}

/**
 * Checks reply framing options; returns them with defaults filled in.
 *
 * @param options The options to check.
 * @returns Every option, defaults filled in.
 * @throws {RangeError} When an option is out of range.
 *
 * @example The default cap
 * ```ts
 * import { replyOptions } from "./framing.ts";
 * import assert from "node:assert/strict";
 * assert.equal(replyOptions({}).maxReplyBytes, 65536);
 * ```
 */
export function replyOptions(options: FrameReplyOptions): Required<FrameReplyOptions> {
  const { maxReplyBytes = 65536 } = options;
  if (!Number.isInteger(maxReplyBytes) || maxReplyBytes < 16 || maxReplyBytes > 65536) {
    throw new RangeError(
      `Cannot frame replies: maxReplyBytes must be 16..65536, got ${maxReplyBytes}`,
    );
  }
  return { maxReplyBytes };
}

/**
 * Decides whether `bytes` (everything received so far) hold the complete reply to `query`. Never
 * throws on any input.
 *
 * @param bytes The bytes received so far.
 * @param eof True when the tracker has closed its side.
 * @param query The request the reply answers.
 * @param options The reply size cap.
 * @returns `needData`, the reply, or why it failed.
 * @throws {RangeError} When an option is out of range.
 *
 * @example The error reply is a string, not a tuple
 * ```ts
 * import { frameReply } from "./framing.ts";
 * import assert from "node:assert/strict";
 * const bytes = new TextEncoder().encode("S'Bad request'\np0\n.");
 * const frame = frameReply(bytes, true, { type: "item", index: 99 });
 * assert.ok(frame.status === "complete");
 * assert.equal(frame.reply.type, "error");
 * ```
 */
export function frameReply(
  bytes: Uint8Array,
  eof: boolean,
  query: Part1Query,
  options: FrameReplyOptions = {},
): ReplyFrame {
  const { maxReplyBytes } = replyOptions(options);
  const input = bytes.length > maxReplyBytes + 1 ? bytes.subarray(0, maxReplyBytes + 1) : bytes;
  const r = decodePickle(input, { maxInputBytes: maxReplyBytes });
  if (!r.ok) {
    const { error } = r;
    if (error.kind === "truncated" && bytes.length <= maxReplyBytes) {
      if (!eof) return { status: "needData" };
      return {
        status: "failed",
        reason: "truncated",
        detail: bytes.length === 0
          ? "the tracker closed without replying"
          : `the tracker closed after ${bytes.length} byte(s) of a reply`,
      };
    }
    if (
      error.kind === "truncated" || (error.kind === "limit" && error.limit === "maxInputBytes")
    ) {
      return {
        status: "failed",
        reason: "too-large",
        detail: `no complete reply in ${maxReplyBytes} bytes`,
      };
    }
    return { status: "failed", reason: "malformed", detail: error.message };
  }
  const reply = interpretReply(r.value, query);
  if (reply === undefined) {
    return {
      status: "failed",
      reason: "unexpected",
      detail: `a pickle of ${kindOf(r.value)} is no reply to a ${query.type} request`,
    };
  }
  return { status: "complete", reply };
}
