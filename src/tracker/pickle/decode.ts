/**
 * The safe pickle decoder (spec §5.1–5.4, §5.8): a total function from bytes to a typed value or a
 * typed error. It runs the data opcodes of protocols 0 to 5 and refuses every opcode that imports,
 * calls or reaches outside the bytes, and it bounds everything: input size, nesting depth, stack
 * height, memo entries, container and total sizes, string and integer sizes. No length field
 * allocates before the decoder has checked that the input holds that many bytes.
 *
 * Streaming use: feed the bytes received so far; `truncated` means "read more", any other error
 * means the request is invalid; bytes after STOP are ignored (`consumed` says where it ended).
 *
 * Text-line opcodes are read by Python 2.7's rules (its pure-Python `pickle.py`, which the
 * original programs use; spec §5.4), because the originals serve items by the number they read:
 * INT is `I00`/`I01` → False/True, else `int(line)` with the `long(line)` fallback (surrounding
 * whitespace and a sign allowed, leading zeros decimal, an `L` suffix allowed); LONG is
 * `long(line, 0)` (`L010` is 8, `L0x1f` is 31); FLOAT is `float(line)` (surrounding whitespace
 * allowed); PUT and GET use the line itself as the memo key, a string (`p0` and `g00` name
 * different entries; BINPUT/BINGET use the decimal of their argument, LONG_BINPUT/LONG_BINGET of
 * it read as a signed i32); STOP returns the top of the stack whatever lies below it.
 *
 * Differences from Python 2's loader, all on the strict side: nothing is imported or called; text
 * must be well-formed UTF-8/UTF-16 (Python also accepts lone surrogates); STOP, PUT and DUP refuse
 * a MARK on top (Python 2 keeps its mark object on the stack and would return, store or copy it);
 * PROTO may only come first; APPEND/SETITEM/ADDITEMS need a list/dict/set; the limits.
 *
 * @module
 */

import { assert } from "../../util/assert.ts";
import type { PickleError, PickleLimitName } from "./error.ts";
import { Op, opcodeInfo, type OpName, type UnsafeOpName } from "./opcodes.ts";
import {
  KeyInterner,
  Py2Str,
  PyByteArray,
  PyDict,
  PyFloat,
  PySet,
  PyTuple,
  pyTypeOf,
  type PyValue,
} from "./value.ts";
import {
  bytesEqual,
  escapeDecode,
  latin1Decode,
  latin1Encode,
  parseFloatLine,
  parsePy2Long,
  type Py2IntLiteral,
  rawUnicodeEscapeDecode,
} from "./_text.ts";

/**
 * Options of {@linkcode decodePickle}: limits (each an integer ≥ 0, with a ceiling) and two
 * switches. The defaults are the spec's recommendations (§5.8), except the input size: a tracker
 * emulating the originals passes `maxInputBytes: 1024`.
 *
 * @example Emulating the original tracker
 * ```ts
 * import { decodePickle, type DecodePickleOptions } from "./decode.ts";
 * import assert from "node:assert/strict";
 * const options: DecodePickleOptions = { maxInputBytes: 1024, maxProtocol: 2 };
 * const r = decodePickle(new TextEncoder().encode("I5\n."), options);
 * assert.ok(r.ok);
 * assert.equal(r.value, 5);
 * ```
 */
export interface DecodePickleOptions {
  /**
   * Bytes the decoder may read; a pickle that needs more fails with `limit` (ceiling 2^30).
   *
   * @default 65536
   */
  maxInputBytes?: number;
  /**
   * Nesting depth: open marks while decoding, and containers nested in the result (a container
   * holding only scalars has depth 1; cycles count once). Ceiling 1000.
   *
   * @default 32
   */
  maxDepth?: number;
  /**
   * Items on the decoder's stack (ceiling 2^24).
   *
   * @default 4096
   */
  maxStackHeight?: number;
  /**
   * Distinct memo keys (ceiling 2^24).
   *
   * @default 4096
   */
  maxMemoEntries?: number;
  /**
   * Items in one tuple, list, set or dict (a dict counts pairs) (ceiling 2^24).
   *
   * @default 4096
   */
  maxContainerItems?: number;
  /**
   * Items added to all containers together; bounds the edges of the result graph (ceiling 2^24).
   *
   * @default 16384
   */
  maxTotalItems?: number;
  /**
   * Bytes of one string, bytes or bytearray payload; for the text-line opcodes STRING and UNICODE,
   * of the line as written (ceiling 2^30).
   *
   * @default 65536
   */
  maxStringBytes?: number;
  /**
   * Byte count of LONG1/LONG4 integers (64 bytes = 512 bits) (ceiling 2^20).
   *
   * @default 64
   */
  maxLongBytes?: number;
  /**
   * Digits in an INT or LONG line (ceiling 4300, Python's own limit).
   *
   * @default 160
   */
  maxIntDigits?: number;
  /**
   * Highest protocol accepted, 0..5: in PROTO, and for opcodes (an opcode introduced by a higher
   * protocol is an `unknown-opcode`, as it is for that Python). 2 emulates Python 2.
   *
   * @default 5
   */
  maxProtocol?: number;
  /**
   * Accept the one call pattern of spec §5.9, `_codecs.encode(text, "latin1")`, which Python 3
   * writes for `bytes` at protocols 0–2; it decodes to a `Uint8Array`. Every other use of GLOBAL,
   * STACK_GLOBAL or REDUCE stays refused.
   *
   * @default false
   */
  allowCodecsEncode?: boolean;
}

