/**
 * The BitClone peer node's types: its options, its status counters and connection list, the saved
 * address book's entries, and its actions (the stream ones and its own `save` and `log`). The node core (`PeerNode`)
 * implements the shared stream-core contract of `src/core/` (`StreamCore<PeerNodeOwnAction>`),
 * run by the one TCP driver live and by the simulator's stream host in tests.
 *
 * @module
 */

import type { ConnId, StreamAction } from "../core/mod.ts";
import type { Prng } from "../util/mod.ts";
import type { PeerRole } from "./peer_conn_types.ts";

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

/**
 * Every action of a {@linkcode PeerNode}: the stream actions (a `close` carries its reason, for
 * logs and tests) and the node's own `save` and `log`.
 */
export type PeerNodeAction =
  | Exclude<StreamAction, { type: "close" }>
  | { readonly type: "close"; readonly conn: ConnId; readonly reason: string }
  | PeerNodeOwnAction;

/**
 * Options for {@linkcode PeerNode}. Timer options are milliseconds; tests shrink them.
 */
export interface PeerNodeOptions {
  /** Randomness: address-book key, nonces, peer choice, jitter. */
  prng: Prng;
  /** Monotonic ms at start. */
  now: number;
  /**
   * The TCP port we listen on (sent in `version` and advertised).
   *
   * @default {8333}
   */
  listenPort?: number;
  /**
   * An external IP to advertise instead of each socket's local IP.
   *
   * @default {undefined}
   */
  externalIp?: string;
  /**
   * Our user agent (≤ 256 bytes, no `|`, CR or LF).
   *
   * @default {"bitclone-ts"}
   */
  userAgent?: string;
  /**
   * Unix ms minus `now` (live: `Date.now() - performance.now()`).
   *
   * @default {0}
   */
  unixMillisOffset?: number;
  /**
   * Command-line peers (`ip:port`, `[v6]:port` or bare IPv6): dialed first, never evicted.
   * Unreadable ones are logged and skipped.
   *
   * @default {[]}
   */
  manualPeers?: readonly string[];
  /**
   * The saved address book (`peers.json`, parsed with `parsePeersFile`).
   *
   * @default {[]}
   */
  savedPeers?: readonly SavedPeer[];
  /**
   * Established connections to keep (inbound and outbound both count).
   *
   * @default {5}
   */
  targetPeers?: number;
  /**
   * Established outbound connections to keep at least.
   *
   * @default {2}
   */
  minOutbound?: number;
  /**
   * Connections in any state, at most.
   *
   * @default {12}
   */
  maxConnections?: number;
  /**
   * Inbound connections in any state, at most (beyond: evict or refuse, spec §C.9).
   *
   * @default {maxConnections - minOutbound}
   */
  maxInbound?: number;
  /**
   * Outbound dials and handshakes under way, at most.
   *
   * @default {3}
   */
  maxPendingDials?: number;
  /**
   * The `timeoutMs` of `dial` actions (the core gives up 1 s later itself).
   *
   * @default {5_000}
   */
  connectTimeoutMs?: number;
  /**
   * A connection not established this long after it opened is closed.
   *
   * @default {30_000}
   */
  handshakeTimeoutMs?: number;
  /**
   * Ping period on established connections.
   *
   * @default {30_000}
   */
  pingIntervalMs?: number;
  /**
   * An established connection silent this long is closed and its address marked dropped.
   *
   * @default {90_000}
   */
  inactivityTimeoutMs?: number;
  /**
   * Period of the `addr` advertisement on each established connection.
   *
   * @default {30_000}
   */
  advertiseIntervalMs?: number;
  /**
   * As listener, the pause between our `verack` and our `version` (see `PeerConnOptions`).
   *
   * @default {50}
   */
  versionReplyDelayMs?: number;
  /**
   * How often to look for someone to dial while below target.
   *
   * @default {1_000}
   */
  dialCheckIntervalMs?: number;
  /**
   * How often to emit `save` when the address book changed.
   *
   * @default {60_000}
   */
  saveIntervalMs?: number;
  /**
   * How often to log the status line (`Infinity`: never).
   *
   * @default {60_000}
   */
  statusIntervalMs?: number;
  /**
   * Back-off after the first failure; doubles with each further one.
   *
   * @default {30_000}
   */
  backoffBaseMs?: number;
  /**
   * The longest back-off.
   *
   * @default {600_000}
   */
  backoffMaxMs?: number;
  /**
   * The longest back-off of a manual peer (busy included).
   *
   * @default {60_000}
   */
  manualBackoffMaxMs?: number;
  /**
   * The pause after a busy (5xx) reject before the handshake.
   *
   * @default {300_000}
   */
  busyBackoffMs?: number;
  /**
   * The pause before redialing an address whose established connection ended.
   *
   * @default {10_000}
   */
  reconnectDelayMs?: number;
  /**
   * How long a misbehaving peer stays discouraged (memory only).
   *
   * @default {86_400_000}
   */
  discourageMs?: number;
  /**
   * How long more than `targetPeers` connections may stay established before the surplus is
   * closed (spec §A.8.1).
   *
   * @default {60_000}
   */
  trimDelayMs?: number;
  /**
   * Period of the address refresh (see `peer_node.ts`'s module doc; `Infinity` turns it off).
   *
   * @default {120_000}
   */
  refreshIntervalMs?: number;
  /**
   * The address book's 32-byte secret key (tests fix it).
   *
   * @default {prng.bytes(32)}
   */
  addressBookKey?: Uint8Array;
}

/**
 * One connection as {@linkcode PeerNode.connections} lists it.
 */
export interface PeerNodeConnection {
  /** The connection's key. */
  readonly key: ConnId;
  /** Who dialed. */
  readonly direction: PeerRole;
  /** `dialing` (TCP connect under way), `handshaking` or `established`. */
  readonly state: "dialing" | "handshaking" | "established";
  /** The peer's identity (spec §A.8.4) as text, when known. */
  readonly address: string | undefined;
  /** The socket's remote end (inbound: the peer's ephemeral port), when known. */
  readonly remote: string | undefined;
  /** The peer's user agent, once established. */
  readonly userAgent: string | undefined;
  /** The peer's protocol version (3, or 4 with Part B), once established. */
  readonly version: number | undefined;
  /** When the connection was opened or dialed (ms). */
  readonly since: number;
  /** Whether the peer is a manual peer. */
  readonly manual: boolean;
}
