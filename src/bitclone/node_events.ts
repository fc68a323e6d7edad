/**
 * The BitClone node's connection events: draining each dirty connection's `PeerConn` (its lines
 * into `write` actions, its events into the node's reactions) until nothing moves; what a
 * completed handshake does (duplicate check, book and back-off updates, the trim) and what a
 * closed connection does (self-connection, back-off, discouragement, the book, the log line).
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { formatPeerAddress } from "./address.ts";
import type { PeerCloseReason, PeerEvent, PeerInfo } from "./peer_conn.ts";
import { type Conn, describeClose } from "./node_conn.ts";
import { type NodeContext, removeConn, unixSeconds } from "./node_context.ts";
import type { NodeGossip } from "./node_gossip.ts";
import type { NodeDialer } from "./node_dialing.ts";
import { BUSY, type NodeSlots } from "./node_slots.ts";

const PUMP_ROUNDS_MAX = 64;
const FLUSH_ROUNDS_MAX = 100_000;
/** How long an established refresh connection waits for the answer to our `getaddr`. */
const REFRESH_WAIT_MS = 30_000;

/**
 * The node's event loop over its connections (one flush at a time: a nested call leaves the
 * work to the outer one).
 *
 * @example An accepted connection answers a `version`
 * ```ts
 * import { NodeEvents } from "./node_events.ts";
 * import { NodeGossip } from "./node_gossip.ts";
 * import { NodeDialer } from "./node_dialing.ts";
 * import { NodeSlots } from "./node_slots.ts";
 * import { newNodeContext } from "./node_context.ts";
 * import { newConn } from "./node_conn.ts";
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { PeerConn } from "./peer_conn.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const ctx = newNodeContext(nodeConfig({ prng: Prng.seeded(1), now: 0 }));
 * const events = new NodeEvents(ctx, new NodeGossip(ctx), new NodeDialer(ctx, 0), new NodeSlots(ctx));
 * const remoteAddress = { ip: "192.0.2.9", v6: false, port: 50123 };
 * const c = newConn(1, "outbound", 0);
 * c.dialAddress = c.remote = remoteAddress;
 * c.conn = new PeerConn({
 *   role: "outbound", prng: Prng.seeded(2), now: 0, remoteAddress,
 *   localAddress: { ip: "192.0.2.1", v6: false, port: 8333 },
 * });
 * c.state = "handshaking";
 * ctx.conns.set(1, c);
 * ctx.dirty.add(c);
 * events.flush(0);
 * const w = ctx.out.poll();
 * assert.ok(w?.type === "write" && new TextDecoder().decode(w.bytes).startsWith("version|"));
 * ```
 */
export class NodeEvents {
  readonly #ctx: NodeContext;
  readonly #gossip: NodeGossip;
  readonly #dialer: NodeDialer;
  readonly #slots: NodeSlots;
  #flushing = false;

  /** The event loop over the node's shared state and its parts. */
  constructor(ctx: NodeContext, gossip: NodeGossip, dialer: NodeDialer, slots: NodeSlots) {
    this.#ctx = ctx;
    this.#gossip = gossip;
    this.#dialer = dialer;
    this.#slots = slots;
  }

