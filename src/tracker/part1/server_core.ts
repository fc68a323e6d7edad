/**
 * The Part 1 tracker as one sans-I/O {@linkcode StreamCore}: a table of connections, each read by
 * its own {@linkcode Part1ServerConn}, answered from the database, then ended. The one TCP driver
 * (`src/net/tcp_driver.ts`, wired by `server.ts`) and the simulator's stream host run it alike.
 *
 * One connection's life:
 * ```
 * waiting ──a slot frees──▶ receiving ──request known──▶ lingering ──EOF, time, cap──▶ closed
 *                                         └──request alone──▶ closed
 * ```
 * - `receiving`: bytes go to the connection's {@linkcode Part1ServerConn}; a request must be
 *   complete within `requestTimeoutMs` (else the error reply, reason `timeout`).
 * - Once the request is known the reply is written in one write. When the client sent a valid
 *   request and nothing after it (every usual client), the tracker then closes at once (`write`,
 *   `close`: the close ends the sending side after the reply), as the original does; so it does
 *   when the client already ended its side, or when `lingerMs` is 0.
 * - Otherwise (bytes after the request, or an invalid one: the client may still be sending) it ends
 *   its sending side (FIN) and lingers: it waits up to `lingerMs` for the client to close,
 *   dropping at most {@linkcode LINGER_MAX_BYTES} it still sends, so that unread bytes never turn
 *   the close into a reset that could destroy the reply in flight; then it closes. (A client that
 *   sends more only after a request that came alone gets that reset, as from the original.)
 * - Whatever the client does, a connection is closed `requestTimeoutMs + lingerMs + 1 s` after
 *   its service started (its hard deadline), without a reply if it has none yet.
 *
 * Capacity (F5, F7): at most `maxConnections` are served at once. A connection accepted beyond
 * that waits, unread by the protocol, in a FIFO of at most `maxWaiting` (it keeps at most
 * `maxRequestBytes + 1` bytes of what arrives meanwhile; its request timer starts when it is
 * served, as if it had waited in the kernel's backlog); one beyond both bounds is closed at once
 * and counted as `refused`. So the core holds at most `(maxConnections + maxWaiting)` connections
 * of at most `maxRequestBytes + 1` buffered bytes each.
 *
 * Timeouts: each kind of deadline (request, linger, hard) is a fixed delay after a time that never
 * goes back, so each kind sits in a FIFO (`_deadlines.ts`): `nextTimeout()` and `handleTick()`
 * look at the due heads only, never at every connection.
 *
 * Every exchange is reported once, as a {@linkcode Part1Exchange} event, when its connection ends:
 * the driver gives no word on a write that succeeded, so `written` is `false` when the driver
 * reported an error on the connection before the tracker closed it (a reset, a failed write) and
 * `true` otherwise. The reply counters count a reply when it is handed to the driver and move it
 * to `failed` on such an error.
 *
 * @module
 */

import type { Addr, ConnId, EventSource, StreamAction, StreamCore } from "../../core/mod.ts";
import { OutputQueue, SlotTable, TimeKeeper } from "../../core/mod.ts";
import { checkInt } from "../../util/mod.ts";
import { DEFAULT_DB } from "./default_db.ts";
import { BoundedBuffer } from "./_buffer.ts";
import { DeadlineQueue } from "./_deadlines.ts";
import { answerRequest } from "./answer.ts";
import type { Part1Db } from "./db.ts";
import type { Part1InvalidReason, Part1Request } from "./framing.ts";
import { Part1ServerConn, type Part1ServerConnOptions } from "./server_conn.ts";
import { BAD_REQUEST, encodeReply, ERROR_REPLY, type Part1Reply } from "./wire.ts";

/** The most bytes read and dropped while lingering after the reply. */
export const LINGER_MAX_BYTES = 65536;
/** Margin of the hard per-connection deadline over request timeout + linger. */
export const HARD_MARGIN_MS = 1000;

/**
 * Options of {@linkcode Part1ServerCore}: the connection options plus the database and limits.
 */
