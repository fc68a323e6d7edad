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
import { OutputQueue } from "../core/output_queue.ts";
import { AddrIntake, screenAddrEntries } from "./addr_intake.ts";
import { assert } from "../util/assert.ts";
import { addressScope, type PeerAddress } from "./address.ts";
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

import type {
  Millis,
  NonceSet,
  PeerCloseReason,
  PeerConnOptions,
  PeerConnState,
  PeerConnStats,
  PeerEvent,
  PeerInfo,
  PeerRole,
  RejectFields,
} from "./peer_conn_types.ts";
export type {
  Millis,
  NonceSet,
  PeerCloseReason,
  PeerConnOptions,
  PeerConnState,
  PeerConnStats,
  PeerEvent,
  PeerInfo,
  PeerRole,
  ReceivedAddr,
  RejectFields,
} from "./peer_conn_types.ts";

// ---- constants of the spec (§0.3, §A.5, Part C) -------------------------------------------------

const MAX_STRAY_PRE_HANDSHAKE = 20;
const MISBEHAVIOUR_THRESHOLD = 100;
const MISBEHAVIOUR_WINDOW_MS = 600_000;
const REJECTS_PER_MINUTE = 10;
const MESSAGES_PER_MINUTE = 10;
const PONGS_PER_SECOND = 2;
const PINGS_REMEMBERED = 4;
const UNKNOWN_COMMANDS_ANSWERED = 10;
const EVENTS_MAX = 10_000;
/**
 * The output queues' item cap: never reached in practice (transmits are bounded by
 * `maxQueuedBytes`, log-only events by `EVENTS_MAX`).
 */
const OUTPUT_ITEMS_MAX = 2 ** 30;
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
  readonly #intake: AddrIntake;
  #points: { at: Millis; points: number }[] = [];
  #rejectTimes: Millis[] = [];
  #messageTimes: Millis[] = [];
  #rejectedThisLine = false;

  // outputs
  readonly #out = new OutputQueue<Uint8Array>({ capacity: OUTPUT_ITEMS_MAX });
  #outBytes = 0;
  readonly #events = new OutputQueue<PeerEvent>({ capacity: OUTPUT_ITEMS_MAX });

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
    this.#intake = new AddrIntake(now);
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
    this.#intake.grant();
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
    const bytes = this.#out.shift();
    if (bytes !== undefined) this.#outBytes -= bytes.length;
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
    return this.#events.shift();
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
      const verdict = this.#intake.singleEntryLine(now);
      if (verdict !== "free") {
        if (verdict === "reject") {
          this.#reject(400, "addr not batched", "addr: repeated single-entry lines", now);
        }
        this.#addPoints(20, "addr not batched", now);
        if (this.#state === "closed") return;
      }
    }
    const solicited = this.#awaitingAddrAnswer;
    this.#awaitingAddrAnswer = false;
    const { accepted, filtered, rateLimited } = screenAddrEntries(m.entries, {
      remote: this.#remote,
      local: this.#local,
      listen: this.#peer?.listenAddress,
      nowSec: this.#unixSeconds(now),
      takeToken: () => this.#intake.takeToken(now),
    });
    this.#stats.addrFiltered += filtered;
    this.#stats.addrRateLimited += rateLimited;
    if (accepted.length > 0) {
      this.#emit({ type: "addrReceived", entries: accepted, solicited, lineEntries: present });
    }
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
    if (logOnly && this.#events.length >= EVENTS_MAX) {
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
