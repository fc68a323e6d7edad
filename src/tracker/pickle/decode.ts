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

import { assert } from "../../util/mod.ts";
import type { PickleError, PickleLimitName } from "./error.ts";
import { Op, opcodeInfo, type UnsafeOpName } from "./opcodes.ts";
import { Py2Str, PyByteArray, PyDict, PyFloat, PySet, PyTuple, type PyValue } from "./value.ts";
import {
  bytesEqual,
  escapeDecode,
  latin1Decode,
  latin1Encode,
  parseFloatLine,
  parsePy2Long,
  rawUnicodeEscapeDecode,
} from "./_text.ts";
import { Failure, PickleInput, type Resolved } from "./_input.ts";
import { CODECS_ENCODE, PickleStack } from "./_stack.ts";

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

const DEFAULT_OPTIONS: Readonly<Resolved> = Object.freeze({
  ...DEFAULT_DECODE_LIMITS,
  maxProtocol: 5,
  allowCodecsEncode: false,
});

/** Resolved options of frozen option objects given again (a tracker decodes every request). */
const RESOLVED = new WeakMap<DecodePickleOptions, Readonly<Resolved>>();

function resolveOptions(options: DecodePickleOptions): Readonly<Resolved> {
  const known = RESOLVED.get(options);
  if (known !== undefined) return known;
  const resolved = resolveNew(options);
  if (Object.isFrozen(options)) RESOLVED.set(options, resolved);
  return resolved;
}

function resolveNew(options: DecodePickleOptions): Readonly<Resolved> {
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

/**
 * The value of a line of 1 to 15 ASCII digits and nothing else (within `maxDigits`): what
 * `parsePy2Long` then `py2Long` give it, without building the digits' text. `undefined` for any
 * other line (signs, spaces, more digits...), which takes the general path.
 */
function plainDecimal(line: Uint8Array, maxDigits: number): number | undefined {
  const n = line.length;
  if (n === 0 || n > 15 || n > maxDigits) return undefined;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const d = line[i] - 0x30;
    if (d < 0 || d > 9) return undefined;
    value = value * 10 + d;
  }
  return value;
}

/** Python 2's `float()` strips C-locale whitespace on both sides. */
const PY2_SPACE_RUNS = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g;
const CODECS_MODULE = new TextEncoder().encode("_codecs");
const CODECS_NAME = new TextEncoder().encode("encode");

/** Runs the opcodes over the input and the machine state. */
class Decoder {
  readonly #in: PickleInput;
  readonly #st: PickleStack;
  #protocol = 0;

  constructor(bytes: Uint8Array, options: Readonly<Resolved>) {
    this.#in = new PickleInput(bytes, options);
    this.#st = new PickleStack(this.#in);
  }

