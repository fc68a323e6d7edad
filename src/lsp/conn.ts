/**
 * One LSP connection as a sans-I/O state machine (spec §5–§12): the client's connect handshake,
 * a sliding-window sender with a cap on unacknowledged messages and per-message exponential
 * backoff, a windowed receiver that Acks at once and delivers in order, heartbeats, and liveness
 * counted in epochs.
 *
 * A `Conn` has no clock: the owner calls {@linkcode Conn.tick} once per epoch and feeds it the
 * messages that were routed to it (right source address). Outputs are pulled: messages to send
 * with {@linkcode Conn.pollTransmit}, application events with {@linkcode Conn.pollEvent}. Drain
 * both after every call. {@linkcode LspEndpoint} (`endpoint.ts`) owns Conns, routes datagrams,
 * encodes messages and keeps the epoch timer.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { LspConnectionError, LspPayloadTooLargeError } from "./errors.ts";
import { type LspParams, validateParams } from "./params.ts";
import { acceptData, Receiver } from "./receiver.ts";
import { Sender } from "./sender.ts";
import { type LspStats, newLspStats } from "./stats.ts";
import {
  ackMessage,
  connectMessage,
  dataMessage,
  encodedLength,
  heartbeatMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MAX_PAYLOAD_BYTES,
  MsgType,
} from "./wire.ts";

import type { Addr } from "../core/mod.ts";
import { OutputQueue } from "../core/mod.ts";

/** The queues' bound: far beyond any window, so only a runaway bug could reach it. */
const QUEUE_CAPACITY = 2 ** 30;
export type { Addr };
export { DROP_REASONS, type LspDropReason, type LspStats, newLspStats } from "./stats.ts";

/**
 * What an LSP core tells the application. Each connection yields `connected` first (the server
 * accepted a Connect; the client got its answer), then `message`s in SeqNum order, then at most one
 * of `lost` (EpochLimit silent epochs; queued data discarded) or `closed` (a close() finished: all
 * written data acknowledged). A client that never connects yields one `connectFailed` instead.
 * A client whose connect attempt is abandoned by close yields `closed` with ConnID 0.
 * A `message` whose Data carried `"Payload":null` has an empty `payload` and `payloadNull: true`
 * (write `null` to send it back the same way, as the reference's echo does).
 */
export type LspEvent =
  | { readonly type: "connected"; readonly connId: number; readonly addr: Addr }
  | {
    readonly type: "message";
    readonly connId: number;
    readonly payload: Uint8Array;
    /** Present (true) when the Data message said `"Payload":null`; `payload` is then empty. */
    readonly payloadNull?: true;
  }
  | { readonly type: "lost"; readonly connId: number }
  | { readonly type: "closed"; readonly connId: number }
  | { readonly type: "connectFailed"; readonly connId: 0 };

/**
 * The largest ISN our client uses (the reference takes any non-negative int64). It keeps every
 * sequence number of a connection a safe integer. Our server, like the reference's, accepts a
 * Connect with any ISN the decoder gives (every safe integer, negative ones included).
 *
 * @example Room above the largest ISN
 * ```ts
 * import { MAX_ISN } from "./conn.ts";
 * import assert from "node:assert/strict";
 * assert.ok(Number.isSafeInteger(MAX_ISN + 2 ** 32));
 * ```
 */
export const MAX_ISN = 2 ** 52;

/**
 * A connection's state:
 * - `connecting`: a client waiting for the answer to its Connect;
 * - `open`: established;
 * - `closing`: close() was called; pending data is still being delivered;
 * - `closed`: close() finished; `lost`: EpochLimit silent epochs; `failed`: the connect attempt
 *   timed out. The last three are final: the connection sends and reports nothing more.
 */
export type ConnState = "connecting" | "open" | "closing" | "closed" | "lost" | "failed";

/**
 * Options of {@linkcode Conn.client} and {@linkcode Conn.server}.
 */
