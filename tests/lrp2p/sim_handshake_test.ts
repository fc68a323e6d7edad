/**
 * The LRP2P handshake under loss at every step (spec §8.1): message 1, message 2, message 3 (one
 * or both copies), the first data segment, and combinations; the connection still opens and data
 * flows, or `connect` fails after its timeouts when every message 1 is lost. A repeated message 1
 * gets message 2 again at most 3 times. And `verifyRemote` (L4): a pinned key accepts the right
 * peer and refuses another.
 */
import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import type { SimNet } from "../../src/sim/mod.ts";
import { addPeer, EventLog, openPair, sameBytes, simLrp } from "./_sim_lrp.ts";

type Kind = "msg1" | "msg2" | "msg3" | "data";

/** Drops the listed copies (1-based) of each kind of handshake datagram; counts every kind. */
function dropper(net: SimNet, initiator: string, drop: Partial<Record<Kind, number[]>>) {
  const count: Record<Kind, number> = { msg1: 0, msg2: 0, msg3: 0, data: 0 };
  net.setMiddlebox((p) => {
    const n = p.bytes.length;
    let kind: Kind | undefined;
    if (p.from === initiator) {
      kind = n === 40
        ? "msg1"
        : n === 72
        ? "msg3"
        : count.data === 0 && n > 72
        ? "data"
        : undefined;
    } else if (n === 104) kind = "msg2";
    if (kind === undefined) return undefined;
    const i = ++count[kind];
    return drop[kind]?.includes(i) ? "drop" : undefined;
  });
  return count;
}

/** Opens a → b with `drop`, then (if `write`) sends 20 kB a → b; checks it all arrived. */
function handshake(seed: number, drop: Partial<Record<Kind, number[]>>, write = true) {
  const { net, peers, prng } = simLrp(seed, 2, { delayMs: [3, 8] });
  const [a, b] = peers;
  const count = dropper(net, a.addr, drop);
  const idA = a.ep.connect(b.addr, net.now);
  let idB: bigint | undefined;
  const data = prng.bytes(write ? 20_000 : 0);
  let sent = 0;
  const got: Uint8Array[] = [];
  let gotBytes = 0;
  const end = net.runWhile(() => {
    idB ??= b.ep.accept();
    if (sent < data.length && a.ep.conn(idA)?.state === "open") {
      sent += a.ep.write(idA, data.subarray(sent), net.now); // at once: the first data segment
    }
    for (let r = idB === undefined ? undefined : b.ep.read(idB); r; r = b.ep.read(idB!)) {
      got.push(r);
      gotBytes += r.length;
    }
    return idB === undefined || gotBytes < data.length;
  }, { maxTime: 60_000 });
  const what = `drop ${JSON.stringify(drop)}, sent ${JSON.stringify(count)}, at ${net.now} ms`;
  assert.equal(end, "done", `not open or incomplete: ${what}`);
  assert.equal(a.ep.conn(idA)?.state, "open", what);
  const joined = new Uint8Array(gotBytes);
  got.reduce((at, c) => (joined.set(c, at), at + c.length), 0);
  assert.ok(sameBytes(joined, data), what);
  return { count, net };
}

Deno.test("lrp2p handshake: each message lost once, and combinations, still opens", () => {
  const cases: Partial<Record<Kind, number[]>>[] = [
    {},
    { msg1: [1] },
    { msg1: [1, 2, 3] },
    { msg2: [1] },
    { msg2: [1, 2] },
    { msg3: [1] },
    { msg3: [1, 2] },
    { data: [1] },
    { msg3: [1, 2], data: [1] },
    { msg1: [1], msg2: [1], msg3: [1, 2], data: [1] },
    { msg1: [1, 2], msg2: [1, 2], msg3: [1, 2, 3], data: [1] },
  ];
  for (const [i, drop] of cases.entries()) {
    const { count } = handshake(i + 1, drop);
    for (const [k, list] of Object.entries(drop)) {
      if (k === "data") continue; // only the first data segment is classified; all data arrived
      assert.ok(
        count[k as Kind] > Math.max(...list),
        `${k} was not resent: ${JSON.stringify(count)}`,
      );
    }
  }
});

Deno.test("lrp2p handshake: both copies of message 3 lost and no data: the keepalive opens it", () => {
  // message 3 rides along with the first retransmission (of the keepalive after 15 s)
  const { count, net } = handshake(20, { msg3: [1, 2] }, false);
  assert.ok(count.msg3 >= 3);
  assert.ok(net.now < 30_000, `opened at ${net.now} ms (the half-open limit is 30 s)`);
});