/**
 * The default limits of {@linkcode decodePickle}.
 *
 * @example
 * ```ts
 * import { DEFAULT_DECODE_LIMITS } from "./decode.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_DECODE_LIMITS.maxDepth, 32);
 * ```
 */
export const DEFAULT_DECODE_LIMITS: Readonly<Record<PickleLimitName, number>> = Object.freeze({
  maxInputBytes: 65536,
  maxDepth: 32,
  maxStackHeight: 4096,
  maxMemoEntries: 4096,
  maxContainerItems: 4096,
  maxTotalItems: 16384,
  maxStringBytes: 65536,
  maxLongBytes: 64,
  maxIntDigits: 160,
});

const CEILINGS: Readonly<Record<PickleLimitName, number>> = {
  maxInputBytes: 2 ** 30,
  maxDepth: 1000,
  maxStackHeight: 2 ** 24,
  maxMemoEntries: 2 ** 24,
  maxContainerItems: 2 ** 24,
  maxTotalItems: 2 ** 24,
  maxStringBytes: 2 ** 30,
  maxLongBytes: 2 ** 20,
  maxIntDigits: 4300,
};

/**
 * The outcome of {@linkcode decodePickle}.
 *
 * @example
 * ```ts
 * import { decodePickle, type DecodePickleResult } from "./decode.ts";
 * import assert from "node:assert/strict";
 * const r: DecodePickleResult = decodePickle(Uint8Array.of(0x4e, 0x2e, 0x21)); // N.!
 * assert.ok(r.ok);
 * assert.equal(r.value, null);
 * assert.equal(r.consumed, 2);
 * ```
 */
export type DecodePickleResult =
  | {
    readonly ok: true;
    /** The decoded value. */
    readonly value: PyValue;
    /** Bytes up to and including STOP; the rest of the input was not read. */
    readonly consumed: number;
    /**
     * The lowest protocol that can express this pickle: the PROTO version, or higher if an
     * opcode of a later protocol appears. Python 2 loads exactly the pickles with `protocol <= 2`.
     */
    readonly protocol: number;
  }
  | { readonly ok: false; readonly error: PickleError };

/**
 * Decodes one pickle, safely. Never throws on any input.
 *
 * @param bytes The received bytes; only the first `maxInputBytes` are ever read.
 * @param options Limits and switches, see {@linkcode DecodePickleOptions}.
 * @returns `{ ok: true, value, consumed, protocol }` or `{ ok: false, error }`.
 * @throws {TypeError} When `bytes` is not a `Uint8Array`.
 * @throws {RangeError} When an option is out of range.
 *
 * @example An item reply of the Part 1 tracker
 * ```ts
 * import { decodePickle, Py2Str, PyTuple } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const r = decodePickle(new TextEncoder().encode("(I12\nS'of'\np0\ntp1\n."));
 * if (!r.ok) throw new Error(r.error.message);
 * const reply = r.value as PyTuple;
 * assert.equal(reply.items[0], 12);
 * assert.equal((reply.items[1] as Py2Str).text, "of");
 * ```
 *
 * @example A refused pickle
 * ```ts
 * import { decodePickle } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const r = decodePickle(new TextEncoder().encode("cos\nsystem\n(S'echo pwned'\ntR."));
 * assert.ok(!r.ok);
 * assert.equal(r.error.kind, "unsafe-opcode");
 * assert.equal(r.error.opcode, "GLOBAL");
 * ```
 *
 * @example Need more bytes
 * ```ts
 * import { decodePickle } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const r = decodePickle(new TextEncoder().encode("(S'ECHO'\np0\n"));
 * assert.ok(!r.ok);
 * assert.equal(r.error.kind, "truncated");
 * ```
 */
export function decodePickle(
  bytes: Uint8Array,
  options: DecodePickleOptions = {},
): DecodePickleResult {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError("Cannot decode a pickle: the input is not a Uint8Array");
  }
  return new Decoder(bytes, resolveOptions(options)).run();
}

