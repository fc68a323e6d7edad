/**
 * A tiny stop-and-wait protocol implementing {@linkcode DatagramCore}, used to show that `SimNet`
 * drives cores and their timers: the sender retransmits its current message every `retryMs` until
 * acked; the receiver acks every valid message and delivers each once, in order. A checksum drops
 * corrupted datagrams. Not a test file: the tests and the swarm import it.
 *
 * Wire: `[type u8 (1 data, 2 ack)] [seq u32 BE] [fnv1a32 of the other bytes, u32 BE] [payload]`.
 *
 * @module
 */

import type { Addr, DatagramCore, Millis, Transmit } from "../../src/core/mod.ts";

const DATA = 1, ACK = 2, HEADER = 9;
const OUTBOX_MAX = 64;

function fnv1a(bytes: Uint8Array, skipFrom: number, skipTo: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    if (i >= skipFrom && i < skipTo) continue;
    h = Math.imul(h ^ bytes[i], 0x01000193);
  }
  return h >>> 0;
}

/**
 * Encodes one packet.
 *
 * @example Round trip
 * ```ts
 * import { decodePacket, encodePacket } from "./retry_core.ts";
 * const packet = decodePacket(encodePacket(1, 7, Uint8Array.of(42)));
 * console.assert(packet?.seq === 7 && packet.payload[0] === 42);
 * ```
 */
export function encodePacket(type: number, seq: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + payload.length);
  const view = new DataView(out.buffer);
  out[0] = type;
  view.setUint32(1, seq);
  out.set(payload, HEADER);
  view.setUint32(5, fnv1a(out, 5, 9));
  return out;
}

/**
 * Decodes one packet; `undefined` for garbage (never throws).
 *
 * @example Garbage
 * ```ts
 * import { decodePacket } from "./retry_core.ts";
 * console.assert(decodePacket(Uint8Array.of(1, 2, 3)) === undefined);
 * ```
 */
export function decodePacket(
  bytes: Uint8Array,
): { type: number; seq: number; payload: Uint8Array } | undefined {
  if (bytes.length < HEADER) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = bytes[0];
  if (type !== DATA && type !== ACK) return undefined;
  if (view.getUint32(5) !== fnv1a(bytes, 5, 9)) return undefined;
  return { type, seq: view.getUint32(1), payload: bytes.slice(HEADER) };
}

/**
 * Events of {@linkcode RetrySender} and {@linkcode RetryReceiver}.
 *
 * @example An event
 * ```ts
 * import type { RetryEvent } from "./retry_core.ts";
 * const e: RetryEvent = { type: "acked", seq: 0 };
 * console.assert(e.type === "acked");
 * ```
 */
export type RetryEvent =
  | { readonly type: "acked"; readonly seq: number }
  | { readonly type: "message"; readonly seq: number; readonly payload: Uint8Array };

/**
 * Sends `payloads` to `peer` one at a time, retransmitting every `retryMs` until acked.
 *
 * @example Through a lossy SimNet
 * ```ts
 * import { RetryReceiver, RetrySender } from "./retry_core.ts";
 * import { SimNet } from "../../src/sim/net.ts";
 * import { Prng } from "../../src/util/prng.ts";
 * const net = new SimNet({ prng: Prng.seeded(1), defaults: { dropRate: 0.5 } });
 * net.add("10.0.0.1:9000", new RetryReceiver());
 * const sender = net.add("10.0.0.2:5000", new RetrySender("10.0.0.1:9000", [Uint8Array.of(1)], 0));
 * console.assert(net.runWhile(() => !sender.done, { maxTime: 60_000 }) === "done");
 * ```
 */
export class RetrySender implements DatagramCore {
  readonly peer: Addr;
  readonly retryMs: number;
  #payloads: Uint8Array[];
  #next = 0;
  #dueAt: Millis;
  #out: Transmit[] = [];
  #events: RetryEvent[] = [];
  /** Datagrams sent, including retransmissions. */
  transmissions = 0;
  /** Datagrams dropped as garbage. */
  garbage = 0;

  constructor(peer: Addr, payloads: Uint8Array[], now: Millis, retryMs = 100) {
    this.peer = peer;
    this.retryMs = retryMs;
    this.#payloads = payloads;
    this.#dueAt = now;
  }

  get done(): boolean {
    return this.#next >= this.#payloads.length;
  }

  handleDatagram(_from: Addr, bytes: Uint8Array, now: Millis): void {
    const packet = decodePacket(bytes);
    if (packet === undefined || packet.type !== ACK) {
      this.garbage++;
      return;
    }
    if (packet.seq !== this.#next || this.done) return; // stale or duplicate ack
    this.#events.push({ type: "acked", seq: packet.seq });
    this.#next++;
    this.#dueAt = now; // send the next message at once (on the tick due now)
  }

  handleTick(now: Millis): void {
    if (this.done || now < this.#dueAt) return;
    if (this.#out.length < OUTBOX_MAX) {
      this.#out.push({
        to: this.peer,
        bytes: encodePacket(DATA, this.#next, this.#payloads[this.#next]),
      });
      this.transmissions++;
    }
    this.#dueAt = now + this.retryMs;
  }

  pollTransmit(): Transmit | undefined {
    return this.#out.shift();
  }

  pollEvent(): RetryEvent | undefined {
    return this.#events.shift();
  }

  nextTimeout(): Millis | undefined {
    return this.done ? undefined : this.#dueAt;
  }
}

/**
 * Acks every valid data packet and delivers each sequence number once, in order.
 *
 * @example Receiving one packet
 * ```ts
 * import { encodePacket, RetryReceiver } from "./retry_core.ts";
 * const receiver = new RetryReceiver();
 * receiver.handleDatagram("10.0.0.2:5000", encodePacket(1, 0, Uint8Array.of(9)), 0);
 * console.assert(receiver.pollEvent()?.type === "message" && receiver.pollTransmit() !== undefined);
 * ```
 */
export class RetryReceiver implements DatagramCore {
  #expected = 0;
  #out: Transmit[] = [];
  #events: RetryEvent[] = [];
  garbage = 0;

  handleDatagram(from: Addr, bytes: Uint8Array, _now: Millis): void {
    const packet = decodePacket(bytes);
    if (packet === undefined || packet.type !== DATA) {
      this.garbage++;
      return;
    }
    if (packet.seq > this.#expected) return; // cannot happen with stop-and-wait; ignore
    if (packet.seq === this.#expected) {
      this.#events.push({ type: "message", seq: packet.seq, payload: packet.payload });
      this.#expected++;
    }
    if (this.#out.length < OUTBOX_MAX) {
      this.#out.push({ to: from, bytes: encodePacket(ACK, packet.seq, new Uint8Array(0)) });
    }
  }

  handleTick(_now: Millis): void {}

  pollTransmit(): Transmit | undefined {
    return this.#out.shift();
  }

  pollEvent(): RetryEvent | undefined {
    return this.#events.shift();
  }

  nextTimeout(): Millis | undefined {
    return undefined;
  }
}
