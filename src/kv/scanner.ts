/**
 * The completeness scanner of spec `kv.md` §6.7: tells, over raw bytes pushed in arbitrary chunks,
 * whether what was received so far holds one complete JSON value, so a TCP server can stop
 * reading (the original's clients never half-close). It tracks only the nesting of `{`/`[`, the
 * inside-string and escape state; multi-byte UTF-8 needs no care because no byte of a multi-byte
 * character is ASCII. Full validation is left to the decoder, which must also check that only
 * whitespace follows the value (`end`).
 *
 * @module
 */

/** What the bytes pushed so far hold. */
export type ScanState =
  | { readonly state: "incomplete" }
  /** One complete value; `end` is the offset just past its last byte (from the first pushed
   * byte), so `bytes.subarray(end)` are the trailing bytes. */
  | { readonly state: "complete"; readonly end: number }
  /** Cannot become a JSON value: a byte that cannot start one, a closing bracket that does not
   * match, or nesting deeper than the bound. `at` is the offending byte's offset. */
  | { readonly state: "invalid"; readonly at: number; readonly reason: string };

/** Default nesting bound of {@linkcode JsonValueScanner}. */
export const SCANNER_MAX_DEPTH = 512;

const INCOMPLETE: ScanState = { state: "incomplete" };

function isWs(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** Bytes that can continue a number: digits, `.`, `e`, `E`, `+`, `-`. */
function isNumberByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || b === 0x2e || b === 0x65 || b === 0x45 || b === 0x2b ||
    b === 0x2d;
}

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a);
}

const LITERALS: Record<number, string> = { 0x74: "true", 0x66: "false", 0x6e: "null" };

/**
 * Incremental completeness scanner (§6.7). A top-level object/array is complete at its matching
 * closing bracket, a top-level string at its closing quote, and a top-level number or literal at
 * the first byte that cannot continue it (whitespace or punctuation; a letter or digit there, or
 * a misspelt literal, is invalid) or at EOF ({@linkcode end}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonValueScanner } from "./scanner.ts";
 * const enc = new TextEncoder();
 * const s = new JsonValueScanner();
 * assert.deepEqual(s.push(enc.encode('{"Getvalue":{"key":"}')), { state: "incomplete" });
 * assert.deepEqual(s.push(enc.encode('a"}} ')), { state: "complete", end: 25 });
 * assert.equal(new JsonValueScanner().push(enc.encode("[1}")).state, "invalid");
 * const n = new JsonValueScanner();
 * assert.deepEqual(n.push(enc.encode("42")), { state: "incomplete" });
 * assert.deepEqual(n.end(), { state: "complete", end: 2 });
 * ```
 */
export class JsonValueScanner {
  #offset = 0;
  #mode: "start" | "container" | "string" | "scalar" = "start";
  #stack: number[] = [];
  #inString = false;
  #escape = false;
  /** The literal being read (`true`/`false`/`null`) and how much of it was seen; "" for a number. */
  #literal = "";
  #literalPos = 0;
  #state: ScanState = INCOMPLETE;
  readonly #maxDepth: number;

  /** @param maxDepth nesting bound (default {@linkcode SCANNER_MAX_DEPTH}). */
  constructor(maxDepth: number = SCANNER_MAX_DEPTH) {
    this.#maxDepth = maxDepth;
  }

  /** The state after the bytes pushed so far. */
  get state(): ScanState {
    return this.#state;
  }

  /** Feeds the next chunk; once complete or invalid, further bytes change nothing. */
  push(bytes: Uint8Array): ScanState {
    if (this.#state.state !== "incomplete") return this.#state;
    for (let i = 0; i < bytes.length; i++) {
      const at = this.#offset + i;
      const r = this.#byte(bytes[i], at);
      if (r !== null) {
        this.#state = r;
        break;
      }
    }
    this.#offset += bytes.length;
    return this.#state;
  }

  /** Signals EOF: completes a top-level number or literal; otherwise returns the state as is
   * (`incomplete` means the value was truncated or absent). */
  end(): ScanState {
    if (
      this.#state.state === "incomplete" && this.#mode === "scalar" &&
      this.#literalPos >= this.#literal.length
    ) {
      this.#state = { state: "complete", end: this.#offset };
    }
    return this.#state;
  }

  #byte(b: number, at: number): ScanState | null {
    switch (this.#mode) {
      case "start":
        if (isWs(b)) return null;
        if (b === 0x7b || b === 0x5b) {
          this.#mode = "container";
          return this.#open(b, at);
        }
        if (b === 0x22) {
          this.#mode = "string";
          this.#inString = true;
          return null;
        }
        if ((b >= 0x30 && b <= 0x39) || b === 0x2d || LITERALS[b] !== undefined) {
          this.#mode = "scalar";
          this.#literal = LITERALS[b] ?? "";
          this.#literalPos = 1;
          return null;
        }
        return { state: "invalid", at, reason: `byte 0x${b.toString(16)} cannot start a value` };
      case "scalar":
        if (this.#literal !== "" && this.#literalPos < this.#literal.length) {
          if (b === this.#literal.charCodeAt(this.#literalPos++)) return null;
          return { state: "invalid", at, reason: `not the literal ${this.#literal}` };
        }
        if (this.#literal === "" && isNumberByte(b)) return null;
        return isAlnum(b)
          ? { state: "invalid", at, reason: "a letter or digit cannot follow the value" }
          : { state: "complete", end: at };
      case "string":
      case "container":
        if (this.#inString) {
          if (this.#escape) this.#escape = false;
          else if (b === 0x5c) this.#escape = true;
          else if (b === 0x22) {
            this.#inString = false;
            if (this.#mode === "string") return { state: "complete", end: at + 1 };
          }
          return null;
        }
        if (b === 0x22) this.#inString = true;
        else if (b === 0x7b || b === 0x5b) return this.#open(b, at);
        else if (b === 0x7d || b === 0x5d) {
          if (this.#stack.pop() !== b) {
            return { state: "invalid", at, reason: "closing bracket does not match" };
          }
          if (this.#stack.length === 0) return { state: "complete", end: at + 1 };
        }
        return null;
    }
  }

  #open(b: number, at: number): ScanState | null {
    if (this.#stack.length >= this.#maxDepth) {
      return { state: "invalid", at, reason: `nesting deeper than ${this.#maxDepth}` };
    }
    this.#stack.push(b === 0x7b ? 0x7d : 0x5d);
    return null;
  }
}
