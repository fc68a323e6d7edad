/**
 * One connection of the Part 1 tracker, sans I/O, in h11's shape: the adapter feeds what it reads
 * with {@linkcode Part1ServerConn.receiveData} / {@linkcode Part1ServerConn.receiveEof}, asks
 * {@linkcode Part1ServerConn.nextEvent} for the request, answers it (see `answer.ts`), gets the
 * reply's bytes from {@linkcode Part1ServerConn.send}, writes them in one write and closes.
 *
 * ```
 * receiving ──request complete, invalid, cut short, too large or timed out──▶ answering
 * answering ──send(reply)──▶ done
 * ```
 *
 * Every connection ends with exactly one request event, so every client gets a reply: a
 * well-formed request its answer, anything else the error reply (spec §2.6). The buffer keeps at
 * most `maxRequestBytes + 1` bytes; a request must be complete within `requestTimeoutMs` of the
 * connection's start (a slow or silent client is answered with the error reply and dropped).
 * Bytes after the request (after STOP) are ignored, as the original does.
 *
 * @module
 */

import { BoundedBuffer } from "./_buffer.ts";
import {
  frameRequest,
  type FrameRequestOptions,
  type Part1Request,
  requestOptions,
} from "./framing.ts";
import { encodeReply, type Part1Reply } from "./wire.ts";
import { checkTime } from "../../util/mod.ts";

const EMPTY = new Uint8Array(0);

/** Options checked once, for a frozen options object given again (a tracker gives the same one). */
const CHECKED = new WeakMap<
  Part1ServerConnOptions,
  { framing: Required<FrameRequestOptions>; requestTimeoutMs: number }
>();

function checkOptions(options: Part1ServerConnOptions) {
  const { requestTimeoutMs = 5000, ...framing } = options;
  const checked = { framing: requestOptions(framing), requestTimeoutMs };
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1 || requestTimeoutMs > 3.6e6) {
    throw new RangeError(
      `Cannot start a tracker connection: requestTimeoutMs must be 1..3600000, got ${requestTimeoutMs}`,
    );
  }
  if (Object.isFrozen(options)) CHECKED.set(options, checked);
  return checked;
}

/**
 * The request event (`protocol` only when there is one; built without a spread: a hot path).
 * `exact` when the bytes received are the valid request's own `length`, nothing more.
 */
function requestEvent(
  request: Part1Request,
  protocol: number | undefined,
  bytesReceived: number,
  length: number | undefined,
): Part1ServerEvent {
  const exact = length === bytesReceived;
  return protocol === undefined
    ? { type: "request", request, bytesReceived, exact }
    : { type: "request", request, protocol, bytesReceived, exact };
}

/**
 * Options of {@linkcode Part1ServerConn}: the framing options plus the request timeout.
 */
export interface Part1ServerConnOptions extends FrameRequestOptions {
  /**
   * Milliseconds from the connection's start within which the request must be complete
   * (1 to 3,600,000).
   *
   * @default 5000
   */
  requestTimeoutMs?: number;
}

/**
 * The request of a connection, reported once.
 */
export interface Part1ServerEvent {
  readonly type: "request";
  /** The request; `invalid` ones get the error reply. */
  readonly request: Part1Request;
  /** The pickle protocol of an item request. */
  readonly protocol?: number;
  /** Bytes received on the connection until the request was complete. */
  readonly bytesReceived: number;
  /**
   * The client sent a valid request and nothing after it (so far): `bytesReceived` are the
   * request's own bytes. False for an invalid request, or when bytes followed the request.
   */
  readonly exact: boolean;
}

/**
 * Where a connection is: reading its request, waiting for the reply, or done (the adapter closes).
 */
export type Part1ServerConnState = "receiving" | "answering" | "done";

