/**
 * The BitClone node's connection slots: whether an inbound newcomer gets a slot (evicting an
 * inbound peer per spec §C.9, or refusing with `reject|503|busy|try later`), and the trim of the
 * surplus once more than `targetPeers` have been established for `trimDelayMs` (spec §A.8.1);
 * discouragement of misbehaving peers (spec §C.10), which both consult.
 *
 * @module
 */

import { addressScope, type PeerAddress } from "./address.ts";
import { encodeMessage } from "./messages.ts";
import type { RejectFields } from "./peer_conn.ts";
import type { ConnId } from "../core/mod.ts";
import type { Conn } from "./node_conn.ts";
import type { NodeContext } from "./node_context.ts";
import { pickEviction, trimVictims } from "./node_eviction.ts";

/** Connections past the target that may wait `trimDelayMs`; more are closed at once. */
const TRIM_SLACK = 1;

/**
 * The reject sent when no slot is free.
 *
 * @example The fields
 * ```ts
 * import { BUSY } from "./node_slots.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(BUSY, { code: 503, reason: "busy", details: "try later" });
 * ```
 */
export const BUSY: RejectFields = { code: 503, reason: "busy", details: "try later" };

/**
 * The node's slot policy (it remembers since when the surplus has lasted).
 *
 * @example No inbound slot: refused
 * ```ts
 * import { NodeSlots } from "./node_slots.ts";
 * import { newNodeContext } from "./node_context.ts";
 * import { nodeConfig } from "./peer_node_config.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const ctx = newNodeContext(nodeConfig({ prng: Prng.seeded(1), now: 0, maxInbound: 0 }));
 * const slots = new NodeSlots(ctx);
 * const remote = { ip: "192.0.2.9", v6: false, port: 50123 };
 * assert.equal(slots.admit(1, remote, "192.0.2.9:50123", 0), false);
 * assert.equal(ctx.out.poll()?.type, "write"); // reject|503|busy|try later
 * assert.deepEqual(ctx.out.poll(), { type: "close", conn: 1, reason: "no free slot" });
 * ```
 */
export class NodeSlots {
  readonly #ctx: NodeContext;
  /** Since when more than the target have been established (spec §A.8.1), or `undefined`. */
  #surplusSince: number | undefined;

  /** Slots over the node's shared state. */
  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
  }

  /** When the trim is due, or `undefined` while there is no surplus. */
  get trimAt(): number | undefined {
    return this.#surplusSince === undefined
      ? undefined
      : this.#surplusSince + this.#ctx.cfg.trimDelayMs;
  }

  /**
   * Whether an inbound newcomer (`key`, from `remote`) may have a slot: when none is free (or a
   * discouraged IP would take the last one), an inbound peer is evicted (spec §C.9), else the
   * newcomer is refused (`reject|503`, `close`) and `false` returned.
   */
  admit(key: ConnId, remote: PeerAddress, remoteText: string, now: number): boolean {
    const { conns, cfg, out, dirty } = this.#ctx;
    let inbound = 0;
    for (const c of conns.values()) if (c.role === "inbound") inbound++;
    const free = Math.min(cfg.maxConnections - conns.size, cfg.maxInbound - inbound);
    const discouraged = addressScope(remote) === "public" &&
      this.#ctx.discouraged.has(remote.ip, now);
    if (free <= 0 || (discouraged && free < 2)) {
      const victim = free <= 0 && !discouraged ? this.#pickEviction(now) : undefined;
      if (victim === undefined) {
        this.#refuse(key, `inbound ${remoteText} refused: no free slot`);
        return false;
      }
      out.log("info", `evicting inbound ${victim.identityText ?? "?"} for ${remoteText}`, {
        key: victim.key,
      });
      victim.conn?.close("evicted for a new inbound connection");
      dirty.add(victim);
    }
    return true;
  }

  /** Spec §C.9: the inbound connection to evict for a newcomer, or `undefined`. */
  #pickEviction(now: number): Conn | undefined {
    return pickEviction(
      this.#ctx.conns.values(),
      (group) => this.#ctx.book.hash(group),
      (text) => this.#ctx.discouraged.has(text, now),
    );
  }

  /** Whether the surplus has waited `trimDelayMs` (the trim is due). */
  trimDue(now: number): boolean {
    return this.#surplusSince !== undefined &&
      now >= this.#surplusSince + this.#ctx.cfg.trimDelayMs;
  }
  /**
   * Spec §A.8.1: after `trimDelayMs` above the target, closes the surplus down to the target.
   * Inbound connections go first (outbound ones are our choice, and keep us out of an eclipse by
   * inbound peers), longest established first (their peers are long known to the network and
   * find another slot at once; a newcomer keeps the slots it just found); then outbound ones,
   * longest established first, while more than `minOutbound` remain. Manual peers stay.
   */
  trim(now: number): void {
    if (this.#ctx.stopped || this.#ctx.cfg.targetPeers < 1) {
      this.#surplusSince = undefined;
      return;
    }
    const est = [...this.#ctx.conns.values()].filter((c) => c.state === "established");
    if (est.length <= this.#ctx.cfg.targetPeers) {
      this.#surplusSince = undefined;
      return;
    }
    this.#surplusSince ??= now;
    const due = this.trimDue(now);
    const surplus = est.length - this.#ctx.cfg.targetPeers - (due ? 0 : TRIM_SLACK);
    if (surplus <= 0) return;
    if (due) this.#surplusSince = undefined;
    for (const c of trimVictims(est, surplus, this.#ctx.cfg.minOutbound)) {
      this.#ctx.out.log(
        "debug",
        `closing ${c.role} ${c.identityText ?? `#${c.key}`}: over the target`,
        {
          key: c.key,
        },
      );
      c.conn?.close(`over the target of ${this.#ctx.cfg.targetPeers} connections`);
      this.#ctx.dirty.add(c);
    }
  }
  #refuse(key: ConnId, message: string): void {
    this.#ctx.out.push({
      type: "write",
      conn: key,
      bytes: encodeMessage({ type: "reject", ...BUSY }),
    });
    this.#ctx.out.push({ type: "close", conn: key, reason: "no free slot" });
    this.#ctx.out.log("debug", message, { key });
  }
  /** Spec §C.10: discourages a misbehaving peer's address (or IP) for `discourageMs`. */
  discourage(text: string, now: number): void {
    this.#ctx.discouraged.discourage(text, now);
    this.#ctx.out.log(
      "warn",
      `${text} discouraged for ${
        Math.round(this.#ctx.cfg.discourageMs / 3_600_000)
      } h (misbehaviour)`,
    );
  }
}
