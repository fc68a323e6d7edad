/**
 * A small, total JSON parser over raw bytes for the key-value store's codec (spec `kv.md` §2.3).
 *
 * It never throws: every input yields a typed result. Grammar errors (RFC 8259: whitespace is only
 * space, tab, LF, CR; no leading zeros; no raw control characters in strings) are rejected. String
 * problems that serde_json only rejects where it actually reads a string (invalid UTF-8 bytes, an
 * unpaired surrogate escape) are, with `strictStrings: false`, reported per string in
 * {@linkcode JsonString.problem} instead, because serde_json's `from_slice` skips the strings of
 * ignored (unknown) fields without checking them. Duplicate object keys are kept in order (see
 * {@linkcode findDuplicateKey}). Numbers keep their source text, so 64-bit integers stay exact.
 *
 * @module
 */

/** A JSON string with its decoded value and what, if anything, makes it not well-formed. */
export interface JsonString {
  readonly kind: "string";
  /** The decoded text (invalid UTF-8 replaced by U+FFFD; lone surrogates kept as code units). */
  readonly value: string;
  /** `null` for a well-formed string; `"utf8"` for invalid UTF-8 bytes; `"surrogate"` for an
   * unpaired `\uD800`–`\uDFFF` escape. */
  readonly problem: null | "utf8" | "surrogate";
}

/** One `key: value` member of an object, in source order (duplicates kept). */
export interface JsonEntry {
  readonly key: JsonString;
  readonly value: JsonValue;
}

/** A parsed JSON value. */
export type JsonValue =
  | { readonly kind: "null" }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "number"; readonly text: string }
  | JsonString
  | { readonly kind: "array"; readonly items: readonly JsonValue[] }
  | { readonly kind: "object"; readonly entries: readonly JsonEntry[] };

/** Why parsing failed. */
export interface JsonParseError {
  /** `json`: grammar; `trailing`: non-whitespace after the value; `depth`: nesting over the bound;
   * `too-long`: input over `maxLength`; `utf8`/`surrogate`: a bad string with `strictStrings`. */
  readonly kind: "json" | "trailing" | "depth" | "too-long" | "utf8" | "surrogate";
  /** Byte offset where the problem was found. */
  readonly offset: number;
  readonly detail: string;
}

/** The result of {@linkcode parseJson}. */
export type JsonParseResult =
  | { readonly ok: true; readonly value: JsonValue }
  | { readonly ok: false; readonly error: JsonParseError };

/** Options of {@linkcode parseJson}. */
export interface JsonParseOptions {
  /** Maximum nesting of arrays/objects (default {@linkcode DEFAULT_MAX_DEPTH}). */
  readonly maxDepth?: number;
  /** Maximum input length in bytes (default {@linkcode DEFAULT_MAX_LENGTH}). */
  readonly maxLength?: number;
  /** Reject any string with invalid UTF-8 or an unpaired surrogate (default true). */
  readonly strictStrings?: boolean;
}

/**
 * Default nesting bound. serde_json has no bound inside ignored values; 512 is more than any
 * value that fits in the original's 1024-byte buffer can reach, so the two agree on such inputs.
 */
export const DEFAULT_MAX_DEPTH = 512;
/** Default input bound: 64 KiB, the largest TCP message of §6.7. */
export const DEFAULT_MAX_LENGTH = 65536;

class Fail {
  constructor(readonly error: JsonParseError) {}
}