/**
 * The sans-I/O core of one tracker connection.
 *
 * @example Chunked input, then the reply
 * ```ts
 * import { Part1ServerConn } from "./server_conn.ts";
 * import assert from "node:assert/strict";
 * const conn = new Part1ServerConn(0);
 * conn.receiveData(new TextEncoder().encode("REGI"), 1);
 * assert.equal(conn.nextEvent(), "needData");
 * conn.receiveData(new TextEncoder().encode("STER"), 2);
 * const event = conn.nextEvent();
 * assert.ok(typeof event === "object");
 * assert.equal(event.request.type, "size");
 * const bytes = conn.send({ type: "size", count: 16 });
 * assert.equal(new TextDecoder().decode(bytes), "I16\n.");
 * assert.equal(conn.state, "done");
 * ```
 *
 * @example A silent client times out and gets the error reply
 * ```ts
 * import { Part1ServerConn } from "./server_conn.ts";
 * import assert from "node:assert/strict";
 * const conn = new Part1ServerConn(1000, { requestTimeoutMs: 5000 });
 * assert.equal(conn.nextTimeout(), 6000);
 * conn.handleTimeout(6000);
 * const event = conn.nextEvent();
 * assert.ok(typeof event === "object");
 * assert.ok(event.request.type === "invalid");
 * assert.equal(event.request.reason, "timeout");
 * ```
 */
export class Part1ServerConn {
  readonly #options: Required<FrameRequestOptions>;
  readonly #deadline: number;
  readonly #timeoutMs: number;
  /** The bytes received, once a read did not hold the whole request (most requests come whole). */
  #buffer: BoundedBuffer | undefined;
  /** Bytes beyond the size cap of a read framed in place, dropped as the buffer would have. */
  #dropped = 0;
  #state: Part1ServerConnState = "receiving";
  #eof = false;
  #dirty = true;
  #now: number;
  #received = 0;
  #ignored = 0;
  #decided: Part1ServerEvent | undefined;

  /**
   * Starts a connection.
   *
   * @param now The time the connection was accepted (monotonic milliseconds).
   * @param options Size cap, highest protocol, request timeout.
   * @throws {RangeError} When an option is out of range or `now` is not finite.
   */
  constructor(now: number, options: Part1ServerConnOptions = {}) {
    const checked = CHECKED.get(options) ?? checkOptions(options);
    this.#options = checked.framing;
    const requestTimeoutMs = checked.requestTimeoutMs;
    this.#now = checkTime(now);
    this.#deadline = now + requestTimeoutMs;
    this.#timeoutMs = requestTimeoutMs;
  }

  /** See {@linkcode Part1ServerConnState}. */
  get state(): Part1ServerConnState {
    return this.#state;
  }

  /** Bytes dropped unread: received after the request was known, or beyond the size cap. */
  get ignoredBytes(): number {
    return this.#ignored + this.#dropped + (this.#buffer?.dropped ?? 0);
  }

