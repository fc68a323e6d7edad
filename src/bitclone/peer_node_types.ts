/**
 * The BitClone peer node's own types: its status counters, the saved address book's entries, and
 * the actions of its own besides the stream ones (`save`, `log`). The node core (`PeerNode`)
 * implements the shared stream-core contract of `src/core/` (`StreamCore<PeerNodeOwnAction>`),
 * run by the one TCP driver live and by the simulator's stream host in tests.
 *
 * @module
 */

/** Counters for the one-line status and for tests. */
export interface PeerNodeStatus {
  /** Established inbound connections. */
  inbound: number;
  /** Established outbound connections. */
  outbound: number;
  /** Dials and handshakes under way. */
  pending: number;
  /** Addresses in the address book (new + tried). */
  known: number;
  /** Addresses in the tried table. */
  tried: number;
}

/** One entry of the saved address book (`peers.json` element in object form; see README). */
export interface SavedPeer {
  /** `ip:port` or `[v6]:port`. */
  address: string;
  /** Unix seconds the address was last seen alive (penalised gossip time). */
  lastSeen?: number;
  /** True when an outbound handshake with it completed (tried table). */
  tried?: boolean;
  /** Unix seconds of the last dial attempt. */
  lastTry?: number;
  /** Unix seconds of the last successful outbound handshake. */
  lastSuccess?: number;
  /** Failed dials since the last success. */
  attempts?: number;
  /** Address (or network group) of the peer that told us about it. */
  source?: string;
}

/**
 * The node's own actions, besides the stream ones: the driver's caller carries them out.
 *
 * @example Telling them apart
 * ```ts
 * import type { PeerNodeOwnAction } from "./peer_node_types.ts";
 * import assert from "node:assert/strict";
 * const a: PeerNodeOwnAction = { type: "log", level: "info", message: "hello" };
 * assert.equal(a.type === "log" ? a.message : "", "hello");
 * ```
 */
export type PeerNodeOwnAction =
  /** Save the address book (atomically: temporary file, then rename). */
  | { readonly type: "save"; readonly peers: readonly SavedPeer[] }
  /** Write a log line (the adapter adds the service tag). */
  | {
    readonly type: "log";
    readonly level: "error" | "warn" | "info" | "debug";
    readonly message: string;
    readonly fields?: Readonly<Record<string, unknown>>;
  };
