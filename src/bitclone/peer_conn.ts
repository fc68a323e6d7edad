/**
 * One BitClone peer connection as a sans-I/O state machine (h11 style): the handshake of spec §A.6,
 * the established-connection rules of §A.5/§A.7 and the per-connection hardening of Part C. The
 * caller owns the TCP socket, the clock and the address book; this class only turns bytes and time
 * into lines to send and events to act on.
 *
 * **Inputs:** {@linkcode PeerConn.receiveData} (bytes as read, any chunking),
 * {@linkcode PeerConn.receiveEof} (the peer closed), {@linkcode PeerConn.handleTick} (timers; a
 * no-op when nothing is due). **Commands:** {@linkcode PeerConn.sendGetaddr},
 * {@linkcode PeerConn.sendAddr}, {@linkcode PeerConn.sendMessage}, {@linkcode PeerConn.close}.
 * **Outputs:** {@linkcode PeerConn.pollTransmit} (one CR LF-terminated line per call; write each
 * with its own write), {@linkcode PeerConn.pollEvent} and {@linkcode PeerConn.nextTimeout}.
 *
 * After every input or command, drain in this order: every transmit, then every event, then
 * re-arm one timer at `nextTimeout()`. `now` is monotonic milliseconds and never goes backwards;
 * wall-clock Unix time (for `version` and `addr` times) is `now + unixMillisOffset`. After the
 * `closed` event, write the transmits already drained (a final `reject`), then close the socket.
 *
 * What it does on its own:
 * - handshake: the dialer sends `version` at once; the listener answers a `version` with `verack`
 *   and, `versionReplyDelayMs` later, its own `version`; any `verack` acknowledges our `version`;
 *   nothing but `version`/`verack`/`reject`/`message` is acted on before establishment, other lines
 *   are counted and the 20th closes; closed if not established after `handshakeTimeoutMs`;
 * - self-connections: a `version` on an outbound connection carrying our own nonce, or on an inbound
 *   one carrying a nonce of `ownNonces` (the manager's pending-outbound set), closes it;
 * - after establishment: sends `getaddr` once; answers `ping` with `pong` (at most 2 per second);
 *   pings every `pingIntervalMs` and reports round trips; emits `advertiseDue` every
 *   `advertiseIntervalMs`; closes after `inactivityTimeoutMs` without a received line;
 * - `getaddr` is reported once per connection, repeats are ignored; `addr` lines are checked
 *   (≤ 1000 entries, count, batching), their entries filtered (unusable, scope, our own address),
 *   timestamps made sane and rate-limited by a token bucket before being reported;
 * - bad lines get one `reject` each (at most 10 per minute, never for a `reject` or `message`) and
 *   misbehaviour points; 100 points within 10 minutes close the connection. Unknown commands get
 *   one `reject` per distinct word (at most 10 words) and no points.
 *
 * What it leaves to the connection manager: answering `getaddr`/`advertiseDue` with
 * {@linkcode PeerConn.sendAddr}, storing addresses (with the 2 h penalty for entries that are not
 * `selfAnnouncement`), relay, dialing, duplicate and slot checks, discouragement.
 *
 * Project 4 lines (`block`, `tx`, …) are recognised but not supported: they are answered as
 * unknown commands (spec §C.11).
 *
 * @module
 */