export interface ConnOptions {
  /**
   * Server side: answer a duplicate Connect with the original `Ack(connId, isn)`, at most once
   * per epoch (spec §17). The reference never does; keep it off for the ISN test (§15.11).
   *
   * @default false
   */
  answerDuplicateConnect?: boolean;
  /**
   * Counters to update; an endpoint shares one object among its connections.
   *
   * @default a fresh {@linkcode newLspStats}()
   */
  stats?: LspStats;
  /**
   * The read-queue bound: how many delivered `message`s may wait unread (until
   * {@linkcode Conn.markRead}) before new Data is refused without an Ack (push-back; the peer
   * retransmits it later, as under loss). A positive integer, or `Infinity` for no bound.
   *
   * @default Infinity
   */
  readQueueMax?: number;
  /**
   * Most datagram bytes of Data sent and not yet acknowledged (a local limit below ω and M, so
   * that a window of large messages does not overflow the peer's socket buffer; one message may
   * always be in flight). A positive integer, or `Infinity` for no bound (ω and M alone).
   *
   * @default Infinity
   */
  maxInflightBytes?: number;
}

/**
 * Checks a read-queue bound: a positive safe integer or `Infinity`.
 *
 * @param max The bound.
 * @returns The bound.
 * @throws {RangeError} Otherwise.
 *
 * @example
 * ```ts
 * import { checkReadQueueMax } from "./conn.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => checkReadQueueMax(0), RangeError);
 * ```
 */
export function checkReadQueueMax(max: number): number {
  if (max !== Infinity && (!Number.isSafeInteger(max) || max < 1)) {
    throw new RangeError(
      `Cannot use LSP options: readQueueMax is ${max}, expected a positive integer`,
    );
  }
  return max;
}

function checkIsn(isn: number): void {
  if (!Number.isSafeInteger(isn) || isn < 0 || isn > MAX_ISN) {
    throw new RangeError(`Cannot create connection: ISN ${isn} is not an integer in 0..${MAX_ISN}`);
  }
}

/**
 * One LSP connection, either role. Build it with {@linkcode Conn.client} or
 * {@linkcode Conn.server}; feed it routed messages ({@linkcode Conn.handleMessage}), epoch ticks
 * ({@linkcode Conn.tick}) and commands ({@linkcode Conn.write}, {@linkcode Conn.close}); drain
 * {@linkcode Conn.pollTransmit} and {@linkcode Conn.pollEvent} after each call.
 *
 * Both streams start at ISN + 1. Data goes out the moment the window (`seq ≤ base + ω − 1`) and
 * the unacked cap (`M`) allow it — on write() and on every Ack/CAck that frees room — and is
 * otherwise only retransmitted on ticks, per message, after 0, 1, 2, 4, … idle epochs capped at
 * B. Data within the receive window is Acked on arrival; earlier duplicates are re-Acked; later
 * ones are dropped unacknowledged. A tick that retransmits, or that follows an epoch without new
 * Data, sends a heartbeat; EpochLimit ticks without hearing from the peer lose the connection.
 *
 * @example A server-side connection receiving "hi"
 * ```ts
 * import { Conn } from "./conn.ts";
 * import { dataMessage } from "./wire.ts";
 * import { lspParams } from "./params.ts";
 * import assert from "node:assert/strict";
 * const conn = Conn.server(lspParams(), "10.0.0.2:5000", 1, 100);
 * assert.equal(conn.pollTransmit()?.seqNum, 100); // Ack(1, 100) answers the Connect
 * conn.handleMessage(dataMessage(1, 101, new TextEncoder().encode("hi")));
 * assert.equal(conn.pollTransmit()?.seqNum, 101); // Ack(1, 101)
 * assert.equal(conn.pollEvent()?.type, "connected");
 * assert.equal(conn.pollEvent()?.type, "message");
 * ```
 */
export class Conn {
  /** Which side of the connection this is. */
  readonly role: "client" | "server";
  /** The peer's address: the server for a client, the client's source address for a server. */
  readonly peer: Addr;
  /** The client's initial sequence number; both streams start at `isn + 1`. */
  readonly isn: number;
  /** The validated parameters. */
  readonly params: LspParams;

  #connId: number;
  #state: ConnState;
  readonly #stats: LspStats;
  readonly #answerDuplicateConnect: boolean;

  readonly #sender: Sender; // §9
  readonly #receiver: Receiver; // §10
  #unread = 0; // delivered messages the application has not read (markRead)

  // Epochs (§11).
  #silentEpochs = 0;
  #sentNewDataThisEpoch = false;
  #answeredConnectThisEpoch = false;

