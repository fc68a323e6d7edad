import assert from "node:assert/strict";
import fc from "fast-check";
import { Conn, type LspEvent, MAX_ISN, newLspStats } from "../../src/lsp/conn.ts";
import { LspConnectionError, LspPayloadTooLargeError } from "../../src/lsp/errors.ts";
import { type LspParams, lspParams } from "../../src/lsp/params.ts";
import {
  ackMessage,
  cackMessage,
  connectMessage,
  dataMessage,
  encodeMessage,
  heartbeatMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MAX_PAYLOAD_BYTES,
  MsgType,
} from "../../src/lsp/wire.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const PEER = "10.0.0.2:5000";

/** Parameters in the Go struct's positional order: K, δ, ω, B, M. */
function P(
  epochLimit: number,
  epochMillis: number,
  windowSize: number,
  maxBackOffInterval: number,
  maxUnackedMessages: number,
): LspParams {
  return lspParams({ epochLimit, epochMillis, windowSize, maxBackOffInterval, maxUnackedMessages });
}

/** One line per outgoing message: `Connect 7`, `Data 101`, `Ack 101`, `CAck 105`, `HB`. */
function show(m: LspMessage): string {
  switch (m.type) {
    case MsgType.Connect:
      return `Connect ${m.seqNum}`;
    case MsgType.Data:
      return `Data ${m.seqNum}`;
    case MsgType.Ack:
      return m.seqNum === 0 ? "HB" : `Ack ${m.seqNum}`;
    case MsgType.CAck:
      return `CAck ${m.seqNum}`;
  }
}

function sent(conn: Conn): string[] {
  const out: string[] = [];
  for (let m = conn.pollTransmit(); m; m = conn.pollTransmit()) out.push(show(m));
  return out;
}

function sentMessages(conn: Conn): LspMessage[] {
  const out: LspMessage[] = [];
  for (let m = conn.pollTransmit(); m; m = conn.pollTransmit()) out.push(m);
  return out;
}

function events(conn: Conn): LspEvent[] {
  const out: LspEvent[] = [];
  for (let e = conn.pollEvent(); e; e = conn.pollEvent()) out.push(e);
  return out;
}

function messages(conn: Conn): string[] {
  return events(conn).flatMap((e) => (e.type === "message" ? [td.decode(e.payload)] : []));
}

/** A server-side connection with its Connect-Ack and `connected` event already drained. */
function server(params: LspParams, isn = 0, connId = 1): Conn {
  const conn = Conn.server(params, PEER, connId, isn);
  sent(conn);
  events(conn);
  return conn;
}

/** A connected client with its Connect, Connect-Ack and `connected` event already drained. */
function client(params: LspParams, isn = 0, connId = 1): Conn {
  const conn = Conn.client(params, "S", isn);
  sent(conn);
  conn.handleMessage(ackMessage(connId, isn));
  events(conn);
  sent(conn);
  return conn;
}

const data = (connId: number, seq: number, s: string) => dataMessage(connId, seq, te.encode(s));

function writeAll(conn: Conn, ...payloads: string[]): void {
  for (const p of payloads) conn.write(te.encode(p));
}

// ---------------------------------------------------------------------------------------------
// Connect (client)

Deno.test("Conn.client() sends Connect at once, again on every tick, and fails after EpochLimit ticks", () => {
  const conn = Conn.client(P(3, 500, 1, 4, 1), "S", 7);
  assert.deepEqual(sent(conn), ["Connect 7"]);
  conn.tick();
  assert.deepEqual(sent(conn), ["Connect 7"]); // no backoff for Connects
  conn.tick();
  assert.deepEqual(sent(conn), ["Connect 7"]);
  assert.deepEqual(events(conn), []);
  conn.tick();
  assert.deepEqual(sent(conn), []);
  assert.deepEqual(events(conn), [{ type: "connectFailed", connId: 0 }]);
  assert.equal(conn.state, "failed");
  conn.tick();
  conn.handleMessage(ackMessage(1, 7));
  assert.deepEqual(sent(conn), []);
  assert.deepEqual(events(conn), []);
});

Deno.test("Conn.client() sends no heartbeat while connecting, and ignores non-answers", () => {
  const conn = Conn.client(P(5, 500, 1, 0, 1), "S", 7);
  sent(conn);
  for (const m of [ackMessage(0, 7), ackMessage(1, 8), connectMessage(7), data(0, 8, "x")]) {
    conn.handleMessage(m);
  }
  conn.tick();
  assert.deepEqual(sent(conn), ["Connect 7"]);
  assert.equal(conn.state, "connecting");
  assert.equal(conn.silentEpochs, 1); // non-answers do not postpone the connect deadline
});

