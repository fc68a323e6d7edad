/**
 * The state the key-value node's parts share (`KvNode` owns it; the request handlers, the
 * outgoing connections and the persistence queue read and change it).
 *
 * @module
 */

import type { Addr, ConnId, Millis, StreamAction, Transmit } from "../core/mod.ts";
import { OutputQueue } from "../core/mod.ts";
import type { Prng } from "../util/mod.ts";
import type { Membership } from "./members.ts";
import type { VersionedStore } from "./store.ts";
import type { VersionedEntry } from "./types.ts";

/** The core's own action: write these entries to the log, then call `handlePersisted(id)`. */
export interface PersistAction {
  readonly type: "persist";
  readonly id: number;
  readonly entries: readonly VersionedEntry[];
}

/** What the node reports (for logs and counters). */
export type KvEvent =
  | {
    readonly type: "member";
    readonly change: "joined" | "suspect" | "dead" | "returned" | "rebooted";
    readonly name: string;
    readonly address: Addr;
    readonly legacy: boolean;
  }
  | {
    readonly type: "dropped";
    readonly what: "datagram" | "request" | "reply";
    readonly from: Addr;
    readonly reason: string;
  }
  | { readonly type: "refused"; readonly from: Addr; readonly reason: string }
  | { readonly type: "skipped"; readonly to: Addr; readonly reason: string }
  | { readonly type: "table-full"; readonly from: Addr };

/** Counters of a node. */
export interface KvStats {
  datagramsIn: number;
  datagramsDropped: number;
  requests: number;
  requestsDropped: number;
  sets: number;
  gets: number;
  syncsIn: number;
  syncsApplied: number;
  syncsOut: number;
  pushFailures: number;
  heartbeatsOut: number;
  heartbeatsFailed: number;
  pulls: number;
  refused: number;
  persistBatches: number;
  persistFailures: number;
}

/** The checked options every part reads. */
export interface KvConfig {
  readonly name: string;
  readonly advertise: Addr;
  readonly boot: number;
  readonly broadcast: readonly Addr[];
  readonly seeds: readonly Addr[];
  readonly durable: boolean;
  readonly announceMs: number;
  readonly legacyAnnounceMs: number;
  readonly legacyQuietAfterMs: number;
  readonly antiEntropyMs: number;
  readonly connectTimeoutMs: number;
  readonly replyTimeoutMs: number;
  readonly legacySetTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly pullTimeoutMs: number;
  readonly legacyMessageMax: number;
  readonly extMessageMax: number;
  readonly pullBytesMax: number;
  readonly inboundMax: number;
  readonly pushParallel: number;
  readonly probeParallel: number;
  readonly pendingPushMax: number;
  readonly epochOffsetMs: number;
}

/** The state shared by the node's parts. */
export interface KvContext {
  readonly cfg: KvConfig;
  readonly prng: Prng;
  readonly store: VersionedStore;
  readonly members: Membership;
  readonly actions: OutputQueue<StreamAction | PersistAction>;
  readonly transmits: OutputQueue<Transmit>;
  readonly events: OutputQueue<KvEvent>;
  readonly stats: KvStats;
  /** Hands out connection ids (accepted and outgoing share them). */
  nextConn(): ConnId;
  /** The latest time seen. */
  now: Millis;
}

/** Fresh counters. */
export function newStats(): KvStats {
  return {
    datagramsIn: 0,
    datagramsDropped: 0,
    requests: 0,
    requestsDropped: 0,
    sets: 0,
    gets: 0,
    syncsIn: 0,
    syncsApplied: 0,
    syncsOut: 0,
    pushFailures: 0,
    heartbeatsOut: 0,
    heartbeatsFailed: 0,
    pulls: 0,
    refused: 0,
    persistBatches: 0,
    persistFailures: 0,
  };
}

/** A fresh queue for actions, transmits or events. */
export function newQueue<T>(): OutputQueue<T> {
  return new OutputQueue<T>({ capacity: 1 << 20 });
}

/** The IP of `ip:port` or `[v6]:port`. */
export function ipOf(addr: Addr): string {
  const colon = addr.lastIndexOf(":");
  const host = colon < 0 ? addr : addr.slice(0, colon);
  return host.startsWith("[") ? host.slice(1, -1) : host;
}