const utf8Fatal = new TextDecoder("utf-8", { fatal: true });
const utf8Lossy = new TextDecoder("utf-8");

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function hexVal(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

class Parser {
  pos = 0;
  constructor(
    readonly b: Uint8Array,
    readonly maxDepth: number,
    readonly strict: boolean,
  ) {}

  fail(kind: JsonParseError["kind"], detail: string, offset = this.pos): never {
    throw new Fail({ kind, offset, detail });
  }

  ws(): void {
    while (this.pos < this.b.length && isWs(this.b[this.pos])) this.pos++;
  }

  value(depth: number): JsonValue {
    this.ws();
    if (this.pos >= this.b.length) this.fail("json", "unexpected end of input, expected a value");
    const c = this.b[this.pos];
    if (c === 0x7b || c === 0x5b) {
      if (depth >= this.maxDepth) this.fail("depth", `nesting deeper than ${this.maxDepth}`);
      return c === 0x7b ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (this.word("true")) return { kind: "bool", value: true };
    if (this.word("false")) return { kind: "bool", value: false };
    if (this.word("null")) return { kind: "null" };
    return this.fail("json", `unexpected byte 0x${c.toString(16)}, expected a value`);
  }

  word(w: string): boolean {
    for (let i = 0; i < w.length; i++) {
      if (this.b[this.pos + i] !== w.charCodeAt(i)) return false;
    }
    this.pos += w.length;
    return true;
  }

  object(depth: number): JsonValue {
    this.pos++; // {
    const entries: JsonEntry[] = [];
    this.ws();
    if (this.b[this.pos] === 0x7d) {
      this.pos++;
      return { kind: "object", entries };
    }
    for (;;) {
      this.ws();
      if (this.b[this.pos] !== 0x22) this.fail("json", "expected a string key");
      const key = this.string();
      this.ws();
      if (this.b[this.pos] !== 0x3a) this.fail("json", "expected ':'");
      this.pos++;
      entries.push({ key, value: this.value(depth) });
      this.ws();
      const c = this.b[this.pos];
      this.pos++;
      if (c === 0x7d) return { kind: "object", entries };
      if (c !== 0x2c) this.fail("json", "expected ',' or '}'", this.pos - 1);
    }
  }

  array(depth: number): JsonValue {
    this.pos++; // [
    const items: JsonValue[] = [];
    this.ws();
    if (this.b[this.pos] === 0x5d) {
      this.pos++;
      return { kind: "array", items };
    }
    for (;;) {
      items.push(this.value(depth));
      this.ws();
      const c = this.b[this.pos];
      this.pos++;
      if (c === 0x5d) return { kind: "array", items };
      if (c !== 0x2c) this.fail("json", "expected ',' or ']'", this.pos - 1);
    }
  }

  number(): JsonValue {
    const start = this.pos;
    const b = this.b;
    const digit = (i: number) => b[i] >= 0x30 && b[i] <= 0x39;
    if (b[this.pos] === 0x2d) this.pos++;
    if (b[this.pos] === 0x30) {
      this.pos++;
      if (digit(this.pos)) this.fail("json", "leading zero in a number");
    } else if (digit(this.pos)) {
      while (digit(this.pos)) this.pos++;
    } else this.fail("json", "invalid number");
    if (b[this.pos] === 0x2e) {
      this.pos++;
      if (!digit(this.pos)) this.fail("json", "expected a digit after '.'");
      while (digit(this.pos)) this.pos++;
    }
    if (b[this.pos] === 0x65 || b[this.pos] === 0x45) {
      this.pos++;
      if (b[this.pos] === 0x2b || b[this.pos] === 0x2d) this.pos++;
      if (!digit(this.pos)) this.fail("json", "expected a digit in the exponent");
      while (digit(this.pos)) this.pos++;
    }
    let text = "";
    for (let i = start; i < this.pos; i++) text += String.fromCharCode(b[i]);
    return { kind: "number", text };
  }

  string(): JsonString {
    const start = this.pos;
    this.pos++; // "
    let out = "";
    let problem = null as JsonString["problem"];
    let runStart = this.pos;
    const flush = (end: number) => {
      if (end === runStart) return;
      const run = this.b.subarray(runStart, end);
      try {
        out += utf8Fatal.decode(run);
      } catch {
        problem ??= "utf8";
        out += utf8Lossy.decode(run);
      }
    };
    for (;;) {
      if (this.pos >= this.b.length) this.fail("json", "unterminated string", start);
      const c = this.b[this.pos];
      if (c === 0x22) {
        flush(this.pos);
        this.pos++;
        break;
      }
      if (c < 0x20) this.fail("json", "control character in a string");
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      flush(this.pos);
      this.pos++;
      const e = this.b[this.pos];
      this.pos++;
      const simple = ESCAPES[e];
      if (simple !== undefined) out += simple;
      else if (e === 0x75) {
        const u = this.hex4();
        if (
          u >= 0xd800 && u <= 0xdbff && this.b[this.pos] === 0x5c && this.b[this.pos + 1] === 0x75
        ) {
          const save = this.pos;
          this.pos += 2;
          const lo = this.hex4();
          if (lo >= 0xdc00 && lo <= 0xdfff) out += String.fromCharCode(u, lo);
          else {
            this.pos = save; // the second escape is decoded on its own
            out += String.fromCharCode(u);
            problem ??= "surrogate";
          }
        } else {
          if (u >= 0xd800 && u <= 0xdfff) problem ??= "surrogate";
          out += String.fromCharCode(u);
        }
      } else this.fail("json", "invalid escape", this.pos - 1);
      runStart = this.pos;
    }
    if (problem !== null && this.strict) {
      this.fail(
        problem,
        problem === "utf8" ? "invalid UTF-8 in a string" : "unpaired surrogate",
        start,
      );
    }
    return { kind: "string", value: out, problem };
  }

  hex4(): number {
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const h = hexVal(this.b[this.pos]);
      if (h < 0) this.fail("json", "invalid \\u escape");
      n = n * 16 + h;
      this.pos++;
    }
    return n;
  }
}

const ESCAPES: Record<number, string> = {
  0x22: '"',
  0x5c: "\\",
  0x2f: "/",
  0x62: "\b",
  0x66: "\f",
  0x6e: "\n",
  0x72: "\r",
  0x74: "\t",
};

/**
 * Parses exactly one JSON value, optionally surrounded by whitespace. Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseJson } from "./json_strict.ts";
 * const enc = new TextEncoder();
 * const r = parseJson(enc.encode(' {"a": [1, 18446744073709551615]} '));
 * assert.ok(r.ok && r.value.kind === "object");
 * assert.deepEqual(parseJson(enc.encode("[1] x")).ok, false);
 * const lone = parseJson(enc.encode('"\\ud800"'));
 * assert.ok(!lone.ok && lone.error.kind === "surrogate");
 * ```
 */
export function parseJson(bytes: Uint8Array, options: JsonParseOptions = {}): JsonParseResult {
  const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  if (bytes.length > maxLength) {
    return {
      ok: false,
      error: { kind: "too-long", offset: maxLength, detail: `longer than ${maxLength} bytes` },
    };
  }
  const p = new Parser(bytes, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.strictStrings ?? true);
  try {
    const value = p.value(0);
    p.ws();
    if (p.pos < bytes.length) p.fail("trailing", "trailing characters after the value");
    return { ok: true, value };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, error: e.error };
    // Only a bug (or a stack overflow from a huge maxDepth) lands here; stay total.
    return { ok: false, error: { kind: "json", offset: p.pos, detail: String(e) } };
  }
}

