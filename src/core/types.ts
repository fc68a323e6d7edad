/**
 * The small value types every protocol core and driver share.
 *
 * @module
 */

/**
 * A network address, `"host:port"` (`"[v6]:port"` for IPv6). Cores treat it as an opaque key and
 * never parse it; drivers turn it into a socket address.
 */
export type Addr = string;

/**
 * Monotonic time in milliseconds from any fixed origin: `performance.now()` in a live driver,
 * virtual in the simulator. See {@linkcode TimeKeeper} for the one policy on time going backwards.
 */
export type Millis = number;

/** One datagram a core wants sent. The core must not modify `bytes` after handing it out. */
export interface Transmit {
  /** Where to send the datagram. */
  readonly to: Addr;
  /** The datagram. */
  readonly bytes: Uint8Array;
}

/** A stream connection's id, chosen by the core and never reused during its life. */
export type ConnId = number;
