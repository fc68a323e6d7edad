/**
 * The miner server's core (spec `miner.md` §8) as a synchronous sans-I/O state machine. It sits
 * on top of a transport's connection events — `connected`, `message`, `lost`, `closed`, per
 * connection id, with the time `now` — and answers with actions: `send` bytes on a connection,
 * or `close` it. It knows nothing of LSP beyond those events: `server_core.ts` stacks it on an
 * `LspEndpoint` server core, which the UDP driver runs in production and the simulator in tests.
 *
 * Drive it like this: feed each event to `handleEvent()` (or `handleConnected()`,
 * `handleMessage()`, `handleLost()`), call `handleTimeout(now)` when `nextTimeout()` is due, and
 * after each of these calls drain `pollAction()` (write or close on the transport; a write to a
 * connection that just died may fail and is simply dropped — its `lost` event follows) and
 * `pollLog()` (log records for the adapter: cores do not log). `stats()` gives counters.
 *
 * ## Roles
 *
 * A connection's first valid message fixes its role: a Join makes it a miner, a Request a
 * client. Anything else — a second Join, a Request from a miner, a Result from a client or from a
 * connection that never joined, a Progress, undecodable or hostile JSON — is logged and dropped;
 * the connection and everyone else carry on. A Request the server cannot serve (`Lower > Upper`,
 * `Data` too long to forward, over a limit) is logged and dropped and its client's connection is
 * closed, so that the client prints `Disconnected` instead of waiting forever (spec §4).
 *
 * ## Chunks, scheduling strategy and failures
 *
 * See `dispatch.ts`: chunks sized from each miner's measured speed, SRPT with an anti-starvation
 * slot, copies of straggling chunks, and a lost miner's chunks handed out again.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { OutputQueue } from "../core/mod.ts";
import { type ResolvedChunking, SpeedEstimate } from "./chunking.ts";
import { Dispatcher } from "./dispatch.ts";
import { RequestTable } from "./requests.ts";
import { readSchedulerSnapshot, type SchedulerSnapshot } from "./server_status.ts";
import { encodeMessage, type MinerMessage, readMessage, type RequestMessage } from "./message.ts";
import {
  type Conn,
  describe,
  giveBack,
  matchResult,
  type Miner,
  type Req,
  takeAnswered,
} from "./scheduler_state.ts";
import {
  type ConnEvent,
  type LogCode,
  newSchedulerStats,
  type RequestLogInfo,
  resolveSchedulerOptions,
  type SchedulerAction,
  type SchedulerLog,
  type SchedulerOptions,
  type SchedulerStats,
} from "./scheduler_types.ts";

export type {
  ConnEvent,
  LogCode,
  RequestLogInfo,
  SchedulerAction,
  SchedulerLog,
  SchedulerOptions,
  SchedulerStats,
} from "./scheduler_types.ts";

/** Queued actions beyond this mean the caller does not drain `pollAction()`. */
const MAX_ACTIONS = 1_000_000;

/**
 * The miner server's scheduling core (see the module doc for the strategy). Inputs are
 * `handle*()`, outputs `pollAction()`, `pollLog()` and `nextTimeout()`; `now` is in
 * milliseconds and never goes backwards (an earlier value is taken as the latest seen).
 *
 * @example One miner, one client
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * import { decodeMessage, encodeMessage, joinMessage, requestMessage, resultMessage } from "./message.ts";
 * import assert from "node:assert/strict";
 * const s = new Scheduler();
 * s.handleMessage(1, encodeMessage(joinMessage()), 0);          // connection 1 is a miner
 * s.handleMessage(2, encodeMessage(requestMessage("msg", 0n, 2n)), 0); // connection 2 a client
 * const job = s.pollAction();
 * assert.ok(job?.type === "send");
 * assert.equal(job.connId, 1);
 * const sent = job?.type === "send" ? decodeMessage(job.bytes) : undefined;
 * assert.ok(sent?.type === "request");
 * assert.equal(sent.upper, 2n);
 * s.handleMessage(1, encodeMessage(resultMessage(4754799531757243342n, 1n)), 10);
 * const answer = s.pollAction();
 * assert.ok(answer?.type === "send");
 * assert.equal(answer.connId, 2);
 * const result = answer?.type === "send" ? decodeMessage(answer.bytes) : undefined;
 * assert.ok(result?.type === "result");
 * assert.equal(result.nonce, 1n);
 * ```
 */
export class Scheduler {
  readonly #chunking: ResolvedChunking;
  readonly #depth: number;
  readonly #maxConnections: number;
  readonly #maxLogRecords: number;
  readonly #hashOf: ((data: string, nonce: bigint) => bigint) | undefined;

