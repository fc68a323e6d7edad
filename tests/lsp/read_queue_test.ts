// The bounded read queue (issue 10 item 8): with `readQueueMax`, a connection whose delivered
// messages wait unread refuses new Data without an Ack (push-back), keeps re-Acking duplicates and
// sending heartbeats, and resumes once the application reads (`markRead`). Sans-I/O endpoints
// wired by hand, then the simulator with loss.
import assert from "node:assert/strict";
import { LspEndpoint, type LspEvent } from "../../src/lsp/endpoint.ts";
import { lspParams } from "../../src/lsp/params.ts";
import { decodeMessage, type LspMessage, MsgType } from "../../src/lsp/wire.ts";
import { Prng } from "../../src/util/prng.ts";
import { simTest, World } from "./_sim_harness.ts";

const SERVER = "10.0.0.1:9999";
const CLIENT = "10.0.1.1:40000";

/** Moves every queued datagram of `from` to `to`; returns the decoded messages. */
function pass(from: LspEndpoint, fromAddr: string, to: LspEndpoint, now: number): LspMessage[] {
  const out: LspMessage[] = [];
  for (let t = from.pollTransmit(); t; t = from.pollTransmit()) {
    out.push(decodeMessage(t.bytes)!);
    to.handleDatagram(fromAddr, t.bytes, now);
  }
  return out;
}

/** Drops every queued datagram of `from`; returns the decoded messages. */
function lose(from: LspEndpoint): LspMessage[] {
  const out: LspMessage[] = [];
  for (let t = from.pollTransmit(); t; t = from.pollTransmit()) out.push(decodeMessage(t.bytes)!);
  return out;
}

function messages(ep: LspEndpoint): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let e: LspEvent | undefined = ep.pollEvent(); e; e = ep.pollEvent()) {
    if (e.type === "message") out.push(e.payload);
    assert.ok(e.type === "message" || e.type === "connected", `unexpected ${e.type}`);
  }
  return out;
}

Deno.test("LspEndpoint readQueueMax: an application that does not read pushes back on the sender", () => {
  const params = lspParams({
    epochLimit: 3,
    epochMillis: 1000,
    windowSize: 4,
    maxUnackedMessages: 4,
  });
  const BOUND = 3, TOTAL = 20;
  const server = LspEndpoint.server(params, Prng.seeded(1), { readQueueMax: BOUND });
  const client = LspEndpoint.client(SERVER, params, Prng.seeded(2), 0, { isn: 0 });
  let now = 0;
  const exchange = () => {
    const up: LspMessage[] = [], down: LspMessage[] = [];
    for (let i = 0; i < 8; i++) { // until quiet
      const a = pass(client, CLIENT, server, now), b = pass(server, SERVER, client, now);
      up.push(...a);
      down.push(...b);
      if (a.length === 0 && b.length === 0) break;
    }
    return { up, down };
  };
  exchange();
  const connId = server.connIds()[0];
  assert.equal(client.connIds()[0], connId);
  messages(client);
  for (let i = 1; i <= TOTAL; i++) client.write(connId, Uint8Array.of(i), now);
  const first = exchange();
  const got: Uint8Array[] = messages(server); // polled, but not read: no markRead
  assert.deepEqual(got.map((p) => p[0]), [1, 2, 3]);
  assert.equal(server.unreadCount(connId), BOUND);
  // Data 4..7 went out with the window, and none of them was acknowledged.
  const acked = (ms: LspMessage[]) =>
    ms.filter((m) => m.type === MsgType.Ack && m.seqNum > 0).map((m) => m.seqNum);
  assert.deepEqual(acked(first.down), [1, 2, 3]);

  // Ten epochs (more than three times EpochLimit) without reading.
  const retransmittedBefore = client.stats().dataRetransmitted;
  for (let epoch = 1; epoch <= 10; epoch++) {
    now = epoch * 1000;
    client.handleTick(now);
    server.handleTick(now);
    const { up, down } = exchange();
    const data = up.filter((m) => m.type === MsgType.Data).map((m) => m.seqNum);
    assert.deepEqual(data, [4, 5, 6, 7], `epoch ${epoch}: the client retransmits its full window`);
    assert.deepEqual(acked(down), [], `epoch ${epoch}: no Ack for refused Data`);
    assert.ok(down.some((m) => m.type === MsgType.Ack && m.seqNum === 0), "server heartbeat");
    assert.deepEqual(messages(server), []);
    assert.equal(server.unreadCount(connId), BOUND);
    assert.equal(server.connState(connId), "open");
    assert.equal(client.connState(connId), "open");
    assert.equal(client.pendingCount(connId), TOTAL - BOUND);
  }
  assert.equal(client.stats().dataRetransmitted - retransmittedBefore, 40);
  // Data 4..7 were refused when first sent, then on each of the ten retransmissions.
  assert.equal(server.stats().dropped.readQueueFull, 4 + 40);

  // A later write waits behind the full window.
  client.write(connId, Uint8Array.of(99), now); // queued behind the window: nothing new goes out
  assert.equal(exchange().up.length, 0);

  // The application reads; refused Data comes back on the next retransmissions.
  for (let epoch = 11; got.length < TOTAL + 1 && epoch < 200; epoch++) {
    server.markRead(connId, server.unreadCount(connId));
    now = epoch * 1000;
    client.handleTick(now);
    server.handleTick(now);
    exchange();
    got.push(...messages(server));
    assert.ok(server.unreadCount(connId) <= BOUND);
  }
  assert.deepEqual(got.map((p) => p[0]), [...Array.from({ length: TOTAL }, (_, i) => i + 1), 99]);
  assert.equal(client.pendingCount(connId), 0);
});

