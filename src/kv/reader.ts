/**
 * Reads one message off a connection (§6.7): bytes are gathered until the completeness scanner
 * sees one whole JSON value, the peer ends its side, or the size cap is passed; then the whole of
 * what arrived is decoded (so bytes after the value make it invalid, as in the original).
 *
 * @module
 */

import { decodeMessage } from "./codec.ts";
import { JsonValueScanner } from "./scanner.ts";
import type { KvMessage } from "./types.ts";

/** The outcome of a read: nothing yet, a message, or why there is none. */
export type ReadOutcome =
  | { readonly kind: "more" }
  | { readonly kind: "message"; readonly message: KvMessage; readonly size: number }
  | { readonly kind: "invalid"; readonly reason: string; readonly size: number };

/**
 * Gathers one message.
 *
 * @example A Getvalue in two pieces
 * ```ts
 * import { MessageReader } from "./reader.ts";
 * import assert from "node:assert/strict";
 * const te = new TextEncoder();
 * const r = new MessageReader({ cap: 1024 });
 * assert.equal(r.push(te.encode('{"Getvalue":{"ke')).kind, "more");
 * const out = r.push(te.encode('y":"a"}}'));
 * assert.ok(out.kind === "message");
 * assert.deepEqual(out.message, { type: "Getvalue", key: "a" });
 * ```
 */
export class MessageReader {
  readonly #cap: number;
  readonly #extensions: boolean;
  readonly #scanner = new JsonValueScanner();
  #chunks: Uint8Array[] = [];
  #size = 0;
  #done = false;

  /** A reader refusing more than `cap` bytes; extension variants decoded when `extensions`. */
  constructor(options: { cap: number; extensions?: boolean }) {
    this.#cap = options.cap;
    this.#extensions = options.extensions ?? false;
  }

  /** Bytes received so far (within the cap; `cap + 1` once more came without a whole message). */
  get size(): number {
    return this.#size;
  }

  /** Whether an outcome other than `more` was given. */
  get done(): boolean {
    return this.#done;
  }

  /** More bytes arrived. */
  push(bytes: Uint8Array): ReadOutcome {
    if (this.#done) return { kind: "more" };
    // As the original, which reads at most 1,024 bytes once: what lies past the cap is never
    // looked at, so a message complete within it (whitespace after it included) still counts.
    const room = this.#cap - this.#size;
    const taken = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (taken.length > 0) {
      this.#chunks.push(taken);
      this.#size += taken.length;
      const state = this.#scanner.push(taken);
      if (state.state === "invalid") return this.#fail(state.reason);
      if (state.state === "complete") return this.#decode();
    }
    if (bytes.length > room) {
      this.#size = this.#cap + 1; // over the cap without a complete message
      return this.#fail(`longer than ${this.#cap} bytes`);
    }
    return { kind: "more" };
  }

  /** The peer ended its side: decode what arrived. */
  end(): ReadOutcome {
    if (this.#done) return { kind: "more" };
    if (this.#size === 0) return this.#fail("closed without a message");
    return this.#decode();
  }

  #decode(): ReadOutcome {
    this.#done = true;
    const all = new Uint8Array(this.#size);
    let at = 0;
    for (const c of this.#chunks) {
      all.set(c, at);
      at += c.length;
    }
    this.#chunks = [];
    const r = decodeMessage(all, { extensions: this.#extensions });
    if (!r.ok) return { kind: "invalid", reason: `${r.error.kind}: ${r.error.detail}`, size: at };
    return { kind: "message", message: r.message, size: at };
  }

  #fail(reason: string): ReadOutcome {
    this.#done = true;
    this.#chunks = [];
    return { kind: "invalid", reason, size: this.#size };
  }
}
