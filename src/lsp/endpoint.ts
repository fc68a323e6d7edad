/**
 * The LSP endpoint: one UDP socket's worth of LSP state, as a synchronous sans-I/O core. It
 * decodes datagrams, routes them by source address and ConnID, answers Connects and allocates
 * ConnIDs (server), keeps a bounded connection table, owns the {@linkcode Conn}s, encodes their
 * messages and keeps the single epoch timer. No sockets, no timers, no clock, no global
 * randomness: time comes in as `now` (milliseconds, monotonic), randomness as a {@linkcode Prng}.
 *
 * Drive it like this: feed every received datagram to `handleDatagram()`, call `handleTick()`
 * when `nextTimeout()` is due, issue `write()`/`close()`/`closeAll()` commands, and after every
 * one of these calls drain `pollTransmit()` (send each datagram to its `to`, from the socket the
 * endpoint stands for) and `pollEvent()`.
 *
 * @module
 */

import type { DatagramCore, EventSource, Transmit } from "../core/mod.ts";
import { assert } from "../util/mod.ts";
import type { Prng } from "../util/mod.ts";
import {
  type Addr,
  Conn,
  type ConnState,
  type LspEvent,
  type LspStats,
  newLspStats,
} from "./conn.ts";
import { ConnTable, type LspServerOptions } from "./conn_table.ts";
import { EpochTimer } from "./epoch_timer.ts";
import { LspPayloadTooLargeError } from "./errors.ts";
import { type LspParams, lspParams } from "./params.ts";
import {
  decodeMessage,
  encodeMessage,
  MAX_DATAGRAM_BYTES,
  MAX_PAYLOAD_BYTES,
  MsgType,
  shortestDataMessageLength,
} from "./wire.ts";
import { OutputQueue } from "../core/mod.ts";

/** The queues' bound: far beyond any window, so only a runaway bug could reach it. */
const QUEUE_CAPACITY = 2 ** 30;

export type { Addr, LspEvent, LspServerOptions, LspStats };

/**
 * Options of {@linkcode LspEndpoint.client}.
 */
export interface LspClientOptions {
  /**
   * The initial sequence number, an integer in 0..2^52. Both streams start at `isn + 1`.
   *
   * @default a random integer in 0..2^31 − 1 drawn from the endpoint's PRNG
   */
  isn?: number;
  /**
   * How many delivered `message`s may wait unread (until {@linkcode LspEndpoint.markRead})
   * before new Data is refused without an Ack (push-back). A positive integer or `Infinity`.
   *
   * @default Infinity
   */
  readQueueMax?: number;
  /**
   * Most datagram bytes of Data in flight (sent, not yet acknowledged): a local limit below ω
   * and M that keeps a window of large messages within the peer's socket buffer. A positive
   * integer or `Infinity` (ω and M alone, like the reference).
   *
   * @default Infinity
   */
  maxInflightBytes?: number;
}

/**
 * An LSP client or server as a sans-I/O state machine implementing {@linkcode DatagramCore}.
 *
 * Server: every Connect from a new source address (any ISN, negative included, like the
 * reference; table not full; not shutting down) creates a connection, answered once with `Ack(connId, isn)` to that address; a Connect
 * from an address that has a connection is ignored. Other messages must come from a connected
 * address with its ConnID; everything else is dropped and counted. Client: sends Connect(isn) at
 * construction and on every epoch until an `Ack(id, isn)`, a heartbeat `Ack(id, 0)`, a valid
 * Data or a CAck with a non-zero ConnID arrives from the server address, or until EpochLimit
 * epochs pass (`connectFailed`).
 *
 * One timer per endpoint: `nextTimeout()` is the next epoch boundary while any connection exists.
 * If the caller is late, missed epochs are skipped (like Go's ticker), not replayed.
 *
 * @example An in-memory exchange
 * ```ts
 * import { LspEndpoint } from "./endpoint.ts";
 * import { lspParams } from "./params.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const params = lspParams();
 * const server = LspEndpoint.server(params, Prng.seeded(1));
 * const client = LspEndpoint.client("S", params, Prng.seeded(2), 0, { isn: 100 });
 * const pass = (from: LspEndpoint, to: LspEndpoint, fromAddr: string) => {
 *   for (let t = from.pollTransmit(); t; t = from.pollTransmit()) to.handleDatagram(fromAddr, t.bytes, 0);
 * };
 * pass(client, server, "C"); // Connect
 * pass(server, client, "S"); // Ack(1, 100)
 * const connected = client.pollEvent();
 * assert.equal(connected?.type, "connected");
 * assert.equal(connected.connId, 1);
 * client.write(1, new TextEncoder().encode("hello"), 0);
 * pass(client, server, "C");
 * server.pollEvent(); // connected
 * const got = server.pollEvent();
 * assert.equal(got?.type, "message");
 * assert.equal(new TextDecoder().decode(got.payload), "hello");
 * ```
 */
