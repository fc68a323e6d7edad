/**
 * The pickle encoder (spec §5.7): protocol 0, byte for byte what Python 2's `pickle.dumps(value)`
 * writes (what the original tracker and peer send), and protocol 2 as spec §5.7 gives it (what
 * Python's C pickler writes), both loadable by Python 2 and Python 3.
 *
 * It follows Python's pickler exactly, memo included: every py2 str, text, non-empty tuple, list
 * and dict gets the next memo index (`p<n>\n` / BINPUT) in the order Python's pickler would give
 * it, and an object that appears again (the same {@linkcode PyTuple}, array, {@linkcode PyDict} or
 * {@linkcode Py2Str} object, by identity) is written as a memo GET, so shared and cyclic lists and
 * dicts survive the round trip. A `string` is a primitive without identity and is written again
 * each time. Two documented departures from Python 2: ints are written as INT only within
 * −2^31..2^31−1 (LONG beyond, spec §5.7), and dicts are written in insertion order (Python 2
 * uses hash order).
 *
 * Not encodable at protocols 0 and 2 without a call, hence refused with a `TypeError`: bytes
 * (`Uint8Array`; send a {@linkcode Py2Str}), bytearray, set and frozenset.
 *
 * @module
 */

import { Op } from "./opcodes.ts";
import { Py2Str, PyDict, PyFloat, PyTuple, pyTypeOf, type PyValue } from "./value.ts";
import { py2Repr, pyFloatRepr, rawUnicodeEscapeEncode } from "./_text.ts";

/**
 * Options of {@linkcode encodePickle}.
 */
export interface EncodePickleOptions {
  /**
   * The protocol: 0 (Python 2's default, what the originals send) or 2.
   *
   * @default 0
   */
  protocol?: 0 | 2;
  /**
   * Deepest container nesting accepted (at most 2000).
   *
   * @default 1000
   */
  maxDepth?: number;
}

/**
 * Encodes a value as a pickle.
 *
 * @param value The value; see the module documentation of `value.ts` for the model.
 * @param options The protocol and a depth bound.
 * @returns The pickle, ending with STOP.
 * @throws {TypeError} For a value outside the model or not encodable at protocols 0/2 (bytes,
 * bytearray, set, frozenset, a fraction as a plain `number`, text with a lone surrogate).
 * @throws {RangeError} For a bad option, or nesting deeper than `maxDepth`.
 *
 * @example The REG_INIT reply of the Part 2 tracker, byte for byte
 * ```ts
 * import { encodePickle, Py2Str, PyTuple } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const s = Py2Str.fromText;
 * const reply = PyTuple.of(s("REG_INIT"), "alice", s("127.0.0.1"), 9101, 5, PyTuple.of(2, s("and")));
 * const text = new TextDecoder().decode(encodePickle(reply));
 * assert.equal(text, "(S'REG_INIT'\np0\nValice\np1\nS'127.0.0.1'\np2\nI9101\nI5\n(I2\nS'and'\np3\ntp4\ntp5\n.");
 * ```
 *
 * @example Protocol 2
 * ```ts
 * import { encodePickle, PyTuple } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodePickle(PyTuple.of("QUERY", 1), { protocol: 2 });
 * assert.equal(bytes[0], 0x80);
 * assert.equal(bytes[1], 2);
 * assert.equal(bytes.at(-1), 0x2e);
 * ```
 */
export function encodePickle(value: PyValue, options: EncodePickleOptions = {}): Uint8Array {
  const { protocol = 0, maxDepth = 1000 } = options;
  if (protocol !== 0 && protocol !== 2) {
    throw new RangeError(`Cannot encode a pickle: protocol must be 0 or 2, got ${protocol}`);
  }
  if (!Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > 2000) {
    throw new RangeError(`Cannot encode a pickle: maxDepth must be 0..2000, got ${maxDepth}`);
  }
  const encoder = new Encoder(protocol, maxDepth);
  if (protocol === 2) encoder.w.byte(Op.PROTO).byte(2);
  encoder.save(value, 0);
  return encoder.w.byte(Op.STOP).finish();
}

