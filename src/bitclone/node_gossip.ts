/**
 * The BitClone node's gossip (spec §A.7, §C.4–C.6): storing received `addr` entries, relaying
 * fresh unsolicited ones to 2 peers chosen by a keyed hash, answering `getaddr` once per
 * connection (up to 1000 entries: the whole book while no more qualify), and the advertisement
 * sent on each connection every 30 s.
 *
 * @module
 */

import { addressScope, formatPeerAddress, type PeerAddress } from "./address.ts";
import type { AddrEntry } from "./messages.ts";
import type { ReceivedAddr } from "./peer_conn.ts";
import type { Conn } from "./node_conn.ts";
import { type NodeContext, unixSeconds } from "./node_context.ts";

const ADDR_PENALTY_SEC = 2 * 3600;
const RELAY_MAX_ENTRIES_PER_LINE = 10;
const RELAY_RECENT_SEC = 600;
const RELAY_FANOUT = 2;
const RELAY_QUEUE_MAX = 100;
/** Relay target hashes remembered (cleared each day, or when full). */
const RELAY_HASHES_MAX = 50_000;
const ADVERTISE_ENTRIES = 10;
const SENT_SET_MAX = 5000;
const SENT_SET_MS = 24 * 3600 * 1000;
const DAY_SEC = 24 * 3600;
/** Entries in a `getaddr` answer, at most (`MAX_ADDR_ENTRIES`: one valid line). */
const GETADDR_MAX = 1000;

/**
 * The node's gossip over its connections (the relay remembers its keyed hashes for a day).
 *
 * @example Storing gossip with the 2 h penalty
 * ```ts
 * import { NodeGossip } from "./node_gossip.ts";
 * import { newNodeContext } from "./node_context.ts";
 * import { newConn } from "./node_conn.ts";
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const ctx = newNodeContext(nodeConfig({ prng: Prng.seeded(1), now: 0, unixMillisOffset: 1_700_000_000_000 }));
 * const gossip = new NodeGossip(ctx);
 * const from = newConn(1, "inbound", 0);
 * const address = { ip: "198.51.100.7", v6: false, port: 8333 };
 * gossip.onAddr(from, [{ address, time: 1_700_000_000, selfAnnouncement: false, clamped: false }], true, 1, 0);
 * assert.equal(ctx.book.get("198.51.100.7:8333")?.time, 1_700_000_000 - 7200);
 * ```
 */
export class NodeGossip {
  readonly #ctx: NodeContext;
  #relayDay = -1;
  readonly #relayHashes = new Map<string, number>();

