/**
 * The receiving side of one LSP connection (spec §5, §10): the Data checks (Size, payload
 * length, checksum), the receive window, Acks on arrival and in-order delivery. Pure: the
 * owning {@linkcode Conn} (`conn.ts`) routes Data to it and turns deliveries into events.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { checksum } from "./checksum.ts";
import type { LspStats } from "./stats.ts";
import type { LspMessage } from "./wire.ts";

const EMPTY = new Uint8Array(0);

/**
 * Applies §5 steps 3–6 to a Data message: negative Size and short payloads are dropped, long
 * payloads truncated to Size, and the checksum verified over what remains.
 *
 * @param msg A Data message.
 * @param stats Counters for the drop reasons, or `undefined` not to count.
 * @returns The payload (`null` for a valid Data whose payload was the JSON `null`, which is then
 * empty), or `undefined` when the message fails.
 *
 * @example A short payload fails
 * ```ts
 * import { acceptData } from "./receiver.ts";
 * import { newLspStats } from "./stats.ts";
 * import { dataMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const stats = newLspStats();
 * const msg = { ...dataMessage(1, 1, Uint8Array.of(1, 2)), size: 3 };
 * assert.equal(acceptData(msg, stats), undefined);
 * assert.equal(stats.dropped.shortPayload, 1);
 * assert.deepEqual(acceptData(dataMessage(1, 1, Uint8Array.of(7)), stats), Uint8Array.of(7));
 * ```
 */
export function acceptData(
  msg: LspMessage,
  stats: LspStats | undefined,
): Uint8Array | null | undefined {
  if (msg.size < 0) {
    if (stats) stats.dropped.negativeSize++;
    return undefined;
  }
  if (msg.payload === null && msg.size === 0) {
    if (checksum(msg.connId, msg.seqNum, 0, EMPTY) === msg.checksum) return null;
    if (stats) stats.dropped.badChecksum++;
    return undefined;
  }
  const bytes = msg.payload ?? EMPTY;
  if (bytes.length < msg.size) {
    if (stats) stats.dropped.shortPayload++;
    return undefined;
  }
  const payload = bytes.length > msg.size ? bytes.subarray(0, msg.size) : bytes;
  if (checksum(msg.connId, msg.seqNum, msg.size, payload) !== msg.checksum) {
    if (stats) stats.dropped.badChecksum++;
    return undefined;
  }
  return payload;
}

/**
 * A windowed receiver. Data within the window (`isn < seq < expected + ω`) is Acked on arrival
 * (`ack`) and buffered; earlier duplicates are re-Acked and discarded; later ones are dropped
 * unacknowledged. Payloads go to `deliver` in SeqNum order.
 *
 * A read credit (push-back from a bounded read queue) narrows the window further: new Data is
 * taken only while `seq < expected + min(ω, credit)`; each delivery uses one credit and
 * {@linkcode Receiver.addCredit} gives it back. Refused Data is dropped without an Ack (counted
 * as `readQueueFull`), so the sender keeps and retransmits it, as under loss; duplicates of Data
 * already taken are still re-Acked. Buffered plus delivered-and-unread messages never exceed the
 * credit given.
 *
 * @example Out of order in, in order out
 * ```ts
 * import { Receiver } from "./receiver.ts";
 * import { newLspStats } from "./stats.ts";
 * import { dataMessage } from "./wire.ts";
 * import assert from "node:assert/strict";
 * const acks: number[] = [];
 * const got: number[] = [];
 * const receiver = new Receiver(0, 4, newLspStats(), (sn) => acks.push(sn), (p) => got.push(p![0]));
 * receiver.receive(dataMessage(1, 2, Uint8Array.of(2)));
 * receiver.receive(dataMessage(1, 1, Uint8Array.of(1)));
 * assert.deepEqual(acks, [2, 1]);
 * assert.deepEqual(got, [1, 2]);
 * assert.equal(receiver.expected, 3);
 * ```
 */
export class Receiver {
  readonly #isn: number;
  readonly #windowSize: number;
  readonly #stats: LspStats;
  readonly #ack: (sn: number) => void;
  readonly #deliver: (payload: Uint8Array | null) => void;

  #expected: number; // smallest SeqNum not yet received
  // Deliveries still allowed (Infinity: unbounded). Invariant: every pending SeqNum is below
  // #expected + #credit, so the buffered and delivered messages fit in the credit.
  #credit: number;
  // Received ahead of #expected, < ω entries; null for a Data whose payload was the JSON null.
  readonly #pending = new Map<number, Uint8Array | null>();

