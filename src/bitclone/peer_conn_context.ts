/**
 * What the handshake and established states of one BitClone connection share: the current state
 * (moved only along the transition table of `peer_conn_states.ts`), the bounded transmit and event
 * queues, the counters, the misbehaviour score and the `reject` rate limit, and closing.
 *
 * @module
 */

import { OutputQueue } from "../core/mod.ts";
import { assert } from "../util/mod.ts";
import { type BitcloneMessage, encodeMessage, sanitizeText } from "./messages.ts";
import { canMove } from "./peer_conn_states.ts";
import type {
  Millis,
  PeerCloseReason,
  PeerConnState,
  PeerConnStats,
  PeerEvent,
  RejectFields,
} from "./peer_conn_types.ts";

const MISBEHAVIOUR_THRESHOLD = 100;
const MISBEHAVIOUR_WINDOW_MS = 600_000;
const REJECTS_PER_MINUTE = 10;
const EVENTS_MAX = 10_000;
/**
 * The output queues' item cap: never reached in practice (transmits are bounded by
 * `maxQueuedBytes`, log-only events by `EVENTS_MAX`).
 */
const OUTPUT_ITEMS_MAX = 2 ** 30;

/** {@linkcode PeerConnStats} as the states update it. */
export type MutablePeerConnStats = { -readonly [K in keyof PeerConnStats]: number };

/**
 * The shared state and outputs of one connection.
 *
 * @example A reject is sent once per line, then the connection closes at 100 points
 * ```ts
 * import { PeerConnContext } from "./peer_conn_context.ts";
 * import assert from "node:assert/strict";
 * const ctx = new PeerConnContext(1_000);
 * ctx.beginLine();
 * ctx.reject(400, "bad request", "ping: too many fields", 0);
 * ctx.reject(400, "bad request", "again", 0);
 * assert.equal(new TextDecoder().decode(ctx.pollTransmit()), "reject|400|bad request|ping: too many fields\r\n");
 * assert.equal(ctx.pollTransmit(), undefined);
 * ctx.addPoints(100, "too many", 0);
 * assert.equal(ctx.state, "closed");
 * ```
 */
export class PeerConnContext {
  /** The counters (copy them before handing them out). */
  readonly stats: MutablePeerConnStats = {
    linesReceived: 0,
    linesSent: 0,
    rejectsSent: 0,
    rejectsSuppressed: 0,
    strayLines: 0,
    pingsDropped: 0,
    addrRateLimited: 0,
    addrFiltered: 0,
    eventsDropped: 0,
  };
  readonly #maxQueued: number;
  #state: PeerConnState = "handshaking";
  readonly #out = new OutputQueue<Uint8Array>({ capacity: OUTPUT_ITEMS_MAX });
  #outBytes = 0;
  readonly #events = new OutputQueue<PeerEvent>({ capacity: OUTPUT_ITEMS_MAX });
  #points: { at: Millis; points: number }[] = [];
  #rejectTimes: Millis[] = [];
  #rejectedThisLine = false;

  /** A handshaking connection whose transmits may hold `maxQueuedBytes`. */
  constructor(maxQueuedBytes: number) {
    this.#maxQueued = maxQueuedBytes;
  }

  /** The current state. */
  get state(): PeerConnState {
    return this.#state;
  }

