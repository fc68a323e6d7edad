/**
 * The Part 2 ring peer as a sans-I/O core (spec §3.5, with the fixes of §3.7): it registers with
 * the tracker, serves UPDATE_NBR, PING and QUERY on its own port, and asks its neighbour for the
 * items it lacks, one QUERY per `queryIntervalMs`, round robin over the missing seqs, until it
 * holds the whole table; then it reports the sentence (`complete`) and keeps serving.
 *
 * Fixes over the reference peer, all wire-compatible: its server survives any input and answers
 * what it does not understand with `('[Peer]', 'Bad request')` (never raw bytes); it answers PING
 * with `('PING', handle)`; an UPDATE_NBR that arrives before the REG_INIT reply is not overwritten
 * by the older neighbour in that reply; it retries REGISTER when the tracker cannot be reached;
 * it asks round robin instead of always for the lowest missing seq. Strings go out as py2 str
 * when ASCII and as text otherwise; items are served in the kind they arrived in.
 *
 * The caller must listen on `port` before the core registers it (the adapter binds first).
 *
 * @module
 */

import { assert } from "../../util/mod.ts";
import type { PyValue } from "../pickle/mod.ts";
import { type Completion, type ExchangeFailure, ExchangeTable } from "./_exchanges.ts";
import {
  encodeMessage,
  type Neighbour,
  parsePeerRequest,
  parseQueryResult,
  parseRegisterReply,
  peerBadRequest,
  pingReply,
  queryRequest,
  queryResult,
  registerRequest,
  type RingString,
  ringText,
  wireString,
} from "./messages.ts";
import {
  type Addr,
  type ConnId,
  type EventSource,
  OutputQueue,
  type StreamAction,
  type StreamCore,
} from "../../core/mod.ts";
import { parseHostPort } from "../../net/mod.ts";

/**
 * Options of {@linkcode RingPeer}. Times are in milliseconds.
 */
export interface RingPeerOptions {
  /** The peer's handle: 1..64 characters. */
  handle: string;
  /** The port its own server listens on (sent in REGISTER): 1..65535. */
  port: number;
  /**
   * The tracker's address.
   *
   * @default {"127.0.0.1"}
   */
  trackerHost?: string;
  /**
   * The tracker's port.
   *
   * @default {7777}
   */
  trackerPort?: number;
  /**
   * How long to wait before the first REGISTER (the reference peer waits 3000).
   *
   * @default {0}
   */
  registerDelayMs?: number;
  /**
   * The pause before another REGISTER when one failed (tracker unreachable, bad reply).
   *
   * @default {2000}
   */
  registerRetryMs?: number;
  /**
   * REGISTER attempts before giving up (`register-failed` with `final`).
   *
   * @default {30}
   */
  registerAttemptsMax?: number;
  /**
   * The period of the query loop (the reference peer sleeps 2000 before each QUERY).
   *
   * @default {2000}
   */
  queryIntervalMs?: number;
  /**
   * How long a connection to the tracker or the neighbour may take to open.
   *
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * How long the neighbour may take to answer a QUERY.
   *
   * @default {5000}
   */
  replyTimeoutMs?: number;
  /**
   * How long the tracker may take to answer REGISTER (it may PING the handle's old owner first).
   *
   * @default {15000}
   */
  registerReplyTimeoutMs?: number;
  /**
   * How long a client of this peer's server may take to send its whole request.
   *
   * @default {5000}
   */
  readTimeoutMs?: number;
  /**
   * The largest message read, in bytes (the originals read 1024).
   *
   * @default {1024}
   */
  maxMessageBytes?: number;
  /**
   * The largest table (REG_INIT's dbsize) accepted.
   *
   * @default {64}
   */
  maxDbSize?: number;
  /**
   * The most connections open at once.
   *
   * @default {64}
   */
  maxConnections?: number;
}

/**
 * Where a peer is: `starting` (before a REGISTER, or between attempts), `registering` (waiting
 * for the reply), `registered`, or `failed` (refused by the tracker, or out of attempts).
 */
export type RingPeerState = "starting" | "registering" | "registered" | "failed";

/**
 * A neighbour as events show it (handle as text).
 */
export interface RingPeerNeighbour {
  readonly handle: string;
  readonly ip: string;
  readonly port: number;
}