/** A growable byte buffer. */
class Writer {
  #buf = new Uint8Array(64);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  byte(b: number): this {
    this.#room(1);
    this.#buf[this.#len++] = b;
    return this;
  }

  bytes(bytes: Uint8Array): this {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return this;
  }

  /** Writes text whose code units are all below 0x100 (ASCII in practice). */
  ascii(text: string): this {
    this.#room(text.length);
    for (let i = 0; i < text.length; i++) this.#buf[this.#len++] = text.charCodeAt(i);
    return this;
  }

  /** Writes a double, big-endian. */
  float64(x: number): this {
    this.#room(8);
    new DataView(this.#buf.buffer, this.#len, 8).setFloat64(0, x, false);
    this.#len += 8;
    return this;
  }

  /** Writes text as UTF-8 with a u32 length prefix (BINUNICODE's argument). */
  utf8WithLength(text: string): this {
    let ascii = true;
    for (let i = 0; i < text.length && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
    if (!ascii) {
      const bytes = UTF8.encode(text);
      return this.u32(bytes.length).bytes(bytes);
    }
    return this.u32(text.length).ascii(text);
  }

  u32(x: number): this {
    this.#room(4);
    for (let i = 0; i < 4; i++) this.#buf[this.#len++] = (x >>> (8 * i)) & 0xff;
    return this;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

const UTF8 = new TextEncoder();
const BATCH = 1000;
const INT32_MIN = -2147483648;
const INT32_END = 2147483648;

/** Minimal little-endian two's complement bytes of a non-zero integer, like Python's encode_long. */
function encodeLong(x: bigint): Uint8Array {
  const magnitude = x < 0n ? -x - 1n : x;
  const n = (magnitude === 0n ? 0 : magnitude.toString(2).length) + 8 >> 3;
  let u = BigInt.asUintN(8 * n, x);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++, u >>= 8n) out[i] = Number(u & 0xffn);
  return out;
}

class Encoder {
  readonly w = new Writer();
  readonly #proto: 0 | 2;
  readonly #maxDepth: number;
  #memo = new Map<object, number>();
  #next = 0;

  constructor(proto: 0 | 2, maxDepth: number) {
    this.#proto = proto;
    this.#maxDepth = maxDepth;
  }

  /** Takes the next memo index (remembering `obj` for GETs) and writes the PUT. */
  #put(obj?: object): void {
    const index = this.#next++;
    if (obj !== undefined) this.#memo.set(obj, index);
    if (this.#proto === 0) this.w.byte(Op.PUT).ascii(`${index}\n`);
    else if (index < 256) this.w.byte(Op.BINPUT).byte(index);
    else this.w.byte(Op.LONG_BINPUT).u32(index);
  }

  #get(index: number): void {
    if (this.#proto === 0) this.w.byte(Op.GET).ascii(`${index}\n`);
    else if (index < 256) this.w.byte(Op.BINGET).byte(index);
    else this.w.byte(Op.LONG_BINGET).u32(index);
  }

  save(value: PyValue, depth: number): void {
    if (typeof value === "object" && value !== null) {
      const index = this.#memo.get(value);
      if (index !== undefined) return this.#get(index);
    }
    const w = this.w, p0 = this.#proto === 0;
    switch (typeof value) {
      case "boolean":
        if (p0) w.ascii(value ? "I01\n" : "I00\n");
        else w.byte(value ? Op.NEWTRUE : Op.NEWFALSE);
        return;
      case "number":
        if (!Number.isSafeInteger(value)) {
          throw new TypeError(
            `Cannot encode the number ${value}: ints must be safe integers (or bigint), floats PyFloat`,
          );
        }
        return this.#int(value);
      case "bigint":
        return this.#int(value);
      case "string":
        if (!value.isWellFormed()) throw new TypeError("Cannot encode text with a lone surrogate");
        if (p0) w.byte(Op.UNICODE).bytes(rawUnicodeEscapeEncode(value)).byte(0x0a);
        else w.byte(Op.BINUNICODE).utf8WithLength(value);
        return this.#put();
    }
    if (value === null) {
      w.byte(Op.NONE);
    } else if (value instanceof Py2Str) {
      const bytes = value.bytes;
      if (p0) w.byte(Op.STRING).ascii(py2Repr(bytes)).byte(0x0a);
      else if (bytes.length < 256) w.byte(Op.SHORT_BINSTRING).byte(bytes.length).bytes(bytes);
      else w.byte(Op.BINSTRING).u32(bytes.length).bytes(bytes);
      this.#put(value);
    } else if (value instanceof PyFloat) {
      if (p0) w.byte(Op.FLOAT).ascii(pyFloatRepr(value.value)).byte(0x0a);
      else w.byte(Op.BINFLOAT).float64(value.value);
    } else if (value instanceof PyTuple) {
      this.#enter(depth);
      this.#tuple(value, depth);
    } else if (Array.isArray(value)) {
      this.#enter(depth);
      if (p0) w.byte(Op.MARK).byte(Op.LIST);
      else w.byte(Op.EMPTY_LIST);
      this.#put(value);
      this.#batches(value, 1, depth, Op.APPEND, Op.APPENDS);
    } else if (value instanceof PyDict) {
      this.#enter(depth);
      if (p0) w.byte(Op.MARK).byte(Op.DICT);
      else w.byte(Op.EMPTY_DICT);
      this.#put(value);
      const flat: PyValue[] = [];
      for (const [k, v] of value) flat.push(k, v);
      this.#batches(flat, 2, depth, Op.SETITEM, Op.SETITEMS);
    } else {
      const type = pyTypeOf(value); // throws TypeError outside the model
      throw new TypeError(`Cannot encode a ${type} at protocol ${this.#proto}: it needs a call`);
    }
  }

  /** A container at `depth` (0 for the outermost) nests `depth + 1` deep. */
  #enter(depth: number): void {
    if (depth >= this.#maxDepth) {
      throw new RangeError(`Cannot encode a pickle: nested deeper than ${this.#maxDepth}`);
    }
  }

  #int(value: number | bigint): void {
    const w = this.w;
    if (this.#proto === 0) {
      if (value >= INT32_MIN && value < INT32_END) w.byte(Op.INT).ascii(`${value}\n`);
      else w.byte(Op.LONG).ascii(`${value}L\n`);
    } else if (value >= 0 && value <= 0xff) {
      w.byte(Op.BININT1).byte(Number(value));
    } else if (value >= 0 && value <= 0xffff) {
      const x = Number(value);
      w.byte(Op.BININT2).byte(x & 0xff).byte(x >> 8);
    } else if (value >= INT32_MIN && value < INT32_END) {
      w.byte(Op.BININT).u32(Number(value) >>> 0);
    } else {
      const bytes = encodeLong(BigInt(value));
      if (bytes.length < 256) w.byte(Op.LONG1).byte(bytes.length).bytes(bytes);
      else w.byte(Op.LONG4).u32(bytes.length).bytes(bytes);
    }
  }

  /** Python's save_tuple, including its handling of a tuple reached again through its items. */
  #tuple(tuple: PyTuple, depth: number): void {
    const w = this.w, n = tuple.length;
    if (n === 0) {
      if (this.#proto === 0) w.byte(Op.MARK).byte(Op.TUPLE);
      else w.byte(Op.EMPTY_TUPLE);
      return;
    }
    const short = n <= 3 && this.#proto === 2;
    if (!short) w.byte(Op.MARK);
    for (const item of tuple.items) this.save(item, depth + 1);
    const again = this.#memo.get(tuple);
    if (again !== undefined) {
      // The tuple was pickled while pickling its items (a cycle through a list or dict): drop
      // the items just written and fetch the memoized tuple instead.
      if (this.#proto === 2 && !short) w.byte(Op.POP_MARK);
      else for (let i = 0; i < (short ? n : n + 1); i++) w.byte(Op.POP);
      return this.#get(again);
    }
    w.byte(short ? Op.TUPLE1 + n - 1 : Op.TUPLE);
    this.#put(tuple);
  }

  /**
   * Items of a list (`width` 1) or key/value pairs of a dict (`width` 2). Protocol 2 batches them
   * like Python's C pickler (spec §5.7): a single item with APPEND/SETITEM, otherwise batches of
   * up to 1000 between MARK and APPENDS/SETITEMS (Python 2's pure-Python pickler writes a final
   * one-item batch with APPEND instead; both load the same).
   */
  #batches(items: readonly PyValue[], width: 1 | 2, depth: number, one: number, many: number) {
    const w = this.w;
    if (this.#proto === 0) {
      for (let i = 0; i < items.length; i += width) {
        for (let k = 0; k < width; k++) this.save(items[i + k], depth + 1);
        w.byte(one);
      }
      return;
    }
    if (items.length === width) {
      for (const item of items) this.save(item, depth + 1);
      w.byte(one);
      return;
    }
    for (let start = 0; start < items.length; start += BATCH * width) {
      const end = Math.min(items.length, start + BATCH * width);
      w.byte(Op.MARK);
      for (let i = start; i < end; i++) this.save(items[i], depth + 1);
      w.byte(many);
    }
  }
}
