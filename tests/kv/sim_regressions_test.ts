/**
 * Node-core bugs the key-value simulation found, each pinned down on the bare core.
 *
 * @module
 */

import assert from "node:assert/strict";
import { KvNode } from "../../src/kv/node_core.ts";
import { encodeMessage } from "../../src/kv/codec.ts";
import { Prng } from "../../src/util/prng.ts";
import type { StreamAction } from "../../src/core/mod.ts";
import type { PersistAction } from "../../src/kv/node_context.ts";

function drain(node: KvNode): (StreamAction | PersistAction)[] {
  const out: (StreamAction | PersistAction)[] = [];
  for (let a = node.pollAction(); a !== undefined; a = node.pollAction()) out.push(a);
  return out;
}

function handshake(name: string, ip: string): Uint8Array {
  return encodeMessage({
    type: "Handshake",
    nodeName: name,
    tcpAddress: `${ip}:9000`,
    kvExt: 1,
    boot: 1,
  });
}

Deno.test("a push retry that came due while every push slot is busy does not spin the timer", () => {
  // Found by the partition/crash simulation (seed 59): the host ticked the node 1000 times at one
  // instant because nextTimeout() kept returning a passed retry time.
  const node = new KvNode({
    name: "ts-a",
    advertise: "10.0.0.1:9000",
    boot: 1,
    prng: Prng.seeded(1),
    pushParallel: 1,
  });
  node.handleDatagram("10.0.0.2:8888", handshake("ts-b", "10.0.0.2"), 0);
  node.handleDatagram("10.0.0.3:8888", handshake("ts-c", "10.0.0.3"), 0);
  drain(node); // the pulls
  const client = node.handleAccept("10.0.1.1:5000", "10.0.0.1:9000", 1);
  node.handleData(client, encodeMessage({ type: "Setvalue", key: "k", value: "v" }), 1);
  const persist = drain(node).find((a) => a.type === "persist");
  assert.ok(persist?.type === "persist");
  node.handlePersisted(persist.id, true, 2);
  const first = drain(node).find((a) => a.type === "connect" && a.to === "10.0.0.2:9000");
  assert.ok(first?.type === "connect", "a push to ts-b");
  node.handleError(first.conn, "refused", 3); // retried at 1003; ts-c's push takes the one slot
  const second = drain(node).find((a) => a.type === "connect" && a.to === "10.0.0.3:9000");
  assert.ok(second?.type === "connect", "a push to ts-c");
  node.handleTick(1500); // ts-b's retry is due, but ts-c's push (deadline 2003) holds the slot
  const next = node.nextTimeout();
  assert.ok(next !== undefined && next > 1500, `next timeout ${next} is not after 1500`);
});
