/**
 * The BitClone node's persistence and status: the `save` action (every `saveIntervalMs` when the
 * book changed, and on shutdown), the connection and address counts, and the status line logged
 * every `statusIntervalMs`.
 *
 * @module
 */

import type { PeerNodeStatus } from "./peer_node_types.ts";
import type { NodeContext } from "./node_context.ts";

/**
 * Connection and address counts of a node (`PeerNode.status()`).
 *
 * @example A fresh node
 * ```ts
 * import { nodeStatus } from "./node_status.ts";
 * import { newNodeContext } from "./node_context.ts";
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const ctx = newNodeContext(nodeConfig({ prng: Prng.seeded(1), now: 0 }));
 * assert.deepEqual(nodeStatus(ctx), { inbound: 0, outbound: 0, pending: 0, known: 0, tried: 0 });
 * ```
 */
export function nodeStatus(ctx: Pick<NodeContext, "conns" | "book">): PeerNodeStatus {
  let inbound = 0, outbound = 0, pending = 0;
  for (const c of ctx.conns.values()) {
    if (c.state !== "established") pending++;
    else if (c.role === "inbound") inbound++;
    else outbound++;
  }
  return { inbound, outbound, pending, known: ctx.book.size, tried: ctx.book.triedCount };
}

/**
 * The node's save and status-line schedule.
 *
 * @example A changed book is saved when due
 * ```ts
 * import { NodeReports } from "./node_status.ts";
 * import { newNodeContext } from "./node_context.ts";
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const ctx = newNodeContext(nodeConfig({ prng: Prng.seeded(1), now: 0, saveIntervalMs: 1000 }));
 * const reports = new NodeReports(ctx, 0);
 * assert.equal(reports.nextDue, 1000);
 * ctx.book.add("198.51.100.7:8333", 0, 0);
 * reports.tick(1000);
 * assert.equal(ctx.out.poll()?.type, "save");
 * ```
 */
export class NodeReports {
  readonly #ctx: NodeContext;
  #nextSaveAt: number;
  #nextStatusAt: number;
  #savedChanges: number;

  /** The first save and status line are due an interval after `now`; the book counts as saved. */
  constructor(ctx: NodeContext, now: number) {
    this.#ctx = ctx;
    this.#nextSaveAt = now + ctx.cfg.saveIntervalMs;
    this.#nextStatusAt = now + ctx.cfg.statusIntervalMs;
    this.#savedChanges = ctx.book.changes;
  }

  /** When {@linkcode NodeReports.tick} next has work. */
  get nextDue(): number {
    return Math.min(this.#nextSaveAt, this.#nextStatusAt);
  }

  /** Records the book as saved as it is now (after loading it). */
  markSaved(): void {
    this.#savedChanges = this.#ctx.book.changes;
  }

  /** Emits `save` with the whole book. */
  save(): void {
    this.#savedChanges = this.#ctx.book.changes;
    this.#ctx.out.push({ type: "save", peers: this.#ctx.book.toSaved() });
  }

  /** Saves when due and the book changed, then logs the status line when due. */
  tick(now: number): void {
    const { cfg, book, out } = this.#ctx;
    if (now >= this.#nextSaveAt) {
      this.#nextSaveAt = now + cfg.saveIntervalMs;
      if (book.changes !== this.#savedChanges) this.save();
    }
    if (now >= this.#nextStatusAt) {
      this.#nextStatusAt = now + cfg.statusIntervalMs;
      const s = nodeStatus(this.#ctx);
      out.log(
        "info",
        `status: ${s.inbound} in, ${s.outbound} out, ${s.pending} pending; ${s.known} addresses known (${s.tried} tried)`,
        { ...s },
      );
    }
  }
}
