/**
 * The BitClone message codec (spec §A.3, §A.5, §A.10): one line, fields split at every `|`,
 * token 0 the command word. Typed messages in, canonical text out; any bytes in, a typed message
 * or a typed {@linkcode DecodeError} out — the decoder is total and never throws.
 *
 * Decoding is lenient where the spec says so: any letter case in the command word; spaces or tabs
 * around numbers and addresses; times ≥ 10^11 read as milliseconds; services as an 8-digit binary
 * token; `version` with 5–8 tokens (fields present are used) or in the first-revision layout;
 * `verack` with any or no field; `addr` as pairs or first-revision triples, bad entries skipped one
 * by one and the pairs present kept even when the count disagrees; `reject`/`message` with missing
 * fields or extra tokens joined into the details. Project 4 (Part B) commands are recognised and
 * returned raw as {@linkcode BlockLayerMessage}; this codec does not interpret them.
 *
 * Encoding emits exactly one canonical form and throws on anything that form cannot carry (local
 * misuse): a `|`, CR or LF in a field, a number that is not a safe unsigned integer, a
 * non-canonical address, a line over its size limit. For every message the encoder accepts,
 * `decodeMessage(formatMessage(m))` gives back `m`.
 *
 * @module
 */

import { formatPeerAddress, parseIp, parsePeerAddress, type PeerAddress } from "./address.ts";
import { MAX_LINE_BYTES } from "./framing.ts";
import type { Prng } from "../util/mod.ts";

/** `MAX_LINE_NONBLOCK` of spec §0.3: the longest line of any command but `block` (64 KiB). */
export const MAX_LINE_NONBLOCK_BYTES = 65_536;
/** `MAX_ADDR_ENTRIES` of spec §0.3: the most entries one `addr` line may carry. */
export const MAX_ADDR_ENTRIES = 1000;
/** The longest nonce token accepted and echoed (spec §A.3); a token holding a CR is refused too. */
export const MAX_NONCE_BYTES = 64;
/** `MAX_USER_AGENT` of spec §0.3: received user agents are truncated to this many bytes. */
export const MAX_USER_AGENT_BYTES = 256;
/** A `time` at or above this is read as milliseconds (spec §A.3). */
export const MILLISECONDS_THRESHOLD = 100_000_000_000;

/**
 * The Project 4 (Part B) command words. They are recognised, never interpreted here.
 *
 * @example Each is decoded as an uninterpreted block-layer line
 * ```ts
 * import { BLOCK_LAYER_COMMANDS, decodeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * for (const command of BLOCK_LAYER_COMMANDS) {
 *   const r = decodeMessage(`${command}|x`);
 *   assert.ok(r.ok);
 *   assert.deepEqual(r.message, { type: "blockLayer", command, fields: ["x"] });
 * }
 * ```
 */
export const BLOCK_LAYER_COMMANDS = [
  "getblockinv",
  "blockinv",
  "getblocks",
  "block",
  "tx",
] as const;

/**
 * One of {@linkcode BLOCK_LAYER_COMMANDS}.
 */
export type BlockLayerCommand = (typeof BLOCK_LAYER_COMMANDS)[number];

/**
 * One `addr` entry: when the address was last known active (Unix seconds) and the address.
 */
export interface AddrEntry {
  /** Unix seconds. */
  readonly time: number;
  /** The peer's listening address. */
  readonly address: PeerAddress;
}

/**
 * `version` (spec §A.5.1). Decoded fields that were missing or unreadable are `undefined` (or the
 * defaults: version 3, services 1, user agent `""`, block id 0); the first-revision layout
 * (§A.10.2) decodes with no nonce, no recipient and no sender. Encoding needs every field.
 *
 * @example The dialer's version of spec §A.5.1
 * ```ts
 * import { formatMessage, type VersionMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const v: VersionMessage = {
 *   type: "version", version: 4, services: 3, time: 1700000000,
 *   recipient: { ip: "198.51.100.7", v6: false, port: 4001 },
 *   sender: { ip: "198.51.100.5", v6: false, port: 4000 },
 *   nonce: "5843920175521", userAgent: "alice-ts", blockId: 12,
 * };
 * assert.equal(
 *   formatMessage(v),
 *   "version|4|3|1700000000|198.51.100.7:4001|198.51.100.5:4000|5843920175521|alice-ts|12",
 * );
 * ```
 */