  /**
   * Buffers bytes read from the client. Bytes arriving once the request is complete are ignored.
   *
   * @param bytes What one read returned (copied as needed; the caller may reuse it).
   * @param now The current time.
   * @throws {TypeError} After {@linkcode Part1ServerConn.receiveEof}.
   */
  receiveData(bytes: Uint8Array, now: number): void {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("Cannot receive data: not bytes");
    if (this.#eof) throw new TypeError("Cannot receive data: the client already ended its side");
    this.handleTimeout(now);
    if (this.#state !== "receiving" || this.#decided) {
      this.#ignored += bytes.length;
      return;
    }
    this.#received += bytes.length;
    (this.#buffer ??= new BoundedBuffer(this.#options.maxRequestBytes + 1)).append(bytes);
    if (bytes.length > 0) this.#dirty = true;
  }

  /**
   * Notes that the client ended its side (a read returned end of file). Idempotent.
   *
   * @param now The current time.
   */
  receiveEof(now: number): void {
    this.handleTimeout(now);
    if (!this.#eof) this.#dirty = true;
    this.#eof = true;
  }

  /**
   * Gives the core the time: past the deadline, a request still incomplete becomes invalid with
   * reason `timeout`. A no-op before the deadline or once the request is known.
   *
   * @param now The current time (never earlier than a time given before).
   */
  handleTimeout(now: number): void {
    this.#now = Math.max(this.#now, checkTime(now));
    if (this.#state !== "receiving" || this.#decided || this.#now < this.#deadline) return;
    this.#frame(); // a request already buffered wins over the timeout
    this.#decided ??= {
      type: "request",
      request: {
        type: "invalid",
        reason: "timeout",
        detail: `no complete request within ${this.#timeoutMs} ms`,
      },
      bytesReceived: this.#received,
      exact: false,
    };
  }

  /** When {@linkcode Part1ServerConn.handleTimeout} is due, or `undefined` once the request is known. */
  nextTimeout(): number | undefined {
    return this.#state === "receiving" && !this.#decided ? this.#deadline : undefined;
  }

  /**
   * Receives one read and returns what {@linkcode Part1ServerConn.nextEvent} then returns: the same
   * as `receiveData(bytes, now)` followed by `nextEvent()`, but a first read that holds the whole
   * request (the usual case) is framed where it is, without being copied.
   *
   * @param bytes What one read returned (not kept; the caller may reuse it).
   * @param now The current time.
   * @returns The request once it is known, `"needData"` or `"paused"`.
   * @throws {TypeError} After {@linkcode Part1ServerConn.receiveEof}.
   *
   * @example A whole request in one read
   * ```ts
   * import { Part1ServerConn } from "./server_conn.ts";
   * import assert from "node:assert/strict";
   * const conn = new Part1ServerConn(0);
   * const event = conn.receive(new TextEncoder().encode("REGISTER"), 1);
   * assert.ok(typeof event === "object");
   * assert.equal(event.request.type, "size");
   * ```
   */
  receive(bytes: Uint8Array, now: number): Part1ServerEvent | "needData" | "paused" {
    if (
      this.#buffer === undefined && !this.#eof && this.#state === "receiving" &&
      bytes instanceof Uint8Array
    ) {
      this.handleTimeout(now);
      if (!this.#decided) {
        // What the buffer would keep of this read, framed in place.
        const limit = this.#options.maxRequestBytes + 1;
        const kept = bytes.length > limit ? bytes.subarray(0, limit) : bytes;
        const frame = frameRequest(kept, false, this.#options);
        if (frame.status === "complete") {
          this.#received += bytes.length;
          this.#dropped += bytes.length - kept.length;
          this.#dirty = false;
          this.#decided = requestEvent(frame.request, frame.protocol, this.#received, frame.length);
          return this.nextEvent();
        }
      }
    }
    this.receiveData(bytes, now);
    return this.nextEvent();
  }

  /**
   * Returns the request once it is known, `"needData"` while more bytes may complete it, and
   * `"paused"` after the request was returned (until and after {@linkcode Part1ServerConn.send}).
   */
  nextEvent(): Part1ServerEvent | "needData" | "paused" {
    if (this.#state !== "receiving") return "paused";
    this.#frame();
    if (!this.#decided) return "needData";
    this.#state = "answering";
    return this.#decided;
  }

  /**
   * Encodes the reply to the request returned by {@linkcode Part1ServerConn.nextEvent}. The
   * adapter writes the bytes in one write and closes the connection.
   *
   * @param reply The reply (from `answerRequest`).
   * @param encoded The reply's bytes when the caller has them already (a tracker caches its
   *   replies: see `Part1Db.itemReply`); they must be `encodeReply(reply)`. Returned as they are.
   * @returns The reply's bytes.
   * @throws {TypeError} When no request is waiting for a reply.
   * @throws {RangeError} When the reply holds a bad count or SEQNUM.
   */
  send(reply: Part1Reply, encoded?: Uint8Array): Uint8Array {
    if (this.#state !== "answering") {
      throw new TypeError(`Cannot send a reply: the connection is ${this.#state}`);
    }
    const bytes = encoded ?? encodeReply(reply);
    this.#state = "done";
    return bytes;
  }

  #frame(): void {
    if (this.#decided || !this.#dirty) return;
    this.#dirty = false;
    const frame = frameRequest(this.#buffer?.view() ?? EMPTY, this.#eof, this.#options);
    if (frame.status === "needData") return;
    this.#decided = requestEvent(frame.request, frame.protocol, this.#received, frame.length);
  }
}
