/**
 * The sending side of one LSP connection (spec §9, §11.1): the unbounded queue of written
 * messages, the sliding window with its cap on unacknowledged messages, and each in-flight
 * message's exponential retransmission backoff. Pure: the owning {@linkcode Conn} (`conn.ts`)
 * runs it on its epochs and hands its messages out.
 *
 * @module
 */

import type { LspStats } from "./stats.ts";
import type { LspParams } from "./params.ts";
import { encodedLength, type LspMessage } from "./wire.ts";
import { OutputQueue } from "../core/mod.ts";

/** The queues' bound: far beyond any window, so only a runaway bug could reach it. */
const QUEUE_CAPACITY = 2 ** 30;

/** A transmitted, not yet acknowledged Data message and its backoff state (§11.1). */
interface InFlight {
  readonly msg: LspMessage;
  /** Epochs to skip before the next retransmission. */
  backoff: number;
  /** Ticks since the last transmission. */
  idle: number;
  /** Its datagram's length (counted against `maxInflightBytes`). */
  readonly bytes: number;
}

/**
 * Checks an in-flight byte bound: a positive safe integer or `Infinity`.
 *
 * @param max The bound.
 * @returns The bound.
 * @throws {RangeError} Otherwise.
 *
 * @example
 * ```ts
 * import { checkMaxInflightBytes } from "./sender.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkMaxInflightBytes(Infinity), Infinity);
 * assert.throws(() => checkMaxInflightBytes(0), RangeError);
 * ```
 */
export function checkMaxInflightBytes(max: number): number {
  if (max !== Infinity && (!Number.isSafeInteger(max) || max < 1)) {
    throw new RangeError(
      `Cannot use LSP options: maxInflightBytes is ${max}, expected a positive integer`,
    );
  }
  return max;
}

/**
 * A sliding-window sender. Data goes out the moment the window (`seq ≤ base + ω − 1`) and the
 * unacked cap (`M`) allow it, and, when a `maxInflightBytes` bound is given, while the datagrams
 * in flight stay within it (a local limit below ω and M; one message may always be in flight);
 * in-flight messages are retransmitted per message after 0, 1, 2, 4, … idle epochs, capped at B.
 * Every message it transmits goes to the `send` callback.
 *
 * @example A window of one: the second message waits for the first one's Ack
 * ```ts
 * import { Sender } from "./sender.ts";
 * import { newLspStats } from "./stats.ts";
 * import { lspParams } from "./params.ts";
 * import { dataMessage, type LspMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const sent: LspMessage[] = [];
 * const sender = new Sender(lspParams({ windowSize: 1 }), 0, newLspStats(), (m) => sent.push(m));
 * sender.enqueue(dataMessage(1, 1, Uint8Array.of(1)));
 * sender.enqueue(dataMessage(1, 2, Uint8Array.of(2)));
 * assert.equal(sender.pump(), true);
 * assert.deepEqual(sent.map((m) => m.seqNum), [1]);
 * assert.equal(sender.ack(1), true);
 * sender.pump();
 * assert.deepEqual(sent.map((m) => m.seqNum), [1, 2]);
 * assert.equal(sender.retransmitDue(), true); // idle 1 > backoff 0
 * assert.deepEqual(sent.map((m) => m.seqNum), [1, 2, 2]);
 * ```
 */
export class Sender {
  readonly #params: LspParams;
  readonly #stats: LspStats;
  readonly #send: (msg: LspMessage) => void;

  #nextSeq: number; // number of the next write()
  readonly #queue = new OutputQueue<LspMessage>({ capacity: QUEUE_CAPACITY }); // written, not yet transmitted (unbounded, FIFO)
  readonly #inflight = new Map<number, InFlight>(); // transmitted, unacked; ascending insertion
  #base: number; // oldest unacked transmitted SeqNum, else the next to transmit
  readonly #maxInflightBytes: number;
  #inflightBytes = 0; // datagram bytes of the in-flight messages

