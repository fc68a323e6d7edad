/**
 * The BitClone peer's node core (`PeerNode`, contract {@linkcode PeerNodeCore} in
 * `peer_node_types.ts`): the connection manager, the address book, gossip and persistence on top
 * of one {@linkcode PeerConn} per TCP connection. Sans-I/O: the adapter (Deno TCP, or the
 * simulator) feeds in accepted connections, dial results, bytes, end of stream, resets and ticks,
 * and carries out the actions it polls (`dial`, `send`, `close`, `save`, `log`).
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
 * Connection keys: the adapter picks the keys of inbound connections (any integer not in use;
 * positive ones are recommended); the core picks the keys of its `dial` actions, always negative
 * (-1, -2, …), so the two never collide. Calls for a key the core does not know (already closed)
 * are ignored. A `close` action can name a key still dialing (the core's own connect deadline,
 * `connectTimeoutMs` + 1 s, or shutdown): the adapter abandons that connect.
 *
 * @module
 */

import type { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";
import {
  addressScope,
  formatPeerAddress,
  networkGroup,
  parseIp,
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
  type PeerRole,
  type ReceivedAddr,
  type RejectFields,
} from "./peer_conn.ts";
import type {
  ConnKey,
  PeerNodeAction,
  PeerNodeCore,
  PeerNodeStatus,
  SavedPeer,
} from "./peer_node_types.ts";

/**
 * Options for {@linkcode PeerNode}. Timer options are milliseconds; tests shrink them.
 *
 * @example A node with one command-line peer
 * ```ts
 * import type { PeerNodeOptions } from "./peer_node.ts";
 * import { Prng } from "../util/prng.ts";
 * const options: PeerNodeOptions = {
 *   prng: Prng.seeded(1), now: 0, listenPort: 8333, manualPeers: ["192.0.2.7:8333"],
 * };
 * console.assert(options.manualPeers?.length === 1);
 * ```
 */
export interface PeerNodeOptions {
  /** Randomness: address-book key, nonces, peer choice, jitter. */
  prng: Prng;
  /** Monotonic ms at start. */
  now: number;
  /**
   * The TCP port we listen on (sent in `version` and advertised).
   *
   * @default {8333}
   */
  listenPort?: number;
  /**
   * An external IP to advertise instead of each socket's local IP.
   *
   * @default {undefined}
   */
  externalIp?: string;
  /**
   * Our user agent (≤ 256 bytes, no `|`, CR or LF).
   *
   * @default {"bitclone-ts"}
   */
  userAgent?: string;
  /**
   * Unix ms minus `now` (live: `Date.now() - performance.now()`).
   *
   * @default {0}
   */
  unixMillisOffset?: number;
  /**
   * Command-line peers (`ip:port`, `[v6]:port` or bare IPv6): dialed first, never evicted.
   * Unreadable ones are logged and skipped.
   *
   * @default {[]}
   */
  manualPeers?: readonly string[];
  /**
   * The saved address book (`peers.json`, parsed with `parsePeersFile`).
   *
   * @default {[]}
   */
  savedPeers?: readonly SavedPeer[];
  /**
   * Established connections to keep (inbound and outbound both count).
   *
   * @default {5}
   */
  targetPeers?: number;
  /**
   * Established outbound connections to keep at least.
   *
   * @default {2}
   */
  minOutbound?: number;
  /**
   * Connections in any state, at most.
   *
   * @default {12}
   */
  maxConnections?: number;
  /**
   * Inbound connections in any state, at most (beyond: evict or refuse, spec §C.9).
   *
   * @default {maxConnections - minOutbound}
   */
  maxInbound?: number;
  /**
   * Outbound dials and handshakes under way, at most.
   *
   * @default {3}
   */
  maxPendingDials?: number;
  /**
   * The `timeoutMs` of `dial` actions (the core gives up 1 s later itself).
   *
   * @default {5_000}
   */
  connectTimeoutMs?: number;
  /**
   * A connection not established this long after it opened is closed.
   *
   * @default {30_000}
   */
  handshakeTimeoutMs?: number;
  /**
   * Ping period on established connections.
   *
   * @default {30_000}
   */
  pingIntervalMs?: number;
  /**
   * An established connection silent this long is closed and its address marked dropped.
   *
   * @default {90_000}
   */
  inactivityTimeoutMs?: number;
  /**
   * Period of the `addr` advertisement on each established connection.
   *
   * @default {30_000}
   */
  advertiseIntervalMs?: number;
  /**
   * As listener, the pause between our `verack` and our `version` (see `PeerConnOptions`).
   *
   * @default {50}
   */
  versionReplyDelayMs?: number;
  /**
   * How often to look for someone to dial while below target.
   *
   * @default {1_000}
   */
  dialCheckIntervalMs?: number;
  /**
   * How often to emit `save` when the address book changed.
   *
   * @default {60_000}
   */
  saveIntervalMs?: number;
  /**
   * How often to log the status line (`Infinity`: never).
   *
   * @default {60_000}
   */
  statusIntervalMs?: number;
  /**
   * Back-off after the first failure; doubles with each further one.
   *
   * @default {30_000}
   */
  backoffBaseMs?: number;
  /**
   * The longest back-off.
   *
   * @default {600_000}
   */
  backoffMaxMs?: number;
  /**
   * The longest back-off of a manual peer (busy included).
   *
   * @default {60_000}
   */
  manualBackoffMaxMs?: number;
  /**
   * The pause after a busy (5xx) reject before the handshake.
   *
   * @default {300_000}
   */
  busyBackoffMs?: number;
  /**
   * The pause before redialing an address whose established connection ended.
   *
   * @default {10_000}
   */
  reconnectDelayMs?: number;
  /**
   * How long a misbehaving peer stays discouraged (memory only).
   *
   * @default {86_400_000}
   */
  discourageMs?: number;
  /**
   * How long more than `targetPeers` connections may stay established before the surplus is
   * closed (spec §A.8.1).
   *
   * @default {60_000}
   */
  trimDelayMs?: number;
  /**
   * Period of the address refresh (see the module doc; `Infinity` turns it off).
   *
   * @default {120_000}
   */
  refreshIntervalMs?: number;
  /**
   * The address book's 32-byte secret key (tests fix it).
   *
   * @default {prng.bytes(32)}
   */
  addressBookKey?: Uint8Array;
}

/**
 * One connection as {@linkcode PeerNode.connections} lists it.
 *
 * @example Established outbound peers
 * ```ts
 * import type { PeerNodeConnection } from "./peer_node.ts";
 * const outbound = (cs: PeerNodeConnection[]) =>
 *   cs.filter((c) => c.direction === "outbound" && c.state === "established");
 * console.assert(outbound([]).length === 0);
 * ```
 */
export interface PeerNodeConnection {
  /** The connection's key. */
  readonly key: ConnKey;
  /** Who dialed. */
  readonly direction: PeerRole;
  /** `dialing` (TCP connect under way), `handshaking` or `established`. */
  readonly state: "dialing" | "handshaking" | "established";
  /** The peer's identity (spec §A.8.4) as text, when known. */
  readonly address: string | undefined;
  /** The socket's remote end (inbound: the peer's ephemeral port), when known. */
  readonly remote: string | undefined;
  /** The peer's user agent, once established. */
  readonly userAgent: string | undefined;
  /** When the connection was opened or dialed (ms). */
  readonly since: number;
  /** Whether the peer is a manual peer. */
  readonly manual: boolean;
}

/** Per-connection state of the manager. */
interface Conn {
  readonly key: ConnKey;
  readonly role: PeerRole;
  state: "dialing" | "handshaking" | "established";
  readonly openedAt: number;
  dialAddress: PeerAddress | undefined;
  dialDeadline: number | undefined;
  remote: PeerAddress | undefined;
  /** Whether the socket's remote end is on loopback (scope rule, spec §A.4). */
  loopback: boolean;
  /** Our address as this peer can reach it. */
  local: PeerAddress | undefined;
  conn: PeerConn | undefined;
  nonce: string | undefined;
  identity: PeerAddress | undefined;
  identityText: string | undefined;
  establishedAt: number;
  userAgent: string | undefined;
  manual: boolean;
  /** An address refresh: closed once our `getaddr` is answered, never trimmed. */
  refresh: boolean;
  /** Entries queued for this peer's next advertisement (spec §C.6). */
  relay: Map<string, AddrEntry>;
  /** Addresses already sent to this peer (spec §C.6), cleared every 24 h. */
  sent: Set<string>;
  sentSince: number;
  /** The adapter has no socket any more: no `close` action. */
  socketGone: boolean;
  /** Set when the socket reset: the close counts as a failure. */
  resetReason: string | undefined;
}

interface Backoff {
  failures: number;
  notBefore: number;
}

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
const JITTER = 0.2;
const DIAL_GRACE_MS = 1000;
const BACKOFF_ENTRIES_MAX = 4096;
const DISCOURAGED_MAX = 4096;
const SELF_MAX = 1024;
const LOG_QUEUE_MAX = 10_000;
const PUMP_ROUNDS_MAX = 64;
const FLUSH_ROUNDS_MAX = 100_000;

/** Connections past the target that may wait `trimDelayMs`; more are closed at once. */
const TRIM_SLACK = 1;

const BUSY: RejectFields = { code: 503, reason: "busy", details: "try later" };

/**
 * The node core (see the module doc). Implements {@linkcode PeerNodeCore}.
 *
 * @example One dial, by hand
 * ```ts
 * import { PeerNode } from "./peer_node.ts";
 * import { Prng } from "../util/prng.ts";
 * const node = new PeerNode({
 *   prng: Prng.seeded(1), now: 0, listenPort: 8333, manualPeers: ["192.0.2.7:8333"],
 * });
 * node.handleTick(0);
 * const actions = [];
 * for (let a = node.pollAction(); a; a = node.pollAction()) actions.push(a);
 * const dial = actions.find((a) => a.type === "dial");
 * console.assert(dial?.type === "dial" && dial.address === "192.0.2.7:8333" && dial.key < 0);
 * node.handleDialed(dial!.key, "192.0.2.1:50000", 10);
 * const send = node.pollAction();
 * console.assert(send?.type === "send" && new TextDecoder().decode(send.bytes).startsWith("version|3|1|"));
 * ```
 */
export class PeerNode implements PeerNodeCore {
  readonly #prng: Prng;
  readonly #book: AddressBook;
  readonly #listenPort: number;
  readonly #externalIp: string | undefined;
  readonly #userAgent: string;
  readonly #unixOffset: number;
  readonly #target: number;
  readonly #minOutbound: number;
  readonly #maxConnections: number;
  readonly #maxInbound: number;
  readonly #maxPending: number;
  readonly #connectTimeoutMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #pingIntervalMs: number;
  readonly #inactivityMs: number;
  readonly #advertiseMs: number;
  readonly #replyDelayMs: number;
  readonly #dialCheckMs: number;
  readonly #saveMs: number;
  readonly #statusMs: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #manualBackoffMaxMs: number;
  readonly #busyMs: number;
  readonly #reconnectMs: number;
  readonly #discourageMs: number;
  readonly #trimDelayMs: number;
  readonly #refreshMs: number;

  readonly #conns = new Map<ConnKey, Conn>();
  readonly #dirty = new Set<Conn>();
  readonly #pendingNonces = new Set<string>();
  readonly #manual: string[] = [];
  /** Manual peers whose failure was logged at warn since they were last reached. */
  readonly #manualWarned = new Set<string>();
  readonly #self = new Set<string>();
  readonly #backoff = new Map<string, Backoff>();
  readonly #discouraged = new Map<string, number>();
  #actions: PeerNodeAction[] = [];
  #actionHead = 0;
  #logsQueued = 0;
  #logsDropped = 0;
  #nextDialKey = -1;
  #lastNow: number;
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
   * const node = new PeerNode({
   *   prng: Prng.seeded(1), now: 0, unixMillisOffset: 1_700_000_000_000,
   *   savedPeers: [{ address: "198.51.100.7:8333", lastSeen: 1_699_999_000 }],
   * });
   * console.assert(node.status().known === 1 && node.nextTimeout() === 0);
   * ```
   */
  constructor(options: PeerNodeOptions) {
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
    this.#prng = prng;
    this.#book = new AddressBook(
      addressBookKey === undefined ? { prng: prng.fork() } : { key: addressBookKey },
    );
    this.#listenPort = listenPort;
    this.#externalIp = ext;
    this.#userAgent = userAgent;
    this.#unixOffset = unixMillisOffset;
    this.#target = targetPeers;
    this.#minOutbound = minOutbound;
    this.#maxConnections = maxConnections;
    this.#maxInbound = maxInbound;
    this.#maxPending = maxPendingDials;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#handshakeTimeoutMs = handshakeTimeoutMs;
    this.#pingIntervalMs = pingIntervalMs;
    this.#inactivityMs = inactivityTimeoutMs;
    this.#advertiseMs = advertiseIntervalMs;
    this.#replyDelayMs = versionReplyDelayMs;
    this.#dialCheckMs = dialCheckIntervalMs;
    this.#saveMs = saveIntervalMs;
    this.#statusMs = statusIntervalMs;
    this.#backoffBaseMs = backoffBaseMs;
    this.#backoffMaxMs = backoffMaxMs;
    this.#manualBackoffMaxMs = manualBackoffMaxMs;
    this.#busyMs = busyBackoffMs;
    this.#reconnectMs = reconnectDelayMs;
    this.#discourageMs = discourageMs;
    this.#trimDelayMs = trimDelayMs;
    this.#refreshMs = refreshIntervalMs;
    this.#lastNow = now;
    this.#nextDialCheckAt = now;
    this.#nextSaveAt = now + saveIntervalMs;
    this.#nextStatusAt = now + statusIntervalMs;
    this.#nextRefreshAt = now + refreshIntervalMs * (1 + prng.float() * JITTER);

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
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, manualPeers: ["192.0.2.7:8333"] });
   * console.assert(node.addressBook.size === 1);
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
   * console.assert(new PeerNode({ prng: Prng.seeded(1), now: 0 }).logsDropped === 0);
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
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, listenPort: 4000 });
   * console.assert(node.ownAddresses().includes("127.0.0.1:4000"));
   * ```
   */
  ownAddresses(): string[] {
    return [...this.#self];
  }

  /**
   * Every connection the node holds (dialing, handshaking, established).
   *
   * @example None at start
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * console.assert(new PeerNode({ prng: Prng.seeded(1), now: 0 }).connections().length === 0);
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
   * @example At start
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const s = new PeerNode({ prng: Prng.seeded(1), now: 0 }).status();
   * console.assert(s.inbound === 0 && s.outbound === 0 && s.pending === 0 && s.known === 0);
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
   * @throws {TypeError} When `key` is already in use.
   * @throws {RangeError} When `now` went backwards.
   * @example Accepting
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * node.handleInbound(1, "192.0.2.9:50123", "192.0.2.1:8333", 5);
   * console.assert(node.status().pending === 1 && node.pollAction()?.type === "log");
   * ```
   */
  handleInbound(key: ConnKey, remote: string, local: string, now: number): void {
    this.#advance(now);
    checkKey(key);
    if (this.#conns.has(key)) {
      throw new TypeError(`Cannot accept connection ${key}: the key is in use`);
    }
    if (this.#stopped) {
      this.#push({ type: "close", key, reason: "shutting down" });
      return;
    }
    const ra = parsePeerAddress(String(remote));
    const la = parsePeerAddress(String(local));
    if (ra === undefined) {
      this.#log("warn", `inbound ${String(remote).slice(0, 80)}: unreadable address, closed`);
      this.#push({ type: "close", key, reason: "unreadable remote address" });
      return;
    }
    if (la !== undefined) this.#learnLocal(la);
    const remoteText = formatPeerAddress(ra);
    let inbound = 0;
    for (const c of this.#conns.values()) if (c.role === "inbound") inbound++;
    const free = Math.min(this.#maxConnections - this.#conns.size, this.#maxInbound - inbound);
    const discouraged = addressScope(ra) === "public" && this.#isDiscouraged(ra.ip, now);
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
      userAgent: this.#userAgent,
      unixMillisOffset: this.#unixOffset,
      ownNonces: this.#pendingNonces,
      handshakeTimeoutMs: this.#handshakeTimeoutMs,
      pingIntervalMs: this.#pingIntervalMs,
      inactivityTimeoutMs: this.#inactivityMs,
      advertiseIntervalMs: this.#advertiseMs,
      versionReplyDelayMs: this.#replyDelayMs,
    });
    const c = this.#newConn(key, "inbound", now);
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
   * A `dial` action connected: the handshake starts (our `version` goes out).
   *
   * @throws {RangeError} When `now` went backwards.
   * @example See the class example.
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * node.handleDialed(-99, "192.0.2.1:50000", 1); // unknown key: ignored
   * console.assert(node.status().pending === 0);
   * ```
   */
  handleDialed(key: ConnKey, local: string, now: number): void {
    this.#advance(now);
    const c = this.#conns.get(key);
    if (c === undefined || c.state !== "dialing" || c.dialAddress === undefined) return;
    const la = parsePeerAddress(String(local));
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
      userAgent: this.#userAgent,
      unixMillisOffset: this.#unixOffset,
      handshakeTimeoutMs: this.#handshakeTimeoutMs,
      pingIntervalMs: this.#pingIntervalMs,
      inactivityTimeoutMs: this.#inactivityMs,
      advertiseIntervalMs: this.#advertiseMs,
      versionReplyDelayMs: this.#replyDelayMs,
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
   * A `dial` action failed: a failed attempt (back-off), and the dial slot is free again.
   *
   * @throws {RangeError} When `now` went backwards.
   * @example Unknown keys are ignored
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * node.handleDialFailed(-5, "refused", 1);
   * console.assert(node.status().pending === 0);
   * ```
   */
  handleDialFailed(key: ConnKey, reason: string, now: number): void {
    this.#advance(now);
    const c = this.#conns.get(key);
    if (c === undefined || c.state !== "dialing") return;
    c.socketGone = true;
    this.#dialFailed(c, `dial failed: ${String(reason).slice(0, 200)}`, now);
    this.#flush(now);
  }

  /**
   * Bytes arrived on a connection.
   *
   * @throws {TypeError} When `bytes` is not a Uint8Array.
   * @throws {RangeError} When `now` went backwards.
   * @example Unknown keys are ignored
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * node.handleData(7, new TextEncoder().encode("ping|1\r\n"), 1);
   * console.assert(node.status().pending === 0);
   * ```
   */
  handleData(key: ConnKey, bytes: Uint8Array, now: number): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Cannot handle data: bytes is not a Uint8Array");
    }
    this.#advance(now);
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
   * @throws {RangeError} When `now` went backwards.
   * @example Unknown keys are ignored
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * node.handleEof(7, 1);
   * console.assert(node.pollAction()?.type === "log");
   * ```
   */
  handleEof(key: ConnKey, now: number): void {
    this.#advance(now);
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
   * The connection failed (reset, write error); the adapter already closed the socket, so no
   * `close` action follows.
   *
   * @throws {RangeError} When `now` went backwards.
   * @example Unknown keys are ignored
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * node.handleReset(7, "reset", 1);
   * console.assert(node.status().pending === 0);
   * ```
   */
  handleReset(key: ConnKey, reason: string, now: number): void {
    this.#advance(now);
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
   * @throws {RangeError} When `now` went backwards.
   * @example The first tick dials
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, manualPeers: ["192.0.2.7:8333"] });
   * node.handleTick(0);
   * console.assert(node.status().pending === 1);
   * ```
   */
  handleTick(now: number): void {
    this.#advance(now);
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
      this.#nextDialCheckAt = now + this.#dialCheckMs;
      this.#maybeDial(now);
    }
    if (now >= this.#nextRefreshAt) {
      this.#nextRefreshAt = now + this.#refreshMs * (1 + this.#prng.float() * JITTER);
      this.#maybeRefresh(now);
    }
    if (now >= this.#nextSaveAt) {
      this.#nextSaveAt = now + this.#saveMs;
      if (this.#book.changes !== this.#savedChanges) this.#save();
    }
    if (now >= this.#nextStatusAt) {
      this.#nextStatusAt = now + this.#statusMs;
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
   * @throws {RangeError} When `now` went backwards.
   * @example The final save
   * ```ts
   * import { PeerNode } from "./peer_node.ts";
   * import { Prng } from "../util/prng.ts";
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0, manualPeers: ["192.0.2.7:8333"] });
   * node.shutdown(10);
   * const types = [];
   * for (let a = node.pollAction(); a; a = node.pollAction()) types.push(a.type);
   * console.assert(types.includes("save") && node.nextTimeout() === undefined);
   * ```
   */
  shutdown(now: number): void {
    this.#advance(now);
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
   * const node = new PeerNode({ prng: Prng.seeded(1), now: 0 });
   * let n = 0;
   * while (node.pollAction() !== undefined) n++;
   * console.assert(n === 1); // the start-up log line
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
   * console.assert(new PeerNode({ prng: Prng.seeded(1), now: 42 }).nextTimeout() === 42);
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
    if (this.#surplusSince !== undefined) at = Math.min(at, this.#surplusSince + this.#trimDelayMs);
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
    this.#push({ type: "send", key: c.key, bytes });
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
    if (c.role === "inbound" && text !== undefined && this.#isDiscouraged(text, now)) {
      const free = this.#maxConnections - this.#conns.size;
      if (free < 1) {
        conn.close("discouraged peer without a spare slot", BUSY);
        return;
      }
    }
    const nowSec = this.#unixSeconds(now);
    if (c.role === "outbound" && text !== undefined) {
      this.#book.markGood(text, nowSec);
      this.#backoff.delete(text);
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
      if (this.#self.has(text) || this.#isDiscouraged(text, now)) continue;
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
        !this.#isDiscouraged(e.text, now) && (loopbackPeer || e.group !== "local"),
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
        if (this.#book.isTerrible(e, nowSec) || this.#isDiscouraged(e.text, now)) continue;
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
    if (!c.socketGone) this.#push({ type: "close", key: c.key, reason: why });
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
        this.#setBackoff(text, this.#busyMs, now);
      } else if (reason.kind !== "local" || c.resetReason !== undefined) {
        this.#failure(text, now);
      }
    }
    if (wasEstablished && text !== undefined) {
      if (reason.kind === "inactivity") this.#book.markDropped(text, nowSec);
      else this.#book.touch(text, nowSec);
      if (!this.#stopped) this.#setBackoff(text, this.#reconnectMs, now);
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
    if (pending >= this.#maxPending || this.#conns.size >= this.#maxConnections) return false;
    return established + pending < this.#target || outbound + pending < this.#minOutbound;
  }

  #maybeDial(now: number): void {
    for (let i = 0; i < this.#maxPending && this.#wantsDial(); i++) {
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
    if (this.#stopped || this.#target < 1 || this.#conns.size >= this.#maxConnections) return;
    let established = 0;
    for (const c of this.#conns.values()) {
      if (c.state !== "established") return; // a dial or handshake under way (or a refresh)
      if (c.refresh) return;
      established++;
    }
    if (established !== this.#target) return; // below: it dials anyway; above: it trims
    const busy = new Set<string>();
    for (const c of this.#conns.values()) {
      if (c.identityText !== undefined) busy.add(c.identityText);
    }
    const pick = this.#book.select(this.#prng, this.#unixSeconds(now), {
      skip: (e: BookEntry) =>
        busy.has(e.text) || this.#self.has(e.text) || this.#backingOff(e.text, now) ||
        this.#isDiscouraged(e.text, now),
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
      !busy.has(text) && !this.#self.has(text) && !this.#backingOff(text, now);
    for (const text of this.#manual) {
      if (usable(text)) return this.#book.get(text)?.address ?? parsePeerAddress(text);
    }
    const pick = this.#book.select(this.#prng, this.#unixSeconds(now), {
      skip: (e: BookEntry) => !usable(e.text) || this.#isDiscouraged(e.text, now),
      avoidGroups: groups,
    });
    return pick?.address;
  }

  #dial(address: PeerAddress, now: number, refresh = false): void {
    let key = this.#nextDialKey--;
    while (this.#conns.has(key)) key = this.#nextDialKey--;
    const text = formatPeerAddress(address);
    const c = this.#newConn(key, "outbound", now);
    c.dialAddress = address;
    c.dialDeadline = now + this.#connectTimeoutMs + DIAL_GRACE_MS;
    c.manual = this.#manual.includes(text);
    c.refresh = refresh;
    this.#conns.set(key, c);
    this.#book.markAttempt(text, this.#unixSeconds(now));
    this.#push({ type: "dial", key, address: text, timeoutMs: this.#connectTimeoutMs });
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
    if (!c.socketGone) this.#push({ type: "close", key: c.key, reason: why });
  }

  #remove(c: Conn): void {
    this.#conns.delete(c.key);
    this.#dirty.delete(c);
    if (c.nonce !== undefined) this.#pendingNonces.delete(c.nonce);
  }

  #failure(text: string, now: number): void {
    this.#book.markFailure(text, this.#unixSeconds(now));
    const manual = this.#manual.includes(text);
    const b = this.#backoff.get(text) ?? { failures: 0, notBefore: 0 };
    b.failures = Math.min(b.failures + 1, 64);
    const base = Math.min(
      this.#backoffBaseMs * 2 ** (b.failures - 1),
      manual ? this.#manualBackoffMaxMs : this.#backoffMaxMs,
    );
    b.notBefore = now + base * (1 + this.#prng.float() * JITTER);
    this.#backoff.delete(text); // re-insert: the map stays ordered by last change
    this.#backoff.set(text, b);
  }

  /** Pushes an address's next dial to at least `now + delay` (+ jitter); failures unchanged. */
  #setBackoff(text: string, delayMs: number, now: number): void {
    const manual = this.#manual.includes(text);
    const delay = (manual ? Math.min(delayMs, this.#manualBackoffMaxMs) : delayMs) *
      (1 + this.#prng.float() * JITTER);
    const b = this.#backoff.get(text) ?? { failures: 0, notBefore: 0 };
    b.notBefore = Math.max(b.notBefore, now + delay);
    this.#backoff.delete(text);
    this.#backoff.set(text, b);
  }

  #backingOff(text: string, now: number): boolean {
    const b = this.#backoff.get(text);
    return b !== undefined && b.notBefore > now;
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
    return this.#surplusSince !== undefined && now >= this.#surplusSince + this.#trimDelayMs;
  }

  /**
   * Spec §A.8.1: after `trimDelayMs` above the target, closes the surplus down to the target.
   * Inbound connections go first (outbound ones are our choice, and keep us out of an eclipse by
   * inbound peers), longest established first (their peers are long known to the network and
   * find another slot at once; a newcomer keeps the slots it just found); then outbound ones,
   * longest established first, while more than `minOutbound` remain. Manual peers stay.
   */
  #trim(now: number): void {
    if (this.#stopped || this.#target < 1) {
      this.#surplusSince = undefined;
      return;
    }
    const est = [...this.#conns.values()].filter((c) => c.state === "established");
    if (est.length <= this.#target) {
      this.#surplusSince = undefined;
      return;
    }
    this.#surplusSince ??= now;
    const due = this.#trimDue(now);
    let surplus = est.length - this.#target - (due ? 0 : TRIM_SLACK);
    if (surplus <= 0) return;
    if (due) this.#surplusSince = undefined;
    let outbound = est.filter((c) => c.role === "outbound" && !c.refresh).length;
    const oldestFirst = (a: Conn, b: Conn) => a.establishedAt - b.establishedAt || a.key - b.key;
    const victims = [
      ...est.filter((c) => c.role === "inbound" && !c.manual).sort(oldestFirst),
      ...est.filter((c) => c.role === "outbound" && !c.manual && !c.refresh).sort(oldestFirst),
    ];
    for (const c of victims) {
      if (surplus <= 0) break;
      if (c.role === "outbound") {
        if (outbound <= this.#minOutbound) break;
        outbound--;
      }
      surplus--;
      this.#log("debug", `closing ${c.role} ${c.identityText ?? `#${c.key}`}: over the target`, {
        key: c.key,
      });
      c.conn?.close(`over the target of ${this.#target} connections`);
      this.#dirty.add(c);
    }
  }

  /** Spec §C.9: the inbound connection to evict for a newcomer, or `undefined`. */
  #pickEviction(now: number): Conn | undefined {
    let candidates = [...this.#conns.values()].filter((c) =>
      c.role === "inbound" && c.state === "established" && !c.manual
    );
    const groupOf = (c: Conn) => networkGroup(c.remote!);
    // Protect 1 by keyed network group, 2 by lowest round trip, then the older half.
    candidates.sort((a, b) => this.#book.hash(groupOf(b)) - this.#book.hash(groupOf(a)));
    candidates = candidates.slice(1);
    const rtt = (c: Conn) => c.conn?.lastRttMs ?? Infinity;
    candidates.sort((a, b) => rtt(a) - rtt(b));
    candidates = candidates.slice(2);
    candidates.sort((a, b) => a.establishedAt - b.establishedAt);
    candidates = candidates.slice(Math.floor(candidates.length / 2));
    if (candidates.length === 0) return undefined;
    const discouraged = candidates.filter((c) =>
      c.identityText !== undefined && this.#isDiscouraged(c.identityText, now)
    );
    if (discouraged.length > 0) candidates = discouraged;
    const groups = new Map<string, Conn[]>();
    for (const c of candidates) {
      const g = groupOf(c);
      const list = groups.get(g) ?? [];
      list.push(c);
      groups.set(g, list);
    }
    let best: Conn[] | undefined;
    const youngest = (list: Conn[]) => Math.max(...list.map((c) => c.establishedAt));
    for (const list of groups.values()) {
      if (
        best === undefined || list.length > best.length ||
        (list.length === best.length && youngest(list) > youngest(best))
      ) best = list;
    }
    assert(best !== undefined && best.length > 0, "no eviction group");
    return best.reduce((a, b) => (b.establishedAt > a.establishedAt ? b : a));
  }

  #refuse(key: ConnKey, message: string): void {
    this.#push({ type: "send", key, bytes: encodeMessage({ type: "reject", ...BUSY }) });
    this.#push({ type: "close", key, reason: "no free slot" });
    this.#log("debug", message, { key });
  }

  /** Spec §C.10 key: `ip:port` for loopback and private addresses, the IP for public ones. */
  #discourageKey(text: string): string {
    const a = parsePeerAddress(text);
    if (a === undefined) return text; // a bare IP
    return addressScope(a) === "public" ? a.ip : text;
  }

  #discourage(text: string, now: number): void {
    const key = this.#discourageKey(text);
    if (this.#discouraged.size >= DISCOURAGED_MAX && !this.#discouraged.has(key)) {
      this.#discouraged.delete(this.#discouraged.keys().next().value!);
    }
    this.#discouraged.set(key, now + this.#discourageMs);
    this.#log(
      "warn",
      `${text} discouraged for ${Math.round(this.#discourageMs / 3_600_000)} h (misbehaviour)`,
    );
  }

  #isDiscouraged(text: string, now: number): boolean {
    if (this.#discouraged.size === 0) return false;
    const until = this.#discouraged.get(this.#discourageKey(text));
    return until !== undefined && until > now;
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
    this.#backoff.delete(text);
    this.#log("info", `${text} is our own address: never dialed again`);
    this.#nextDialCheckAt = Math.min(this.#nextDialCheckAt, now);
  }

  #learnLocal(local: PeerAddress): void {
    if (addressScope(local) === "unusable") return;
    this.#addSelf(formatPeerAddress({ ip: local.ip, v6: local.v6, port: this.#listenPort }));
  }

  /** Our address as the peer on a socket with this local end can reach it (spec §C.3). */
  #ourAddress(local: PeerAddress | undefined): PeerAddress {
    if (this.#externalIp !== undefined) {
      return { ip: this.#externalIp, v6: this.#externalIp.includes(":"), port: this.#listenPort };
    }
    if (local !== undefined) return { ip: local.ip, v6: local.v6, port: this.#listenPort };
    return { ip: "0.0.0.0", v6: false, port: this.#listenPort };
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  #newConn(key: ConnKey, role: PeerRole, now: number): Conn {
    return {
      key,
      role,
      state: "dialing",
      openedAt: now,
      dialAddress: undefined,
      dialDeadline: undefined,
      remote: undefined,
      loopback: false,
      local: undefined,
      conn: undefined,
      nonce: undefined,
      identity: undefined,
      identityText: undefined,
      establishedAt: 0,
      userAgent: undefined,
      manual: false,
      refresh: false,
      relay: new Map(),
      sent: new Set(),
      sentSince: now,
      socketGone: false,
      resetReason: undefined,
    };
  }

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
    if (this.#backoff.size > BACKOFF_ENTRIES_MAX) {
      for (const [text, b] of this.#backoff) {
        if (this.#backoff.size <= BACKOFF_ENTRIES_MAX / 2) break;
        if (b.notBefore <= now || this.#backoff.size > BACKOFF_ENTRIES_MAX) {
          this.#backoff.delete(text);
        }
      }
    }
    for (const [key, until] of this.#discouraged) {
      if (until <= now) this.#discouraged.delete(key);
    }
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

  #advance(now: number): void {
    checkTime("now", now);
    if (now < this.#lastNow) {
      throw new RangeError(`Cannot handle input: now ${now} is before ${this.#lastNow}`);
    }
    this.#lastNow = now;
  }

  #unixSeconds(now: number): number {
    return Math.max(0, Math.floor((now + this.#unixOffset) / 1000));
  }
}

function describeClose(reason: PeerCloseReason, reset: string | undefined): string {
  switch (reason.kind) {
    case "peerClosed":
      return "closed by the peer";
    case "handshakeTimeout":
      return "handshake timed out";
    case "inactivity":
      return `no line for ${Math.round(reason.silentMs / 1000)} s (inactivity)`;
    case "lineTooLong":
      return `line over the limit (${reason.bytes} bytes)`;
    case "misbehaviour":
      return `misbehaviour (score ${reason.score})`;
    case "strayLines":
      return `${reason.count} lines before the handshake`;
    case "badVersion":
      return "unreadable version";
    case "selfConnection":
      return "connected to ourselves";
    case "busy":
      return `peer busy (reject ${reason.code})`;
    case "sendQueueFull":
      return `peer not reading (${reason.bytes} bytes queued)`;
    case "internalError":
      return `internal error: ${reason.message}`;
    case "local":
      return reset !== undefined ? `connection reset: ${reset}` : reason.note;
  }
}

function checkTime(name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`Cannot use ${name}: ${String(v)} is not a valid time`);
  }
}

function checkKey(key: unknown): void {
  if (typeof key !== "number" || !Number.isSafeInteger(key)) {
    throw new TypeError(`Cannot use connection key ${String(key)}: not an integer`);
  }
}
