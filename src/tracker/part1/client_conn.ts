/**
 * One exchange of a Part 1 client, sans I/O, in h11's shape: {@linkcode Part1ClientConn.send}
 * gives the request's bytes, the adapter feeds what it reads with
 * {@linkcode Part1ClientConn.receiveData} / {@linkcode Part1ClientConn.receiveEof}, and
 * {@linkcode Part1ClientConn.nextEvent} gives the reply (or why there is none). One request per
 * connection (spec §2.5): connect, send, read the reply, close.
 *
 * ```
 * idle ──send(query)──▶ awaiting ──reply complete, failed or timed out──▶ done
 * ```
 *
 * The reply is complete at its pickle's STOP; the client need not wait for the tracker to close.
 * The error reply is a `reply` event of type `error` (the tracker answered); a reply that cannot
 * be read is a `failed` event. The whole exchange, connecting included, must finish within
 * `timeoutMs` of the connection's creation.
 *
 * @module
 */

import { BoundedBuffer } from "./_buffer.ts";
import {
  frameReply,
  type FrameReplyOptions,
  type Part1ReplyFailure,
  replyOptions,
} from "./framing.ts";
import {
  encodeRequest,
  type Part1Query,
  type Part1Reply,
  type Part1RequestProtocol,
} from "./wire.ts";

/**
 * Options of {@linkcode Part1ClientConn}.
 */
export interface Part1ClientConnOptions extends FrameReplyOptions {
  /**
   * Milliseconds from the connection's creation within which the reply must be complete
   * (1 to 3,600,000).
   *
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * The pickle protocol of item requests: 0 (Python 2's default), 1 or 2. All three work with
   * the original.
   *
   * @default 0
   */
  protocol?: Part1RequestProtocol;
}

/**
 * The outcome of an exchange, reported once: the tracker's reply (which may be the error reply),
 * or why no reply could be read.
 */
export type Part1ClientEvent =
  | { readonly type: "reply"; readonly reply: Part1Reply }
  | { readonly type: "failed"; readonly reason: Part1ReplyFailure; readonly detail: string };

/**
 * Where an exchange is.
 */
export type Part1ClientConnState = "idle" | "awaiting" | "done";

/**
 * The sans-I/O core of one client exchange.
 *
 * @example Asking for position 0
 * ```ts
 * import { Part1ClientConn } from "./client_conn.ts";
 * import assert from "node:assert/strict";
 * const te = new TextEncoder();
 * const conn = new Part1ClientConn(0, { protocol: 2 });
 * const request = conn.send({ type: "item", index: 0 }, 0); // \x80\x02K\x00.
 * assert.equal(request.length, 5);
 * conn.receiveData(te.encode("(I12\nS'of'\np0\n"), 3);
 * assert.equal(conn.nextEvent(), "needData");
 * conn.receiveData(te.encode("tp1\n."), 4);
 * const event = conn.nextEvent();
 * assert.ok(typeof event === "object" && event.type === "reply");
 * assert.deepEqual(event.reply, { type: "item", entry: { seq: 12, word: "of" } });
 * ```
 */
export class Part1ClientConn {
  readonly #options: Required<FrameReplyOptions>;
  readonly #protocol: Part1RequestProtocol;
  readonly #deadline: number;
  readonly #timeoutMs: number;
  readonly #buffer: BoundedBuffer;
  #state: Part1ClientConnState = "idle";
  #query: Part1Query | undefined;
  #eof = false;
  #dirty = false;
  #now: number;
  #decided: Part1ClientEvent | undefined;