  /**
   * Makes a receiver expecting `isn + 1`.
   *
   * @param isn The connection's initial sequence number.
   * @param windowSize The receive window ω.
   * @param stats Counters (Acks, duplicates, drops).
   * @param ack Called with the SeqNum of each Data to acknowledge.
   * @param deliver Called with each payload in order (`null` for a JSON-null payload).
   * @param credit How many messages may be delivered before {@linkcode Receiver.addCredit} is
   * called: a non-negative integer, or `Infinity` (the default) for no bound.
   */
  constructor(
    isn: number,
    windowSize: number,
    stats: LspStats,
    ack: (sn: number) => void,
    deliver: (payload: Uint8Array | null) => void,
    credit = Infinity,
  ) {
    assert(credit === Infinity || (Number.isSafeInteger(credit) && credit >= 0), "bad credit");
    this.#credit = credit;
    this.#isn = isn;
    this.#windowSize = windowSize;
    this.#stats = stats;
    this.#ack = ack;
    this.#deliver = deliver;
    this.#expected = isn + 1;
  }

  /** The smallest incoming SeqNum not yet received. */
  get expected(): number {
    return this.#expected;
  }

  /** Deliveries still allowed before new Data is refused (`Infinity` when unbounded). */
  get credit(): number {
    return this.#credit;
  }

  /**
   * Gives back read credit: the application read `n` delivered messages (or `Infinity`: lift the
   * bound for good, e.g. once the connection closes locally). New Data is taken again from now
   * on; nothing is sent: the peer's retransmissions bring the refused Data back.
   *
   * @param n A positive integer, or `Infinity`.
   *
   * @example Push-back and resume
   * ```ts
   * import { Receiver } from "./receiver.ts";
   * import { newLspStats } from "./stats.ts";
   * import { dataMessage } from "./wire.ts";
   * import assert from "node:assert/strict";
   * const acks: number[] = [];
   * const stats = newLspStats();
   * const receiver = new Receiver(0, 4, stats, (sn) => acks.push(sn), () => {}, 1);
   * receiver.receive(dataMessage(1, 1, Uint8Array.of(1)));
   * receiver.receive(dataMessage(1, 2, Uint8Array.of(2))); // refused: credit used up
   * receiver.receive(dataMessage(1, 1, Uint8Array.of(1))); // duplicate: re-Acked
   * assert.deepEqual(acks, [1, 1]);
   * assert.equal(stats.dropped.readQueueFull, 1);
   * receiver.addCredit(1);
   * receiver.receive(dataMessage(1, 2, Uint8Array.of(2)));
   * assert.equal(receiver.expected, 3);
   * ```
   */
  addCredit(n: number): void {
    assert(n === Infinity || (Number.isSafeInteger(n) && n > 0), "bad credit");
    this.#credit += n;
  }

  /**
   * Takes a Data message with the connection's ConnID.
   *
   * @param msg The Data message.
   */
  receive(msg: LspMessage): void {
    const payload = acceptData(msg, this.#stats);
    if (payload === undefined) return;
    const sn = msg.seqNum;
    if (sn <= this.#isn || sn >= this.#expected + this.#windowSize) {
      this.#stats.dropped.outOfWindow++; // never numbered so, or beyond the window: no Ack
      return;
    }
    if (sn < this.#expected || this.#pending.has(sn)) {
      this.#ack(sn); // re-Ack repairs a lost Ack; the data is old
      this.#stats.duplicatesReceived++;
      return;
    }
    if (sn >= this.#expected + this.#credit) {
      this.#stats.dropped.readQueueFull++; // push-back: no Ack, the sender retransmits later
      return;
    }
    this.#ack(sn);
    this.#pending.set(sn, payload);
    assert(this.#pending.size <= this.#windowSize, "receive buffer over the window");
    for (
      let p = this.#pending.get(this.#expected);
      p !== undefined;
      p = this.#pending.get(this.#expected)
    ) {
      this.#pending.delete(this.#expected);
      this.#expected++;
      this.#credit--;
      this.#deliver(p);
    }
  }

  /** Forgets the buffered out-of-order Data. */
  clear(): void {
    this.#pending.clear();
  }
}
