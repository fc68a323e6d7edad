/**
 * The miner server's core (spec `miner.md` §8) as a synchronous sans-I/O state machine. It sits
 * on top of a transport's connection events — `connected`, `message`, `lost`, `closed`, per
 * connection id, with the time `now` — and answers with actions: `send` bytes on a connection,
 * or `close` it. It knows nothing of LSP beyond those events: in the simulator it is wired to an
 * `LspEndpoint` core, in production a thin adapter connects it to `LspServer`.
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
 * ## Chunks
 *
 * Requests are split lazily (a range may hold 2^64 nonces) into chunks sized from the receiving
 * miner's measured speed (see `chunking.ts`): about `targetChunkMillis` of its work, between
 * `minChunkNonces` and `maxChunkNonces`. Near a request's end a chunk lasts at most half the time
 * the whole fleet needs for what is left (but at least an eighth of the target, or the round trip
 * would dominate), so the tail is spread over all miners instead of one big last chunk. Each miner
 * holds at most `pipelineDepth` chunks (default 2): while it works on one, the next is already on
 * its way, hiding the round trip. Results carry no job id, so a Result belongs to the chunk of
 * its miner whose range holds its nonce and (with `hashOf`, which the server always passes) whose
 * Data hashes with that nonce to its hash (spec §8.4): a miner may answer its chunks in any order
 * (a Go miner that mines each Request in its own goroutine does). One miner's chunks of the same
 * Data (requests of different clients) are kept nested or disjoint, so that the innermost match
 * is always right. A Result that matches no chunk the miner holds is logged and dropped; it frees
 * nothing. Without `hashOf` the oldest chunk whose range holds the nonce is taken.
 *
 * ## Scheduling strategy: efficient and fair
 *
 * Whenever a miner has a free slot, the scheduler gives it a chunk of the live request with the
 * least work remaining (shortest remaining processing time, SRPT: nonces not yet searched,
 * including those out on miners), ties going to the earlier arrival; every `starvationEvery`-th
 * chunk (default 5th) instead goes to the oldest request with work to hand out. Chunks given
 * back by a lost miner come first within their request.
 *
 * - *Efficient:* SRPT minimises mean response time. A small request arriving after a huge one has
 *   less remaining work, so it takes the next free slots and finishes within a chunk time or two,
 *   while the huge one continues afterwards.
 * - *Fair:* among equal requests the earlier one always has less (or equal) work left and wins
 *   ties, so equal requests finish in arrival order; and the anti-starvation slot keeps a huge
 *   old request moving (a fifth of the chunks) under a constant stream of small ones.
 * - *Busy miners:* a free slot is filled at once (on Join, on every Result, on every new request
 *   or given-back chunk), so no miner is idle while any live request has work to hand out; with
 *   the pipeline, a miner normally has its next chunk before it finishes the current one.
 * - *Stragglers:* a request with nothing left to hand out still waits for its chunks out on
 *   miners, and one slow, overloaded or stalled miner (a lost datagram holds an LSP connection up
 *   to an epoch) would hold it up. A free slot may therefore take a copy of such a chunk (at
 *   most `maxCopies` extra copies) when the chunk is late — every holder past twice its expected
 *   time plus `targetChunkMillis`; `nextTimeout()` wakes the core then — and its request is more
 *   urgent than the request the slot would otherwise serve; and an idle miner may take a copy of
 *   any such chunk it would finish in less than half the time its holder still needs. The first
 *   Result for a chunk counts; later ones are consumed and ignored. Nothing is ever taken away
 *   from a miner, so a copy only adds work.
 *
 * ## Failures
 *
 * A lost miner's chunks that no other miner holds go back to the front of their requests'
 * queues, keeping their order, and are handed out again (split if the next miner is slower).
 * Nothing is timed out on a clock: only the transport's loss of a miner reassigns its work (the
 * copies above only add work). A lost client's requests stop at once: nothing more is handed out
 * for them, and Results for their chunks still out on miners are consumed and ignored. If every
 * miner is gone, work waits until one joins.
 *
 * Results go to a client in the order of its requests (the reference client sends one). A client
 * that asked for progress (`"Progress":true`, see `message.ts`) also gets a Progress message at
 * most every `progressIntervalMillis` while its request runs.
 *
 * @module
 */

import { assert } from "../util/assert.ts";
import { formatDuration } from "../util/duration.ts";
import {
  type ChunkingOptions,
  chunkNonces,
  resolveChunking,
  type ResolvedChunking,
  SpeedEstimate,
} from "./chunking.ts";
import {
  encodeMessage,
  type MinerMessage,
  progressMessage,
  readMessage,
  requestFits,
  type RequestMessage,
  requestMessage,
  resultMessage,
} from "./message.ts";
import { checkInt } from "../util/checks.ts";

/**
 * A connection-level event from the transport (LSP's server events have this shape). The
 * scheduler ignores `connectFailed`, which only a client endpoint emits.
 *
 * @example A message event
 * ```ts
 * import type { ConnEvent } from "./scheduler.ts";
 * const e: ConnEvent = { type: "message", connId: 3, payload: new Uint8Array(0) };
 * console.assert(e.connId === 3);
 * ```
 */
