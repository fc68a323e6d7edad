/**
 * Membership (§6.1–6.4): one record per peer identity — our nodes by `node_name`, legacy nodes
 * (empty name, no extension fields) by the source IP of their datagram — and the heartbeat failure
 * detector that moves each between alive, suspect and dead.
 *
 * ```
 * alive ──3 misses──▶ suspect ──6 misses──▶ dead
 *   ▲                    │                    │
 *   └──── heartbeat answered or Handshake ────┘   (a return: full push)
 * ```
 * Alive and suspect members are probed every `probeIntervalMs`, dead ones every
 * `deadProbeIntervalMs`. Writes are pushed to alive members only.
 *
 * @module
 */

import type { Addr, Millis } from "../core/mod.ts";

/** A member's state. */
export type MemberState = "alive" | "suspect" | "dead";

/** One known peer. */
export interface Member {
  /** The identity key: `name:<node_name>` or `legacy:<ip>`. */
  readonly id: string;
  /** Its `node_name` (`""` for a legacy node). */
  readonly name: string;
  /** Whether it speaks our extensions (`kv_ext` ≥ 1). */
  ext: boolean;
  /** Where we contact it: the source IP of its Handshake and the port it advertises. */
  contact: Addr;
  /** The `tcp_address` it advertises (a fallback when it differs from `contact`). */
  advertised: Addr;
  /** Its `boot` (our nodes), or undefined. */
  boot: number | undefined;
  state: MemberState;
  /** Consecutive failed heartbeats. */
  misses: number;
  /** The last sign of life (driver time), or -1 for never. */
  lastSeen: Millis;
  /** When the next heartbeat is due. */
  nextProbeAt: Millis;
  /** When its last Handshake came. */
  lastHandshake: Millis;
  /** A heartbeat is under way. */
  probing: boolean;
}

/** What a Handshake did to the table. */
export type HandshakeOutcome =
  | { readonly kind: "new"; readonly member: Member }
  | { readonly kind: "returned"; readonly member: Member; readonly from: MemberState }
  | { readonly kind: "rebooted"; readonly member: Member }
  | { readonly kind: "known"; readonly member: Member }
  | { readonly kind: "full" };

/**
 * Two Handshakes of one legacy node less than this apart mean it restarted (it announces at start,
 * then every 5 s).
 */
export const LEGACY_RESTART_GAP_MS = 4000;

/** A change of state reported by the failure detector. */
export interface Transition {
  readonly member: Member;
  readonly from: MemberState;
  readonly to: MemberState;
}

/** Options of {@linkcode Membership}. */
export interface MembershipOptions {
  /** Heartbeat period of alive and suspect members. @default {5000} */
  probeIntervalMs?: number;
  /** Heartbeat period of dead members. @default {30000} */
  deadProbeIntervalMs?: number;
  /** Misses that make a member suspect. @default {3} */
  suspectAfter?: number;
  /** Misses that make it dead. @default {6} */
  deadAfter?: number;
  /** The most identities kept. @default {1024} */
  capacity?: number;
}

/** A Handshake as membership sees it. */
export interface HandshakeInfo {
  readonly nodeName: string;
  readonly tcpAddress: string;
  readonly kvExt?: number;
  readonly boot?: number;
}

/** The port of `ip:port` or `[v6]:port`. */
function portOf(addr: string): string {
  return addr.slice(addr.lastIndexOf(":") + 1);
}

