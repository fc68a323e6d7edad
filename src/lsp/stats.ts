/**
 * The counters an LSP core keeps ({@linkcode LspStats}) and the reasons it drops datagrams
 * ({@linkcode DROP_REASONS}), shared by an endpoint and all its connections.
 *
 * @module
 */

/**
 * Every reason a received datagram is dropped (or ignored), as counted in
 * {@linkcode LspStats.dropped}.
 *
 * - `oversize`: longer than 1500 bytes.
 * - `malformed`: does not decode (§3.3).
 * - `unknownPeer`: a client got a datagram from someone other than its server.
 * - `noConnection`: no live connection for the source address (a non-Connect message).
 * - `wrongConnId`: the ConnID differs from the connection of the source address.
 * - `duplicateConnect`: a Connect from an address that already has a connection (§6.4).
 * - `refusedConnect`: a Connect while the server shuts down.
 * - `tableFull`: a Connect while the connection table is full.
 * - `notConnected`: a connecting client got something that is not an answer to its Connect.
 * - `negativeSize`, `shortPayload`, `badChecksum`: a Data message failing §5.
 * - `outOfWindow`: a Data message at or beyond the receive window (no Ack), or numbered at or
 *   below the ISN.
 * - `readQueueFull`: a new Data message refused (no Ack) because the connection's delivered but
 *   unread messages reached the read-queue bound (push-back; the sender retransmits it later).
 *
 * @example Listing the reasons
 * ```ts
 * import { DROP_REASONS } from "./stats.ts";
 * import assert from "node:assert/strict";
 * assert.ok(DROP_REASONS.includes("badChecksum"));
 * ```
 */
export const DROP_REASONS = [
  "oversize",
  "malformed",
  "unknownPeer",
  "noConnection",
  "wrongConnId",
  "duplicateConnect",
  "refusedConnect",
  "tableFull",
  "notConnected",
  "negativeSize",
  "shortPayload",
  "badChecksum",
  "outOfWindow",
  "readQueueFull",
] as const;

/**
 * A reason for dropping a datagram; see {@linkcode DROP_REASONS}.
 */
export type LspDropReason = (typeof DROP_REASONS)[number];

/**
 * Counters kept by an LSP core. "Sent" counts messages handed out through `pollTransmit()`.
 */
export interface LspStats {
  /** Datagrams handed to `handleDatagram()`. */
  datagramsReceived: number;
  /** Datagrams handed out by `pollTransmit()` (all types). */
  datagramsSent: number;
  /** Data messages sent for the first time. */
  dataSent: number;
  /** Data retransmissions (epoch backoff schedule). */
  dataRetransmitted: number;
  /** Acks of Data or of a Connect (heartbeats not included). */
  acksSent: number;
  /** Heartbeats, `Ack(connId, 0)`. */
  heartbeatsSent: number;
  /** Connect messages (first attempt and retries). */
  connectsSent: number;
  /** Payloads handed to the application (`message` events). */
  messagesDelivered: number;
  /** Duplicate Data messages re-acknowledged and discarded. */
  duplicatesReceived: number;
  /** Dropped datagrams by reason. */
  dropped: Record<LspDropReason, number>;
}

/**
 * Returns a set of zeroed counters.
 *
 * @returns Fresh counters.
 *
 * @example Fresh counters
 * ```ts
 * import { newLspStats } from "./stats.ts";
 * import assert from "node:assert/strict";
 * assert.equal(newLspStats().datagramsReceived, 0);
 * ```
 */
export function newLspStats(): LspStats {
  const dropped = {} as Record<LspDropReason, number>;
  for (const reason of DROP_REASONS) dropped[reason] = 0;
  return {
    datagramsReceived: 0,
    datagramsSent: 0,
    dataSent: 0,
    dataRetransmitted: 0,
    acksSent: 0,
    heartbeatsSent: 0,
    connectsSent: 0,
    messagesDelivered: 0,
    duplicatesReceived: 0,
    dropped,
  };
}
