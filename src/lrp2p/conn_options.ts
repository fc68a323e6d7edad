/**
 * The options of one LRP2P connection (`conn.ts`): its keys, timers and buffers.
 *
 * @module
 */

import type { Addr, Millis } from "../core/mod.ts";
import type { KeyPair } from "./noise.ts";
import type { Aead } from "./transport.ts";

/** Timers and limits of a connection (spec §8.1, §8.4). */
export interface ConnTimings {
  /** First resend of message 1 or 2. @default {1000} */
  handshakeRetryMs: number;
  /** Sends of message 1 before `connect` fails. @default {5} */
  hello1Sends: number;
  /** A half-open responder is dropped after this. @default {30000} */
  halfOpenMs: number;
  /** Gap before the second copy of message 3. @default {5} */
  message3RepeatMs: number;
  /** Wait after message 3 before the first data. @default {20} */
  firstDataDelayMs: number;
  /** Keepalive after this long without sending. @default {15000} */
  keepaliveMs: number;
  /** Close with an error after this long without an authenticated datagram. @default {60000} */
  idleMs: number;
  /** Give up a graceful close after this. @default {10000} */
  closeMs: number;
  /**
   * After the close, keep acknowledging the peer's retransmissions (its ACKs lost) until it has
   * been quiet this long. @default {10000}
   */
  lingerMs: number;
}

/**
 * The defaults of {@linkcode ConnTimings}.
 *
 * @example
 * ```ts
 * import { DEFAULT_TIMINGS } from "./conn_options.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_TIMINGS.idleMs, 60_000);
 * assert.equal(DEFAULT_TIMINGS.hello1Sends, 5);
 * ```
 */
export const DEFAULT_TIMINGS: ConnTimings = {
  handshakeRetryMs: 1000,
  hello1Sends: 5,
  halfOpenMs: 30_000,
  message3RepeatMs: 5,
  firstDataDelayMs: 20,
  keepaliveMs: 15_000,
  idleMs: 60_000,
  closeMs: 10_000,
  lingerMs: 10_000,
};

/** Options of a connection. */
export interface ConnOptions {
  connId: bigint;
  remote: Addr;
  staticKey: KeyPair;
  ephemeralKey: KeyPair;
  now: Millis;
  timings: ConnTimings;
  /** Decides whether the peer's static key is accepted (undefined: any). */
  verifyRemote?: (remoteStatic: Uint8Array) => boolean;
  /** Bytes the send buffer holds. */
  sendBufferBytes?: number;
  /** Bytes the receive buffer holds. */
  receiveBufferBytes?: number;
  /** The ChaCha20-Poly1305 implementation. @default {nobleAead} */
  aead?: Aead;
  /**
   * Makes the arrays sealed datagrams are written into (the endpoint's `Slab`). @default {new
   * Uint8Array}
   */
  alloc?: (n: number) => Uint8Array;
  /** Random bytes (the jitter of message 1 resends); without it there is none. */
  random?: (n: number) => Uint8Array;
}
