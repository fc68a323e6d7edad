/**
 * The connection table of an {@linkcode LspEndpoint} (`endpoint.ts`): its live connections by
 * source address and by ConnID, the ConnIDs of recently ended connections (to explain a refused
 * command), ConnID allocation (sequential like the reference, or random), the table bound, and a
 * server's intake of Connects from new addresses. Pure: randomness comes in as a
 * {@linkcode Prng}.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import type { Prng } from "../util/mod.ts";
import { type Addr, checkReadQueueMax, Conn, type LspStats } from "./conn.ts";
import { LspConnectionError } from "./errors.ts";
import type { LspParams } from "./params.ts";
import { checkMaxInflightBytes } from "./sender.ts";

/**
 * Options of {@linkcode LspEndpoint.server}.
 */
export interface LspServerOptions {
  /**
   * Size of the connection table. A Connect from a new address while it is full is dropped (and
   * counted as `tableFull`): a flood of Connects from many ports cannot grow memory without
   * bound. Connections that never talk leave the table after EpochLimit epochs.
   *
   * @default 1024
   */
  maxConnections?: number;
  /**
   * Answer a duplicate Connect from a connected address with the original `Ack(connId, isn)`,
   * at most once per epoch (spec §17). The reference never does; keep it off for the ISN test.
   *
   * @default false
   */
  answerDuplicateConnect?: boolean;
  /**
   * Draw ConnIDs at random (1..2^31 − 1, unique among live and recently ended connections)
   * from the endpoint's PRNG instead of numbering them 1, 2, 3, … like the reference.
   *
   * @default false
   */
  randomConnIds?: boolean;
  /**
   * Per connection, how many delivered `message`s may wait unread (until the endpoint's
   * `markRead()`) before new Data is refused without an Ack: push-back on the sender, which
   * retransmits later as under loss. A positive integer, or `Infinity` for no bound.
   *
   * @default Infinity
   */
  readQueueMax?: number;
  /**
   * Per connection, most datagram bytes of Data in flight (sent, not yet acknowledged): a local
   * limit below ω and M that keeps a window of large messages within the client's socket
   * buffer. A positive integer, or `Infinity` (ω and M alone, like the reference).
   *
   * @default Infinity
   */
  maxInflightBytes?: number;
}

/** Largest accepted `maxConnections`. */
const MAX_CONNECTIONS_LIMIT = 1 << 20;
/** How many ended ConnIDs are remembered to explain a refused command. */
const ENDED_HISTORY = 1024;
/** Random ConnIDs are drawn below this bound. */
const RANDOM_CONN_ID_MAX = 2 ** 31 - 1;

/**
 * The live connections of one endpoint, by peer address and (once established) by ConnID, with
 * the ConnIDs of the last 1024 ended ones. A client's connect attempt is in the table by address
 * only, until its `connected` event gives it a ConnID.
 *
 * @example A server table admits a Connect and numbers it like the reference
 * ```ts
 * import { ConnTable } from "./conn_table.ts";
 * import { newLspStats } from "./stats.ts";
 * import { lspParams } from "./params.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const table = new ConnTable(Prng.seeded(1), { maxConnections: 1 });
 * const stats = newLspStats();
 * const conn = table.accept("C", 100, lspParams(), stats);
 * assert.equal(conn?.connId, 1);
 * assert.equal(table.byAddr("C"), conn);
 * assert.equal(table.accept("D", 5, lspParams(), stats), undefined); // full
 * assert.equal(stats.dropped.tableFull, 1);
 * ```
 */
export class ConnTable {
  readonly #prng: Prng;
  readonly #maxConnections: number;
  readonly #answerDuplicateConnect: boolean;
  readonly #randomConnIds: boolean;
  readonly #readQueueMax: number;
  readonly #maxInflightBytes: number;

  readonly #byAddr = new Map<Addr, Conn>();
  readonly #byId = new Map<number, Conn>();
  readonly #ended = new Map<number, "closed" | "lost">();
  #nextConnId = 1;

  /**
   * Makes an empty table.
   *
   * @param prng Randomness (random ConnIDs only).
   * @param options Table size and the server's optional behaviours.
   * @throws {RangeError} When `maxConnections` is not an integer in 1..2^20, or `readQueueMax`
   * is neither a positive integer nor `Infinity`.
   */
  constructor(prng: Prng, options: LspServerOptions = {}) {
    const { maxConnections = 1024, answerDuplicateConnect = false, randomConnIds = false } =
      options;
    if (
      !Number.isInteger(maxConnections) || maxConnections < 1 ||
      maxConnections > MAX_CONNECTIONS_LIMIT
    ) {
      throw new RangeError(
        `Cannot create LSP server: maxConnections ${maxConnections} is not in 1..${MAX_CONNECTIONS_LIMIT}`,
      );
    }
    this.#prng = prng;
    this.#maxConnections = maxConnections;
    this.#answerDuplicateConnect = answerDuplicateConnect;
    this.#randomConnIds = randomConnIds;
    this.#readQueueMax = checkReadQueueMax(options.readQueueMax ?? Infinity);
    this.#maxInflightBytes = checkMaxInflightBytes(options.maxInflightBytes ?? Infinity);
  }