interface Resolved extends Record<PickleLimitName, number> {
  maxProtocol: number;
  allowCodecsEncode: boolean;
}

const DEFAULT_OPTIONS: Readonly<Resolved> = Object.freeze({
  ...DEFAULT_DECODE_LIMITS,
  maxProtocol: 5,
  allowCodecsEncode: false,
});

function resolveOptions(options: DecodePickleOptions): Readonly<Resolved> {
  if (Object.keys(options).length === 0) return DEFAULT_OPTIONS;
  const resolved: Resolved = { ...DEFAULT_DECODE_LIMITS, maxProtocol: 5, allowCodecsEncode: false };
  for (const name of Object.keys(CEILINGS) as PickleLimitName[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0 || value > CEILINGS[name]) {
      throw new RangeError(
        `Cannot decode a pickle: ${name} must be an integer in 0..${CEILINGS[name]}, got ${value}`,
      );
    }
    resolved[name] = value;
  }
  const { maxProtocol = 5, allowCodecsEncode = false } = options;
  if (!Number.isInteger(maxProtocol) || maxProtocol < 0 || maxProtocol > 5) {
    throw new RangeError(`Cannot decode a pickle: maxProtocol must be 0..5, got ${maxProtocol}`);
  }
  resolved.maxProtocol = maxProtocol;
  resolved.allowCodecsEncode = allowCodecsEncode === true;
  return resolved;
}

/** The value GLOBAL `_codecs encode` pushes under the §5.9 extension; never leaves the decoder. */
const CODECS_ENCODE: unique symbol = Symbol("_codecs.encode");
type Item = PyValue | typeof CODECS_ENCODE;

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Python 2's `float()` strips C-locale whitespace on both sides. */
const PY2_SPACE_RUNS = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g;
const CODECS_MODULE = new TextEncoder().encode("_codecs");
const CODECS_NAME = new TextEncoder().encode("encode");

/** Thrown inside the decoder only, and always caught by `run()`. */
class Failure {
  constructor(readonly error: PickleError) {}
}