  // Outputs.
  readonly #transmits = new OutputQueue<LspMessage>({ capacity: QUEUE_CAPACITY });
  readonly #events = new OutputQueue<LspEvent>({ capacity: QUEUE_CAPACITY });

  private constructor(
    role: "client" | "server",
    params: LspParams,
    peer: Addr,
    connId: number,
    isn: number,
    options: ConnOptions,
  ) {
    this.role = role;
    this.params = validateParams(params);
    this.peer = peer;
    this.isn = isn;
    this.#connId = connId;
    this.#state = role === "client" ? "connecting" : "open";
    this.#stats = options.stats ?? newLspStats();
    this.#answerDuplicateConnect = options.answerDuplicateConnect ?? false;
    const stats = this.#stats;
    this.#sender = new Sender(
      this.params,
      isn,
      stats,
      (msg) => this.#send(msg),
      options.maxInflightBytes ?? Infinity,
    );
    this.#receiver = new Receiver(
      isn,
      this.params.windowSize,
      stats,
      (sn) => {
        this.#send(ackMessage(this.#connId, sn));
        stats.acksSent++;
      },
      (p) => this.#deliver(p),
      checkReadQueueMax(options.readQueueMax ?? Infinity),
    );
  }

  /**
   * Starts a client connection: state `connecting`, a Connect(isn) waiting in the transmit queue.
   * It is resent on every tick until answered; after EpochLimit ticks the attempt fails.
   *
   * @param params The LSP parameters (validated).
   * @param server The server's address.
   * @param isn The initial sequence number, an integer in 0..{@linkcode MAX_ISN}.
   * @param options Counters.
   * @returns The connection.
   * @throws {RangeError} On a bad ISN or bad parameters.
   *
   * @example Starting to connect
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.client(lspParams(), "10.0.0.1:9999", 7);
   * assert.equal(conn.state, "connecting");
   * assert.equal(conn.pollTransmit()?.seqNum, 7);
   * ```
   */
  static client(
    params: LspParams,
    server: Addr,
    isn: number,
    options: ConnOptions = {},
  ): Conn {
    checkIsn(isn);
    const conn = new Conn("client", params, server, 0, isn, options);
    conn.#send(connectMessage(isn));
    conn.#stats.connectsSent++;
    return conn;
  }

  /**
   * Accepts a client's Connect on the server: state `open`, `Ack(connId, isn)` waiting in the
   * transmit queue (sent exactly once) and a `connected` event.
   *
   * @param params The LSP parameters (validated).
   * @param client The client's source address.
   * @param connId The ConnID given to this connection, a positive safe integer.
   * @param isn The ISN from the client's Connect: any safe integer, like the reference (with a
   * negative ISN the streams start at `isn + 1 ≤ 0`, and an Ack of Data 0 looks like a heartbeat;
   * it is taken as that Ack while Data 0 is in flight).
   * @param options Counters, duplicate-Connect answers.
   * @returns The connection.
   * @throws {RangeError} On a bad ConnID, ISN or parameters.
   *
   * @example Accepting a Connect
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.server(lspParams(), "10.0.0.2:5000", 1, 0);
   * assert.equal(conn.state, "open");
   * assert.equal(conn.pollEvent()?.type, "connected");
   * ```
   */
  static server(
    params: LspParams,
    client: Addr,
    connId: number,
    isn: number,
    options: ConnOptions = {},
  ): Conn {
    if (!Number.isSafeInteger(isn)) {
      throw new RangeError(`Cannot create connection: ISN ${isn} is not a safe integer`);
    }
    if (!Number.isSafeInteger(connId) || connId < 1) {
      throw new RangeError(`Cannot create connection: ConnID ${connId} is not a positive integer`);
    }
    const conn = new Conn("server", params, client, connId, isn, options);
    conn.#send(ackMessage(connId, isn));
    conn.#stats.acksSent++;
    conn.#events.push({ type: "connected", connId, addr: client });
    return conn;
  }

  // -------------------------------------------------------------------------------------------
  // Getters

  /** The ConnID (0 while a client is still connecting). */
  get connId(): number {
    return this.#connId;
  }

  /** The current state. */
  get state(): ConnState {
    return this.#state;
  }

  /** True once the connection is `closed`, `lost` or `failed`: it does nothing more. */
  get isTerminal(): boolean {
    return this.#state === "closed" || this.#state === "lost" || this.#state === "failed";
  }

  /** Written messages not yet acknowledged (queued plus in flight). */
  get pendingCount(): number {
    return this.#sender.pendingCount;
  }

  /** Written messages not yet transmitted (waiting for the window or the unacked cap). */
  get queuedCount(): number {
    return this.#sender.queuedCount;
  }

  /** Transmitted messages not yet acknowledged; never above `min(ω, M)`. */
  get inflightCount(): number {
    return this.#sender.inflightCount;
  }

  /** Consecutive ticks without hearing from the peer (without an answer, while connecting). */
  get silentEpochs(): number {
    return this.#silentEpochs;
  }

  /** The SeqNum the next write() gets. */
  get nextSeqNum(): number {
    return this.#sender.nextSeq;
  }

  /** The smallest incoming SeqNum not yet received. */
  get expectedSeqNum(): number {
    return this.#receiver.expected;
  }

  /** Delivered `message`s not yet marked read ({@linkcode Conn.markRead}). */
  get unreadCount(): number {
    return this.#unread;
  }

  // -------------------------------------------------------------------------------------------
  // Outputs

  /**
   * Returns the next message to send to {@linkcode Conn.peer}, in order, or `undefined`.
   *
   * @returns The next message, or `undefined` when none is waiting.
   *
   * @example Draining the transmit queue
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.client(lspParams(), "10.0.0.1:9999", 0);
   * assert.equal(conn.pollTransmit()?.type, 0);
   * assert.equal(conn.pollTransmit(), undefined);
   * ```
   */
  pollTransmit(): LspMessage | undefined {
    return this.#transmits.shift();
  }

  /**
   * Returns the next application event, in order, or `undefined`.
   *
   * @returns The next event, or `undefined` when none is waiting.
   *
   * @example Draining the event queue
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.server(lspParams(), "10.0.0.2:5000", 4, 0);
   * assert.equal(conn.pollEvent()?.connId, 4);
   * assert.equal(conn.pollEvent(), undefined);
   * ```
   */
  pollEvent(): LspEvent | undefined {
    return this.#events.shift();
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /**
   * Handles a decoded message from the peer's address. Anything that does not belong is
   * dropped and counted, never thrown: wrong ConnID, a failing Data message (§5), Data outside
   * the window. Any message with this connection's ConnID (or a duplicate Connect, server side)
   * proves the peer alive, even if it is dropped afterwards.
   *
   * @param msg The decoded message.
   *
   * @example A client connected by a heartbeat (its Connect-Ack was lost)
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { heartbeatMessage } from "./wire.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.client(lspParams(), "10.0.0.1:9999", 42);
   * conn.handleMessage(heartbeatMessage(3));
   * assert.equal(conn.state, "open");
   * assert.equal(conn.connId, 3);
   * ```
   */
  handleMessage(msg: LspMessage): void {
    if (this.isTerminal) {
      this.#stats.dropped.noConnection++;
      return;
    }
    if (msg.type === MsgType.Connect) {
      this.#stats.dropped.duplicateConnect++;
      if (this.role === "client") return; // a server never sends Connect
      this.#silentEpochs = 0;
      if (this.#answerDuplicateConnect && !this.#answeredConnectThisEpoch) {
        this.#answeredConnectThisEpoch = true;
        this.#send(ackMessage(this.#connId, this.isn));
        this.#stats.acksSent++;
      }
      return;
    }
    if (this.#state === "connecting" && !this.#answersConnect(msg)) {
      this.#stats.dropped.notConnected++;
      return;
    }
    if (this.#state === "connecting") {
      this.#connId = msg.connId;
      this.#state = "open";
      this.#events.push({ type: "connected", connId: msg.connId, addr: this.peer });
    }
    if (msg.connId !== this.#connId) {
      this.#stats.dropped.wrongConnId++;
      return;
    }
    this.#silentEpochs = 0;
    switch (msg.type) {
      case MsgType.Data:
        this.#receiver.receive(msg);
        return;
      case MsgType.Ack:
        // Not outstanding (a heartbeat, unless Data 0 is in flight after a negative ISN): ignored,
        // still proof of life.
        if (this.#sender.ack(msg.seqNum)) this.#afterAck();
        return;
      case MsgType.CAck:
        if (this.#sender.cack(msg.seqNum)) this.#afterAck();
        return;
    }
  }

  /**
   * Runs one epoch (§11): liveness first (EpochLimit silent ticks lose the connection, or fail
   * the connect attempt), then the Connect retry (client still connecting: resent every tick, no
   * backoff), else the due retransmissions in SeqNum order, then a heartbeat if this tick
   * retransmitted anything (the reference sends one beside each retransmission) or if no Data
   * went out since the previous tick (the handout's rule).
   *
   * @example Losing a silent connection with EpochLimit 2
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.server(lspParams({ epochLimit: 2 }), "10.0.0.2:5000", 1, 0);
   * conn.tick();
   * conn.tick();
   * assert.equal(conn.state, "lost");
   * ```
   */
  tick(): void {
    if (this.isTerminal) return;
    this.#silentEpochs++;
    if (this.#silentEpochs >= this.params.epochLimit) {
      if (this.#state === "connecting") {
        this.#state = "failed";
        this.#events.push({ type: "connectFailed", connId: 0 });
      } else {
        this.#state = "lost";
        this.#events.push({ type: "lost", connId: this.#connId });
      }
      this.#discardAll();
      return;
    }
    if (this.#state === "connecting") {
      this.#send(connectMessage(this.isn));
      this.#stats.connectsSent++;
      return;
    }
    this.#answeredConnectThisEpoch = false;
    const retransmitted = this.#sender.retransmitDue();
    if (retransmitted || !this.#sentNewDataThisEpoch) {
      this.#send(heartbeatMessage(this.#connId));
      this.#stats.heartbeatsSent++;
    }
    this.#sentNewDataThisEpoch = false;
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  /**
   * Queues one message (copied) and sends it at once if the window and the unacked cap allow.
   * Never blocks: the send queue is unbounded.
   *
   * @param payload The message; may be empty. `null` sends an empty message as
   * `"Payload":null`. Its Data message, with this connection's ConnID, the next SeqNum and its
   * Checksum, must fit in {@linkcode MAX_DATAGRAM_BYTES} (1068 bytes always do with small
   * numbers; never more than {@linkcode MAX_PAYLOAD_BYTES}).
   * @throws {TypeError} When `payload` is neither a Uint8Array nor `null`.
   * @throws {LspPayloadTooLargeError} When the Data message would be over 1500 bytes (nothing
   * is queued and no SeqNum is used).
   * @throws {LspConnectionError} When the connection is connecting, closing, closed or lost.
   *
   * @example Writing on an open connection
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.server(lspParams(), "10.0.0.2:5000", 1, 100);
   * conn.pollTransmit(); // the Connect-Ack
   * conn.write(Uint8Array.of(1, 2, 3));
   * assert.equal(conn.pollTransmit()?.seqNum, 101);
   * ```
   */
  write(payload: Uint8Array | null): void {
    if (payload !== null && !(payload instanceof Uint8Array)) {
      throw new TypeError("Cannot write: the payload is neither a Uint8Array nor null");
    }
    if (payload !== null && payload.length > MAX_PAYLOAD_BYTES) { // fits in no Data message
      this.#refuseTooLarge(dataMessage(this.#connId, this.#sender.nextSeq, payload));
    }
    if (this.#state !== "open") {
      throw new LspConnectionError("write", this.#connId, this.#refusal());
    }
    const seq = this.#sender.nextSeq;
    if (seq >= Number.MAX_SAFE_INTEGER) {
      throw new RangeError("Cannot write: the sequence numbers are exhausted");
    }
    const msg = dataMessage(this.#connId, seq, payload);
    if (encodedLength(msg) > MAX_DATAGRAM_BYTES) this.#refuseTooLarge(msg);
    this.#sender.enqueue(payload === null ? msg : { ...msg, payload: payload.slice() });
    this.#pump();
  }

  /**
   * Tells the connection that the application has read `count` of its delivered messages: room
   * in the read queue, so new Data is accepted again (up to `readQueueMax` unread). Sends
   * nothing: the peer's retransmissions bring back what was refused. Counts beyond the unread
   * messages are ignored, and so is a connection that is no longer open.
   *
   * @param count How many messages were read.
   *
   * @example Resuming after the application read
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import { dataMessage } from "./wire.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.server(lspParams({ windowSize: 4 }), "C", 1, 0, { readQueueMax: 1 });
   * conn.handleMessage(dataMessage(1, 1, Uint8Array.of(1)));
   * conn.handleMessage(dataMessage(1, 2, Uint8Array.of(2))); // refused, no Ack
   * assert.equal(conn.expectedSeqNum, 2);
   * conn.markRead(1);
   * conn.handleMessage(dataMessage(1, 2, Uint8Array.of(2)));
   * assert.equal(conn.expectedSeqNum, 3);
   * ```
   */
  markRead(count: number): void {
    const n = Math.min(Math.max(0, Math.floor(count)), this.#unread);
    if (n === 0 || this.#state !== "open") return;
    this.#unread -= n;
    this.#receiver.addCredit(n);
  }

  /**
   * Closes the connection locally: write() is refused from now on and no more `message` events
   * come (incoming Data is still acknowledged and discarded). Written data keeps being delivered
   * (retransmissions, heartbeats); once all of it is acknowledged the state becomes `closed` and a
   * `closed` event follows — at once if nothing is pending. A loss first yields `lost` instead.
   * A client that is still connecting stops at once and reports `closed` with ConnID 0.
   *
   * @throws {LspConnectionError} When the connection is already closing, closed or lost.
   *
   * @example Closing with nothing pending
   * ```ts
   * import { Conn } from "./conn.ts";
   * import { lspParams } from "./params.ts";
   * import assert from "node:assert/strict";
   * const conn = Conn.server(lspParams(), "10.0.0.2:5000", 1, 0);
   * conn.pollEvent(); // connected
   * conn.close();
   * assert.equal(conn.state, "closed");
   * assert.equal(conn.pollEvent()?.type, "closed");
   * ```
   */
  close(): void {
    if (this.#state === "connecting") {
      this.#state = "closed";
      this.#discardAll();
      this.#events.push({ type: "closed", connId: 0 });
      return;
    }
    if (this.#state !== "open") {
      throw new LspConnectionError("close", this.#connId, this.#refusal());
    }
    this.#state = "closing";
    this.#receiver.addCredit(Infinity); // nothing is delivered any more: no push-back
    this.#checkDrained();
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  #refusal(): "connecting" | "closing" | "closed" | "lost" {
    const state = this.#state;
    assert(state !== "open", "an open connection refused a command");
    return state === "failed" ? "lost" : state;
  }

  #refuseTooLarge(msg: LspMessage): never {
    throw new LspPayloadTooLargeError(msg.size, encodedLength(msg), MAX_DATAGRAM_BYTES);
  }

  #send(msg: LspMessage): void {
    this.#transmits.push(msg);
  }

  /** Whether a message answers our Connect (§6.1): Ack(id, isn|0), a valid Data, or a CAck. */
  #answersConnect(msg: LspMessage): boolean {
    if (msg.connId === 0) return false;
    switch (msg.type) {
      case MsgType.Ack:
        return msg.seqNum === this.isn || msg.seqNum === 0;
      case MsgType.CAck:
        return true;
      case MsgType.Data:
        return acceptData(msg, undefined) !== undefined;
      default:
        return false;
    }
  }

  /** Hands an in-order payload to the application while open (discarded once closing). */
  #deliver(p: Uint8Array | null): void {
    if (this.#state !== "open") return;
    this.#events.push(
      p === null
        ? { type: "message", connId: this.#connId, payload: new Uint8Array(0), payloadNull: true }
        : { type: "message", connId: this.#connId, payload: p },
    );
    this.#unread++;
    this.#stats.messagesDelivered++;
  }

  #afterAck(): void {
    this.#pump();
    this.#checkDrained();
  }

  #pump(): void {
    if (this.#sender.pump()) this.#sentNewDataThisEpoch = true;
  }

  #checkDrained(): void {
    if (this.#state !== "closing" || this.pendingCount > 0) return;
    this.#state = "closed";
    this.#discardAll();
    this.#events.push({ type: "closed", connId: this.#connId });
  }

  #discardAll(): void {
    this.#sender.clear();
    this.#receiver.clear();
  }
}
