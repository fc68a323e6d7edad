/**
 * The BitClone peer's node core (`PeerNode`, the shared stream-core contract `StreamCore` of
 * `src/core/` with its own `save` and `log` actions): the connection manager, the address book, gossip and persistence on top
 * of one {@linkcode PeerConn} per TCP connection. Sans-I/O: a driver (the one TCP driver, or the
 * simulator's stream host) feeds in accepted connections, connect results, bytes, end of stream,
 * errors and ticks, and carries out the actions it polls (`connect`, `write`, `close`; `save` and
 * `log` go to its caller).
 *
 * What it does (spec sections in brackets):
 * - keeps about `targetPeers` established connections, inbound and outbound both counting, with at
 *   least `minOutbound` outbound; dials while
 *   `(established + pendingDials < target || outbound + pendingDials < minOutbound)`, at most
 *   `maxPendingDials` at a time and `maxConnections` in all, re-checking every second and whenever
 *   a connection closes [A.8.1];
 * - dials manual (command-line) peers first, then draws from the address book [C.8]; never dials
 *   an address already connected or pending, one of ours, discouraged or backing off [A.8.5];
 *   back-off after n failures `min(30 s × 2^(n−1), 10 min)` (manual peers 60 s), 5 min after a
 *   busy reject, `reconnectDelayMs` after an established connection ends, +0–20 % jitter [A.8.3];
 * - detects self-connections with the pending-outbound nonce set and never dials, stores or
 *   gossips that address again [C.3]; closes the newer of two connections to one peer with
 *   `reject|409` [A.8.5];
 * - bounds inbound connections (`maxInbound`, `maxConnections`), evicting an inbound peer per
 *   [C.9] or refusing with `reject|503|busy|try later`; a newcomer past the target is accepted,
 *   and once more than `targetPeers` connections have been established for `trimDelayMs`, the
 *   surplus is closed down to the target [A.8.1] (beyond target + 1 at once): inbound connections
 *   first, longest established first, never a manual peer, and outbound ones only while more
 *   than `minOutbound` remain (target 0: no dialing and no trimming);
 * - stores gossip with the 2 h penalty, relays fresh unsolicited entries to 2 peers chosen by a
 *   keyed hash, answers `getaddr` once per connection with up to 1000 entries (the whole book
 *   while it holds at most 1000 that qualify; the spec's 23 % share is a deliberate deviation, so
 *   that a lab of 1,000 peers in one /16 settles with every peer knowing every address), and sends
 *   one advertisement per connection every 30 s [A.7, C.4–C.6]; marks a peer silent for 90 s
 *   *dropped* [A.7]; discourages a misbehaving peer for 24 h [C.10];
 * - address refresh (not in the spec): `getaddr` is answered once per connection, so a settled
 *   network would stop learning; every `refreshIntervalMs` (+0–20 % jitter), when exactly
 *   `targetPeers` connections are established and no dial is under way, dials one book address
 *   not connected, exchanges `getaddr`/`addr` (both sides ask, both answer) and closes the
 *   connection once the answer to our `getaddr` arrived (or 30 s after the handshake). A refresh
 *   connection is never trimmed nor counted toward the target when dialing, gets no relayed
 *   entries, and is logged at debug;
 * - emits `save` every `saveIntervalMs` when the book changed and on shutdown, a `log` for every
 *   connection made or dropped (with the reason), and a status line every `statusIntervalMs`.
 *
 * Connection ids are the core's: inbound connections get 1, 2, … (`handleAccept()` returns the
 * id), outgoing ones -1, -2, …, so the two never collide. Calls for an id the core does not know
 * (already closed) are ignored. A `close` action can name an id still connecting (the core's own
 * connect deadline, `connectTimeoutMs` + 1 s, or shutdown): the driver gives that connect up.
 *
 * `PeerNode` is the coordinator; its parts share one `NodeContext` (`node_context.ts`): dialing
 * and the address refresh in `node_dialing.ts`, gossip in `node_gossip.ts`, inbound slots and
 * the trim in `node_slots.ts`, the connection events in `node_events.ts`, saving and the status
 * line in `node_status.ts`, our own addresses in `node_self.ts`, the action queue in
 * `node_actions.ts`.
 *
 * @module
 */