  run(): DecodePickleResult {
    try {
      const value = this.#loop();
      return { ok: true, value, consumed: this.#in.pos, protocol: this.#protocol };
    } catch (e) {
      if (e instanceof Failure) return { ok: false, error: e.error };
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------
  // The §5.9 extension: _codecs.encode(text, "latin1")

  #unsafeOpcode(name: UnsafeOpName): void {
    const inp: PickleInput = this.#in, st: PickleStack = this.#st;
    if (!inp.o.allowCodecsEncode) inp.unsafe(name);
    const stack = st.stack, n = stack.length, fence = st.fence();
    switch (name) {
      case "GLOBAL": {
        const notCodecs = (): never => inp.unsafe(name, "imports something other than _codecs");
        const module = inp.line(CODECS_MODULE.length, notCodecs);
        const attr = inp.line(CODECS_NAME.length, notCodecs);
        if (!bytesEqual(module, CODECS_MODULE) || !bytesEqual(attr, CODECS_NAME)) {
          inp.unsafe(
            name,
            `imports ${JSON.stringify(`${latin1Decode(module)}.${latin1Decode(attr)}`)}`,
          );
        }
        st.markerMade = true;
        st.push(CODECS_ENCODE);
        return;
      }
      case "STACK_GLOBAL":
        if (n - fence < 2 || stack[n - 2] !== "_codecs" || stack[n - 1] !== "encode") {
          inp.unsafe(name, "imports something other than _codecs.encode");
        }
        st.popN(2);
        st.markerMade = true;
        st.push(CODECS_ENCODE);
        return;
      case "REDUCE": {
        if (n - fence < 2 || stack[n - 2] !== CODECS_ENCODE) {
          inp.unsafe(name, "calls something other than _codecs.encode");
        }
        const args = stack[n - 1];
        const ok = args instanceof PyTuple && args.length === 2 && args.items[1] === "latin1" &&
          typeof args.items[0] === "string";
        const bytes = ok ? latin1Encode(args.items[0] as string) : undefined;
        if (bytes === undefined) {
          inp.unsafe(
            name,
            "calls _codecs.encode with arguments other than (latin-1 text, 'latin1')",
          );
        }
        st.popN(2);
        st.push(bytes);
        return;
      }
      default:
        inp.unsafe(name);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The machine

  #loop(): PyValue {
    const inp: PickleInput = this.#in, st: PickleStack = this.#st;
    const o = inp.o;
    const stringTooLong = (): never => inp.limit("maxStringBytes");
    // Each round consumes at least one byte and pos never passes maxInputBytes: bounded.
    for (;;) {
      inp.op = inp.pos;
      inp.opName = undefined;
      const byte = inp.u8();
      const info = opcodeInfo(byte);
      if (info === undefined) inp.unknown(byte);
      inp.opName = info.name;
      if (!info.safe) {
        this.#unsafeOpcode(info.name as UnsafeOpName);
        continue;
      }
      if (info.since > o.maxProtocol) {
        inp.unknown(byte, `${info.name} needs protocol ${info.since}, above maxProtocol`);
      }
      if (info.since > this.#protocol) this.#protocol = info.since;
      switch (byte) {
        case Op.PROTO: {
          if (inp.op !== 0) inp.malformed("PROTO after the first opcode");
          const version = inp.u8();
          if (version > o.maxProtocol) inp.malformed(`unsupported protocol ${version}`);
          this.#protocol = Math.max(this.#protocol, version);
          break;
        }
        case Op.FRAME: {
          const len = inp.u64();
          if (inp.pos + len > inp.cap) inp.limit("maxInputBytes");
          if (inp.pos + len > inp.b.length) inp.truncated();
          break; // frames are checked, then ignored
        }
        case Op.STOP: {
          // Python 2's load_stop: `value = self.stack.pop()`, whatever lies below it.
          const m = st.marks, n = st.stack.length;
          if (m.length > 0 && m[m.length - 1] === n) inp.malformed("STOP on a MARK");
          if (n === 0) inp.malformed("STOP on an empty stack");
          const [value] = st.values([st.stack[n - 1]]);
          if (st.aliased) st.checkDepth(value); // otherwise the tracked heights are exact
          return value;
        }

        // Integers, floats, constants
        case Op.INT: {
          // load_int: '00\n' / '01\n' are False / True, else int(line), falling back to long(line)
          const line = inp.intLine();
          if (line.length === 2 && line[0] === 0x30 && (line[1] & 0xfe) === 0x30) {
            st.push(line[1] === 0x31);
          } else {
            const small = plainDecimal(line, inp.o.maxIntDigits); // the usual case, parsed at once
            st.push(small ?? inp.py2Long(parsePy2Long(line, false), "int()"));
          }
          break;
        }
        case Op.LONG: // load_long: long(line, 0)
          st.push(inp.py2Long(parsePy2Long(inp.intLine(), true), "long(line, 0)"));
          break;
        case Op.BININT:
          st.push(inp.i32());
          break;
        case Op.BININT1:
          st.push(inp.u8());
          break;
        case Op.BININT2:
          st.push(inp.u16());
          break;
        case Op.LONG1:
          st.push(inp.long(inp.u8()));
          break;
        case Op.LONG4:
          st.push(inp.long(inp.i32()));
          break;
        case Op.FLOAT: {
          // load_float: float(line), which strips surrounding whitespace
          const x = parseFloatLine(
            latin1Decode(inp.line(Infinity, stringTooLong)).replace(PY2_SPACE_RUNS, ""),
          );
          if (x === undefined) inp.malformed("not a float");
          st.push(new PyFloat(x));
          break;
        }
        case Op.BINFLOAT: {
          inp.need(8);
          const view = new DataView(inp.b.buffer, inp.b.byteOffset + inp.pos, 8);
          inp.pos += 8;
          st.push(new PyFloat(view.getFloat64(0, false)));
          break;
        }
        case Op.NONE:
          st.push(null);
          break;
        case Op.NEWTRUE:
          st.push(true);
          break;
        case Op.NEWFALSE:
          st.push(false);
          break;

        // Strings and bytes
        case Op.STRING: {
          const line = inp.line(o.maxStringBytes + 2, stringTooLong);
          const q = line[0];
          if (line.length < 2 || (q !== 0x27 && q !== 0x22) || line[line.length - 1] !== q) {
            inp.malformed("STRING argument not quoted");
          }
          const bytes = escapeDecode(line.subarray(1, -1));
          if (bytes === undefined) inp.malformed("invalid escape");
          st.push(new Py2Str(bytes));
          break;
        }
        case Op.BINSTRING: {
          const len = inp.i32();
          if (len < 0) inp.malformed("negative length");
          st.push(new Py2Str(inp.bytes(len)));
          break;
        }
        case Op.SHORT_BINSTRING:
          st.push(new Py2Str(inp.bytes(inp.u8())));
          break;
        case Op.UNICODE: {
          const text = rawUnicodeEscapeDecode(inp.line(o.maxStringBytes, stringTooLong));
          if (text === undefined) inp.malformed("invalid raw-unicode-escape text");
          st.push(text);
          break;
        }
        case Op.BINUNICODE:
          st.push(inp.text(inp.u32()));
          break;
        case Op.SHORT_BINUNICODE:
          st.push(inp.text(inp.u8()));
          break;
        case Op.BINUNICODE8:
          st.push(inp.text(inp.u64()));
          break;
        case Op.SHORT_BINBYTES:
          st.push(inp.bytes(inp.u8()));
          break;
        case Op.BINBYTES:
          st.push(inp.bytes(inp.u32()));
          break;
        case Op.BINBYTES8:
          st.push(inp.bytes(inp.u64()));
          break;
        case Op.BYTEARRAY8:
          st.push(new PyByteArray(inp.bytes(inp.u64())));
          break;

        // Containers
        case Op.MARK:
          if (st.marks.length >= o.maxDepth) inp.limit("maxDepth");
          st.marks.push(st.stack.length);
          break;
        case Op.EMPTY_TUPLE:
          st.push(st.tuple([]));
          break;
        case Op.TUPLE:
          st.push(st.tuple(st.popMark()));
          break;
        case Op.TUPLE1:
        case Op.TUPLE2:
        case Op.TUPLE3:
          st.push(st.tuple(st.popN(byte - Op.TUPLE1 + 1)));
          break;
        case Op.EMPTY_LIST:
          st.push(st.newContainer<PyValue[]>([]));
          break;
        case Op.LIST: {
          const items = st.popMark();
          const list = st.newContainer<PyValue[]>([]);
          st.extend(list, items);
          st.push(list);
          break;
        }
        case Op.APPEND: {
          const item = st.pop();
          st.extend(st.top(), [item]);
          break;
        }
        case Op.APPENDS: {
          const items = st.popMark();
          st.extend(st.top(), items);
          break;
        }
        case Op.EMPTY_DICT:
          st.push(st.newContainer(new PyDict(null, { keys: st.keys })));
          break;
        case Op.DICT: {
          const items = st.popMark();
          const dict = st.newContainer(new PyDict(null, { keys: st.keys }));
          st.setItems(dict, items);
          st.push(dict);
          break;
        }
        case Op.SETITEM: {
          const value = st.pop();
          const key = st.pop();
          st.setItems(st.top(), [key, value]);
          break;
        }
        case Op.SETITEMS: {
          const items = st.popMark();
          st.setItems(st.top(), items);
          break;
        }
        case Op.EMPTY_SET:
          st.push(st.newContainer(new PySet(null, { keys: st.keys })));
          break;
        case Op.ADDITEMS: {
          const items = st.popMark();
          st.addItems(st.top(), items);
          break;
        }
        case Op.FROZENSET:
          st.push(st.frozenSet(st.popMark()));
          break;

        // Stack and memo
        case Op.POP: {
          const m = st.marks;
          if (m.length > 0 && m[m.length - 1] === st.stack.length) m.pop();
          else st.pop();
          break;
        }
        case Op.POP_MARK:
          st.popMark();
          break;
        case Op.DUP:
          st.pushAgain(st.top());
          break;
        case Op.PUT:
          st.memoPut(inp.memoKey());
          break;
        case Op.BINPUT: // Python 2: memo[repr(ord(byte))]
          st.memoPut(String(inp.u8()));
          break;
        case Op.LONG_BINPUT: // Python 2: memo[repr(i32)], signed
          st.memoPut(String(inp.i32()));
          break;
        case Op.MEMOIZE:
          st.memoPut(String(st.memo.size));
          break;
        case Op.GET:
          st.memoGet(inp.memoKey());
          break;
        case Op.BINGET:
          st.memoGet(String(inp.u8()));
          break;
        case Op.LONG_BINGET:
          st.memoGet(String(inp.i32()));
          break;
        default:
          assert(false, `opcode ${info.name} has no handler`);
      }
    }
  }
}