import type { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";
import { addressScope, type PeerAddress, samePeerAddress } from "./address.ts";
import { LineFramer, MAX_LINE_BYTES } from "./framing.ts";
import {
  type AddrEntry,
  type AddrMessage,
  type BitcloneMessage,
  type DecodeError,
  decodeMessage,
  encodeMessage,
  MAX_ADDR_ENTRIES,
  MAX_LINE_NONBLOCK_BYTES,
  randomNonce,
  sanitizeText,
  type VersionMessage,
} from "./messages.ts";

/**
 * Milliseconds on a monotonic clock (`performance.now()` live, virtual in the simulator).
 *
 * @example A deadline
 * ```ts
 * import type { Millis } from "./peer_conn.ts";
 * const now: Millis = 0;
 * console.assert(now + 30_000 === 30_000);
 * ```
 */
export type Millis = number;

/**
 * Who opened the TCP connection: `outbound` (we dialed; we send `version` first) or `inbound`.
 *
 * @example A role
 * ```ts
 * import type { PeerRole } from "./peer_conn.ts";
 * const roles: PeerRole[] = ["outbound", "inbound"];
 * console.assert(roles.length === 2);
 * ```
 */
export type PeerRole = "outbound" | "inbound";

/**
 * The connection's state: `handshaking` until both sides sent and received `version` and
 * `verack`, then `established`, finally `closed`.
 *
 * @example A state
 * ```ts
 * import type { PeerConnState } from "./peer_conn.ts";
 * const live = (s: PeerConnState) => s !== "closed";
 * console.assert(live("handshaking"));
 * ```
 */
export type PeerConnState = "handshaking" | "established" | "closed";

/**
 * A set of nonces to test for membership (a `Set<string>` fits): the manager's pending-outbound
 * nonces, read on each inbound `version` to detect self-connections (spec §C.3).
 *
 * @example A Set
 * ```ts
 * import type { NonceSet } from "./peer_conn.ts";
 * const pending: NonceSet = new Set(["5843920175521"]);
 * console.assert(pending.has("5843920175521"));
 * ```
 */
export interface NonceSet {
  /** Whether `nonce` is one of ours. */
  has(nonce: string): boolean;
}

/**
 * The fields of a `reject` line.
 *
 * @example Busy
 * ```ts
 * import type { RejectFields } from "./peer_conn.ts";
 * const busy: RejectFields = { code: 503, reason: "busy", details: "try later" };
 * console.assert(busy.code >= 500);
 * ```
 */
export interface RejectFields {
  /** 400–499 for the peer's fault, 500–599 for ours. */
  readonly code: number;
  /** A short phrase. */
  readonly reason: string;
  /** Short text naming the command and the problem (never the offending line). */
  readonly details: string;
}

/**
 * What we learned from the peer's `version` once the handshake completed.
 *
 * @example Reading it from the event
 * ```ts
 * import type { PeerEvent } from "./peer_conn.ts";
 * function agent(e: PeerEvent): string | undefined {
 *   return e.type === "established" ? e.peer.userAgent : undefined;
 * }
 * console.assert(agent({ type: "getaddrReceived" }) === undefined);
 * ```
 */
export interface PeerInfo {
  /** Inbound or outbound. */
  readonly role: PeerRole;
  /** The peer's `version` as decoded. */
  readonly versionMessage: VersionMessage;
  /** The peer's protocol version (3, or 4 with Part B). */
  readonly protocolVersion: number;
  /** The peer's services (bit 1 peer-to-peer, bit 2 blocks). */
  readonly services: number;
  /** The peer's user agent (≤ 256 bytes, display only). */
  readonly userAgent: string;
  /** The peer's nonce (undefined for a first-revision `version`). */
  readonly nonce: string | undefined;
  /** Our nonce on this connection. */
  readonly localNonce: string;
  /** The other end of the socket, as given in the options. */
  readonly remoteAddress: PeerAddress;
  /**
   * The peer's identity (spec §A.8.4): outbound, the address we dialed; inbound, the socket's
   * remote IP with the port of the `version` sender field. `undefined` when an inbound peer gave
   * no usable sender: never gossip or dial it.
   */
  readonly listenAddress: PeerAddress | undefined;
  /** Their clock minus ours in seconds (for logs), when they sent a time. */
  readonly clockOffsetSec: number | undefined;
}

/**
 * One `addr` entry as accepted by the connection: a usable address, its time made sane (spec §C.4
 * step 3: ≤ 10^8 or more than 10 min ahead becomes now − 5 days; `clamped` tells), not penalised —
 * the address book subtracts 2 h unless `selfAnnouncement` (the entry is the sending peer's own
 * listening address).
 *
 * @example An entry
 * ```ts
 * import type { ReceivedAddr } from "./peer_conn.ts";
 * const e: ReceivedAddr = {
 *   address: { ip: "198.51.100.9", v6: false, port: 4002 }, time: 1699999000,
 *   clamped: false, selfAnnouncement: false,
 * };
 * console.assert(!e.clamped);
 * ```
 */
export interface ReceivedAddr {
  /** The peer address (usable, allowed from this source). */
  readonly address: PeerAddress;
  /** Last-seen Unix seconds after the sanity rule. */
  readonly time: number;
  /** Whether the sanity rule replaced the received time. */
  readonly clamped: boolean;
  /** Whether this is the sender's own listening address. */
  readonly selfAnnouncement: boolean;
}

/**
 * Why a connection closed:
 * - `peerClosed`: end of stream from the peer (`discardedBytes` of an unterminated line dropped);
 * - `handshakeTimeout`: not established in time (outbound: a failed attempt);
 * - `inactivity`: no line for `inactivityTimeoutMs` (mark the address dropped, spec §A.7);
 * - `lineTooLong`: a line over 1 MiB (misbehaviour 100 when established);
 * - `misbehaviour`: the score reached 100 (discourage the peer, spec §C.10);
 * - `strayLines`: 20 lines other than the handshake before establishment (no penalty);
 * - `badVersion`: a `version` with fewer than 5 tokens (we sent `reject|400|bad version|…`);
 * - `selfConnection`: the `version` carried our own nonce (`nonce`); close the outbound
 *   connection owning it too and never dial that address again;
 * - `busy`: a 5xx `reject` before establishment on an outbound connection: retry in 5 min, no
 *   failure recorded;
 * - `sendQueueFull`: more than `maxQueuedBytes` waited in `pollTransmit()`;
 * - `internalError`: a bug while handling a line (we sent `reject|500|internal error|…`);
 * - `local`: {@linkcode PeerConn.close} was called, with its note.
 *
 * @example Deciding whether an outbound attempt failed
 * ```ts
 * import type { PeerCloseReason } from "./peer_conn.ts";
 * const failed = (r: PeerCloseReason) => r.kind !== "busy" && r.kind !== "local";
 * console.assert(failed({ kind: "handshakeTimeout" }));
 * ```
 */
export type PeerCloseReason =
  | { readonly kind: "peerClosed"; readonly discardedBytes: number }
  | { readonly kind: "handshakeTimeout" }
  | { readonly kind: "inactivity"; readonly silentMs: number }
  | { readonly kind: "lineTooLong"; readonly bytes: number }
  | { readonly kind: "misbehaviour"; readonly score: number }
  | { readonly kind: "strayLines"; readonly count: number }
  | { readonly kind: "badVersion" }
  | { readonly kind: "selfConnection"; readonly nonce: string }
  | { readonly kind: "busy"; readonly code: number }
  | { readonly kind: "sendQueueFull"; readonly bytes: number }
  | { readonly kind: "internalError"; readonly message: string }
  | { readonly kind: "local"; readonly note: string };

/**
 * What a connection tells its owner:
 * - `established`: the handshake completed (once);
 * - `addrReceived`: usable entries from one `addr` line; `solicited` when it is the first `addr`
 *   after our `getaddr` (not relayed, spec §C.6); `lineEntries` is the line's entry count (relay
 *   only lines of ≤ 10);
 * - `getaddrReceived`: the peer's first `getaddr`; answer with one {@linkcode PeerConn.sendAddr}
 *   (our own address first, spec §C.5);
 * - `advertiseDue`: time for the periodic `addr` (spec §A.7); answer with `sendAddr`;
 * - `pingRtt`: a `pong` matched one of our last 4 pings;
 * - `messageReceived` / `rejectReceived`: a `message` or `reject` line, to log (never answered);
 * - `rejectSent`: we sent a `reject`, to log;
 * - `misbehaviour`: points were added (`score` is the 10-minute sum);
 * - `ignored`: a line was dropped without effect (redundant `version`, …), to log;
 * - `closed`: the last event; `wasEstablished` tells whether the handshake had completed.
 *
 * Log-only events (`messageReceived`, `rejectReceived`, `rejectSent`, `misbehaviour`, `ignored`)
 * are dropped, and counted in `stats.eventsDropped`, when 10,000 events wait undrained.
 *
 * @example Reacting to events
 * ```ts
 * import type { PeerEvent } from "./peer_conn.ts";
 * function needsAddr(e: PeerEvent): boolean {
 *   return e.type === "getaddrReceived" || e.type === "advertiseDue";
 * }
 * console.assert(needsAddr({ type: "advertiseDue" }));
 * ```
 */
export type PeerEvent =
  | { readonly type: "established"; readonly peer: PeerInfo }
  | {
    readonly type: "addrReceived";
    readonly entries: readonly ReceivedAddr[];
    readonly solicited: boolean;
    readonly lineEntries: number;
  }
  | { readonly type: "getaddrReceived" }
  | { readonly type: "advertiseDue" }
  | { readonly type: "pingRtt"; readonly rttMs: number; readonly nonce: string }
  | {
    readonly type: "messageReceived";
    readonly code: number | undefined;
    readonly summary: string;
    readonly details: string;
  }
  | {
    readonly type: "rejectReceived";
    readonly code: number | undefined;
    readonly reason: string;
    readonly details: string;
  }
  | { readonly type: "rejectSent"; readonly reject: RejectFields }
  | {
    readonly type: "misbehaviour";
    readonly offence: string;
    readonly points: number;
    readonly score: number;
  }
  | { readonly type: "ignored"; readonly command: string; readonly why: string }
  | { readonly type: "closed"; readonly reason: PeerCloseReason; readonly wasEstablished: boolean };

/**
 * Counters for logs and tests.
 *
 * @example Reading stats
 * ```ts
 * import type { PeerConnStats } from "./peer_conn.ts";
 * const ok = (s: PeerConnStats) => s.rejectsSent === 0;
 * console.assert(typeof ok === "function");
 * ```
 */
export interface PeerConnStats {
  /** Complete non-empty lines received. */
  readonly linesReceived: number;
  /** Lines queued for sending. */
  readonly linesSent: number;
  /** `reject` lines sent. */
  readonly rejectsSent: number;
  /** `reject` lines suppressed by the per-minute limit. */
  readonly rejectsSuppressed: number;
  /** Lines ignored before establishment (stray). */
  readonly strayLines: number;
  /** `ping` lines not answered because of the 2-per-second limit. */
  readonly pingsDropped: number;
  /** `addr` entries skipped for want of a rate-limit token. */
  readonly addrRateLimited: number;
  /** `addr` entries skipped as unusable, out of scope or our own. */
  readonly addrFiltered: number;
  /** Log-only events dropped because the event queue was full. */
  readonly eventsDropped: number;
}

/**
 * Options for {@linkcode PeerConn}. Timer options are milliseconds; tests shrink them.
 *
 * @example An outbound connection
 * ```ts
 * import { PeerConn, type PeerConnOptions } from "./peer_conn.ts";
 * import { Prng } from "../util/prng.ts";
 * const options: PeerConnOptions = {
 *   role: "outbound", prng: Prng.seeded(1), now: 0,
 *   remoteAddress: { ip: "198.51.100.7", v6: false, port: 4001 },
 *   localAddress: { ip: "198.51.100.5", v6: false, port: 4000 },
 *   userAgent: "alice-ts", unixMillisOffset: 1_700_000_000_000,
 * };
 * console.assert(new PeerConn(options).state === "handshaking");
 * ```
 */
export interface PeerConnOptions {
  /** Who dialed. */
  role: PeerRole;
  /** Randomness for nonces (give each connection its own fork). */
  prng: Prng;
  /** When the TCP connection opened (starts the handshake timer). */
  now: Millis;
  /**
   * The other end as our socket sees it: sent as the `version` recipient (outbound: the address
   * we dialed; inbound: the peer's IP and ephemeral port), used for the scope rule and, outbound,
   * as the peer's identity.
   */
  remoteAddress: PeerAddress;
  /** Our address for this peer: the socket's local IP (or our external IP) with our listening port. */
  localAddress: PeerAddress;
  /**
   * Our user agent (≤ 256 bytes, no `|`, CR or LF).
   *
   * @default {"bitclone-ts"}
   */
  userAgent?: string;
  /**
   * Our protocol version: 3 (Part A) or 4 (Parts A and B).
   *
   * @default {3}
   */
  protocolVersion?: 3 | 4;
  /**
   * Our services: 1 (Part A) or 3 (Parts A and B).
   *
   * @default {1}
   */
  services?: number;
  /**
   * Our block id (Part B tip index; 0 in Project 3).
   *
   * @default {0}
   */
  blockId?: number;
  /**
   * Our `version` nonce. Leave it out: a fresh one is drawn from `prng` (tests fix it).
   *
   * @default {randomNonce(prng)}
   */
  nonce?: string;
  /**
   * Unix time in ms minus `now`: wall-clock time is `now + unixMillisOffset` (live adapters pass
   * `Date.now() - performance.now()` once).
   *
   * @default {0}
   */
  unixMillisOffset?: number;
  /**
   * The manager's pending-outbound nonces, checked against an inbound `version` (spec §C.3).
   *
   * @default {undefined}
   */
  ownNonces?: NonceSet;
  /**
   * Send `getaddr` as soon as the connection is established (spec §A.7). Feelers turn it off.
   *
   * @default {true}
   */
  getaddrOnEstablish?: boolean;
  /**
   * Close a connection not established by this long after it opened (spec §C.2).
   *
   * @default {30_000}
   */
  handshakeTimeoutMs?: number;
  /**
   * Ping period once established; the first ping goes out one period after establishment.
   *
   * @default {30_000}
   */
  pingIntervalMs?: number;
  /**
   * Close an established connection after this long without a received line.
   *
   * @default {90_000}
   */
  inactivityTimeoutMs?: number;
  /**
   * Period of the `advertiseDue` event once established (`Infinity` turns it off).
   *
   * @default {30_000}
   */
  advertiseIntervalMs?: number;
  /**
   * As listener, the pause between our `verack` and our `version` (spec Part D.1: helps peers that
   * read one line per read); 0 sends both at once.
   *
   * @default {50}
   */
  versionReplyDelayMs?: number;
  /**
   * The longest line, terminator excluded; a longer one closes the connection.
   *
   * @default {1_048_576}
   */
  maxLineBytes?: number;
  /**
   * The longest line of any command but `block`; a longer one gets `reject|413` (20 points).
   *
   * @default {65_536}
   */
  maxLineBytesNonBlock?: number;
  /**
   * The most bytes that may wait in `pollTransmit()`; beyond, the connection closes.
   *
   * @default {8_388_608}
   */
  maxQueuedBytes?: number;
}

// ---- constants of the spec (§0.3, §A.5, Part C) -------------------------------------------------

const MAX_STRAY_PRE_HANDSHAKE = 20;
const MISBEHAVIOUR_THRESHOLD = 100;
const MISBEHAVIOUR_WINDOW_MS = 600_000;
const REJECTS_PER_MINUTE = 10;
const MESSAGES_PER_MINUTE = 10;
const PONGS_PER_SECOND = 2;
const PINGS_REMEMBERED = 4;
const UNKNOWN_COMMANDS_ANSWERED = 10;
const ADDR_TOKENS_START = 10;
const ADDR_TOKENS_PER_SEC = 1;
const ADDR_TOKENS_CAP = 1000;
const ADDR_TOKENS_PER_GETADDR = 1000;
const SINGLE_ADDR_FREE = 4;
const SINGLE_ADDR_WINDOW_MS = 60_000;
const ADDR_TIME_FLOOR = 100_000_000;
const ADDR_TIME_FUTURE_SEC = 600;
const ADDR_TIME_FALLBACK_SEC = 5 * 24 * 3600;
const EVENTS_MAX = 10_000;
/** How much of a received chunk is handed to the framer at a time. */
const FEED_SLICE_BYTES = 1_048_576;
/** The most entries one sendAddr() call may carry (split into lines of ≤ 1000). */
const SEND_ADDR_MAX = 10_000;

/**
 * One BitClone connection (see the module doc for the whole contract).
 *
 * @example A handshake between two connections, lines passed by hand
 * ```ts
 * import { PeerConn } from "./peer_conn.ts";
 * import { Prng } from "../util/prng.ts";
 * const a = { ip: "192.0.2.1", v6: false, port: 4000 }, b = { ip: "192.0.2.2", v6: false, port: 4001 };
 * const dialer = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: b, localAddress: a });
 * const listener = new PeerConn({
 *   role: "inbound", prng: Prng.seeded(2), now: 0, versionReplyDelayMs: 0,
 *   remoteAddress: { ...a, port: 51234 }, localAddress: b,
 * });
 * for (let round = 0; round < 4; round++) {
 *   for (let t = dialer.pollTransmit(); t; t = dialer.pollTransmit()) listener.receiveData(t, 1);
 *   for (let t = listener.pollTransmit(); t; t = listener.pollTransmit()) dialer.receiveData(t, 1);
 * }
 * console.assert(dialer.state === "established" && listener.state === "established");
 * ```
 */
export class PeerConn {
  /** Inbound or outbound. */
  readonly role: PeerRole;
  readonly #prng: Prng;
  readonly #remote: PeerAddress;
  readonly #local: PeerAddress;
  readonly #ownNonces: NonceSet | undefined;
  readonly #nonce: string;
  readonly #userAgent: string;
  readonly #protocolVersion: number;
  readonly #services: number;
  readonly #blockId: number;
  readonly #unixOffset: number;
  readonly #getaddrOnEstablish: boolean;
  readonly #handshakeTimeoutMs: number;
  readonly #pingIntervalMs: number;
  readonly #inactivityMs: number;
  readonly #advertiseMs: number;
  readonly #replyDelayMs: number;
  readonly #maxLineNonBlock: number;
  readonly #maxLine: number;
  readonly #maxQueued: number;
  readonly #framer: LineFramer;

  #state: PeerConnState = "handshaking";
  #lastNow: Millis;
  readonly #openedAt: Millis;

  // handshake
  #sentVersion = false;
  #gotVersion = false;
  #sentVerack = false;
  #gotVerack = false;
  #versionReplyAt: Millis | undefined;
  #stray = 0;
  #peer: PeerInfo | undefined;

  // established
  #lastLineAt: Millis;
  #nextPingAt: Millis = Infinity;
  #nextAdvertiseAt: Millis = Infinity;
  #pings: { nonce: string; at: Millis }[] = [];
  #pongTimes: Millis[] = [];
  #lastRttMs: number | undefined;
  #getaddrSent = false;
  #getaddrAnswered = false;
  #awaitingAddrAnswer = false;
  #unknownSeen = new Set<string>();
  #addrTokens = ADDR_TOKENS_START;
  #addrStamp: Millis;
  #singleAddrTimes: Millis[] = [];
  #notBatchedRejected = false;
  #points: { at: Millis; points: number }[] = [];
  #rejectTimes: Millis[] = [];
  #messageTimes: Millis[] = [];
  #rejectedThisLine = false;

  // outputs
  #out: Uint8Array[] = [];
  #outHead = 0;
  #outBytes = 0;
  #events: PeerEvent[] = [];
  #eventHead = 0;

  #stats = {
    linesReceived: 0,
    linesSent: 0,
    rejectsSent: 0,
    rejectsSuppressed: 0,
    strayLines: 0,
    pingsDropped: 0,
    addrRateLimited: 0,
    addrFiltered: 0,
    eventsDropped: 0,
  };

  /**
   * Opens a connection. An outbound one queues its `version` at once.
   *
   * @throws {TypeError} When a required option is missing or a text option cannot be sent.
   * @throws {RangeError} When a number option is out of range.
   * @example An inbound connection sends nothing first
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const conn = new PeerConn({
   *   role: "inbound", prng: Prng.seeded(1), now: 0,
   *   remoteAddress: { ip: "192.0.2.1", v6: false, port: 51234 },
   *   localAddress: { ip: "192.0.2.2", v6: false, port: 4001 },
   * });
   * console.assert(conn.pollTransmit() === undefined && conn.nextTimeout() === 30_000);
   * ```
   */
  constructor(options: PeerConnOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("Cannot create the connection: options are missing");
    }
    const {
      role,
      prng,
      now,
      remoteAddress,
      localAddress,
      userAgent = "bitclone-ts",
      protocolVersion = 3,
      services = 1,
      blockId = 0,
      unixMillisOffset = 0,
      ownNonces,
      getaddrOnEstablish = true,
      handshakeTimeoutMs = 30_000,
      pingIntervalMs = 30_000,
      inactivityTimeoutMs = 90_000,
      advertiseIntervalMs = 30_000,
      versionReplyDelayMs = 50,
      maxLineBytes = MAX_LINE_BYTES,
      maxLineBytesNonBlock = MAX_LINE_NONBLOCK_BYTES,
      maxQueuedBytes = 8_388_608,
    } = options;
    if (role !== "outbound" && role !== "inbound") {
      throw new TypeError(`Cannot create the connection: role ${String(role)} is not valid`);
    }
    if (prng === undefined || typeof prng.u32 !== "function") {
      throw new TypeError("Cannot create the connection: prng is missing");
    }
    checkMillis("now", now);
    checkMillis("unixMillisOffset", unixMillisOffset, true);
    for (
      const [name, v] of [
        ["handshakeTimeoutMs", handshakeTimeoutMs],
        ["pingIntervalMs", pingIntervalMs],
        ["inactivityTimeoutMs", inactivityTimeoutMs],
      ] as const
    ) {
      if (!(v > 0) || !Number.isFinite(v)) {
        throw new RangeError(`Cannot create the connection: ${name} ${v} is not positive`);
      }
    }
    if (!(advertiseIntervalMs > 0)) {
      throw new RangeError(
        `Cannot create the connection: advertiseIntervalMs ${advertiseIntervalMs} is not positive`,
      );
    }
    if (!(versionReplyDelayMs >= 0) || !Number.isFinite(versionReplyDelayMs)) {
      throw new RangeError(
        `Cannot create the connection: versionReplyDelayMs ${versionReplyDelayMs} is negative`,
      );
    }
    for (
      const [name, v] of [
        ["maxLineBytes", maxLineBytes],
        ["maxLineBytesNonBlock", maxLineBytesNonBlock],
        ["maxQueuedBytes", maxQueuedBytes],
      ] as const
    ) {
      if (!Number.isSafeInteger(v) || v < 64) {
        throw new RangeError(`Cannot create the connection: ${name} ${v} is too small`);
      }
    }
    this.role = role;
    this.#prng = prng;
    this.#remote = remoteAddress;
    this.#local = localAddress;
    this.#ownNonces = ownNonces;
    this.#nonce = options.nonce ?? randomNonce(prng);
    this.#userAgent = userAgent;
    this.#protocolVersion = protocolVersion;
    this.#services = services;
    this.#blockId = blockId;
    this.#unixOffset = unixMillisOffset;
    this.#getaddrOnEstablish = getaddrOnEstablish;
    this.#handshakeTimeoutMs = handshakeTimeoutMs;
    this.#pingIntervalMs = pingIntervalMs;
    this.#inactivityMs = inactivityTimeoutMs;
    this.#advertiseMs = advertiseIntervalMs;
    this.#replyDelayMs = versionReplyDelayMs;
    this.#maxLine = maxLineBytes;
    this.#maxLineNonBlock = Math.min(maxLineBytesNonBlock, maxLineBytes);
    this.#maxQueued = maxQueuedBytes;
    this.#framer = new LineFramer({ maxLineBytes });
    this.#openedAt = now;
    this.#lastNow = now;
    this.#lastLineAt = now;
    this.#addrStamp = now;
    // Validate every field of our version now: misuse fails before any byte exists.
    const version = this.#ourVersion(now);
    encodeMessage(version);
    if (role === "outbound") this.#sendVersion(now);
  }

  // ---- getters ---------------------------------------------------------------------------------

  /**
   * `handshaking`, `established` or `closed`.
   *
   * @example Before any input
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * console.assert(conn.state === "handshaking");
   * ```
   */
  get state(): PeerConnState {
    return this.#state;
  }

  /**
   * Our `version` nonce on this connection: add it to the pending-outbound set while an outbound
   * connection handshakes (spec §C.3).
   *
   * @example A fixed nonce
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, nonce: "77" });
   * console.assert(conn.nonce === "77");
   * ```
   */
  get nonce(): string {
    return this.#nonce;
  }

  /**
   * The peer's details once established, else `undefined`.
   *
   * @example Not yet
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * console.assert(conn.peer === undefined);
   * ```
   */
  get peer(): PeerInfo | undefined {
    return this.#peer;
  }

  /**
   * The misbehaviour score: points of the last 10 minutes (as of the last input).
   *
   * @example A fresh connection
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * console.assert(conn.score === 0);
   * ```
   */
  get score(): number {
    this.#prunePoints(this.#lastNow);
    return this.#points.reduce((sum, p) => sum + p.points, 0);
  }

  /**
   * The last measured round trip in ms (for inbound eviction, spec §C.9), if any.
   *
   * @example None yet
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * console.assert(conn.lastRttMs === undefined);
   * ```
   */
  get lastRttMs(): number | undefined {
    return this.#lastRttMs;
  }

  /**
   * Bytes held by the line framer (a partial line, unscanned data): bounded by the line limit.
   *
   * @example Empty
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * console.assert(conn.bufferedBytes === 0);
   * ```
   */
  get bufferedBytes(): number {
    return this.#framer.bufferedBytes;
  }

  /**
   * Counters (a snapshot).
   *
   * @example Counting received lines
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.receiveData(new TextEncoder().encode("ping|1\r\n"), 0);
   * console.assert(conn.stats.linesReceived === 1 && conn.stats.strayLines === 1);
   * ```
   */
  get stats(): PeerConnStats {
    return { ...this.#stats };
  }

  // ---- inputs ----------------------------------------------------------------------------------

  /**
   * Feeds bytes read from the socket. Every complete line is handled at once, in order. Never
   * throws on any bytes; ignored once closed.
   *
   * @throws {TypeError} When `bytes` is not a Uint8Array.
   * @throws {RangeError} When `now` is before an earlier input's time.
   * @example Two lines in one chunk, before the handshake
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.receiveData(new TextEncoder().encode("ping|1\nping|2\n"), 5);
   * console.assert(conn.pollTransmit() === undefined && conn.stats.strayLines === 2);
   * ```
   */
  receiveData(bytes: Uint8Array, now: Millis): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Cannot receive data: bytes is not a Uint8Array");
    }
    this.#advanceTime(now);
    // Fed in slices so that the framer never holds more than one slice of unscanned bytes.
    for (let offset = 0; offset < bytes.length; offset += FEED_SLICE_BYTES) {
      if (this.#state === "closed") return;
      this.#framer.receiveData(bytes.subarray(offset, offset + FEED_SLICE_BYTES));
      this.#drainLines(now);
    }
  }

  #drainLines(now: Millis): void {
    // Bounded: each round consumes a line or returns.
    for (;;) {
      const r = this.#framer.nextLine();
      if (r.type === "needData" || r.type === "eof") return;
      if (r.type === "tooLong") {
        if (this.#state === "established") this.#addPoints(100, "line over the limit", now, false);
        this.#finish({ kind: "lineTooLong", bytes: r.bytes });
        return;
      }
      this.#handleLine(r.line, now);
      if (this.#state === "closed") return;
    }
  }

  /**
   * The peer closed its side: the connection closes (`peerClosed`); an unterminated last line is
   * discarded. Ignored once closed.
   *
   * @throws {RangeError} When `now` is before an earlier input's time.
   * @example Closing
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.receiveEof(10);
   * const e = conn.pollEvent();
   * console.assert(e?.type === "closed" && e.reason.kind === "peerClosed");
   * ```
   */
  receiveEof(now: Millis): void {
    this.#advanceTime(now);
    if (this.#state === "closed") return;
    this.#framer.receiveEof();
    const r = this.#framer.nextLine();
    this.#finish({ kind: "peerClosed", discardedBytes: r.type === "eof" ? r.discardedBytes : 0 });
  }

  /**
   * Runs the timers due at `now` (handshake deadline, delayed `version`, inactivity, ping,
   * advertisement). A no-op when nothing is due.
   *
   * @throws {RangeError} When `now` is before an earlier input's time.
   * @example The handshake deadline
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.handleTick(conn.nextTimeout()!);
   * console.assert(conn.state === "closed");
   * ```
   */
  handleTick(now: Millis): void {
    this.#advanceTime(now);
    if (this.#state === "closed") return;
    if (this.#state === "handshaking") {
      if (now >= this.#openedAt + this.#handshakeTimeoutMs) {
        this.#finish({ kind: "handshakeTimeout" });
        return;
      }
      if (this.#versionReplyAt !== undefined && now >= this.#versionReplyAt) {
        this.#versionReplyAt = undefined;
        this.#sendVersion(now);
        this.#maybeEstablish(now);
      }
      return;
    }
    if (now >= this.#lastLineAt + this.#inactivityMs) {
      this.#finish({ kind: "inactivity", silentMs: now - this.#lastLineAt });
      return;
    }
    if (now >= this.#nextPingAt) {
      this.#nextPingAt = nextPeriod(this.#nextPingAt, this.#pingIntervalMs, now);
      const nonce = randomNonce(this.#prng);
      this.#pings.push({ nonce, at: now });
      if (this.#pings.length > PINGS_REMEMBERED) this.#pings.shift();
      this.#send({ type: "ping", nonce });
    }
    if (this.#state === "established" && now >= this.#nextAdvertiseAt) {
      this.#nextAdvertiseAt = nextPeriod(this.#nextAdvertiseAt, this.#advertiseMs, now);
      this.#emit({ type: "advertiseDue" });
    }
  }

  // ---- commands --------------------------------------------------------------------------------

  /**
   * Sends `getaddr` (once per connection; done automatically on establishment unless
   * `getaddrOnEstablish` is false). Adds 1000 tokens to the `addr` rate limit (spec §C.4).
   *
   * @throws {TypeError} When not established, or when `getaddr` was already sent.
   * @example Refused before the handshake
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * let refused = false;
   * try { conn.sendGetaddr(); } catch (e) { refused = e instanceof TypeError; }
   * console.assert(refused);
   * ```
   */
  sendGetaddr(): void {
    this.#requireEstablished("send getaddr");
    if (this.#getaddrSent) {
      throw new TypeError("Cannot send getaddr: it was already sent on this connection");
    }
    this.#getaddrSent = true;
    this.#awaitingAddrAnswer = true;
    this.#addrTokens += ADDR_TOKENS_PER_GETADDR; // may pass the cap
    this.#send({ type: "getaddr" });
  }

  /**
   * Sends addresses: the answer to `getaddrReceived`, or a periodic advertisement. Entries that
   * this peer must not get are dropped (unusable ones; loopback ones unless the peer is on
   * loopback). The rest go out in as few lines as possible (≤ 1000 entries each, evenly split),
   * order kept. Times are Unix seconds.
   *
   * @returns How many entries were sent (0: nothing left to send, no line).
   * @throws {TypeError} When not established, or an entry cannot be encoded.
   * @throws {RangeError} When more than 10,000 entries are given, or a time is out of range.
   * @example Answering getaddr with our own address
   * ```ts
   * import type { PeerConn } from "./peer_conn.ts";
   * function answer(conn: PeerConn, nowSec: number): void {
   *   conn.sendAddr([{ time: nowSec, address: { ip: "198.51.100.5", v6: false, port: 4000 } }]);
   * }
   * console.assert(typeof answer === "function");
   * ```
   */
  sendAddr(entries: readonly AddrEntry[]): number {
    this.#requireEstablished("send addr");
    if (!Array.isArray(entries)) throw new TypeError("Cannot send addr: entries is not an array");
    if (entries.length > SEND_ADDR_MAX) {
      throw new RangeError(`Cannot send addr: ${entries.length} entries (max ${SEND_ADDR_MAX})`);
    }
    const loopbackPeer = addressScope(this.#remote) === "loopback";
    const keep = entries.filter((e) => {
      const scope = addressScope(e.address);
      return scope !== "unusable" && (scope !== "loopback" || loopbackPeer);
    });
    if (keep.length === 0) return 0;
    const lines = Math.ceil(keep.length / MAX_ADDR_ENTRIES);
    const messages: AddrMessage[] = [];
    for (let i = 0, from = 0; i < lines; i++) {
      const size = Math.floor(keep.length / lines) + (i < keep.length % lines ? 1 : 0);
      const batch = keep.slice(from, from + size);
      from += size;
      messages.push({ type: "addr", count: batch.length, entries: batch, invalidEntries: 0 });
    }
    const encoded = messages.map((m) => encodeMessage(m)); // all or nothing
    for (const bytes of encoded) this.#queue(bytes);
    return keep.length;
  }

  /**
   * Sends a diagnostic `message` line (spec §A.5.7), at most 10 per minute.
   *
   * @returns Whether it was sent (false: rate-limited or closed).
   * @throws {TypeError} When not established, or the text holds `|`, CR or LF.
   * @throws {RangeError} When `code` is not a safe unsigned integer.
   * @example Peer statistics
   * ```ts
   * import type { PeerConn } from "./peer_conn.ts";
   * function hello(conn: PeerConn): boolean {
   *   return conn.sendMessage(100, "hello", "bitclone-ts 1.0");
   * }
   * console.assert(typeof hello === "function");
   * ```
   */
  sendMessage(code: number, summary: string, details: string): boolean {
    this.#requireEstablished("send a message");
    const bytes = encodeMessage({ type: "message", code, summary, details });
    if (!allowRate(this.#messageTimes, this.#lastNow, 60_000, MESSAGES_PER_MINUTE)) return false;
    this.#queue(bytes);
    return this.#state !== "closed";
  }

  /**
   * Closes the connection, optionally sending a final `reject` first (e.g.
   * `{ code: 503, reason: "busy", details: "try later" }` for an inbound connection without a
   * slot, or 409 for a duplicate). Emits `closed` with reason `local`. Idempotent.
   *
   * @throws {TypeError | RangeError} When `reject` cannot be encoded (nothing happens then), even
   * once closed.
   * @example Refusing an inbound connection
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.close("no slot", { code: 503, reason: "busy", details: "try later" });
   * console.assert(new TextDecoder().decode(conn.pollTransmit()) === "reject|503|busy|try later\r\n");
   * ```
   */
  close(note = "closed locally", reject?: RejectFields): void {
    const bytes = reject === undefined ? undefined : encodeMessage({ type: "reject", ...reject });
    if (this.#state === "closed") return;
    if (reject !== undefined && bytes !== undefined) {
      this.#queue(bytes);
      this.#stats.rejectsSent++;
      this.#emit({ type: "rejectSent", reject: { ...reject } });
    }
    this.#finish({ kind: "local", note: String(note) });
  }

  // ---- outputs ---------------------------------------------------------------------------------

  /**
   * Takes the next line to write (CR LF included), or `undefined`. Lines queued before `closed`
   * are still returned after it.
   *
   * @example The dialer's first line
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * console.assert(new TextDecoder().decode(conn.pollTransmit()).startsWith("version|3|1|"));
   * ```
   */
  pollTransmit(): Uint8Array | undefined {
    if (this.#outHead >= this.#out.length) return undefined;
    const bytes = this.#out[this.#outHead++];
    this.#outBytes -= bytes.length;
    if (this.#outHead === this.#out.length) {
      this.#out = [];
      this.#outHead = 0;
    }
    return bytes;
  }

  /**
   * Takes the next event, or `undefined`.
   *
   * @example Nothing happened yet
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * console.assert(conn.pollEvent() === undefined);
   * ```
   */
  pollEvent(): PeerEvent | undefined {
    if (this.#eventHead >= this.#events.length) return undefined;
    const event = this.#events[this.#eventHead++];
    if (this.#eventHead === this.#events.length) {
      this.#events = [];
      this.#eventHead = 0;
    }
    return event;
  }

  /**
   * When {@linkcode PeerConn.handleTick} is next due, or `undefined` once closed.
   *
   * @example The handshake deadline of a fresh connection
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 100, remoteAddress: a, localAddress: a, handshakeTimeoutMs: 5000 });
   * console.assert(conn.nextTimeout() === 5100);
   * ```
   */
  nextTimeout(): Millis | undefined {
    switch (this.#state) {
      case "closed":
        return undefined;
      case "handshaking":
        return Math.min(
          this.#openedAt + this.#handshakeTimeoutMs,
          this.#versionReplyAt ?? Infinity,
        );
      case "established": {
        const at = Math.min(
          this.#lastLineAt + this.#inactivityMs,
          this.#nextPingAt,
          this.#nextAdvertiseAt,
        );
        assert(Number.isFinite(at), "an established connection has no timer");
        return at;
      }
    }
  }

  // ---- line handling ---------------------------------------------------------------------------

  #handleLine(line: Uint8Array, now: Millis): void {
    this.#stats.linesReceived++;
    this.#lastLineAt = now;
    this.#rejectedThisLine = false;
    const result = decodeMessage(line, {
      maxLineBytes: this.#maxLine,
      maxLineBytesNonBlock: this.#maxLineNonBlock,
    });
    let command = result.ok ? result.message.type : result.error.command;
    if (result.ok && result.message.type === "blockLayer") command = result.message.command;
    try {
      if (this.#state === "handshaking") {
        if (result.ok) this.#handshakeMessage(result.message, now);
        else this.#handshakeError(result.error);
        if (this.#state === "handshaking") this.#maybeEstablish(now);
      } else if (result.ok) {
        this.#establishedMessage(result.message, now);
      } else {
        this.#establishedError(result.error, now);
      }
    } catch (err) {
      // Fault isolation (spec §C.12): a bug on one line closes this connection only.
      if (this.#state === "closed") return;
      const details = sanitizeText(command, 64);
      this.#queueRaw({ code: 500, reason: "internal error", details });
      this.#finish({
        kind: "internalError",
        message: sanitizeText(err instanceof Error ? err.message : String(err), 200),
      });
    }
  }

  #handshakeMessage(m: BitcloneMessage, now: Millis): void {
    switch (m.type) {
      case "version":
        if (this.#gotVersion) {
          this.#emit({ type: "ignored", command: "version", why: "redundant version" });
          return;
        }
        this.#onVersion(m, now);
        return;
      case "verack":
        if (!this.#sentVersion) {
          this.#strayLine("verack");
          return;
        }
        if (this.#gotVerack) {
          this.#emit({ type: "ignored", command: "verack", why: "redundant verack" });
        } else if (m.nonce !== this.#nonce) {
          this.#emit({ type: "ignored", command: "verack", why: "nonce differs (accepted)" });
        }
        this.#gotVerack = true;
        return;
      case "reject":
        this.#emit({ type: "rejectReceived", code: m.code, reason: m.reason, details: m.details });
        if (
          this.role === "outbound" && m.code !== undefined && m.code >= 500 && m.code <= 599
        ) {
          this.#finish({ kind: "busy", code: m.code });
        }
        return;
      case "message":
        this.#emit({
          type: "messageReceived",
          code: m.code,
          summary: m.summary,
          details: m.details,
        });
        return;
      default:
        this.#strayLine(m.type === "blockLayer" ? m.command : m.type);
    }
  }

  #handshakeError(error: DecodeError): void {
    if (error.kind === "malformed" && error.command === "version" && !this.#gotVersion) {
      this.#queueRaw({ code: 400, reason: "bad version", details: "expected 8 fields" });
      this.#finish({ kind: "badVersion" });
      return;
    }
    this.#strayLine(error.command);
  }

  #strayLine(command: string): void {
    this.#stats.strayLines++;
    this.#stray++;
    if (this.#stray >= MAX_STRAY_PRE_HANDSHAKE) {
      this.#finish({ kind: "strayLines", count: this.#stray });
    } else {
      this.#emit({ type: "ignored", command, why: "before the handshake" });
    }
  }

  #onVersion(m: VersionMessage, now: Millis): void {
    this.#gotVersion = true;
    if (m.nonce !== undefined) {
      const own = this.role === "outbound"
        ? m.nonce === this.#nonce
        : this.#ownNonces?.has(m.nonce) === true;
      if (own) {
        this.#finish({ kind: "selfConnection", nonce: m.nonce });
        return;
      }
    }
    const sender = m.sender;
    let listenAddress: PeerAddress | undefined;
    if (this.role === "outbound") listenAddress = this.#remote;
    else if (sender !== undefined) {
      listenAddress = { ip: this.#remote.ip, v6: this.#remote.v6, port: sender.port };
    }
    const nowSec = this.#unixSeconds(now);
    this.#peer = {
      role: this.role,
      versionMessage: m,
      protocolVersion: m.version,
      services: m.services,
      userAgent: m.userAgent,
      nonce: m.nonce,
      localNonce: this.#nonce,
      remoteAddress: this.#remote,
      listenAddress,
      clockOffsetSec: m.time === undefined ? undefined : m.time - nowSec,
    };
    this.#send({ type: "verack", nonce: m.nonce });
    this.#sentVerack = true;
    if (this.role === "inbound" && !this.#sentVersion) {
      if (this.#replyDelayMs === 0) this.#sendVersion(now);
      else this.#versionReplyAt = now + this.#replyDelayMs;
    }
  }

  #maybeEstablish(now: Millis): void {
    if (this.#state !== "handshaking") return;
    if (!(this.#sentVersion && this.#gotVersion && this.#sentVerack && this.#gotVerack)) return;
    assert(this.#peer !== undefined, "established without the peer's version");
    this.#state = "established";
    this.#versionReplyAt = undefined;
    this.#lastLineAt = now;
    this.#nextPingAt = now + this.#pingIntervalMs;
    this.#nextAdvertiseAt = now + this.#advertiseMs;
    this.#emit({ type: "established", peer: this.#peer });
    if (this.#getaddrOnEstablish && this.#state === "established") this.sendGetaddr();
  }

  #establishedMessage(m: BitcloneMessage, now: Millis): void {
    switch (m.type) {
      case "version":
      case "verack":
        this.#emit({ type: "ignored", command: m.type, why: `redundant ${m.type}` });
        return;
      case "getaddr":
        if (this.#getaddrAnswered) {
          this.#emit({ type: "ignored", command: "getaddr", why: "repeated getaddr" });
          return;
        }
        this.#getaddrAnswered = true;
        this.#emit({ type: "getaddrReceived" });
        return;
      case "addr":
        this.#onAddr(m, now);
        return;
      case "ping":
        if (!allowRate(this.#pongTimes, now, 1000, PONGS_PER_SECOND)) {
          this.#stats.pingsDropped++;
          return;
        }
        this.#send({ type: "pong", nonce: m.nonce });
        return;
      case "pong": {
        const i = m.nonce === undefined ? -1 : this.#pings.findIndex((p) => p.nonce === m.nonce);
        if (i < 0) {
          this.#emit({ type: "ignored", command: "pong", why: "unknown nonce" });
          return;
        }
        const { nonce, at } = this.#pings[i];
        this.#pings.splice(i, 1);
        this.#lastRttMs = now - at;
        this.#emit({ type: "pingRtt", rttMs: now - at, nonce });
        return;
      }
      case "reject":
        this.#emit({ type: "rejectReceived", code: m.code, reason: m.reason, details: m.details });
        return;
      case "message":
        this.#emit({
          type: "messageReceived",
          code: m.code,
          summary: m.summary,
          details: m.details,
        });
        return;
      case "blockLayer":
        this.#unknownCommand(m.command, now);
        return;
    }
  }

  #establishedError(error: DecodeError, now: Millis): void {
    switch (error.kind) {
      case "unknownCommand":
        this.#unknownCommand(error.command, now);
        return;
      case "tooLarge":
        this.#reject(413, "too large", error.detail, now);
        this.#addPoints(20, error.detail, now);
        return;
      case "tooMany":
        this.#reject(413, "too large", error.detail, now);
        this.#addPoints(100, error.detail, now);
        return;
      case "invalidUtf8":
      case "malformed":
        this.#reject(400, "bad request", error.detail, now);
        this.#addPoints(10, error.detail, now);
        return;
    }
  }

  /** Spec §C.11: one reject per distinct command word (10 words at most), never penalised. */
  #unknownCommand(command: string, now: Millis): void {
    if (this.#unknownSeen.has(command) || this.#unknownSeen.size >= UNKNOWN_COMMANDS_ANSWERED) {
      this.#emit({ type: "ignored", command, why: "unknown command" });
      return;
    }
    this.#unknownSeen.add(command);
    this.#reject(400, "unknown command", command, now);
  }

  #onAddr(m: AddrMessage, now: Millis): void {
    const present = m.entries.length + m.invalidEntries;
    if (m.count !== present) {
      const detail = `addr: count ${m.count}, ${present} entries present`;
      this.#reject(400, "addr count mismatch", detail, now);
      this.#addPoints(10, detail, now);
      if (this.#state === "closed") return;
    }
    if (present === 1) {
      this.#singleAddrTimes.push(now);
      while (
        this.#singleAddrTimes.length > 0 &&
        this.#singleAddrTimes[0] <= now - SINGLE_ADDR_WINDOW_MS
      ) {
        this.#singleAddrTimes.shift();
      }
      if (this.#singleAddrTimes.length > SINGLE_ADDR_FREE) {
        if (this.#singleAddrTimes.length > MISBEHAVIOUR_THRESHOLD) this.#singleAddrTimes.shift();
        if (!this.#notBatchedRejected) {
          this.#notBatchedRejected = true;
          this.#reject(400, "addr not batched", "addr: repeated single-entry lines", now);
        }
        this.#addPoints(20, "addr not batched", now);
        if (this.#state === "closed") return;
      }
    }
    const solicited = this.#awaitingAddrAnswer;
    this.#awaitingAddrAnswer = false;
    const loopbackPeer = addressScope(this.#remote) === "loopback";
    const nowSec = this.#unixSeconds(now);
    const listen = this.#peer?.listenAddress;
    const accepted: ReceivedAddr[] = [];
    for (const e of m.entries) {
      const scope = addressScope(e.address);
      if (
        scope === "unusable" || (scope === "loopback" && !loopbackPeer) ||
        samePeerAddress(e.address, this.#local)
      ) {
        this.#stats.addrFiltered++;
        continue;
      }
      let time = e.time;
      const clamped = time <= ADDR_TIME_FLOOR || time > nowSec + ADDR_TIME_FUTURE_SEC;
      if (clamped) time = Math.max(0, nowSec - ADDR_TIME_FALLBACK_SEC);
      if (!this.#takeAddrToken(now)) {
        this.#stats.addrRateLimited++;
        continue;
      }
      accepted.push({
        address: e.address,
        time,
        clamped,
        selfAnnouncement: listen !== undefined && samePeerAddress(e.address, listen),
      });
    }
    if (accepted.length > 0) {
      this.#emit({ type: "addrReceived", entries: accepted, solicited, lineEntries: present });
    }
  }

  #takeAddrToken(now: Millis): boolean {
    const elapsedSec = (now - this.#addrStamp) / 1000;
    this.#addrStamp = now;
    if (this.#addrTokens < ADDR_TOKENS_CAP) {
      this.#addrTokens = Math.min(
        ADDR_TOKENS_CAP,
        this.#addrTokens + elapsedSec * ADDR_TOKENS_PER_SEC,
      );
    }
    if (this.#addrTokens < 1) return false;
    this.#addrTokens -= 1;
    return true;
  }

  // ---- sending ---------------------------------------------------------------------------------

  #ourVersion(now: Millis): VersionMessage {
    return {
      type: "version",
      version: this.#protocolVersion,
      services: this.#services,
      time: this.#unixSeconds(now),
      recipient: this.#remote,
      sender: this.#local,
      nonce: this.#nonce,
      userAgent: this.#userAgent,
      blockId: this.#blockId,
    };
  }

  #sendVersion(now: Millis): void {
    assert(!this.#sentVersion, "version sent twice");
    this.#sentVersion = true;
    this.#send(this.#ourVersion(now));
  }

  #send(m: BitcloneMessage): void {
    this.#queue(encodeMessage(m));
  }

  /** One reject per received line, at most 10 per minute; never before establishment here. */
  #reject(code: number, reason: string, details: string, now: Millis): void {
    if (this.#rejectedThisLine) return;
    this.#rejectedThisLine = true;
    if (!allowRate(this.#rejectTimes, now, 60_000, REJECTS_PER_MINUTE)) {
      this.#stats.rejectsSuppressed++;
      return;
    }
    this.#queueRaw({ code, reason, details: sanitizeText(details, 200) });
  }

  #queueRaw(reject: RejectFields): void {
    this.#queue(encodeMessage({ type: "reject", ...reject }));
    this.#stats.rejectsSent++;
    this.#emit({ type: "rejectSent", reject });
  }

  #queue(bytes: Uint8Array): void {
    if (this.#state === "closed") return;
    if (this.#outBytes + bytes.length > this.#maxQueued) {
      this.#finish({ kind: "sendQueueFull", bytes: this.#outBytes });
      return;
    }
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    this.#stats.linesSent++;
  }

  // ---- bookkeeping -----------------------------------------------------------------------------

  #addPoints(points: number, offence: string, now: Millis, closeAtThreshold = true): void {
    this.#prunePoints(now);
    this.#points.push({ at: now, points });
    const score = this.#points.reduce((sum, p) => sum + p.points, 0);
    assert(this.#points.length <= MISBEHAVIOUR_THRESHOLD, "misbehaviour list over its bound");
    this.#emit({ type: "misbehaviour", offence, points, score });
    if (closeAtThreshold && score >= MISBEHAVIOUR_THRESHOLD) {
      this.#finish({ kind: "misbehaviour", score });
    }
  }

  #prunePoints(now: Millis): void {
    while (this.#points.length > 0 && this.#points[0].at <= now - MISBEHAVIOUR_WINDOW_MS) {
      this.#points.shift();
    }
  }

  #finish(reason: PeerCloseReason): void {
    if (this.#state === "closed") return;
    const wasEstablished = this.#state === "established";
    this.#state = "closed";
    this.#versionReplyAt = undefined;
    this.#nextPingAt = Infinity;
    this.#nextAdvertiseAt = Infinity;
    this.#pushEvent({ type: "closed", reason, wasEstablished });
  }

  #emit(event: PeerEvent): void {
    const logOnly = event.type === "messageReceived" || event.type === "rejectReceived" ||
      event.type === "rejectSent" || event.type === "misbehaviour" || event.type === "ignored";
    if (logOnly && this.#events.length - this.#eventHead >= EVENTS_MAX) {
      this.#stats.eventsDropped++;
      return;
    }
    this.#pushEvent(event);
  }

  #pushEvent(event: PeerEvent): void {
    this.#events.push(event);
  }

  #requireEstablished(action: string): void {
    if (this.#state !== "established") {
      throw new TypeError(`Cannot ${action}: the connection is ${this.#state}`);
    }
  }

  #advanceTime(now: Millis): void {
    checkMillis("now", now);
    if (now < this.#lastNow) {
      throw new RangeError(`Cannot handle input: now ${now} is before ${this.#lastNow}`);
    }
    this.#lastNow = now;
  }

  #unixSeconds(now: Millis): number {
    return Math.max(0, Math.floor((now + this.#unixOffset) / 1000));
  }
}

/** Sliding-window rate limit: true (and records `now`) when fewer than `max` fell in `windowMs`. */
function allowRate(times: Millis[], now: Millis, windowMs: number, max: number): boolean {
  while (times.length > 0 && times[0] <= now - windowMs) times.shift();
  if (times.length >= max) return false;
  times.push(now);
  return true;
}

/** The first period boundary after `now` (missed periods are skipped, not replayed). */
function nextPeriod(at: Millis, period: number, now: Millis): Millis {
  if (!Number.isFinite(period)) return Infinity;
  const next = at + period;
  return next > now ? next : now + period;
}

function checkMillis(name: string, v: unknown, allowNegative = false): void {
  if (typeof v !== "number" || !Number.isFinite(v) || (!allowNegative && v < 0)) {
    throw new RangeError(`Cannot use ${name}: ${String(v)} is not a valid time`);
  }
}
