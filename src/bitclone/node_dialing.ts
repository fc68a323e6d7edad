/**
 * The BitClone node's dialing (spec §A.8, §C.8): when to dial, whom (manual peers first, then the
 * address book, never an address connected, pending, ours, discouraged or backing off), the
 * dial itself, failed attempts and their back-off, the once-only warning for an unreachable
 * manual peer, and the address refresh (a short connection every `refreshIntervalMs` to learn
 * new addresses once the node has settled at its target).
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import {
  addressScope,
  formatPeerAddress,
  networkGroup,
  parsePeerAddress,
  type PeerAddress,
} from "./address.ts";
import type { BookEntry } from "./address_book.ts";
import { type Conn, newConn } from "./node_conn.ts";
import { dropConn, type NodeContext, unixSeconds } from "./node_context.ts";

const DIAL_GRACE_MS = 1000;
/** Jitter of the refresh period. */
const REFRESH_JITTER = 0.2;

/**
 * The node's dialer: outgoing connection ids -1, -2, …, the refresh schedule, and which manual
 * peers were already reported unreachable.
 *
 * @example One manual peer, dialed first
 * ```ts
 * import { NodeDialer } from "./node_dialing.ts";
 * import { newNodeContext } from "./node_context.ts";
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const ctx = newNodeContext(nodeConfig({ prng: Prng.seeded(1), now: 0 }));
 * const dialer = new NodeDialer(ctx, 0);
 * dialer.addManualPeers(["192.0.2.7:8333", "nonsense"], 0);
 * assert.deepEqual(ctx.manual, ["192.0.2.7:8333"]);
 * assert.ok(dialer.wantsDial());
 * dialer.maybeDial(0);
 * const connect = [...Array(9)].map(() => ctx.out.poll()).find((a) => a?.type === "connect");
 * assert.ok(connect?.type === "connect" && connect.to === "192.0.2.7:8333" && connect.conn === -1);
 * ```
 */
export class NodeDialer {
  readonly #ctx: NodeContext;
  /** Manual peers whose failure was logged at warn since they were last reached. */
  readonly #manualWarned = new Set<string>();
  #nextDialKey = -1;
  #nextRefreshAt: number;

  /** A dialer over the node's shared state; the first refresh is due a jittered period after `now`. */
  constructor(ctx: NodeContext, now: number) {
    this.#ctx = ctx;
    this.#nextRefreshAt = now + ctx.cfg.refreshIntervalMs * (1 + ctx.prng.float() * REFRESH_JITTER);
  }

  /** When the address refresh is next due. */
  get nextRefreshAt(): number {
    return this.#nextRefreshAt;
  }

  /**
   * Adds the command-line peers (to the book and the dial list), logging each one skipped:
   * unusable, ours, repeated (silently), or past the book's 256 manual peers.
   */
  addManualPeers(manualPeers: readonly unknown[], nowSec: number): void {
    const { book, manual, own, out } = this.#ctx;
    for (const raw of manualPeers) {
      const a = typeof raw === "string" ? parsePeerAddress(raw) : undefined;
      if (a === undefined || addressScope(a) === "unusable") {
        out.log(
          "warn",
          `manual peer ${JSON.stringify(String(raw).slice(0, 80))} skipped: not a usable ip:port`,
        );
        continue;
      }
      const text = formatPeerAddress(a);
      if (own.has(text) || manual.includes(text)) continue;
      if (!book.addManual(a, nowSec)) {
        out.log("warn", `manual peer ${text} skipped: too many manual peers`);
        continue;
      }
      manual.push(text);
    }
  }

