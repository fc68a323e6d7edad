import assert from "node:assert/strict";
import fc from "fast-check";
import { type Addr, LspEndpoint, type LspEvent } from "../../src/lsp/endpoint.ts";
import { MAX_ISN } from "../../src/lsp/conn.ts";
import { LspConnectionError, LspPayloadTooLargeError } from "../../src/lsp/errors.ts";
import { type LspParams, lspParams } from "../../src/lsp/params.ts";
import {
  ackMessage,
  connectMessage,
  dataMessage,
  decodeMessage,
  encodeMessage,
  heartbeatMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MAX_PAYLOAD_BYTES,
  MsgType,
} from "../../src/lsp/wire.ts";
import { Prng } from "../../src/util/prng.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const SERVER = "10.0.0.1:9999";

function P(
  epochLimit: number,
  epochMillis: number,
  windowSize: number,
  maxBackOffInterval: number,
  maxUnackedMessages: number,
): LspParams {
  return lspParams({ epochLimit, epochMillis, windowSize, maxBackOffInterval, maxUnackedMessages });
}

function show(m: LspMessage): string {
  switch (m.type) {
    case MsgType.Connect:
      return `Connect ${m.seqNum}`;
    case MsgType.Data:
      return `Data ${m.connId}:${m.seqNum}`;
    case MsgType.Ack:
      return m.seqNum === 0 ? `HB ${m.connId}` : `Ack ${m.connId}:${m.seqNum}`;
    case MsgType.CAck:
      return `CAck ${m.connId}:${m.seqNum}`;
  }
}

/** Drains an endpoint's transmits as `to <- summary` lines. */
function sent(ep: LspEndpoint): string[] {
  const out: string[] = [];
  for (let t = ep.pollTransmit(); t; t = ep.pollTransmit()) {
    out.push(`${t.to} <- ${show(decodeMessage(t.bytes)!)}`);
  }
  return out;
}

function events(ep: LspEndpoint): LspEvent[] {
  const out: LspEvent[] = [];
  for (let e = ep.pollEvent(); e; e = ep.pollEvent()) out.push(e);
  return out;
}

const bytesOf = (m: LspMessage) => encodeMessage(m);

// ---------------------------------------------------------------------------------------------
// A tiny in-memory network (quinn's `Pair` for N endpoints): latency, loss, duplication, filters.

interface Packet {
  at: number;
  order: number;
  from: Addr;
  to: Addr;
  bytes: Uint8Array;
}

interface NetOptions {
  loss?: number;
  duplicate?: number;
  delayMs?: [number, number];
  /** Return true to drop a datagram (scripted loss). */
  filter?: (from: Addr, to: Addr, msg: LspMessage) => boolean;
}

class TestNet {
  now = 0;
  readonly nodes = new Map<Addr, LspEndpoint>();
  readonly inbox = new Map<Addr, LspEvent[]>();
  readonly log: string[] = [];
  #queue: Packet[] = [];
  #order = 0;
  readonly #prng: Prng;
  readonly #options: NetOptions;

  constructor(prng: Prng, options: NetOptions = {}) {
    this.#prng = prng;
    this.#options = options;
  }

  add(addr: Addr, ep: LspEndpoint): LspEndpoint {
    this.nodes.set(addr, ep);
    this.inbox.set(addr, []);
    this.flush();
    return ep;
  }

  /** Returns and forgets the events an endpoint produced so far. */
  take(addr: Addr): LspEvent[] {
    this.flush();
    const list = this.inbox.get(addr)!;
    this.inbox.set(addr, []);
    return list;
  }

  flush(): void {
    const { loss = 0, duplicate = 0, delayMs = [0, 0], filter } = this.#options;
    for (const [addr, ep] of this.nodes) {
      for (let t = ep.pollTransmit(); t; t = ep.pollTransmit()) {
        assert.ok(t.bytes.length <= 1500, "datagram over 1500 bytes");
        const msg = decodeMessage(t.bytes)!;
        this.log.push(`${this.now} ${addr} -> ${t.to} ${show(msg)}`);
        if (filter?.(addr, t.to, msg) || this.#prng.chance(loss)) continue;
        const copies = this.#prng.chance(duplicate) ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          const at = this.now + this.#prng.int(delayMs[0], delayMs[1]);
          this.#queue.push({ at, order: this.#order++, from: addr, to: t.to, bytes: t.bytes });
        }
      }
      for (let e = ep.pollEvent(); e; e = ep.pollEvent()) this.inbox.get(addr)!.push(e);
    }
  }