/** `ip:port`, bracketing an IPv6 address. */
function joinHostPort(ip: string, port: string): Addr {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * The member table and its failure detector.
 *
 * @example A member heard, missing six heartbeats, then heard again
 * ```ts
 * import { Membership } from "./members.ts";
 * import assert from "node:assert/strict";
 * const m = new Membership();
 * const hs = { nodeName: "ts-b", tcpAddress: "10.0.0.2:9000", kvExt: 1, boot: 7 };
 * const first = m.onHandshake(hs, "10.0.0.2", 0);
 * assert.equal(first.kind, "new");
 * const id = m.get("name:ts-b")!.id;
 * const states = [];
 * for (let i = 0; i < 6; i++) states.push(m.onProbe(id, false, 5000 * (i + 1))?.to);
 * assert.deepEqual(states, [undefined, undefined, "suspect", undefined, undefined, "dead"]);
 * assert.equal(m.onHandshake(hs, "10.0.0.2", 40_000).kind, "returned");
 * ```
 */
export class Membership {
  readonly #members = new Map<string, Member>();
  readonly #probeMs: number;
  readonly #deadProbeMs: number;
  readonly #suspectAfter: number;
  readonly #deadAfter: number;
  readonly #capacity: number;

  constructor(options: MembershipOptions = {}) {
    this.#probeMs = options.probeIntervalMs ?? 5000;
    this.#deadProbeMs = options.deadProbeIntervalMs ?? 30_000;
    this.#suspectAfter = options.suspectAfter ?? 3;
    this.#deadAfter = options.deadAfter ?? 6;
    this.#capacity = options.capacity ?? 1024;
  }

  /** The number of identities known. */
  get size(): number {
    return this.#members.size;
  }

  /** The member with identity `id`. */
  get(id: string): Member | undefined {
    return this.#members.get(id);
  }

  /** Every member. */
  all(): Member[] {
    return [...this.#members.values()];
  }

  /** The members writes are pushed to. */
  alive(): Member[] {
    return this.all().filter((m) => m.state === "alive");
  }

  /** Whether any legacy member is known. */
  hasLegacy(): boolean {
    for (const m of this.#members.values()) if (!m.ext) return true;
    return false;
  }

  /** The member contacted at `addr` or sending from IP `ip` with the extensions, if any. */
  extPeerAt(ip: string): Member | undefined {
    for (const m of this.#members.values()) {
      if (m.ext && m.contact.startsWith(ip.includes(":") ? `[${ip}]:` : `${ip}:`)) return m;
    }
    return undefined;
  }

  /**
   * A Handshake from `sourceIp` (not our own). Legacy nodes are known by that IP, ours by name.
   */
  onHandshake(hs: HandshakeInfo, sourceIp: string, now: Millis): HandshakeOutcome {
    const ext = hs.kvExt !== undefined;
    const legacy = hs.nodeName === "" && !ext;
    const id = legacy ? `legacy:${sourceIp}` : `name:${hs.nodeName}`;
    const contact = joinHostPort(sourceIp, portOf(hs.tcpAddress));
    const known = this.#members.get(id);
    if (known === undefined) {
      if (this.#members.size >= this.#capacity && !this.#evictDead()) return { kind: "full" };
      const member: Member = {
        id,
        name: hs.nodeName,
        ext,
        contact,
        advertised: hs.tcpAddress,
        boot: hs.boot,
        state: "alive",
        misses: 0,
        lastSeen: now,
        nextProbeAt: now + this.#probeMs,
        lastHandshake: now,
        probing: false,
      };
      this.#members.set(id, member);
      return { kind: "new", member };
    }
    const from = known.state;
    // A legacy node carries no boot, so a new, empty process of it (which needs a full push as
    // much as a new node) is told by its Handshakes: one after a missed heartbeat, or one sooner
    // than its fixed period allows (an original announces at start, then every 5 s).
    const early = now - known.lastHandshake < LEGACY_RESTART_GAP_MS;
    const rebooted = hs.boot !== undefined && known.boot !== undefined
      ? hs.boot !== known.boot
      : !ext && (known.misses > 0 || early);
    known.lastHandshake = now;
    if (rebooted) known.misses = 0;
    known.ext = ext;
    known.contact = contact;
    known.advertised = hs.tcpAddress;
    known.boot = hs.boot;
    known.lastSeen = now;
    if (from !== "alive") {
      this.#revive(known, now);
      return { kind: "returned", member: known, from };
    }
    return rebooted ? { kind: "rebooted", member: known } : { kind: "known", member: known };
  }

  /** Members whose heartbeat is due at `now` (each is marked as being probed). */
  takeDue(now: Millis): Member[] {
    const due: Member[] = [];
    for (const m of this.#members.values()) {
      if (!m.probing && m.nextProbeAt <= now) {
        m.probing = true;
        due.push(m);
      }
    }
    return due;
  }

  /** When the next heartbeat is due, if any member is known. */
  nextProbeAt(): Millis | undefined {
    let at: number | undefined;
    for (const m of this.#members.values()) {
      if (!m.probing && (at === undefined || m.nextProbeAt < at)) at = m.nextProbeAt;
    }
    return at;
  }

  /** No heartbeat to member `id` could start now: the next is due at `at` (not a miss). */
  postpone(id: string, at: Millis): void {
    const m = this.#members.get(id);
    if (m === undefined) return;
    m.probing = false;
    m.nextProbeAt = at;
  }

  /**
   * The result of a heartbeat to member `id`.
   *
   * @returns The change of state it caused, if any.
   */
  onProbe(id: string, ok: boolean, now: Millis): Transition | undefined {
    const m = this.#members.get(id);
    if (m === undefined) return undefined;
    m.probing = false;
    const from = m.state;
    if (ok) {
      m.lastSeen = now;
      if (from !== "alive") {
        this.#revive(m, now);
        return { member: m, from, to: "alive" };
      }
      m.misses = 0;
      m.nextProbeAt = now + this.#probeMs;
      return undefined;
    }
    m.misses++;
    let to: MemberState = from;
    if (m.misses >= this.#deadAfter) to = "dead";
    else if (m.misses >= this.#suspectAfter) to = "suspect";
    m.state = to;
    m.nextProbeAt = now + (to === "dead" ? this.#deadProbeMs : this.#probeMs);
    return to === from ? undefined : { member: m, from, to };
  }

  #revive(m: Member, now: Millis): void {
    m.state = "alive";
    m.misses = 0;
    m.nextProbeAt = now + this.#probeMs;
  }

  /** Drops one dead member to make room; false when none is dead. */
  #evictDead(): boolean {
    let oldest: Member | undefined;
    for (const m of this.#members.values()) {
      if (m.state === "dead" && !m.probing && (!oldest || m.lastSeen < oldest.lastSeen)) oldest = m;
    }
    if (oldest === undefined) return false;
    this.#members.delete(oldest.id);
    return true;
  }
}
