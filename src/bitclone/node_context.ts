/**
 * The state the BitClone node's parts share (`PeerNode` owns it; dialing, gossip, slots and the
 * connection events read and change it): the configuration, the connections, the address book,
 * our own addresses, the penalties and the action queue.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import type { ConnId } from "../core/mod.ts";
import { AddressBook } from "./address_book.ts";
import type { Conn } from "./node_conn.ts";
import type { NodeConfig } from "./peer_node_config.ts";
import { Backoffs, Discouragements } from "./node_penalties.ts";
import { ActionQueue } from "./node_actions.ts";
import { OwnAddresses } from "./node_self.ts";

/** The node's shared state (a plain object; `PeerNode` builds it). */
export interface NodeContext {
  /** The checked options. */
  readonly cfg: NodeConfig;
  /** The node's randomness (one stream: draws keep their order). */
  readonly prng: Prng;
  /** The address book. */
  readonly book: AddressBook;
  /** Every connection, by id (dialing, handshaking, established). */
  readonly conns: Map<ConnId, Conn>;
  /** Connections with lines or events to drain. */
  readonly dirty: Set<Conn>;
  /** Nonces of our outbound handshakes under way (self-connection detection, spec §C.3). */
  readonly pendingNonces: Set<string>;
  /** The manual (command-line) peers, canonical text, in dial order. */
  readonly manual: string[];
  /** Our own addresses. */
  readonly own: OwnAddresses;
  /** Dial back-off per address. */
  readonly backoff: Backoffs;
  /** Discouraged addresses and IPs. */
  readonly discouraged: Discouragements;
  /** The actions for the driver. */
  readonly out: ActionQueue;
  /** Set by shutdown: no more dials, back-offs or warnings. */
  stopped: boolean;
  /** When the next dial check is due (brought forward when a connection closes). */
  nextDialCheckAt: number;
}

/**
 * Builds the shared state of a node starting at `cfg.now`: an empty address book (keyed by
 * `addressBookKey`, else by a fork of the node's randomness), our loopback and external
 * addresses, no connections, no manual peers yet.
 *
 * @example A fresh node's state
 * ```ts
 * import { newNodeContext } from "./node_context.ts";
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const ctx = newNodeContext(nodeConfig({ prng: Prng.seeded(1), now: 5, listenPort: 4000 }));
 * assert.equal(ctx.book.size, 0);
 * assert.ok(ctx.own.has("127.0.0.1:4000"));
 * assert.equal(ctx.nextDialCheckAt, 5);
 * assert.equal(ctx.stopped, false);
 * ```
 */
export function newNodeContext(cfg: NodeConfig): NodeContext {
  const { prng, addressBookKey } = cfg;
  const backoff = new Backoffs(cfg, prng);
  const discouraged = new Discouragements(cfg.discourageMs);
  const book = new AddressBook(
    addressBookKey === undefined ? { prng: prng.fork() } : { key: addressBookKey },
  );
  return {
    cfg,
    prng,
    book,
    conns: new Map(),
    dirty: new Set(),
    pendingNonces: new Set(),
    manual: [],
    own: new OwnAddresses(book, cfg.listenPort, cfg.externalIp),
    backoff,
    discouraged,
    out: new ActionQueue(),
    stopped: false,
    nextDialCheckAt: cfg.now,
  };
}

/**
 * Unix seconds at a node time (`now` in milliseconds plus `unixMillisOffset`), never negative.
 *
 * @example An offset
 * ```ts
 * import { unixSeconds } from "./node_context.ts";
 * import assert from "node:assert/strict";
 * assert.equal(unixSeconds({ unixMillisOffset: 1_700_000_000_000 }, 2_500), 1_700_000_002);
 * assert.equal(unixSeconds({ unixMillisOffset: -5_000 }, 0), 0);
 * ```
 */
export function unixSeconds(cfg: { readonly unixMillisOffset: number }, now: number): number {
  return Math.max(0, Math.floor((now + cfg.unixMillisOffset) / 1000));
}

/**
 * Forgets a connection: out of the table, the dirty set and the pending nonces.
 *
 * @example Removing
 * ```ts
 * import { removeConn } from "./node_context.ts";
 * import { newConn } from "./node_conn.ts";
 * import assert from "node:assert/strict";
 * const c = newConn(-1, "outbound", 0);
 * c.nonce = "ab";
 * const ctx = { conns: new Map([[-1, c]]), dirty: new Set([c]), pendingNonces: new Set(["ab"]) };
 * removeConn(ctx, c);
 * assert.equal(ctx.conns.size + ctx.dirty.size + ctx.pendingNonces.size, 0);
 * ```
 */
export function removeConn(
  ctx: Pick<NodeContext, "conns" | "dirty" | "pendingNonces">,
  c: Conn,
): void {
  ctx.conns.delete(c.key);
  ctx.dirty.delete(c);
  if (c.nonce !== undefined) ctx.pendingNonces.delete(c.nonce);
}

/**
 * Forgets a connection that has no PeerConn (or must not report), emitting `close` unless the
 * driver already lost the socket.
 *
 * @example Dropping a dial
 * ```ts
 * import { dropConn } from "./node_context.ts";
 * import { newConn } from "./node_conn.ts";
 * import { ActionQueue } from "./node_actions.ts";
 * import assert from "node:assert/strict";
 * const c = newConn(-1, "outbound", 0);
 * const ctx = {
 *   conns: new Map([[-1, c]]), dirty: new Set<typeof c>(), pendingNonces: new Set<string>(),
 *   out: new ActionQueue(),
 * };
 * dropConn(ctx, c, "shutting down");
 * assert.deepEqual(ctx.out.poll(), { type: "close", conn: -1, reason: "shutting down" });
 * ```
 */
export function dropConn(
  ctx: Pick<NodeContext, "conns" | "dirty" | "pendingNonces" | "out">,
  c: Conn,
  why: string,
): void {
  removeConn(ctx, c);
  if (!c.socketGone) ctx.out.push({ type: "close", conn: c.key, reason: why });
}