export interface VersionMessage {
  readonly type: "version";
  /** Protocol version, ≥ 3 (anything else reads as 3). */
  readonly version: number;
  /** Services: bit 1 peer-to-peer, bit 2 blocks (mining and higher bits dropped). */
  readonly services: number;
  /** The sender's clock, Unix seconds. */
  readonly time: number | undefined;
  /** How the sender sees us (never validated, spec §A.10.1 #3). */
  readonly recipient: PeerAddress | undefined;
  /** The sender's address; its port is the sender's listening port. */
  readonly sender: PeerAddress | undefined;
  /** The sender's nonce, verbatim (1–64 bytes), for `verack` and self-connection checks. */
  readonly nonce: string | undefined;
  /** Free text, truncated to 256 bytes. */
  readonly userAgent: string;
  /** Height hint (Part B tip index); 0 in Project 3. */
  readonly blockId: number;
}

/**
 * `addr` (spec §A.5.4). `count` is the count field as sent; `entries` are the entries that parsed;
 * `invalidEntries` counts the ones skipped (bad time or address, or a dangling token). The pairs
 * present are `entries.length + invalidEntries`. Encoding needs `count === entries.length` and no
 * invalid entries.
 *
 * @example Two entries
 * ```ts
 * import { decodeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const r = decodeMessage("addr|2|1507490964|192.168.1.10:2989|1507490964|130.111.135.1:8767");
 * assert.ok(r.ok);
 * assert.ok(r.message.type === "addr");
 * assert.equal(r.message.entries.length, 2);
 * ```
 */
export interface AddrMessage {
  readonly type: "addr";
  /** The count field. */
  readonly count: number;
  /** The entries that parsed, in line order. */
  readonly entries: readonly AddrEntry[];
  /** How many entries were skipped as unreadable. */
  readonly invalidEntries: number;
}

/**
 * A Project 4 line, recognised but not interpreted: the raw fields after the command word,
 * exactly as received (the block hash of §B.5.2 covers the tokens as sent).
 *
 * @example A transaction line
 * ```ts
 * import { decodeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const r = decodeMessage("tx|31337|0b0707e48342521f7f31da597a774721|Alice pays Bob 5 BitClones");
 * assert.ok(r.ok);
 * assert.ok(r.message.type === "blockLayer");
 * assert.equal(r.message.fields.length, 3);
 * ```
 */
export interface BlockLayerMessage {
  readonly type: "blockLayer";
  /** The command word (lower case). */
  readonly command: BlockLayerCommand;
  /** The fields after the command word, untouched. */
  readonly fields: readonly string[];
}

/**
 * Every BitClone message. `nonce` fields are tokens echoed byte for byte; `undefined` means the
 * field was absent (a bare `verack`, `ping` or `pong`). `reject`/`message` codes are `undefined`
 * when the received code was not a number.
 */
export type BitcloneMessage =
  | VersionMessage
  | { readonly type: "verack"; readonly nonce: string | undefined }
  | { readonly type: "getaddr" }
  | AddrMessage
  | { readonly type: "ping"; readonly nonce: string | undefined }
  | { readonly type: "pong"; readonly nonce: string | undefined }
  | {
    readonly type: "reject";
    readonly code: number | undefined;
    readonly reason: string;
    readonly details: string;
  }
  | {
    readonly type: "message";
    readonly code: number | undefined;
    readonly summary: string;
    readonly details: string;
  }
  | BlockLayerMessage;

/**
 * Why a line did not decode:
 * - `tooLarge`: a non-`block` line over 64 KiB (a `block` line over 1 MiB) — spec `reject|413`;
 * - `invalidUtf8`: not UTF-8 — `reject|400`;
 * - `unknownCommand`: the command word is not a BitClone command (or is empty);
 * - `tooMany`: an `addr` with more than 1000 entries (count or pairs) — line dropped;
 * - `malformed`: a known command with a missing required field or an unreadable one —
 *   `reject|400` (for `version`: fewer than 5 tokens).
 */
