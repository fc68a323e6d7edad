/**
 * Line framing for BitClone (spec §A.2): bytes in, complete lines out, h11 style. The terminator
 * is LF; one CR right before it is removed (so CR LF and bare LF both work); empty lines are
 * skipped; an unterminated tail is discarded at end of stream. Any chunking works: several lines
 * in one chunk, one line over many chunks, a CR LF split between chunks.
 *
 * Memory is bounded: a line (terminator excluded) longer than `maxLineBytes`, or an unterminated
 * remainder that can no longer become a line within the limit, makes the framer fail at once with
 * `tooLong` — it does not keep buffering while waiting for a terminator. Bytes are scanned once
 * (no rescanning of a growing buffer).
 *
 * @module
 */

/** `MAX_LINE` of spec §0.3: the longest line, terminator excluded (1 MiB). */
export const MAX_LINE_BYTES = 1_048_576;

/**
 * What {@linkcode LineFramer.nextLine} returns:
 * - `line`: one complete, non-empty line without its terminator;
 * - `needData`: no complete line is buffered; feed more bytes;
 * - `eof`: the stream ended and every line was taken; `discardedBytes` is the unterminated tail
 *   that was dropped (returned again on every later call);
 * - `tooLong`: a line passed the limit; the framer is failed and returns this forever. `bytes`
 *   is how much of the offending line had been seen (terminator and CR excluded).
 */
export type LineResult =
  | { readonly type: "line"; readonly line: Uint8Array }
  | { readonly type: "needData" }
  | { readonly type: "eof"; readonly discardedBytes: number }
  | { readonly type: "tooLong"; readonly bytes: number };

/**
 * Options for {@linkcode LineFramer}.
 *
 * @example A small limit for a test
 * ```ts
 * import { LineFramer } from "./framing.ts";
 * import assert from "node:assert/strict";
 * const f = new LineFramer({ maxLineBytes: 4 });
 * f.receiveData(new TextEncoder().encode("ping\nverack\n"));
 * assert.equal(f.nextLine().type, "line");
 * assert.equal(f.nextLine().type, "tooLong");
 * assert.equal(f.nextLine().type, "tooLong"); // failed for good
 * ```
 */
export interface LineFramerOptions {
  /**
   * The longest accepted line in bytes, terminator (LF and one CR before it) excluded.
   *
   * @default {1_048_576}
   */
  maxLineBytes?: number;
  /**
   * The most unscanned bytes `receiveData()` may hold before the caller must drain
   * `nextLine()`. Feeding more throws `RangeError` (local misuse: drain after every chunk).
   *
   * @default {16_777_216}
   */
  maxBufferedBytes?: number;
}

const NEED_DATA: LineResult = Object.freeze({ type: "needData" });
const LF = 0x0a;
const CR = 0x0d;

/**
 * A bounded line splitter for one TCP connection. `receiveData()` only buffers (one copy of the
 * chunk); `nextLine()` scans and returns at most one line. Lines that lie inside one chunk are
 * returned as views of that copy; lines spanning chunks are assembled in a tail buffer that never
 * grows past the limit.
 *
 * @example Any chunking gives the same lines
 * ```ts
 * import { LineFramer } from "./framing.ts";
 * import assert from "node:assert/strict";
 * const framer = new LineFramer();
 * const te = new TextEncoder(), td = new TextDecoder();
 * framer.receiveData(te.encode("ping|1\r\nget"));
 * framer.receiveData(te.encode("addr\n\r\nver"));
 * framer.receiveEof();
 * const out: string[] = [];
 * for (let r = framer.nextLine(); r.type === "line"; r = framer.nextLine()) {
 *   out.push(td.decode(r.line));
 * }
 * assert.equal(out.join(","), "ping|1,getaddr");
 * assert.equal(framer.nextLine().type, "eof");
 * ```
 */
