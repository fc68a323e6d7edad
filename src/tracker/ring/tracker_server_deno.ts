/**
 * The Part 2 ring tracker on a real TCP port: {@linkcode serveRingTracker} binds, then runs a
 * {@linkcode RingTracker} core through the package's TCP driver until the signal aborts.
 *
 * @module
 */

import { listenTcp } from "../../node/mod.ts";
import { TcpDriver } from "../../net/mod.ts";
import { RingTracker, type RingTrackerEvent, type RingTrackerOptions } from "./tracker.ts";

/**
 * Options of {@linkcode serveRingTracker}: where to listen, plus the core's options.
 */
export interface ServeRingTrackerOptions extends RingTrackerOptions {
  /**
   * The address to bind (the original binds 127.0.0.1).
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The TCP port; 0 picks a free one (see {@linkcode RingTrackerServer.port}).
   *
   * @default {7777}
   */
  port?: number;
  /** Abort to stop: the listener and every connection close. */
  signal?: AbortSignal;
  /** Receives the tracker's events (registrations, drops, bad requests...). */
  onEvent?: (event: RingTrackerEvent) => void;
}

/**
 * A running ring tracker.
 *
 * @example
 * ```ts ignore
 * import { serveRingTracker } from "./tracker_server_deno.ts";
 * const controller = new AbortController();
 * const server = serveRingTracker({ port: 0, signal: controller.signal });
 * console.log(server.port, server.tracker.peers.length);
 * controller.abort();
 * await server.done;
 * ```
 */
export interface RingTrackerServer {
  /** The address it listens on. */
  readonly hostname: string;
  /** The port it listens on. */
  readonly port: number;
  /** The core, for reading its state (`peers`). */
  readonly tracker: RingTracker;
  /** Settles once everything is closed after the abort. */
  readonly done: Promise<void>;
}

/**
 * Starts the ring tracker.
 *
 * @param options Where to listen, timers and limits.
 * @returns The running tracker.
 * @throws {RangeError} When a core option is out of range (nothing is bound then).
 * @throws {ServiceStartError} When the port cannot be bound.
 *
 * @example A tracker on a free port, stopped at once
 * ```ts
 * import { serveRingTracker } from "./tracker_server_deno.ts";
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * const server = serveRingTracker({ port: 0, signal: controller.signal });
 * assert.ok(server.port > 0);
 * controller.abort();
 * await server.done;
 * ```
 */
export function serveRingTracker(options: ServeRingTrackerOptions = {}): RingTrackerServer {
  const { hostname = "127.0.0.1", port = 7777, signal, onEvent, ...coreOptions } = options;
  const tracker = new RingTracker(performance.now(), {
    epochOffsetMs: Date.now() - performance.now(),
    ...coreOptions,
  });
  const listener = listenTcp("tracker", { hostname, port });
  const bound = (listener.addr as Deno.NetAddr).port;
  const { done } = new TcpDriver({
    core: tracker,
    listener,
    signal,
    onProgress: () => {
      for (let e = tracker.pollEvent(); e; e = tracker.pollEvent()) onEvent?.(e);
    },
  });
  return { hostname, port: bound, tracker, done };
}