import { addressScope, formatPeerAddress, parsePeerAddress, type PeerAddress } from "./address.ts";
import type { AddressBook } from "./address_book.ts";
import { PeerConn, type PeerRole } from "./peer_conn.ts";
import type { ConnId, StreamCore } from "../core/mod.ts";
import { TimeKeeper } from "../core/mod.ts";
import type {
  PeerNodeAction,
  PeerNodeConnection,
  PeerNodeOptions,
  PeerNodeOwnAction,
  PeerNodeStatus,
} from "./peer_node_types.ts";
import { newConn } from "./node_conn.ts";
import { nodeConfig } from "./peer_node_config.ts";
import { dropConn, newNodeContext, type NodeContext, unixSeconds } from "./node_context.ts";
import { NodeGossip } from "./node_gossip.ts";
import { NodeDialer } from "./node_dialing.ts";
import { NodeSlots } from "./node_slots.ts";
import { NodeEvents } from "./node_events.ts";
import { NodeReports, nodeStatus } from "./node_status.ts";

export type { PeerNodeAction, PeerNodeConnection, PeerNodeOptions } from "./peer_node_types.ts";

/**
 * The node core (see the module doc). Implements `StreamCore<PeerNodeOwnAction>`.
 *
 * @example One dial, by hand
 * ```ts
 * import { PeerNode } from "./peer_node.ts";
 * import assert from "node:assert/strict";
 * import { Prng } from "../util/prng.ts";
 * const node = new PeerNode({
 *   prng: Prng.seeded(1), now: 0, listenPort: 8333, manualPeers: ["192.0.2.7:8333"],
 * });
 * node.handleTick(0);
 * const actions = [];
 * for (let a = node.pollAction(); a; a = node.pollAction()) actions.push(a);
 * const dial = actions.find((a) => a.type === "connect");
 * assert.ok(dial?.type === "connect" && dial.to === "192.0.2.7:8333" && dial.conn < 0);
 * node.handleConnected(dial.conn, 10, "192.0.2.1:50000");
 * const send = node.pollAction();
 * assert.ok(send?.type === "write");
 * assert.ok(new TextDecoder().decode(send.bytes).startsWith("version|3|1|"));
 * ```
 */
export class PeerNode implements StreamCore<PeerNodeOwnAction> {
  readonly #ctx: NodeContext;
  readonly #dialer: NodeDialer;
  readonly #slots: NodeSlots;
  readonly #events: NodeEvents;
  #nextInboundKey = 1;
  readonly #time: TimeKeeper;
  readonly #reports: NodeReports;

  /**
   * Starts a node: loads the saved book and the manual peers (logging what it skipped). The
   * first dial check is due at once (`nextTimeout() === now`).
   *
   * @throws {TypeError} When `prng` is missing or `externalIp` is not an IP.
   * @throws {RangeError} When a number option is out of range.
   * @example Starting from a saved book
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({
   *   prng: Prng.seeded(1), now: 0, unixMillisOffset: 1_700_000_000_000,
   *   savedPeers: [{ address: "198.51.100.7:8333", lastSeen: 1_699_999_000 }],
   * });
   * assert.equal(node.status().known, 1);
   * assert.equal(node.nextTimeout(), 0);
   * ```
   */
  constructor(options: PeerNodeOptions) {
    const cfg = nodeConfig(options);
    const { now, manualPeers, savedPeers } = cfg;
    const ctx = this.#ctx = newNodeContext(cfg);
    this.#time = new TimeKeeper(now);
    this.#reports = new NodeReports(ctx, now);
    this.#dialer = new NodeDialer(ctx, now);
    this.#slots = new NodeSlots(ctx);
    this.#events = new NodeEvents(ctx, new NodeGossip(ctx), this.#dialer, this.#slots);

    const nowSec = unixSeconds(cfg, now);
    if (!Array.isArray(savedPeers)) throw new TypeError("Cannot create the node: savedPeers");
    const { loaded, skipped } = ctx.book.load(savedPeers, nowSec);
    if (skipped > 0) {
      ctx.out.log("warn", `saved peers: ${skipped} entries skipped (unusable, ours or no room)`);
    }
    if (!Array.isArray(manualPeers)) throw new TypeError("Cannot create the node: manualPeers");
    this.#dialer.addManualPeers(manualPeers, nowSec);
    this.#reports.markSaved();
    ctx.out.log(
      "info",
      `starting: ${ctx.manual.length} manual peers, ${loaded} saved addresses, target ${cfg.targetPeers} peers`,
    );
  }

  // ---- getters ---------------------------------------------------------------------------------

