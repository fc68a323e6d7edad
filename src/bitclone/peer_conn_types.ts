/**
 * The types of one BitClone peer connection (`PeerConn`, `peer_conn.ts`): its roles and states,
 * the peer it learned, the events it emits and why it closes, its counters and its options.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import type { PeerAddress } from "./address.ts";
import type { VersionMessage } from "./messages.ts";

/**
 * Milliseconds on a monotonic clock (`performance.now()` live, virtual in the simulator).
 */
export type Millis = number;

/**
 * Who opened the TCP connection: `outbound` (we dialed; we send `version` first) or `inbound`.
 */
export type PeerRole = "outbound" | "inbound";

/**
 * The connection's state: `handshaking` until both sides sent and received `version` and
 * `verack`, then `established`, finally `closed`.
 */
export type PeerConnState = "handshaking" | "established" | "closed";

/**
 * A set of nonces to test for membership (a `Set<string>` fits): the manager's pending-outbound
 * nonces, read on each inbound `version` to detect self-connections (spec §C.3).
 */
export interface NonceSet {
  /** Whether `nonce` is one of ours. */
  has(nonce: string): boolean;
}

/**
 * The fields of a `reject` line.
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
 * import assert from "node:assert/strict";
 * const conn = new PeerConn(options);
 * assert.equal(conn.state, "handshaking");
 * assert.match(new TextDecoder().decode(conn.pollTransmit()), /\|alice-ts\|0\r\n$/);
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