Deno.test("LspEndpoint readQueueMax: duplicates of taken Data are re-Acked while pushing back", () => {
  const params = lspParams({ windowSize: 4, maxUnackedMessages: 4 });
  const server = LspEndpoint.server(params, Prng.seeded(1), { readQueueMax: 1 });
  const client = LspEndpoint.client(SERVER, params, Prng.seeded(2), 0, { isn: 0 });
  pass(client, CLIENT, server, 0);
  pass(server, SERVER, client, 0);
  const connId = server.connIds()[0];
  // The server's Ack of Data 1 is lost, so the client's next tick retransmits Data 1 and 2.
  client.write(connId, Uint8Array.of(1), 0);
  client.write(connId, Uint8Array.of(2), 0);
  pass(client, CLIENT, server, 0);
  assert.deepEqual(lose(server).map((m) => m.seqNum), [1]); // Ack 1, lost; Data 2 refused
  client.handleTick(2000);
  const resent = pass(client, CLIENT, server, 2000).filter((m) => m.type === MsgType.Data);
  assert.deepEqual(resent.map((m) => m.seqNum), [1, 2]);
  const reply = lose(server);
  assert.deepEqual(reply.filter((m) => m.type === MsgType.Ack).map((m) => m.seqNum), [1]);
  assert.equal(server.unreadCount(connId), 1);
});

Deno.test("LspEndpoint readQueueMax: validated; a closing connection no longer pushes back", () => {
  assert.throws(() => LspEndpoint.server({}, Prng.seeded(1), { readQueueMax: 0 }), RangeError);
  assert.throws(() => LspEndpoint.server({}, Prng.seeded(1), { readQueueMax: 1.5 }), RangeError);
  assert.throws(
    () => LspEndpoint.client(SERVER, {}, Prng.seeded(1), 0, { readQueueMax: -1 }),
    RangeError,
  );
  const server = LspEndpoint.server({}, Prng.seeded(1), { readQueueMax: 1 });
  const client = LspEndpoint.client(SERVER, {}, Prng.seeded(2), 0, { isn: 0 });
  pass(client, CLIENT, server, 0);
  pass(server, SERVER, client, 0);
  const connId = server.connIds()[0];
  client.write(connId, Uint8Array.of(1), 0);
  client.write(connId, Uint8Array.of(2), 0);
  pass(client, CLIENT, server, 0);
  pass(server, SERVER, client, 0); // Ack 1 → Data 2 goes out
  const refused = pass(client, CLIENT, server, 0);
  assert.deepEqual(refused.map((m) => m.seqNum), [2]);
  assert.equal(server.stats().dropped.readQueueFull, 1);
  server.write(connId, Uint8Array.of(7), 0); // keeps the server's connection closing
  server.close(connId, 0); // closing: incoming Data is Acked and discarded again
  lose(server);
  assert.equal(server.connState(connId), "closing");
  client.handleTick(2000);
  assert.ok(
    pass(client, CLIENT, server, 2000).some((m) => m.type === MsgType.Data && m.seqNum === 2),
  );
  assert.deepEqual(lose(server).filter((m) => m.type === MsgType.Ack).map((m) => m.seqNum), [2]);
  assert.equal(server.stats().dropped.readQueueFull, 1);
});

simTest(
  import.meta.url,
  "readQueueMax under loss: a server that does not read stays bounded, then gets everything once in order",
  { seeds: 4 },
  (seed) => {
    const BOUND = 5, N = 40;
    const world = new World({
      seed,
      params: {
        epochLimit: 10,
        epochMillis: 500,
        windowSize: 4,
        maxBackOffInterval: 2,
        maxUnackedMessages: 4,
      },
      clients: 2,
      server: { readQueueMax: BOUND },
    });
    world.connectAll(1000);
    world.faults.setReadDrop("both", 0.2);
    world.faults.setWriteDrop("both", 0.1);
    const scripts = world.clients.map(() => world.script(N));
    for (const c of world.clients) {
      for (const p of scripts[c.index]) c.endpoint.write(c.connId, p, world.now);
    }
    // Thirty epochs (three EpochLimits) without reading.
    for (let t = 0; t < 30 * 500; t += 100) {
      world.runFor(100);
      for (const c of world.clients) {
        const sc = world.serverConnOf(c);
        world.check(sc.inbox.length <= BOUND, () => `client ${c.index}: ${sc.inbox.length} unread`);
        world.check(world.server.unreadCount(c.connId) === sc.inbox.length, "unread count");
      }
    }
    for (const c of world.clients) {
      const sc = world.serverConnOf(c);
      world.check(sc.inbox.length === BOUND, () => `client ${c.index}: ${sc.inbox.length} unread`);
      world.check(sc.end === undefined && c.end === undefined, `client ${c.index} lost`);
      // Unacknowledged: everything refused, plus accepted Data whose Ack was lost.
      world.check(c.endpoint.pendingCount(c.connId) >= N - BOUND, "the client keeps the rest");
    }
    world.check(world.server.stats().dropped.readQueueFull > 0, "nothing refused");
    // The application reads as messages come.
    const read = world.clients.map(() => 0);
    world.waitFor(
      () => {
        for (const c of world.clients) {
          const inbox = world.serverConnOf(c).inbox;
          world.server.markRead(c.connId, inbox.length - read[c.index]);
          read[c.index] = inbox.length;
        }
        return world.clients.every((c) => world.serverConnOf(c).inbox.length >= N);
      },
      200 * 500,
      "every message after reading",
    );
    for (const c of world.clients) {
      world.expectMessages(`client ${c.index}`, world.serverConnOf(c).inbox, scripts[c.index]);
    }
  },
);
