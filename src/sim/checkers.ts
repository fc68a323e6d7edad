/**
 * Checkers for simulated runs: a reliable-stream checker that every message-oriented protocol test
 * can use (delivered = in-order prefix of sent, no duplicates, no corruption, and eventually
 * everything).
 *
 * @module
 */

import { AssertionError } from "../util/mod.ts";

/**
 * A message as the checker takes it: bytes, or text (compared as UTF-8).
 */
export type CheckedMessage = Uint8Array | string;

/**
 * Options for {@linkcode StreamChecker}.
 */
export interface StreamCheckerOptions {
  /**
   * The most messages recorded per stream and direction; one more throws a `RangeError`.
   *
   * @default {1_000_000}
   */
  maxMessages?: number;
}

/**
 * Options for {@linkcode StreamChecker.check}.
 */
export interface CheckOptions {
  /**
   * Also require every sent message to have been delivered (a liveness check, after healing).
   *
   * @default {false}
   */
  complete?: boolean;
}

interface Log {
  sent: Uint8Array[];
  keys: Map<string, number[]>; // message content → indexes in `sent`
  delivered: number;
  violation: string | undefined;
}

const encoder = new TextEncoder();

function toBytes(message: CheckedMessage): Uint8Array {
  if (typeof message === "string") return encoder.encode(message);
  if (message instanceof Uint8Array) return message;
  throw new TypeError("Cannot check a message: it is neither a Uint8Array nor a string");
}