export class LspEndpoint implements DatagramCore, EventSource<LspEvent> {
  /** Which role this endpoint plays. */
  readonly role: "client" | "server";
  /** The validated parameters, shared by all connections. */
  readonly params: LspParams;
  /** The server's address (client role only). */
  readonly serverAddr: Addr | undefined;

  readonly #stats: LspStats = newLspStats();
  readonly #table: ConnTable;
  #shuttingDown = false;

  readonly #timer: EpochTimer;

  readonly #transmits = new OutputQueue<Transmit>({ capacity: QUEUE_CAPACITY });
  readonly #events = new OutputQueue<LspEvent>({ capacity: QUEUE_CAPACITY });

  private constructor(
    role: "client" | "server",
    params: Partial<LspParams>,
    prng: Prng,
    serverAddr: Addr | undefined,
    options: LspServerOptions,
  ) {
    this.role = role;
    this.params = lspParams(params);
    this.serverAddr = serverAddr;
    this.#table = new ConnTable(prng, options);
    this.#timer = new EpochTimer(this.params.epochMillis);
  }

  /**
   * Creates a server endpoint. It is idle (no timer) until the first Connect arrives.
   *
   * @param params LSP parameters; missing fields take the reference defaults.
   * @param prng Randomness (random ConnIDs only).
   * @param options Table size and optional behaviours.
   * @returns The server endpoint.
   * @throws {TypeError} On parameters of the wrong type.
   * @throws {RangeError} On out-of-range parameters or options.
   *
   * @example A server with a wider window
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const server = LspEndpoint.server({ windowSize: 5, maxUnackedMessages: 5 }, Prng.seeded(1));
   * assert.equal(server.nextTimeout(), undefined);
   * assert.equal(server.connectionCount, 0);
   * ```
   */
  static server(
    params: Partial<LspParams>,
    prng: Prng,
    options: LspServerOptions = {},
  ): LspEndpoint {
    return new LspEndpoint("server", params, prng, undefined, options);
  }

