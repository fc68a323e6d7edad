/**
 * The contract of a sans-I/O datagram protocol core (quinn-proto style), run alike by the one UDP
 * driver (`src/net/udp_driver.ts`) and by the simulator's datagram network (`src/sim/net.ts`).
 *
 * @module
 */

import type { Addr, Millis, Transmit } from "./types.ts";

/**
 * A sans-I/O datagram protocol core. The driver feeds it datagrams and ticks and, after every input
 * or command, drains `pollTransmit()` until it returns `undefined`, then re-arms its one timer at
 * `nextTimeout()`. A core's application events are its own (see {@linkcode EventSource}).
 *
 * Contract: `handleDatagram` never throws on bad bytes (it drops and counts them);
 * `handleTick(now)` is a no-op when nothing is due and leaves `nextTimeout()` after `now`; time
 * follows the policy of {@linkcode TimeKeeper}.
 *
 * @example A core that answers every datagram with the same bytes
 * ```ts
 * import type { DatagramCore } from "./datagram_core.ts";
 * import type { Addr, Millis, Transmit } from "./types.ts";
 * import { OutputQueue } from "./output_queue.ts";
 * import assert from "node:assert/strict";
 * class Echo implements DatagramCore {
 *   #out = new OutputQueue<Transmit>({ capacity: 64 });
 *   handleDatagram(from: Addr, bytes: Uint8Array, _now: Millis): void {
 *     this.#out.push({ to: from, bytes });
 *   }
 *   handleTick(_now: Millis): void {}
 *   pollTransmit(): Transmit | undefined {
 *     return this.#out.shift();
 *   }
 *   nextTimeout(): Millis | undefined {
 *     return undefined;
 *   }
 * }
 * const echo = new Echo();
 * echo.handleDatagram("10.0.0.2:5000", new Uint8Array([7]), 0);
 * assert.equal(echo.pollTransmit()?.to, "10.0.0.2:5000");
 * assert.equal(echo.pollTransmit(), undefined);
 * ```
 */
export interface DatagramCore {
  /** Feeds one received datagram in. */
  handleDatagram(from: Addr, bytes: Uint8Array, now: Millis): void;
  /** Runs timer work due at `now`; a no-op when nothing is due. */
  handleTick(now: Millis): void;
  /** Takes the next datagram to send, or `undefined` when there is none. */
  pollTransmit(): Transmit | undefined;
  /** When `handleTick()` is next due, or `undefined` when no timer is armed. */
  nextTimeout(): Millis | undefined;
}

/**
 * A core that reports application events, drained after its transmits or actions.
 *
 * @typeParam E The core's event type.
 */
export interface EventSource<E> {
  /** Takes the next event, or `undefined` when there is none. */
  pollEvent(): E | undefined;
}