  /** Live connections (including a client's connect attempt and closing connections). */
  get size(): number {
    return this.#byAddr.size;
  }

  /**
   * The live connection of a peer address, if any.
   *
   * @param addr The peer address.
   * @returns The connection, or `undefined`.
   */
  byAddr(addr: Addr): Conn | undefined {
    return this.#byAddr.get(addr);
  }

  /**
   * The established live connection with a ConnID, if any.
   *
   * @param connId The ConnID.
   * @returns The connection, or `undefined`.
   */
  byId(connId: number): Conn | undefined {
    return this.#byId.get(connId);
  }

  /**
   * A snapshot of the live connections, in the order they entered the table.
   *
   * @returns The connections.
   */
  conns(): Conn[] {
    return [...this.#byAddr.values()];
  }

  /**
   * The ConnIDs of the established connections, in creation order.
   *
   * @returns The ConnIDs.
   */
  connIds(): number[] {
    return [...this.#byId.keys()];
  }

  /**
   * Enters a client's connect attempt (by address only).
   *
   * @param conn The connecting client connection.
   */
  addAttempt(conn: Conn): void {
    this.#byAddr.set(conn.peer, conn);
  }

  /**
   * Records that a connection got its ConnID (its `connected` event).
   *
   * @param connId The ConnID.
   * @param conn The connection.
   */
  established(connId: number, conn: Conn): void {
    this.#byId.set(connId, conn);
  }

  /**
   * A server's intake of a Connect from an address with no connection: unless the table is full
   * (counted as `tableFull`), allocates a ConnID and enters a new server connection.
   *
   * @param from The Connect's source address.
   * @param isn The Connect's SeqNum.
   * @param params The endpoint's parameters.
   * @param stats The endpoint's counters, shared with the connection.
   * @returns The new connection, or `undefined` when the table is full.
   */
  accept(from: Addr, isn: number, params: LspParams, stats: LspStats): Conn | undefined {
    assert(!this.#byAddr.has(from), "a Connect from a connected address reached the intake");
    if (this.#byAddr.size >= this.#maxConnections) {
      stats.dropped.tableFull++;
      return undefined;
    }
    const connId = this.#allocateConnId();
    const conn = Conn.server(params, from, connId, isn, {
      stats,
      answerDuplicateConnect: this.#answerDuplicateConnect,
      readQueueMax: this.#readQueueMax,
      maxInflightBytes: this.#maxInflightBytes,
    });
    this.#byAddr.set(from, conn);
    this.#byId.set(connId, conn);
    return conn;
  }

  /**
   * Forgets an ended connection, remembering its ConnID and how it ended.
   *
   * @param conn A connection that is terminal and in the table.
   */
  remove(conn: Conn): void {
    assert(this.#byAddr.get(conn.peer) === conn, "an ended connection is not in the table");
    this.#byAddr.delete(conn.peer);
    if (conn.connId === 0) return;
    this.#byId.delete(conn.connId);
    this.#ended.set(conn.connId, conn.state === "closed" ? "closed" : "lost");
    if (this.#ended.size > ENDED_HISTORY) {
      this.#ended.delete(this.#ended.keys().next().value!);
    }
  }

  /**
   * The established connection a command names, or the error that refuses the command.
   *
   * @param action The command, for the error message.
   * @param connId The ConnID.
   * @param attempt A client's connection to its server, if the endpoint is a client.
   * @returns The connection.
   * @throws {LspConnectionError} With reason `connecting` (a client still connecting), `closed`
   * or `lost` (recently ended), else `unknown`.
   */
  connFor(action: string, connId: number, attempt: Conn | undefined): Conn {
    const conn = this.#byId.get(connId);
    if (conn !== undefined) return conn;
    const reason = attempt?.state === "connecting"
      ? "connecting"
      : (this.#ended.get(connId) ?? "unknown");
    throw new LspConnectionError(action, connId, reason);
  }

  #allocateConnId(): number {
    if (this.#randomConnIds) {
      for (let attempt = 0; attempt < 64; attempt++) {
        const id = this.#prng.int(1, RANDOM_CONN_ID_MAX);
        if (!this.#byId.has(id) && !this.#ended.has(id)) return id;
      }
      // 64 collisions in a space of 2^31 ids with at most ~2^20 taken: practically never.
    }
    while (this.#byId.has(this.#nextConnId) || this.#ended.has(this.#nextConnId)) {
      this.#nextConnId++;
    }
    return this.#nextConnId++;
  }
}