Deno.test("Conn.client() is connected by Ack(id, isn)", () => {
  const conn = Conn.client(P(5, 500, 1, 0, 1), "S", 7);
  sent(conn);
  conn.handleMessage(ackMessage(3, 7));
  assert.equal(conn.state, "open");
  assert.equal(conn.connId, 3);
  assert.deepEqual(events(conn), [{ type: "connected", connId: 3, addr: "S" }]);
  assert.deepEqual(sent(conn), []);
});

Deno.test("Conn.client() treats the server's heartbeat Ack(id, 0) as the Connect's answer", () => {
  const conn = Conn.client(P(5, 500, 1, 0, 1), "S", 42);
  sent(conn);
  conn.handleMessage(heartbeatMessage(9));
  assert.equal(conn.state, "open");
  assert.equal(conn.connId, 9);
  writeAll(conn, "a");
  assert.deepEqual(sentMessages(conn).map((m) => [m.connId, m.seqNum]), [[9, 43]]);
});

Deno.test("Conn.client() is connected by a valid Data message and delivers it, not by a corrupt one", () => {
  const conn = Conn.client(P(5, 500, 1, 0, 1), "S", 10);
  sent(conn);
  conn.handleMessage({ ...data(4, 11, "hi"), checksum: 0 });
  assert.equal(conn.state, "connecting");
  conn.handleMessage(data(4, 11, "hi"));
  assert.equal(conn.state, "open");
  assert.deepEqual(sent(conn), ["Ack 11"]);
  const evs = events(conn);
  assert.equal(evs[0].type, "connected");
  assert.equal(evs[1].type === "message" && td.decode(evs[1].payload), "hi");
});

Deno.test("Conn.client() ignores a late Connect-Ack and messages for another ConnID once connected", () => {
  const conn = client(P(5, 500, 2, 0, 2), 7, 3);
  writeAll(conn, "a");
  assert.deepEqual(sent(conn), ["Data 8"]);
  conn.handleMessage(ackMessage(3, 7)); // duplicate Connect-Ack: no Data has that number
  conn.handleMessage(ackMessage(4, 8)); // another connection's Ack
  conn.handleMessage(data(4, 8, "x"));
  assert.equal(conn.connId, 3);
  assert.equal(conn.inflightCount, 1);
  assert.deepEqual(sent(conn), []);
  assert.deepEqual(events(conn), []);
});