export type DecodeErrorKind =
  | "tooLarge"
  | "invalidUtf8"
  | "unknownCommand"
  | "tooMany"
  | "malformed";

/**
 * A typed decoding failure. `command` is the command word, lower-cased, with control and
 * non-ASCII characters replaced by `?` and cut to 32 characters, safe to put in a `reject` field;
 * `detail` is a short explanation, also free of `|`, CR and LF.
 *
 * @example An unknown command
 * ```ts
 * import { decodeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const r = decodeMessage("Hello|x");
 * assert.ok(!r.ok);
 * assert.ok(r.error.kind === "unknownCommand");
 * assert.equal(r.error.command, "hello");
 * ```
 */
export interface DecodeError {
  /** What went wrong. */
  readonly kind: DecodeErrorKind;
  /** The sanitised command word. */
  readonly command: string;
  /** A short explanation. */
  readonly detail: string;
}

/**
 * The outcome of {@linkcode decodeMessage}: a message, or an error.
 *
 * @example Using a result
 * ```ts
 * import { decodeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const r = decodeMessage("ping|7730125");
 * assert.ok(r.ok);
 * assert.deepEqual(r.message, { type: "ping", nonce: "7730125" });
 * ```
 */
export type DecodeResult =
  | { readonly ok: true; readonly message: BitcloneMessage }
  | { readonly ok: false; readonly error: DecodeError };

/**
 * Options for {@linkcode decodeMessage}.
 *
 * @example A custom limit
 * ```ts
 * import { decodeMessage, type DecodeOptions } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const options: DecodeOptions = { maxLineBytesNonBlock: 8 };
 * const r = decodeMessage("ping|123456789", options);
 * assert.ok(!r.ok);
 * assert.equal(r.error.kind, "tooLarge");
 * ```
 */
export interface DecodeOptions {
  /**
   * The longest line of any command but `block`, in bytes.
   *
   * @default {65_536}
   */
  maxLineBytesNonBlock?: number;
  /**
   * The longest `block` line, in bytes.
   *
   * @default {1_048_576}
   */
  maxLineBytes?: number;
}

const KNOWN_COMMANDS = new Set<string>([
  "version",
  "verack",
  "getaddr",
  "addr",
  "ping",
  "pong",
  "reject",
  "message",
  ...BLOCK_LAYER_COMMANDS,
]);
/** The longest command word worth comparing with the known ones. */
const COMMAND_SCAN_BYTES = 64;
const COMMAND_TEXT_MAX = 32;
const PIPE = 0x7c;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const te = new TextEncoder();

/**
 * Decodes one line (without its terminator). Total: every input gives a typed result, nothing
 * throws, and the work is linear in the line's length.
 *
 * @param line The line's bytes as framed (or text, for tests and tools).
 * @param options Size limits.
 * @returns The message, or why there is none.
 * @example The assignment's examples
 * ```ts
 * import { decodeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const v = decodeMessage("version|3|1|1507490964|192.168.1.10:8090|130.111.135.12:2098|8192|houser|9000");
 * assert.ok(v.ok);
 * assert.ok(v.message.type === "version");
 * assert.equal(v.message.nonce, "8192");
 * const r = decodeMessage('reject|400|Invalid command|The command "send me flowers" was not recognized.');
 * assert.ok(r.ok);
 * assert.ok(r.message.type === "reject");
 * assert.equal(r.message.code, 400);
 * ```
 */
