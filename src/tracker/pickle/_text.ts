/**
 * Package-private text helpers of the pickle codec: Latin-1, Python 2's `repr` of a byte string
 * and its inverse (`string-escape`), `raw-unicode-escape` both ways, and Python's `repr(float)`.
 *
 * @module
 */

const HEX = "0123456789abcdef";

/** Decodes bytes as Latin-1 (byte i becomes code point i); never fails. */
export function latin1Decode(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

/** Encodes text as Latin-1, or returns `undefined` when a code unit is above 0xFF. */
export function latin1Encode(text: string): Uint8Array | undefined {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) return undefined;
    out[i] = c;
  }
  return out;
}

/** True when every byte is below 0x80. */
export function isAsciiBytes(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) return false;
  return true;
}

/** True when both byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Python 2's `repr()` of a byte string, as the STRING opcode writes it (spec §5.4): quotes
 * included, pure ASCII.
 */
export function py2Repr(bytes: Uint8Array): string {
  const hasSingle = bytes.includes(0x27), hasDouble = bytes.includes(0x22);
  const quote = hasSingle && !hasDouble ? 0x22 : 0x27;
  let out = String.fromCharCode(quote);
  for (const b of bytes) {
    if (b === 0x5c) out += "\\\\";
    else if (b === quote) out += "\\" + String.fromCharCode(b);
    else if (b === 0x09) out += "\\t";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b < 0x20 || b > 0x7e) out += "\\x" + HEX[b >> 4] + HEX[b & 15];
    else out += String.fromCharCode(b);
  }
  return out + String.fromCharCode(quote);
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

const SIMPLE_ESCAPES: Readonly<Record<number, number>> = {
  0x5c: 0x5c, // \\
  0x27: 0x27, // \'
  0x22: 0x22, // \"
  0x61: 0x07, // \a
  0x62: 0x08, // \b
  0x66: 0x0c, // \f
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
  0x76: 0x0b, // \v
};

/**
 * Python's bytes escape decoding (`codecs.escape_decode`, Python 2's `string-escape`) of the text
 * between the quotes of a STRING line. Returns `undefined` for a bad `\x` escape or a trailing
 * backslash, like Python.
 */
export function escapeDecode(body: Uint8Array): Uint8Array | undefined {
  if (!body.includes(0x5c)) return body.slice(); // no escapes: a plain copy
  const out = new Uint8Array(body.length);
  let n = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== 0x5c) {
      out[n++] = c;
      continue;
    }
    if (++i >= body.length) return undefined; // trailing backslash
    const e = body[i];
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out[n++] = simple;
    } else if (e === 0x0a) {
      // backslash-newline: removed
    } else if (e >= 0x30 && e <= 0x37) {
      let value = e - 0x30;
      for (let k = 0; k < 2 && i + 1 < body.length; k++) {
        const d = body[i + 1];
        if (d < 0x30 || d > 0x37) break;
        value = value * 8 + (d - 0x30);
        i++;
      }
      out[n++] = value & 0xff;
    } else if (e === 0x78) {
      const hi = i + 1 < body.length ? hexValue(body[i + 1]) : -1;
      const lo = i + 2 < body.length ? hexValue(body[i + 2]) : -1;
      if (hi < 0 || lo < 0) return undefined;
      out[n++] = hi * 16 + lo;
      i += 2;
    } else {
      out[n++] = 0x5c;
      out[n++] = e;
    }
  }
  return out.subarray(0, n);
}

/**
 * Python's `raw-unicode-escape` decoding (the UNICODE line): bytes are Latin-1 code points except
 * `\uXXXX` and `\UXXXXXXXX`; a backslash followed by anything else stays, together with that
 * character. Returns `undefined` for a truncated escape, a non-hex digit, a code point beyond
 * U+10FFFF, or a result that is not well-formed UTF-16 (a lone surrogate).
 */
export function rawUnicodeEscapeDecode(line: Uint8Array): string | undefined {
  const units: number[] = [];
  let out = "";
  const flush = () => {
    out += String.fromCharCode(...units);
    units.length = 0;
  };
  for (let i = 0; i < line.length;) {
    if (units.length >= 4096) flush();
    const c = line[i++];
    if (c !== 0x5c || i >= line.length) {
      units.push(c);
      continue;
    }
    const e = line[i++];
    const count = e === 0x75 ? 4 : e === 0x55 ? 8 : 0;
    if (count === 0) {
      units.push(0x5c, e);
      continue;
    }
    if (i + count > line.length) return undefined;
    let cp = 0;
    for (let k = 0; k < count; k++) {
      const h = hexValue(line[i++]);
      if (h < 0) return undefined;
      cp = cp * 16 + h;
    }
    if (cp > 0x10ffff) return undefined;
    if (cp > 0xffff) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
  }
  flush();
  return out.isWellFormed() ? out : undefined;
}