  /**
   * The address book (read it; let the node change it).
   *
   * @example Counting known addresses
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, manualPeers: ["192.0.2.7:8333"] });
   * assert.equal(node.addressBook.size, 1);
   * ```
   */
  get addressBook(): AddressBook {
    return this.#ctx.book;
  }

  /**
   * Log actions dropped because 10,000 waited undrained.
   *
   * @example None
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new PeerNode({ prng: Prng.seeded(1), now: 0 }).logsDropped, 0);
   * ```
   */
  get logsDropped(): number {
    return this.#ctx.out.logsDropped;
  }

  /**
   * Addresses we know to be our own (never dialed, stored or gossiped).
   *
   * @example Loopback with our port
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, listenPort: 4000 });
   * assert.ok(node.ownAddresses().includes("127.0.0.1:4000"));
   * ```
   */
  ownAddresses(): string[] {
    return this.#ctx.own.list();
  }

  /**
   * Every connection the node holds (dialing, handshaking, established).
   *
   * @example An accepted connection, handshake under way
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * assert.deepEqual(node.connections(), []);
   * node.handleAccept("192.0.2.9:50123", "192.0.2.1:8333", 5);
   * const [c] = node.connections();
   * assert.equal(c.direction, "inbound");
   * assert.equal(c.state, "handshaking");
   * assert.equal(c.remote, "192.0.2.9:50123");
   * ```
   */
  connections(): PeerNodeConnection[] {
    return [...this.#ctx.conns.values()].map((c) => ({
      key: c.key,
      direction: c.role,
      state: c.state,
      address: c.identityText ?? (c.dialAddress && formatPeerAddress(c.dialAddress)),
      remote: c.remote && formatPeerAddress(c.remote),
      userAgent: c.userAgent,
      version: c.version,
      since: c.openedAt,
      manual: c.manual,
    }));
  }

  /**
   * Connection and address counts.
   *
   * @example A saved book, both addresses dialed
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({
   *   prng: Prng.seeded(1), now: 0, unixMillisOffset: 1_700_000_000_000,
   *   savedPeers: [
   *     { address: "198.51.100.7:8333", lastSeen: 1_699_999_000, tried: true },
   *     { address: "203.0.113.5:8333", lastSeen: 1_699_999_000 },
   *   ],
   * });
   * node.handleTick(0);
   * assert.deepEqual(node.status(), { inbound: 0, outbound: 0, pending: 2, known: 2, tried: 1 });
   * ```
   */
  status(): PeerNodeStatus {
    return nodeStatus(this.#ctx);
  }

  // ---- inputs ----------------------------------------------------------------------------------

  /**
   * An inbound TCP connection was accepted. Without a free slot (after trying to evict an inbound
   * peer, spec §C.9) it is refused with `reject|503|busy|try later`.
   *
   * @returns The connection's id (1, 2, …).
   * @throws {RangeError} When `now` is not a valid time (an earlier one is taken as the latest).
   * @example Accepting
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * assert.equal(node.handleAccept("192.0.2.9:50123", "192.0.2.1:8333", 5), 1);
   * assert.equal(node.status().pending, 1);
   * assert.equal(node.pollAction()?.type, "log");
   * ```
   */
  handleAccept(remote: string, local: string, now: number): ConnId {
    now = this.#advance(now);
    const key = this.#nextInboundKey++;
    this.#accept(key, remote, local, now);
    return key;
  }

  #accept(key: ConnId, remote: string, local: string, now: number): void {
    if (this.#ctx.stopped) {
      this.#ctx.out.push({ type: "close", conn: key, reason: "shutting down" });
      return;
    }
    const ra = parsePeerAddress(String(remote));
    const la = parsePeerAddress(String(local));
    if (ra === undefined) {
      this.#ctx.out.log(
        "warn",
        `inbound ${String(remote).slice(0, 80)}: unreadable address, closed`,
      );
      this.#ctx.out.push({ type: "close", conn: key, reason: "unreadable remote address" });
      return;
    }
    if (la !== undefined) this.#ctx.own.learnLocal(la);
    const remoteText = formatPeerAddress(ra);
    if (!this.#slots.admit(key, ra, remoteText, now)) return;
    const ours = this.#ctx.own.ourAddress(la);
    const conn = this.#peerConn("inbound", ra, ours, now);
    const c = newConn(key, "inbound", now);
    c.state = "handshaking";
    c.remote = ra;
    c.loopback = addressScope(ra) === "loopback";
    c.local = ours;
    c.conn = conn;
    this.#ctx.conns.set(key, c);
    this.#ctx.out.log("debug", `inbound connection from ${remoteText}`, { key });
    this.#ctx.dirty.add(c);
    this.#events.flush(now);
  }

  /**
   * A `connect` action connected (`local` is our end of it): the handshake starts (our `version`
   * goes out).
   *
   * @throws {RangeError} When `now` is not a valid time (an earlier one is taken as the latest).
   * @example See the class example.
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * node.handleConnected(-99, 1, "192.0.2.1:50000"); // unknown id: ignored
   * assert.equal(node.status().pending, 0);
   * ```
   */
  handleConnected(key: ConnId, now: number, local?: string): void {
    now = this.#advance(now);
    const c = this.#ctx.conns.get(key);
    if (c === undefined || c.state !== "dialing" || c.dialAddress === undefined) return;
    const la = local === undefined ? undefined : parsePeerAddress(String(local));
    if (la !== undefined) this.#ctx.own.learnLocal(la);
    const dialText = formatPeerAddress(c.dialAddress);
    if (this.#ctx.own.has(dialText)) {
      dropConn(this.#ctx, c, "connected to ourselves"); // learned meanwhile to be our own address
      return;
    }
    const ours = this.#ctx.own.ourAddress(la);
    const conn = this.#peerConn("outbound", c.dialAddress, ours, now);
    c.state = "handshaking";
    c.dialDeadline = undefined;
    c.remote = c.dialAddress;
    c.loopback = addressScope(c.dialAddress) === "loopback";
    c.local = ours;
    c.conn = conn;
    c.nonce = conn.nonce;
    this.#ctx.pendingNonces.add(conn.nonce);
    this.#ctx.dirty.add(c);
    this.#events.flush(now);
  }

  /**
   * Bytes arrived on a connection.
   *
   * @throws {TypeError} When `bytes` is not a Uint8Array.
   * @throws {RangeError} When `now` is not a valid time (an earlier one is taken as the latest).
   * @example Unknown keys are ignored
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * while (node.pollAction() !== undefined); // the start-up log line
   * node.handleData(7, new TextEncoder().encode("ping|1\r\n"), 1);
   * assert.equal(node.pollAction(), undefined); // no pong, no close
   * ```
   */
  handleData(key: ConnId, bytes: Uint8Array, now: number): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Cannot handle data: bytes is not a Uint8Array");
    }
    now = this.#advance(now);
    const c = this.#ctx.conns.get(key);
    if (c?.conn === undefined) return;
    c.conn.receiveData(bytes, now);
    this.#ctx.dirty.add(c);
    this.#events.flush(now);
  }

  /**
   * The peer closed its side: the connection closes (for an outbound connection not yet
   * established, a failed attempt).
   *
   * @throws {RangeError} When `now` is not a valid time (an earlier one is taken as the latest).
   * @example Unknown keys are ignored
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * while (node.pollAction() !== undefined); // the start-up log line
   * node.handleEof(7, 1);
   * assert.equal(node.pollAction(), undefined);
   * ```
   */
  handleEof(key: ConnId, now: number): void {
    now = this.#advance(now);
    const c = this.#ctx.conns.get(key);
    if (c === undefined) return;
    if (c.conn === undefined) {
      this.#dialer.dialFailed(c, "closed while connecting", now);
    } else {
      c.conn.receiveEof(now);
      this.#ctx.dirty.add(c);
    }
    this.#events.flush(now);
  }

  /**
   * The connection failed: a connect refused or timed out (a failed attempt: back-off, and the
   * dial slot is free again), or a reset or write error. The driver already closed the socket, so
   * no `close` action follows.
   *
   * @throws {RangeError} When `now` is not a valid time (an earlier one is taken as the latest).
   * @example Unknown keys are ignored
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * while (node.pollAction() !== undefined); // the start-up log line
   * node.handleError(7, "reset", 1);
   * assert.equal(node.pollAction(), undefined);
   * ```
   */
  handleError(key: ConnId, reason: string, now: number): void {
    now = this.#advance(now);
    const c = this.#ctx.conns.get(key);
    if (c === undefined) return;
    c.socketGone = true;
    const why = String(reason).slice(0, 200);
    if (c.conn === undefined) {
      this.#dialer.dialFailed(c, `dial failed: ${why}`, now);
    } else {
      c.resetReason = why;
      c.conn.close(`connection reset: ${why}`);
      this.#ctx.dirty.add(c);
    }
    this.#events.flush(now);
  }

  /**
   * Timer work due at `now`: each connection's timers, connect deadlines, dialing, saving, the
   * status line. A no-op when nothing is due.
   *
   * @throws {RangeError} When `now` is not a valid time (an earlier one is taken as the latest).
   * @example The first tick dials
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, manualPeers: ["192.0.2.7:8333"] });
   * node.handleTick(0);
   * assert.equal(node.status().pending, 1);
   * ```
   */
  handleTick(now: number): void {
    now = this.#advance(now);
    if (this.#ctx.stopped) return;
    this.#events.tickConnections(now);
    this.#events.flush(now);
    if (now >= this.#ctx.nextDialCheckAt || this.#slots.trimDue(now)) {
      this.#slots.trim(now);
      this.#events.flush(now);
    }
    if (now >= this.#ctx.nextDialCheckAt) {
      this.#ctx.nextDialCheckAt = now + this.#ctx.cfg.dialCheckIntervalMs;
      this.#dialer.maybeDial(now);
    }
    this.#dialer.tickRefresh(now);
    this.#reports.tick(now);
    this.#ctx.backoff.prune(now);
    this.#ctx.discouraged.prune(now);
  }

  /**
   * Stops cleanly: closes every connection (dials under way too), emits a final `save` and a log
   * line. Later inputs are ignored (an inbound connection is closed at once). Idempotent.
   *
   * @throws {RangeError} When `now` is not a valid time (an earlier one is taken as the latest).
   * @example The final save
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, manualPeers: ["192.0.2.7:8333"] });
   * node.shutdown(10);
   * const types = [];
   * for (let a = node.pollAction(); a; a = node.pollAction()) types.push(a.type);
   * assert.ok(types.includes("save"));
   * assert.equal(node.nextTimeout(), undefined);
   * ```
   */
  shutdown(now: number): void {
    now = this.#advance(now);
    if (this.#ctx.stopped) return;
    this.#ctx.stopped = true;
    for (const c of [...this.#ctx.conns.values()]) {
      if (c.conn === undefined) {
        dropConn(this.#ctx, c, "shutting down");
      } else {
        c.conn.close("shutting down");
        this.#ctx.dirty.add(c);
      }
    }
    this.#events.flush(now);
    this.#reports.save();
    this.#ctx.out.log("info", "stopped: connections closed");
  }

  // ---- outputs ---------------------------------------------------------------------------------

  /**
   * The next action, or `undefined`.
   *
   * @example Draining
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * let n = 0;
   * while (node.pollAction() !== undefined) n++;
   * assert.equal(n, 1); // the start-up log line
   * ```
   */
  pollAction(): PeerNodeAction | undefined {
    return this.#ctx.out.poll();
  }

  /**
   * When {@linkcode PeerNode.handleTick} is next due, or `undefined` after shutdown.
   *
   * @example Due at once after start
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new PeerNode({ prng: Prng.seeded(1), now: 42 }).nextTimeout(), 42);
   * ```
   */
  nextTimeout(): number | undefined {
    if (this.#ctx.stopped) return undefined;
    let at = Math.min(this.#reports.nextDue, this.#dialer.nextRefreshAt);
    at = Math.min(at, this.#events.nextConnectionTimeout());
    if (this.#ctx.nextDialCheckAt < at && this.#dialer.wantsDial()) at = this.#ctx.nextDialCheckAt;
    const trimAt = this.#slots.trimAt;
    if (trimAt !== undefined) at = Math.min(at, trimAt);
    return at;
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** A PeerConn for a connection (an inbound one checks our pending nonces, spec §C.3). */
  #peerConn(role: PeerRole, remoteAddress: PeerAddress, localAddress: PeerAddress, now: number) {
    const cfg = this.#ctx.cfg;
    return new PeerConn({
      role,
      prng: this.#ctx.prng.fork(),
      now,
      remoteAddress,
      localAddress,
      userAgent: cfg.userAgent,
      unixMillisOffset: cfg.unixMillisOffset,
      ...(role === "inbound" ? { ownNonces: this.#ctx.pendingNonces } : {}),
      handshakeTimeoutMs: cfg.handshakeTimeoutMs,
      pingIntervalMs: cfg.pingIntervalMs,
      inactivityTimeoutMs: cfg.inactivityTimeoutMs,
      advertiseIntervalMs: cfg.advertiseIntervalMs,
      versionReplyDelayMs: cfg.versionReplyDelayMs,
    });
  }

  /** The time policy of `src/core/`: an earlier `now` is taken as the latest one. */
  #advance(now: number): number {
    return this.#time.advance(now);
  }
}
