/**
 * The miner server scheduler's public types: the transport events it takes, the actions and log
 * records it gives, its counters and its options (see `scheduler.ts`).
 *
 * @module
 */
import { checkInt } from "../util/mod.ts";
import { type ChunkingOptions, resolveChunking, type ResolvedChunking } from "./chunking.ts";

/**
 * A connection-level event from the transport (LSP's server events have this shape). The
 * scheduler ignores `connectFailed`, which only a client endpoint emits.
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
  /** The request concerned, for `requestAccepted` and `requestDone` (adapters enrich lines). */
  readonly request?: RequestLogInfo;
}

/**
 * The request a log record is about.
 */
export interface RequestLogInfo {
  /** Its Data. */
  readonly data: string;
  /** Its first nonce. */
  readonly lower: bigint;
  /** Its last nonce. */
  readonly upper: bigint;
  /** Whether its client asked for Progress messages. */
  readonly wantProgress: boolean;
  /** For `requestDone`: the milliseconds from its arrival to its answer. */
  readonly millis?: number;
}

/**
 * Counters and gauges of {@linkcode Scheduler.stats}.
 *
 * @example Reading a counter
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new Scheduler().stats().chunksSent, 0);
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

/** Fresh counters, all zero. */
export function newSchedulerStats(): SchedulerStats {
  return {
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
}

/** {@linkcode SchedulerOptions} checked, with their defaults. */
export interface ResolvedSchedulerOptions {
  readonly chunking: ResolvedChunking;
  readonly depth: number;
  readonly starvationEvery: number;
  readonly maxCopies: number;
  readonly progressIntervalMillis: number;
  readonly maxRequests: number;
  readonly maxRequestsPerClient: number;
  readonly maxConnections: number;
  readonly maxLogRecords: number;
  readonly hashOf: ((data: string, nonce: bigint) => bigint) | undefined;
}

/**
 * Checks scheduler options and fills in the defaults.
 *
 * @throws {TypeError} When an option has the wrong type.
 * @throws {RangeError} When an option is out of range.
 *
 * @example The defaults
 * ```ts
 * import { resolveSchedulerOptions } from "./scheduler_types.ts";
 * import assert from "node:assert/strict";
 * const o = resolveSchedulerOptions({});
 * assert.equal(o.depth, 2);
 * assert.equal(o.starvationEvery, 5);
 * assert.throws(() => resolveSchedulerOptions({ pipelineDepth: 0 }), RangeError);
 * ```
 */
export function resolveSchedulerOptions(options: SchedulerOptions): ResolvedSchedulerOptions {
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
  const chunking = resolveChunking(options);
  const resolved: ResolvedSchedulerOptions = {
    chunking,
    depth: checkInt("pipelineDepth", pipelineDepth, 1, 16),
    starvationEvery: checkInt("starvationEvery", starvationEvery, 0, 1_000_000),
    maxCopies: checkInt("maxCopies", maxCopies, 0, 4),
    progressIntervalMillis: checkInt(
      "progressIntervalMillis",
      progressIntervalMillis,
      0,
      86_400_000,
    ),
    maxRequests: checkInt("maxRequests", maxRequests, 1, 10_000_000),
    maxRequestsPerClient: checkInt("maxRequestsPerClient", maxRequestsPerClient, 1, 1024),
    maxConnections: checkInt("maxConnections", maxConnections, 1, 1 << 24),
    maxLogRecords: checkInt("maxLogRecords", maxLogRecords, 0, 1 << 20),
    hashOf,
  };
  if (hashOf !== undefined && typeof hashOf !== "function") {
    throw new TypeError("Cannot use hashOf: not a function");
  }
  return resolved;
}