/**
 * The first key among `names` (or among all keys when `names` is omitted) that occurs twice in
 * `entries`, or `null`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findDuplicateKey, parseJson } from "./json_strict.ts";
 * const r = parseJson(new TextEncoder().encode('{"a":1,"b":2,"a":3,"x":0,"x":1}'));
 * assert.ok(r.ok && r.value.kind === "object");
 * assert.equal(findDuplicateKey(r.value.entries, ["a", "b"]), "a");
 * assert.equal(findDuplicateKey(r.value.entries, ["b"]), null);
 * ```
 */
export function findDuplicateKey(
  entries: readonly JsonEntry[],
  names?: readonly string[],
): string | null {
  const seen = new Set<string>();
  for (const { key } of entries) {
    if (names !== undefined && !names.includes(key.value)) continue;
    if (seen.has(key.value)) return key.value;
    seen.add(key.value);
  }
  return null;
}

/**
 * The value of a JSON number if its text is a plain non-negative integer (`0` or `[1-9][0-9]*`,
 * no sign, fraction or exponent) within `min`…`max` (at most 2^53−1), else `null`. Exact for
 * any length of text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonUint } from "./json_strict.ts";
 * assert.equal(jsonUint({ kind: "number", text: "42" }, 1), 42);
 * assert.equal(jsonUint({ kind: "number", text: "9007199254740992" }, 1), null);
 * assert.equal(jsonUint({ kind: "number", text: "4.2e1" }, 1), null);
 * assert.equal(jsonUint({ kind: "string", value: "4", problem: null }, 1), null);
 * ```
 */
export function jsonUint(
  value: JsonValue,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number | null {
  if (value.kind !== "number" || !/^(0|[1-9][0-9]*)$/.test(value.text)) return null;
  if (value.text.length > 16) return null; // > 2^53−1 for sure
  const n = Number(value.text);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
}