  /** Runs the address refresh when due (and schedules the next one, +0–20 % jitter). */
  tickRefresh(now: number): void {
    if (now < this.#nextRefreshAt) return;
    this.#nextRefreshAt = now +
      this.#ctx.cfg.refreshIntervalMs * (1 + this.#ctx.prng.float() * REFRESH_JITTER);
    this.#maybeRefresh(now);
  }

  /** An outbound handshake completed with `text`: a later failure warns again. */
  reached(text: string): void {
    this.#manualWarned.delete(text);
  }

  /**
   * Spec §A.8.1: whether to dial now — below the target (refresh connections not counted) or
   * below `minOutbound`, with a pending-dial slot and a connection slot free, and not stopped.
   */
  wantsDial(): boolean {
    if (this.#ctx.stopped) return false;
    let established = 0, outbound = 0, pending = 0;
    for (const c of this.#ctx.conns.values()) {
      if (c.refresh) continue; // short-lived: not part of the target
      if (c.role === "outbound") {
        if (c.state === "established") outbound++;
        else pending++;
      }
      if (c.state === "established") established++;
    }
    if (
      pending >= this.#ctx.cfg.maxPendingDials ||
      this.#ctx.conns.size >= this.#ctx.cfg.maxConnections
    ) {
      return false;
    }
    return established + pending < this.#ctx.cfg.targetPeers ||
      outbound + pending < this.#ctx.cfg.minOutbound;
  }
  /** Dials candidates (manual peers first, then the book) while {@linkcode wantsDial}. */
  maybeDial(now: number): void {
    for (let i = 0; i < this.#ctx.cfg.maxPendingDials && this.wantsDial(); i++) {
      const candidate = this.#pickCandidate(now);
      if (candidate === undefined) return;
      this.#dial(candidate, now);
    }
  }
  /**
   * The address refresh (module doc of `peer_node.ts`): one short connection to a book address not connected, when
   * exactly the target is established and nothing else is under way (a node below its target
   * learns from the answers on the connections it dials anyway), so that at most target + 1
   * connections are established.
   */
  #maybeRefresh(now: number): void {
    const { targetPeers, maxConnections } = this.#ctx.cfg;
    if (this.#ctx.stopped || targetPeers < 1 || this.#ctx.conns.size >= maxConnections) return;
    let established = 0;
    for (const c of this.#ctx.conns.values()) {
      if (c.state !== "established") return; // a dial or handshake under way (or a refresh)
      if (c.refresh) return;
      established++;
    }
    if (established !== targetPeers) return; // below: it dials anyway; above: it trims
    const busy = new Set<string>();
    for (const c of this.#ctx.conns.values()) {
      if (c.identityText !== undefined) busy.add(c.identityText);
    }
    const pick = this.#ctx.book.select(this.#ctx.prng, unixSeconds(this.#ctx.cfg, now), {
      skip: (e: BookEntry) =>
        busy.has(e.text) || this.#ctx.own.has(e.text) || this.#ctx.backoff.active(e.text, now) ||
        this.#ctx.discouraged.has(e.text, now),
    });
    if (pick !== undefined) this.#dial(pick.address, now, true);
  }
  #pickCandidate(now: number): PeerAddress | undefined {
    const busy = new Set<string>();
    const groups = new Set<string>();
    for (const c of this.#ctx.conns.values()) {
      if (c.identityText !== undefined) busy.add(c.identityText);
      if (c.dialAddress !== undefined) {
        busy.add(formatPeerAddress(c.dialAddress));
        groups.add(networkGroup(c.dialAddress));
      }
    }
    const usable = (text: string) =>
      !busy.has(text) && !this.#ctx.own.has(text) && !this.#ctx.backoff.active(text, now);
    for (const text of this.#ctx.manual) {
      if (usable(text)) return this.#ctx.book.get(text)?.address ?? parsePeerAddress(text);
    }
    const pick = this.#ctx.book.select(this.#ctx.prng, unixSeconds(this.#ctx.cfg, now), {
      skip: (e: BookEntry) => !usable(e.text) || this.#ctx.discouraged.has(e.text, now),
      avoidGroups: groups,
    });
    return pick?.address;
  }
  #dial(address: PeerAddress, now: number, refresh = false): void {
    let key = this.#nextDialKey--;
    while (this.#ctx.conns.has(key)) key = this.#nextDialKey--;
    const text = formatPeerAddress(address);
    const c = newConn(key, "outbound", now);
    c.dialAddress = address;
    c.dialDeadline = now + this.#ctx.cfg.connectTimeoutMs + DIAL_GRACE_MS;
    c.manual = this.#ctx.manual.includes(text);
    c.refresh = refresh;
    this.#ctx.conns.set(key, c);
    this.#ctx.book.markAttempt(text, unixSeconds(this.#ctx.cfg, now));
    this.#ctx.out.push({
      type: "connect",
      conn: key,
      to: text,
      timeoutMs: this.#ctx.cfg.connectTimeoutMs,
    });
    const note = c.manual ? " (manual)" : refresh ? " (address refresh)" : "";
    this.#ctx.out.log("debug", `dialing ${text}${note}`, { key });
  }
  /** A dial failed (refused, timed out, closed): a failed attempt, the dial slot is free again. */
  dialFailed(c: Conn, why: string, now: number): void {
    assert(c.dialAddress !== undefined, "a dial without an address");
    const text = formatPeerAddress(c.dialAddress);
    dropConn(this.#ctx, c, why);
    if (!this.#ctx.stopped) this.failure(text, now);
    if (!this.warnManual(c, text, why)) {
      this.#ctx.out.log("debug", `${text}: ${why}`, { key: c.key, address: text, reason: why });
    }
    this.#ctx.nextDialCheckAt = Math.min(this.#ctx.nextDialCheckAt, now);
  }
  /**
   * A command-line peer we failed to reach: logged at warn with the reason once, until it is
   * reached again (later failures stay at debug). Returns whether it logged.
   */
  warnManual(c: Conn, text: string, why: string): boolean {
    if (!c.manual || c.role !== "outbound" || this.#ctx.stopped || this.#manualWarned.has(text)) {
      return false;
    }
    this.#manualWarned.add(text);
    this.#ctx.out.log("warn", `manual peer ${text} unreachable: ${why} (retrying; logged once)`, {
      key: c.key,
      address: text,
      reason: why,
    });
    return true;
  }
  /** A failed attempt: the book counts it, the back-off grows (spec §A.8.3). */
  failure(text: string, now: number): void {
    this.#ctx.book.markFailure(text, unixSeconds(this.#ctx.cfg, now));
    this.#ctx.backoff.failure(text, this.#ctx.manual.includes(text), now);
  }
  /** Pushes an address's next dial to at least `now + delay` (+ jitter); failures unchanged. */
  setBackoff(text: string, delayMs: number, now: number): void {
    this.#ctx.backoff.delay(text, delayMs, this.#ctx.manual.includes(text), now);
  }
  /** Spec §C.3: a self-connection showed that `text` is ours: never dialed again. */
  markSelf(text: string, now: number): void {
    this.#ctx.own.add(text);
    const i = this.#ctx.manual.indexOf(text);
    if (i >= 0) this.#ctx.manual.splice(i, 1);
    this.#ctx.backoff.forget(text);
    this.#ctx.out.log("info", `${text} is our own address: never dialed again`);
    this.#ctx.nextDialCheckAt = Math.min(this.#ctx.nextDialCheckAt, now);
  }
}
