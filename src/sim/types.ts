/**
 * The shapes a datagram protocol core implements so that a live adapter and the simulator can both
 * drive it. This file holds types only and imports nothing, so protocol cores may import it freely.
 *
 * @module
 */

/**
 * A network address, `"host:port"`. Cores treat it as an opaque key and never parse it.
 *
 * @example An address
 * ```ts
 * import type { Addr } from "./types.ts";
 * const server: Addr = "10.0.0.1:9000";
 * console.assert(server.length > 0);
 * ```
 */
export type Addr = string;

/**
 * Monotonic time in milliseconds: `performance.now()` in a live adapter, virtual in the simulator.
 *
 * @example A deadline
 * ```ts
 * import type { Millis } from "./types.ts";
 * const now: Millis = 1000, deadline: Millis = now + 2000;
 * console.assert(deadline > now);
 * ```
 */
export type Millis = number;

/**
 * One datagram a core wants sent.
 *
 * @example A transmit
 * ```ts
 * import type { Transmit } from "./types.ts";
 * const t: Transmit = { to: "10.0.0.1:9000", bytes: new Uint8Array([1, 2, 3]) };
 * console.assert(t.bytes.length === 3);
 * ```
 */
export interface Transmit {
  /** Where to send the datagram. */
  readonly to: Addr;
  /** The datagram; the core must not modify it after handing it out. */
  readonly bytes: Uint8Array;
}

/**
 * A sans-I/O datagram protocol core (quinn-proto style). The driver (adapter or `SimNet`) feeds it
 * datagrams and ticks, and after every input or command drains `pollTransmit()` until it returns
 * `undefined`. Application events are the core's own business: tests poll them from the core.
 *
 * Contract: `handleDatagram` never throws on bad bytes (it drops and counts them); `handleTick(now)`
 * is a no-op when nothing is due and leaves `nextTimeout()` after `now`; `now` never goes backwards.
 *
 * @example A core that answers every datagram with the same bytes
 * ```ts
 * import type { Addr, DatagramCore, Millis, Transmit } from "./types.ts";
 * class Echo implements DatagramCore {
 *   #out: Transmit[] = [];
 *   handleDatagram(from: Addr, bytes: Uint8Array, _now: Millis): void {
 *     if (this.#out.length < 64) this.#out.push({ to: from, bytes });
 *   }
 *   handleTick(_now: Millis): void {}
 *   pollTransmit(): Transmit | undefined { return this.#out.shift(); }
 *   nextTimeout(): Millis | undefined { return undefined; }
 * }
 * const echo = new Echo();
 * echo.handleDatagram("10.0.0.2:5000", new Uint8Array([7]), 0);
 * console.assert(echo.pollTransmit()?.to === "10.0.0.2:5000");
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