  readonly #conns = new Map<number, Conn>();
  readonly #miners = new Map<number, Miner>();
  /** Live requests with nonces to hand out (fresh or given back). */
  readonly #waiting = new Set<Req>();
  #now = -Infinity;
  /** Cached `nextTimeout()`; `null` when it must be recomputed. */
  #timeout: number | undefined | null = null;

  readonly #actions = new OutputQueue<SchedulerAction>({ capacity: MAX_ACTIONS });
  readonly #logs: OutputQueue<SchedulerLog>;
  readonly #stats: SchedulerStats = newSchedulerStats();
  readonly #dispatcher: Dispatcher;
  readonly #requests: RequestTable;

  /**
   * Creates a scheduler with no connections.
   *
   * @param options Chunk sizing, pipeline, policy and limits.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When an option is out of range.
   *
   * @example Smaller chunks for quick tests
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import { decodeMessage, encodeMessage, joinMessage, requestMessage } from "./message.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler({ minChunkNonces: 100, targetChunkMillis: 50, pipelineDepth: 1 });
   * s.handleMessage(1, encodeMessage(joinMessage()), 0);
   * s.handleMessage(2, encodeMessage(requestMessage("msg", 0n, 9999n)), 0);
   * const first = s.pollAction(); // the default first chunk would be 0..9999
   * assert.ok(first?.type === "send");
   * assert.deepEqual(decodeMessage(first.bytes), requestMessage("msg", 0n, 99n));
   * assert.equal(s.pollAction(), undefined); // pipeline depth 1
   * ```
   */
  constructor(options: SchedulerOptions = {}) {
    const o = resolveSchedulerOptions(options);
    this.#chunking = o.chunking;
    this.#depth = o.depth;
    this.#maxConnections = o.maxConnections;
    this.#maxLogRecords = o.maxLogRecords;
    this.#logs = new OutputQueue({ capacity: Math.max(1, o.maxLogRecords) });
    this.#hashOf = o.hashOf;
    const [miners, waiting, stats] = [this.#miners, this.#waiting, this.#stats];
    const send = (connId: number, message: MinerMessage) => this.#send(connId, message);
    this.#dispatcher = new Dispatcher({ ...o, miners, waiting, stats, send });
    this.#requests = new RequestTable({
      ...o,
      conns: this.#conns,
      waiting,
      stats,
      act: (action) => this.#act(action),
      send,
      log: (level, connId, code, message, request) =>
        this.#log(level, connId, code, message, request),
      now: () => this.#now,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /**
   * Handles one transport event (dispatches to the `handle*()` method for its type).
   *
   * @param event The event.
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `now` is not a number or the event is not one of {@linkcode ConnEvent}.
   *
   * @example Feeding LSP-shaped events
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleEvent({ type: "connected", connId: 1 }, 0);
   * s.handleEvent({ type: "lost", connId: 1 }, 5);
   * assert.equal(s.stats().connections, 0);
   * ```
   */
  handleEvent(event: ConnEvent, now: number): void {
    switch (event?.type) {
      case "connected":
        return this.handleConnected(event.connId, now);
      case "message":
        return this.handleMessage(event.connId, event.payload, now);
      case "lost":
      case "closed":
        return this.handleLost(event.connId, now);
      case "connectFailed":
        this.#advance(now);
        return;
      default:
        throw new TypeError(
          `Cannot handle event: unknown type ${String((event as { type?: unknown })?.type)}`,
        );
    }
  }

  /**
   * A new connection. Its role is fixed by its first valid message.
   *
   * @param connId The connection id.
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `now` is not a number or `connId` not a safe integer.
   *
   * @example A connection without a role yet
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleConnected(7, 0);
   * assert.equal(s.stats().connections, 1);
   * assert.equal(s.minerCount, 0);
   * ```
   */
  handleConnected(connId: number, now: number): void {
    this.#advance(now);
    this.#checkConnId(connId);
    this.#conn(connId);
  }

  /**
   * One message received on a connection. Never throws on bad bytes: they are logged and
   * dropped.
   *
   * @param connId The connection id.
   * @param payload The message bytes.
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `now` is not a number or `connId` not a safe integer.
   *
   * @example Garbage is logged, not thrown
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleMessage(1, new TextEncoder().encode('{"Type":2,"Hash":-1}'), 0);
   * assert.equal(s.pollLog()?.code, "badMessage");
   * assert.equal(s.stats().messagesDropped, 1);
   * ```
   */
  handleMessage(connId: number, payload: Uint8Array, now: number): void {
    const at = this.#advance(now);
    this.#checkConnId(connId);
    const conn = this.#conn(connId);
    if (conn === undefined || conn.role === "closed") {
      this.#stats.messagesDropped++;
      return;
    }
    const read = readMessage(payload);
    if (!read.ok) {
      if (read.request !== undefined && conn.role !== "miner") {
        this.#requests.reject(
          connId,
          conn,
          `Lower ${read.request.lower} > Upper ${read.request.upper}`,
        );
        return;
      }
      this.#stats.messagesDropped++;
      this.#log("warn", connId, "badMessage", `Cannot decode message: ${read.detail}`);
      return;
    }
    const m = read.message;
    if (m.type === "join" && conn.role === "unknown") {
      this.#addMiner(connId, at);
    } else if (m.type === "request" && conn.role !== "miner") {
      this.#addRequest(connId, conn, m, at);
    } else if (m.type === "result" && conn.role === "miner") {
      this.#onResult(conn.miner, m.hash, m.nonce, at);
    } else {
      this.#stats.messagesDropped++;
      const what = m.type === "result" && conn.role === "unknown"
        ? "work never given"
        : `a ${conn.role === "unknown" ? "connection without a role" : conn.role}`;
      this.#log("warn", connId, "unexpectedMessage", `Cannot accept ${describe(m)}: from ${what}`);
    }
  }

  /**
   * A connection is gone (lost or closed). A miner's chunks are handed out again; a client's
   * requests stop. Unknown or already handled connections are ignored.
   *
   * @param connId The connection id.
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `now` is not a number or `connId` not a safe integer.
   *
   * @example Losing an unknown connection is harmless
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleLost(42, 0);
   * assert.equal(s.pollAction(), undefined);
   * ```
   */
  handleLost(connId: number, now: number): void {
    const at = this.#advance(now);
    this.#checkConnId(connId);
    const conn = this.#conns.get(connId);
    if (conn === undefined) return;
    this.#conns.delete(connId);
    this.#stats.connections = this.#conns.size;
    if (conn.role === "miner") this.#removeMiner(conn.miner, at);
    else if (conn.role === "client") this.#requests.removeClient(conn.client, "lost");
  }

  /**
   * Runs timer work if due: hands copies of late chunks to idle miners. A no-op otherwise.
   *
   * @param now The current time in milliseconds.
   * @throws {TypeError} When `now` is not a number.
   *
   * @example Nothing due
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleTimeout(1000);
   * assert.equal(s.pollAction(), undefined);
   * assert.equal(s.nextTimeout(), undefined);
   * ```
   */
  handleTimeout(now: number): void {
    const at = this.#advance(now);
    this.#dispatcher.dispatch(at);
  }

  // -------------------------------------------------------------------------------------------
  // Outputs

  /**
   * Returns the next action for the transport, or `undefined`.
   *
   * @returns The next action.
   *
   * @example Nothing to do
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new Scheduler().pollAction(), undefined);
   * ```
   */
  pollAction(): SchedulerAction | undefined {
    return this.#actions.shift();
  }

  /**
   * Returns the next log record, or `undefined`.
   *
   * @returns The next record.
   *
   * @example A miner joining is logged
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import { encodeMessage, joinMessage } from "./message.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleMessage(1, encodeMessage(joinMessage()), 0);
   * assert.equal(s.pollLog()?.code, "minerJoined");
   * ```
   */
  pollLog(): SchedulerLog | undefined {
    return this.#logs.shift();
  }

  /**
   * When `handleTimeout()` is next due: the moment a chunk becomes late while an idle miner could
   * take a copy of it; `undefined` when nothing is pending.
   *
   * @returns A time in milliseconds, or `undefined`.
   *
   * @example No miners, no timer
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new Scheduler().nextTimeout(), undefined);
   * ```
   */
  nextTimeout(): number | undefined {
    if (this.#timeout === null) this.#timeout = this.#dispatcher.computeTimeout(this.#now);
    return this.#timeout;
  }

  // -------------------------------------------------------------------------------------------
  // Getters

  /** Miners connected. */
  get minerCount(): number {
    return this.#miners.size;
  }

  /** Live requests (accepted, not answered, client connected). */
  get requestCount(): number {
    return this.#requests.live;
  }

  /** Live requests that have nonces waiting to be handed out. */
  get waitingRequestCount(): number {
    return this.#waiting.size;
  }

  /** Free chunk slots over all miners (`pipelineDepth` per miner minus chunks held). */
  get freeSlots(): number {
    return this.#dispatcher.freeSlots;
  }

  /**
   * A snapshot of the counters.
   *
   * @returns A copy of the counters.
   *
   * @example After a Join
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import { encodeMessage, joinMessage } from "./message.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleMessage(1, encodeMessage(joinMessage()), 0);
   * assert.equal(s.stats().miners, 1);
   * ```
   */
  stats(): SchedulerStats {
    return { ...this.#stats };
  }

  // -------------------------------------------------------------------------------------------
  // Status (read-only, for the status service; see server_status.ts)

  /**
   * What the scheduler holds now: connections and roles, miners with their speed and chunks,
   * live requests with their progress. Copies: nothing is changed.
   *
   * @returns The snapshot.
   *
   * @example A miner joined
   * ```ts
   * import { Scheduler } from "./scheduler.ts";
   * import { encodeMessage, joinMessage } from "./message.ts";
   * import assert from "node:assert/strict";
   * const s = new Scheduler();
   * s.handleMessage(1, encodeMessage(joinMessage()), 0);
   * assert.deepEqual(s.snapshot().miners, [{ connId: 1, noncesPerMilli: undefined, chunks: [] }]);
   * ```
   */
  snapshot(): SchedulerSnapshot {
    return readSchedulerSnapshot(this.#conns, this.#miners);
  }

  // -------------------------------------------------------------------------------------------
  // Internals: bookkeeping

  #advance(now: number): number {
    if (typeof now !== "number" || Number.isNaN(now)) {
      throw new TypeError(`Cannot use time ${now}: not a number`);
    }
    if (now > this.#now) this.#now = now;
    this.#timeout = null;
    return this.#now;
  }

  #checkConnId(connId: number): void {
    if (!Number.isSafeInteger(connId)) {
      throw new TypeError(`Cannot use connection ${connId}: not a safe integer`);
    }
  }

  /** The connection's record, created on first sight; `undefined` when the table is full. */
  #conn(connId: number): Conn | undefined {
    let conn = this.#conns.get(connId);
    if (conn !== undefined) return conn;
    if (this.#conns.size >= this.#maxConnections) {
      this.#log("warn", connId, "connectionRefused", "Cannot track connection: the table is full");
      this.#act({ type: "close", connId });
      return undefined;
    }
    conn = { role: "unknown" };
    this.#conns.set(connId, conn);
    this.#stats.connections = this.#conns.size;
    return conn;
  }

  #act(action: SchedulerAction): void {
    if (!this.#actions.push(action)) {
      throw new RangeError("Cannot queue an action: pollAction() is not being drained");
    }
  }

  #send(connId: number, message: MinerMessage): void {
    this.#act({ type: "send", connId, bytes: encodeMessage(message) });
  }