export interface Part1ServerCoreOptions extends Part1ServerConnOptions {
  /**
   * The database.
   *
   * @default DEFAULT_DB (`src/tracker/default_db.ts`)
   */
  db?: Part1Db;
  /**
   * Connections served at the same time (1 to 65536).
   *
   * @default 256
   */
  maxConnections?: number;
  /**
   * Connections accepted beyond `maxConnections` that wait for a slot (0 to 65536); more are
   * closed at once.
   *
   * @default {maxConnections}
   */
  maxWaiting?: number;
  /**
   * After the reply to a request followed by more bytes, or to an invalid one, how long to wait
   * for the client to close before closing anyway (0 to 60000). A request that came alone is
   * answered and closed at once.
   *
   * @default 1000
   */
  lingerMs?: number;
}

/**
 * One finished exchange, reported when its connection ends.
 */
export interface Part1Exchange {
  /** The client's address, `host:port`. */
  readonly remote: string;
  /** The request as framed (invalid ones carry the reason). */
  readonly request: Part1Request;
  /** The pickle protocol of an item request. */
  readonly protocol?: number;
  /** The reply sent. */
  readonly reply: Part1Reply;
  /**
   * False when the driver reported an error on the connection (the client reset it, or the write
   * failed) before the tracker closed it; true otherwise.
   */
  readonly written: boolean;
  /** Milliseconds from accept until the reply was handed to the driver. */
  readonly ms: number;
}

/**
 * One log line for an exchange: `127.0.0.1:50000: item 3 (protocol 2) -> item`.
 *
 * @example
 * ```ts
 * import { describeExchange } from "./server_core.ts";
 * import assert from "node:assert/strict";
 * const line = describeExchange({
 *   remote: "127.0.0.1:50000",
 *   request: { type: "size" },
 *   reply: { type: "size", count: 16 },
 *   written: true,
 *   ms: 0.4,
 * });
 * assert.equal(line, "127.0.0.1:50000: REGISTER -> size");
 * ```
 */
export function describeExchange(e: Part1Exchange): string {
  const request = e.request.type === "invalid"
    ? `invalid (${e.request.reason}: ${e.request.detail})`
    : e.request.type === "item"
    ? `item ${e.request.index} (protocol ${e.protocol})`
    : "REGISTER";
  return `${e.remote}: ${request} -> ${e.reply.type}${e.written ? "" : " (not delivered)"}`;
}

/**
 * Counters of a tracker.
 */
export interface Part1ServerStats {
  /** Connections accepted. */
  readonly accepted: number;
  /** Connections held now: served, lingering or waiting for a slot. */
  readonly active: number;
  /** Of `active`, the connections waiting for a slot. */
  readonly waiting: number;
  /** Replies written, by type (see the module documentation). */
  readonly replies: {
    readonly size: number;
    readonly item: number;
    readonly error: number;
  };
  /** Invalid requests, by reason (all answered with the error reply). */
  readonly invalid: Readonly<Record<Part1InvalidReason, number>>;
  /**
   * Connections that ended without a reply delivered: reset or failed before the reply or while
   * lingering, hard deadline before a request, or still open at stop.
   */
  readonly failed: number;
  /** Connections closed at once because `maxConnections + maxWaiting` were held. */
  readonly refused: number;
  /** Errors of `accept()` (the listener stays open): the adapter's count (the core sees none). */
  readonly acceptErrors: number;
}

interface Entry {
  readonly id: ConnId;
  readonly remote: Addr;
  readonly acceptedAt: number;
  phase: "waiting" | "receiving" | "lingering";
  /** The client ended its side. */
  eof: boolean;
  /** Bytes that arrived while waiting (bounded). */
  held: BoundedBuffer | undefined;
  conn: Part1ServerConn | undefined;
  hardAt: number;
  lingerUntil: number;
  drained: number;
  exchange: Omit<Part1Exchange, "written"> | undefined;
}

/**
 * The Part 1 tracker core; see the module documentation, and `StreamCore` (`src/core/`) for the
 * I/O contract.
 *
 * @example A REGISTER split in two reads, answered and closed (nothing came after it)
 * ```ts
 * import { Part1ServerCore } from "./server_core.ts";
 * import assert from "node:assert/strict";
 * const core = new Part1ServerCore();
 * const te = new TextEncoder();
 * const conn = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
 * core.handleData(conn, te.encode("REGI"), 1);
 * assert.equal(core.pollAction(), undefined);
 * core.handleData(conn, te.encode("STER"), 2);
 * const write = core.pollAction();
 * assert.ok(write?.type === "write");
 * assert.equal(new TextDecoder().decode(write.bytes), "I16\n.");
 * assert.deepEqual(core.pollAction(), { type: "close", conn });
 * assert.equal(core.pollEvent()?.written, true);
 * assert.equal(core.stats().replies.size, 1);
 * ```
 *
 * @example Bytes after the request: half-closed, closed when the client closes
 * ```ts
 * import { Part1ServerCore } from "./server_core.ts";
 * import assert from "node:assert/strict";
 * const core = new Part1ServerCore();
 * const conn = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
 * core.handleData(conn, new TextEncoder().encode("I3\n.\n"), 1);
 * assert.equal(core.pollAction()?.type, "write");
 * assert.deepEqual(core.pollAction(), { type: "shutdown", conn });
 * core.handleEof(conn, 2);
 * assert.deepEqual(core.pollAction(), { type: "close", conn });
 * ```
 */