  /** Gossip over the node's shared state. */
  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
  }

  onAddr(
    c: Conn,
    entries: readonly ReceivedAddr[],
    solicited: boolean,
    lineEntries: number,
    now: number,
  ): void {
    const nowSec = unixSeconds(this.#ctx.cfg, now);
    const source = c.identity ?? c.remote;
    const relay = !solicited && lineEntries <= RELAY_MAX_ENTRIES_PER_LINE;
    for (const r of entries) {
      const text = formatPeerAddress(r.address);
      if (this.#ctx.own.has(text) || this.#ctx.discouraged.has(text, now)) continue;
      const stored = r.selfAnnouncement ? r.time : Math.max(0, r.time - ADDR_PENALTY_SEC);
      this.#ctx.book.add(text, stored, nowSec, { source, evidenceTime: r.time });
      if (relay && !r.clamped && r.time >= nowSec - RELAY_RECENT_SEC) {
        this.#relay(c, r.address, text, r.time, nowSec);
      }
    }
    if (c.refresh && solicited) {
      c.conn?.close(`address refresh done (${entries.length} entries)`);
      this.#ctx.dirty.add(c);
    }
  }
  /** Queues an entry for the 2 established peers with the highest keyed hash (spec §C.6). */
  #relay(from: Conn, address: PeerAddress, text: string, time: number, nowSec: number): void {
    const day = Math.floor(nowSec / DAY_SEC);
    if (day !== this.#relayDay || this.#relayHashes.size >= RELAY_HASHES_MAX) {
      this.#relayDay = day;
      this.#relayHashes.clear();
    }
    const loopback = addressScope(address) === "loopback";
    const scored: { c: Conn; h: number }[] = [];
    for (const c of this.#ctx.conns.values()) {
      if (c === from || c.state !== "established" || c.refresh || c.identityText === text) continue;
      if (loopback && !c.loopback) continue;
      const peer = c.identityText ?? `#${c.key}`;
      const memo = `${text} ${peer}`;
      let h = this.#relayHashes.get(memo);
      if (h === undefined) {
        h = this.#ctx.book.hash(text, day, peer);
        this.#relayHashes.set(memo, h);
      }
      scored.push({ c, h });
    }
    scored.sort((a, b) => b.h - a.h);
    for (const { c } of scored.slice(0, RELAY_FANOUT)) {
      if (c.sent.has(text)) continue;
      c.relay.delete(text);
      // Full: the oldest entry goes (fresh news matters more than old).
      if (c.relay.size >= RELAY_QUEUE_MAX) c.relay.delete(c.relay.keys().next().value!);
      c.relay.set(text, { time, address });
    }
  }
  /**
   * Spec §C.5, once per connection: our address, our other peers, then a random sample of the
   * book, 1000 entries in all at most — the whole book while it holds no more that qualify (the
   * spec's `min(1000, max(100, ceil(23 %)))` would hand a lab of 1,000 only 230 a time).
   */
  answerGetaddr(c: Conn, now: number): void {
    const conn = c.conn;
    if (conn === undefined || conn.state !== "established") return;
    refreshSent(c, now);
    const nowSec = unixSeconds(this.#ctx.cfg, now);
    const out: AddrEntry[] = [];
    const taken = new Set<string>();
    const take = (address: PeerAddress, text: string, time: number, own = false) => {
      if (taken.has(text) || out.length >= GETADDR_MAX) return;
      if (!own && (text === c.identityText || this.#ctx.own.has(text))) return;
      taken.add(text);
      out.push({ time, address });
    };
    if (c.local !== undefined) take(c.local, formatPeerAddress(c.local), nowSec, true);
    for (const other of this.#ctx.conns.values()) {
      if (other !== c && other.state === "established" && other.identity !== undefined) {
        take(other.identity, other.identityText!, nowSec);
      }
    }
    const loopbackPeer = c.loopback;
    const sample = this.#ctx.book.sample(
      this.#ctx.prng,
      GETADDR_MAX - out.length,
      nowSec,
      (e) =>
        !taken.has(e.text) && e.text !== c.identityText && !this.#ctx.own.has(e.text) &&
        !this.#ctx.discouraged.has(e.text, now) && (loopbackPeer || e.group !== "local"),
    );
    for (const e of sample) take(e.address, e.text, e.time);
    for (const text of taken) markSent(c, text);
    conn.sendAddr(out);
  }
  /** Spec §A.7: one `addr` line with our address first and up to 9 more entries. */
  advertise(c: Conn, now: number): void {
    const conn = c.conn;
    if (conn === undefined || conn.state !== "established") return;
    refreshSent(c, now);
    const nowSec = unixSeconds(this.#ctx.cfg, now);
    const out: AddrEntry[] = [];
    const taken = new Set<string>();
    const take = (address: PeerAddress, time: number, own = false): boolean => {
      if (out.length >= ADVERTISE_ENTRIES) return false;
      const text = formatPeerAddress(address);
      if (taken.has(text)) return false;
      if (!own && (text === c.identityText || this.#ctx.own.has(text))) return false;
      const entry = this.#ctx.book.get(text);
      if (!own && entry?.droppedAt !== undefined) return false;
      taken.add(text);
      out.push({ time, address });
      return true;
    };
    if (c.local !== undefined) take(c.local, nowSec, true);
    for (const [text, e] of [...c.relay]) {
      if (out.length >= ADVERTISE_ENTRIES) break;
      c.relay.delete(text);
      if (e.time < nowSec - RELAY_RECENT_SEC || c.sent.has(text)) continue;
      if (take(e.address, e.time)) markSent(c, text);
    }
    // Then our other peers and other fresh entries. An advertisement has room for 9 while we may
    // have 11 peers: news first (peers, then recent entries, this peer has not had from us), in a
    // random order so that every peer gets its turn; already-sent peers refresh what is left.
    const others: { address: PeerAddress; text: string; sent: boolean }[] = [];
    for (const other of this.#ctx.conns.values()) {
      if (other !== c && other.state === "established" && other.identity !== undefined) {
        const text = other.identityText!;
        others.push({ address: other.identity, text, sent: c.sent.has(text) });
      }
    }
    this.#ctx.prng.shuffle(others);
    for (const o of others) {
      if (!o.sent && take(o.address, nowSec)) markSent(c, o.text);
    }
    if (out.length < ADVERTISE_ENTRIES) {
      for (const e of this.#ctx.book.entries()) {
        if (out.length >= ADVERTISE_ENTRIES) break;
        if (e.time < nowSec - RELAY_RECENT_SEC || c.sent.has(e.text)) continue;
        if (this.#ctx.book.isTerrible(e, nowSec) || this.#ctx.discouraged.has(e.text, now)) {
          continue;
        }
        if (take(e.address, e.time)) markSent(c, e.text);
      }
    }
    for (const o of others) if (o.sent) take(o.address, nowSec);
    conn.sendAddr(out);
  }
}

/** Starts a new day of the connection's sent set (spec §A.7: what it had from us). */
function refreshSent(c: Conn, now: number): void {
  if (now - c.sentSince >= SENT_SET_MS) {
    c.sent.clear();
    c.sentSince = now;
  }
}

/** Remembers that the connection had this address from us (at most 5000 remembered). */
function markSent(c: Conn, text: string): void {
  if (c.sent.size >= SENT_SET_MAX) c.sent.clear();
  c.sent.add(text);
}