export type ConnEvent =
  | { readonly type: "connected"; readonly connId: number }
  | { readonly type: "message"; readonly connId: number; readonly payload: Uint8Array }
  | { readonly type: "lost"; readonly connId: number }
  | { readonly type: "closed"; readonly connId: number }
  | { readonly type: "connectFailed"; readonly connId: number };

/**
 * What the scheduler asks the transport to do: write `bytes` as one message on a connection, or
 * close a connection.
 *
 * @example Applying actions
 * ```ts
 * import type { SchedulerAction } from "./scheduler.ts";
 * function apply(a: SchedulerAction, write: (id: number, b: Uint8Array) => void): void {
 *   if (a.type === "send") write(a.connId, a.bytes);
 * }
 * apply({ type: "close", connId: 1 }, () => {});
 * ```
 */
export type SchedulerAction =
  | { readonly type: "send"; readonly connId: number; readonly bytes: Uint8Array }
  | { readonly type: "close"; readonly connId: number };

/**
 * What a log record is about:
 *
 * - `minerJoined`, `minerLost`, `requestAccepted`, `requestDone`: normal life.
 * - `clientLeft`: a client whose requests were all answered is gone (it closed, as it should).
 * - `clientLost`: a client is gone before all its requests were answered (they stop).
 * - `chunksReassigned`: a lost miner's chunks went back to their requests.
 * - `badMessage`: a payload that does not decode (dropped).
 * - `unexpectedMessage`: a valid message the sender's role may not send (dropped).
 * - `requestRejected`: a Request the server cannot serve (dropped, client closed).
 * - `resultRejected`: a Result that matches no chunk the miner holds (dropped).
 * - `connectionRefused`: over `maxConnections` (closed).
 *
 * @example Filtering
 * ```ts
 * import type { LogCode } from "./scheduler.ts";
 * const noisy: LogCode[] = ["badMessage", "unexpectedMessage"];
 * console.assert(noisy.length === 2);
 * ```
 */
export type LogCode =
  | "minerJoined"
  | "minerLost"
  | "clientLeft"
  | "clientLost"
  | "requestAccepted"
  | "requestDone"
  | "chunksReassigned"
  | "badMessage"
  | "unexpectedMessage"
  | "requestRejected"
  | "resultRejected"
  | "connectionRefused";

/**
 * One log record for the adapter to write.
 *
 * @example A record
 * ```ts
 * import type { SchedulerLog } from "./scheduler.ts";
 * const r: SchedulerLog = { level: "warn", at: 0, connId: 1, code: "badMessage", message: "…" };
 * console.assert(r.level === "warn");
 * ```
 */
export interface SchedulerLog {
  /** `warn` for bad input, `info` for the life of miners, clients and requests. */
  readonly level: "info" | "warn";
  /** When it happened (the `now` of the input). */
  readonly at: number;
  /** The connection concerned, if any. */
  readonly connId: number | undefined;
  /** What it is about. */
  readonly code: LogCode;
  /** A human-readable line. */
  readonly message: string;
}

/**
 * Counters and gauges of {@linkcode Scheduler.stats}.
 *
 * @example Reading a counter
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * console.assert(new Scheduler().stats().chunksSent === 0);
 * ```
 */
export interface SchedulerStats {
  /** Connections known (any role). */
  connections: number;
  /** Miners connected. */
  miners: number;
  /** Clients connected. */
  clients: number;
  /** Requests accepted and not finished nor abandoned. */
  liveRequests: number;
  /** Requests accepted. */
  requestsAccepted: number;
  /** Requests answered (Result sent). */
  requestsCompleted: number;
  /** Requests whose client was lost before the answer. */
  requestsAbandoned: number;
  /** Requests refused (bad range, too long, over a limit). */
  requestsRejected: number;
  /** Chunks sent to miners, copies included. */
  chunksSent: number;
  /** Chunks whose first Result counted. */
  chunksCompleted: number;
  /** Chunks given back by lost miners. */
  chunksReassigned: number;
  /** Extra copies of chunks sent to idle miners. */
  chunksCopied: number;
  /** Results consumed but ignored (request gone, or another copy answered first). */
  resultsIgnored: number;
  /** Results dropped because they match no chunk the miner holds. */
  resultsRejected: number;
  /** Payloads dropped: undecodable, or unexpected from the sender's role. */
  messagesDropped: number;
  /** Progress messages sent. */
  progressSent: number;
  /** Log records discarded because `pollLog()` was not drained. */
  logsDropped: number;
}

/**
 * Options of {@linkcode Scheduler}.
 *
 * @example A scheduler that verifies Results and never copies chunks
 * ```ts
 * import { Scheduler, type SchedulerOptions } from "./scheduler.ts";
 * const options: SchedulerOptions = { maxCopies: 0, hashOf: (_data, nonce) => nonce };
 * console.assert(new Scheduler(options).minerCount === 0);
 * ```
 */
