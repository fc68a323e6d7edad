/**
 * The contract between the BitClone peer's sans-I/O node core (`PeerNode`: connection manager,
 * address book, handshake and gossip over many `PeerConn`s) and its Deno TCP adapter. The adapter
 * owns sockets, timers, the clock and the file system; the core owns every decision.
 *
 * Protocol flow for one connection, as the adapter sees it:
 * - outbound: the core emits `dial` → the adapter connects (honouring `timeoutMs`) and calls
 *   `handleDialed(key)` or `handleDialFailed(key, reason)`;
 * - inbound: the adapter accepts and calls `handleInbound(key, remote, local)`;
 * - then `handleData(key, bytes)` for every chunk read, `handleEof(key)` at end of stream,
 *   `handleReset(key)` when the socket errors; the core emits `send` and finally `close`; after
 *   `close` the adapter flushes what was sent, closes the socket and never calls in for that key.
 *
 * After every input, the adapter drains `pollAction()` until `undefined` and re-arms one timer at
 * `nextTimeout()`, calling `handleTick(now)` when it fires. Time is monotonic milliseconds
 * (`performance.now()` live, virtual in the simulator); wall-clock time for protocol timestamps is
 * `now + unixMillisOffset`.
 *
 * @module
 */

/** An adapter-chosen id for one TCP connection (unique for the node's lifetime). */
export type ConnKey = number;

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

/** What the core asks the adapter to do. */
export type PeerNodeAction =
  /** Open a TCP connection to `address` (`host:port`); give up after `timeoutMs`. */
  | {
    readonly type: "dial";
    readonly key: ConnKey;
    readonly address: string;
    readonly timeoutMs: number;
  }
  /** Write these bytes (one or more CRLF-terminated lines) to the connection, in order. */
  | { readonly type: "send"; readonly key: ConnKey; readonly bytes: Uint8Array }
  /** Flush what was sent, then close the connection; `reason` is for the log. */
  | { readonly type: "close"; readonly key: ConnKey; readonly reason: string }
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
 * The node core's surface, implemented by `PeerNode` in `peer_node.ts`.
 *
 * @example Driving a core by hand
 * ```ts ignore
 * import type { PeerNodeCore } from "./peer_node_types.ts";
 * declare const core: PeerNodeCore;
 * core.handleInbound(1, "10.0.0.2:50312", "10.0.0.1:8333", 0);
 * for (let a = core.pollAction(); a; a = core.pollAction()) console.log(a.type);
 * ```
 */
export interface PeerNodeCore {
  /** An inbound TCP connection was accepted (`remote` and `local` are `ip:port`). */
  handleInbound(key: ConnKey, remote: string, local: string, now: number): void;
  /** A `dial` action connected; `local` is our side's `ip:port`. */
  handleDialed(key: ConnKey, local: string, now: number): void;
  /** A `dial` action failed (refused, unreachable, timed out). */
  handleDialFailed(key: ConnKey, reason: string, now: number): void;
  /** Bytes arrived on a connection. */
  handleData(key: ConnKey, bytes: Uint8Array, now: number): void;
  /** The peer closed its side of the connection. */
  handleEof(key: ConnKey, now: number): void;
  /** The connection failed (reset, write error); the adapter has closed the socket. */
  handleReset(key: ConnKey, reason: string, now: number): void;
  /** Timer work: dialing, pings, timeouts, periodic saves and status lines. */
  handleTick(now: number): void;
  /** Begins a clean stop: closes every connection and emits a final `save`. */
  shutdown(now: number): void;
  /** The next action, or `undefined` when there is none. */
  pollAction(): PeerNodeAction | undefined;
  /** When `handleTick` is next due, or `undefined`. */
  nextTimeout(): number | undefined;
  /** Connection and address counts. */
  status(): PeerNodeStatus;
}