  /**
   * Creates a client endpoint and starts connecting: a Connect(isn) is waiting in
   * `pollTransmit()` and the first epoch is due at `now + epochMillis`.
   *
   * @param serverAddr The server's resolved address; datagrams from anywhere else are dropped.
   * @param params LSP parameters; missing fields take the reference defaults.
   * @param prng Randomness (the default ISN).
   * @param now The current time in milliseconds.
   * @param options The ISN.
   * @returns The client endpoint.
   * @throws {TypeError} On parameters of the wrong type or a non-number `now`.
   * @throws {RangeError} On out-of-range parameters or ISN.
   *
   * @example A client starts with a Connect
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { decodeMessage } from "./wire.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const client = LspEndpoint.client("10.0.0.1:9999", {}, Prng.seeded(1), 1000, { isn: 7 });
   * const t = client.pollTransmit();
   * assert.equal(t?.to, "10.0.0.1:9999");
   * assert.equal(decodeMessage(t.bytes)?.seqNum, 7);
   * assert.equal(client.nextTimeout(), 3000);
   * ```
   */
  static client(
    serverAddr: Addr,
    params: Partial<LspParams>,
    prng: Prng,
    now: number,
    options: LspClientOptions = {},
  ): LspEndpoint {
    if (typeof serverAddr !== "string") {
      throw new TypeError("Cannot create LSP client: the server address is not a string");
    }
    const endpoint = new LspEndpoint("client", params, prng, serverAddr, {});
    const at = endpoint.#timer.advance(now);
    const isn = options.isn ?? prng.int(0, 2 ** 31 - 1);
    const conn = Conn.client(endpoint.params, serverAddr, isn, {
      stats: endpoint.#stats,
      readQueueMax: options.readQueueMax,
      maxInflightBytes: options.maxInflightBytes,
    });
    endpoint.#table.addAttempt(conn);
    endpoint.#timer.start(at);
    endpoint.#drain(conn);
    return endpoint;
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /**
   * Handles one received datagram. Never throws on bad bytes: oversized, undecodable, unknown
   * or misaddressed datagrams are dropped and counted in {@linkcode LspEndpoint.stats}.
   *
   * @param from The datagram's source address.
   * @param bytes The datagram.
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `now` is not a number.
   *
   * @example Garbage is counted, not thrown
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const server = LspEndpoint.server({}, Prng.seeded(1));
   * server.handleDatagram("10.0.0.9:1", Uint8Array.of(0xff, 0x00), 0);
   * assert.equal(server.stats().dropped.malformed, 1);
   * ```
   */
  handleDatagram(from: Addr, bytes: Uint8Array, now: number): void {
    const at = this.#timer.advance(now);
    const stats = this.#stats;
    stats.datagramsReceived++;
    if (!(bytes instanceof Uint8Array)) {
      stats.dropped.malformed++;
      return;
    }
    if (bytes.length > MAX_DATAGRAM_BYTES) {
      stats.dropped.oversize++;
      return;
    }
    const msg = decodeMessage(bytes);
    if (msg === undefined) {
      stats.dropped.malformed++;
      return;
    }
    if (this.role === "client" && from !== this.serverAddr) {
      stats.dropped.unknownPeer++;
      return;
    }
    const conn = this.#table.byAddr(from);
    if (conn !== undefined) {
      conn.handleMessage(msg);
      this.#drain(conn);
      return;
    }
    if (this.role === "client" || msg.type !== MsgType.Connect) {
      stats.dropped.noConnection++;
      return;
    }
    if (this.#shuttingDown) {
      stats.dropped.refusedConnect++;
      return;
    }
    const created = this.#table.accept(from, msg.seqNum, this.params, stats);
    if (created === undefined) return;
    this.#timer.start(at);
    this.#drain(created);
  }

  /**
   * Runs one epoch for every connection if one is due (`now ≥ nextTimeout()`), else does
   * nothing. Afterwards the next epoch is the first boundary after `now`: epochs missed by a
   * late caller are skipped, not replayed in a burst.
   *
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `now` is not a number.
   *
   * @example Ticking only when due
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const client = LspEndpoint.client("S", { epochMillis: 500 }, Prng.seeded(1), 0);
   * client.pollTransmit(); // first Connect
   * client.handleTick(499);
   * assert.equal(client.pollTransmit(), undefined); // not due yet
   * client.handleTick(500);
   * assert.notEqual(client.pollTransmit(), undefined);
   * assert.equal(client.nextTimeout(), 1000);
   * ```
   */
  handleTick(now: number): void {
    if (!this.#timer.take(this.#timer.advance(now))) return;
    for (const conn of this.#table.conns()) {
      conn.tick();
      this.#drain(conn);
    }
    if (this.#table.size === 0) this.#timer.stop();
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  /**
   * Writes one message on a connection: queued, and sent at once if the window and the unacked
   * cap allow. Never blocks.
   *
   * @param connId The connection.
   * @param payload The message (copied); may be empty; `null` sends an empty message as
   * `"Payload":null`. Its Data message (with the connection's ConnID, the next SeqNum and the
   * Checksum) must fit in 1500 bytes: 1068 bytes always do with small numbers, more than
   * {@linkcode MAX_PAYLOAD_BYTES} never do.
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `payload` is neither a Uint8Array nor `null`, or `now` not a number.
   * @throws {LspPayloadTooLargeError} When the Data message would be over 1500 bytes (checked
   * before the connection when the payload is over {@linkcode MAX_PAYLOAD_BYTES}).
   * @throws {LspConnectionError} When the connection is unknown, closing, closed or lost.
   *
   * @example Refusing a payload that fits in no datagram
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { LspPayloadTooLargeError } from "./errors.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const server = LspEndpoint.server({}, Prng.seeded(1));
   * assert.throws(() => server.write(1, new Uint8Array(1072), 0), LspPayloadTooLargeError);
   * ```
   */
  write(connId: number, payload: Uint8Array | null, now: number): void {
    this.#timer.advance(now);
    if (payload !== null && !(payload instanceof Uint8Array)) {
      throw new TypeError("Cannot write: the payload is neither a Uint8Array nor null");
    }
    if (payload !== null && payload.length > MAX_PAYLOAD_BYTES) {
      const n = payload.length;
      throw new LspPayloadTooLargeError(n, shortestDataMessageLength(n), MAX_DATAGRAM_BYTES);
    }
    const conn = this.#connFor("write", connId);
    conn.write(payload);
    this.#drain(conn);
  }

  /**
   * Closes one connection (the server's CloseConn, or the client's Close): writes are refused
   * from now on and no more `message` events come for it; written data keeps being delivered,
   * then a `closed` event follows (at once if nothing is pending), or `lost` if the peer goes
   * silent first. Afterwards the endpoint sends nothing more on that connection.
   *
   * @param connId The connection.
   * @param now The current time in milliseconds.
   * @throws {LspConnectionError} When the connection is unknown, already closing, closed or lost.
   *
   * @example Closing an unknown connection
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { LspConnectionError } from "./errors.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const server = LspEndpoint.server({}, Prng.seeded(1));
   * assert.throws(() => server.close(9, 0), (e) => e instanceof LspConnectionError && e.reason === "unknown");
   * ```
   */
  close(connId: number, now: number): void {
    this.#timer.advance(now);
    const conn = this.#connFor("close", connId);
    conn.close();
    this.#drain(conn);
  }

  /**
   * Shuts the endpoint down. A server stops accepting Connects and closes every open
   * connection as {@linkcode LspEndpoint.close} does; a client closes its connection, or
   * abandons a connect attempt (a `closed` event with ConnID 0). Once every connection has
   * reported `closed` or `lost`, {@linkcode LspEndpoint.isFinished} is true and the endpoint
   * never sends again. Calling it twice is harmless.
   *
   * @param now The current time in milliseconds.
   *
   * @example A server with nothing pending finishes at once
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const server = LspEndpoint.server({}, Prng.seeded(1));
   * server.closeAll(0);
   * assert.ok(server.isFinished);
   * ```
   */
  closeAll(now: number): void {
    this.#timer.advance(now);
    this.#shuttingDown = true;
    for (const conn of this.#table.conns()) {
      if (conn.state !== "open" && conn.state !== "connecting") continue;
      conn.close();
      this.#drain(conn);
    }
  }

  /**
   * Tells the core that the application has read `count` delivered messages of a connection.
   * With a `readQueueMax` bound, a connection whose unread messages reached it refuses new Data
   * (no Ack: the sender keeps it and retransmits it on its backoff schedule, as under loss) while
   * still re-Acking duplicates and sending heartbeats; this call makes room again. It sends
   * nothing. An unknown or no longer open connection, or a count beyond its unread messages, is
   * ignored.
   *
   * @param connId The connection.
   * @param count How many of its messages were read.
   *
   * @example Nothing to do for an unknown connection
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const server = LspEndpoint.server({}, Prng.seeded(1), { readQueueMax: 8 });
   * server.markRead(3, 1);
   * assert.equal(server.unreadCount(3), 0);
   * ```
   */
  markRead(connId: number, count = 1): void {
    this.#table.byId(connId)?.markRead(count);
  }

  // -------------------------------------------------------------------------------------------
  // Outputs

  /**
   * Returns the next datagram to send, or `undefined`. Each is at most 1500 bytes.
   *
   * @returns The next datagram, or `undefined`.
   *
   * @example Draining datagrams
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const client = LspEndpoint.client("S", {}, Prng.seeded(1), 0);
   * assert.equal(client.pollTransmit()?.to, "S");
   * assert.equal(client.pollTransmit(), undefined);
   * ```
   */
  pollTransmit(): Transmit | undefined {
    return this.#transmits.shift();
  }

  /**
   * Returns the next application event, or `undefined`.
   *
   * @returns The next event, or `undefined`.
   *
   * @example A connect attempt that fails
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const client = LspEndpoint.client("S", { epochLimit: 1 }, Prng.seeded(1), 0);
   * client.handleTick(2000);
   * assert.equal(client.pollEvent()?.type, "connectFailed");
   * ```
   */
  pollEvent(): LspEvent | undefined {
    return this.#events.shift();
  }

  /**
   * When {@linkcode LspEndpoint.handleTick} is next due: the next epoch boundary while any
   * connection (or connect attempt) exists, else `undefined`.
   *
   * @returns The due time in milliseconds, or `undefined`.
   *
   * @example The first epoch of a client
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const client = LspEndpoint.client("S", { epochMillis: 250 }, Prng.seeded(1), 1000);
   * assert.equal(client.nextTimeout(), 1250);
   * ```
   */
  nextTimeout(): number | undefined {
    return this.#timer.dueAt;
  }

  // -------------------------------------------------------------------------------------------
  // Getters

  /** Live connections (including a client's connect attempt and closing connections). */
  get connectionCount(): number {
    return this.#table.size;
  }

  /** True once closeAll() was called (a server then refuses new connections). */
  get isShuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * True once the endpoint has nothing left to do and will never send again: a client whose
   * connection ended (closed, lost, failed), or a server after closeAll() whose connections all
   * ended. The adapter may then close its socket.
   */
  get isFinished(): boolean {
    if (this.#table.size > 0) return false;
    return this.role === "client" || this.#shuttingDown;
  }

  /**
   * The ConnIDs of the established connections (open or closing), in creation order.
   *
   * @returns The ConnIDs.
   *
   * @example A fresh server has none
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(LspEndpoint.server({}, Prng.seeded(1)).connIds().length, 0);
   * ```
   */
  connIds(): number[] {
    return this.#table.connIds();
  }

  /**
   * The state of a live connection, or `undefined` if there is none with that ConnID.
   *
   * @param connId The connection.
   * @returns Its state, or `undefined`.
   *
   * @example An unknown connection
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(LspEndpoint.server({}, Prng.seeded(1)).connState(1), undefined);
   * ```
   */
  connState(connId: number): ConnState | undefined {
    return this.#table.byId(connId)?.state;
  }

  /**
   * Written messages of a connection not yet acknowledged (queued plus in flight); 0 for an
   * unknown connection. An adapter may use it for back-pressure.
   *
   * @param connId The connection.
   * @returns The number of pending messages.
   *
   * @example An unknown connection has nothing pending
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(LspEndpoint.server({}, Prng.seeded(1)).pendingCount(1), 0);
   * ```
   */
  pendingCount(connId: number): number {
    return this.#table.byId(connId)?.pendingCount ?? 0;
  }

  /**
   * Delivered `message`s of a connection not yet marked read ({@linkcode LspEndpoint.markRead});
   * 0 for an unknown connection. With a `readQueueMax` bound, never above it.
   *
   * @param connId The connection.
   * @returns The number of unread messages.
   */
  unreadCount(connId: number): number {
    return this.#table.byId(connId)?.unreadCount ?? 0;
  }

  /**
   * The peer address of a live connection, or `undefined`.
   *
   * @param connId The connection.
   * @returns The address, or `undefined`.
   *
   * @example An unknown connection has no address
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(LspEndpoint.server({}, Prng.seeded(1)).peerAddr(1), undefined);
   * ```
   */
  peerAddr(connId: number): Addr | undefined {
    return this.#table.byId(connId)?.peer;
  }

  /**
   * A snapshot of the counters: datagrams in and out, Data sent and retransmitted, Acks,
   * heartbeats, deliveries, and dropped datagrams by reason.
   *
   * @returns A copy of the counters.
   *
   * @example Counting an oversized datagram
   * ```ts
   * import { LspEndpoint } from "./endpoint.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const server = LspEndpoint.server({}, Prng.seeded(1));
   * server.handleDatagram("10.0.0.9:1", new Uint8Array(1501), 0);
   * assert.equal(server.stats().dropped.oversize, 1);
   * ```
   */
  stats(): LspStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  #connFor(action: string, connId: number): Conn {
    const attempt = this.role === "client" ? this.#table.byAddr(this.serverAddr!) : undefined;
    return this.#table.connFor(action, connId, attempt);
  }

  /** Moves a connection's outputs into the endpoint's queues; forgets it once it has ended. */
  #drain(conn: Conn): void {
    for (let msg = conn.pollTransmit(); msg !== undefined; msg = conn.pollTransmit()) {
      const bytes = encodeMessage(msg);
      assert(bytes.length <= MAX_DATAGRAM_BYTES, "an outgoing datagram is over 1500 bytes");
      this.#transmits.push({ to: conn.peer, bytes });
      this.#stats.datagramsSent++;
    }
    for (let event = conn.pollEvent(); event !== undefined; event = conn.pollEvent()) {
      if (event.type === "connected") this.#table.established(event.connId, conn);
      this.#events.push(event);
    }
    if (!conn.isTerminal) return;
    this.#table.remove(conn);
    if (this.#table.size === 0) this.#timer.stop();
  }
}