function normalizeInt(value: bigint): number | bigint {
  return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/** The direct children of a container, or `undefined` for a scalar. */
function childrenOf(value: PyValue): readonly PyValue[] | undefined {
  if (Array.isArray(value)) return value;
  if (value instanceof PyTuple) return value.items;
  if (value instanceof PyDict) {
    const out: PyValue[] = [];
    for (const [k, v] of value) out.push(k, v);
    return out;
  }
  if (value instanceof PySet) return [...value];
  return undefined;
}

class Decoder {
  readonly #b: Uint8Array;
  readonly #o: Readonly<Resolved>;
  readonly #cap: number;
  #pos = 0;
  #op = 0;
  #opName: OpName | undefined;
  #stack: Item[] = [];
  #marks: number[] = [];
  /** Keyed as Python 2's `pickle.py` keys it: by the PUT line, or the decimal of an index. */
  #memo = new Map<string, Item>();
  #items = 0;
  #heights = new Map<object, number>();
  #keyTable: KeyInterner | undefined;
  /** Set once GET or DUP pushes a container again: tracked heights may then be stale. */
  #aliased = false;
  #protocol = 0;
  #markerMade = false;

  constructor(bytes: Uint8Array, options: Readonly<Resolved>) {
    this.#b = bytes;
    this.#o = options;
    this.#cap = options.maxInputBytes;
  }

  run(): DecodePickleResult {
    try {
      const value = this.#loop();
      return { ok: true, value, consumed: this.#pos, protocol: this.#protocol };
    } catch (e) {
      if (e instanceof Failure) return { ok: false, error: e.error };
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Failures

  #where(): string {
    return this.#opName === undefined
      ? `at offset ${this.#op}`
      : `in ${this.#opName} at offset ${this.#op}`;
  }

  #malformed(what: string): never {
    throw new Failure({
      kind: "malformed",
      offset: this.#op,
      ...(this.#opName === undefined ? {} : { opcode: this.#opName }),
      message: `Cannot decode the pickle: ${what} ${this.#where()}`,
    });
  }

  #limit(limit: PickleLimitName): never {
    throw new Failure({
      kind: "limit",
      offset: this.#op,
      limit,
      message: `Cannot decode the pickle: ${limit} (${this.#o[limit]}) exceeded ${this.#where()}`,
    });
  }

  #truncated(): never {
    throw new Failure({
      kind: "truncated",
      offset: this.#op,
      message: `Cannot decode the pickle: the input ends ${this.#where()}`,
    });
  }

  #unsafe(opcode: UnsafeOpName, detail = "imports or calls code"): never {
    throw new Failure({
      kind: "unsafe-opcode",
      offset: this.#op,
      opcode,
      message: `Cannot decode the pickle: refused opcode ${opcode} (0x${
        hex2(this.#b[this.#op])
      }) at offset ${this.#op}: ${detail}`,
    });
  }

  #unknown(byte: number, detail = "no such opcode"): never {
    throw new Failure({
      kind: "unknown-opcode",
      offset: this.#op,
      byte,
      message: `Cannot decode the pickle: unknown opcode 0x${
        hex2(byte)
      } at offset ${this.#op}: ${detail}`,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Reading arguments

  /** Checks that `n` more bytes are readable: within the input limit, then within the input. */
  #need(n: number): void {
    if (this.#pos + n > this.#cap) this.#limit("maxInputBytes");
    if (this.#pos + n > this.#b.length) this.#truncated();
  }

  #u8(): number {
    this.#need(1);
    return this.#b[this.#pos++];
  }

  #u16(): number {
    this.#need(2);
    const b = this.#b, p = this.#pos;
    this.#pos += 2;
    return b[p] | (b[p + 1] << 8);
  }

  #i32(): number {
    this.#need(4);
    const b = this.#b, p = this.#pos;
    this.#pos += 4;
    return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
  }

  #u32(): number {
    return this.#i32() >>> 0;
  }

  /** A u64 as a number; values beyond 2^53 lose precision but stay beyond every limit. */
  #u64(): number {
    const lo = this.#u32();
    const hi = this.#u32();
    return hi * 4294967296 + lo;
  }

  /**
   * Skips a `len`-byte payload after checking it against `maxStringBytes` and the input, and
   * returns where it starts.
   */
  #payload(len: number): number {
    if (len > this.#o.maxStringBytes) this.#limit("maxStringBytes");
    this.#need(len);
    const start = this.#pos;
    this.#pos += len;
    return start;
  }

  /** Reads a payload as a copy. */
  #bytes(len: number): Uint8Array {
    const start = this.#payload(len);
    return this.#b.slice(start, start + len);
  }

  /** Reads a payload as UTF-8 text. */
  #text(len: number): string {
    const b = this.#b, start = this.#payload(len), end = start + len;
    if (len <= 64) { // short ASCII: skip the TextDecoder call
      let out = "";
      for (let i = start; i < end; i++) {
        if (b[i] > 0x7f) return this.#utf8(start, end);
        out += String.fromCharCode(b[i]);
      }
      return out;
    }
    return this.#utf8(start, end);
  }

  #utf8(start: number, end: number): string {
    try {
      return UTF8.decode(this.#b.subarray(start, end));
    } catch {
      return this.#malformed("invalid UTF-8");
    }
  }

  /**
   * Finds the end of the line starting at the current position, moves past its `\n` and returns
   * the index of that `\n`. A line longer than `maxLen` calls `tooLong`; a missing newline is
   * `truncated` while the input limit allows more bytes, `limit` otherwise.
   */
  #lineEnd(maxLen: number, tooLong: () => never): number {
    const b = this.#b, start = this.#pos;
    const avail = Math.min(b.length, this.#cap);
    const end = Math.min(avail, start + maxLen + 1);
    for (let i = start; i < end; i++) {
      if (b[i] === 0x0a) {
        this.#pos = i + 1;
        return i;
      }
    }
    if (start + maxLen + 1 <= avail) tooLong();
    if (b.length >= this.#cap) this.#limit("maxInputBytes");
    this.#truncated();
  }

  /** Reads a line (without its `\n`), see {@linkcode Decoder.#lineEnd}. */
  #line(maxLen: number, tooLong: () => never): Uint8Array {
    const start = this.#pos;
    return this.#b.subarray(start, this.#lineEnd(maxLen, tooLong));
  }

  /**
   * Reads an INT or LONG line (without its `\n`). Bytes that can be digits, prefix or suffix
   * count toward `maxIntDigits` (plus 2 for `0x` and `L`) while the newline is sought, so an
   * endless number fails with `limit` before its end arrives.
   */
  #intLine(): Uint8Array {
    const b = this.#b, start = this.#pos, max = this.#o.maxIntDigits + 2;
    const avail = Math.min(b.length, this.#cap);
    let alnum = 0;
    for (let i = start; i < avail; i++) {
      const c = b[i];
      if (c === 0x0a) {
        this.#pos = i + 1;
        return b.subarray(start, i);
      }
      if ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)) {
        if (++alnum > max) this.#limit("maxIntDigits");
      }
    }
    if (b.length >= this.#cap) this.#limit("maxInputBytes");
    this.#truncated();
  }

  /** Converts a parsed INT/LONG literal (see {@linkcode parsePy2Long}), or fails. */
  #py2Long(literal: Py2IntLiteral | undefined, what: string): number | bigint {
    if (literal === undefined) this.#malformed(`not an integer for Python 2's ${what}`);
    const { negative, base, digits } = literal;
    if (digits.length > this.#o.maxIntDigits) this.#limit("maxIntDigits");
    if (base === 10 && digits.length <= 15) {
      const value = Number(digits);
      return negative ? -value + 0 : value;
    }
    const prefix = base === 16 ? "0x" : base === 8 ? "0o" : base === 2 ? "0b" : "";
    const value = BigInt(prefix + digits);
    return normalizeInt(negative ? -value : value);
  }

  /** A PUT/GET line as Python 2's memo key: the line itself (Latin-1), whatever it holds. */
  #memoKey(): string {
    return latin1Decode(this.#line(Infinity, () => this.#limit("maxInputBytes")));
  }

  #long(n: number): number | bigint {
    if (n < 0) this.#malformed("negative byte count");
    if (n > this.#o.maxLongBytes) this.#limit("maxLongBytes");
    this.#need(n);
    if (n === 0) return 0;
    const b = this.#b, start = this.#pos;
    this.#pos += n;
    let hex = "";
    for (let i = start + n - 1; i >= start; i--) hex += hex2(b[i]);
    let value = BigInt("0x" + hex);
    if (b[start + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return normalizeInt(value);
  }

  // -------------------------------------------------------------------------------------------
  // Stack, marks, memo

  #fence(): number {
    const m = this.#marks;
    return m.length === 0 ? 0 : m[m.length - 1];
  }

  #push(value: Item): void {
    if (this.#stack.length >= this.#o.maxStackHeight) this.#limit("maxStackHeight");
    this.#stack.push(value);
  }

  #pop(): Item {
    if (this.#stack.length <= this.#fence()) this.#malformed("stack underflow");
    return this.#stack.pop()!;
  }

  #top(): Item {
    if (this.#stack.length <= this.#fence()) this.#malformed("stack underflow");
    return this.#stack[this.#stack.length - 1];
  }

  #popN(n: number): Item[] {
    if (this.#stack.length - n < this.#fence()) this.#malformed("stack underflow");
    return this.#stack.splice(this.#stack.length - n);
  }

  #popMark(): Item[] {
    if (this.#marks.length === 0) this.#malformed("no MARK");
    return this.#stack.splice(this.#marks.pop()!);
  }

  #memoPut(key: string): void {
    const top = this.#top();
    if (this.#memo.size >= this.#o.maxMemoEntries && !this.#memo.has(key)) {
      this.#limit("maxMemoEntries");
    }
    this.#memo.set(key, top);
  }

  #memoGet(key: string): void {
    const value = this.#memo.get(key);
    if (value === undefined) {
      this.#malformed(`memo entry ${JSON.stringify(key).slice(0, 40)} does not exist`);
    }
    this.#pushAgain(value);
  }

  /** Pushes a value that is already stored elsewhere (GET, DUP). */
  #pushAgain(value: Item): void {
    if (this.#heights.has(value as object)) this.#aliased = true;
    this.#push(value);
  }

  get #keys(): KeyInterner {
    return this.#keyTable ??= new KeyInterner();
  }

  // -------------------------------------------------------------------------------------------
  // Containers

  #height(value: Item): number {
    return typeof value === "object" && value !== null ? this.#heights.get(value) ?? 0 : 0;
  }

  #setHeight(container: object, height: number): void {
    if (height > this.#o.maxDepth) this.#limit("maxDepth");
    this.#heights.set(container, height);
  }

  #count(n: number): void {
    this.#items += n;
    if (this.#items > this.#o.maxTotalItems) this.#limit("maxTotalItems");
  }

  #size(n: number): void {
    if (n > this.#o.maxContainerItems) this.#limit("maxContainerItems");
  }

  #values(items: Item[]): PyValue[] {
    if (this.#markerMade && items.includes(CODECS_ENCODE)) {
      this.#malformed("_codecs.encode used as a value");
    }
    return items as PyValue[];
  }

  #hashable(key: PyValue, what: string): void {
    if (this.#keys.intern(key) === undefined) {
      this.#malformed(`unhashable ${pyTypeOf(key)} ${what}`);
    }
  }

  #tuple(items: Item[]): PyTuple {
    const values = this.#values(items);
    this.#size(values.length);
    this.#count(values.length);
    let height = 1;
    for (const v of values) height = Math.max(height, this.#height(v) + 1);
    const tuple = new PyTuple(values);
    this.#setHeight(tuple, height);
    return tuple;
  }

  #newContainer<T extends object>(container: T): T {
    this.#setHeight(container, 1);
    return container;
  }

  #extend(list: Item, items: Item[]): void {
    if (!Array.isArray(list)) this.#malformed("no list to append to");
    const values = this.#values(items);
    this.#size(list.length + values.length);
    this.#count(values.length);
    let height = Math.max(this.#height(list), 1);
    for (const v of values) height = Math.max(height, this.#height(v) + 1);
    this.#setHeight(list, height);
    for (const v of values) list.push(v);
  }

  #setItems(dict: Item, items: Item[]): void {
    if (!(dict instanceof PyDict)) this.#malformed("no dict to set items in");
    if (items.length % 2 !== 0) this.#malformed("odd number of items for a dict");
    const values = this.#values(items);
    this.#count(values.length / 2);
    let height = Math.max(this.#height(dict), 1);
    for (let i = 0; i < values.length; i += 2) {
      const key = values[i], value = values[i + 1];
      this.#hashable(key, "as a dict key");
      dict.set(key, value);
      this.#size(dict.size);
      height = Math.max(height, this.#height(key) + 1, this.#height(value) + 1);
    }
    this.#setHeight(dict, height);
  }

  #addItems(set: Item, items: Item[]): void {
    if (!(set instanceof PySet) || set.frozen) this.#malformed("no set to add to");
    const values = this.#values(items);
    this.#count(values.length);
    let height = Math.max(this.#height(set), 1);
    for (const v of values) {
      this.#hashable(v, "in a set");
      set.add(v);
      this.#size(set.size);
      height = Math.max(height, this.#height(v) + 1);
    }
    this.#setHeight(set, height);
  }

  #frozenSet(items: Item[]): PySet {
    const values = this.#values(items);
    this.#count(values.length);
    let height = 1;
    for (const v of values) {
      this.#hashable(v, "in a frozenset");
      height = Math.max(height, this.#height(v) + 1);
    }
    const set = new PySet(values, { keys: this.#keys, frozen: true });
    this.#size(set.size);
    this.#setHeight(set, height);
    return set;
  }

  /**
   * Bounds the depth of the result graph. Heights tracked while decoding can be stale when a
   * container was filled after an alias of it had been stored elsewhere, so this walks the graph
   * once (iteratively; each node and edge once) and takes the longest path, cycles excluded.
   */
  #checkDepth(root: PyValue): void {
    // Without GET or DUP of a container, no container changes after it joins a parent, so the
    // heights tracked while decoding are exact and this walk is skipped.
    const max = this.#o.maxDepth;
    const done = new Map<object, number>();
    const onPath = new Set<object>();
    const path: { node: object; kids: readonly PyValue[]; i: number; h: number }[] = [];
    const open = (value: PyValue): number | undefined => {
      const kids = childrenOf(value);
      if (kids === undefined) return 0;
      const node = value as object;
      const known = done.get(node);
      if (known !== undefined) return known;
      if (onPath.has(node)) return 0; // a cycle: not deeper
      if (path.length >= max) this.#limit("maxDepth");
      onPath.add(node);
      path.push({ node, kids, i: 0, h: 1 });
      return undefined;
    };
    open(root);
    while (path.length > 0) {
      const top = path[path.length - 1];
      if (top.i < top.kids.length) {
        const h = open(top.kids[top.i++]);
        if (h !== undefined) top.h = Math.max(top.h, h + 1);
        continue;
      }
      path.pop();
      onPath.delete(top.node);
      done.set(top.node, top.h);
      if (top.h > max) this.#limit("maxDepth");
      if (path.length > 0) {
        const parent = path[path.length - 1];
        parent.h = Math.max(parent.h, top.h + 1);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The §5.9 extension: _codecs.encode(text, "latin1")

  #unsafeOpcode(name: UnsafeOpName): void {
    if (!this.#o.allowCodecsEncode) this.#unsafe(name);
    const stack = this.#stack, n = stack.length, fence = this.#fence();
    switch (name) {
      case "GLOBAL": {
        const notCodecs = (): never => this.#unsafe(name, "imports something other than _codecs");
        const module = this.#line(CODECS_MODULE.length, notCodecs);
        const attr = this.#line(CODECS_NAME.length, notCodecs);
        if (!bytesEqual(module, CODECS_MODULE) || !bytesEqual(attr, CODECS_NAME)) {
          this.#unsafe(
            name,
            `imports ${JSON.stringify(`${latin1Decode(module)}.${latin1Decode(attr)}`)}`,
          );
        }
        this.#markerMade = true;
        this.#push(CODECS_ENCODE);
        return;
      }
      case "STACK_GLOBAL":
        if (n - fence < 2 || stack[n - 2] !== "_codecs" || stack[n - 1] !== "encode") {
          this.#unsafe(name, "imports something other than _codecs.encode");
        }
        this.#popN(2);
        this.#markerMade = true;
        this.#push(CODECS_ENCODE);
        return;
      case "REDUCE": {
        if (n - fence < 2 || stack[n - 2] !== CODECS_ENCODE) {
          this.#unsafe(name, "calls something other than _codecs.encode");
        }
        const args = stack[n - 1];
        const ok = args instanceof PyTuple && args.length === 2 && args.items[1] === "latin1" &&
          typeof args.items[0] === "string";
        const bytes = ok ? latin1Encode(args.items[0] as string) : undefined;
        if (bytes === undefined) {
          this.#unsafe(
            name,
            "calls _codecs.encode with arguments other than (latin-1 text, 'latin1')",
          );
        }
        this.#popN(2);
        this.#push(bytes);
        return;
      }
      default:
        this.#unsafe(name);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The machine

  #loop(): PyValue {
    const o = this.#o;
    const stringTooLong = (): never => this.#limit("maxStringBytes");
    // Each round consumes at least one byte and pos never passes maxInputBytes: bounded.
    for (;;) {
      this.#op = this.#pos;
      this.#opName = undefined;
      const byte = this.#u8();
      const info = opcodeInfo(byte);
      if (info === undefined) this.#unknown(byte);
      this.#opName = info.name;
      if (!info.safe) {
        this.#unsafeOpcode(info.name as UnsafeOpName);
        continue;
      }
      if (info.since > o.maxProtocol) {
        this.#unknown(byte, `${info.name} needs protocol ${info.since}, above maxProtocol`);
      }
      if (info.since > this.#protocol) this.#protocol = info.since;
      switch (byte) {
        case Op.PROTO: {
          if (this.#op !== 0) this.#malformed("PROTO after the first opcode");
          const version = this.#u8();
          if (version > o.maxProtocol) this.#malformed(`unsupported protocol ${version}`);
          this.#protocol = Math.max(this.#protocol, version);
          break;
        }
        case Op.FRAME: {
          const len = this.#u64();
          if (this.#pos + len > this.#cap) this.#limit("maxInputBytes");
          if (this.#pos + len > this.#b.length) this.#truncated();
          break; // frames are checked, then ignored
        }
        case Op.STOP: {
          // Python 2's load_stop: `value = self.stack.pop()`, whatever lies below it.
          const m = this.#marks, n = this.#stack.length;
          if (m.length > 0 && m[m.length - 1] === n) this.#malformed("STOP on a MARK");
          if (n === 0) this.#malformed("STOP on an empty stack");
          const [value] = this.#values([this.#stack[n - 1]]);
          if (this.#aliased) this.#checkDepth(value); // otherwise the tracked heights are exact
          return value;
        }

        // Integers, floats, constants
        case Op.INT: {
          // load_int: '00\n' / '01\n' are False / True, else int(line), falling back to long(line)
          const line = this.#intLine();
          if (line.length === 2 && line[0] === 0x30 && (line[1] & 0xfe) === 0x30) {
            this.#push(line[1] === 0x31);
          } else {
            this.#push(this.#py2Long(parsePy2Long(line, false), "int()"));
          }
          break;
        }
        case Op.LONG: // load_long: long(line, 0)
          this.#push(this.#py2Long(parsePy2Long(this.#intLine(), true), "long(line, 0)"));
          break;
        case Op.BININT:
          this.#push(this.#i32());
          break;
        case Op.BININT1:
          this.#push(this.#u8());
          break;
        case Op.BININT2:
          this.#push(this.#u16());
          break;
        case Op.LONG1:
          this.#push(this.#long(this.#u8()));
          break;
        case Op.LONG4:
          this.#push(this.#long(this.#i32()));
          break;
        case Op.FLOAT: {
          // load_float: float(line), which strips surrounding whitespace
          const x = parseFloatLine(
            latin1Decode(this.#line(Infinity, stringTooLong)).replace(PY2_SPACE_RUNS, ""),
          );
          if (x === undefined) this.#malformed("not a float");
          this.#push(new PyFloat(x));
          break;
        }
        case Op.BINFLOAT: {
          this.#need(8);
          const view = new DataView(this.#b.buffer, this.#b.byteOffset + this.#pos, 8);
          this.#pos += 8;
          this.#push(new PyFloat(view.getFloat64(0, false)));
          break;
        }
        case Op.NONE:
          this.#push(null);
          break;
        case Op.NEWTRUE:
          this.#push(true);
          break;
        case Op.NEWFALSE:
          this.#push(false);
          break;

        // Strings and bytes
        case Op.STRING: {
          const line = this.#line(o.maxStringBytes + 2, stringTooLong);
          const q = line[0];
          if (line.length < 2 || (q !== 0x27 && q !== 0x22) || line[line.length - 1] !== q) {
            this.#malformed("STRING argument not quoted");
          }
          const bytes = escapeDecode(line.subarray(1, -1));
          if (bytes === undefined) this.#malformed("invalid escape");
          this.#push(new Py2Str(bytes));
          break;
        }
        case Op.BINSTRING: {
          const len = this.#i32();
          if (len < 0) this.#malformed("negative length");
          this.#push(new Py2Str(this.#bytes(len)));
          break;
        }
        case Op.SHORT_BINSTRING:
          this.#push(new Py2Str(this.#bytes(this.#u8())));
          break;
        case Op.UNICODE: {
          const text = rawUnicodeEscapeDecode(this.#line(o.maxStringBytes, stringTooLong));
          if (text === undefined) this.#malformed("invalid raw-unicode-escape text");
          this.#push(text);
          break;
        }
        case Op.BINUNICODE:
          this.#push(this.#text(this.#u32()));
          break;
        case Op.SHORT_BINUNICODE:
          this.#push(this.#text(this.#u8()));
          break;
        case Op.BINUNICODE8:
          this.#push(this.#text(this.#u64()));
          break;
        case Op.SHORT_BINBYTES:
          this.#push(this.#bytes(this.#u8()));
          break;
        case Op.BINBYTES:
          this.#push(this.#bytes(this.#u32()));
          break;
        case Op.BINBYTES8:
          this.#push(this.#bytes(this.#u64()));
          break;
        case Op.BYTEARRAY8:
          this.#push(new PyByteArray(this.#bytes(this.#u64())));
          break;

        // Containers
        case Op.MARK:
          if (this.#marks.length >= o.maxDepth) this.#limit("maxDepth");
          this.#marks.push(this.#stack.length);
          break;
        case Op.EMPTY_TUPLE:
          this.#push(this.#tuple([]));
          break;
        case Op.TUPLE:
          this.#push(this.#tuple(this.#popMark()));
          break;
        case Op.TUPLE1:
        case Op.TUPLE2:
        case Op.TUPLE3:
          this.#push(this.#tuple(this.#popN(byte - Op.TUPLE1 + 1)));
          break;
        case Op.EMPTY_LIST:
          this.#push(this.#newContainer<PyValue[]>([]));
          break;
        case Op.LIST: {
          const items = this.#popMark();
          const list = this.#newContainer<PyValue[]>([]);
          this.#extend(list, items);
          this.#push(list);
          break;
        }
        case Op.APPEND: {
          const item = this.#pop();
          this.#extend(this.#top(), [item]);
          break;
        }
        case Op.APPENDS: {
          const items = this.#popMark();
          this.#extend(this.#top(), items);
          break;
        }
        case Op.EMPTY_DICT:
          this.#push(this.#newContainer(new PyDict(null, { keys: this.#keys })));
          break;
        case Op.DICT: {
          const items = this.#popMark();
          const dict = this.#newContainer(new PyDict(null, { keys: this.#keys }));
          this.#setItems(dict, items);
          this.#push(dict);
          break;
        }
        case Op.SETITEM: {
          const value = this.#pop();
          const key = this.#pop();
          this.#setItems(this.#top(), [key, value]);
          break;
        }
        case Op.SETITEMS: {
          const items = this.#popMark();
          this.#setItems(this.#top(), items);
          break;
        }
        case Op.EMPTY_SET:
          this.#push(this.#newContainer(new PySet(null, { keys: this.#keys })));
          break;
        case Op.ADDITEMS: {
          const items = this.#popMark();
          this.#addItems(this.#top(), items);
          break;
        }
        case Op.FROZENSET:
          this.#push(this.#frozenSet(this.#popMark()));
          break;

        // Stack and memo
        case Op.POP: {
          const m = this.#marks;
          if (m.length > 0 && m[m.length - 1] === this.#stack.length) m.pop();
          else this.#pop();
          break;
        }
        case Op.POP_MARK:
          this.#popMark();
          break;
        case Op.DUP:
          this.#pushAgain(this.#top());
          break;
        case Op.PUT:
          this.#memoPut(this.#memoKey());
          break;
        case Op.BINPUT: // Python 2: memo[repr(ord(byte))]
          this.#memoPut(String(this.#u8()));
          break;
        case Op.LONG_BINPUT: // Python 2: memo[repr(i32)], signed
          this.#memoPut(String(this.#i32()));
          break;
        case Op.MEMOIZE:
          this.#memoPut(String(this.#memo.size));
          break;
        case Op.GET:
          this.#memoGet(this.#memoKey());
          break;
        case Op.BINGET:
          this.#memoGet(String(this.#u8()));
          break;
        case Op.LONG_BINGET:
          this.#memoGet(String(this.#i32()));
          break;
        default:
          assert(false, `opcode ${info.name} has no handler`);
      }
    }
  }
}