export class Part1ServerCore implements StreamCore, EventSource<Part1Exchange> {
  readonly #db: Part1Db;
  readonly #connOptions: Part1ServerConnOptions;
  readonly #maxConnections: number;
  readonly #maxWaiting: number;
  readonly #lingerMs: number;
  readonly #hardMs: number;
  readonly #requestMs: number;
  readonly #maxHeld: number;
  readonly #time = new TimeKeeper();
  /** The connections, by id: a `SlotTable`, whose deleted entries do not outlive young GCs. */
  readonly #table = new SlotTable<Entry>();
  /** Ids waiting for a slot, in arrival order (a `Set` keeps insertion order). */
  readonly #waiting = new Set<ConnId>();
  readonly #actions: OutputQueue<StreamAction>;
  readonly #events: OutputQueue<Part1Exchange>;
  #sizeReply: Uint8Array | undefined;
  /** Deadlines by kind, each in order (see `_deadlines.ts`): O(1) `nextTimeout()`. */
  readonly #requestDue = new DeadlineQueue();
  readonly #lingerDue = new DeadlineQueue();
  readonly #hardDue = new DeadlineQueue();
  readonly #notReceiving = (id: ConnId) => this.#table.get(id)?.phase !== "receiving";
  readonly #notLingering = (id: ConnId) => this.#table.get(id)?.phase !== "lingering";
  readonly #gone = (id: ConnId) => !this.#table.has(id);
  #serving = 0;
  #nextId = 1;
  #stopped = false;
  #accepted = 0;
  #failed = 0;
  #refused = 0;
  readonly #replies = { size: 0, item: 0, error: 0 };
  // deno-fmt-ignore
  readonly #invalid: Record<Part1InvalidReason, number> =
    { raw: 0, pickle: 0, type: 0, truncated: 0, "too-large": 0, timeout: 0 };

