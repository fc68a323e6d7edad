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
 * Layout: `PeerConn` is a facade over the line framer and two state classes, `PeerHandshake`
 * (`peer_handshake.ts`) and `PeerEstablished` (`peer_established.ts`), which share a
 * `PeerConnContext` (`peer_conn_context.ts`: state, queues, counters, score, closing); the legal
 * transitions and the per-state rules are data in `peer_conn_states.ts`; options are checked in
 * `peer_conn_options.ts`.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { LineFramer } from "./framing.ts";
import { type AddrEntry, decodeMessage, encodeMessage, sanitizeText } from "./messages.ts";
import { PeerConnContext } from "./peer_conn_context.ts";
import {
  checkMillis,
  ourVersion,
  type PeerConnConfig,
  resolvePeerConnOptions,
} from "./peer_conn_options.ts";
import { checkCommand } from "./peer_conn_states.ts";
import { PeerEstablished } from "./peer_established.ts";
import { PeerHandshake } from "./peer_handshake.ts";
import type {
  Millis,
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

/** How much of a received chunk is handed to the framer at a time. */
const FEED_SLICE_BYTES = 1_048_576;

/**
 * One BitClone connection (see the module doc for the whole contract).
 *
 * @example A handshake between two connections, lines passed by hand
 * ```ts
 * import { PeerConn } from "./peer_conn.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
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
 * assert.equal(dialer.state, "established");
 * assert.equal(listener.state, "established");
 * assert.deepEqual(listener.peer?.listenAddress, a);
 * ```
 */
export class PeerConn {
  /** Inbound or outbound. */
  readonly role: PeerRole;
  readonly #config: PeerConnConfig;
  readonly #framer: LineFramer;
  readonly #ctx: PeerConnContext;
  readonly #handshake: PeerHandshake;
  #established: PeerEstablished | undefined;
  #lastNow: Millis;

  /**
   * Opens a connection. An outbound one queues its `version` at once.
   *
   * @throws {TypeError} When a required option is missing or a text option cannot be sent.
   * @throws {RangeError} When a number option is out of range.
   * @example An inbound connection sends nothing first
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const conn = new PeerConn({
   *   role: "inbound", prng: Prng.seeded(1), now: 0,
   *   remoteAddress: { ip: "192.0.2.1", v6: false, port: 51234 },
   *   localAddress: { ip: "192.0.2.2", v6: false, port: 4001 },
   * });
   * assert.equal(conn.pollTransmit(), undefined);
   * assert.equal(conn.nextTimeout(), 30_000);
   * ```
   */
  constructor(options: PeerConnOptions) {
    const config = resolvePeerConnOptions(options);
    this.role = config.role;
    this.#config = config;
    this.#framer = new LineFramer({ maxLineBytes: config.maxLineBytes });
    this.#lastNow = config.openedAt;
    this.#ctx = new PeerConnContext(config.maxQueuedBytes);
    // Validate every field of our version now: misuse fails before any byte exists.
    encodeMessage(ourVersion(config, config.openedAt));
    this.#handshake = new PeerHandshake(config, this.#ctx);
  }

  // ---- getters ---------------------------------------------------------------------------------

  /**
   * `handshaking`, `established` or `closed`.
   *
   * @example Before any input, and after the peer closed
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * assert.equal(conn.state, "handshaking");
   * conn.receiveEof(1);
   * assert.equal(conn.state, "closed");
   * ```
   */
  get state(): PeerConnState {
    return this.#ctx.state;
  }

  /**
   * Our `version` nonce on this connection: add it to the pending-outbound set while an outbound
   * connection handshakes (spec §C.3).
   *
   * @example A fixed nonce goes out in our version
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, nonce: "77" });
   * assert.equal(conn.nonce, "77");
   * assert.match(new TextDecoder().decode(conn.pollTransmit()), /\|77\|bitclone-ts\|0\r\n$/);
   * ```
   */
  get nonce(): string {
    return this.#config.nonce;
  }

  /**
   * The peer's details once its `version` arrived (in particular once established), else
   * `undefined`.
   *
   * @example Learned from the peer's version
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 51234 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * const before = conn.peer;
   * conn.receiveData(new TextEncoder().encode("version|3|1|0|192.0.2.1:4000|192.0.2.1:4001|9|x|0\n"), 0);
   * assert.equal(before, undefined);
   * assert.equal(conn.peer?.userAgent, "x");
   * assert.deepEqual(conn.peer?.listenAddress, { ...a, port: 4001 });
   * ```
   */
  get peer(): PeerInfo | undefined {
    return this.#handshake.peer;
  }

  /**
   * The misbehaviour score: points of the last 10 minutes (as of the last input).
   *
   * @example A malformed line costs 10 points once established
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, nonce: "7" });
   * conn.receiveData(new TextEncoder().encode("verack|7\nversion|3|1|0|192.0.2.1:4000|192.0.2.1:4001|9|x|0\n"), 0);
   * assert.equal(conn.state, "established");
   * assert.equal(conn.score, 0);
   * conn.receiveData(new TextEncoder().encode("addr|x\n"), 1);
   * assert.equal(conn.score, 10);
   * ```
   */
  get score(): number {
    return this.#ctx.score(this.#lastNow);
  }

  /**
   * The last measured round trip in ms (for inbound eviction, spec §C.9), if any.
   */
  get lastRttMs(): number | undefined {
    return this.#established?.lastRttMs;
  }

  /**
   * Bytes held by the line framer (a partial line, unscanned data): bounded by the line limit.
   *
   * @example A partial line
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * assert.equal(conn.bufferedBytes, 0);
   * conn.receiveData(new TextEncoder().encode("ver"), 0);
   * assert.equal(conn.bufferedBytes, 3);
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
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.receiveData(new TextEncoder().encode("ping|1\r\n"), 0);
   * assert.equal(conn.stats.linesReceived, 1);
   * assert.equal(conn.stats.strayLines, 1);
   * ```
   */
  get stats(): PeerConnStats {
    return { ...this.#ctx.stats };
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
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.receiveData(new TextEncoder().encode("ping|1\nping|2\n"), 5);
   * assert.equal(conn.pollTransmit(), undefined);
   * assert.equal(conn.stats.strayLines, 2);
   * assert.throws(() => conn.receiveData(new Uint8Array(0), 4), RangeError);
   * ```
   */
  receiveData(bytes: Uint8Array, now: Millis): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Cannot receive data: bytes is not a Uint8Array");
    }
    this.#advanceTime(now);
    // Fed in slices so that the framer never holds more than one slice of unscanned bytes.
    for (let offset = 0; offset < bytes.length; offset += FEED_SLICE_BYTES) {
      if (this.#ctx.state === "closed") return;
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
        if (this.#ctx.state === "established") {
          this.#ctx.addPoints(100, "line over the limit", now, false);
        }
        this.#ctx.finish({ kind: "lineTooLong", bytes: r.bytes });
        return;
      }
      this.#handleLine(r.line, now);
      if (this.#ctx.state === "closed") return;
    }
  }

  /**
   * The peer closed its side: the connection closes (`peerClosed`); an unterminated last line is
   * discarded. Ignored once closed.
   *
   * @throws {RangeError} When `now` is before an earlier input's time.
   * @example Closing with half a line buffered
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.receiveData(new TextEncoder().encode("vers"), 5);
   * conn.receiveEof(10);
   * assert.deepEqual(conn.pollEvent(), {
   *   type: "closed", reason: { kind: "peerClosed", discardedBytes: 4 }, wasEstablished: false,
   * });
   * ```
   */
  receiveEof(now: Millis): void {
    this.#advanceTime(now);
    if (this.#ctx.state === "closed") return;
    this.#framer.receiveEof();
    const r = this.#framer.nextLine();
    this.#ctx.finish({
      kind: "peerClosed",
      discardedBytes: r.type === "eof" ? r.discardedBytes : 0,
    });
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
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.handleTick(29_999);
   * assert.equal(conn.state, "handshaking");
   * conn.handleTick(conn.nextTimeout()!);
   * assert.equal(conn.state, "closed");
   * assert.deepEqual(conn.pollEvent(), { type: "closed", reason: { kind: "handshakeTimeout" }, wasEstablished: false });
   * ```
   */
  handleTick(now: Millis): void {
    this.#advanceTime(now);
    switch (this.#ctx.state) {
      case "closed":
        return;
      case "handshaking":
        this.#handshake.handleTick(now);
        this.#maybeEstablish(now);
        return;
      case "established":
        this.#established!.handleTick(now);
        return;
    }
  }

  // ---- commands --------------------------------------------------------------------------------

  /**
   * Sends `getaddr` (once per connection; done automatically on establishment unless
   * `getaddrOnEstablish` is false). Adds 1000 tokens to the `addr` rate limit (spec §C.4).
   *
   * @throws {TypeError} When not established, or when `getaddr` was already sent.
   * @example Refused before the handshake and a second time
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, nonce: "7", getaddrOnEstablish: false });
   * assert.throws(() => conn.sendGetaddr(), { name: "TypeError", message: "Cannot send getaddr: the connection is handshaking" });
   * conn.receiveData(new TextEncoder().encode("verack|7\nversion|3|1|0|192.0.2.1:4000|192.0.2.1:4001|9|x|0\n"), 0);
   * while (conn.pollTransmit()); // our version and verack
   * conn.sendGetaddr();
   * assert.equal(new TextDecoder().decode(conn.pollTransmit()), "getaddr\r\n");
   * assert.throws(() => conn.sendGetaddr(), TypeError);
   * ```
   */
  sendGetaddr(): void {
    checkCommand(this.#ctx.state, "sendGetaddr", "send getaddr");
    this.#established!.sendGetaddr();
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
   * @example Answering getaddr with our own address (a loopback one is not sent)
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, nonce: "7", getaddrOnEstablish: false });
   * conn.receiveData(new TextEncoder().encode("verack|7\nversion|3|1|0|192.0.2.1:4000|192.0.2.1:4001|9|x|0\n"), 0);
   * while (conn.pollTransmit()); // our version and verack
   * const sent = conn.sendAddr([
   *   { time: 1_700_000_000, address: { ip: "198.51.100.5", v6: false, port: 4000 } },
   *   { time: 1_700_000_000, address: { ip: "127.0.0.1", v6: false, port: 4000 } },
   * ]);
   * assert.equal(sent, 1);
   * assert.equal(new TextDecoder().decode(conn.pollTransmit()), "addr|1|1700000000|198.51.100.5:4000\r\n");
   * ```
   */
  sendAddr(entries: readonly AddrEntry[]): number {
    checkCommand(this.#ctx.state, "sendAddr", "send addr");
    return this.#established!.sendAddr(entries);
  }

  /**
   * Sends a diagnostic `message` line (spec §A.5.7), at most 10 per minute.
   *
   * @returns Whether it was sent (false: rate-limited or closed).
   * @throws {TypeError} When not established, or the text holds `|`, CR or LF.
   * @throws {RangeError} When `code` is not a safe unsigned integer.
   * @example The 11th message of a minute is not sent
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, nonce: "7" });
   * conn.receiveData(new TextEncoder().encode("verack|7\nversion|3|1|0|192.0.2.1:4000|192.0.2.1:4001|9|x|0\n"), 0);
   * const sent = [...Array(11)].map(() => conn.sendMessage(100, "hello", "bitclone-ts 1.0"));
   * assert.deepEqual(sent.filter((s) => s).length, 10);
   * assert.throws(() => conn.sendMessage(100, "a|b", ""), TypeError);
   * ```
   */
  sendMessage(code: number, summary: string, details: string): boolean {
    checkCommand(this.#ctx.state, "sendMessage", "send a message");
    return this.#established!.sendMessage(code, summary, details, this.#lastNow);
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
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * conn.close("no slot", { code: 503, reason: "busy", details: "try later" });
   * assert.equal(new TextDecoder().decode(conn.pollTransmit()), "reject|503|busy|try later\r\n");
   * conn.close("again");
   * assert.deepEqual(conn.pollEvent()?.type, "rejectSent");
   * assert.deepEqual(conn.pollEvent(), { type: "closed", reason: { kind: "local", note: "no slot" }, wasEstablished: false });
   * assert.equal(conn.pollEvent(), undefined);
   * ```
   */
  close(note = "closed locally", reject?: RejectFields): void {
    const bytes = reject === undefined ? undefined : encodeMessage({ type: "reject", ...reject });
    if (this.#ctx.state === "closed") return;
    checkCommand(this.#ctx.state, "close", "close");
    if (reject !== undefined && bytes !== undefined) {
      this.#ctx.queue(bytes);
      this.#ctx.stats.rejectsSent++;
      this.#ctx.emit({ type: "rejectSent", reject: { ...reject } });
    }
    this.#ctx.finish({ kind: "local", note: String(note) });
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
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
   * assert.match(new TextDecoder().decode(conn.pollTransmit()), /^version\|3\|1\|0\|192\.0\.2\.1:4000\|/);
   * assert.equal(conn.pollTransmit(), undefined);
   * ```
   */
  pollTransmit(): Uint8Array | undefined {
    return this.#ctx.pollTransmit();
  }

  /**
   * Takes the next event, or `undefined`.
   */
  pollEvent(): PeerEvent | undefined {
    return this.#ctx.pollEvent();
  }

  /**
   * When {@linkcode PeerConn.handleTick} is next due, or `undefined` once closed.
   *
   * @example The handshake deadline of a fresh connection
   * ```ts
   * import { PeerConn } from "./peer_conn.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
   * const conn = new PeerConn({ role: "inbound", prng: Prng.seeded(1), now: 100, remoteAddress: a, localAddress: a, handshakeTimeoutMs: 5000 });
   * assert.equal(conn.nextTimeout(), 5100);
   * conn.close();
   * assert.equal(conn.nextTimeout(), undefined);
   * ```
   */
  nextTimeout(): Millis | undefined {
    switch (this.#ctx.state) {
      case "closed":
        return undefined;
      case "handshaking":
        return this.#handshake.nextTimeout();
      case "established":
        return this.#established!.nextTimeout();
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  #handleLine(line: Uint8Array, now: Millis): void {
    const ctx = this.#ctx;
    ctx.beginLine();
    const result = decodeMessage(line, {
      maxLineBytes: this.#config.maxLineBytes,
      maxLineBytesNonBlock: this.#config.maxLineBytesNonBlock,
    });
    let command = result.ok ? result.message.type : result.error.command;
    if (result.ok && result.message.type === "blockLayer") command = result.message.command;
    try {
      if (ctx.state === "handshaking") {
        this.#handshake.handleLine(result, now);
        this.#maybeEstablish(now);
      } else {
        this.#established!.handleLine(result, now);
      }
    } catch (err) {
      // Fault isolation (spec §C.12): a bug on one line closes this connection only.
      if (ctx.state === "closed") return;
      const details = sanitizeText(command, 64);
      ctx.queueReject({ code: 500, reason: "internal error", details });
      ctx.finish({
        kind: "internalError",
        message: sanitizeText(err instanceof Error ? err.message : String(err), 200),
      });
    }
  }

  /** handshaking → established, once the handshake is complete. */
  #maybeEstablish(now: Millis): void {
    if (this.#ctx.state !== "handshaking" || !this.#handshake.complete) return;
    const peer = this.#handshake.peer;
    assert(peer !== undefined, "established without the peer's version");
    this.#ctx.moveTo("established");
    this.#established = new PeerEstablished(this.#config, this.#ctx, peer, now);
    this.#ctx.emit({ type: "established", peer });
    const state = this.#ctx.state as PeerConnState; // not narrowed: emit() could have closed
    if (this.#config.getaddrOnEstablish && state === "established") this.sendGetaddr();
  }

  #advanceTime(now: Millis): void {
    checkMillis("now", now);
    if (now < this.#lastNow) {
      throw new RangeError(`Cannot handle input: now ${now} is before ${this.#lastNow}`);
    }
    this.#lastNow = now;
  }
}