  /** Advances to the next arrival or timer and handles everything due then; false when idle. */
  step(): boolean {
    this.flush();
    let next = Infinity;
    for (const p of this.#queue) next = Math.min(next, p.at);
    for (const ep of this.nodes.values()) next = Math.min(next, ep.nextTimeout() ?? Infinity);
    if (next === Infinity) return false;
    this.now = Math.max(this.now, next);
    const due = this.#queue.filter((p) => p.at <= this.now).sort((a, b) =>
      a.at - b.at || a.order - b.order
    );
    this.#queue = this.#queue.filter((p) => p.at > this.now);
    for (const p of due) {
      this.nodes.get(p.to)?.handleDatagram(p.from, p.bytes, this.now);
      this.flush();
    }
    for (const ep of this.nodes.values()) {
      const at = ep.nextTimeout();
      if (at !== undefined && at <= this.now) ep.handleTick(this.now);
    }
    this.flush();
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Server: Connect handling and routing

Deno.test("LspEndpoint.server() answers each Connect with Ack(connId, isn) to the sender's address", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  server.handleDatagram("10.0.0.2:5000", bytesOf(connectMessage(100)), 0);
  server.handleDatagram("10.0.0.3:6000", bytesOf(connectMessage(7)), 1);
  assert.deepEqual(sent(server), ["10.0.0.2:5000 <- Ack 1:100", "10.0.0.3:6000 <- Ack 2:7"]);
  assert.deepEqual(events(server), [
    { type: "connected", connId: 1, addr: "10.0.0.2:5000" },
    { type: "connected", connId: 2, addr: "10.0.0.3:6000" },
  ]);
  assert.deepEqual(server.connIds(), [1, 2]);
  assert.equal(server.peerAddr(2), "10.0.0.3:6000");
  assert.equal(server.connState(1), "open");
});

Deno.test("LspEndpoint.handleDatagram() ignores a duplicate Connect from a connected address", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(100)), 0);
  sent(server);
  server.handleDatagram("A:1", bytesOf(connectMessage(100)), 1);
  server.handleDatagram("A:1", bytesOf(connectMessage(5)), 2);
  assert.deepEqual(sent(server), []);
  assert.equal(server.connectionCount, 1);
  assert.equal(server.stats().dropped.duplicateConnect, 2);
});

Deno.test("LspEndpoint.handleDatagram() re-answers a duplicate Connect when answerDuplicateConnect is on", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1), {
    answerDuplicateConnect: true,
  });
  server.handleDatagram("A:1", bytesOf(connectMessage(100)), 0);
  server.handleDatagram("A:1", bytesOf(connectMessage(100)), 1);
  server.handleDatagram("A:1", bytesOf(connectMessage(100)), 2);
  assert.deepEqual(sent(server), ["A:1 <- Ack 1:100", "A:1 <- Ack 1:100"]);
});

Deno.test("LspEndpoint.handleDatagram() drops traffic from unknown addresses and with foreign ConnIDs", () => {
  const server = LspEndpoint.server(P(5, 2000, 4, 0, 4), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 0);
  server.handleDatagram("B:2", bytesOf(connectMessage(0)), 0);
  sent(server);
  events(server);
  server.handleDatagram("C:3", bytesOf(dataMessage(1, 1, te.encode("x"))), 1);
  server.handleDatagram("A:1", bytesOf(dataMessage(2, 1, te.encode("x"))), 1); // B's ConnID from A
  server.handleDatagram("A:1", bytesOf(ackMessage(7, 1)), 1);
  assert.deepEqual(sent(server), []);
  assert.deepEqual(events(server), []);
  const { dropped } = server.stats();
  assert.equal(dropped.noConnection, 1);
  assert.equal(dropped.wrongConnId, 2);
  server.handleDatagram("A:1", bytesOf(dataMessage(1, 1, te.encode("ok"))), 1);
  assert.deepEqual(sent(server), ["A:1 <- Ack 1:1"]);
});

