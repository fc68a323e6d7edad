/**
 * Link settings for the simulator: fault options per direction (a→b) on top of defaults, and
 * partitions between groups of addresses.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import type { Addr } from "../core/mod.ts";

/**
 * Faults and delays of one direction of a link (a→b). Datagram fields apply to datagrams; streams
 * use `delayMs` and `chunkBytesMax` only (a stream never loses, duplicates or corrupts bytes).
 */
export interface LinkOptions {
  /**
   * Probability (0..1) that a datagram is lost.
   *
   * @default {0}
   */
  dropRate?: number;
  /**
   * Probability (0..1) that a datagram is delivered twice (each copy has its own delay).
   *
   * @default {0}
   */
  dupRate?: number;
  /**
   * One-way delay `[min, max]` in ms, drawn uniformly per datagram or stream chunk. A range wider
   * than the gap between sends reorders datagrams (never stream bytes).
   *
   * @default {[1, 1]}
   */
  delayMs?: readonly [number, number];
  /**
   * Probability (0..1) that a datagram copy arrives with 1 to 3 of its bytes changed.
   *
   * @default {0}
   */
  corruptRate?: number;
  /**
   * Largest datagram in bytes; larger ones are dropped (`mtu-drop`).
   *
   * @default {Infinity}
   */
  mtu?: number;
  /**
   * Largest chunk a stream delivers in one `data` event; writes are split at random points into
   * chunks of 1..`chunkBytesMax` bytes, and chunks ready at the same time are coalesced.
   *
   * @default {1460}
   */
  chunkBytesMax?: number;
}

/**
 * Link options with every field filled in.
 *
 * @example Defaults
 * ```ts
 * import { LinkTable } from "./links.ts";
 * import assert from "node:assert/strict";
 * const resolved = new LinkTable().get("a:1", "b:2");
 * assert.equal(resolved.dropRate, 0);
 * assert.equal(resolved.delayMs[0], 1);
 * ```
 */
export type ResolvedLinkOptions = Readonly<Required<LinkOptions>>;

const BUILTIN: ResolvedLinkOptions = {
  dropRate: 0,
  dupRate: 0,
  delayMs: [1, 1],
  corruptRate: 0,
  mtu: Infinity,
  chunkBytesMax: 1460,
};

function checkRate(name: string, p: number | undefined): void {
  if (p === undefined) return;
  if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
    throw new RangeError(`Cannot set link options: ${name} ${p} is not in [0, 1]`);
  }
}

/**
 * Validates link options.
 *
 * @throws {RangeError} When a rate is outside [0, 1], the delay range is not `0 <= min <= max`
 * (finite), or `mtu`/`chunkBytesMax` is not a positive count.
 * @example Rejecting a bad rate
 * ```ts
 * import { checkLinkOptions } from "./links.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => checkLinkOptions({ dropRate: 2 }), RangeError);
 * ```
 */
export function checkLinkOptions(options: LinkOptions): void {
  checkRate("dropRate", options.dropRate);
  checkRate("dupRate", options.dupRate);
  checkRate("corruptRate", options.corruptRate);
  const d = options.delayMs;
  if (d !== undefined) {
    if (
      !Array.isArray(d) || d.length !== 2 || !Number.isFinite(d[0]) || !Number.isFinite(d[1]) ||
      d[0] < 0 || d[1] < d[0]
    ) {
      throw new RangeError(
        `Cannot set link options: delayMs ${JSON.stringify(d)} is not [min, max]`,
      );
    }
  }
  const mtu = options.mtu;
  if (mtu !== undefined && !(mtu === Infinity || (Number.isSafeInteger(mtu) && mtu >= 0))) {
    throw new RangeError(`Cannot set link options: mtu ${mtu} is not a byte count`);
  }
  const chunk = options.chunkBytesMax;
  if (chunk !== undefined && !(Number.isSafeInteger(chunk) && chunk >= 1)) {
    throw new RangeError(`Cannot set link options: chunkBytesMax ${chunk} is not a positive count`);
  }
}

/**
 * Draws a delay uniformly from `[min, max]` (no draw when `min === max`).
 *
 * @example A fixed delay draws nothing
 * ```ts
 * import { drawDelay } from "./links.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * assert.equal(drawDelay(Prng.seeded(1), [5, 5]), 5);
 * ```
 */
export function drawDelay(prng: Prng, range: readonly [number, number]): number {
  const [min, max] = range;
  return min === max ? min : min + prng.float() * (max - min);
}

function key(from: Addr, to: Addr): string {
  return `${from}\u0000${to}`;
}

/**
 * Per-direction link options over defaults, plus partitions. `SimNet` owns one; tests use it
 * through `SimNet.setLink()`, `partition()`, `isolate()` and `heal()`.
 *
 * @example Overriding one direction
 * ```ts
 * import { LinkTable } from "./links.ts";
 * import assert from "node:assert/strict";
 * const links = new LinkTable({ dropRate: 0.1 });
 * links.setLink("a:1", "b:2", { dropRate: 0.5 });
 * assert.equal(links.get("a:1", "b:2").dropRate, 0.5);
 * assert.equal(links.get("b:2", "a:1").dropRate, 0.1);
 * ```
 */