export class LineFramer {
  /** The longest accepted line (terminator excluded). */
  readonly maxLineBytes: number;
  readonly #maxBuffered: number;
  /** Unscanned chunks (private copies); `#pos` is the scan position in the first one. */
  #chunks: Uint8Array[] = [];
  #chunkHead = 0;
  #pos = 0;
  #unscanned = 0;
  /** The start of a line that spans chunks. */
  #tail = new Uint8Array(0);
  #tailLen = 0;
  #eof = false;
  #failed: LineResult | undefined;

  /**
   * Makes an empty framer.
   *
   * @throws {RangeError} When a limit is not a positive integer.
   * @example Default and invalid limits
   * ```ts
   * import { LineFramer, MAX_LINE_BYTES } from "./framing.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new LineFramer().maxLineBytes, MAX_LINE_BYTES);
   * assert.throws(() => new LineFramer({ maxLineBytes: 0 }), RangeError);
   * ```
   */
  constructor(options: LineFramerOptions = {}) {
    const { maxLineBytes = MAX_LINE_BYTES, maxBufferedBytes = 16_777_216 } = options;
    for (
      const [name, v] of [["maxLineBytes", maxLineBytes], [
        "maxBufferedBytes",
        maxBufferedBytes,
      ]] as const
    ) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new RangeError(`Cannot create the framer: ${name} ${v} is not a positive integer`);
      }
    }
    this.maxLineBytes = maxLineBytes;
    this.#maxBuffered = maxBufferedBytes;
  }

  /**
   * How many bytes the framer holds: unscanned data plus the partial line (the memory bound
   * tests check).
   *
   * @example After a partial line
   * ```ts
   * import { LineFramer } from "./framing.ts";
   * import assert from "node:assert/strict";
   * const f = new LineFramer();
   * f.receiveData(new Uint8Array([0x61, 0x62]));
   * assert.equal(f.nextLine().type, "needData");
   * assert.equal(f.bufferedBytes, 2);
   * ```
   */
  get bufferedBytes(): number {
    return this.#unscanned + this.#tailLen;
  }

  /**
   * Whether the framer failed with `tooLong`.
   *
   * @example A line over the limit
   * ```ts
   * import { LineFramer } from "./framing.ts";
   * import assert from "node:assert/strict";
   * const f = new LineFramer({ maxLineBytes: 2 });
   * assert.equal(f.failed, false);
   * f.receiveData(new TextEncoder().encode("abc\n"));
   * assert.equal(f.nextLine().type, "tooLong");
   * assert.equal(f.failed, true);
   * ```
   */
  get failed(): boolean {
    return this.#failed !== undefined;
  }

  /**
   * Buffers received bytes (copied; the caller may reuse `bytes`). Once the framer has failed the
   * bytes are dropped.
   *
   * @throws {TypeError} When `bytes` is not a Uint8Array, or after `receiveEof()`.
   * @throws {RangeError} When more than `maxBufferedBytes` would wait unscanned.
   * @example Two lines in one chunk
   * ```ts
   * import { LineFramer } from "./framing.ts";
   * import assert from "node:assert/strict";
   * const f = new LineFramer();
   * f.receiveData(new TextEncoder().encode("a\nb\n"));
   * assert.equal(f.nextLine().type, "line");
   * assert.equal(f.nextLine().type, "line");
   * assert.equal(f.nextLine().type, "needData");
   * ```
   */
  receiveData(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Cannot receive data: bytes is not a Uint8Array");
    }
    if (this.#eof) throw new TypeError("Cannot receive data: the stream has ended");
    if (this.#failed !== undefined || bytes.length === 0) return;
    if (this.#unscanned + bytes.length > this.#maxBuffered) {
      throw new RangeError(
        `Cannot receive data: ${this.#unscanned} bytes are still unscanned; drain nextLine() first`,
      );
    }
    this.#chunks.push(bytes.slice());
    this.#unscanned += bytes.length;
  }

  /**
   * Marks the end of the stream. Lines already complete are still returned; the unterminated
   * tail is discarded. Idempotent.
   *
   * @example An unterminated tail is dropped
   * ```ts
   * import { LineFramer } from "./framing.ts";
   * import assert from "node:assert/strict";
   * const f = new LineFramer();
   * f.receiveData(new TextEncoder().encode("half"));
   * f.receiveEof();
   * const r = f.nextLine();
   * assert.ok(r.type === "eof");
   * assert.equal(r.discardedBytes, 4);
   * ```
   */
  receiveEof(): void {
    this.#eof = true;
  }

  /**
   * Returns the next complete line, or why there is none. Never throws.
   *
   * @example Byte by byte
   * ```ts
   * import { LineFramer } from "./framing.ts";
   * import assert from "node:assert/strict";
   * const f = new LineFramer();
   * for (const b of new TextEncoder().encode("verack|7\r")) {
   *   f.receiveData(Uint8Array.of(b));
   *   assert.equal(f.nextLine().type, "needData");
   * }
   * f.receiveData(Uint8Array.of(0x0a));
   * const r = f.nextLine();
   * assert.ok(r.type === "line");
   * assert.equal(new TextDecoder().decode(r.line), "verack|7");
   * ```
   */
  nextLine(): LineResult {
    if (this.#failed !== undefined) return this.#failed;
    // Bounded: each round consumes a chunk or returns.
    while (this.#chunkHead < this.#chunks.length) {
      const chunk = this.#chunks[this.#chunkHead];
      const start = this.#pos;
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        const ok = this.#appendTail(chunk.subarray(start));
        this.#dropChunk(chunk.length - start);
        if (!ok) return this.#fail(this.#tailLen);
        continue;
      }
      this.#pos = lf + 1;
      this.#unscanned -= lf + 1 - start;
      if (this.#pos === chunk.length) this.#dropChunk(0);
      let line: Uint8Array;
      if (this.#tailLen === 0) {
        line = chunk.subarray(start, lf);
      } else {
        const total = this.#tailLen + (lf - start);
        if (total > this.maxLineBytes + 1) return this.#fail(total);
        this.#appendTail(chunk.subarray(start, lf)); // fits: total <= limit + 1
        line = this.#tail.slice(0, this.#tailLen);
        this.#tailLen = 0;
      }
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
      if (line.length > this.maxLineBytes) return this.#fail(line.length);
      if (line.length === 0) continue; // empty lines are skipped silently
      return { type: "line", line };
    }
    if (this.#eof) return { type: "eof", discardedBytes: this.#tailLen };
    return NEED_DATA;
  }

  /** Moves past the first chunk after `rest` of its bytes were consumed without a line end. */
  #dropChunk(rest: number): void {
    this.#unscanned -= rest;
    this.#chunks[this.#chunkHead] = EMPTY;
    this.#chunkHead++;
    this.#pos = 0;
    if (this.#chunkHead === this.#chunks.length) {
      this.#chunks = [];
      this.#chunkHead = 0;
    } else if (this.#chunkHead > 64 && this.#chunkHead * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#chunkHead);
      this.#chunkHead = 0;
    }
  }

  /**
   * Appends to the partial line; false when the partial line can no longer fit the limit (it may
   * hold one byte more than the limit only if that byte is the CR of a CR LF).
   */
  #appendTail(bytes: Uint8Array): boolean {
    const need = this.#tailLen + bytes.length;
    const limit = this.maxLineBytes + 1;
    if (need > limit) {
      this.#tailLen = need; // reported size; the bytes themselves are not kept
      return false;
    }
    if (need > this.#tail.length) {
      const grown = new Uint8Array(Math.min(limit, Math.max(need, this.#tail.length * 2, 256)));
      grown.set(this.#tail.subarray(0, this.#tailLen));
      this.#tail = grown;
    }
    this.#tail.set(bytes, this.#tailLen);
    this.#tailLen = need;
    if (need === limit && this.#tail[need - 1] !== CR) return false;
    return true;
  }

  #fail(bytes: number): LineResult {
    this.#failed = Object.freeze({ type: "tooLong", bytes });
    this.#chunks = [];
    this.#chunkHead = 0;
    this.#pos = 0;
    this.#unscanned = 0;
    this.#tail = new Uint8Array(0);
    this.#tailLen = 0;
    return this.#failed;
  }
}

const EMPTY = new Uint8Array(0);