export interface SchedulerOptions extends ChunkingOptions {
  /**
   * How many chunks a miner may hold at once (1..16). 1 leaves the miner idle for a round trip
   * after each chunk; 2 hides it.
   *
   * @default 2
   */
  pipelineDepth?: number;
  /**
   * Every this many chunks handed out, one goes to the oldest request with work instead of the
   * one with the least work left (anti-starvation); 0 never does.
   *
   * @default 5
   */
  starvationEvery?: number;
  /**
   * How many extra copies of a straggling chunk may be handed to idle miners (0..4).
   *
   * @default 1
   */
  maxCopies?: number;
  /**
   * Least time between two Progress messages to a client that asked, in milliseconds.
   *
   * @default 1000
   */
  progressIntervalMillis?: number;
  /**
   * Most live requests in total; more are rejected.
   *
   * @default 10000
   */
  maxRequests?: number;
  /**
   * Most live requests per client; more are rejected.
   *
   * @default 16
   */
  maxRequestsPerClient?: number;
  /**
   * Most connections tracked; a new one beyond is closed.
   *
   * @default 65536
   */
  maxConnections?: number;
  /**
   * Most log records kept until `pollLog()`; older ones are discarded and counted.
   *
   * @default 1024
   */
  maxLogRecords?: number;
  /**
   * A hash function (spec §3) to match each Result to the chunk it answers, whatever the order
   * a miner answers in, and to verify its hash: one hash per Result and distinct Data among the
   * miner's chunks. Without it a Result goes to the oldest chunk whose range holds its nonce, so
   * a miner must answer in order.
   *
   * @default undefined
   */
  hashOf?: (data: string, nonce: bigint) => bigint;
}

/** A nonce range still to hand out. */
interface Span {
  lo: bigint;
  readonly hi: bigint;
}

interface Chunk {
  readonly req: Req;
  readonly lo: bigint;
  readonly hi: bigint;
  readonly nonces: bigint;
  holders: number;
  done: boolean;
}

interface Assignment {
  readonly chunk: Chunk;
  readonly sentAt: number;
  /** How many chunks the miner held when this one was sent. */
  readonly ahead: number;
}

/** What {@linkcode Scheduler} knows of a chunk that may take a copy. */
interface CopyInfo {
  /** When its first holder is expected to finish it. */
  eta: number;
  /** When every holder is late with it. */
  lateAt: number;
}

interface Miner {
  readonly connId: number;
  readonly fifo: Assignment[];
  readonly speed: SpeedEstimate;
  /** When its last Result arrived (or when it joined). */
  lastDoneAt: number;
  /** When it last got a free slot: ties between equally loaded miners go to the earliest. */
  freeSince: number;
}

interface Req {
  readonly seq: number;
  readonly client: Client;
  readonly data: string;
  readonly lower: bigint;
  readonly upper: bigint;
  readonly total: bigint;
  readonly wantProgress: boolean;
  readonly arrivedAt: number;
  state: "active" | "done" | "dead";
  /** Next nonce never handed out. */
  cursor: bigint;
  /** Ranges given back by lost miners, in order. */
  redo: Span[];
  redoNonces: bigint;
  /** Chunks out on miners, not yet answered. */
  readonly inflight: Set<Chunk>;
  searched: bigint;
  bestHash: bigint;
  bestNonce: bigint;
  lastProgressAt: number;
}

interface Client {
  readonly connId: number;
  /** Its requests not yet answered, in arrival order (answers go out in this order). */
  readonly requests: Req[];
}

type Conn =
  | { role: "unknown" }
  | { role: "miner"; readonly miner: Miner }
  | { role: "client"; readonly client: Client }
  | { role: "closed" };

/** Queued actions beyond this mean the caller does not drain `pollAction()`. */
const MAX_ACTIONS = 1_000_000;

function unassigned(r: Req): bigint {
  return (r.cursor <= r.upper ? r.upper - r.cursor + 1n : 0n) + r.redoNonces;
}

/** SRPT order: less remaining work first, then earlier arrival. */
function before(a: Req, b: Req): boolean {
  const ra = a.total - a.searched, rb = b.total - b.searched;
  return ra < rb || (ra === rb && a.seq < b.seq);
}

/**
 * Whether two chunks of the same Data overlap without one holding the other: a Result in the
 * overlap could then answer either (see `Scheduler.#matchResult()`).
 */
function crosses(a: Chunk, b: Chunk): boolean {
  if (a.req.data !== b.req.data || a.hi < b.lo || b.hi < a.lo) return false;
  return !((a.lo <= b.lo && b.hi <= a.hi) || (b.lo <= a.lo && a.hi <= b.hi));
}

/**
 * The end, at most `hi`, of a new chunk `lo..` of `data` for `miner` such that it crosses none
 * of the chunks the miner holds: stops before a held chunk that starts inside it, or at the end
 * of a held chunk it starts inside. At least `lo`: a chunk is never emptied.
 */
function nestedEnd(miner: Miner, data: string, lo: bigint, hi: bigint): bigint {
  for (let changed = true; changed;) {
    changed = false;
    for (const { chunk: c } of miner.fifo) {
      if (c.req.data !== data || c.hi < lo || hi < c.lo) continue;
      if (lo < c.lo && hi < c.hi) hi = c.lo - 1n; // c starts inside: end before it
      else if (c.lo < lo && c.hi < hi) hi = c.hi; // starts inside c: end with it
      else continue;
      changed = true;
    }
  }
  return hi;
}