Deno.test("lrp2p handshake: every message 1 lost: connect fails after its 5 sends", () => {
  const { net, peers } = simLrp(1, 2, { delayMs: [3, 8] });
  const [a, b] = peers;
  const count = dropper(net, a.addr, { msg1: [1, 2, 3, 4, 5, 6] });
  const log = new EventLog([a.ep, b.ep]);
  const idA = a.ep.connect(b.addr, net.now);
  const end = net.runWhile(() => !log.closed(a.ep, idA), { maxTime: 120_000 });
  assert.equal(end, "done");
  assert.equal(count.msg1, 5);
  assert.equal(log.closed(a.ep, idA)?.error, "no answer to the handshake");
  assert.ok(net.now >= 31_000 - 1 && net.now < 40_000, `failed at ${net.now}`); // 1+2+4+8+16 s
  assert.equal(a.ep.size, 0);
  assert.equal(a.ep.nextTimeout(), undefined);
  assert.equal(b.ep.size, 0);
  assert.deepEqual(log.events.get(b.ep), []);
});

Deno.test("lrp2p handshake: a repeated message 1 gets message 2 again at most 3 times", () => {
  const { net, peers } = simLrp(2, 1, { delayMs: [1, 1] });
  const [b] = peers;
  const replies: Uint8Array[] = [];
  const raw = net.bind("10.0.0.9:5000", (_, bytes) => replies.push(bytes));
  const hello = Prng.seeded(5).bytes(40); // connId + a random "ephemeral key"
  for (let i = 0; i < 10; i++) raw.send(b.addr, hello);
  net.runUntil(900); // before the responder's own resend after 1 s
  assert.equal(replies.length, 4); // the answer and 3 repeats
  for (const r of replies) assert.ok(sameBytes(r, replies[0]) && r.length === 104);
  net.runUntil(40_000);
  assert.equal(replies.length, 6); // plus the timer's resends after 1 s and 2 more s; then it gives up
  assert.equal(b.ep.size, 0);
  assert.equal(b.ep.accept(), undefined);
});

Deno.test("lrp2p verifyRemote: the initiator pins the responder's key", () => {
  const { net, peers } = simLrp(3, 2, { delayMs: [2, 4] });
  const [right, wrong] = peers;
  const pin = right.ep.publicKey;
  const a = addPeer(net, 30, "10.0.0.30:7000", { verifyRemote: (k) => sameBytes(k, pin) });
  const log = new EventLog([a.ep, right.ep, wrong.ep]);
  const ok = openPair(net, a, right);
  assert.ok(ok.idB !== undefined);
  assert.ok(sameBytes(a.ep.conn(ok.idA)!.remoteStatic!, pin));
  const bad = a.ep.connect(wrong.addr, net.now);
  net.runWhile(() => !log.closed(a.ep, bad), { maxTime: net.now + 60_000 });
  assert.equal(log.closed(a.ep, bad)?.error, "the peer's key is not accepted");
  assert.equal(log.of(a.ep, bad, "open").length, 0);
  net.runUntil(net.now + 40_000); // the refused responder's half-open connection expires
  assert.equal(wrong.ep.accept(), undefined);
  assert.deepEqual(log.events.get(wrong.ep), []);
  assert.equal(wrong.ep.size, 0);
});

Deno.test("lrp2p verifyRemote: the responder pins the initiator's key", () => {
  const { net, peers } = simLrp(4, 2, { delayMs: [2, 4] });
  const [good, other] = peers;
  const pin = good.ep.publicKey;
  const server = addPeer(net, 40, "10.0.0.40:7000", { verifyRemote: (k) => sameBytes(k, pin) });
  const log = new EventLog([server.ep, other.ep]);
  const ok = openPair(net, good, server);
  assert.ok(ok.idB !== undefined);
  assert.ok(sameBytes(server.ep.conn(ok.idB)!.remoteStatic!, pin));
  assert.equal(server.ep.accept(), undefined);
  // the other peer's handshake completes on its side, but the server never reports it
  const bad = other.ep.connect(server.addr, net.now);
  net.runUntil(net.now + 1000);
  assert.equal(server.ep.accept(), undefined);
  other.ep.write(bad, new Uint8Array(100), net.now);
  net.runWhile(() => !log.closed(other.ep, bad), { maxTime: net.now + 200_000 });
  assert.ok(log.closed(other.ep, bad)?.error !== undefined); // never answered
  assert.equal(server.ep.accept(), undefined);
  const serverEvents = log.events.get(server.ep)!.filter((e) => e.connId === bad);
  assert.deepEqual(serverEvents, []);
  assert.equal(server.ep.conn(bad), undefined);
});