/**
 * Python 2's `raw-unicode-escape` encoding as its protocol-0 pickler uses it (spec §5.7): `\` and
 * newline escaped as `\u005c` / `\u000a`, other code points below 0x100 as raw bytes, the rest as
 * `\uXXXX` / `\UXXXXXXXX` in lowercase hex. The text must be well-formed UTF-16.
 */
export function rawUnicodeEscapeEncode(text: string): Uint8Array {
  const out: number[] = [];
  const pushHex = (cp: number, digits: number) => {
    for (let shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
      out.push(HEX.charCodeAt((cp >> shift) & 15));
    }
  };
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x5c || cp === 0x0a) {
      out.push(0x5c, 0x75);
      pushHex(cp, 4);
    } else if (cp < 0x100) {
      out.push(cp);
    } else if (cp < 0x10000) {
      out.push(0x5c, 0x75);
      pushHex(cp, 4);
    } else {
      out.push(0x5c, 0x55);
      pushHex(cp, 8);
    }
  }
  return Uint8Array.from(out);
}

/**
 * Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the decimal
 * exponent is in -4..15 (with `.0` if there is no fraction), otherwise as `d.ddde±XX`; `inf`,
 * `-inf`, `nan`, `-0.0`.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mantissa, expText] = Math.abs(x).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const exp = Number(expText);
  const decpt = exp + 1; // the decimal point sits after `decpt` digits
  if (decpt <= -4 || decpt > 16) {
    const rest = digits.length > 1 ? "." + digits.slice(1) : "";
    const e = Math.abs(exp);
    return `${sign}${digits[0]}${rest}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" : ""}${e}`;
  }
  if (decpt <= 0) return `${sign}0.${"0".repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${"0".repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

const FLOAT_LINE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const FLOAT_SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;

/**
 * Parses a FLOAT line: a decimal literal (`3.25`, `-0.0`, `1e+100`, `.5`, `5.`) or `inf`,
 * `infinity`, `nan` in any letter case with an optional sign. Returns `undefined` otherwise.
 */
export function parseFloatLine(text: string): number | undefined {
  if (FLOAT_LINE.test(text)) return Number(text);
  const special = FLOAT_SPECIAL.exec(text);
  if (special === null) return undefined;
  if (special[2].toLowerCase() === "nan") return NaN;
  return special[1] === "-" ? -Infinity : Infinity;
}

/** Python 2's `isspace` in the C locale: space, `\t`, `\n`, `\v`, `\f`, `\r`. */
export function isPy2Space(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** `_PyLong_DigitValue`: 0–9, then letters of either case as 10–35; 37 for anything else. */
function digitValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x7a) return lower - 0x61 + 10;
  return 37;
}

/** An integer literal as Python 2's `long()` accepted it, not yet converted. */
export interface Py2IntLiteral {
  /** True for a leading `-`. */
  readonly negative: boolean;
  /** 2, 8, 10 or 16. */
  readonly base: number;
  /** The digits, in that base, without prefix or suffix (at least one). */
  readonly digits: string;
}

/**
 * Python 2's `long(text, base)` for base 10 or 0 (`PyLong_FromString` of CPython 2.7): optional
 * whitespace, an optional sign, optional whitespace again, then (base 0) a `0x`/`0o`/`0b` prefix
 * or an old-style octal leading `0`, at least one digit, an optional `L`/`l`, optional
 * whitespace, and nothing else (a NUL byte anywhere is an error, as `long()` checks). Returns
 * `undefined` where Python 2 raises ValueError.
 *
 * It is also Python 2's `int(text)` with its `long(text)` fallback, as the INT opcode uses them:
 * `int()` accepts the same text without the `L`, and gives the same value.
 */
export function parsePy2Long(text: Uint8Array, base0: boolean): Py2IntLiteral | undefined {
  const n = text.length;
  let i = 0;
  while (i < n && isPy2Space(text[i])) i++;
  const negative = text[i] === 0x2d;
  if (negative || text[i] === 0x2b) i++;
  while (i < n && isPy2Space(text[i])) i++;
  let base = 10;
  if (base0 && text[i] === 0x30) {
    const letter = i + 1 < n ? text[i + 1] | 0x20 : 0;
    base = letter === 0x78 ? 16 : letter === 0x62 ? 2 : 8; // 0x, 0b; 0o and a plain 0: octal
    if (letter === 0x78 || letter === 0x6f || letter === 0x62) i += 2;
  }
  const start = i;
  while (i < n && digitValue(text[i]) < base) i++;
  if (i === start) return undefined;
  const digits = latin1Decode(text.subarray(start, i));
  if (i < n && (text[i] | 0x20) === 0x6c) i++; // L or l
  while (i < n && isPy2Space(text[i])) i++;
  return i === n ? { negative, base, digits } : undefined;
}