export class LinkTable {
  #defaults: ResolvedLinkOptions;
  #overrides = new Map<string, LinkOptions>();
  #resolved = new Map<string, ResolvedLinkOptions>();
  #cutPairs = new Set<string>();
  #isolated = new Set<Addr>();

  /**
   * Makes a table whose links all use `defaults` (over the built-in defaults).
   *
   * @throws {RangeError} When an option is out of range.
   * @example A table
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new LinkTable({ mtu: 1500 }).get("a:1", "b:2").mtu, 1500);
   * ```
   */
  constructor(defaults: LinkOptions = {}) {
    checkLinkOptions(defaults);
    this.#defaults = { ...BUILTIN, ...stripUndefined(defaults) };
  }

  /**
   * Changes the defaults (merged into the current ones); links with overrides keep them.
   *
   * @example Ending a lossy phase
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * const links = new LinkTable({ dropRate: 0.3 });
   * links.setDefaults({ dropRate: 0 });
   * assert.equal(links.get("a:1", "b:2").dropRate, 0);
   * ```
   */
  setDefaults(options: LinkOptions): void {
    checkLinkOptions(options);
    this.#defaults = { ...this.#defaults, ...stripUndefined(options) };
    this.#resolved.clear();
  }

  /**
   * Overrides options for the direction `from → to` (merged into earlier overrides of it); fields
   * left out follow the defaults.
   *
   * @example A one-way lossy link
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * const links = new LinkTable();
   * links.setLink("a:1", "b:2", { dropRate: 1 });
   * assert.equal(links.get("b:2", "a:1").dropRate, 0);
   * ```
   */
  setLink(from: Addr, to: Addr, options: LinkOptions): void {
    checkLinkOptions(options);
    const k = key(from, to);
    this.#overrides.set(k, { ...this.#overrides.get(k), ...stripUndefined(options) });
    this.#resolved.delete(k);
  }

  /**
   * The options in force for `from → to`.
   *
   * @example Reading options
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new LinkTable().get("a:1", "b:2").mtu, Infinity);
   * ```
   */
  get(from: Addr, to: Addr): ResolvedLinkOptions {
    const k = key(from, to);
    let resolved = this.#resolved.get(k);
    if (resolved === undefined) {
      resolved = { ...this.#defaults, ...this.#overrides.get(k) };
      this.#resolved.set(k, resolved);
    }
    return resolved;
  }

  /**
   * Cuts every pair (a, b) with a in `groupA` and b in `groupB`, both directions.
   *
   * @example A partition
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * const links = new LinkTable();
   * links.partition(["a:1"], ["b:2", "c:3"]);
   * assert.ok(links.isCut("c:3", "a:1"));
   * assert.equal(links.isCut("b:2", "c:3"), false);
   * ```
   */
  partition(groupA: readonly Addr[], groupB: readonly Addr[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) continue;
        this.#cutPairs.add(key(a, b));
        this.#cutPairs.add(key(b, a));
      }
    }
  }

  /**
   * Cuts `addr` off from every other address, including ones bound later.
   *
   * @example Isolating a node
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * const links = new LinkTable();
   * links.isolate("a:1");
   * assert.ok(links.isCut("z:9", "a:1"));
   * ```
   */
  isolate(addr: Addr): void {
    this.#isolated.add(addr);
  }

  /**
   * Heals partitions. With no argument: all of them. With `groupA` only: every partition and
   * isolation involving a member of `groupA`. With both: the pairs between the two groups.
   *
   * @example Healing everything
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * const links = new LinkTable();
   * links.isolate("a:1");
   * links.heal();
   * assert.equal(links.isCut("a:1", "b:2"), false);
   * ```
   */
  heal(groupA?: readonly Addr[], groupB?: readonly Addr[]): void {
    if (groupA === undefined) {
      this.#cutPairs.clear();
      this.#isolated.clear();
      return;
    }
    if (groupB === undefined) {
      const members = new Set(groupA);
      for (const a of members) this.#isolated.delete(a);
      for (const k of [...this.#cutPairs]) {
        const [from, to] = k.split("\u0000");
        if (members.has(from) || members.has(to)) this.#cutPairs.delete(k);
      }
      return;
    }
    for (const a of groupA) {
      for (const b of groupB) {
        this.#cutPairs.delete(key(a, b));
        this.#cutPairs.delete(key(b, a));
      }
    }
  }

  /**
   * Whether traffic `from → to` is cut by a partition or isolation.
   *
   * @example Not cut by default
   * ```ts
   * import { LinkTable } from "./links.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new LinkTable().isCut("a:1", "b:2"), false);
   * ```
   */
  isCut(from: Addr, to: Addr): boolean {
    if (this.#isolated.size > 0 && (this.#isolated.has(from) || this.#isolated.has(to))) {
      return from !== to;
    }
    return this.#cutPairs.size > 0 && this.#cutPairs.has(key(from, to));
  }
}

function stripUndefined(options: LinkOptions): LinkOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as LinkOptions;
}