Deno.test("LspEndpoint.handleDatagram() accepts a Connect with any ISN, negative ones included, like the reference", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  const isns = [-1, -7, -Number.MAX_SAFE_INTEGER, MAX_ISN + 1, Number.MAX_SAFE_INTEGER];
  isns.forEach((isn, i) => server.handleDatagram(`A:${i}`, bytesOf(connectMessage(isn)), 0));
  assert.deepEqual(sent(server), isns.map((isn, i) => `A:${i} <- Ack ${i + 1}:${isn}`));
  assert.equal(server.stats().dropped.refusedConnect, 0);
  // ISN −7: the client's first Data is −6, and so is the server's.
  server.handleDatagram("A:1", bytesOf(dataMessage(2, -6, te.encode("neg"))), 1);
  server.write(2, te.encode("back"), 1);
  assert.deepEqual(sent(server), ["A:1 <- Ack 2:-6", "A:1 <- Data 2:-6"]);
  const got = events(server).filter((e) => e.type === "message");
  assert.deepEqual(got, [{ type: "message", connId: 2, payload: te.encode("neg") }]);
});

Deno.test("LspEndpoint delivers a Data whose payload is null flagged as null and sends write(null) as null", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 0);
  sent(server);
  events(server);
  const text = (m: LspMessage) => td.decode(encodeMessage(m));
  const nullData = text({ ...dataMessage(1, 1, new Uint8Array(0)), payload: null });
  assert.equal(
    nullData,
    '{"Type":1,"ConnID":1,"SeqNum":1,"Size":0,"Checksum":65533,"Payload":null}',
  );
  server.handleDatagram("A:1", te.encode(nullData), 1);
  // A missing Payload key is a null too, as in Go.
  server.handleDatagram("A:1", te.encode('{"Type":1,"ConnID":1,"SeqNum":2,"Checksum":65532}'), 1);
  server.handleDatagram("A:1", bytesOf(dataMessage(1, 3, new Uint8Array(0))), 1);
  const got = events(server);
  assert.deepEqual(got.map((e) => e.type === "message" && e.payloadNull === true), [
    true,
    true,
    false,
  ]);
  server.write(1, null, 2);
  const wire = [...sent(server).slice(3)];
  assert.deepEqual(wire, ["A:1 <- Data 1:1"]);
  server.handleDatagram("A:1", bytesOf(ackMessage(1, 1)), 3);
  server.write(1, new Uint8Array(0), 3);
  const t = server.pollTransmit()!;
  assert.match(td.decode(t.bytes), /"Payload":""\}$/);
});

Deno.test("LspEndpoint writes null payloads as the JSON null on the wire", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(41)), 0);
  server.pollTransmit();
  server.write(1, null, 1);
  assert.equal(
    td.decode(server.pollTransmit()!.bytes),
    '{"Type":1,"ConnID":1,"SeqNum":42,"Size":0,"Checksum":65492,"Payload":null}',
  );
});

Deno.test("LspEndpoint accepts a Data datagram of exactly 1500 bytes and drops one of 1501", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 0);
  sent(server);
  events(server);
  const edge = encodeMessage(dataMessage(1, 1, new Uint8Array(1071).fill(0x0a)));
  assert.equal(edge.length, MAX_DATAGRAM_BYTES);
  const over = new Uint8Array(1501);
  over.set(edge);
  over[1500] = 0x20; // trailing whitespace: the same message, one byte too long
  server.handleDatagram("A:1", over, 1);
  assert.equal(server.stats().dropped.oversize, 1);
  server.handleDatagram("A:1", edge, 1);
  assert.deepEqual(sent(server), ["A:1 <- Ack 1:1"]);
  const [got] = events(server);
  assert.ok(got.type === "message" && got.payload.length === 1071);
});

Deno.test("LspEndpoint.handleDatagram() bounds the connection table and never reuses ConnIDs", () => {
  const server = LspEndpoint.server(P(2, 100, 1, 0, 1), Prng.seeded(1), { maxConnections: 3 });
  for (const port of [1, 2, 3, 4]) {
    server.handleDatagram(`A:${port}`, bytesOf(connectMessage(0)), 0);
  }
  assert.equal(server.connectionCount, 3);
  assert.equal(server.stats().dropped.tableFull, 1);
  server.handleTick(100);
  server.handleDatagram("A:1", bytesOf(heartbeatMessage(1)), 150); // only A:1 stays alive
  server.handleTick(200);
  assert.deepEqual(server.connIds(), [1]);
  server.handleDatagram("A:4", bytesOf(connectMessage(0)), 210);
  assert.deepEqual(server.connIds(), [1, 4]);
});

