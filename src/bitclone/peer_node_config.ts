/**
 * The peer node's options, checked and with their defaults filled in (see `PeerNodeOptions` for
 * what each one means).
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import { parseIp } from "./address.ts";
import type { PeerNodeOptions, SavedPeer } from "./peer_node_types.ts";
import { checkTime as checkTimeIn } from "../util/mod.ts";

/** Every option of a node, defaults filled in and checked. */
export interface NodeConfig {
  readonly prng: Prng;
  readonly now: number;
  readonly listenPort: number;
  /** The external IP in canonical form, or `undefined`. */
  readonly externalIp: string | undefined;
  readonly userAgent: string;
  readonly unixMillisOffset: number;
  readonly manualPeers: readonly string[];
  readonly savedPeers: readonly SavedPeer[];
  readonly targetPeers: number;
  readonly minOutbound: number;
  readonly maxConnections: number;
  readonly maxInbound: number;
  readonly maxPendingDials: number;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly inactivityTimeoutMs: number;
  readonly advertiseIntervalMs: number;
  readonly versionReplyDelayMs: number;
  readonly dialCheckIntervalMs: number;
  readonly saveIntervalMs: number;
  readonly statusIntervalMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly manualBackoffMaxMs: number;
  readonly busyBackoffMs: number;
  readonly reconnectDelayMs: number;
  readonly discourageMs: number;
  readonly trimDelayMs: number;
  readonly refreshIntervalMs: number;
  readonly addressBookKey: Uint8Array | undefined;
}

/**
 * Checks a node's options and fills in the defaults.
 *
 * @throws {TypeError} When `prng` is missing or `externalIp` is not an IP.
 * @throws {RangeError} When a number option is out of range.
 * @example The defaults
 * ```ts
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const cfg = nodeConfig({ prng: Prng.seeded(1), now: 0 });
 * assert.equal(cfg.targetPeers, 5);
 * assert.equal(cfg.maxInbound, 10);
 * assert.throws(() => nodeConfig({ prng: Prng.seeded(1), now: 0, listenPort: 0 }), RangeError);
 * ```
 */
export function nodeConfig(options: PeerNodeOptions): NodeConfig {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot create the node: options are missing");
  }
  const {
    prng,
    now,
    listenPort = 8333,
    externalIp,
    userAgent = "bitclone-ts",
    unixMillisOffset = 0,
    manualPeers = [],
    savedPeers = [],
    targetPeers = 5,
    minOutbound = 2,
    maxConnections = 12,
    maxPendingDials = 3,
    connectTimeoutMs = 5_000,
    handshakeTimeoutMs = 30_000,
    pingIntervalMs = 30_000,
    inactivityTimeoutMs = 90_000,
    advertiseIntervalMs = 30_000,
    versionReplyDelayMs = 50,
    dialCheckIntervalMs = 1_000,
    saveIntervalMs = 60_000,
    statusIntervalMs = 60_000,
    backoffBaseMs = 30_000,
    backoffMaxMs = 600_000,
    manualBackoffMaxMs = 60_000,
    busyBackoffMs = 300_000,
    reconnectDelayMs = 10_000,
    discourageMs = 86_400_000,
    trimDelayMs = 60_000,
    refreshIntervalMs = 120_000,
    addressBookKey,
  } = options;
  const maxInbound = options.maxInbound ?? Math.max(1, maxConnections - minOutbound);
  if (prng === undefined || typeof prng.u32 !== "function") {
    throw new TypeError("Cannot create the node: prng is missing");
  }
  checkTime("now", now);
  if (!Number.isFinite(unixMillisOffset)) {
    throw new RangeError(`Cannot create the node: unixMillisOffset ${unixMillisOffset}`);
  }
  if (!Number.isInteger(listenPort) || listenPort < 1 || listenPort > 65535) {
    throw new RangeError(`Cannot create the node: listenPort ${listenPort} is not 1–65535`);
  }
  for (
    const [name, v, min] of [
      ["targetPeers", targetPeers, 0],
      ["minOutbound", minOutbound, 0],
      ["maxConnections", maxConnections, 1],
      ["maxInbound", maxInbound, 0],
      ["maxPendingDials", maxPendingDials, 1],
    ] as const
  ) {
    if (!Number.isSafeInteger(v) || v < min) {
      throw new RangeError(`Cannot create the node: ${name} ${v} is below ${min}`);
    }
  }
  for (
    const [name, v] of [
      ["connectTimeoutMs", connectTimeoutMs],
      ["handshakeTimeoutMs", handshakeTimeoutMs],
      ["pingIntervalMs", pingIntervalMs],
      ["inactivityTimeoutMs", inactivityTimeoutMs],
      ["advertiseIntervalMs", advertiseIntervalMs],
      ["dialCheckIntervalMs", dialCheckIntervalMs],
      ["saveIntervalMs", saveIntervalMs],
      ["statusIntervalMs", statusIntervalMs],
      ["backoffBaseMs", backoffBaseMs],
      ["backoffMaxMs", backoffMaxMs],
      ["manualBackoffMaxMs", manualBackoffMaxMs],
      ["busyBackoffMs", busyBackoffMs],
      ["discourageMs", discourageMs],
      ["trimDelayMs", trimDelayMs],
      ["refreshIntervalMs", refreshIntervalMs],
    ] as const
  ) {
    if (!(v > 0)) throw new RangeError(`Cannot create the node: ${name} ${v} is not positive`);
  }
  if (!(reconnectDelayMs >= 0) || !(versionReplyDelayMs >= 0)) {
    throw new RangeError("Cannot create the node: a delay is negative");
  }
  let ext: string | undefined;
  if (externalIp !== undefined) {
    const ip = parseIp(String(externalIp));
    if (ip === undefined) {
      throw new TypeError(`Cannot create the node: externalIp ${externalIp} is not an IP`);
    }
    ext = ip.text;
  }
  return {
    prng,
    now,
    listenPort,
    externalIp: ext,
    userAgent,
    unixMillisOffset,
    manualPeers,
    savedPeers,
    targetPeers,
    minOutbound,
    maxConnections,
    maxInbound,
    maxPendingDials,
    connectTimeoutMs,
    handshakeTimeoutMs,
    pingIntervalMs,
    inactivityTimeoutMs,
    advertiseIntervalMs,
    versionReplyDelayMs,
    dialCheckIntervalMs,
    saveIntervalMs,
    statusIntervalMs,
    backoffBaseMs,
    backoffMaxMs,
    manualBackoffMaxMs,
    busyBackoffMs,
    reconnectDelayMs,
    discourageMs,
    trimDelayMs,
    refreshIntervalMs,
    addressBookKey,
  };
}

function checkTime(name: string, v: unknown): void {
  checkTimeIn(v as number, name);
}
