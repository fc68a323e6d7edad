/**
 * The node's record of one connection (dialing, handshaking, established) beside its `PeerConn`,
 * and how a close reads in the log.
 *
 * @module
 */

import type { ConnId } from "../core/mod.ts";
import type { PeerAddress } from "./address.ts";
import type { AddrEntry } from "./messages.ts";
import type { PeerConn } from "./peer_conn.ts";
import type { PeerCloseReason, PeerRole } from "./peer_conn_types.ts";

/** Per-connection state of the manager. */
export interface Conn {
  readonly key: ConnId;
  readonly role: PeerRole;
  state: "dialing" | "handshaking" | "established";
  readonly openedAt: number;
  dialAddress: PeerAddress | undefined;
  dialDeadline: number | undefined;
  remote: PeerAddress | undefined;
  /** Whether the socket's remote end is on loopback (scope rule, spec §A.4). */
  loopback: boolean;
  /** Our address as this peer can reach it. */
  local: PeerAddress | undefined;
  conn: PeerConn | undefined;
  nonce: string | undefined;
  identity: PeerAddress | undefined;
  identityText: string | undefined;
  establishedAt: number;
  userAgent: string | undefined;
  /** The peer's protocol version, once established. */
  version: number | undefined;
  manual: boolean;
  /** An address refresh: closed once our `getaddr` is answered, never trimmed. */
  refresh: boolean;
  /** Entries queued for this peer's next advertisement (spec §C.6). */
  relay: Map<string, AddrEntry>;
  /** Addresses already sent to this peer (spec §C.6), cleared every 24 h. */
  sent: Set<string>;
  sentSince: number;
  /** The driver has no socket any more: no `close` action. */
  socketGone: boolean;
  /** Set when the socket reset: the close counts as a failure. */
  resetReason: string | undefined;
}

/**
 * A fresh record for a connection opened (or dialed) at `now`.
 *
 * @example A dial
 * ```ts
 * import { newConn } from "./node_conn.ts";
 * import assert from "node:assert/strict";
 * assert.equal(newConn(-1, "outbound", 5).state, "dialing");
 * ```
 */
export function newConn(key: ConnId, role: PeerRole, now: number): Conn {
  return {
    key,
    role,
    state: "dialing",
    openedAt: now,
    dialAddress: undefined,
    dialDeadline: undefined,
    remote: undefined,
    loopback: false,
    local: undefined,
    conn: undefined,
    nonce: undefined,
    identity: undefined,
    identityText: undefined,
    establishedAt: 0,
    userAgent: undefined,
    version: undefined,
    manual: false,
    refresh: false,
    relay: new Map(),
    sent: new Set(),
    sentSince: now,
    socketGone: false,
    resetReason: undefined,
  };
}

/**
 * How a close reads in the log (`reset`: the socket's error, when it failed).
 *
 * @example
 * ```ts
 * import { describeClose } from "./node_conn.ts";
 * import assert from "node:assert/strict";
 * assert.equal(describeClose({ kind: "handshakeTimeout" }, undefined), "handshake timed out");
 * ```
 */
export function describeClose(reason: PeerCloseReason, reset: string | undefined): string {
  switch (reason.kind) {
    case "peerClosed":
      return "closed by the peer";
    case "handshakeTimeout":
      return "handshake timed out";
    case "inactivity":
      return `no line for ${Math.round(reason.silentMs / 1000)} s (inactivity)`;
    case "lineTooLong":
      return `line over the limit (${reason.bytes} bytes)`;
    case "misbehaviour":
      return `misbehaviour (score ${reason.score})`;
    case "strayLines":
      return `${reason.count} lines before the handshake`;
    case "badVersion":
      return "unreadable version";
    case "selfConnection":
      return "connected to ourselves";
    case "busy":
      return `peer busy (reject ${reason.code})`;
    case "sendQueueFull":
      return `peer not reading (${reason.bytes} bytes queued)`;
    case "internalError":
      return `internal error: ${reason.message}`;
    case "local":
      return reset !== undefined ? `connection reset: ${reset}` : reason.note;
  }
}