  #log(
    level: "info" | "warn",
    connId: number | undefined,
    code: LogCode,
    message: string,
    request?: RequestLogInfo,
  ): void {
    if (this.#maxLogRecords === 0) {
      this.#stats.logsDropped++;
      return;
    }
    if (this.#logs.length >= this.#maxLogRecords) {
      this.#logs.shift(); // the oldest goes
      this.#stats.logsDropped++;
    }
    this.#logs.push(
      request === undefined
        ? { level, at: this.#now, connId, code, message }
        : { level, at: this.#now, connId, code, message, request },
    );
  }

  #addMiner(connId: number, now: number): void {
    const miner: Miner = {
      connId,
      fifo: [],
      speed: new SpeedEstimate(),
      lastDoneAt: now,
      freeSince: now,
    };
    this.#conns.set(connId, { role: "miner", miner });
    this.#miners.set(connId, miner);
    this.#stats.miners = this.#miners.size;
    this.#log("info", connId, "minerJoined", `Miner ${connId} joined`);
    this.#dispatcher.dispatch(now);
  }

  #removeMiner(miner: Miner, now: number): void {
    this.#miners.delete(miner.connId);
    this.#stats.miners = this.#miners.size;
    const count = giveBack(miner, this.#waiting);
    this.#stats.chunksReassigned += count;
    this.#log("info", miner.connId, "minerLost", `Miner ${miner.connId} lost`);
    if (count > 0) {
      this.#log("info", miner.connId, "chunksReassigned", `${count} chunk(s) handed out again`);
    }
    this.#dispatcher.dispatch(now);
  }

  #addRequest(connId: number, conn: Conn, m: RequestMessage, now: number): void {
    assert(conn.role === "unknown" || conn.role === "client", "a Request from a non-client");
    if (this.#requests.add(connId, conn, m, now)) this.#dispatcher.dispatch(now);
  }

  #onResult(miner: Miner, hash: bigint, nonce: bigint, now: number): void {
    if (miner.fifo.length === 0) {
      this.#stats.resultsRejected++;
      this.#log("warn", miner.connId, "resultRejected", "Cannot match Result: no work given");
      return;
    }
    const index = matchResult(miner, hash, nonce, this.#hashOf);
    if (typeof index === "string") {
      // Nothing is freed.
      this.#stats.resultsRejected++;
      this.#log("warn", miner.connId, "resultRejected", index);
      return;
    }
    const chunk = takeAnswered(miner, index, now, this.#depth);
    this.#requests.credit(chunk, hash, nonce, now);
    this.#dispatcher.dispatch(now);
  }
}