Deno.test("LspEndpoint.handleDatagram() survives a Connect flood from thousands of ports", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  const connect = bytesOf(connectMessage(0));
  for (let port = 1; port <= 5000; port++) server.handleDatagram(`6.6.6.6:${port}`, connect, 0);
  assert.equal(server.connectionCount, 1024);
  const stats = server.stats();
  assert.equal(stats.dropped.tableFull, 5000 - 1024);
  assert.equal(stats.datagramsSent, 1024);
  // The flood is silent: after EpochLimit epochs the table is empty again.
  for (let t = 1; t <= 5; t++) server.handleTick(t * 2000);
  assert.equal(server.connectionCount, 0);
  assert.equal(server.nextTimeout(), undefined);
});

Deno.test("LspEndpoint.handleDatagram() drops datagrams over 1500 bytes, even valid ones", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  const connect = '{"Type":0,"ConnID":0,"SeqNum":9,"Size":0,"Checksum":0,"Payload":null}';
  server.handleDatagram("A:1", te.encode(connect + " ".repeat(1501 - connect.length)), 0);
  assert.equal(server.stats().dropped.oversize, 1);
  assert.equal(server.connectionCount, 0);
  server.handleDatagram("A:1", te.encode(connect + " ".repeat(1500 - connect.length)), 0);
  assert.equal(server.connectionCount, 1);
  server.handleDatagram("A:1", new Uint8Array(65536), 0);
  assert.equal(server.stats().dropped.oversize, 2);
});

