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
 * @module
 */

import type { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";
import {
  addressScope,
  formatPeerAddress,
  networkGroup,
  parsePeerAddress,
  type PeerAddress,
} from "./address.ts";
import { AddressBook, type BookEntry } from "./address_book.ts";
import { type AddrEntry, encodeMessage } from "./messages.ts";
import {
  type PeerCloseReason,
  PeerConn,
  type PeerEvent,
  type PeerInfo,
  type ReceivedAddr,
  type RejectFields,
} from "./peer_conn.ts";
import type { ConnId, StreamCore } from "../core/mod.ts";
import { TimeKeeper } from "../core/mod.ts";
import type {
  PeerNodeAction,
  PeerNodeConnection,
  PeerNodeOptions,
  PeerNodeOwnAction,
  PeerNodeStatus,
} from "./peer_node_types.ts";
import { type Conn, describeClose, newConn } from "./node_conn.ts";
import { type NodeConfig, nodeConfig } from "./peer_node_config.ts";
import { Backoffs, Discouragements } from "./node_penalties.ts";
import { pickEviction, trimVictims } from "./node_eviction.ts";

export type { PeerNodeAction, PeerNodeConnection, PeerNodeOptions } from "./peer_node_types.ts";

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
/** How long an established refresh connection waits for the answer to our `getaddr`. */
const REFRESH_WAIT_MS = 30_000;
/** Jitter of the refresh period. */
const REFRESH_JITTER = 0.2;
const DIAL_GRACE_MS = 1000;
const SELF_MAX = 1024;
const LOG_QUEUE_MAX = 10_000;
const PUMP_ROUNDS_MAX = 64;
const FLUSH_ROUNDS_MAX = 100_000;

/** Connections past the target that may wait `trimDelayMs`; more are closed at once. */
const TRIM_SLACK = 1;

const BUSY: RejectFields = { code: 503, reason: "busy", details: "try later" };

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
  readonly #prng: Prng;
  readonly #book: AddressBook;
  readonly #cfg: NodeConfig;

  readonly #conns = new Map<ConnId, Conn>();
  readonly #dirty = new Set<Conn>();
  readonly #pendingNonces = new Set<string>();
  readonly #manual: string[] = [];
  /** Manual peers whose failure was logged at warn since they were last reached. */
  readonly #manualWarned = new Set<string>();
  readonly #self = new Set<string>();
  readonly #backoff: Backoffs;
  readonly #discouraged: Discouragements;
  #actions: PeerNodeAction[] = [];
  #actionHead = 0;
  #logsQueued = 0;
  #logsDropped = 0;
  #nextDialKey = -1;
  #nextInboundKey = 1;
  readonly #time: TimeKeeper;
  #nextDialCheckAt: number;
  #nextSaveAt: number;
  #nextStatusAt: number;
  #nextRefreshAt: number;
  #savedChanges: number;
  #stopped = false;
  #flushing = false;
  #relayDay = -1;
  /** Since when more than the target have been established (spec §A.8.1), or `undefined`. */
  #surplusSince: number | undefined;
  readonly #relayHashes = new Map<string, number>();

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
    const { prng, now, listenPort, manualPeers, savedPeers, targetPeers, addressBookKey } = cfg;
    const { saveIntervalMs, statusIntervalMs, externalIp: ext } = cfg;
    this.#cfg = cfg;
    this.#prng = prng;
    this.#backoff = new Backoffs(cfg, prng);
    this.#discouraged = new Discouragements(cfg.discourageMs);
    this.#book = new AddressBook(
      addressBookKey === undefined ? { prng: prng.fork() } : { key: addressBookKey },
    );
    this.#time = new TimeKeeper(now);
    this.#nextDialCheckAt = now;
    this.#nextSaveAt = now + saveIntervalMs;
    this.#nextStatusAt = now + statusIntervalMs;
    this.#nextRefreshAt = now + cfg.refreshIntervalMs * (1 + prng.float() * REFRESH_JITTER);

    // Addresses that are always ours (spec §C.3 prevention).
    this.#addSelf(`127.0.0.1:${listenPort}`);
    this.#addSelf(`[::1]:${listenPort}`);
    if (ext !== undefined) {
      this.#addSelf(formatPeerAddress({ ip: ext, v6: ext.includes(":"), port: listenPort }));
    }

    const nowSec = this.#unixSeconds(now);
    if (!Array.isArray(savedPeers)) throw new TypeError("Cannot create the node: savedPeers");
    const { loaded, skipped } = this.#book.load(savedPeers, nowSec);
    if (skipped > 0) {
      this.#log("warn", `saved peers: ${skipped} entries skipped (unusable, ours or no room)`);
    }
    if (!Array.isArray(manualPeers)) throw new TypeError("Cannot create the node: manualPeers");
    for (const raw of manualPeers) {
      const a = typeof raw === "string" ? parsePeerAddress(raw) : undefined;
      if (a === undefined || addressScope(a) === "unusable") {
        this.#log(
          "warn",
          `manual peer ${JSON.stringify(String(raw).slice(0, 80))} skipped: not a usable ip:port`,
        );
        continue;
      }
      const text = formatPeerAddress(a);
      if (this.#self.has(text) || this.#manual.includes(text)) continue;
      if (!this.#book.addManual(a, nowSec)) {
        this.#log("warn", `manual peer ${text} skipped: too many manual peers`);
        continue;
      }
      this.#manual.push(text);
    }
    this.#savedChanges = this.#book.changes;
    this.#log(
      "info",
      `starting: ${this.#manual.length} manual peers, ${loaded} saved addresses, target ${targetPeers} peers`,
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
    return this.#book;
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
    return this.#logsDropped;
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
    return [...this.#self];
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
    return [...this.#conns.values()].map((c) => ({
      key: c.key,
      direction: c.role,
      state: c.state,
      address: c.identityText ?? (c.dialAddress && formatPeerAddress(c.dialAddress)),
      remote: c.remote && formatPeerAddress(c.remote),
      userAgent: c.userAgent,
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
    let inbound = 0, outbound = 0, pending = 0;
    for (const c of this.#conns.values()) {
      if (c.state !== "established") pending++;
      else if (c.role === "inbound") inbound++;
      else outbound++;
    }
    return { inbound, outbound, pending, known: this.#book.size, tried: this.#book.triedCount };
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
    if (this.#stopped) {
      this.#push({ type: "close", conn: key, reason: "shutting down" });
      return;
    }
    const ra = parsePeerAddress(String(remote));
    const la = parsePeerAddress(String(local));
    if (ra === undefined) {
      this.#log("warn", `inbound ${String(remote).slice(0, 80)}: unreadable address, closed`);
      this.#push({ type: "close", conn: key, reason: "unreadable remote address" });
      return;
    }
    if (la !== undefined) this.#learnLocal(la);
    const remoteText = formatPeerAddress(ra);
    let inbound = 0;
    for (const c of this.#conns.values()) if (c.role === "inbound") inbound++;
    const free = Math.min(
      this.#cfg.maxConnections - this.#conns.size,
      this.#cfg.maxInbound - inbound,
    );
    const discouraged = addressScope(ra) === "public" && this.#discouraged.has(ra.ip, now);
    if (free <= 0 || (discouraged && free < 2)) {
      const victim = free <= 0 && !discouraged ? this.#pickEviction(now) : undefined;
      if (victim === undefined) {
        this.#refuse(key, `inbound ${remoteText} refused: no free slot`);
        return;
      }
      this.#log("info", `evicting inbound ${victim.identityText ?? "?"} for ${remoteText}`, {
        key: victim.key,
      });
      victim.conn?.close("evicted for a new inbound connection");
      this.#dirty.add(victim);
    }
    const ours = this.#ourAddress(la);
    const conn = new PeerConn({
      role: "inbound",
      prng: this.#prng.fork(),
      now,
      remoteAddress: ra,
      localAddress: ours,
      userAgent: this.#cfg.userAgent,
      unixMillisOffset: this.#cfg.unixMillisOffset,
      ownNonces: this.#pendingNonces,
      handshakeTimeoutMs: this.#cfg.handshakeTimeoutMs,
      pingIntervalMs: this.#cfg.pingIntervalMs,
      inactivityTimeoutMs: this.#cfg.inactivityTimeoutMs,
      advertiseIntervalMs: this.#cfg.advertiseIntervalMs,
      versionReplyDelayMs: this.#cfg.versionReplyDelayMs,
    });
    const c = newConn(key, "inbound", now);
    c.state = "handshaking";
    c.remote = ra;
    c.loopback = addressScope(ra) === "loopback";
    c.local = ours;
    c.conn = conn;
    this.#conns.set(key, c);
    this.#log("debug", `inbound connection from ${remoteText}`, { key });
    this.#dirty.add(c);
    this.#flush(now);
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
    const c = this.#conns.get(key);
    if (c === undefined || c.state !== "dialing" || c.dialAddress === undefined) return;
    const la = local === undefined ? undefined : parsePeerAddress(String(local));
    if (la !== undefined) this.#learnLocal(la);
    const dialText = formatPeerAddress(c.dialAddress);
    if (this.#self.has(dialText)) {
      this.#drop(c, "connected to ourselves"); // learned meanwhile to be our own address
      return;
    }
    const ours = this.#ourAddress(la);
    const conn = new PeerConn({
      role: "outbound",
      prng: this.#prng.fork(),
      now,
      remoteAddress: c.dialAddress,
      localAddress: ours,
      userAgent: this.#cfg.userAgent,
      unixMillisOffset: this.#cfg.unixMillisOffset,
      handshakeTimeoutMs: this.#cfg.handshakeTimeoutMs,
      pingIntervalMs: this.#cfg.pingIntervalMs,
      inactivityTimeoutMs: this.#cfg.inactivityTimeoutMs,
      advertiseIntervalMs: this.#cfg.advertiseIntervalMs,
      versionReplyDelayMs: this.#cfg.versionReplyDelayMs,
    });
    c.state = "handshaking";
    c.dialDeadline = undefined;
    c.remote = c.dialAddress;
    c.loopback = addressScope(c.dialAddress) === "loopback";
    c.local = ours;
    c.conn = conn;
    c.nonce = conn.nonce;
    this.#pendingNonces.add(conn.nonce);
    this.#dirty.add(c);
    this.#flush(now);
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
    const c = this.#conns.get(key);
    if (c?.conn === undefined) return;
    c.conn.receiveData(bytes, now);
    this.#dirty.add(c);
    this.#flush(now);
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
    const c = this.#conns.get(key);
    if (c === undefined) return;
    if (c.conn === undefined) {
      this.#dialFailed(c, "closed while connecting", now);
    } else {
      c.conn.receiveEof(now);
      this.#dirty.add(c);
    }
    this.#flush(now);
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
    const c = this.#conns.get(key);
    if (c === undefined) return;
    c.socketGone = true;
    const why = String(reason).slice(0, 200);
    if (c.conn === undefined) {
      this.#dialFailed(c, `dial failed: ${why}`, now);
    } else {
      c.resetReason = why;
      c.conn.close(`connection reset: ${why}`);
      this.#dirty.add(c);
    }
    this.#flush(now);
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
    if (this.#stopped) return;
    for (const c of [...this.#conns.values()]) {
      if (c.state === "dialing") {
        if (c.dialDeadline !== undefined && now >= c.dialDeadline) {
          this.#dialFailed(c, "connect timed out", now);
        }
        continue;
      }
      const at = c.conn?.nextTimeout();
      if (at !== undefined && at <= now) {
        c.conn!.handleTick(now);
        this.#dirty.add(c);
      }
      if (c.refresh && c.state === "established" && now >= c.establishedAt + REFRESH_WAIT_MS) {
        c.conn?.close("address refresh: no answer to getaddr");
        this.#dirty.add(c);
      }
    }
    this.#flush(now);
    if (now >= this.#nextDialCheckAt || this.#trimDue(now)) {
      this.#trim(now);
      this.#flush(now);
    }
    if (now >= this.#nextDialCheckAt) {
      this.#nextDialCheckAt = now + this.#cfg.dialCheckIntervalMs;
      this.#maybeDial(now);
    }
    if (now >= this.#nextRefreshAt) {
      this.#nextRefreshAt = now +
        this.#cfg.refreshIntervalMs * (1 + this.#prng.float() * REFRESH_JITTER);
      this.#maybeRefresh(now);
    }
    if (now >= this.#nextSaveAt) {
      this.#nextSaveAt = now + this.#cfg.saveIntervalMs;
      if (this.#book.changes !== this.#savedChanges) this.#save();
    }
    if (now >= this.#nextStatusAt) {
      this.#nextStatusAt = now + this.#cfg.statusIntervalMs;
      const s = this.status();
      this.#log(
        "info",
        `status: ${s.inbound} in, ${s.outbound} out, ${s.pending} pending; ${s.known} addresses known (${s.tried} tried)`,
        { ...s },
      );
    }
    this.#pruneMaps(now);
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
    if (this.#stopped) return;
    this.#stopped = true;
    for (const c of [...this.#conns.values()]) {
      if (c.conn === undefined) {
        this.#drop(c, "shutting down");
      } else {
        c.conn.close("shutting down");
        this.#dirty.add(c);
      }
    }
    this.#flush(now);
    this.#save();
    this.#log("info", "stopped: connections closed");
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
    if (this.#actionHead >= this.#actions.length) return undefined;
    const a = this.#actions[this.#actionHead++];
    if (a.type === "log") this.#logsQueued--;
    if (this.#actionHead === this.#actions.length) {
      this.#actions = [];
      this.#actionHead = 0;
    }
    return a;
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
    if (this.#stopped) return undefined;
    let at = Math.min(this.#nextSaveAt, this.#nextStatusAt, this.#nextRefreshAt);
    for (const c of this.#conns.values()) {
      const t = c.state === "dialing" ? c.dialDeadline : c.conn?.nextTimeout();
      if (t !== undefined && t < at) at = t;
      if (c.refresh && c.state === "established") {
        at = Math.min(at, c.establishedAt + REFRESH_WAIT_MS);
      }
    }
    if (this.#nextDialCheckAt < at && this.#wantsDial()) at = this.#nextDialCheckAt;
    if (this.#surplusSince !== undefined) {
      at = Math.min(at, this.#surplusSince + this.#cfg.trimDelayMs);
    }
    return at;
  }

  // ---- connection events -----------------------------------------------------------------------

  /** Drains every dirty connection's lines and events until nothing moves. */
  #flush(now: number): void {
    if (this.#flushing) return; // the outer flush picks up what was marked dirty
    this.#flushing = true;
    try {
      for (let round = 0; this.#dirty.size > 0; round++) {
        assert(round < FLUSH_ROUNDS_MAX, "flush does not settle");
        const c: Conn = this.#dirty.values().next().value!;
        this.#dirty.delete(c);
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
      let progress = this.#sendQueued(c);
      for (let e = conn.pollEvent(); e !== undefined; e = conn.pollEvent()) {
        progress = true;
        this.#onEvent(c, e, now);
      }
      if (!progress) return;
    }
    assert(false, "a connection keeps producing output");
  }

  /** Moves the connection's queued lines into one `send` action. */
  #sendQueued(c: Conn): boolean {
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
    this.#push({ type: "write", conn: c.key, bytes });
    return true;
  }

  #onEvent(c: Conn, e: PeerEvent, now: number): void {
    const who = () => c.identityText ?? (c.remote ? formatPeerAddress(c.remote) : `#${c.key}`);
    switch (e.type) {
      case "established":
        this.#onEstablished(c, e.peer, now);
        return;
      case "addrReceived":
        this.#onAddr(c, e.entries, e.solicited, e.lineEntries, now);
        return;
      case "getaddrReceived":
        this.#answerGetaddr(c, now);
        return;
      case "advertiseDue":
        this.#advertise(c, now);
        return;
      case "pingRtt":
        return;
      case "messageReceived":
        this.#log("info", `message from ${who()}: ${e.code ?? "-"} ${e.summary} ${e.details}`, {
          key: c.key,
        });
        return;
      case "rejectReceived":
        this.#log("info", `reject from ${who()}: ${e.code ?? "-"} ${e.reason} ${e.details}`, {
          key: c.key,
        });
        return;
      case "rejectSent":
        this.#log("debug", `reject to ${who()}: ${e.reject.code} ${e.reject.reason}`, {
          key: c.key,
        });
        return;
      case "misbehaviour":
        this.#log("debug", `${who()} misbehaved: ${e.offence} (+${e.points}, score ${e.score})`, {
          key: c.key,
        });
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
    if (c.nonce !== undefined) this.#pendingNonces.delete(c.nonce);
    c.identity = c.role === "outbound" ? c.dialAddress : peer.listenAddress;
    c.identityText = c.identity && formatPeerAddress(c.identity);
    const text = c.identityText;
    c.manual = text !== undefined && this.#manual.includes(text);
    if (text !== undefined) {
      for (const other of this.#conns.values()) {
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
    if (c.role === "inbound" && text !== undefined && this.#discouraged.has(text, now)) {
      const free = this.#cfg.maxConnections - this.#conns.size;
      if (free < 1) {
        conn.close("discouraged peer without a spare slot", BUSY);
        return;
      }
    }
    const nowSec = this.#unixSeconds(now);
    if (c.role === "outbound" && text !== undefined) {
      this.#book.markGood(text, nowSec);
      this.#backoff.forget(text);
      this.#manualWarned.delete(text);
    } else if (text !== undefined) {
      this.#book.touch(text, nowSec);
    }
    if (!c.refresh) this.#trim(now);
    const skew = peer.clockOffsetSec === undefined ? "" : `, clock ${peer.clockOffsetSec} s`;
    this.#log(
      c.refresh ? "debug" : "info",
      `connected ${c.refresh ? "refresh " : ""}${c.role} ${text ?? formatPeerAddress(c.remote!)} (${
        peer.userAgent || "no user agent"
      }, version ${peer.protocolVersion}${skew})`,
      { key: c.key, direction: c.role, address: text },
    );
  }

  #onAddr(
    c: Conn,
    entries: readonly ReceivedAddr[],
    solicited: boolean,
    lineEntries: number,
    now: number,
  ): void {
    const nowSec = this.#unixSeconds(now);
    const source = c.identity ?? c.remote;
    const relay = !solicited && lineEntries <= RELAY_MAX_ENTRIES_PER_LINE;
    for (const r of entries) {
      const text = formatPeerAddress(r.address);
      if (this.#self.has(text) || this.#discouraged.has(text, now)) continue;
      const stored = r.selfAnnouncement ? r.time : Math.max(0, r.time - ADDR_PENALTY_SEC);
      this.#book.add(text, stored, nowSec, { source, evidenceTime: r.time });
      if (relay && !r.clamped && r.time >= nowSec - RELAY_RECENT_SEC) {
        this.#relay(c, r.address, text, r.time, nowSec);
      }
    }
    if (c.refresh && solicited) {
      c.conn?.close(`address refresh done (${entries.length} entries)`);
      this.#dirty.add(c);
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
    for (const c of this.#conns.values()) {
      if (c === from || c.state !== "established" || c.refresh || c.identityText === text) continue;
      if (loopback && !c.loopback) continue;
      const peer = c.identityText ?? `#${c.key}`;
      const memo = `${text} ${peer}`;
      let h = this.#relayHashes.get(memo);
      if (h === undefined) {
        h = this.#book.hash(text, day, peer);
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
  #answerGetaddr(c: Conn, now: number): void {
    const conn = c.conn;
    if (conn === undefined || conn.state !== "established") return;
    this.#refreshSent(c, now);
    const nowSec = this.#unixSeconds(now);
    const out: AddrEntry[] = [];
    const taken = new Set<string>();
    const take = (address: PeerAddress, text: string, time: number, own = false) => {
      if (taken.has(text) || out.length >= GETADDR_MAX) return;
      if (!own && (text === c.identityText || this.#self.has(text))) return;
      taken.add(text);
      out.push({ time, address });
    };
    if (c.local !== undefined) take(c.local, formatPeerAddress(c.local), nowSec, true);
    for (const other of this.#conns.values()) {
      if (other !== c && other.state === "established" && other.identity !== undefined) {
        take(other.identity, other.identityText!, nowSec);
      }
    }
    const loopbackPeer = c.loopback;
    const sample = this.#book.sample(
      this.#prng,
      GETADDR_MAX - out.length,
      nowSec,
      (e) =>
        !taken.has(e.text) && e.text !== c.identityText && !this.#self.has(e.text) &&
        !this.#discouraged.has(e.text, now) && (loopbackPeer || e.group !== "local"),
    );
    for (const e of sample) take(e.address, e.text, e.time);
    for (const text of taken) this.#markSent(c, text);
    conn.sendAddr(out);
  }

  /** Spec §A.7: one `addr` line with our address first and up to 9 more entries. */
  #advertise(c: Conn, now: number): void {
    const conn = c.conn;
    if (conn === undefined || conn.state !== "established") return;
    this.#refreshSent(c, now);
    const nowSec = this.#unixSeconds(now);
    const out: AddrEntry[] = [];
    const taken = new Set<string>();
    const take = (address: PeerAddress, time: number, own = false): boolean => {
      if (out.length >= ADVERTISE_ENTRIES) return false;
      const text = formatPeerAddress(address);
      if (taken.has(text)) return false;
      if (!own && (text === c.identityText || this.#self.has(text))) return false;
      const entry = this.#book.get(text);
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
      if (take(e.address, e.time)) this.#markSent(c, text);
    }
    // Then our other peers and other fresh entries. An advertisement has room for 9 while we may
    // have 11 peers: news first (peers, then recent entries, this peer has not had from us), in a
    // random order so that every peer gets its turn; already-sent peers refresh what is left.
    const others: { address: PeerAddress; text: string; sent: boolean }[] = [];
    for (const other of this.#conns.values()) {
      if (other !== c && other.state === "established" && other.identity !== undefined) {
        const text = other.identityText!;
        others.push({ address: other.identity, text, sent: c.sent.has(text) });
      }
    }
    this.#prng.shuffle(others);
    for (const o of others) {
      if (!o.sent && take(o.address, nowSec)) this.#markSent(c, o.text);
    }
    if (out.length < ADVERTISE_ENTRIES) {
      for (const e of this.#book.entries()) {
        if (out.length >= ADVERTISE_ENTRIES) break;
        if (e.time < nowSec - RELAY_RECENT_SEC || c.sent.has(e.text)) continue;
        if (this.#book.isTerrible(e, nowSec) || this.#discouraged.has(e.text, now)) continue;
        if (take(e.address, e.time)) this.#markSent(c, e.text);
      }
    }
    for (const o of others) if (o.sent) take(o.address, nowSec);
    conn.sendAddr(out);
  }

  #onClosed(c: Conn, reason: PeerCloseReason, wasEstablished: boolean, now: number): void {
    // Lines queued before the close (a final reject) go out before the close action.
    this.#sendQueued(c);
    this.#remove(c);
    const text = c.identityText ??
      (c.role === "outbound" && c.dialAddress ? formatPeerAddress(c.dialAddress) : undefined);
    const why = describeClose(reason, c.resetReason);
    if (!c.socketGone) this.#push({ type: "close", conn: c.key, reason: why });
    const nowSec = this.#unixSeconds(now);
    const who = text ?? (c.remote ? formatPeerAddress(c.remote) : `#${c.key}`);
    if (reason.kind === "selfConnection") {
      if (c.role === "outbound") {
        if (text !== undefined) this.#markSelf(text, now);
      } else {
        for (const other of this.#conns.values()) {
          if (other.role === "outbound" && other.nonce === reason.nonce) {
            if (other.dialAddress) this.#markSelf(formatPeerAddress(other.dialAddress), now);
            other.conn?.close("connected to ourselves");
            this.#dirty.add(other);
          }
        }
      }
    } else if (c.role === "outbound" && !wasEstablished && text !== undefined && !this.#stopped) {
      if (reason.kind === "busy") {
        this.#setBackoff(text, this.#cfg.busyBackoffMs, now);
      } else if (reason.kind !== "local" || c.resetReason !== undefined) {
        this.#failure(text, now);
      }
    }
    if (wasEstablished && text !== undefined) {
      if (reason.kind === "inactivity") this.#book.markDropped(text, nowSec);
      else this.#book.touch(text, nowSec);
      if (!this.#stopped) this.#setBackoff(text, this.#cfg.reconnectDelayMs, now);
    }
    if (reason.kind === "misbehaviour" && !c.manual) {
      const key = text ?? (c.remote && c.remote.ip);
      if (key !== undefined) this.#discourage(key, now);
    }
    if (wasEstablished) {
      this.#log(c.refresh ? "debug" : "info", `dropped ${c.role} ${who}: ${why}`, {
        key: c.key,
        direction: c.role,
        address: text,
        reason: why,
      });
    } else if (!(text !== undefined && this.#warnManual(c, text, why))) {
      this.#log("debug", `${c.role} ${who} closed before the handshake completed: ${why}`, {
        key: c.key,
        direction: c.role,
        address: text,
        reason: why,
      });
    }
    this.#nextDialCheckAt = Math.min(this.#nextDialCheckAt, now);
  }

  // ---- dialing ---------------------------------------------------------------------------------

  #wantsDial(): boolean {
    if (this.#stopped) return false;
    let established = 0, outbound = 0, pending = 0;
    for (const c of this.#conns.values()) {
      if (c.refresh) continue; // short-lived: not part of the target
      if (c.role === "outbound") {
        if (c.state === "established") outbound++;
        else pending++;
      }
      if (c.state === "established") established++;
    }
    if (pending >= this.#cfg.maxPendingDials || this.#conns.size >= this.#cfg.maxConnections) {
      return false;
    }
    return established + pending < this.#cfg.targetPeers ||
      outbound + pending < this.#cfg.minOutbound;
  }

  #maybeDial(now: number): void {
    for (let i = 0; i < this.#cfg.maxPendingDials && this.#wantsDial(); i++) {
      const candidate = this.#pickCandidate(now);
      if (candidate === undefined) return;
      this.#dial(candidate, now);
    }
  }

  /**
   * The address refresh (module doc): one short connection to a book address not connected, when
   * exactly the target is established and nothing else is under way (a node below its target
   * learns from the answers on the connections it dials anyway), so that at most target + 1
   * connections are established.
   */
  #maybeRefresh(now: number): void {
    const { targetPeers, maxConnections } = this.#cfg;
    if (this.#stopped || targetPeers < 1 || this.#conns.size >= maxConnections) return;
    let established = 0;
    for (const c of this.#conns.values()) {
      if (c.state !== "established") return; // a dial or handshake under way (or a refresh)
      if (c.refresh) return;
      established++;
    }
    if (established !== targetPeers) return; // below: it dials anyway; above: it trims
    const busy = new Set<string>();
    for (const c of this.#conns.values()) {
      if (c.identityText !== undefined) busy.add(c.identityText);
    }
    const pick = this.#book.select(this.#prng, this.#unixSeconds(now), {
      skip: (e: BookEntry) =>
        busy.has(e.text) || this.#self.has(e.text) || this.#backoff.active(e.text, now) ||
        this.#discouraged.has(e.text, now),
    });
    if (pick !== undefined) this.#dial(pick.address, now, true);
  }

  #pickCandidate(now: number): PeerAddress | undefined {
    const busy = new Set<string>();
    const groups = new Set<string>();
    for (const c of this.#conns.values()) {
      if (c.identityText !== undefined) busy.add(c.identityText);
      if (c.dialAddress !== undefined) {
        busy.add(formatPeerAddress(c.dialAddress));
        groups.add(networkGroup(c.dialAddress));
      }
    }
    const usable = (text: string) =>
      !busy.has(text) && !this.#self.has(text) && !this.#backoff.active(text, now);
    for (const text of this.#manual) {
      if (usable(text)) return this.#book.get(text)?.address ?? parsePeerAddress(text);
    }
    const pick = this.#book.select(this.#prng, this.#unixSeconds(now), {
      skip: (e: BookEntry) => !usable(e.text) || this.#discouraged.has(e.text, now),
      avoidGroups: groups,
    });
    return pick?.address;
  }

  #dial(address: PeerAddress, now: number, refresh = false): void {
    let key = this.#nextDialKey--;
    while (this.#conns.has(key)) key = this.#nextDialKey--;
    const text = formatPeerAddress(address);
    const c = newConn(key, "outbound", now);
    c.dialAddress = address;
    c.dialDeadline = now + this.#cfg.connectTimeoutMs + DIAL_GRACE_MS;
    c.manual = this.#manual.includes(text);
    c.refresh = refresh;
    this.#conns.set(key, c);
    this.#book.markAttempt(text, this.#unixSeconds(now));
    this.#push({ type: "connect", conn: key, to: text, timeoutMs: this.#cfg.connectTimeoutMs });
    const note = c.manual ? " (manual)" : refresh ? " (address refresh)" : "";
    this.#log("debug", `dialing ${text}${note}`, { key });
  }

  #dialFailed(c: Conn, why: string, now: number): void {
    assert(c.dialAddress !== undefined, "a dial without an address");
    const text = formatPeerAddress(c.dialAddress);
    this.#drop(c, why);
    if (!this.#stopped) this.#failure(text, now);
    if (!this.#warnManual(c, text, why)) {
      this.#log("debug", `${text}: ${why}`, { key: c.key, address: text, reason: why });
    }
    this.#nextDialCheckAt = Math.min(this.#nextDialCheckAt, now);
  }

  /** Forgets a connection that has no PeerConn (or must not report), emitting `close`. */
  #drop(c: Conn, why: string): void {
    this.#remove(c);
    if (!c.socketGone) this.#push({ type: "close", conn: c.key, reason: why });
  }

  #remove(c: Conn): void {
    this.#conns.delete(c.key);
    this.#dirty.delete(c);
    if (c.nonce !== undefined) this.#pendingNonces.delete(c.nonce);
  }

  // ---- slots, eviction, discouragement, self ---------------------------------------------------

  /**
   * A command-line peer we failed to reach: logged at warn with the reason once, until it is
   * reached again (later failures stay at debug). Returns whether it logged.
   */
  #warnManual(c: Conn, text: string, why: string): boolean {
    if (!c.manual || c.role !== "outbound" || this.#stopped || this.#manualWarned.has(text)) {
      return false;
    }
    this.#manualWarned.add(text);
    this.#log("warn", `manual peer ${text} unreachable: ${why} (retrying; logged once)`, {
      key: c.key,
      address: text,
      reason: why,
    });
    return true;
  }

  #trimDue(now: number): boolean {
    return this.#surplusSince !== undefined && now >= this.#surplusSince + this.#cfg.trimDelayMs;
  }

  /**
   * Spec §A.8.1: after `trimDelayMs` above the target, closes the surplus down to the target.
   * Inbound connections go first (outbound ones are our choice, and keep us out of an eclipse by
   * inbound peers), longest established first (their peers are long known to the network and
   * find another slot at once; a newcomer keeps the slots it just found); then outbound ones,
   * longest established first, while more than `minOutbound` remain. Manual peers stay.
   */
  #trim(now: number): void {
    if (this.#stopped || this.#cfg.targetPeers < 1) {
      this.#surplusSince = undefined;
      return;
    }
    const est = [...this.#conns.values()].filter((c) => c.state === "established");
    if (est.length <= this.#cfg.targetPeers) {
      this.#surplusSince = undefined;
      return;
    }
    this.#surplusSince ??= now;
    const due = this.#trimDue(now);
    const surplus = est.length - this.#cfg.targetPeers - (due ? 0 : TRIM_SLACK);
    if (surplus <= 0) return;
    if (due) this.#surplusSince = undefined;
    for (const c of trimVictims(est, surplus, this.#cfg.minOutbound)) {
      this.#log("debug", `closing ${c.role} ${c.identityText ?? `#${c.key}`}: over the target`, {
        key: c.key,
      });
      c.conn?.close(`over the target of ${this.#cfg.targetPeers} connections`);
      this.#dirty.add(c);
    }
  }

  /** Spec §C.9: the inbound connection to evict for a newcomer, or `undefined`. */
  #pickEviction(now: number): Conn | undefined {
    return pickEviction(
      this.#conns.values(),
      (group) => this.#book.hash(group),
      (text) => this.#discouraged.has(text, now),
    );
  }

  #refuse(key: ConnId, message: string): void {
    this.#push({ type: "write", conn: key, bytes: encodeMessage({ type: "reject", ...BUSY }) });
    this.#push({ type: "close", conn: key, reason: "no free slot" });
    this.#log("debug", message, { key });
  }

  #discourage(text: string, now: number): void {
    this.#discouraged.discourage(text, now);
    this.#log(
      "warn",
      `${text} discouraged for ${Math.round(this.#cfg.discourageMs / 3_600_000)} h (misbehaviour)`,
    );
  }

  /** A failed attempt: the book counts it, the back-off grows (spec §A.8.3). */
  #failure(text: string, now: number): void {
    this.#book.markFailure(text, this.#unixSeconds(now));
    this.#backoff.failure(text, this.#manual.includes(text), now);
  }

  /** Pushes an address's next dial to at least `now + delay` (+ jitter); failures unchanged. */
  #setBackoff(text: string, delayMs: number, now: number): void {
    this.#backoff.delay(text, delayMs, this.#manual.includes(text), now);
  }

  #addSelf(text: string): void {
    if (this.#self.has(text)) return;
    if (this.#self.size >= SELF_MAX) this.#self.delete(this.#self.values().next().value!);
    this.#self.add(text);
    this.#book.refuse(text);
  }

  #markSelf(text: string, now: number): void {
    this.#addSelf(text);
    const i = this.#manual.indexOf(text);
    if (i >= 0) this.#manual.splice(i, 1);
    this.#backoff.forget(text);
    this.#log("info", `${text} is our own address: never dialed again`);
    this.#nextDialCheckAt = Math.min(this.#nextDialCheckAt, now);
  }

  #learnLocal(local: PeerAddress): void {
    if (addressScope(local) === "unusable") return;
    this.#addSelf(formatPeerAddress({ ip: local.ip, v6: local.v6, port: this.#cfg.listenPort }));
  }

  /** Our address as the peer on a socket with this local end can reach it (spec §C.3). */
  #ourAddress(local: PeerAddress | undefined): PeerAddress {
    if (this.#cfg.externalIp !== undefined) {
      return {
        ip: this.#cfg.externalIp,
        v6: this.#cfg.externalIp.includes(":"),
        port: this.#cfg.listenPort,
      };
    }
    if (local !== undefined) return { ip: local.ip, v6: local.v6, port: this.#cfg.listenPort };
    return { ip: "0.0.0.0", v6: false, port: this.#cfg.listenPort };
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  #refreshSent(c: Conn, now: number): void {
    if (now - c.sentSince >= SENT_SET_MS) {
      c.sent.clear();
      c.sentSince = now;
    }
  }

  #markSent(c: Conn, text: string): void {
    if (c.sent.size >= SENT_SET_MAX) c.sent.clear();
    c.sent.add(text);
  }

  #save(): void {
    this.#savedChanges = this.#book.changes;
    this.#push({ type: "save", peers: this.#book.toSaved() });
  }

  #pruneMaps(now: number): void {
    this.#backoff.prune(now);
    this.#discouraged.prune(now);
  }

  #push(action: PeerNodeAction): void {
    if (action.type === "log") {
      if (this.#logsQueued >= LOG_QUEUE_MAX) {
        this.#logsDropped++;
        return;
      }
      this.#logsQueued++;
    }
    this.#actions.push(action);
  }

  #log(
    level: "error" | "warn" | "info" | "debug",
    message: string,
    fields?: Record<string, unknown>,
  ): void {
    this.#push(
      fields === undefined
        ? { type: "log", level, message }
        : { type: "log", level, message, fields },
    );
  }

  /** The time policy of `src/core/`: an earlier `now` is taken as the latest one. */
  #advance(now: number): number {
    return this.#time.advance(now);
  }

  #unixSeconds(now: number): number {
    return Math.max(0, Math.floor((now + this.#cfg.unixMillisOffset) / 1000));
  }
}
