/**
 * A push retry must never be reported as a timeout in the past: the drivers call handleTick()
 * until nextTimeout() moves, and threw "Cannot settle the core". Both cases were found by the live
 * tests: a retry falling due while every push slot is taken (fixed in main as well, found by the
 * kv simulation), and a push failing while the node stops (its retry was never taken).
 */
import assert from "node:assert/strict";
import { KvNode } from "../../src/kv/node_core.ts";
import { Prng } from "../../src/util/prng.ts";

const te = new TextEncoder();

function drain(node: KvNode) {
  const out = [];
  for (let a = node.pollAction(); a; a = node.pollAction()) out.push(a);
  return out;
}

Deno.test("a due push retry with every push slot busy does not stall nextTimeout()", () => {
  const node = new KvNode({
    name: "ts-a",
    advertise: "10.0.0.1:9000",
    boot: 1,
    prng: Prng.seeded(1),
    durable: false,
    pushParallel: 1,
    broadcast: [],
  });
  for (const key of ["a", "b"]) {
    const c = node.handleAccept("10.0.0.9:5000", "10.0.0.1:9000", 0);
    node.handleData(c, te.encode(`{"Setvalue":{"key":"${key}","value":"1"}}`), 0);
  }
  drain(node);
  const hs = (name: string, ip: string) =>
    node.handleDatagram(
      `${ip}:8888`,
      te.encode(
        `{"Handshake":{"node_name":"${name}","tcp_address":"${ip}:9000","kv_ext":1,"boot":1}}`,
      ),
      10,
    );
  hs("ts-b", "10.0.0.2");
  hs("ts-c", "10.0.0.3");
  const pushes = () =>
    drain(node).filter((a) => a.type === "connect" && a.to.endsWith(":9000")) as {
      conn: number;
      to: string;
    }[];
  const first = pushes();
  // one push slot: B's push (and the pulls) are under way; B refuses both: its push is retried
  // in a while, and C's push takes the slot
  const toB = first.filter((a) => a.to === "10.0.0.2:9000");
  assert.equal(toB.length, 2);
  for (const a of toB) node.handleError(a.conn, "refused", 20);
  assert.ok(pushes().some((a) => a.to === "10.0.0.3:9000"), "C's push started");
  for (let now = 20; now <= 1500; now += 10) {
    node.handleTick(now);
    drain(node);
    const next = node.nextTimeout();
    assert.ok(next === undefined || next > now, `at ${now} the next timeout is ${next}`);
  }
});

Deno.test("a push retry due after stop() does not stall nextTimeout() (stopping under load)", () => {
  const node = new KvNode({
    name: "ts-a",
    advertise: "10.0.0.1:9000",
    boot: 1,
    prng: Prng.seeded(1),
    durable: false,
    broadcast: [],
  });
  node.handleDatagram(
    "10.0.0.2:8888",
    te.encode(
      `{"Handshake":{"node_name":"ts-b","tcp_address":"10.0.0.2:9000","kv_ext":1,"boot":1}}`,
    ),
    0,
  );
  drain(node);
  const c = node.handleAccept("10.0.0.9:5000", "10.0.0.1:9000", 10);
  node.handleData(c, te.encode('{"Setvalue":{"key":"a","value":"1"}}'), 10);
  const push = drain(node).find((a) => a.type === "connect" && a.to === "10.0.0.2:9000");
  assert.ok(push?.type === "connect", "the write is pushed to B");
  node.stop();
  node.handleError(push.conn, "refused", 20); // fails after the stop: queued for a retry
  drain(node);
  for (let now = 20; now <= 3000; now += 10) {
    node.handleTick(now);
    drain(node);
    const next = node.nextTimeout();
    assert.ok(next === undefined || next > now, `at ${now} the next timeout is ${next}`);
  }
});