  /**
   * Makes an empty sender whose first message is numbered `isn + 1`.
   *
   * @param params The validated parameters (window, unacked cap, backoff cap).
   * @param isn The connection's initial sequence number.
   * @param stats Counters (`dataSent`, `dataRetransmitted`).
   * @param send Where transmitted Data messages go.
   * @param maxInflightBytes Most datagram bytes of Data in flight (`Infinity`: ω and M alone
   * limit it).
   * @throws {RangeError} When `maxInflightBytes` is not a positive integer or `Infinity`.
   */
  constructor(
    params: LspParams,
    isn: number,
    stats: LspStats,
    send: (msg: LspMessage) => void,
    maxInflightBytes = Infinity,
  ) {
    this.#maxInflightBytes = checkMaxInflightBytes(maxInflightBytes);
    this.#params = params;
    this.#stats = stats;
    this.#send = send;
    this.#nextSeq = isn + 1;
    this.#base = isn + 1;
  }

  /** The SeqNum the next written message gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Written messages not yet acknowledged (queued plus in flight). */
  get pendingCount(): number {
    return this.#queue.length + this.#inflight.size;
  }

  /** Written messages not yet transmitted. */
  get queuedCount(): number {
    return this.#queue.length;
  }

  /** Transmitted messages not yet acknowledged. */
  get inflightCount(): number {
    return this.#inflight.size;
  }

  /**
   * Queues a Data message numbered {@linkcode Sender.nextSeq} (the caller built it so).
   *
   * @param msg The Data message.
   */
  enqueue(msg: LspMessage): void {
    this.#nextSeq++;
    this.#queue.push(msg);
  }

  /**
   * Transmits queued messages while `seq ≤ base + ω − 1` and fewer than M are in flight.
   *
   * @returns Whether any new Data went out.
   */
  pump(): boolean {
    const { windowSize, maxUnackedMessages } = this.#params;
    let sent = false;
    for (let m = this.#queue.peek(); m !== undefined; m = this.#queue.peek()) {
      if (m.seqNum > this.#base + windowSize - 1 || this.#inflight.size >= maxUnackedMessages) {
        break;
      }
      const bytes = this.#maxInflightBytes === Infinity ? 0 : encodedLength(m);
      if (this.#inflight.size > 0 && this.#inflightBytes + bytes > this.#maxInflightBytes) break;
      this.#queue.shift();
      this.#inflightBytes += bytes;
      this.#inflight.set(m.seqNum, { msg: m, backoff: 0, idle: 0, bytes });
      this.#send(m);
      this.#stats.dataSent++;
      sent = true;
    }
    return sent;
  }

  /**
   * One epoch of the backoff schedule: retransmits, in SeqNum order, every in-flight message
   * whose idle epochs exceed its backoff, and doubles that backoff (0, 1, 2, 4, …, capped at B).
   *
   * @returns Whether anything was retransmitted.
   */
  retransmitDue(): boolean {
    const cap = this.#params.maxBackOffInterval;
    let retransmitted = false;
    for (const entry of this.#inflight.values()) { // insertion order = ascending SeqNum
      entry.idle++;
      if (entry.idle > entry.backoff) {
        this.#send(entry.msg);
        this.#stats.dataRetransmitted++;
        retransmitted = true;
        entry.idle = 0;
        entry.backoff = Math.min(entry.backoff === 0 ? 1 : 2 * entry.backoff, cap);
      }
    }
    return retransmitted;
  }

  /**
   * Takes an Ack: removes that message from the flight and slides the window base.
   *
   * @param sn The acknowledged SeqNum.
   * @returns Whether it was in flight (else it is a heartbeat, or stale).
   */
  ack(sn: number): boolean {
    const entry = this.#inflight.get(sn);
    if (entry === undefined) return false;
    this.#inflight.delete(sn);
    this.#inflightBytes -= entry.bytes;
    this.#slide();
    return true;
  }

  /**
   * Takes a cumulative Ack: removes every in-flight message numbered `sn` or lower.
   *
   * @param sn The highest acknowledged SeqNum.
   * @returns Whether anything was in flight at or below `sn`.
   */
  cack(sn: number): boolean {
    let removed = false;
    for (const [seq, entry] of this.#inflight) {
      if (seq > sn) continue;
      this.#inflight.delete(seq);
      this.#inflightBytes -= entry.bytes;
      removed = true;
    }
    if (removed) this.#slide();
    return removed;
  }

  /** Forgets every queued and in-flight message. */
  clear(): void {
    this.#queue.clear();
    this.#inflight.clear();
    this.#inflightBytes = 0;
  }

  #slide(): void {
    const nextToSend = this.#nextSeq - this.#queue.length;
    while (this.#base < nextToSend && !this.#inflight.has(this.#base)) this.#base++;
  }
}