Deno.test("Conn.client() rejects a negative or fractional ISN", () => {
  assert.throws(() => Conn.client(P(5, 500, 1, 0, 1), "S", -1), RangeError);
  assert.throws(() => Conn.client(P(5, 500, 1, 0, 1), "S", 1.5), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Connect (server)

Deno.test("Conn.server() answers the Connect once with Ack(id, isn) and reports connected", () => {
  const conn = Conn.server(P(5, 500, 1, 0, 1), PEER, 5, 100);
  assert.deepEqual(sent(conn), ["Ack 100"]);
  assert.deepEqual(events(conn), [{ type: "connected", connId: 5, addr: PEER }]);
});

Deno.test("Conn.handleMessage() ignores a duplicate Connect on the server but counts it as life", () => {
  const stats = newLspStats();
  const conn = Conn.server(P(3, 500, 1, 0, 1), PEER, 1, 100, { stats });
  sent(conn);
  conn.tick();
  conn.tick();
  assert.equal(conn.silentEpochs, 2);
  conn.handleMessage(connectMessage(100));
  conn.handleMessage(connectMessage(55));
  assert.equal(conn.silentEpochs, 0);
  assert.deepEqual(sent(conn).filter((s) => s !== "HB"), []);
  assert.equal(stats.dropped.duplicateConnect, 2);
});

Deno.test("Conn.handleMessage() re-answers a duplicate Connect at most once per epoch when enabled", () => {
  const conn = Conn.server(P(5, 500, 1, 0, 1), PEER, 1, 100, { answerDuplicateConnect: true });
  sent(conn);
  conn.handleMessage(connectMessage(100));
  conn.handleMessage(connectMessage(100));
  assert.deepEqual(sent(conn), ["Ack 100"]);
  conn.tick();
  sent(conn);
  conn.handleMessage(connectMessage(100));
  assert.deepEqual(sent(conn), ["Ack 100"]);
});

Deno.test("Conn.server() numbers its first Data ISN+1, like the client's stream", () => {
  const srv = server(P(5, 500, 1, 0, 1), 100);
  const cli = client(P(5, 500, 1, 0, 1), 100);
  writeAll(srv, "s");
  writeAll(cli, "c");
  assert.deepEqual(sent(srv), ["Data 101"]);
  assert.deepEqual(sent(cli), ["Data 101"]);
});

// ---------------------------------------------------------------------------------------------
// Sender: window, max unacked, immediate sending

Deno.test("Conn.write() sends at once what fits and holds the rest (ω 1, M 1)", () => {
  const conn = server(P(5, 500, 1, 0, 1), 0);
  writeAll(conn, "a", "b", "c");
  assert.deepEqual(sent(conn), ["Data 1"]);
  assert.equal(conn.queuedCount, 2);
  assert.equal(conn.pendingCount, 3);
});

Deno.test("Conn.handleMessage() sends the next message the moment an Ack frees room", () => {
  const conn = server(P(5, 500, 1, 0, 1), 0);
  writeAll(conn, "a", "b", "c");
  sent(conn);
  conn.handleMessage(ackMessage(1, 1));
  assert.deepEqual(sent(conn), ["Data 2"]);
  conn.handleMessage(ackMessage(1, 2));
  assert.deepEqual(sent(conn), ["Data 3"]);
  conn.handleMessage(ackMessage(1, 3));
  assert.deepEqual(sent(conn), []);
  assert.equal(conn.pendingCount, 0);
});

Deno.test("Conn.write() bounds by distance from the oldest unacked message (ω 2, M 2)", () => {
  const conn = server(P(5, 500, 2, 0, 2), 0);
  writeAll(conn, "1", "2", "3", "4", "5");
  assert.deepEqual(sent(conn), ["Data 1", "Data 2"]);
  conn.handleMessage(ackMessage(1, 2)); // window still [1, 2]
  assert.deepEqual(sent(conn), []);
  conn.handleMessage(ackMessage(1, 1)); // base 3
  assert.deepEqual(sent(conn), ["Data 3", "Data 4"]);
});

Deno.test("Conn.write() counts M in messages: an Ack of a non-oldest message frees a slot (ω 5, M 2)", () => {
  const conn = server(P(5, 500, 5, 0, 2), 1000);
  writeAll(conn, "a", "b", "c", "d", "e", "f");
  assert.deepEqual(sent(conn), ["Data 1001", "Data 1002"]);
  conn.handleMessage(ackMessage(1, 1002));
  assert.deepEqual(sent(conn), ["Data 1003"]);
  conn.handleMessage(ackMessage(1, 1001));
  assert.deepEqual(sent(conn), ["Data 1004"]);
  assert.equal(conn.inflightCount, 2);
});

Deno.test("Conn.write() never lets more than min(ω, M) messages fly (ω 5, M 50)", () => {
  const conn = server(P(3, 500, 5, 0, 50), 0);
  for (let i = 0; i < 10; i++) conn.write(Uint8Array.of(i));
  assert.deepEqual(sent(conn), ["Data 1", "Data 2", "Data 3", "Data 4", "Data 5"]);
  conn.handleMessage(ackMessage(1, 5)); // window [1, 5]: nothing new
  assert.deepEqual(sent(conn), []);
});

Deno.test("Conn.handleMessage() lets a CAck retire every message up to its number", () => {
  const conn = server(P(5, 500, 3, 0, 3), 0);
  writeAll(conn, "1", "2", "3", "4", "5", "6");
  assert.deepEqual(sent(conn), ["Data 1", "Data 2", "Data 3"]);
  conn.handleMessage(cackMessage(1, 2));
  assert.deepEqual(sent(conn), ["Data 4", "Data 5"]);
  conn.handleMessage(cackMessage(1, 5));
  assert.deepEqual(sent(conn), ["Data 6"]);
  conn.handleMessage(cackMessage(1, 100));
  assert.equal(conn.pendingCount, 0);
  conn.tick();
  conn.tick();
  assert.deepEqual(sent(conn), ["HB"]); // nothing left to retransmit
});

Deno.test("Conn.handleMessage() ignores Acks of numbers that are not outstanding", () => {
  const conn = server(P(5, 500, 1, 0, 1), 10);
  writeAll(conn, "a", "b");
  sent(conn);
  for (const sn of [10, 12, 99, -1, 0]) conn.handleMessage(ackMessage(1, sn));
  assert.deepEqual(sent(conn), []);
  assert.equal(conn.inflightCount, 1);
  assert.equal(conn.queuedCount, 1);
});

Deno.test("Conn.write() throws LspPayloadTooLargeError over 1071 bytes and TypeError on a non-Uint8Array", () => {
  const conn = server(P(5, 500, 1, 0, 1));
  conn.write(new Uint8Array(1068));
  assert.throws(
    () => conn.write(new Uint8Array(MAX_PAYLOAD_BYTES + 1)),
    (e) => e instanceof LspPayloadTooLargeError && e instanceof RangeError,
  );
  assert.throws(() => conn.write("x" as unknown as Uint8Array), TypeError);
  assert.equal(conn.pendingCount, 1);
});

/**
 * The oracle: the largest payload of `fill` bytes whose Data message, as {@linkcode encodeMessage}
 * writes it with this ConnID and SeqNum, fits in 1500 bytes.
 */
function largestFitting(connId: number, seqNum: number, fill: number): number {
  for (let n = 1100; n >= 0; n--) {
    const m = dataMessage(connId, seqNum, new Uint8Array(n).fill(fill));
    if (encodeMessage(m).length <= MAX_DATAGRAM_BYTES) return n;
  }
  throw new Error("nothing fits");
}

Deno.test("Conn.write() takes the largest payload whose Data message fits in 1500 bytes, refuses one byte more", () => {
  // (ConnID, ISN, fill byte): small numbers, a checksum with few digits, huge numbers.
  const cases: [number, number, number, number][] = [
    [1, 0, 0x00, 1068], // checksum 64465: five digits
    [1, 0, 0x41, 1068],
    [1, 0, 0x0a, 1071], // checksum 202: three digits leave room for one more base64 quantum
    [42, 1000, 0x7a, 1065],
    [2 ** 31 - 1, 2 ** 31, 0x30, 1056],
    [Number.MAX_SAFE_INTEGER, MAX_ISN, 0xff, 1047],
  ];
  for (const [connId, isn, fill, expected] of cases) {
    const max = largestFitting(connId, isn + 1, fill);
    assert.equal(max, expected, `ConnID ${connId}, ISN ${isn}, fill ${fill}`);
    const conn = server(P(5, 500, 1, 0, 1), isn, connId);
    const refused = (n: number) => {
      try {
        conn.write(new Uint8Array(n).fill(fill));
      } catch (e) {
        assert.ok(e instanceof LspPayloadTooLargeError, String(e));
        assert.equal(e.payloadBytes, n);
        assert.ok(e.datagramBytes > MAX_DATAGRAM_BYTES);
        assert.match(e.message, new RegExp(`${n} bytes.*more than the 1500`));
        return true;
      }
      return false;
    };
    assert.ok(refused(max + 1), `${max + 1} bytes accepted`);
    assert.equal(conn.nextSeqNum, isn + 1, "a refused write used a SeqNum");
    assert.equal(conn.pendingCount, 0);
    assert.ok(!refused(max), `${max} bytes refused`);
    const [m] = sentMessages(conn);
    assert.equal(m.seqNum, isn + 1);
    assert.equal(m.size, max);
    assert.ok(encodeMessage(m).length <= MAX_DATAGRAM_BYTES);
    assert.ok(encodeMessage(m).length > MAX_DATAGRAM_BYTES - 4); // the edge, not far from it
  }
});

Deno.test("Conn.write() checks the size with the SeqNum the message gets, not the first one", () => {
  // ISN 8: Data 9 has a one-digit SeqNum, Data 10 two digits; a 1071-byte payload of 0x0a fits
  // only while the SeqNum and the checksum are short.
  const conn = server(P(5, 500, 5, 0, 5), 8);
  const fill = 0x0a;
  const n = largestFitting(1, 9, fill);
  assert.equal(n, 1071);
  assert.equal(largestFitting(1, 10, fill), 1068);
  conn.write(new Uint8Array(n).fill(fill)); // Data 9
  assert.throws(() => conn.write(new Uint8Array(n).fill(fill)), LspPayloadTooLargeError);
  conn.write(new Uint8Array(1068).fill(fill)); // Data 10
  assert.deepEqual(sent(conn), ["Data 9", "Data 10"]);
});

Deno.test("Conn.write() copies the payload", () => {
  const conn = server(P(5, 500, 1, 0, 1));
  const buf = te.encode("abc");
  conn.write(buf);
  buf[0] = 0x7a;
  assert.equal(td.decode(sentMessages(conn)[0].payload!), "abc");
  conn.tick();
  assert.equal(td.decode(sentMessages(conn)[0].payload!), "abc");
});

Deno.test("Conn.write() accepts an empty payload and sends it as an empty string", () => {
  const conn = server(P(5, 500, 1, 0, 1));
  conn.write(new Uint8Array(0));
  const [m] = sentMessages(conn);
  assert.deepEqual(m.payload, new Uint8Array(0));
  assert.equal(m.size, 0);
});

Deno.test("Conn delivers a Data with a null payload flagged as null, and write(null) sends one", () => {
  const stats = newLspStats();
  const conn = Conn.server(P(5, 500, 2, 0, 2), PEER, 1, 20, { stats });
  sent(conn);
  events(conn);
  const nullData: LspMessage = { ...dataMessage(1, 21, new Uint8Array(0)), payload: null };
  conn.handleMessage(dataMessage(1, 22, new Uint8Array(0))); // "" ahead of it: buffered
  conn.handleMessage(nullData);
  assert.deepEqual(sent(conn), ["Ack 22", "Ack 21"]);
  assert.deepEqual(events(conn), [
    { type: "message", connId: 1, payload: new Uint8Array(0), payloadNull: true },
    { type: "message", connId: 1, payload: new Uint8Array(0) },
  ]);
  // A null payload with a wrong checksum is dropped like any other.
  conn.handleMessage({ ...nullData, seqNum: 23 });
  assert.deepEqual(sent(conn), []);
  assert.equal(stats.dropped.badChecksum, 1);
  conn.write(null);
  conn.write(new Uint8Array(0));
  const [a, b] = sentMessages(conn);
  assert.equal(a.payload, null);
  assert.deepEqual(a, { ...dataMessage(1, 21, new Uint8Array(0)), payload: null });
  assert.deepEqual(b.payload, new Uint8Array(0));
});

Deno.test("Conn.server() takes a negative ISN like the reference: both streams start at ISN + 1", () => {
  const conn = Conn.server(P(5, 500, 1, 0, 1), PEER, 3, -2);
  assert.deepEqual(sent(conn), ["Ack -2"]);
  events(conn);
  conn.handleMessage(data(3, -1, "a"));
  conn.handleMessage(data(3, 0, "b"));
  assert.deepEqual(sent(conn), ["Ack -1", "HB"]); // the Ack of Data 0 looks like a heartbeat
  assert.deepEqual(messages(conn), ["a", "b"]);
  writeAll(conn, "x", "y", "z");
  assert.deepEqual(sent(conn), ["Data -1"]);
  conn.handleMessage(ackMessage(3, -1));
  assert.deepEqual(sent(conn), ["Data 0"]);
  // Ack(3, 0) is a heartbeat and the Ack of Data 0 at once: with Data 0 in flight it acks it.
  conn.handleMessage(ackMessage(3, 0));
  assert.deepEqual(sent(conn), ["Data 1"]);
  conn.handleMessage(heartbeatMessage(3)); // Data 0 is gone: now only a heartbeat
  assert.equal(conn.inflightCount, 1);
});

// ---------------------------------------------------------------------------------------------
// Retransmission and backoff

/** The ticks (1 = the first tick after the first send) at which one message is retransmitted. */
function retransmitEpochs(maxBackOffInterval: number, ticks: number): number[] {
  const conn = server(P(1000, 500, 1, maxBackOffInterval, 1));
  writeAll(conn, "x");
  sent(conn);
  const at: number[] = [];
  for (let t = 1; t <= ticks; t++) {
    conn.tick();
    if (sent(conn).includes("Data 1")) at.push(t);
  }
  return at;
}

Deno.test("Conn.tick() retransmits with exponential backoff capped by MaxBackOffInterval", () => {
  assert.deepEqual(retransmitEpochs(0, 6), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(retransmitEpochs(1, 9), [1, 3, 5, 7, 9]);
  assert.deepEqual(retransmitEpochs(2, 12), [1, 3, 6, 9, 12]);
  assert.deepEqual(retransmitEpochs(3, 18), [1, 3, 6, 10, 14, 18]);
  assert.deepEqual(retransmitEpochs(4, 21), [1, 3, 6, 11, 16, 21]);
  assert.deepEqual(retransmitEpochs(8, 38), [1, 3, 6, 11, 20, 29, 38]);
  assert.deepEqual(retransmitEpochs(16, 37), [1, 3, 6, 11, 20, 37]);
  assert.deepEqual(retransmitEpochs(1000, 70), [1, 3, 6, 11, 20, 37, 70]);
});

Deno.test("Conn.tick() keeps a backoff per message, not per connection", () => {
  const conn = server(P(1000, 500, 2, 8, 2));
  writeAll(conn, "a");
  sent(conn);
  conn.tick(); // epoch 1 of message 1
  sent(conn);
  writeAll(conn, "b");
  assert.deepEqual(sent(conn), ["Data 2"]);
  const log: string[] = [];
  for (let t = 2; t <= 7; t++) {
    conn.tick();
    log.push(`${t}: ${sent(conn).join(",")}`);
  }
  // Message 1 (first sent before tick 1): 1, 3, 6. Message 2 (sent before tick 2): 2, 4, 7.
  // A heartbeat goes beside each retransmission, like the reference's.
  assert.deepEqual(log, [
    "2: Data 2,HB",
    "3: Data 1,HB",
    "4: Data 2,HB",
    "5: HB",
    "6: Data 1,HB",
    "7: Data 2,HB",
  ]);
});

Deno.test("Conn.tick() retransmits identical messages in ascending SeqNum order", () => {
  const conn = server(P(1000, 500, 3, 0, 3), 5);
  writeAll(conn, "a", "b", "c");
  const first = sentMessages(conn);
  conn.handleMessage(ackMessage(1, 7));
  conn.tick();
  assert.deepEqual(sentMessages(conn), [first[0], first[2], heartbeatMessage(1)]);
});

Deno.test("Conn.tick() sends no Data outside epochs: a duplicate Ack does not retransmit", () => {
  const conn = server(P(1000, 500, 2, 0, 2));
  writeAll(conn, "a", "b");
  sent(conn);
  conn.handleMessage(ackMessage(1, 2));
  conn.handleMessage(ackMessage(1, 2));
  conn.handleMessage(heartbeatMessage(1));
  assert.deepEqual(sent(conn), []);
});

// ---------------------------------------------------------------------------------------------
// Heartbeats and liveness

Deno.test("Conn.tick() heartbeats beside each retransmission and when no Data went out since the previous tick", () => {
  const conn = server(P(1000, 500, 1, 2, 1));
  conn.tick();
  assert.deepEqual(sent(conn), ["HB"]); // nothing sent in the first epoch
  writeAll(conn, "a");
  sent(conn);
  conn.tick(); // retransmits Data 1 (epoch 1 of its schedule), a heartbeat beside it (reference)
  assert.deepEqual(sent(conn), ["Data 1", "HB"]);
  conn.tick(); // backoff skip, nothing sent since the previous tick
  assert.deepEqual(sent(conn), ["HB"]);
  conn.handleMessage(ackMessage(1, 1));
  writeAll(conn, "b"); // new Data during the epoch, acknowledged before the tick
  conn.handleMessage(ackMessage(1, 2));
  assert.deepEqual(sent(conn), ["Data 2"]);
  conn.tick();
  assert.deepEqual(sent(conn), []);
  conn.tick();
  assert.deepEqual(sent(conn), ["HB"]);
});

Deno.test("Conn.tick() follows the spec's no-loss trace: heartbeats only in the second epoch", () => {
  const cli = client(P(5, 2000, 1, 0, 1), 100);
  const srv = server(P(5, 2000, 1, 0, 1), 100);
  writeAll(cli, "hello");
  srv.handleMessage(sentMessages(cli)[0]);
  assert.deepEqual(messages(srv), ["hello"]);
  writeAll(srv, "hello");
  const fromServer = sentMessages(srv);
  assert.deepEqual(fromServer.map(show), ["Ack 101", "Data 101"]);
  for (const m of fromServer) cli.handleMessage(m);
  const fromClient = sentMessages(cli);
  assert.deepEqual(fromClient.map(show), ["Ack 101"]);
  for (const m of fromClient) srv.handleMessage(m);
  cli.tick();
  srv.tick();
  assert.deepEqual([...sent(cli), ...sent(srv)], []); // both sent Data in the first epoch
  cli.tick();
  srv.tick();
  assert.deepEqual([...sent(cli), ...sent(srv)], ["HB", "HB"]);
});

Deno.test("Conn.tick() loses the connection after EpochLimit silent ticks exactly", () => {
  const conn = server(P(4, 500, 1, 0, 1));
  for (let t = 1; t <= 3; t++) {
    conn.tick();
    assert.equal(conn.state, "open", `tick ${t}`);
  }
  conn.handleMessage(heartbeatMessage(1)); // proof of life resets the count
  for (let t = 1; t <= 3; t++) conn.tick();
  assert.equal(conn.state, "open");
  events(conn);
  conn.tick();
  assert.equal(conn.state, "lost");
  assert.deepEqual(events(conn), [{ type: "lost", connId: 1 }]);
});

Deno.test("Conn.handleMessage() counts even a dropped Data message as proof of life, but not a wrong ConnID", () => {
  const conn = server(P(2, 500, 1, 0, 1));
  conn.tick();
  conn.handleMessage({ ...data(1, 1, "x"), checksum: 1 }); // corrupt: dropped, still alive
  conn.tick();
  assert.equal(conn.state, "open");
  conn.handleMessage(heartbeatMessage(2)); // not ours
  conn.tick();
  assert.equal(conn.state, "lost");
});

Deno.test("Conn.tick() discards pending data when the connection is lost and refuses writes", () => {
  const conn = server(P(2, 500, 1, 0, 1));
  writeAll(conn, "a", "b", "c");
  sent(conn);
  conn.tick();
  conn.tick();
  assert.deepEqual(sent(conn), ["Data 1", "HB"]); // the retransmission of tick 1; nothing on tick 2
  assert.equal(conn.pendingCount, 0);
  assert.throws(
    () => writeAll(conn, "d"),
    (e) => e instanceof LspConnectionError && e.reason === "lost",
  );
  conn.tick();
  conn.handleMessage(data(1, 1, "x"));
  assert.deepEqual(sent(conn), []);
  assert.deepEqual(events(conn), [{ type: "lost", connId: 1 }]);
});

// ---------------------------------------------------------------------------------------------
// Receiver

Deno.test("Conn.handleMessage() acks every acceptable Data at once and delivers in order", () => {
  const conn = server(P(5, 500, 3, 0, 3), 100);
  conn.handleMessage(data(1, 103, "c")); // ahead: buffered, acked
  assert.deepEqual(sent(conn), ["Ack 103"]);
  conn.handleMessage(data(1, 104, "d")); // 104 ≥ 101 + 3: beyond the window, no Ack
  assert.deepEqual(sent(conn), []);
  conn.handleMessage(data(1, 101, "a"));
  assert.deepEqual(sent(conn), ["Ack 101"]);
  assert.deepEqual(messages(conn), ["a"]);
  conn.handleMessage(data(1, 102, "b"));
  assert.deepEqual(sent(conn), ["Ack 102"]);
  assert.deepEqual(messages(conn), ["b", "c"]);
  conn.handleMessage(data(1, 101, "a")); // duplicate: re-acked, discarded
  assert.deepEqual(sent(conn), ["Ack 101"]);
  assert.deepEqual(messages(conn), []);
  assert.equal(conn.expectedSeqNum, 104);
});

Deno.test("Conn.handleMessage() re-acks a duplicate buffered message without delivering it twice", () => {
  const conn = server(P(5, 500, 4, 0, 4), 0);
  conn.handleMessage(data(1, 3, "c"));
  conn.handleMessage(data(1, 3, "c"));
  assert.deepEqual(sent(conn), ["Ack 3", "Ack 3"]);
  conn.handleMessage(data(1, 2, "b"));
  conn.handleMessage(data(1, 1, "a"));
  assert.deepEqual(messages(conn), ["a", "b", "c"]);
});

Deno.test("Conn.handleMessage() drops Data numbered at or below the ISN without an Ack", () => {
  const stats = newLspStats();
  const conn = Conn.server(P(5, 500, 1, 0, 1), PEER, 1, 50, { stats });
  sent(conn);
  conn.handleMessage(data(1, 50, "x"));
  conn.handleMessage(data(1, 0, "x"));
  assert.deepEqual(sent(conn), []);
  assert.equal(stats.dropped.outOfWindow, 2);
});

Deno.test("Conn.handleMessage() truncates a longer payload to Size before checking it", () => {
  const conn = server(P(5, 500, 1, 0, 1), 0);
  const good = data(1, 1, "537000");
  conn.handleMessage({ ...good, payload: Uint8Array.of(...good.payload!, 2, 3, 4) });
  assert.deepEqual(sent(conn), ["Ack 1"]);
  assert.deepEqual(messages(conn), ["537000"]);
});

Deno.test("Conn.handleMessage() drops a short payload, a corrupt one and a negative Size, without Ack", () => {
  const stats = newLspStats();
  const conn = Conn.server(P(5, 500, 1, 0, 1), PEER, 1, 0, { stats });
  sent(conn);
  events(conn);
  const good = data(1, 1, "537000");
  conn.handleMessage({ ...good, payload: good.payload!.subarray(0, 3) });
  const corrupt = good.payload!.slice();
  corrupt[0] ^= 0xff;
  conn.handleMessage({ ...good, payload: corrupt });
  conn.handleMessage({ ...good, size: -1 });
  conn.handleMessage({ ...good, payload: null });
  assert.deepEqual(sent(conn), []);
  assert.deepEqual(events(conn), []);
  assert.equal(stats.dropped.shortPayload, 2);
  assert.equal(stats.dropped.badChecksum, 1);
  assert.equal(stats.dropped.negativeSize, 1);
  conn.handleMessage(good); // the clean one still gets through
  assert.deepEqual(messages(conn), ["537000"]);
});

Deno.test("Conn.handleMessage() accepts Data with Size 0 and a null payload as an empty message", () => {
  const conn = server(P(5, 500, 1, 0, 1), 0);
  conn.handleMessage({ ...dataMessage(1, 1, new Uint8Array(0)), payload: null });
  assert.deepEqual(sent(conn), ["Ack 1"]);
  const [e] = events(conn);
  assert.ok(e.type === "message" && e.payload.length === 0);
});

Deno.test("Conn.handleMessage() checks the checksum over the message's own ConnID", () => {
  const conn = server(P(5, 500, 1, 0, 1), 0, 2);
  conn.handleMessage({ ...data(1, 1, "x"), connId: 2 }); // checksummed for ConnID 1
  assert.deepEqual(sent(conn), []);
});

// ---------------------------------------------------------------------------------------------
// Close

Deno.test("Conn.close() finishes at once when nothing is pending", () => {
  const conn = server(P(5, 500, 1, 0, 1));
  conn.close();
  assert.equal(conn.state, "closed");
  assert.deepEqual(events(conn), [{ type: "closed", connId: 1 }]);
  conn.tick();
  assert.deepEqual(sent(conn), []);
});

Deno.test("Conn.close() keeps delivering pending data, then reports closed", () => {
  const conn = server(P(5, 500, 1, 0, 1));
  writeAll(conn, "a", "b");
  sent(conn);
  conn.close();
  assert.equal(conn.state, "closing");
  assert.throws(
    () => writeAll(conn, "c"),
    (e) => e instanceof LspConnectionError && e.reason === "closing",
  );
  assert.throws(() => conn.close(), LspConnectionError);
  conn.tick();
  assert.deepEqual(sent(conn), ["Data 1", "HB"]); // retransmits while closing
  conn.handleMessage(ackMessage(1, 1));
  assert.deepEqual(sent(conn), ["Data 2"]);
  conn.tick();
  conn.tick();
  assert.deepEqual(sent(conn), ["Data 2", "HB", "Data 2", "HB"]);
  assert.deepEqual(events(conn), []);
  conn.handleMessage(ackMessage(1, 2));
  assert.deepEqual(events(conn), [{ type: "closed", connId: 1 }]);
  conn.tick();
  assert.deepEqual(sent(conn), []); // silent afterwards
});

Deno.test("Conn.close() heartbeats while waiting for Acks", () => {
  const conn = server(P(5, 500, 1, 4, 1));
  writeAll(conn, "a");
  sent(conn);
  conn.close();
  conn.tick();
  conn.tick();
  assert.deepEqual(sent(conn), ["Data 1", "HB", "HB"]);
});

Deno.test("Conn.close() acks but no longer delivers incoming Data", () => {
  const conn = server(P(5, 500, 2, 0, 2));
  writeAll(conn, "a");
  sent(conn);
  conn.close();
  conn.handleMessage(data(1, 1, "x"));
  assert.deepEqual(sent(conn), ["Ack 1"]);
  assert.deepEqual(events(conn), []);
});

Deno.test("Conn.close() reports lost instead of closed when the peer goes silent first", () => {
  const conn = server(P(2, 500, 1, 0, 1));
  writeAll(conn, "a");
  conn.close();
  conn.tick();
  conn.tick();
  assert.deepEqual(events(conn), [{ type: "lost", connId: 1 }]);
});

Deno.test("Conn.close() abandons a connect attempt and reports closed with ConnID 0", () => {
  const conn = Conn.client(P(5, 500, 1, 0, 1), "S", 1);
  sent(conn);
  conn.close();
  assert.deepEqual(events(conn), [{ type: "closed", connId: 0 }]);
  conn.tick();
  assert.deepEqual(sent(conn), []);
});

// ---------------------------------------------------------------------------------------------
// Properties

Deno.test("Conn sends each message once, in order, within ω of the oldest unacked and M in flight", () => {
  type Op = { kind: "write" } | { kind: "ack"; pick: number } | { kind: "cack"; pick: number } | {
    kind: "tick";
  };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ kind: "write" as const }),
    fc.record({ kind: fc.constant("ack" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("cack" as const), pick: fc.nat() }),
    fc.constant({ kind: "tick" as const }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 4 }),
      fc.array(op, { maxLength: 80 }),
      (windowSize, maxUnacked, backoff, ops) => {
        const conn = server(P(1000, 500, windowSize, backoff, maxUnacked), 10);
        const acked = new Set<number>();
        const inflight = new Set<number>();
        let nextFirst = 11;
        let written = 0;
        for (const o of ops) {
          if (o.kind === "write") {
            writeAll(conn, `${written++}`);
          } else if (o.kind === "tick") {
            conn.tick();
          } else if (inflight.size > 0) {
            const list = [...inflight].sort((a, b) => a - b);
            const sn = list[o.pick % list.length];
            conn.handleMessage(o.kind === "ack" ? ackMessage(1, sn) : cackMessage(1, sn));
            for (const s of list) {
              if (s === sn || (o.kind === "cack" && s < sn)) {
                inflight.delete(s);
                acked.add(s);
              }
            }
          }
          for (const m of sentMessages(conn)) {
            if (m.type !== MsgType.Data) continue;
            assert.ok(!acked.has(m.seqNum), `acked ${m.seqNum} sent again`);
            if (!inflight.has(m.seqNum)) {
              assert.equal(m.seqNum, nextFirst, "first transmissions in order");
              nextFirst++;
              inflight.add(m.seqNum);
            }
            const base = Math.min(...inflight);
            assert.ok(m.seqNum <= base + windowSize - 1, "beyond the window");
            assert.ok(inflight.size <= Math.min(windowSize, maxUnacked), "too many in flight");
          }
          assert.equal(conn.inflightCount, inflight.size);
          assert.equal(conn.pendingCount, written - acked.size);
        }
      },
    ),
    { numRuns: 400 },
  );
});
