/**
 * A Part 2 ring peer on a real TCP port: {@linkcode startRingPeer} binds its server first (the
 * tracker may send UPDATE_NBR right after REGISTER), then runs a {@linkcode RingPeer} core that
 * registers the bound port, through the package's TCP driver, until the signal aborts.
 *
 * @module
 */

import { listenTcp } from "../../node/mod.ts";
import { TcpDriver } from "../../net/mod.ts";
import { RingPeer, type RingPeerEvent, type RingPeerOptions } from "./peer.ts";

/**
 * Options of {@linkcode startRingPeer}: where to listen, plus the core's options.
 */
export interface StartRingPeerOptions extends Omit<RingPeerOptions, "port"> {
  /**
   * The address its server binds (all interfaces: the tracker hands out the source address of
   * the REGISTER connection, which other peers then connect to).
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * The port of its server, also sent in REGISTER; 0 picks a free one.
   *
   * @default {9000}
   */
  port?: number;
  /** Abort to stop: the listener and every connection close. */
  signal?: AbortSignal;
  /** Receives the peer's events (registered, items, complete...). */
  onEvent?: (event: RingPeerEvent) => void;
}

/**
 * A running ring peer.
 *
 * @example
 * ```ts ignore
 * import { startRingPeer } from "./peer_node_deno.ts";
 * const controller = new AbortController();
 * const node = startRingPeer({ handle: "alice", port: 0, signal: controller.signal });
 * console.log(node.port, node.peer.state);
 * ```
 */
export interface RingPeerNode {
  /** The port its server listens on (and registered). */
  readonly port: number;
  /** The core, for reading its state (`neighbour`, `items`, `sentence`). */
  readonly peer: RingPeer;
  /** Settles once everything is closed after the abort. */
  readonly done: Promise<void>;
}

/**
 * Starts a ring peer.
 *
 * @param options Handle, where to listen, the tracker, timers and limits.
 * @returns The running peer.
 * @throws {RangeError} When a core option is out of range (nothing stays bound then).
 * @throws {ServiceStartError} When the port cannot be bound.
 *
 * @example A peer with no tracker, stopped at once
 * ```ts
 * import { startRingPeer } from "./peer_node_deno.ts";
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * const node = startRingPeer({
 *   handle: "alice", hostname: "127.0.0.1", port: 0, trackerPort: 1, signal: controller.signal,
 * });
 * assert.ok(node.port > 0);
 * controller.abort();
 * await node.done;
 * ```
 */
export function startRingPeer(options: StartRingPeerOptions): RingPeerNode {
  const { hostname = "0.0.0.0", port = 9000, signal, onEvent, ...coreOptions } = options;
  const listener = listenTcp("ring-peer", { hostname, port });
  const bound = (listener.addr as Deno.NetAddr).port;
  let peer: RingPeer;
  try {
    peer = new RingPeer(performance.now(), { ...coreOptions, port: bound });
  } catch (err) {
    listener.close();
    throw err;
  }
  const core = peer;
  const { done } = new TcpDriver({
    core,
    listener,
    signal,
    onProgress: () => {
      for (let e = core.pollEvent(); e; e = core.pollEvent()) onEvent?.(e);
    },
  });
  return { port: bound, peer, done };
}