export function decodeMessage(
  line: Uint8Array | string,
  options: DecodeOptions = {},
): DecodeResult {
  const { maxLineBytesNonBlock = MAX_LINE_NONBLOCK_BYTES, maxLineBytes = MAX_LINE_BYTES } = options;
  const bytes = typeof line === "string" ? te.encode(line) : line;
  if (!(bytes instanceof Uint8Array)) {
    return fail("malformed", "", "input is not bytes");
  }
  const command = commandWord(bytes);
  const limit = command === "block" ? maxLineBytes : maxLineBytesNonBlock;
  if (bytes.length > limit) {
    return fail("tooLarge", command, `${command || "line"} over ${limit} bytes`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return fail("invalidUtf8", command, `${command || "line"}: invalid UTF-8`);
  }
  if (!KNOWN_COMMANDS.has(command)) {
    return fail("unknownCommand", command, `unknown command ${command}`);
  }
  const tokens = text.split("|");
  switch (command) {
    case "version":
      return decodeVersion(tokens);
    case "verack":
      return ok({ type: "verack", nonce: nonceToken(tokens[1]) });
    case "getaddr":
      return ok({ type: "getaddr" });
    case "addr":
      return decodeAddr(tokens);
    case "ping": {
      const raw = tokens[1];
      if (raw !== undefined && raw !== "" && nonceToken(raw) === undefined) {
        const why = raw.includes("\r") ? "holds a CR" : `longer than ${MAX_NONCE_BYTES} bytes`;
        return fail("malformed", "ping", `ping: nonce ${why}`);
      }
      return ok({ type: "ping", nonce: nonceToken(raw) });
    }
    case "pong":
      return ok({ type: "pong", nonce: nonceToken(tokens[1]) });
    case "reject":
      return ok({
        type: "reject",
        code: parseUint(tokens[1]),
        reason: tokens[2] ?? "",
        details: tokens.slice(3).join("|"),
      });
    case "message":
      return ok({
        type: "message",
        code: parseUint(tokens[1]),
        summary: tokens[2] ?? "",
        details: tokens.slice(3).join("|"),
      });
    default:
      return ok({
        type: "blockLayer",
        command: command as BlockLayerCommand,
        fields: tokens.slice(1),
      });
  }
}

/**
 * Formats a message as its canonical line, without the terminator.
 *
 * @throws {TypeError} When a field cannot be carried: a `|`, CR or LF in text, a lone surrogate,
 * a missing required field (`version` needs all of them, `reject`/`message` a code), a
 * non-canonical address, an `addr` whose count differs from its entries.
 * @throws {RangeError} When a number is out of range (not a safe unsigned integer; a time
 * ≥ 10^11; version < 3; services > 3; more than 1000 `addr` entries; a nonce over 64 bytes; a user
 * agent over 256 bytes) or the line is over its size limit.
 * @example Lines
 * ```ts
 * import { formatMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatMessage({ type: "pong", nonce: "23456" }), "pong|23456");
 * assert.equal(formatMessage({ type: "verack", nonce: undefined }), "verack");
 * ```
 */
export function formatMessage(message: BitcloneMessage): string {
  const line = formatFields(message);
  const limit = message.type === "blockLayer" && message.command === "block"
    ? MAX_LINE_BYTES
    : MAX_LINE_NONBLOCK_BYTES;
  const size = utf8Length(line);
  if (size > limit) {
    throw new RangeError(
      `Cannot encode ${message.type}: the line has ${size} bytes (max ${limit})`,
    );
  }
  return line;
}

/**
 * Encodes a message as bytes ready for the socket: the canonical line plus CR LF.
 *
 * @throws {TypeError | RangeError} As {@linkcode formatMessage}.
 * @example Bytes on the wire
 * ```ts
 * import { encodeMessage } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeMessage({ type: "getaddr" });
 * assert.equal(new TextDecoder().decode(bytes), "getaddr\r\n");
 * ```
 */
export function encodeMessage(message: BitcloneMessage): Uint8Array {
  return te.encode(formatMessage(message) + "\r\n");
}

/**
 * Draws a nonce for `version` or `ping` (spec §A.3): decimal, uniform in 1 … 2^53 − 1, so that
 * peers using JavaScript numbers echo it unchanged.
 *
 * @param prng The randomness to draw from.
 * @returns The nonce text.
 * @example A nonce
 * ```ts
 * import { randomNonce } from "./messages.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const n = Number(randomNonce(Prng.seeded(1)));
 * assert.ok(Number.isSafeInteger(n));
 * assert.ok(n >= 1);
 * ```
 */
export function randomNonce(prng: Prng): string {
  for (let i = 0; i < 64; i++) {
    const n = (prng.u32() & 0x1fffff) * 2 ** 32 + prng.u32();
    if (n !== 0) return String(n);
  }
  return "1"; // 64 zero draws in a row: a broken generator, but never an invalid nonce
}

/**
 * Parses an unsigned decimal field (spec §A.3 `uint`): 1–20 digits after stripping spaces and
 * tabs, value ≤ 2^53 − 1.
 *
 * @param token The field, or `undefined` when absent.
 * @returns The number, or `undefined` when absent or unreadable.
 * @example Leniency
 * ```ts
 * import { parseUint } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseUint(" 42\t"), 42);
 * assert.equal(parseUint("-1"), undefined);
 * ```
 */
export function parseUint(token: string | undefined): number | undefined {
  if (token === undefined) return undefined;
  const s = stripBlanks(token);
  if (!/^\d{1,20}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= Number.MAX_SAFE_INTEGER ? n : undefined;
}

/**
 * Parses a `time` field (spec §A.3): a uint in seconds; a value ≥ 10^11 is taken as milliseconds.
 *
 * @param token The field, or `undefined` when absent.
 * @returns Unix seconds, or `undefined`.
 * @example Milliseconds
 * ```ts
 * import { parseTime } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseTime("1700000000123"), 1700000000);
 * ```
 */
export function parseTime(token: string | undefined): number | undefined {
  const n = parseUint(token);
  if (n === undefined) return undefined;
  return n >= MILLISECONDS_THRESHOLD ? Math.floor(n / 1000) : n;
}

/**
 * Cuts text to at most `maxBytes` UTF-8 bytes without splitting a character.
 *
 * @example Cutting before a multi-byte character
 * ```ts
 * import { truncateUtf8 } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(truncateUtf8("ab☕", 4), "ab");
 * ```
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  let bytes = 0;
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) break;
    bytes += size;
    i += cp >= 0x10000 ? 2 : 1;
  }
  return text.slice(0, i);
}

/**
 * Makes text safe for a field: `|`, CR, LF and other control characters become spaces, lone
 * surrogates become U+FFFD, and the result is cut to `maxBytes` UTF-8 bytes.
 *
 * @example A reject detail from untrusted text
 * ```ts
 * import { sanitizeText } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(sanitizeText("a|b\r\nc", 64), "a b  c");
 * ```
 */
export function sanitizeText(text: string, maxBytes: number): string {
  // deno-lint-ignore no-control-regex
  const clean = text.toWellFormed().replace(/[|\u0000-\u001f\u007f]/g, " ");
  return truncateUtf8(clean, maxBytes);
}

// ---- decoding internals ------------------------------------------------------------------------

function ok(message: BitcloneMessage): DecodeResult {
  return { ok: true, message };
}

function fail(kind: DecodeErrorKind, command: string, detail: string): DecodeResult {
  return { ok: false, error: { kind, command, detail: sanitizeText(detail, 200) } };
}

/** The command word: bytes before the first `|`, ASCII lower-cased, blanks stripped, sanitised. */
function commandWord(bytes: Uint8Array): string {
  let end = bytes.indexOf(PIPE);
  if (end < 0) end = bytes.length;
  let start = 0;
  while (start < end && (bytes[start] === 0x20 || bytes[start] === 0x09)) start++;
  while (end > start && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09)) end--;
  const stop = Math.min(end, start + COMMAND_SCAN_BYTES);
  let word = "";
  for (let i = start; i < stop && word.length < COMMAND_TEXT_MAX; i++) {
    const b = bytes[i];
    if (b >= 0x41 && b <= 0x5a) word += String.fromCharCode(b + 32);
    else if (b >= 0x20 && b < 0x7f && b !== PIPE) word += String.fromCharCode(b);
    else word += "?";
  }
  return word;
}

function stripBlanks(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** A nonce token: 1–64 bytes without CR, kept verbatim (it is echoed); anything else is absent. */
function nonceToken(token: string | undefined): string | undefined {
  if (token === undefined || token === "") return undefined;
  if (token.length > MAX_NONCE_BYTES || utf8Length(token) > MAX_NONCE_BYTES) return undefined;
  if (token.includes("\r")) return undefined; // a lone CR inside a line could not be echoed
  return token;
}

function parseServices(token: string | undefined): number | undefined {
  if (token === undefined) return undefined;
  const s = stripBlanks(token);
  const n = /^0[01]{7}$/.test(s) ? parseInt(s, 2) : parseUint(s);
  return n === undefined ? undefined : n % 4; // mining (4) and higher bits are ignored
}

function decodeVersion(tokens: string[]): DecodeResult {
  if (tokens.length < 5) return fail("malformed", "version", "expected 8 fields");
  if (tokens.length === 5) {
    const last = stripBlanks(tokens[4]);
    if (parseUint(tokens[1]) === undefined || parseIp(last)?.v6 === false) {
      // First revision (§A.10.2): version|<software>|<block-id>|<time>|<sender IP>
      return ok({
        type: "version",
        version: 3,
        services: 1,
        time: parseTime(tokens[3]),
        recipient: undefined,
        sender: undefined,
        nonce: undefined,
        userAgent: truncateUtf8(tokens[1], MAX_USER_AGENT_BYTES),
        blockId: parseUint(tokens[2]) ?? 0,
      });
    }
  }
  const version = parseUint(tokens[1]);
  return ok({
    type: "version",
    version: version !== undefined && version >= 3 ? version : 3,
    services: parseServices(tokens[2]) ?? 1,
    time: parseTime(tokens[3]),
    recipient: parsePeerAddress(tokens[4]),
    sender: tokens[5] === undefined ? undefined : parsePeerAddress(tokens[5]),
    nonce: nonceToken(tokens[6]),
    userAgent: truncateUtf8(tokens[7] ?? "", MAX_USER_AGENT_BYTES),
    blockId: parseUint(tokens[8]) ?? 0,
  });
}

function isPort(token: string): boolean {
  const s = stripBlanks(token);
  if (!/^\d{1,5}$/.test(s)) return false;
  const n = Number(s);
  return n >= 1 && n <= 65535;
}

function decodeAddr(tokens: string[]): DecodeResult {
  if (tokens.length < 2) return fail("malformed", "addr", "addr: count missing");
  const count = parseUint(tokens[1]);
  if (count === undefined) return fail("malformed", "addr", "addr: count is not a number");
  if (count > MAX_ADDR_ENTRIES) {
    return fail("tooMany", "addr", `addr: count ${count} over ${MAX_ADDR_ENTRIES}`);
  }
  const rest = tokens.length - 2;
  let triples = rest > 0 && rest % 3 === 0;
  for (let i = 2; triples && i < tokens.length; i += 3) {
    triples = parseUint(tokens[i]) !== undefined &&
      parseIp(stripBlanks(tokens[i + 1])) !== undefined &&
      isPort(tokens[i + 2]);
  }
  const width = triples ? 3 : 2;
  const present = Math.ceil(rest / width);
  if (present > MAX_ADDR_ENTRIES) {
    return fail("tooMany", "addr", `addr: ${present} entries over ${MAX_ADDR_ENTRIES}`);
  }
  const entries: AddrEntry[] = [];
  let invalidEntries = 0;
  for (let i = 2; i < tokens.length; i += width) {
    if (i + width > tokens.length) {
      invalidEntries++; // a dangling token
      continue;
    }
    const time = parseTime(tokens[i]);
    let address: PeerAddress | undefined;
    if (triples) {
      const ip = parseIp(stripBlanks(tokens[i + 1]));
      if (ip !== undefined) {
        address = { ip: ip.text, v6: ip.v6, port: Number(stripBlanks(tokens[i + 2])) };
      }
    } else {
      address = parsePeerAddress(tokens[i + 1]);
    }
    if (time === undefined || address === undefined) invalidEntries++;
    else entries.push({ time, address });
  }
  return ok({ type: "addr", count, entries, invalidEntries });
}

// ---- encoding internals ------------------------------------------------------------------------

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function checkText(what: string, value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`Cannot encode ${what}: not a string`);
  if (/[|\r\n]/.test(value)) throw new TypeError(`Cannot encode ${what}: it contains |, CR or LF`);
  if (!value.isWellFormed()) throw new TypeError(`Cannot encode ${what}: lone surrogate`);
  return value;
}

function checkUint(what: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot encode ${what}: ${String(value)} is not a safe unsigned integer`);
  }
  return value;
}

function checkUnixSeconds(what: string, value: unknown): number {
  const n = checkUint(what, value);
  if (n >= MILLISECONDS_THRESHOLD) {
    throw new RangeError(`Cannot encode ${what}: ${n} is not in seconds`);
  }
  return n;
}

function checkNonce(what: string, value: unknown): string {
  const s = checkText(what, value);
  if (s.length === 0 || utf8Length(s) > MAX_NONCE_BYTES) {
    throw new RangeError(`Cannot encode ${what}: a nonce has 1 to ${MAX_NONCE_BYTES} bytes`);
  }
  return s;
}

function checkAddress(what: string, value: PeerAddress | undefined): string {
  if (value === undefined || typeof value !== "object") {
    throw new TypeError(`Cannot encode ${what}: the address is missing`);
  }
  const text = formatPeerAddress(value);
  const back = parsePeerAddress(text);
  if (
    back === undefined || back.ip !== value.ip || back.v6 !== value.v6 || back.port !== value.port
  ) {
    throw new TypeError(`Cannot encode ${what}: ${text} is not a canonical address`);
  }
  return text;
}

function formatFields(m: BitcloneMessage): string {
  switch (m.type) {
    case "version": {
      const version = checkUint("version.version", m.version);
      if (version < 3) throw new RangeError(`Cannot encode version.version: ${version} < 3`);
      const services = checkUint("version.services", m.services);
      if (services > 3) throw new RangeError(`Cannot encode version.services: ${services} > 3`);
      if (m.time === undefined) throw new TypeError("Cannot encode version.time: missing");
      if (m.nonce === undefined) throw new TypeError("Cannot encode version.nonce: missing");
      const ua = checkText("version.userAgent", m.userAgent);
      if (utf8Length(ua) > MAX_USER_AGENT_BYTES) {
        throw new RangeError(`Cannot encode version.userAgent: over ${MAX_USER_AGENT_BYTES} bytes`);
      }
      return [
        "version",
        version,
        services,
        checkUnixSeconds("version.time", m.time),
        checkAddress("version.recipient", m.recipient),
        checkAddress("version.sender", m.sender),
        checkNonce("version.nonce", m.nonce),
        ua,
        checkUint("version.blockId", m.blockId),
      ].join("|");
    }
    case "verack":
    case "ping":
    case "pong":
      return m.nonce === undefined ? m.type : `${m.type}|${checkNonce(`${m.type}.nonce`, m.nonce)}`;
    case "getaddr":
      return "getaddr";
    case "addr": {
      if (!Array.isArray(m.entries)) {
        throw new TypeError("Cannot encode addr: entries is not an array");
      }
      if (m.entries.length > MAX_ADDR_ENTRIES) {
        throw new RangeError(
          `Cannot encode addr: ${m.entries.length} entries (max ${MAX_ADDR_ENTRIES})`,
        );
      }
      if (m.count !== m.entries.length || m.invalidEntries !== 0) {
        throw new TypeError("Cannot encode addr: count differs from the entries");
      }
      const parts: (string | number)[] = ["addr", m.entries.length];
      for (const e of m.entries) {
        parts.push(checkUnixSeconds("addr time", e.time), checkAddress("addr entry", e.address));
      }
      return parts.join("|");
    }
    case "reject":
    case "message": {
      if (m.code === undefined) throw new TypeError(`Cannot encode ${m.type}: the code is missing`);
      const short = m.type === "reject" ? m.reason : m.summary;
      return [
        m.type,
        checkUint(`${m.type}.code`, m.code),
        checkText(`${m.type} text`, short),
        checkText(`${m.type}.details`, m.details),
      ].join("|");
    }
    case "blockLayer": {
      if (!(BLOCK_LAYER_COMMANDS as readonly string[]).includes(m.command)) {
        throw new TypeError(`Cannot encode ${String(m.command)}: not a block-layer command`);
      }
      if (!Array.isArray(m.fields)) {
        throw new TypeError(`Cannot encode ${m.command}: fields is not an array`);
      }
      return [m.command, ...m.fields.map((f) => checkText(`${m.command} field`, f))].join("|");
    }
    default: {
      const never: never = m;
      throw new TypeError(
        `Cannot encode message: unknown type ${String((never as { type: unknown }).type)}`,
      );
    }
  }
}