function describe(m: MinerMessage): string {
  switch (m.type) {
    case "join":
      return "Join";
    case "request":
      return `Request ${m.lower}..${m.upper}`;
    case "result":
      return `Result ${m.hash} ${m.nonce}`;
    case "progress":
      return "Progress";
  }
}

/**
 * The miner server's scheduling core (see the module doc for the strategy). Inputs are
 * `handle*()`, outputs `pollAction()`, `pollLog()` and `nextTimeout()`; `now` is in
 * milliseconds and never goes backwards (an earlier value is taken as the latest seen).
 *
 * @example One miner, one client
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * import { decodeMessage, encodeMessage, joinMessage, requestMessage, resultMessage } from "./message.ts";
 * const s = new Scheduler();
 * s.handleMessage(1, encodeMessage(joinMessage()), 0);          // connection 1 is a miner
 * s.handleMessage(2, encodeMessage(requestMessage("msg", 0n, 2n)), 0); // connection 2 a client
 * const job = s.pollAction();
 * console.assert(job?.type === "send" && job.connId === 1);
 * const sent = job?.type === "send" ? decodeMessage(job.bytes) : undefined;
 * console.assert(sent?.type === "request" && sent.upper === 2n);
 * s.handleMessage(1, encodeMessage(resultMessage(4754799531757243342n, 1n)), 10);
 * const answer = s.pollAction();
 * console.assert(answer?.type === "send" && answer.connId === 2);
 * const result = answer?.type === "send" ? decodeMessage(answer.bytes) : undefined;
 * console.assert(result?.type === "result" && result.nonce === 1n);
 * ```
 */
export class Scheduler {
  readonly #chunking: ResolvedChunking;
  readonly #depth: number;
  readonly #starvationEvery: number;
  readonly #maxCopies: number;
  readonly #progressIntervalMillis: number;
  readonly #maxRequests: number;
  readonly #maxRequestsPerClient: number;
  readonly #maxConnections: number;
  readonly #maxLogRecords: number;
  readonly #hashOf: ((data: string, nonce: bigint) => bigint) | undefined;

  readonly #conns = new Map<number, Conn>();
  readonly #miners = new Map<number, Miner>();
  /** Live requests with nonces to hand out (fresh or given back). */
  readonly #waiting = new Set<Req>();
  #liveRequests = 0;
  #clients = 0;
  #nextSeq = 1;
  #dispatchCount = 0;
  #now = -Infinity;
  /** Cached `nextTimeout()`; `null` when it must be recomputed. */
  #timeout: number | undefined | null = null;