  /**
   * Moves to `to` along the transition table; to close, use {@linkcode PeerConnContext.finish}.
   *
   * @throws {AssertionError} When the table does not allow the move.
   */
  moveTo(to: Exclude<PeerConnState, "closed">): void {
    assert(canMove(this.#state, to), `cannot move from ${this.#state} to ${to}`);
    this.#state = to;
  }

  /** A line arrived: count it; it may get one `reject`. */
  beginLine(): void {
    this.stats.linesReceived++;
    this.#rejectedThisLine = false;
  }

  /** Queues `m` (nothing once closed; closes when the queue would pass its bound). */
  send(m: BitcloneMessage): void {
    this.queue(encodeMessage(m));
  }

  /** Queues an encoded line (nothing once closed; closes when the queue would pass its bound). */
  queue(bytes: Uint8Array): void {
    if (this.#state === "closed") return;
    if (this.#outBytes + bytes.length > this.#maxQueued) {
      this.finish({ kind: "sendQueueFull", bytes: this.#outBytes });
      return;
    }
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    this.stats.linesSent++;
  }

  /** Queues a `reject` without any limit, counts it and reports it. */
  queueReject(reject: RejectFields): void {
    this.queue(encodeMessage({ type: "reject", ...reject }));
    this.stats.rejectsSent++;
    this.emit({ type: "rejectSent", reject });
  }

  /** One `reject` per received line, at most 10 per minute. */
  reject(code: number, reason: string, details: string, now: Millis): void {
    if (this.#rejectedThisLine) return;
    this.#rejectedThisLine = true;
    if (!allowRate(this.#rejectTimes, now, 60_000, REJECTS_PER_MINUTE)) {
      this.stats.rejectsSuppressed++;
      return;
    }
    this.queueReject({ code, reason, details: sanitizeText(details, 200) });
  }

  /** Adds misbehaviour points; 100 within 10 minutes close unless `closeAtThreshold` is false. */
  addPoints(points: number, offence: string, now: Millis, closeAtThreshold = true): void {
    this.#prunePoints(now);
    this.#points.push({ at: now, points });
    const score = this.#points.reduce((sum, p) => sum + p.points, 0);
    assert(this.#points.length <= MISBEHAVIOUR_THRESHOLD, "misbehaviour list over its bound");
    this.emit({ type: "misbehaviour", offence, points, score });
    if (closeAtThreshold && score >= MISBEHAVIOUR_THRESHOLD) {
      this.finish({ kind: "misbehaviour", score });
    }
  }

  /** The points of the 10 minutes before `now`. */
  score(now: Millis): number {
    this.#prunePoints(now);
    return this.#points.reduce((sum, p) => sum + p.points, 0);
  }

  #prunePoints(now: Millis): void {
    while (this.#points.length > 0 && this.#points[0].at <= now - MISBEHAVIOUR_WINDOW_MS) {
      this.#points.shift();
    }
  }

  /** Closes (once) with `reason`: the `closed` event is the last one. */
  finish(reason: PeerCloseReason): void {
    if (this.#state === "closed") return;
    assert(canMove(this.#state, "closed"), `cannot close from ${this.#state}`);
    const wasEstablished = this.#state === "established";
    this.#state = "closed";
    this.#events.push({ type: "closed", reason, wasEstablished });
  }

  /** Reports `event`; log-only ones are dropped (and counted) when 10,000 wait undrained. */
  emit(event: PeerEvent): void {
    const logOnly = event.type === "messageReceived" || event.type === "rejectReceived" ||
      event.type === "rejectSent" || event.type === "misbehaviour" || event.type === "ignored";
    if (logOnly && this.#events.length >= EVENTS_MAX) {
      this.stats.eventsDropped++;
      return;
    }
    this.#events.push(event);
  }

  /** Reports a received `message` line (to log; it is never answered). */
  reportMessage(m: Extract<BitcloneMessage, { type: "message" }>): void {
    this.emit({ type: "messageReceived", code: m.code, summary: m.summary, details: m.details });
  }

  /** Takes the next line to write, or `undefined`. */
  pollTransmit(): Uint8Array | undefined {
    const bytes = this.#out.shift();
    if (bytes !== undefined) this.#outBytes -= bytes.length;
    return bytes;
  }

  /** Takes the next event, or `undefined`. */
  pollEvent(): PeerEvent | undefined {
    return this.#events.shift();
  }
}

/**
 * Sliding-window rate limit: true (and records `now`) when fewer than `max` fell in `windowMs`.
 *
 * @example Two a second
 * ```ts
 * import { allowRate } from "./peer_conn_context.ts";
 * import assert from "node:assert/strict";
 * const times: number[] = [];
 * assert.deepEqual([0, 10, 20, 1_000].map((t) => allowRate(times, t, 1_000, 2)), [true, true, false, true]);
 * ```
 */
export function allowRate(times: Millis[], now: Millis, windowMs: number, max: number): boolean {
  while (times.length > 0 && times[0] <= now - windowMs) times.shift();
  if (times.length >= max) return false;
  times.push(now);
  return true;
}