  /**
   * Each connection's timers due at `now`: connect deadlines (a failed dial), the PeerConn's
   * ticks, and the end of a refresh connection that had no answer within 30 s. Marks them dirty;
   * the caller flushes.
   */
  tickConnections(now: number): void {
    for (const c of [...this.#ctx.conns.values()]) {
      if (c.state === "dialing") {
        if (c.dialDeadline !== undefined && now >= c.dialDeadline) {
          this.#dialer.dialFailed(c, "connect timed out", now);
        }
        continue;
      }
      const at = c.conn?.nextTimeout();
      if (at !== undefined && at <= now) {
        c.conn!.handleTick(now);
        this.#ctx.dirty.add(c);
      }
      if (c.refresh && c.state === "established" && now >= c.establishedAt + REFRESH_WAIT_MS) {
        c.conn?.close("address refresh: no answer to getaddr");
        this.#ctx.dirty.add(c);
      }
    }
  }

  /** The earliest connection timer (`Infinity` when none). */
  nextConnectionTimeout(): number {
    let at = Infinity;
    for (const c of this.#ctx.conns.values()) {
      const t = c.state === "dialing" ? c.dialDeadline : c.conn?.nextTimeout();
      if (t !== undefined && t < at) at = t;
      if (c.refresh && c.state === "established") {
        at = Math.min(at, c.establishedAt + REFRESH_WAIT_MS);
      }
    }
    return at;
  }

  /** Drains every dirty connection's lines and events until nothing moves. */
  flush(now: number): void {
    if (this.#flushing) return; // the outer flush picks up what was marked dirty
    this.#flushing = true;
    try {
      for (let round = 0; this.#ctx.dirty.size > 0; round++) {
        assert(round < FLUSH_ROUNDS_MAX, "flush does not settle");
        const c: Conn = this.#ctx.dirty.values().next().value!;
        this.#ctx.dirty.delete(c);
        this.#pump(c, now);
      }
    } finally {
      this.#flushing = false;
    }
  }
  #pump(c: Conn, now: number): void {
    const conn = c.conn;
    if (conn === undefined) return;
    for (let round = 0; round < PUMP_ROUNDS_MAX; round++) {
      let progress = this.sendQueued(c);
      for (let e = conn.pollEvent(); e !== undefined; e = conn.pollEvent()) {
        progress = true;
        this.#onEvent(c, e, now);
      }
      if (!progress) return;
    }
    assert(false, "a connection keeps producing output");
  }
  /** Moves the connection's queued lines into one `send` action. */
  sendQueued(c: Conn): boolean {
    const conn = c.conn;
    if (conn === undefined) return false;
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let b = conn.pollTransmit(); b !== undefined; b = conn.pollTransmit()) {
      parts.push(b);
      size += b.length;
    }
    if (parts.length === 0) return false;
    if (c.socketGone) return true;
    let bytes = parts[0];
    if (parts.length > 1) {
      bytes = new Uint8Array(size);
      let offset = 0;
      for (const p of parts) {
        bytes.set(p, offset);
        offset += p.length;
      }
    }
    this.#ctx.out.push({ type: "write", conn: c.key, bytes });
    return true;
  }
  /** Acts on one event of a connection's PeerConn. */
  #onEvent(c: Conn, e: PeerEvent, now: number): void {
    const who = () => c.identityText ?? (c.remote ? formatPeerAddress(c.remote) : `#${c.key}`);
    switch (e.type) {
      case "established":
        this.#onEstablished(c, e.peer, now);
        return;
      case "addrReceived":
        this.#gossip.onAddr(c, e.entries, e.solicited, e.lineEntries, now);
        return;
      case "getaddrReceived":
        this.#gossip.answerGetaddr(c, now);
        return;
      case "advertiseDue":
        this.#gossip.advertise(c, now);
        return;
      case "pingRtt":
        return;
      case "messageReceived":
        this.#ctx.out.log(
          "info",
          `message from ${who()}: ${e.code ?? "-"} ${e.summary} ${e.details}`,
          {
            key: c.key,
          },
        );
        return;
      case "rejectReceived":
        this.#ctx.out.log(
          "info",
          `reject from ${who()}: ${e.code ?? "-"} ${e.reason} ${e.details}`,
          {
            key: c.key,
          },
        );
        return;
      case "rejectSent":
        this.#ctx.out.log("debug", `reject to ${who()}: ${e.reject.code} ${e.reject.reason}`, {
          key: c.key,
        });
        return;
      case "misbehaviour":
        this.#ctx.out.log(
          "debug",
          `${who()} misbehaved: ${e.offence} (+${e.points}, score ${e.score})`,
          {
            key: c.key,
          },
        );
        return;
      case "ignored":
        return;
      case "closed":
        this.#onClosed(c, e.reason, e.wasEstablished, now);
        return;
    }
  }
  #onEstablished(c: Conn, peer: PeerInfo, now: number): void {
    const conn = c.conn;
    assert(conn !== undefined, "established without a connection");
    c.state = "established";
    c.establishedAt = now;
    c.userAgent = peer.userAgent;
    c.version = peer.protocolVersion;
    if (c.nonce !== undefined) this.#ctx.pendingNonces.delete(c.nonce);
    c.identity = c.role === "outbound" ? c.dialAddress : peer.listenAddress;
    c.identityText = c.identity && formatPeerAddress(c.identity);
    const text = c.identityText;
    c.manual = text !== undefined && this.#ctx.manual.includes(text);
    if (text !== undefined) {
      for (const other of this.#ctx.conns.values()) {
        if (other !== c && other.state === "established" && other.identityText === text) {
          conn.close("duplicate connection", {
            code: 409,
            reason: "duplicate connection",
            details: `already connected to ${text}`,
          });
          return;
        }
      }
    }
    if (c.role === "inbound" && text !== undefined && this.#ctx.discouraged.has(text, now)) {
      const free = this.#ctx.cfg.maxConnections - this.#ctx.conns.size;
      if (free < 1) {
        conn.close("discouraged peer without a spare slot", BUSY);
        return;
      }
    }
    const nowSec = unixSeconds(this.#ctx.cfg, now);
    if (c.role === "outbound" && text !== undefined) {
      this.#ctx.book.markGood(text, nowSec);
      this.#ctx.backoff.forget(text);
      this.#dialer.reached(text);
    } else if (text !== undefined) {
      this.#ctx.book.touch(text, nowSec);
    }
    if (!c.refresh) this.#slots.trim(now);
    const skew = peer.clockOffsetSec === undefined ? "" : `, clock ${peer.clockOffsetSec} s`;
    this.#ctx.out.log(
      c.refresh ? "debug" : "info",
      `connected ${c.refresh ? "refresh " : ""}${c.role} ${text ?? formatPeerAddress(c.remote!)} (${
        peer.userAgent || "no user agent"
      }, version ${peer.protocolVersion}${skew})`,
      { key: c.key, direction: c.role, address: text },
    );
  }
  #onClosed(c: Conn, reason: PeerCloseReason, wasEstablished: boolean, now: number): void {
    // Lines queued before the close (a final reject) go out before the close action.
    this.sendQueued(c);
    removeConn(this.#ctx, c);
    const text = c.identityText ??
      (c.role === "outbound" && c.dialAddress ? formatPeerAddress(c.dialAddress) : undefined);
    const why = describeClose(reason, c.resetReason);
    if (!c.socketGone) this.#ctx.out.push({ type: "close", conn: c.key, reason: why });
    const nowSec = unixSeconds(this.#ctx.cfg, now);
    const who = text ?? (c.remote ? formatPeerAddress(c.remote) : `#${c.key}`);
    if (reason.kind === "selfConnection") {
      if (c.role === "outbound") {
        if (text !== undefined) this.#dialer.markSelf(text, now);
      } else {
        for (const other of this.#ctx.conns.values()) {
          if (other.role === "outbound" && other.nonce === reason.nonce) {
            if (other.dialAddress) this.#dialer.markSelf(formatPeerAddress(other.dialAddress), now);
            other.conn?.close("connected to ourselves");
            this.#ctx.dirty.add(other);
          }
        }
      }
    } else if (
      c.role === "outbound" && !wasEstablished && text !== undefined && !this.#ctx.stopped
    ) {
      if (reason.kind === "busy") {
        this.#dialer.setBackoff(text, this.#ctx.cfg.busyBackoffMs, now);
      } else if (reason.kind !== "local" || c.resetReason !== undefined) {
        this.#dialer.failure(text, now);
      }
    }
    if (wasEstablished && text !== undefined) {
      if (reason.kind === "inactivity") this.#ctx.book.markDropped(text, nowSec);
      else this.#ctx.book.touch(text, nowSec);
      if (!this.#ctx.stopped) this.#dialer.setBackoff(text, this.#ctx.cfg.reconnectDelayMs, now);
    }
    if (reason.kind === "misbehaviour" && !c.manual) {
      const key = text ?? (c.remote && c.remote.ip);
      if (key !== undefined) this.#slots.discourage(key, now);
    }
    if (wasEstablished) {
      this.#ctx.out.log(c.refresh ? "debug" : "info", `dropped ${c.role} ${who}: ${why}`, {
        key: c.key,
        direction: c.role,
        address: text,
        reason: why,
      });
    } else if (!(text !== undefined && this.#dialer.warnManual(c, text, why))) {
      this.#ctx.out.log("debug", `${c.role} ${who} closed before the handshake completed: ${why}`, {
        key: c.key,
        direction: c.role,
        address: text,
        reason: why,
      });
    }
    this.#ctx.nextDialCheckAt = Math.min(this.#ctx.nextDialCheckAt, now);
  }
}