  #actions: SchedulerAction[] = [];
  #actionHead = 0;
  #logs: SchedulerLog[] = [];
  #logHead = 0;
  readonly #stats: SchedulerStats = {
    connections: 0,
    miners: 0,
    clients: 0,
    liveRequests: 0,
    requestsAccepted: 0,
    requestsCompleted: 0,
    requestsAbandoned: 0,
    requestsRejected: 0,
    chunksSent: 0,
    chunksCompleted: 0,
    chunksReassigned: 0,
    chunksCopied: 0,
    resultsIgnored: 0,
    resultsRejected: 0,
    messagesDropped: 0,
    progressSent: 0,
    logsDropped: 0,
  };

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
   * const s = new Scheduler({ minChunkNonces: 100, targetChunkMillis: 50, pipelineDepth: 1 });
   * console.assert(s.nextTimeout() === undefined);
   * ```
   */
  constructor(options: SchedulerOptions = {}) {
    const {
      pipelineDepth = 2,
      starvationEvery = 5,
      maxCopies = 1,
      progressIntervalMillis = 1000,
      maxRequests = 10_000,
      maxRequestsPerClient = 16,
      maxConnections = 65_536,
      maxLogRecords = 1024,
      hashOf,
    } = options;
    this.#chunking = resolveChunking(options);
    this.#depth = checkInt("pipelineDepth", pipelineDepth, 1, 16);
    this.#starvationEvery = checkInt("starvationEvery", starvationEvery, 0, 1_000_000);
    this.#maxCopies = checkInt("maxCopies", maxCopies, 0, 4);
    this.#progressIntervalMillis = checkInt(
      "progressIntervalMillis",
      progressIntervalMillis,
      0,
      86_400_000,
    );
    this.#maxRequests = checkInt("maxRequests", maxRequests, 1, 10_000_000);
    this.#maxRequestsPerClient = checkInt("maxRequestsPerClient", maxRequestsPerClient, 1, 1024);
    this.#maxConnections = checkInt("maxConnections", maxConnections, 1, 1 << 24);
    this.#maxLogRecords = checkInt("maxLogRecords", maxLogRecords, 0, 1 << 20);
    if (hashOf !== undefined && typeof hashOf !== "function") {
      throw new TypeError("Cannot use hashOf: not a function");
    }
    this.#hashOf = hashOf;
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
   * const s = new Scheduler();
   * s.handleEvent({ type: "connected", connId: 1 }, 0);
   * s.handleEvent({ type: "lost", connId: 1 }, 5);
   * console.assert(s.stats().connections === 0);
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
   * const s = new Scheduler();
   * s.handleConnected(7, 0);
   * console.assert(s.stats().connections === 1 && s.minerCount === 0);
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
   * const s = new Scheduler();
   * s.handleMessage(1, new TextEncoder().encode('{"Type":2,"Hash":-1}'), 0);
   * console.assert(s.pollLog()?.code === "badMessage" && s.stats().messagesDropped === 1);
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
        this.#reject(connId, conn, `Lower ${read.request.lower} > Upper ${read.request.upper}`);
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
   * const s = new Scheduler();
   * s.handleLost(42, 0);
   * console.assert(s.pollAction() === undefined);
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
    else if (conn.role === "client") this.#removeClient(conn.client, "lost");
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
   * const s = new Scheduler();
   * s.handleTimeout(1000);
   * console.assert(s.pollAction() === undefined && s.nextTimeout() === undefined);
   * ```
   */
  handleTimeout(now: number): void {
    const at = this.#advance(now);
    this.#dispatch(at);
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
   * console.assert(new Scheduler().pollAction() === undefined);
   * ```
   */
  pollAction(): SchedulerAction | undefined {
    if (this.#actionHead >= this.#actions.length) return undefined;
    const action = this.#actions[this.#actionHead++];
    if (this.#actionHead === this.#actions.length) {
      this.#actions = [];
      this.#actionHead = 0;
    }
    return action;
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
   * const s = new Scheduler();
   * s.handleMessage(1, encodeMessage(joinMessage()), 0);
   * console.assert(s.pollLog()?.code === "minerJoined");
   * ```
   */
  pollLog(): SchedulerLog | undefined {
    if (this.#logHead >= this.#logs.length) return undefined;
    const record = this.#logs[this.#logHead++];
    if (this.#logHead === this.#logs.length) {
      this.#logs = [];
      this.#logHead = 0;
    }
    return record;
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
   * console.assert(new Scheduler().nextTimeout() === undefined);
   * ```
   */
  nextTimeout(): number | undefined {
    if (this.#timeout === null) this.#timeout = this.#computeTimeout();
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
    return this.#liveRequests;
  }

  /** Live requests that have nonces waiting to be handed out. */
  get waitingRequestCount(): number {
    return this.#waiting.size;
  }

  /** Free chunk slots over all miners (`pipelineDepth` per miner minus chunks held). */
  get freeSlots(): number {
    let free = 0;
    for (const m of this.#miners.values()) free += this.#depth - m.fifo.length;
    return free;
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
   * const s = new Scheduler();
   * s.handleMessage(1, encodeMessage(joinMessage()), 0);
   * console.assert(s.stats().miners === 1);
   * ```
   */
  stats(): SchedulerStats {
    return { ...this.#stats };
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
    if (this.#actions.length >= MAX_ACTIONS) {
      throw new RangeError("Cannot queue an action: pollAction() is not being drained");
    }
    this.#actions.push(action);
  }

  #send(connId: number, message: MinerMessage): void {
    this.#act({ type: "send", connId, bytes: encodeMessage(message) });
  }

  #log(level: "info" | "warn", connId: number | undefined, code: LogCode, message: string): void {
    if (this.#maxLogRecords === 0) {
      this.#stats.logsDropped++;
      return;
    }
    if (this.#logs.length - this.#logHead >= this.#maxLogRecords) {
      this.#logHead++;
      this.#stats.logsDropped++;
      if (this.#logHead > 1024) {
        this.#logs = this.#logs.slice(this.#logHead);
        this.#logHead = 0;
      }
    }
    this.#logs.push({ level, at: this.#now, connId, code, message });
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
    this.#dispatch(now);
  }

  #removeMiner(miner: Miner, now: number): void {
    this.#miners.delete(miner.connId);
    this.#stats.miners = this.#miners.size;
    const givenBack = new Map<Req, Span[]>();
    let count = 0;
    for (const { chunk } of miner.fifo) {
      chunk.holders--;
      assert(chunk.holders >= 0, "a chunk has a negative holder count");
      const req = chunk.req;
      if (chunk.done || chunk.holders > 0 || req.state !== "active") continue;
      req.inflight.delete(chunk);
      const spans = givenBack.get(req) ?? [];
      spans.push({ lo: chunk.lo, hi: chunk.hi });
      givenBack.set(req, spans);
      req.redoNonces += chunk.nonces;
      count++;
    }
    miner.fifo.length = 0;
    for (const [req, spans] of givenBack) {
      req.redo.unshift(...spans);
      this.#waiting.add(req);
    }
    this.#stats.chunksReassigned += count;
    this.#log("info", miner.connId, "minerLost", `Miner ${miner.connId} lost`);
    if (count > 0) {
      this.#log("info", miner.connId, "chunksReassigned", `${count} chunk(s) handed out again`);
    }
    this.#dispatch(now);
  }

  #addRequest(connId: number, conn: Conn, m: RequestMessage, now: number): void {
    assert(conn.role === "unknown" || conn.role === "client", "a Request from a non-client");
    if (!requestFits(m.data, m.upper)) {
      this.#reject(connId, conn, "Data is too long to forward to miners");
      return;
    }
    if (this.#liveRequests >= this.#maxRequests) {
      this.#reject(connId, conn, `${this.#liveRequests} requests are running`);
      return;
    }
    let client: Client;
    if (conn.role === "client") {
      client = conn.client;
    } else {
      client = { connId, requests: [] };
      this.#conns.set(connId, { role: "client", client });
      this.#stats.clients = ++this.#clients;
    }
    if (client.requests.length >= this.#maxRequestsPerClient) {
      this.#reject(connId, { role: "client", client }, "the client has too many requests");
      return;
    }
    const req: Req = {
      seq: this.#nextSeq++,
      client,
      data: m.data,
      lower: m.lower,
      upper: m.upper,
      total: m.upper - m.lower + 1n,
      wantProgress: m.wantProgress,
      arrivedAt: now,
      state: "active",
      cursor: m.lower,
      redo: [],
      redoNonces: 0n,
      inflight: new Set(),
      searched: 0n,
      bestHash: 0n,
      bestNonce: 0n,
      lastProgressAt: now,
    };
    client.requests.push(req);
    this.#waiting.add(req);
    this.#liveRequests++;
    this.#stats.liveRequests = this.#liveRequests;
    this.#stats.requestsAccepted++;
    this.#log(
      "info",
      connId,
      "requestAccepted",
      `Request ${req.seq} from ${connId}: ${m.lower}..${m.upper}`,
    );
    this.#dispatch(now);
  }

  /** Drops an unservable Request and closes its client (which ends its other requests too). */
  #reject(connId: number, conn: Conn, why: string): void {
    this.#stats.requestsRejected++;
    this.#log("warn", connId, "requestRejected", `Cannot accept Request: ${why}`);
    if (conn.role === "client") this.#removeClient(conn.client, "closed");
    this.#conns.set(connId, { role: "closed" });
    this.#act({ type: "close", connId });
  }

  #removeClient(client: Client, why: "lost" | "closed"): void {
    let abandoned = 0;
    for (const req of client.requests) {
      if (req.state !== "active") continue;
      req.state = "dead";
      req.redo = [];
      req.redoNonces = 0n;
      req.inflight.clear();
      this.#waiting.delete(req);
      this.#liveRequests--;
      abandoned++;
    }
    client.requests.length = 0;
    this.#stats.liveRequests = this.#liveRequests;
    this.#stats.requestsAbandoned += abandoned;
    this.#stats.clients = --this.#clients;
    if (abandoned === 0 && why === "lost") {
      // Every request answered: the client closed after its Result, as the reference's does.
      this.#log("info", client.connId, "clientLeft", `Client ${client.connId} left`);
    } else {
      this.#log(
        "info",
        client.connId,
        "clientLost",
        `Client ${client.connId} ${why}; ${abandoned} request(s) stopped`,
      );
    }
    // Nothing to dispatch: no slot was freed (the dead request's chunks stay on their miners
    // until their Results arrive and are ignored).
  }

  #onResult(miner: Miner, hash: bigint, nonce: bigint, now: number): void {
    if (miner.fifo.length === 0) {
      this.#stats.resultsRejected++;
      this.#log("warn", miner.connId, "resultRejected", "Cannot match Result: no work given");
      return;
    }
    const index = this.#matchResult(miner, hash, nonce);
    if (index < 0) return; // logged and counted: nothing is freed
    const [head] = miner.fifo.splice(index, 1);
    const chunk = head.chunk;
    chunk.holders--;
    assert(chunk.holders >= 0, "a chunk has a negative holder count");
    // The chunk's time: from when the miner could start it (sent, or its previous Result in).
    // A Result stalled by the transport makes the next one arrive right behind it, so the
    // chunk also gets at least its share of the time since it was sent (it waited behind at
    // most `ahead` others): the rate may err low, never far high.
    const since = now - head.sentAt;
    miner.speed.record(
      Number(chunk.nonces),
      Math.max(now - Math.max(head.sentAt, miner.lastDoneAt), since / (head.ahead + 1)),
    );
    miner.lastDoneAt = now;
    if (miner.fifo.length === this.#depth - 1) miner.freeSince = now;
    const req = chunk.req;
    if (chunk.done || req.state !== "active") {
      this.#stats.resultsIgnored++;
    } else {
      chunk.done = true;
      req.inflight.delete(chunk);
      this.#stats.chunksCompleted++;
      if (
        req.searched === 0n || hash < req.bestHash ||
        (hash === req.bestHash && nonce < req.bestNonce)
      ) {
        req.bestHash = hash;
        req.bestNonce = nonce;
      }
      req.searched += chunk.nonces;
      assert(req.searched <= req.total, "a request searched more nonces than it has");
      if (req.searched === req.total) this.#complete(req);
      else this.#maybeProgress(req, now);
    }
    this.#dispatch(now);
  }

  /**
   * The index in `miner.fifo` of the chunk a Result answers, or -1 (logged and counted). A
   * chunk matches when its range holds the nonce and, with `hashOf`, its Data hashes with the
   * nonce to the Result's hash: so a miner may answer its chunks in any order (spec §8.4).
   * Several may match only when they share Data (different requests); `#takeChunk()` and
   * `#pickCopy()` keep such chunks of one miner nested or disjoint, so the matches form a chain
   * and the innermost one (fewest nonces; ties: the oldest) is always a right answer: the
   * Result is the minimum of a range holding it, hence of every range inside that one. Without
   * `hashOf` Data cannot tell chunks apart, and the oldest match is taken (a miner answering in
   * order is always matched right).
   */
  #matchResult(miner: Miner, hash: bigint, nonce: bigint): number {
    let best = -1, inRange = 0;
    const hashes = new Map<string, bigint>(); // one hash per Data, however many chunks share it
    for (let i = 0; i < miner.fifo.length; i++) {
      const chunk = miner.fifo[i].chunk;
      if (nonce < chunk.lo || nonce > chunk.hi) continue;
      inRange++;
      if (this.#hashOf !== undefined) {
        let h = hashes.get(chunk.req.data);
        if (h === undefined) {
          h = this.#hashOf(chunk.req.data, nonce);
          hashes.set(chunk.req.data, h);
        }
        if (h !== hash) continue;
      } else if (best >= 0) {
        break; // the oldest match
      }
      if (best < 0 || chunk.nonces < miner.fifo[best].chunk.nonces) best = i;
    }
    if (best >= 0) return best;
    this.#stats.resultsRejected++;
    const held = miner.fifo.map(({ chunk }) => `${chunk.lo}..${chunk.hi}`).join(", ");
    this.#log(
      "warn",
      miner.connId,
      "resultRejected",
      inRange === 0
        ? `Cannot match Result: nonce ${nonce} is in none of the chunks held (${held})`
        : `Cannot match Result: ${hash} is not the hash of nonce ${nonce} for any chunk held`,
    );
    return -1;
  }

  #complete(req: Req): void {
    assert(req.inflight.size === 0 && unassigned(req) === 0n, "a finished request has work");
    req.state = "done";
    this.#waiting.delete(req);
    this.#liveRequests--;
    this.#stats.liveRequests = this.#liveRequests;
    const client = req.client;
    // Answers go out in request order: send every finished request at the head.
    while (client.requests.length > 0 && client.requests[0].state === "done") {
      const r = client.requests.shift()!;
      this.#send(client.connId, resultMessage(r.bestHash, r.bestNonce));
      this.#stats.requestsCompleted++;
      this.#log(
        "info",
        client.connId,
        "requestDone",
        `Request ${r.seq} done after ${formatDuration(this.#now - r.arrivedAt)}: ` +
          `${r.bestHash} ${r.bestNonce}`,
      );
    }
  }

  #maybeProgress(req: Req, now: number): void {
    if (!req.wantProgress || now - req.lastProgressAt < this.#progressIntervalMillis) return;
    req.lastProgressAt = now;
    this.#stats.progressSent++;
    this.#send(
      req.client.connId,
      progressMessage({
        lower: req.lower,
        upper: req.upper,
        hash: req.bestHash,
        nonce: req.bestNonce,
        searched: req.searched,
      }),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Internals: dispatch

  /**
   * Fills free miner slots, one chunk at a time: the most urgent request's next chunk (SRPT,
   * anti-starvation slot), or a copy of a straggling chunk of a request more urgent still.
   */
  #dispatch(now: number): void {
    const rounds = this.#miners.size * this.#depth + 1;
    let candidates: Map<Chunk, CopyInfo> | undefined;
    for (let round = 0; round < rounds; round++) {
      const miner = this.#freeMiner();
      if (miner === undefined) return;
      // The anti-starvation slot: the oldest request's fresh work, not a copy (if any waits).
      const starving = this.#starvationEvery > 0 && this.#waiting.size > 0 &&
        this.#dispatchCount % this.#starvationEvery === this.#starvationEvery - 1;
      const req = this.#pickRequest(starving);
      if (this.#maxCopies > 0 && !starving) {
        candidates ??= this.#copyCandidates();
        // Without fresh work any free miner may take a copy; try the fastest first.
        const miners = req !== undefined ? [miner] : this.#freeMinersFastestFirst();
        let copied = false;
        for (const m of miners) {
          const copy = this.#pickCopy(m, req, candidates, now);
          if (copy === undefined) continue;
          this.#assign(m, copy, now);
          this.#stats.chunksCopied++;
          this.#dispatchCount++;
          candidates = undefined;
          copied = true;
          break;
        }
        if (copied) continue;
      }
      if (req === undefined) return;
      this.#assign(miner, this.#takeChunk(req, miner), now);
      this.#dispatchCount++;
    }
    assert(this.#freeMiner() === undefined || this.#waiting.size === 0, "dispatch did not settle");
  }

  /** The miner with the fewest chunks (below the depth); ties: free longest, then lowest id. */
  #freeMiner(): Miner | undefined {
    let best: Miner | undefined;
    for (const m of this.#miners.values()) {
      if (m.fifo.length >= this.#depth) continue;
      if (
        best === undefined || m.fifo.length < best.fifo.length ||
        (m.fifo.length === best.fifo.length &&
          (m.freeSince < best.freeSince ||
            (m.freeSince === best.freeSince && m.connId < best.connId)))
      ) best = m;
    }
    return best;
  }

  /** The live request with work to hand out that is most urgent (or the oldest, if starving). */
  #pickRequest(starving: boolean): Req | undefined {
    let best: Req | undefined;
    for (const r of this.#waiting) {
      if (best === undefined || (starving ? r.seq < best.seq : before(r, best))) best = r;
    }
    return best;
  }

  #takeChunk(req: Req, miner: Miner): Chunk {
    const left = unassigned(req);
    assert(left > 0n, "a waiting request has nothing to hand out");
    const context = { leftNonces: Number(left), fleetNoncesPerMilli: this.#fleetSpeed() };
    const size = BigInt(chunkNonces(miner.speed, this.#chunking, context));
    const span = req.redo[0];
    const lo = span !== undefined ? span.lo : req.cursor;
    const end = span !== undefined ? span.hi : req.upper;
    const hi = nestedEnd(miner, req.data, lo, lo + size - 1n < end ? lo + size - 1n : end);
    if (span !== undefined) {
      if (hi === span.hi) req.redo.shift();
      else span.lo = hi + 1n;
      req.redoNonces -= hi - lo + 1n;
    } else {
      req.cursor = hi + 1n;
    }
    assert(req.lower <= lo && lo <= hi && hi <= req.upper, "a chunk is outside its request");
    if (unassigned(req) === 0n) this.#waiting.delete(req);
    const chunk: Chunk = { req, lo, hi, nonces: hi - lo + 1n, holders: 0, done: false };
    req.inflight.add(chunk);
    return chunk;
  }

  /** The summed speed of all miners, unknown ones counted at the average known speed. */
  #fleetSpeed(): number {
    let known = 0, sum = 0;
    for (const m of this.#miners.values()) {
      const v = m.speed.noncesPerMilli;
      if (v === undefined) continue;
      known++;
      sum += v;
    }
    return known === 0 ? 0 : (sum / known) * this.#miners.size;
  }

  #assign(miner: Miner, chunk: Chunk, now: number): void {
    assert(miner.fifo.length < this.#depth, "a miner got more chunks than the pipeline depth");
    miner.fifo.push({ chunk, sentAt: now, ahead: miner.fifo.length });
    chunk.holders++;
    this.#stats.chunksSent++;
    this.#send(miner.connId, requestMessage(chunk.req.data, chunk.lo, chunk.hi));
  }

  // -------------------------------------------------------------------------------------------
  // Internals: straggler copies

  /**
   * The chunks that may take another copy — out on miners, not answered, held at most
   * `maxCopies` times, of a live request with nothing left to hand out — with when their holders
   * are expected to finish (the earliest of them) and when they count as late (every holder past
   * twice its expected time plus `targetChunkMillis`; a holder whose speed is unknown is expected
   * to take `targetChunkMillis`).
   */
  #copyCandidates(): Map<Chunk, CopyInfo> {
    const out = new Map<Chunk, CopyInfo>();
    const target = this.#chunking.targetChunkMillis;
    for (const m of this.#miners.values()) {
      let free = m.lastDoneAt;
      for (const { chunk, sentAt } of m.fifo) {
        const start = Math.max(free, sentAt);
        const took = m.speed.millisFor(Number(chunk.nonces)) ?? target;
        free = start + took;
        const req = chunk.req;
        if (chunk.done || req.state !== "active" || chunk.holders > this.#maxCopies) continue;
        if (unassigned(req) > 0n) continue;
        const lateAt = start + 2 * took + target;
        const seen = out.get(chunk);
        if (seen === undefined) out.set(chunk, { eta: free, lateAt });
        else {
          seen.eta = Math.min(seen.eta, free);
          seen.lateAt = Math.max(seen.lateAt, lateAt);
        }
      }
    }
    return out;
  }

  /**
   * The chunk `miner` should copy, if any: of a request more urgent than `against` (the request
   * the slot would otherwise serve), not held by `miner`, and either late, or — for an idle
   * miner of known speed — done in less than half the time its holders still need. The most
   * urgent request first, then the chunk expected last.
   */
  #pickCopy(
    miner: Miner,
    against: Req | undefined,
    candidates: Map<Chunk, CopyInfo>,
    now: number,
  ): Chunk | undefined {
    let best: Chunk | undefined;
    for (const [chunk, { eta, lateAt }] of candidates) {
      if (against !== undefined && !before(chunk.req, against)) continue;
      if (miner.fifo.some((a) => a.chunk === chunk || crosses(a.chunk, chunk))) continue;
      const mine = miner.speed.millisFor(Number(chunk.nonces));
      const faster = miner.fifo.length === 0 && mine !== undefined && mine < (eta - now) / 2;
      if (!faster && now < lateAt) continue;
      if (
        best === undefined || before(chunk.req, best.req) ||
        (chunk.req === best.req && eta > candidates.get(best)!.eta)
      ) best = chunk;
    }
    return best;
  }

  /** Miners with a free slot, the least loaded first, then the fastest (unknown speed last). */
  #freeMinersFastestFirst(): Miner[] {
    return [...this.#miners.values()].filter((m) => m.fifo.length < this.#depth).sort((a, b) =>
      a.fifo.length - b.fifo.length ||
      (b.speed.noncesPerMilli ?? 0) - (a.speed.noncesPerMilli ?? 0)
    );
  }

  #computeTimeout(): number | undefined {
    if (this.#maxCopies === 0 || this.freeSlots === 0) return undefined;
    let at: number | undefined;
    for (const { lateAt } of this.#copyCandidates().values()) {
      if (lateAt > this.#now && (at === undefined || lateAt < at)) at = lateAt;
    }
    return at;
  }
}
