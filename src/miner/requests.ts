/**
 * The scheduler's request table: the requests of the clients, from acceptance (or rejection)
 * through the crediting of chunk Results to the answer, in each client's request order, with
 * Progress messages for clients that asked (see `scheduler.ts`).
 *
 * @module
 */
import { assert } from "../util/mod.ts";
import { formatDuration } from "../util/mod.ts";
import {
  type MinerMessage,
  progressMessage,
  requestFits,
  type RequestMessage,
  resultMessage,
} from "./message.ts";
import { type Chunk, type Client, type Conn, type Req, unassigned } from "./scheduler_state.ts";
import type {
  LogCode,
  RequestLogInfo,
  SchedulerAction,
  SchedulerStats,
} from "./scheduler_types.ts";

/** What a {@linkcode RequestTable} works on: the scheduler's tables, limits and outputs. */
export interface RequestTableContext {
  /** Most live requests in total. */
  readonly maxRequests: number;
  /** Most live requests per client. */
  readonly maxRequestsPerClient: number;
  /** Least time between two Progress messages to a client. */
  readonly progressIntervalMillis: number;
  /** The connections by id (shared with the scheduler). */
  readonly conns: Map<number, Conn>;
  /** Live requests with nonces to hand out (shared with the scheduler). */
  readonly waiting: Set<Req>;
  /** The scheduler's counters. */
  readonly stats: SchedulerStats;
  /** Queues an action. */
  readonly act: (action: SchedulerAction) => void;
  /** Sends a message to a connection. */
  readonly send: (connId: number, message: MinerMessage) => void;
  /** Writes a log record. */
  readonly log: (
    level: "info" | "warn",
    connId: number | undefined,
    code: LogCode,
    message: string,
    request?: RequestLogInfo,
  ) => void;
  /** The scheduler's time. */
  readonly now: () => number;
}

/**
 * The requests of the clients. Sans-I/O: time comes in as `now`.
 *
 * @example An empty table
 * ```ts
 * import { RequestTable } from "./requests.ts";
 * import { newSchedulerStats } from "./scheduler_types.ts";
 * import assert from "node:assert/strict";
 * const table = new RequestTable({
 *   maxRequests: 10, maxRequestsPerClient: 2, progressIntervalMillis: 1000,
 *   conns: new Map(), waiting: new Set(), stats: newSchedulerStats(),
 *   act: () => {}, send: () => {}, log: () => {}, now: () => 0,
 * });
 * assert.equal(table.live, 0);
 * ```
 */
export class RequestTable {
  readonly #maxRequests: number;
  readonly #maxRequestsPerClient: number;
  readonly #progressIntervalMillis: number;
  readonly #conns: Map<number, Conn>;
  readonly #waiting: Set<Req>;
  readonly #stats: SchedulerStats;
  readonly #act: RequestTableContext["act"];
  readonly #send: RequestTableContext["send"];
  readonly #log: RequestTableContext["log"];
  readonly #now: () => number;
  #liveRequests = 0;
  #clients = 0;
  #nextSeq = 1;

  /** Works on the scheduler's tables given in `context`. */
  constructor(context: RequestTableContext) {
    this.#maxRequests = context.maxRequests;
    this.#maxRequestsPerClient = context.maxRequestsPerClient;
    this.#progressIntervalMillis = context.progressIntervalMillis;
    this.#conns = context.conns;
    this.#waiting = context.waiting;
    this.#stats = context.stats;
    this.#act = context.act;
    this.#send = context.send;
    this.#log = context.log;
    this.#now = context.now;
  }

  /** Live requests (accepted, not answered, client connected). */
  get live(): number {
    return this.#liveRequests;
  }

  /**
   * Accepts a Request from a connection that is a client or has no role yet (it becomes a
   * client), or rejects it (logged, the connection closed).
   *
   * @returns Whether it was accepted (then there is work to dispatch).
   */
  add(connId: number, conn: Conn, m: RequestMessage, now: number): boolean {
    if (!requestFits(m.data, m.upper)) {
      this.reject(connId, conn, "Data is too long to forward to miners");
      return false;
    }
    if (this.#liveRequests >= this.#maxRequests) {
      this.reject(connId, conn, `${this.#liveRequests} requests are running`);
      return false;
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
      this.reject(connId, { role: "client", client }, "the client has too many requests");
      return false;
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
      { data: m.data, lower: m.lower, upper: m.upper, wantProgress: m.wantProgress },
    );
    return true;
  }

  /** Drops an unservable Request and closes its client (which ends its other requests too). */
  reject(connId: number, conn: Conn, why: string): void {
    this.#stats.requestsRejected++;
    this.#log("warn", connId, "requestRejected", `Cannot accept Request: ${why}`);
    if (conn.role === "client") this.removeClient(conn.client, "closed");
    this.#conns.set(connId, { role: "closed" });
    this.#act({ type: "close", connId });
  }

  /** A client is gone: its live requests stop (nothing more is handed out for them). */
  removeClient(client: Client, why: "lost" | "closed"): void {
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

  /**
   * Credits the Result of a chunk to its request (the first Result for a chunk counts; later
   * ones, and those of a request that is gone, are ignored); answers the request when it is
   * fully searched, else may send a Progress.
   */
  credit(chunk: Chunk, hash: bigint, nonce: bigint, now: number): void {
    const req = chunk.req;
    if (chunk.done || req.state !== "active") {
      this.#stats.resultsIgnored++;
      return;
    }
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
      const millis = this.#now() - r.arrivedAt;
      this.#log(
        "info",
        client.connId,
        "requestDone",
        `Request ${r.seq} done after ${formatDuration(millis)}: ` +
          `${r.bestHash} ${r.bestNonce}`,
        { data: r.data, lower: r.lower, upper: r.upper, wantProgress: r.wantProgress, millis },
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
}
