/**
 * Which connections the peer node lets go: the inbound peer evicted for a newcomer when every slot
 * is taken (spec §C.9), and the surplus closed once more than the target are established (spec
 * §A.8.1).
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { networkGroup } from "./address.ts";
import type { Conn } from "./node_conn.ts";

/**
 * The inbound connection to evict for a newcomer (spec §C.9), or `undefined`: established
 * inbound peers that are not manual, less 1 protected by keyed network group (`hash`), 2 by the
 * lowest round trip and the older half; among the rest the discouraged ones if any, then the
 * largest network group (the youngest on a tie), and in it the youngest connection.
 *
 * @example Seven inbound peers in one group
 * ```ts
 * import { pickEviction } from "./node_eviction.ts";
 * import { newConn } from "./node_conn.ts";
 * import assert from "node:assert/strict";
 * const inbound = [1, 2, 3, 4, 5, 6, 7].map((key) => ({
 *   ...newConn(key, "inbound", 0), state: "established" as const, establishedAt: key,
 *   remote: { ip: "198.51.100.7", v6: false, port: 5000 + key }, identityText: `x:${key}`,
 * }));
 * assert.equal(pickEviction(inbound.slice(0, 3), () => 0, () => false), undefined); // protected
 * assert.equal(pickEviction(inbound, () => 0, () => false)?.key, 7); // the youngest
 * assert.equal(pickEviction(inbound, () => 0, (text) => text === "x:6")?.key, 6); // discouraged
 * ```
 */
export function pickEviction(
  conns: Iterable<Conn>,
  hash: (group: string) => number,
  isDiscouraged: (text: string) => boolean,
): Conn | undefined {
  let candidates = [...conns].filter((c) =>
    c.role === "inbound" && c.state === "established" && !c.manual
  );
  const groupOf = (c: Conn) => networkGroup(c.remote!);
  // Protect 1 by keyed network group, 2 by lowest round trip, then the older half.
  candidates.sort((a, b) => hash(groupOf(b)) - hash(groupOf(a)));
  candidates = candidates.slice(1);
  const rtt = (c: Conn) => c.conn?.lastRttMs ?? Infinity;
  candidates.sort((a, b) => rtt(a) - rtt(b));
  candidates = candidates.slice(2);
  candidates.sort((a, b) => a.establishedAt - b.establishedAt);
  candidates = candidates.slice(Math.floor(candidates.length / 2));
  if (candidates.length === 0) return undefined;
  const discouraged = candidates.filter((c) =>
    c.identityText !== undefined && isDiscouraged(c.identityText)
  );
  if (discouraged.length > 0) candidates = discouraged;
  const groups = new Map<string, Conn[]>();
  for (const c of candidates) {
    const g = groupOf(c);
    const list = groups.get(g) ?? [];
    list.push(c);
    groups.set(g, list);
  }
  let best: Conn[] | undefined;
  const youngest = (list: Conn[]) => Math.max(...list.map((c) => c.establishedAt));
  for (const list of groups.values()) {
    if (
      best === undefined || list.length > best.length ||
      (list.length === best.length && youngest(list) > youngest(best))
    ) best = list;
  }
  assert(best !== undefined && best.length > 0, "no eviction group");
  return best.reduce((a, b) => (b.establishedAt > a.establishedAt ? b : a));
}

/**
 * The connections to close to bring `established` down by `surplus` (spec §A.8.1): inbound ones
 * first (outbound ones are our choice, and keep us out of an eclipse by inbound peers), longest
 * established first (their peers are long known to the network and find another slot at once; a
 * newcomer keeps the slots it just found); then outbound ones, longest established first, while
 * more than `minOutbound` remain. Manual peers stay.
 *
 * @example Inbound peers go first; the minimum of outbound ones stays
 * ```ts
 * import { trimVictims } from "./node_eviction.ts";
 * import { newConn } from "./node_conn.ts";
 * import assert from "node:assert/strict";
 * const peer = (key: number, role: "inbound" | "outbound") =>
 *   ({ ...newConn(key, role, 0), state: "established" as const, establishedAt: key });
 * const established = [peer(1, "outbound"), peer(2, "outbound"), peer(3, "inbound")];
 * assert.deepEqual(trimVictims(established, 1, 1).map((c) => c.key), [3]);
 * assert.deepEqual(trimVictims(established, 3, 1).map((c) => c.key), [3, 1]);
 * ```
 */
export function trimVictims(
  established: readonly Conn[],
  surplus: number,
  minOutbound: number,
): Conn[] {
  let outbound = established.filter((c) => c.role === "outbound" && !c.refresh).length;
  const oldestFirst = (a: Conn, b: Conn) => a.establishedAt - b.establishedAt || a.key - b.key;
  const ordered = [
    ...established.filter((c) => c.role === "inbound" && !c.manual).sort(oldestFirst),
    ...established.filter((c) => c.role === "outbound" && !c.manual && !c.refresh).sort(
      oldestFirst,
    ),
  ];
  const victims: Conn[] = [];
  for (const c of ordered) {
    if (surplus <= 0) break;
    if (c.role === "outbound") {
      if (outbound <= minOutbound) break;
      outbound--;
    }
    surplus--;
    victims.push(c);
  }
  return victims;
}