/**
 * What the peer reports, for logs and tests (strings as text):
 *
 * - `registered`: REG_INIT arrived (`neighbour` is `undefined` when the tracker sent `None`s);
 * - `register-failed`: an attempt failed; `final` when the peer gives up;
 * - `rejected`: the tracker refused the handle (`('[Tracker]', message)`); the peer stops;
 * - `neighbour`: an UPDATE_NBR changed the neighbour;
 * - `item`: a QUERY brought a missing item;
 * - `complete`: the table is whole; `sentence` is the words in seq order, space-separated;
 * - `bad-request`: a client of this peer's server sent something it answered with Bad request.
 */
export type RingPeerEvent =
  | {
    readonly type: "registered";
    readonly neighbour: RingPeerNeighbour | undefined;
    readonly dbSize: number;
    readonly seq: number;
    readonly value: string;
  }
  | {
    readonly type: "register-failed";
    readonly reason: string;
    readonly attempt: number;
    readonly final: boolean;
  }
  | { readonly type: "rejected"; readonly message: string }
  | { readonly type: "neighbour"; readonly neighbour: RingPeerNeighbour }
  | { readonly type: "item"; readonly seq: number; readonly value: string; readonly from: string }
  | { readonly type: "complete"; readonly sentence: string }
  | { readonly type: "bad-request"; readonly from: string; readonly reason: string };

type Tag =
  | { readonly kind: "register" }
  | { readonly kind: "query"; readonly seq: number; readonly from: string };

/** How many rounds of completions one input may cause (a runaway guard). */
const DRAIN_ROUNDS_MAX = 10_000;
/** The most events that may wait to be drained. */
const EVENTS_MAX = 100_000;

function intOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot create the ring peer: ${name} must be ${min}..${max}`);
  }
  return value;
}

function shown(n: Neighbour): RingPeerNeighbour {
  return { handle: ringText(n.handle), ip: n.ip, port: n.port };
}

function sameNeighbour(a: Neighbour | undefined, b: Neighbour): boolean {
  return a !== undefined && a.ip === b.ip && a.port === b.port &&
    ringText(a.handle) === ringText(b.handle);
}

/**
 * The ring peer core; see the module documentation, and `StreamCore` (`src/core/`) for the I/O contract.
 *
 * @example Registering: the first action connects to the tracker
 * ```ts
 * import { RingPeer } from "./peer.ts";
 * import assert from "node:assert/strict";
 * const peer = new RingPeer(0, { handle: "p2", port: 9202 });
 * peer.handleTick(0);
 * const connect = peer.pollAction();
 * if (connect?.type !== "connect") throw new Error("expected a connect");
 * assert.equal(connect.to, "127.0.0.1:7777");
 * peer.handleConnected(connect.conn, 1);
 * const write = peer.pollAction();
 * assert.equal(write?.type, "write");
 * assert.equal(new TextDecoder().decode(write.bytes), "(S'REGISTER'\np0\nS'p2'\np1\nI9202\ntp2\n.");
 * ```
 */
export class RingPeer implements StreamCore, EventSource<RingPeerEvent> {
  readonly #handle: RingString;
  readonly #port: number;
  readonly #trackerHost: string;
  readonly #trackerPort: number;
  readonly #registerRetryMs: number;
  readonly #registerAttemptsMax: number;
  readonly #queryIntervalMs: number;
  readonly #connectTimeoutMs: number;
  readonly #replyTimeoutMs: number;
  readonly #registerReplyTimeoutMs: number;
  readonly #maxDbSize: number;
  readonly #table: ExchangeTable<Tag>;
  #state: RingPeerState = "starting";
  #registerAt: number | undefined;
  #attempts = 0;
  #neighbour: Neighbour | undefined;
  /** An UPDATE_NBR arrived since the last REGISTER was sent: it is newer than the reply. */
  #updatedSinceRegister = false;
  #dbSize = 0;
  #items = new Map<number, RingString>();
  #nextQueryAt: number | undefined;
  #queryInFlight = false;
  #cursor = 0;
  #sentence: string | undefined;
  readonly #events = new OutputQueue<RingPeerEvent>({ capacity: EVENTS_MAX });
  #now: number;

  /**
   * Makes a peer; its first REGISTER is due at `now + registerDelayMs`.
   *
   * @param now The current time.
   * @param options Handle, port, tracker, timers and limits.
   * @throws {RangeError} When an option is out of range.
   * @throws {TypeError} When the handle is not a string.
   */
  constructor(now: number, options: RingPeerOptions) {
    const {
      handle,
      port,
      trackerHost = "127.0.0.1",
      trackerPort = 7777,
      registerDelayMs = 0,
      registerRetryMs = 2_000,
      registerAttemptsMax = 30,
      queryIntervalMs = 2_000,
      connectTimeoutMs = 5_000,
      replyTimeoutMs = 5_000,
      registerReplyTimeoutMs = 15_000,
      readTimeoutMs = 5_000,
      maxMessageBytes = 1024,
      maxDbSize = 64,
      maxConnections = 64,
    } = options;
    if (typeof handle !== "string") throw new TypeError("Cannot create the ring peer: no handle");
    if (handle.length < 1 || handle.length > 64 || !handle.isWellFormed()) {
      throw new RangeError("Cannot create the ring peer: the handle must be 1..64 characters");
    }
    if (typeof trackerHost !== "string" || trackerHost.length === 0) {
      throw new TypeError("Cannot create the ring peer: no tracker host");
    }
    if (!Number.isFinite(now)) throw new RangeError("Cannot create the ring peer: bad now");
    const DAY = 86_400_000;
    this.#handle = wireString(handle);
    this.#port = intOption("port", port, 1, 65535);
    this.#trackerHost = trackerHost;
    this.#trackerPort = intOption("trackerPort", trackerPort, 1, 65535);
    this.#registerRetryMs = intOption("registerRetryMs", registerRetryMs, 1, DAY);
    this.#registerAttemptsMax = intOption("registerAttemptsMax", registerAttemptsMax, 1, 1e6);
    this.#queryIntervalMs = intOption("queryIntervalMs", queryIntervalMs, 1, DAY);
    this.#connectTimeoutMs = intOption("connectTimeoutMs", connectTimeoutMs, 1, DAY);
    this.#replyTimeoutMs = intOption("replyTimeoutMs", replyTimeoutMs, 1, DAY);
    this.#registerReplyTimeoutMs = intOption(
      "registerReplyTimeoutMs",
      registerReplyTimeoutMs,
      1,
      DAY,
    );
    this.#maxDbSize = intOption("maxDbSize", maxDbSize, 1, 1024);
    this.#table = new ExchangeTable<Tag>({
      maxMessageBytes: intOption("maxMessageBytes", maxMessageBytes, 64, 65536),
      readTimeoutMs: intOption("readTimeoutMs", readTimeoutMs, 1, DAY),
      maxConnections: intOption("maxConnections", maxConnections, 2, 1 << 16),
      maxQueued: 4,
    });
    this.#now = now;
    this.#registerAt = now + intOption("registerDelayMs", registerDelayMs, 0, DAY);
  }

  /**
   * Where the peer is in its life.
   *
   * @example
   * ```ts
   * import { RingPeer } from "./peer.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new RingPeer(0, { handle: "a", port: 1 }).state, "starting");
   * ```
   */
  get state(): RingPeerState {
    return this.#state;
  }

  /**
   * The current neighbour (the one it queries), if known.
   *
   * @example
   * ```ts
   * import { RingPeer } from "./peer.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new RingPeer(0, { handle: "a", port: 1 }).neighbour, undefined);
   * ```
   */
  get neighbour(): RingPeerNeighbour | undefined {
    return this.#neighbour === undefined ? undefined : shown(this.#neighbour);
  }

  /**
   * The table size from REG_INIT (0 before).
   *
   * @example
   * ```ts
   * import { RingPeer } from "./peer.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new RingPeer(0, { handle: "a", port: 1 }).dbSize, 0);
   * ```
   */
  get dbSize(): number {
    return this.#dbSize;
  }

  /**
   * The items held, by seq, as text.
   *
   * @example
   * ```ts
   * import { RingPeer } from "./peer.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new RingPeer(0, { handle: "a", port: 1 }).items.size, 0);
   * ```
   */
  get items(): ReadonlyMap<number, string> {
    return new Map([...this.#items].map(([seq, v]) => [seq, ringText(v)]));
  }

  /**
   * The sentence once the table is whole, else `undefined`.
   *
   * @example
   * ```ts
   * import { RingPeer } from "./peer.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new RingPeer(0, { handle: "a", port: 1 }).sentence, undefined);
   * ```
   */
  get sentence(): string | undefined {
    return this.#sentence;
  }

  /** {@inheritDoc StreamCore.handleAccept} */
  handleAccept(remote: Addr, _local: Addr, now: number): ConnId {
    const remoteHost = parseHostPort(remote)?.hostname ?? remote;
    this.#advance(now);
    return this.#table.accept(String(remoteHost), now);
  }

  /** {@inheritDoc StreamCore.handleConnected} */
  handleConnected(conn: ConnId, now: number): void {
    this.#advance(now);
    this.#table.connected(conn, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleData} */
  handleData(conn: ConnId, bytes: Uint8Array, now: number): void {
    this.#advance(now);
    this.#table.data(conn, bytes, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleEof} */
  handleEof(conn: ConnId, now: number): void {
    this.#advance(now);
    this.#table.eof(conn, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleError} */
  handleError(conn: ConnId, _reason: string, now: number): void {
    this.#advance(now);
    this.#table.error(conn, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleTick} */
  handleTick(now: number): void {
    this.#advance(now);
    this.#table.timeout(now);
    this.#drain(now);
    if (this.#state === "starting" && this.#registerAt !== undefined && now >= this.#registerAt) {
      this.#sendRegister(now);
    }
    if (this.#nextQueryAt !== undefined && now >= this.#nextQueryAt) {
      this.#nextQueryAt = now + this.#queryIntervalMs;
      this.#query(now);
    }
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.pollAction} */
  pollAction(): StreamAction | undefined {
    return this.#table.pollAction();
  }

  /** {@inheritDoc EventSource.pollEvent} */
  pollEvent(): RingPeerEvent | undefined {
    return this.#events.shift();
  }

  /** {@inheritDoc StreamCore.nextTimeout} */
  nextTimeout(): number | undefined {
    let t = this.#table.nextDeadline();
    const min = (x: number | undefined) => {
      if (x !== undefined && (t === undefined || x < t)) t = x;
    };
    if (this.#state === "starting") min(this.#registerAt);
    min(this.#nextQueryAt);
    return t;
  }

  // ---- internals -------------------------------------------------------------------------------

  #advance(now: number): void {
    if (!(now >= this.#now)) {
      throw new RangeError(`Cannot go back in time: ${now} is before ${this.#now}`);
    }
    this.#now = now;
  }

  #emit(event: RingPeerEvent): void {
    const queued = this.#events.push(event);
    assert(queued, "events must be drained");
  }

  #drain(now: number): void {
    for (let round = 0; round < DRAIN_ROUNDS_MAX; round++) {
      const done = this.#table.takeCompletions();
      if (done.length === 0) return;
      for (const c of done) this.#complete(c, now);
    }
    assert(false, "completions must settle");
  }

  #complete(c: Completion<Tag>, now: number): void {
    switch (c.type) {
      case "request":
        return this.#request(c.conn, c.remoteHost, c.value, now);
      case "bad-request":
        return this.#badRequest(c.conn, c.remoteHost, c.reason, now);
      case "ok":
        if (c.tag.kind === "register") return this.#registerReply(c.reply, now);
        return this.#queryReply(c.tag.seq, c.tag.from, c.reply, now);
      case "failed":
        if (c.tag.kind === "register") return this.#registerFailed(c.reason, now);
        this.#queryInFlight = false;
        this.#cursor = c.tag.seq + 1; // try another seq next time: maybe that one is there
        return;
    }
  }

  #badRequest(conn: ConnId, from: string, reason: string, now: number): void {
    this.#table.reply(conn, encodeMessage(peerBadRequest()), now);
    this.#emit({ type: "bad-request", from, reason });
  }

  #request(conn: ConnId, from: string, value: PyValue, now: number): void {
    const r = parsePeerRequest(value);
    switch (r.type) {
      case "bad":
        return this.#badRequest(conn, from, r.reason, now);
      case "ping":
        this.#table.reply(conn, encodeMessage(pingReply(this.#handle)), now);
        return;
      case "query": {
        const v = this.#items.get(r.seq);
        const item = v === undefined ? undefined : { seq: r.seq, value: v };
        this.#table.reply(conn, encodeMessage(queryResult(item)), now);
        return;
      }
      case "update-nbr":
        this.#table.close(conn, now);
        this.#updatedSinceRegister = true;
        if (sameNeighbour(this.#neighbour, r.neighbour)) return;
        this.#neighbour = r.neighbour;
        this.#emit({ type: "neighbour", neighbour: shown(r.neighbour) });
        return;
    }
  }

  #sendRegister(now: number): void {
    this.#state = "registering";
    this.#registerAt = undefined;
    this.#attempts++;
    this.#updatedSinceRegister = false;
    this.#table.open({
      host: this.#trackerHost,
      port: this.#trackerPort,
      request: encodeMessage(registerRequest(this.#handle, this.#port)),
      reply: "pickle",
      connectTimeoutMs: this.#connectTimeoutMs,
      replyTimeoutMs: this.#registerReplyTimeoutMs,
      tag: { kind: "register" },
    }, now);
  }

  #registerFailed(reason: ExchangeFailure | string, now: number): void {
    const final = this.#attempts >= this.#registerAttemptsMax;
    this.#emit({ type: "register-failed", reason, attempt: this.#attempts, final });
    if (final) {
      this.#state = "failed";
      return;
    }
    this.#state = "starting";
    this.#registerAt = now + this.#registerRetryMs;
  }

  #registerReply(value: PyValue | undefined, now: number): void {
    const r = value === undefined ? undefined : parseRegisterReply(value, this.#maxDbSize);
    if (r === undefined || r.type === "bad") {
      return this.#registerFailed(r === undefined ? "no reply" : `bad reply: ${r.reason}`, now);
    }
    if (r.type === "refused") {
      this.#state = "failed";
      this.#emit({ type: "rejected", message: r.message });
      return;
    }
    this.#state = "registered";
    this.#dbSize = r.dbSize;
    this.#items.set(r.item.seq, r.item.value);
    if (!this.#updatedSinceRegister) this.#neighbour = r.neighbour;
    this.#emit({
      type: "registered",
      neighbour: this.#neighbour === undefined ? undefined : shown(this.#neighbour),
      dbSize: r.dbSize,
      seq: r.item.seq,
      value: ringText(r.item.value),
    });
    this.#cursor = r.item.seq + 1;
    if (!this.#checkComplete()) this.#nextQueryAt = now + this.#queryIntervalMs;
  }

  /** The next missing seq at or after the cursor, cyclically. */
  #nextMissing(): number | undefined {
    for (let i = 0; i < this.#dbSize; i++) {
      const seq = (this.#cursor + i) % this.#dbSize;
      if (!this.#items.has(seq)) return seq;
    }
    return undefined;
  }

  #query(now: number): void {
    const neighbour = this.#neighbour;
    if (this.#queryInFlight || neighbour === undefined || this.#state !== "registered") return;
    const seq = this.#nextMissing();
    if (seq === undefined) return;
    this.#queryInFlight = true;
    this.#table.open({
      host: neighbour.ip,
      port: neighbour.port,
      request: encodeMessage(queryRequest(seq)),
      reply: "pickle",
      connectTimeoutMs: this.#connectTimeoutMs,
      replyTimeoutMs: this.#replyTimeoutMs,
      tag: { kind: "query", seq, from: ringText(neighbour.handle) },
    }, now);
  }

  #queryReply(seq: number, from: string, value: PyValue | undefined, _now: number): void {
    this.#queryInFlight = false;
    this.#cursor = seq + 1;
    if (value === undefined) return;
    const r = parseQueryResult(value, this.#dbSize);
    if (r.type !== "found" || this.#items.has(r.item.seq)) return;
    this.#items.set(r.item.seq, r.item.value);
    this.#emit({ type: "item", seq: r.item.seq, value: ringText(r.item.value), from });
    this.#checkComplete();
  }

  /** Reports the sentence once the table is whole; true when it is. */
  #checkComplete(): boolean {
    if (this.#items.size < this.#dbSize) return false;
    if (this.#sentence === undefined) {
      const words: string[] = [];
      for (let seq = 0; seq < this.#dbSize; seq++) {
        const v = this.#items.get(seq);
        assert(v !== undefined, "a whole table holds every seq");
        words.push(ringText(v));
      }
      this.#sentence = words.join(" ");
      this.#emit({ type: "complete", sentence: this.#sentence });
    }
    this.#nextQueryAt = undefined;
    return true;
  }
}
