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

/** Feeds one request to `node` on a fresh connection, saves what it persists, returns the reply. */
function request(node: KvNode, message: Parameters<typeof encodeMessage>[0], now: number): string {
  const conn = node.handleAccept("10.0.1.1:5000", "10.0.0.1:9000", now);
  node.handleData(conn, encodeMessage(message), now);
  let reply = "";
  for (let round = 0; round < 10; round++) {
    for (const a of drain(node)) {
      if (a.type === "persist") node.handlePersisted(a.id, true, now);
      if (a.type === "write" && a.conn === conn) reply += new TextDecoder().decode(a.bytes);
    }
  }
  return reply;
}

Deno.test("once the Lamport clock is spent, a write is refused rather than reusing a version", () => {
  // Found by the garbage simulation: after a Sync carrying clock 2^53 - 1, every later write on
  // every node got the version (2^53 - 1, own name); two values of one key shared a version and
  // the nodes holding them never agreed.
  // (A Sync that far ahead is refused now, see node_core_test.ts; a recovered clock can still be
  // spent.)
  const clock = Number.MAX_SAFE_INTEGER;
  const node = new KvNode({
    name: "ts-a",
    advertise: "10.0.0.1:9000",
    boot: 1,
    prng: Prng.seeded(1),
    entries: [{ key: "g", value: "s", clock, origin: "ts-evil" }],
    clock,
  });
  assert.equal(node.clock, clock);
  const byVersion = new Map<string, string>();
  for (const value of ["w0", "w3"]) {
    const reply = request(node, { type: "Setvalue", key: "k", value }, 1);
    const e = node.get("k");
    if (e !== undefined) {
      const v = `${e.clock}/${e.origin}`;
      const before = byVersion.get(v);
      assert.ok(before === undefined || before === e.value, `${before} and ${e.value} share ${v}`);
      byVersion.set(v, e.value);
    }
    assert.equal(reply, '{"ValueResponse":{"value":"Value not set: the Lamport clock is spent"}}');
  }
  assert.equal(node.get("k"), undefined);
  request(node, { type: "Sync", key: "u", value: "legacy" }, 2); // an unversioned Sync: refused too
  assert.equal(node.get("u"), undefined);
});