  /**
   * Makes a tracker with no connections.
   *
   * @param options Database, limits, framing and request timeout.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: Part1ServerCoreOptions = {}) {
    const {
      db = DEFAULT_DB,
      maxConnections = 256,
      maxWaiting = maxConnections,
      lingerMs = 1000,
      ...connOptions
    } = options;
    const action = "serve the tracker";
    this.#maxConnections = checkInt(
      "maxConnections",
      maxConnections,
      1,
      65536,
      action,
    );
    this.#maxWaiting = checkInt("maxWaiting", maxWaiting, 0, 65536, action);
    this.#lingerMs = checkInt("lingerMs", lingerMs, 0, 60_000, action);
    new Part1ServerConn(0, connOptions); // validates the connection options
    this.#db = db;
    this.#connOptions = Object.freeze(connOptions); // frozen: checked once (Part1ServerConn)
    this.#requestMs = connOptions.requestTimeoutMs ?? 5000;
    this.#hardMs = this.#requestMs + this.#lingerMs + HARD_MARGIN_MS;
    this.#maxHeld = (connOptions.maxRequestBytes ?? 1024) + 1;
    const held = this.#maxConnections + this.#maxWaiting;
    // Per input: a close per connection, and write + shutdown + close per one served.
    this.#actions = new OutputQueue({ capacity: 4 * held + 16 });
    this.#events = new OutputQueue({ capacity: held + 16 });
  }

  /** A snapshot of the counters (`acceptErrors` is 0: the driver accepts, the adapter counts). */
  stats(): Part1ServerStats {
    return {
      accepted: this.#accepted,
      active: this.#table.size,
      waiting: this.#waiting.size,
      replies: { ...this.#replies },
      invalid: { ...this.#invalid },
      failed: this.#failed,
      refused: this.#refused,
      acceptErrors: 0,
    };
  }

  /** {@inheritDoc StreamCore.handleAccept} */
  handleAccept(remote: Addr, _local: Addr, now: number): ConnId {
    now = this.#time.advance(now);
    const id = this.#nextId++;
    if (
      this.#stopped ||
      this.#table.size >= this.#maxConnections + this.#maxWaiting
    ) {
      this.#refused++;
      this.#actions.push({ type: "close", conn: id });
      return id;
    }
    this.#accepted++;
    // deno-fmt-ignore
    const entry: Entry = { id, remote, acceptedAt: now, phase: "waiting", eof: false,
      held: undefined, conn: undefined, hardAt: Infinity, lingerUntil: Infinity, drained: 0,
      exchange: undefined };
    this.#table.set(id, entry);
    if (this.#serving < this.#maxConnections) this.#serve(entry, now);
    else this.#waiting.add(id);
    this.#promote(now);
    return id;
  }

  /** {@inheritDoc StreamCore.handleConnected} */
  handleConnected(_conn: ConnId, now: number): void {
    this.#time.advance(now); // the tracker never dials
  }

  /** {@inheritDoc StreamCore.handleData} */
  handleData(conn: ConnId, bytes: Uint8Array, now: number): void {
    now = this.#time.advance(now);
    const e = this.#table.get(conn);
    if (e === undefined || e.eof || this.#expired(e, now)) {
      return this.#promote(now);
    }
    switch (e.phase) {
      case "waiting":
        (e.held ??= new BoundedBuffer(this.#maxHeld)).append(bytes);
        break;
      case "receiving":
        this.#step(e, now, e.conn!.receive(bytes, now));
        break;
      case "lingering":
        e.drained += bytes.length;
        if (e.drained > LINGER_MAX_BYTES) this.#close(e);
        break;
    }
    this.#promote(now);
  }

  /** {@inheritDoc StreamCore.handleEof} */
  handleEof(conn: ConnId, now: number): void {
    now = this.#time.advance(now);
    const e = this.#table.get(conn);
    if (e === undefined || e.eof || this.#expired(e, now)) {
      return this.#promote(now);
    }
    e.eof = true;
    if (e.phase === "receiving") {
      e.conn!.receiveEof(now);
      this.#step(e, now);
    } else if (e.phase === "lingering") {
      this.#close(e);
    }
    this.#promote(now);
  }

  /** {@inheritDoc StreamCore.handleError} */
  handleError(conn: ConnId, _reason: string, now: number): void {
    now = this.#time.advance(now);
    const e = this.#table.get(conn);
    if (e !== undefined) this.#forget(e, false);
    this.#promote(now);
  }

  /** {@inheritDoc StreamCore.handleTick} */
  handleTick(now: number): void {
    now = this.#time.advance(now);
    // Only connections with a deadline due can change; they go in accept (= id) order.
    const due: number[] = [];
    this.#requestDue.popDue(now, due);
    this.#lingerDue.popDue(now, due);
    this.#hardDue.popDue(now, due);
    due.sort((a, b) => a - b);
    for (let i = 0; i < due.length; i++) {
      const e = this.#table.get(due[i]);
      if (e === undefined || due[i] === due[i - 1] || this.#expired(e, now)) continue;
      if (e.phase === "receiving") {
        e.conn!.handleTimeout(now);
        this.#step(e, now);
      }
    }
    this.#promote(now);
  }

  /** {@inheritDoc StreamCore.pollAction} */
  pollAction(): StreamAction | undefined {
    return this.#actions.shift();
  }

  /** {@inheritDoc EventSource.pollEvent} */
  pollEvent(): Part1Exchange | undefined {
    return this.#events.shift();
  }

  /** {@inheritDoc StreamCore.nextTimeout} */
  nextTimeout(): number | undefined {
    const live = this.#table.size;
    this.#requestDue.prune(live, this.#notReceiving);
    this.#lingerDue.prune(live, this.#notLingering);
    this.#hardDue.prune(live, this.#gone);
    const at = Math.min(
      this.#requestDue.next(this.#notReceiving),
      this.#lingerDue.next(this.#notLingering),
      this.#hardDue.next(this.#gone),
    );
    return at === Infinity ? undefined : at;
  }

  /**
   * Stops: closes every connection (a lingering one reports its exchange as written, since no
   * error came before the close; the others count as failed) and closes any later one at once.
   * The adapter calls it before stopping its driver. Idempotent.
   *
   * @param now The current time.
   */
  stop(now: number): void {
    this.#time.advance(now);
    this.#stopped = true;
    for (const e of this.#table.values()) this.#close(e);
  }

  /** Closes `e` when its hard deadline or linger time has passed; true when it did. */
  #expired(e: Entry, now: number): boolean {
    if (e.phase === "waiting") return false;
    if (now < e.hardAt && (e.phase === "receiving" || now < e.lingerUntil)) {
      return false;
    }
    this.#close(e);
    return true;
  }

  /** Starts serving `e`: its request timer and hard deadline run from `now`. */
  #serve(e: Entry, now: number): void {
    this.#serving++;
    e.phase = "receiving";
    e.hardAt = now + this.#hardMs;
    this.#hardDue.push(e.hardAt, e.id);
    this.#requestDue.push(now + this.#requestMs, e.id); // the connection's own deadline
    const conn = e.conn = new Part1ServerConn(now, this.#connOptions);
    if (e.held !== undefined) conn.receiveData(e.held.view(), now);
    e.held = undefined;
    if (e.eof) conn.receiveEof(now);
    this.#step(e, now);
  }

  /**
   * Answers `e` once its request is known (`event`), then closes at once (the client sent its
   * request and nothing more, or ended its side, or `lingerMs` is 0) or ends its side and lingers.
   */
  #step(e: Entry, now: number, event = e.conn!.nextEvent()): void {
    if (typeof event !== "object") return;
    const conn = e.conn!;
    const reply = answerRequest(this.#db, event.request);
    const bytes = conn.send(reply, this.#encoded(event.request, reply));
    // A close ends the sending side after the reply too: no shutdown before it.
    const closeNow = event.exact || e.eof || this.#lingerMs === 0;
    this.#actions.push({ type: "write", conn: e.id, bytes });
    if (!closeNow) this.#actions.push({ type: "shutdown", conn: e.id });
    this.#replies[reply.type]++;
    if (event.request.type === "invalid") this.#invalid[event.request.reason]++;
    const ms = now - e.acceptedAt, { remote } = e, { request, protocol } = event;
    e.exchange = protocol === undefined
      ? { remote, request, reply, ms }
      : { remote, request, protocol, reply, ms };
    e.phase = "lingering";
    e.conn = undefined;
    e.lingerUntil = now + this.#lingerMs;
    if (closeNow) this.#close(e);
    else this.#lingerDue.push(e.lingerUntil, e.id);
  }

  /**
   * The bytes of `reply` from a cache, when it has them: the size reply (encoded once), the item
   * replies (the database encodes each once) and the error reply. Shared: the driver only writes
   * them.
   */
  #encoded(request: Part1Request, reply: Part1Reply): Uint8Array | undefined {
    switch (reply.type) {
      case "size":
        return this.#sizeReply ??= encodeReply(reply);
      case "item":
        return request.type === "item" ? this.#db.itemReply(request.index) : undefined;
      case "error":
        return reply.message === BAD_REQUEST ? ERROR_REPLY : undefined;
    }
  }

  /** Closes `e` on the core's own decision. */
  #close(e: Entry): void {
    this.#actions.push({ type: "close", conn: e.id });
    this.#forget(e, true);
  }

  /** Drops `e` from the table; reports its exchange, `written` unless the driver failed it. */
  #forget(e: Entry, written: boolean): void {
    if (!this.#table.delete(e.id)) return;
    if (e.phase === "waiting") this.#waiting.delete(e.id);
    else this.#serving--;
    if (e.exchange === undefined) {
      this.#failed++;
      return;
    }
    if (!written) {
      this.#replies[e.exchange.reply.type]--;
      this.#failed++;
    }
    const { remote, request, protocol, reply, ms } = e.exchange;
    this.#events.push(
      protocol === undefined
        ? { remote, request, reply, written, ms }
        : { remote, request, protocol, reply, written, ms },
    );
  }

  /** Serves waiting connections while slots are free (a loop, never a recursion). */
  #promote(now: number): void {
    while (this.#serving < this.#maxConnections && this.#waiting.size > 0) {
      const id: ConnId = this.#waiting.values().next().value!;
      this.#waiting.delete(id);
      this.#serve(this.#table.get(id)!, now);
    }
  }
}
