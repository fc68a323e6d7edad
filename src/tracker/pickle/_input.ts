/**
 * Package-private input side of the pickle decoder (`decode.ts`): the bytes and the resolved
 * options, the read position and the opcode being run, the typed failures (thrown as
 * {@linkcode Failure} and caught by the decoder's `run()`), and the readers of opcode arguments
 * (fixed-width integers, length-prefixed payloads, text lines). Every reader checks the input
 * limit and the input's end before it reads or allocates.
 *
 * @module
 */

import type { PickleError, PickleLimitName } from "./error.ts";
import type { OpName, UnsafeOpName } from "./opcodes.ts";
import { latin1Decode, type Py2IntLiteral } from "./_text.ts";

/** The decoder's options with every default filled in. */
export interface Resolved extends Record<PickleLimitName, number> {
  maxProtocol: number;
  allowCodecsEncode: boolean;
}

/** Thrown inside the decoder only, and always caught by `run()`. */
export class Failure {
  /** @param error The typed error the decode ends with. */
  constructor(readonly error: PickleError) {}
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function normalizeInt(value: bigint): number | bigint {
  return value >= -MAX_SAFE && value <= MAX_SAFE ? Number(value) : value;
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/**
 * The pickle being read: its bytes, the options, where reading is (`pos`) and which opcode is
 * being run (`op`, `opName`, named in every failure). Its methods read an argument and advance
 * `pos`, or throw a {@linkcode Failure}.
 *
 * @example Reading arguments, then running past the end
 * ```ts
 * import { Failure, PickleInput } from "./_input.ts";
 * import { DEFAULT_DECODE_LIMITS } from "./decode.ts";
 * import assert from "node:assert/strict";
 * const options = { ...DEFAULT_DECODE_LIMITS, maxProtocol: 5, allowCodecsEncode: false };
 * const input = new PickleInput(Uint8Array.of(0x2a, 0x01, 0x02, 0x61, 0x62, 0x0a), options);
 * assert.equal(input.u8(), 42);
 * assert.equal(input.u16(), 0x0201);
 * assert.deepEqual(input.line(10, () => input.limit("maxStringBytes")), Uint8Array.of(0x61, 0x62));
 * assert.throws(() => input.u8(), (e) => e instanceof Failure && e.error.kind === "truncated");
 * ```
 */
export class PickleInput {
  /** The input. */
  readonly b: Uint8Array;
  /** The resolved options. */
  readonly o: Readonly<Resolved>;
  /** `maxInputBytes`: no byte at or past it is read. */
  readonly cap: number;
  /** The next byte to read. */
  pos = 0;
  /** The offset of the opcode being run. */
  op = 0;
  /** The name of the opcode being run, once known. */
  opName: OpName | undefined;

  /**
   * Starts reading at offset 0.
   *
   * @param bytes The input.
   * @param options The resolved options.
   */
  constructor(bytes: Uint8Array, options: Readonly<Resolved>) {
    this.b = bytes;
    this.o = options;
    this.cap = options.maxInputBytes;
  }

  // -------------------------------------------------------------------------------------------
  // Failures

  where(): string {
    return this.opName === undefined
      ? `at offset ${this.op}`
      : `in ${this.opName} at offset ${this.op}`;
  }

  malformed(what: string): never {
    throw new Failure({
      kind: "malformed",
      offset: this.op,
      ...(this.opName === undefined ? {} : { opcode: this.opName }),
      message: `Cannot decode the pickle: ${what} ${this.where()}`,
    });
  }

  limit(limit: PickleLimitName): never {
    throw new Failure({
      kind: "limit",
      offset: this.op,
      limit,
      message: `Cannot decode the pickle: ${limit} (${this.o[limit]}) exceeded ${this.where()}`,
    });
  }

  truncated(): never {
    throw new Failure({
      kind: "truncated",
      offset: this.op,
      message: `Cannot decode the pickle: the input ends ${this.where()}`,
    });
  }

  unsafe(opcode: UnsafeOpName, detail = "imports or calls code"): never {
    throw new Failure({
      kind: "unsafe-opcode",
      offset: this.op,
      opcode,
      message: `Cannot decode the pickle: refused opcode ${opcode} (0x${
        hex2(this.b[this.op])
      }) at offset ${this.op}: ${detail}`,
    });
  }

  unknown(byte: number, detail = "no such opcode"): never {
    throw new Failure({
      kind: "unknown-opcode",
      offset: this.op,
      byte,
      message: `Cannot decode the pickle: unknown opcode 0x${
        hex2(byte)
      } at offset ${this.op}: ${detail}`,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Reading arguments

  /** Checks that `n` more bytes are readable: within the input limit, then within the input. */
  need(n: number): void {
    if (this.pos + n > this.cap) this.limit("maxInputBytes");
    if (this.pos + n > this.b.length) this.truncated();
  }

  u8(): number {
    this.need(1);
    return this.b[this.pos++];
  }

  u16(): number {
    this.need(2);
    const b = this.b, p = this.pos;
    this.pos += 2;
    return b[p] | (b[p + 1] << 8);
  }

  i32(): number {
    this.need(4);
    const b = this.b, p = this.pos;
    this.pos += 4;
    return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
  }

  u32(): number {
    return this.i32() >>> 0;
  }

  /** A u64 as a number; values beyond 2^53 lose precision but stay beyond every limit. */
  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    return hi * 4294967296 + lo;
  }

  /**
   * Skips a `len`-byte payload after checking it against `maxStringBytes` and the input, and
   * returns where it starts.
   */
  payload(len: number): number {
    if (len > this.o.maxStringBytes) this.limit("maxStringBytes");
    this.need(len);
    const start = this.pos;
    this.pos += len;
    return start;
  }

  /** Reads a payload as a copy. */
  bytes(len: number): Uint8Array {
    const start = this.payload(len);
    return this.b.slice(start, start + len);
  }

  /** Reads a payload as UTF-8 text. */
  text(len: number): string {
    const b = this.b, start = this.payload(len), end = start + len;
    if (len <= 64) { // short ASCII: skip the TextDecoder call
      let out = "";
      for (let i = start; i < end; i++) {
        if (b[i] > 0x7f) return this.utf8(start, end);
        out += String.fromCharCode(b[i]);
      }
      return out;
    }
    return this.utf8(start, end);
  }

  utf8(start: number, end: number): string {
    try {
      return UTF8.decode(this.b.subarray(start, end));
    } catch {
      return this.malformed("invalid UTF-8");
    }
  }

  /**
   * Finds the end of the line starting at the current position, moves past its `\n` and returns
   * the index of that `\n`. A line longer than `maxLen` calls `tooLong`; a missing newline is
   * `truncated` while the input limit allows more bytes, `limit` otherwise.
   */
  lineEnd(maxLen: number, tooLong: () => never): number {
    const b = this.b, start = this.pos;
    const avail = Math.min(b.length, this.cap);
    const end = Math.min(avail, start + maxLen + 1);
    for (let i = start; i < end; i++) {
      if (b[i] === 0x0a) {
        this.pos = i + 1;
        return i;
      }
    }
    if (start + maxLen + 1 <= avail) tooLong();
    if (b.length >= this.cap) this.limit("maxInputBytes");
    this.truncated();
  }

  /** Reads a line (without its `\n`), see {@linkcode PickleInput.lineEnd}. */
  line(maxLen: number, tooLong: () => never): Uint8Array {
    const start = this.pos;
    return this.b.subarray(start, this.lineEnd(maxLen, tooLong));
  }

  /**
   * Reads an INT or LONG line (without its `\n`). Bytes that can be digits, prefix or suffix
   * count toward `maxIntDigits` (plus 2 for `0x` and `L`) while the newline is sought, so an
   * endless number fails with `limit` before its end arrives.
   */
  intLine(): Uint8Array {
    const b = this.b, start = this.pos, max = this.o.maxIntDigits + 2;
    const avail = Math.min(b.length, this.cap);
    let alnum = 0;
    for (let i = start; i < avail; i++) {
      const c = b[i];
      if (c === 0x0a) {
        this.pos = i + 1;
        return b.subarray(start, i);
      }
      if ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)) {
        if (++alnum > max) this.limit("maxIntDigits");
      }
    }
    if (b.length >= this.cap) this.limit("maxInputBytes");
    this.truncated();
  }

  /** Converts a parsed INT/LONG literal (see `parsePy2Long` in `_text.ts`), or fails. */
  py2Long(literal: Py2IntLiteral | undefined, what: string): number | bigint {
    if (literal === undefined) this.malformed(`not an integer for Python 2's ${what}`);
    const { negative, base, digits } = literal;
    if (digits.length > this.o.maxIntDigits) this.limit("maxIntDigits");
    if (base === 10 && digits.length <= 15) {
      const value = Number(digits);
      return negative ? -value + 0 : value;
    }
    const prefix = base === 16 ? "0x" : base === 8 ? "0o" : base === 2 ? "0b" : "";
    const value = BigInt(prefix + digits);
    return normalizeInt(negative ? -value : value);
  }

  /** A PUT/GET line as Python 2's memo key: the line itself (Latin-1), whatever it holds. */
  memoKey(): string {
    return latin1Decode(this.line(Infinity, () => this.limit("maxInputBytes")));
  }

  long(n: number): number | bigint {
    if (n < 0) this.malformed("negative byte count");
    if (n > this.o.maxLongBytes) this.limit("maxLongBytes");
    this.need(n);
    if (n === 0) return 0;
    const b = this.b, start = this.pos;
    this.pos += n;
    let hex = "";
    for (let i = start + n - 1; i >= start; i--) hex += hex2(b[i]);
    let value = BigInt("0x" + hex);
    if (b[start + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return normalizeInt(value);
  }
}