  /**
   * Starts an exchange (before connecting: the deadline counts from here).
   *
   * @param now The current time (monotonic milliseconds).
   * @param options Timeout, request protocol, reply size cap.
   * @throws {RangeError} When an option is out of range or `now` is not finite.
   */
  constructor(now: number, options: Part1ClientConnOptions = {}) {
    const { timeoutMs = 5000, protocol = 0, ...framing } = options;
    this.#options = replyOptions(framing);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 3.6e6) {
      throw new RangeError(
        `Cannot start a tracker exchange: timeoutMs must be 1..3600000, got ${timeoutMs}`,
      );
    }
    if (protocol !== 0 && protocol !== 1 && protocol !== 2) {
      throw new RangeError(`Cannot start a tracker exchange: protocol must be 0, 1 or 2`);
    }
    if (!Number.isFinite(now)) throw new RangeError(`Cannot use time ${now}: not finite`);
    this.#protocol = protocol;
    this.#now = now;
    this.#timeoutMs = timeoutMs;
    this.#deadline = now + timeoutMs;
    this.#buffer = new BoundedBuffer(this.#options.maxReplyBytes + 1);
  }

  /** See {@linkcode Part1ClientConnState}. */
  get state(): Part1ClientConnState {
    return this.#state;
  }

  /**
   * Encodes the request. The adapter writes the bytes once connected.
   *
   * @param query The request.
   * @param now The current time.
   * @returns The request's bytes.
   * @throws {TypeError} When a request was already sent.
   * @throws {RangeError} When the index is not a safe integer.
   */
  send(query: Part1Query, now: number): Uint8Array {
    if (this.#state !== "idle") {
      throw new TypeError(`Cannot send a request: already ${this.#state}`);
    }
    const bytes = encodeRequest(query, this.#protocol);
    this.#query = query;
    this.#state = "awaiting";
    this.handleTimeout(now);
    return bytes;
  }

  /**
   * Buffers bytes read from the tracker; ignored once the reply is known.
   *
   * @param bytes What one read returned (copied; the caller may reuse it).
   * @param now The current time.
   * @throws {TypeError} Before {@linkcode Part1ClientConn.send} or after
   * {@linkcode Part1ClientConn.receiveEof}.
   */
  receiveData(bytes: Uint8Array, now: number): void {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("Cannot receive data: not bytes");
    if (this.#state === "idle") throw new TypeError("Cannot receive data: no request was sent");
    if (this.#eof) throw new TypeError("Cannot receive data: the tracker already closed");
    this.handleTimeout(now);
    if (this.#state !== "awaiting" || this.#decided) return;
    this.#buffer.append(bytes);
    if (bytes.length > 0) this.#dirty = true;
  }

  /**
   * Notes that the tracker closed its side. Idempotent.
   *
   * @param now The current time.
   * @throws {TypeError} Before {@linkcode Part1ClientConn.send}.
   */
  receiveEof(now: number): void {
    if (this.#state === "idle") throw new TypeError("Cannot receive EOF: no request was sent");
    this.handleTimeout(now);
    if (!this.#eof) this.#dirty = true;
    this.#eof = true;
  }

  /**
   * Gives the core the time: past the deadline, an exchange without a complete reply fails with
   * reason `timeout`. A no-op before the deadline or once the outcome is known.
   *
   * @param now The current time.
   */
  handleTimeout(now: number): void {
    if (!Number.isFinite(now)) throw new RangeError(`Cannot use time ${now}: not finite`);
    this.#now = Math.max(this.#now, now);
    if (this.#state === "done" || this.#decided || this.#now < this.#deadline) return;
    this.#frame();
    this.#decided ??= {
      type: "failed",
      reason: "timeout",
      detail: `no complete reply within ${this.#timeoutMs} ms`,
    };
  }

  /** When {@linkcode Part1ClientConn.handleTimeout} is due, or `undefined` once the outcome is known. */
  nextTimeout(): number | undefined {
    return this.#state !== "done" && !this.#decided ? this.#deadline : undefined;
  }

  /**
   * Returns the outcome once known (then `"paused"`), `"needData"` while waiting for the reply,
   * and `"paused"` before {@linkcode Part1ClientConn.send} unless the deadline already passed.
   */
  nextEvent(): Part1ClientEvent | "needData" | "paused" {
    if (this.#state === "done") return "paused";
    this.#frame();
    if (this.#decided) {
      this.#state = "done";
      return this.#decided;
    }
    return this.#state === "idle" ? "paused" : "needData";
  }

  #frame(): void {
    if (this.#decided || !this.#dirty || this.#query === undefined) return;
    this.#dirty = false;
    const frame = frameReply(this.#buffer.view(), this.#eof, this.#query, this.#options);
    if (frame.status === "needData") return;
    this.#decided = frame.status === "complete"
      ? { type: "reply", reply: frame.reply }
      : { type: "failed", reason: frame.reason, detail: frame.detail };
  }
}
