/**
 * The options of a key-value node ({@linkcode KvNodeOptions}) and their defaults, checked into the
 * {@linkcode KvConfig} every part of the node reads.
 *
 * @module
 */

import type { Addr, Millis } from "../core/mod.ts";
import type { Prng } from "../util/mod.ts";
import type { MembershipOptions } from "./members.ts";
import type { KvConfig } from "./node_context.ts";
import type { VersionedEntry } from "./types.ts";

/** Options of `KvNode` (`node_core.ts`). */
export interface KvNodeOptions extends MembershipOptions {
  /** Our `node_name`: non-empty, unique (§6.1). */
  name: string;
  /** The TCP address we advertise (`ip:port`). */
  advertise: Addr;
  /** Milliseconds since the Unix epoch at process start (`boot`). */
  boot: number;
  /** Where Handshakes are broadcast (`ip:port` each). @default {["255.255.255.255:8888"]} */
  broadcast?: readonly Addr[];
  /** UDP addresses that also get each Handshake by unicast (networks without broadcast). */
  seeds?: readonly Addr[];
  /** Randomness (anti-entropy partner). */
  prng: Prng;
  /** Entries recovered from disk. */
  entries?: Iterable<VersionedEntry>;
  /** The Lamport clock recovered from disk. */
  clock?: number;
  /** Changes go through `persist` actions (false: memory only, as the original). @default {true} */
  durable?: boolean;
  /** The driver's time at start. @default {0} */
  now?: Millis;
  /** Add to driver time to get ms since the epoch (for `last_seen`). @default {0} */
  epochOffsetMs?: number;
  /** Announcement period. @default {5000} */
  announceMs?: number;
  /** Announcement period once a legacy node is known. @default {60000} */
  legacyAnnounceMs?: number;
  /** Uptime before the legacy announcement period applies. @default {30000} */
  legacyQuietAfterMs?: number;
  /** Anti-entropy period. @default {60000} */
  antiEntropyMs?: number;
  /** Connect timeout. @default {2000} */
  connectTimeoutMs?: number;
  /** Reply timeout. @default {2000} */
  replyTimeoutMs?: number;
  /** Request read timeout. @default {5000} */
  requestTimeoutMs?: number;
  /** Idle timeout of a pull. @default {10000} */
  pullTimeoutMs?: number;
  /** Accepted connections held at once. @default {512} */
  inboundMax?: number;
  /** Push connections at once. @default {8} */
  pushParallel?: number;
  /** Heartbeat connections at once. @default {64} */
  probeParallel?: number;
  /** Keys queued per member. @default {100000} */
  pendingPushMax?: number;
}

/**
 * The checked configuration of a node: the options with their defaults.
 *
 * @throws {TypeError} When the name is empty (legacy nodes ignore empty names, §6.1).
 * @example
 * ```ts
 * import { nodeConfig } from "./node_options.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const cfg = nodeConfig({ name: "ts-a", advertise: "10.0.0.1:9000", boot: 1, prng: Prng.seeded(1) });
 * assert.deepEqual(cfg.broadcast, ["255.255.255.255:8888"]);
 * assert.equal(cfg.announceMs, 5000);
 * assert.throws(() => nodeConfig({ ...cfg, name: "", prng: Prng.seeded(1) }), TypeError);
 * ```
 */
export function nodeConfig(o: KvNodeOptions): KvConfig {
  if (o.name === "") throw new TypeError("Cannot start a key-value node: its name is empty");
  return {
    name: o.name,
    advertise: o.advertise,
    boot: o.boot,
    broadcast: o.broadcast ?? ["255.255.255.255:8888"],
    seeds: o.seeds ?? [],
    durable: o.durable ?? true,
    announceMs: o.announceMs ?? 5000,
    legacyAnnounceMs: o.legacyAnnounceMs ?? 60_000,
    legacyQuietAfterMs: o.legacyQuietAfterMs ?? 30_000,
    antiEntropyMs: o.antiEntropyMs ?? 60_000,
    connectTimeoutMs: o.connectTimeoutMs ?? 2000,
    replyTimeoutMs: o.replyTimeoutMs ?? 2000,
    legacySetTimeoutMs: 30_000,
    requestTimeoutMs: o.requestTimeoutMs ?? 5000,
    pullTimeoutMs: o.pullTimeoutMs ?? 10_000,
    legacyMessageMax: 1024,
    extMessageMax: 65536,
    pullBytesMax: 64 << 20,
    inboundMax: o.inboundMax ?? 512,
    pushParallel: o.pushParallel ?? 8,
    probeParallel: o.probeParallel ?? 64,
    pendingPushMax: o.pendingPushMax ?? 100_000,
    epochOffsetMs: o.epochOffsetMs ?? 0,
  };
}