function keyOf(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Shows a message briefly: quoted text when it is printable ASCII, else hex; at most 32 bytes.
 *
 * @example Previews
 * ```ts
 * import { preview } from "./checkers.ts";
 * import assert from "node:assert/strict";
 * assert.equal(preview(new TextEncoder().encode("hi")), '"hi" (2B)');
 * assert.equal(preview(Uint8Array.of(0, 255)), "00ff (2B)");
 * ```
 */
export function preview(bytes: Uint8Array): string {
  const head = bytes.subarray(0, 32);
  const more = bytes.length > 32 ? "…" : "";
  const printable = head.every((b) => b >= 0x20 && b < 0x7f);
  const body = printable
    ? JSON.stringify(String.fromCharCode(...head))
    : Array.from(head, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${body}${more} (${bytes.length}B)`;
}

/**
 * Checks reliable, ordered message streams (TigerBeetle's state checker, for one property): for
 * each stream, the delivered messages must be exactly the first sent ones, in order, each once,
 * unchanged. Record each message with `sent()` when the application hands it to the protocol and
 * `delivered()` when the other side's application receives it; a violation throws an
 * `AssertionError` at once, naming the stream, the index and what went wrong.
 *
 * @example Checking an LSP-like stream
 * ```ts
 * import { StreamChecker } from "./checkers.ts";
 * import assert from "node:assert/strict";
 * const checker = new StreamChecker();
 * checker.sent("c1 up", "a");
 * checker.sent("c1 up", "b");
 * checker.delivered("c1 up", "a");
 * checker.check();                    // a prefix so far: fine
 * assert.throws(() => checker.delivered("c1 up", "a")); // a duplicate
 * ```
 */
export class StreamChecker {
  readonly #logs = new Map<string, Log>();
  readonly #maxMessages: number;

  /**
   * Makes an empty checker.
   *
   * @example A checker with a smaller bound
   * ```ts
   * import { StreamChecker } from "./checkers.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new StreamChecker({ maxMessages: 100 }).streams().length, 0);
   * ```
   */
  constructor(options: StreamCheckerOptions = {}) {
    const { maxMessages = 1_000_000 } = options;
    if (!Number.isSafeInteger(maxMessages) || maxMessages < 1) {
      throw new RangeError(`Cannot create the checker: maxMessages ${maxMessages} is not a count`);
    }
    this.#maxMessages = maxMessages;
  }

  /**
   * Records that `message` was sent on `stream` (any name: "conn 3 client→server"). The bytes are
   * copied.
   *
   * @throws {RangeError} When the stream already holds `maxMessages` messages.
   * @example Recording a send
   * ```ts
   * import { StreamChecker } from "./checkers.ts";
   * import assert from "node:assert/strict";
   * const checker = new StreamChecker();
   * checker.sent("s", Uint8Array.of(1, 2));
   * assert.equal(checker.counts("s").sent, 1);
   * ```
   */
  sent(stream: string | number, message: CheckedMessage): void {
    const log = this.#log(stream);
    if (log.sent.length >= this.#maxMessages) {
      throw new RangeError(`Cannot record a send on stream ${stream}: over ${this.#maxMessages}`);
    }
    const bytes = toBytes(message).slice();
    const key = keyOf(bytes);
    const indexes = log.keys.get(key);
    if (indexes === undefined) log.keys.set(key, [log.sent.length]);
    else indexes.push(log.sent.length);
    log.sent.push(bytes);
  }

  /**
   * Records that `message` was delivered on `stream` and checks it is the next sent message.
   *
   * @throws {AssertionError} When it is not: a duplicate, a gap or reordering, a corrupted or
   * unknown message, or more deliveries than sends. The stream stays failed.
   * @example A delivery out of order
   * ```ts
   * import { StreamChecker } from "./checkers.ts";
   * import assert from "node:assert/strict";
   * const checker = new StreamChecker();
   * checker.sent("s", "a");
   * checker.sent("s", "b");
   * assert.throws(() => checker.delivered("s", "b"), /skipped/);
   * ```
   */
  delivered(stream: string | number, message: CheckedMessage): void {
    const log = this.#log(stream);
    if (log.violation !== undefined) throw new AssertionError(log.violation);
    const bytes = toBytes(message);
    const index = log.delivered++;
    const expected = log.sent[index];
    if (expected !== undefined && equal(expected, bytes)) return;
    log.violation = this.#explain(stream, log, index, bytes);
    throw new AssertionError(log.violation);
  }

  /**
   * Checks every stream: no violation so far and, with `complete`, every sent message delivered.
   *
   * @throws {AssertionError} Naming the first failing stream.
   * @example A liveness check
   * ```ts
   * import { StreamChecker } from "./checkers.ts";
   * import assert from "node:assert/strict";
   * const checker = new StreamChecker();
   * checker.sent("s", "a");
   * assert.throws(() => checker.check({ complete: true }));
   * ```
   */
  check(options: CheckOptions = {}): void {
    const { complete = false } = options;
    for (const [stream, log] of this.#logs) {
      if (log.violation !== undefined) throw new AssertionError(log.violation);
      if (complete && log.delivered < log.sent.length) {
        throw new AssertionError(
          `Stream ${stream}: ${log.sent.length - log.delivered} of ${log.sent.length} sent ` +
            `messages were never delivered (first missing: #${log.delivered} ` +
            `${preview(log.sent[log.delivered])})`,
        );
      }
    }
  }

  /**
   * How many messages were sent and delivered on `stream`.
   *
   * @example Counts of an unknown stream
   * ```ts
   * import { StreamChecker } from "./checkers.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new StreamChecker().counts("x").delivered, 0);
   * ```
   */
  counts(stream: string | number): { sent: number; delivered: number } {
    const log = this.#logs.get(String(stream));
    return { sent: log?.sent.length ?? 0, delivered: log?.delivered ?? 0 };
  }

  /**
   * The names of every stream seen, in first-use order.
   *
   * @example Listing streams
   * ```ts
   * import { StreamChecker } from "./checkers.ts";
   * import assert from "node:assert/strict";
   * const checker = new StreamChecker();
   * checker.sent(1, "a");
   * assert.equal(checker.streams()[0], "1");
   * ```
   */
  streams(): string[] {
    return [...this.#logs.keys()];
  }

  #log(stream: string | number): Log {
    const name = String(stream);
    let log = this.#logs.get(name);
    if (log === undefined) {
      log = { sent: [], keys: new Map(), delivered: 0, violation: undefined };
      this.#logs.set(name, log);
    }
    return log;
  }

  #explain(stream: string | number, log: Log, index: number, got: Uint8Array): string {
    const at = `Stream ${stream}: delivery #${index} ${preview(got)}`;
    const matches = log.keys.get(keyOf(got)) ?? [];
    const earlier = matches.filter((i) => i < index);
    const later = matches.filter((i) => i > index);
    if (index >= log.sent.length) {
      return earlier.length > 0
        ? `${at} is a duplicate of message #${
          earlier[earlier.length - 1]
        } (only ${log.sent.length} were sent)`
        : `${at} was never sent (only ${log.sent.length} were sent; corrupted?)`;
    }
    const expected = `expected #${index} ${preview(log.sent[index])}`;
    if (later.length > 0) {
      return `${at} is message #${later[0]}: messages #${index}..#${later[0] - 1} were skipped ` +
        `or reordered (${expected})`;
    }
    if (earlier.length > 0) {
      return `${at} is a duplicate of message #${earlier[earlier.length - 1]} (${expected})`;
    }
    return `${at} matches no sent message, corrupted? (${expected})`;
  }
}