Deno.test("LspEndpoint.handleDatagram() never throws on garbage and counts every drop", () => {
  const server = LspEndpoint.server(P(5, 2000, 2, 0, 2), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 0);
  const valid = bytesOf(dataMessage(1, 1, te.encode("hello")));
  const garbage = fc.oneof(
    fc.uint8Array({ maxLength: 1600 }),
    fc.json().map((s) => te.encode(s)),
    fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const b = valid.slice();
      b[i] ^= x; // one corrupted byte of a valid Data message
      return b;
    }),
  );
  fc.assert(
    fc.property(garbage, fc.constantFrom("A:1", "B:2", SERVER), (bytes, from) => {
      const before = server.stats();
      server.handleDatagram(from, bytes, 1);
      sent(server);
      events(server);
      const after = server.stats();
      const drops = (s: typeof after) => Object.values(s.dropped).reduce((a, b) => a + b, 0);
      assert.equal(after.datagramsReceived, before.datagramsReceived + 1);
      // Every datagram is dropped at most once; an undecodable one always is.
      const counted = drops(after) - drops(before);
      if (decodeMessage(bytes) === undefined || bytes.length > 1500) assert.equal(counted, 1);
      else assert.ok(counted === 0 || counted === 1);
      assert.ok(server.connectionCount <= 3);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("LspEndpoint.handleDatagram() drops everything after closeAll() when drained", () => {
  const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 0);
  server.closeAll(1);
  assert.ok(server.isFinished);
  events(server);
  sent(server);
  server.handleDatagram("B:1", bytesOf(connectMessage(0)), 2);
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 2);
  server.handleDatagram("A:1", bytesOf(dataMessage(1, 1, te.encode("x"))), 2);
  server.handleTick(10_000);
  assert.deepEqual(sent(server), []);
  assert.deepEqual(events(server), []);
  assert.equal(server.stats().dropped.refusedConnect, 2);
  assert.equal(server.nextTimeout(), undefined);
});

Deno.test("LspEndpoint.server() can draw random ConnIDs, deterministic per seed", () => {
  const ids = (seed: number) => {
    const server = LspEndpoint.server(P(5, 2000, 1, 0, 1), Prng.seeded(seed), {
      randomConnIds: true,
    });
    for (let p = 0; p < 20; p++) server.handleDatagram(`A:${p}`, bytesOf(connectMessage(0)), 0);
    return server.connIds();
  };
  const a = ids(7);
  assert.deepEqual(ids(7), a);
  assert.equal(new Set(a).size, 20);
  assert.ok(a.every((id) => id >= 1 && id <= 2 ** 31 - 1));
  assert.notDeepEqual(a, Array.from({ length: 20 }, (_, i) => i + 1));
});

Deno.test("LspEndpoint.server() rejects a bad table size and bad params", () => {
  assert.throws(() => LspEndpoint.server({}, Prng.seeded(1), { maxConnections: 0 }), RangeError);
  assert.throws(() => LspEndpoint.server({ windowSize: 0 }, Prng.seeded(1)), RangeError);
  assert.throws(() => LspEndpoint.server({ epochMillis: 1.5 }, Prng.seeded(1)), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Client

Deno.test("LspEndpoint.client() retries Connect every epoch and fails after EpochLimit epochs", () => {
  const client = LspEndpoint.client(SERVER, P(3, 100, 1, 0, 1), Prng.seeded(1), 0, { isn: 5 });
  assert.deepEqual(sent(client), [`${SERVER} <- Connect 5`]);
  const at: number[] = [];
  for (let t = 0; t <= 1000 && client.nextTimeout() !== undefined; t += 50) {
    client.handleTick(t);
    if (sent(client).length > 0) at.push(t);
  }
  assert.deepEqual(at, [100, 200]); // then the third epoch (300) gives up
  assert.deepEqual(events(client), [{ type: "connectFailed", connId: 0 }]);
  assert.ok(client.isFinished);
  assert.equal(client.nextTimeout(), undefined);
  client.handleDatagram(SERVER, bytesOf(ackMessage(1, 5)), 400);
  assert.deepEqual(events(client), []);
  assert.equal(client.stats().dropped.noConnection, 1);
});

Deno.test("LspEndpoint.client() accepts datagrams only from the server's address", () => {
  const client = LspEndpoint.client(SERVER, P(5, 100, 1, 0, 1), Prng.seeded(1), 0, { isn: 5 });
  sent(client);
  client.handleDatagram("10.0.0.66:9999", bytesOf(ackMessage(1, 5)), 1);
  assert.deepEqual(events(client), []);
  assert.equal(client.stats().dropped.unknownPeer, 1);
  client.handleDatagram(SERVER, bytesOf(ackMessage(1, 5)), 2);
  assert.deepEqual(events(client), [{ type: "connected", connId: 1, addr: SERVER }]);
  assert.deepEqual(client.connIds(), [1]);
});

Deno.test("LspEndpoint.client() draws its default ISN from the PRNG", () => {
  const isnOf = (seed: number) => {
    const client = LspEndpoint.client(SERVER, {}, Prng.seeded(seed), 0);
    return decodeMessage(client.pollTransmit()!.bytes)!.seqNum;
  };
  assert.equal(isnOf(3), isnOf(3));
  assert.notEqual(isnOf(3), isnOf(4));
  for (let s = 0; s < 20; s++) assert.ok(isnOf(s) >= 0 && isnOf(s) < 2 ** 31);
});

Deno.test("LspEndpoint.client() rejects a negative ISN", () => {
  assert.throws(() => LspEndpoint.client(SERVER, {}, Prng.seeded(1), 0, { isn: -1 }), RangeError);
});

Deno.test("LspEndpoint.write() refuses with reason connecting while the client is connecting", () => {
  const client = LspEndpoint.client(SERVER, {}, Prng.seeded(1), 0);
  assert.throws(
    () => client.write(1, Uint8Array.of(1), 0),
    (e) => e instanceof LspConnectionError && e.reason === "connecting",
  );
});

Deno.test("LspEndpoint.closeAll() abandons a connect attempt", () => {
  const client = LspEndpoint.client(SERVER, {}, Prng.seeded(1), 0);
  sent(client);
  client.closeAll(1);
  assert.deepEqual(events(client), [{ type: "closed", connId: 0 }]);
  assert.ok(client.isFinished);
  client.handleTick(10_000);
  assert.deepEqual(sent(client), []);
});

// ---------------------------------------------------------------------------------------------
// Timer

Deno.test("LspEndpoint.nextTimeout() is undefined while a server is idle and starts with its first connection", () => {
  const server = LspEndpoint.server(P(5, 100, 1, 0, 1), Prng.seeded(1));
  assert.equal(server.nextTimeout(), undefined);
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 50);
  assert.equal(server.nextTimeout(), 150);
  sent(server);
  server.handleTick(149);
  assert.deepEqual(sent(server), []);
  server.handleTick(150);
  assert.deepEqual(sent(server), ["A:1 <- HB 1"]);
  assert.equal(server.nextTimeout(), 250);
});

Deno.test("LspEndpoint.handleTick() skips missed epochs instead of replaying them", () => {
  const server = LspEndpoint.server(P(2, 100, 1, 0, 1), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 0);
  sent(server);
  server.handleTick(1050); // ten epochs late: one epoch of work
  assert.deepEqual(sent(server), ["A:1 <- HB 1"]);
  assert.equal(server.connectionCount, 1); // one silent epoch, not ten
  assert.equal(server.nextTimeout(), 1100);
  server.handleTick(1100);
  assert.equal(server.connectionCount, 0);
  assert.deepEqual(events(server).at(-1), { type: "lost", connId: 1 });
});

Deno.test("LspEndpoint.handleTick() ignores time going backwards and rejects NaN", () => {
  const client = LspEndpoint.client(SERVER, P(5, 100, 1, 0, 1), Prng.seeded(1), 1000);
  sent(client);
  client.handleTick(1100);
  assert.equal(sent(client).length, 1);
  client.handleTick(500); // clamped to 1100: the next epoch (1200) is not due
  assert.deepEqual(sent(client), []);
  assert.throws(() => client.handleTick(NaN), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Commands

Deno.test("LspEndpoint.write() refuses oversize payloads and unknown, closing, closed or lost connections", () => {
  const server = LspEndpoint.server(P(2, 100, 1, 0, 1), Prng.seeded(1));
  const reason = (f: () => void) => {
    try {
      f();
    } catch (e) {
      if (e instanceof LspConnectionError) return e.reason;
      throw e;
    }
    return "none";
  };
  assert.throws(
    () => server.write(1, new Uint8Array(MAX_PAYLOAD_BYTES + 1), 0),
    LspPayloadTooLargeError,
  );
  assert.equal(reason(() => server.write(1, new Uint8Array(1), 0)), "unknown");
  for (const port of [1, 2, 3]) server.handleDatagram(`A:${port}`, bytesOf(connectMessage(0)), 0);
  server.write(1, new Uint8Array(1000), 0);
  server.close(1, 0);
  assert.equal(reason(() => server.write(1, new Uint8Array(1), 0)), "closing");
  server.close(2, 0);
  assert.equal(reason(() => server.write(2, new Uint8Array(1), 0)), "closed");
  assert.equal(reason(() => server.close(2, 0)), "closed");
  server.handleTick(100);
  server.handleTick(200);
  assert.equal(reason(() => server.write(3, new Uint8Array(1), 0)), "lost");
  assert.equal(reason(() => server.write(1, new Uint8Array(1), 0)), "lost");
});

Deno.test("LspEndpoint.pendingCount() counts queued and in-flight messages", () => {
  const server = LspEndpoint.server(P(5, 100, 2, 0, 2), Prng.seeded(1));
  server.handleDatagram("A:1", bytesOf(connectMessage(0)), 0);
  for (let i = 0; i < 5; i++) server.write(1, Uint8Array.of(i), 0);
  assert.equal(server.pendingCount(1), 5);
  server.handleDatagram("A:1", bytesOf(ackMessage(1, 1)), 1);
  assert.equal(server.pendingCount(1), 4);
  assert.equal(server.pendingCount(99), 0);
});

Deno.test("LspEndpoint keeps every datagram within 1500 bytes with huge numbers", () => {
  const server = LspEndpoint.server(P(5, 100, 3, 0, 3), Prng.seeded(1), { randomConnIds: true });
  server.handleDatagram("A:1", bytesOf(connectMessage(MAX_ISN)), 0);
  const [connId] = server.connIds();
  for (let i = 0; i < 3; i++) server.write(connId, new Uint8Array(1000).fill(0xff), 0);
  server.handleTick(100);
  let count = 0;
  for (let t = server.pollTransmit(); t; t = server.pollTransmit(), count++) {
    assert.ok(t.bytes.length <= 1500, `${t.bytes.length}`);
  }
  assert.equal(count, 1 + 3 + 3 + 1); // Connect-Ack, 3 Data, 3 retransmissions and a heartbeat
});

// ---------------------------------------------------------------------------------------------
// End to end

Deno.test("LspEndpoint carries lock-step echoes at once, without a single retransmission", () => {
  const prng = Prng.seeded(11);
  const net = new TestNet(prng.fork());
  const params = P(5, 2000, 1, 0, 1);
  const server = net.add(SERVER, LspEndpoint.server(params, prng.fork()));
  const clients = [1, 2, 3].map((i) => `10.0.0.${i + 1}:5000`);
  const isns = new Map<Addr, number>();
  for (const addr of clients) {
    const isn = prng.int(1, 256);
    isns.set(addr, isn);
    net.add(addr, LspEndpoint.client(SERVER, params, prng.fork(), 0, { isn }));
  }
  const done = new Map<Addr, number>(clients.map((c) => [c, 0])); // echoes received so far
  const ids = new Map<Addr, number>();
  const finished = () => [...done.values()].every((n) => n === 50);
  for (let round = 0; round < 10_000 && !finished(); round++) {
    assert.ok(net.step(), "the network went idle");
    for (const e of net.take(SERVER)) {
      if (e.type === "message") server.write(e.connId, e.payload, net.now); // echo
    }
    for (const addr of clients) {
      for (const e of net.take(addr)) {
        if (e.type === "connected") ids.set(addr, e.connId);
        else if (e.type === "message") {
          assert.equal(td.decode(e.payload), `${done.get(addr)}`, "echo order");
          done.set(addr, done.get(addr)! + 1);
        } else assert.fail(`${addr}: ${e.type}`);
        const next = done.get(addr)!;
        if (next < 50) net.nodes.get(addr)!.write(ids.get(addr)!, te.encode(`${next}`), net.now);
      }
    }
  }
  for (const addr of clients) assert.equal(done.get(addr), 50, addr);
  assert.equal(net.now, 0, "no epoch was needed");
  assert.equal(server.stats().dataRetransmitted, 0);
  // BasicISN: per ConnID, skipping heartbeats, the first messages are Ack(isn), Data(isn+1), Ack(isn+1).
  for (const addr of clients) {
    const id = ids.get(addr)!;
    const isn = isns.get(addr)!;
    const first = net.log
      .map((line) => line.split(" ").slice(4).join(" "))
      .filter((s) => s.endsWith(` ${id}:${isn}`) || s.endsWith(` ${id}:${isn + 1}`))
      .slice(0, 3);
    assert.deepEqual(first, [`Ack ${id}:${isn}`, `Data ${id}:${isn + 1}`, `Ack ${id}:${isn + 1}`]);
  }
});

Deno.test("LspEndpoint streams 200 messages each way in order with a window (ω 5, M 3)", () => {
  const prng = Prng.seeded(5);
  const net = new TestNet(prng.fork(), { delayMs: [1, 5] });
  const params = P(5, 100, 5, 2, 3);
  const server = net.add(SERVER, LspEndpoint.server(params, prng.fork()));
  const client = net.add("C:1", LspEndpoint.client(SERVER, params, prng.fork(), 0, { isn: 0 }));
  const atServer: number[] = [];
  const atClient: number[] = [];
  for (
    let round = 0;
    round < 100_000 && (atServer.length < 200 || atClient.length < 200);
    round++
  ) {
    assert.ok(net.step());
    for (const e of net.take("C:1")) {
      if (e.type === "connected") {
        for (let i = 0; i < 200; i++) {
          client.write(e.connId, te.encode(`${i}`), net.now);
        }
      }
      if (e.type === "message") atClient.push(Number(td.decode(e.payload)));
    }
    for (const e of net.take(SERVER)) {
      if (e.type === "connected") {
        for (let i = 0; i < 200; i++) {
          server.write(e.connId, te.encode(`${i}`), net.now);
        }
      }
      if (e.type === "message") atServer.push(Number(td.decode(e.payload)));
    }
  }
  const expected = Array.from({ length: 200 }, (_, i) => i);
  assert.deepEqual(atServer, expected);
  assert.deepEqual(atClient, expected);
});

Deno.test("LspEndpoint connects through the server's heartbeat when the Connect-Ack is lost", () => {
  let dropped = false;
  const net = new TestNet(Prng.seeded(1), {
    filter: (_from, _to, m) => {
      if (m.type !== MsgType.Ack || m.seqNum !== 7 || dropped) return false;
      return (dropped = true);
    },
  });
  const params = P(5, 1000, 2, 4, 2);
  net.add(SERVER, LspEndpoint.server(params, Prng.seeded(2)));
  net.add("C:1", LspEndpoint.client(SERVER, params, Prng.seeded(3), 0, { isn: 7 }));
  while (net.now < 10_000 && net.step()) {
    const got = net.take("C:1");
    if (got.length > 0) {
      assert.deepEqual(got, [{ type: "connected", connId: 1, addr: SERVER }]);
      break;
    }
  }
  assert.ok(dropped);
  assert.equal(net.now, 1000); // the server's first epoch heartbeat did it
  assert.equal(net.nodes.get(SERVER)!.connectionCount, 1); // the retried Connect was ignored
});

Deno.test("LspEndpoint.close() on a client delivers pending data, then the server notices the silence", () => {
  const net = new TestNet(Prng.seeded(1), { delayMs: [10, 10] });
  const params = P(3, 100, 1, 0, 1);
  net.add(SERVER, LspEndpoint.server(params, Prng.seeded(2)));
  const client = net.add("C:1", LspEndpoint.client(SERVER, params, Prng.seeded(3), 0, { isn: 0 }));
  const log: string[] = [];
  while (net.now < 5000 && net.step()) {
    for (const e of net.take("C:1")) {
      log.push(`${net.now} client ${e.type}`);
      if (e.type === "connected") {
        for (let i = 0; i < 5; i++) client.write(e.connId, te.encode(`${i}`), net.now);
        client.close(e.connId, net.now);
      }
    }
    for (const e of net.take(SERVER)) {
      log.push(
        `${net.now} server ${e.type}${e.type === "message" ? " " + td.decode(e.payload) : ""}`,
      );
    }
  }
  assert.deepEqual(log, [
    "10 server connected",
    "20 client connected",
    "30 server message 0",
    "50 server message 1",
    "70 server message 2",
    "90 server message 3",
    "110 server message 4",
    "120 client closed",
    // The server last heard the client at 110 (just before its epoch at 110, as its connection
    // was created at 10): silent epochs at 110, 210 and 310 make EpochLimit 3.
    "310 server lost",
  ]);
  assert.ok(client.isFinished);
});

Deno.test("LspEndpoint.closeAll() on a server drains every connection, then goes silent", () => {
  const net = new TestNet(Prng.seeded(1), { delayMs: [5, 5] });
  const params = P(5, 100, 1, 0, 1);
  const server = net.add(SERVER, LspEndpoint.server(params, Prng.seeded(2)));
  for (const c of ["C:1", "C:2"]) net.add(c, LspEndpoint.client(SERVER, params, Prng.seeded(3), 0));
  while (server.connectionCount < 2 && net.step());
  net.take(SERVER);
  for (const id of server.connIds()) {
    for (let i = 0; i < 3; i++) server.write(id, Uint8Array.of(i), net.now);
  }
  server.closeAll(net.now);
  assert.ok(!server.isFinished);
  const got: string[] = [];
  while (net.now < 1000 && net.step()) {
    for (const e of net.take(SERVER)) got.push(`${e.type} ${e.connId}`);
    if (server.isFinished) break;
  }
  assert.deepEqual(got.sort(), ["closed 1", "closed 2"]);
  const finishedAt = net.now;
  const before = net.log.length;
  while (net.now < 3000 && net.step()) net.take(SERVER);
  assert.ok(
    net.log.slice(before).every((line) => !line.includes(`${SERVER} ->`)),
    "server sent after finishing",
  );
  assert.ok(finishedAt < 100, `finished at ${finishedAt}`);
});

for (const seed of [1, 2, 3, 0xbeef]) {
  Deno.test(`LspEndpoint echoes 30 messages per client in order at 20% loss and 5% duplication (seed ${seed})`, () => {
    const prng = Prng.seeded(seed);
    const net = new TestNet(prng.fork(), { loss: 0.2, duplicate: 0.05, delayMs: [1, 40] });
    const params = P(50, 100, 4, 2, 3);
    const server = net.add(SERVER, LspEndpoint.server(params, prng.fork()));
    const clients = ["C:1", "C:2", "C:3"];
    for (const c of clients) net.add(c, LspEndpoint.client(SERVER, params, prng.fork(), 0));
    const got = new Map<Addr, number[]>(clients.map((c) => [c, []]));
    while (net.now < 600_000 && [...got.values()].some((g) => g.length < 30) && net.step()) {
      for (const e of net.take(SERVER)) {
        if (e.type === "message") server.write(e.connId, e.payload, net.now);
        assert.notEqual(e.type, "lost", `replay: seed ${seed}`);
      }
      for (const c of clients) {
        for (const e of net.take(c)) {
          assert.ok(
            e.type === "connected" || e.type === "message",
            `${e.type}, replay: seed ${seed}`,
          );
          if (e.type === "connected") {
            for (let i = 0; i < 30; i++) {
              net.nodes.get(c)!.write(e.connId, te.encode(`${i}`), net.now);
            }
          } else got.get(c)!.push(Number(td.decode(e.payload)));
        }
      }
    }
    for (const c of clients) {
      assert.deepEqual(
        got.get(c),
        Array.from({ length: 30 }, (_, i) => i),
        `${c}, replay: seed ${seed}`,
      );
    }
  });
}
