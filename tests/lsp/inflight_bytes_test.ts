/**
 * The bound on Data bytes in flight (`maxInflightBytes`): a window of large messages must not
 * put more into the peer's socket than its receive buffer holds (Linux's default is 212,992
 * bytes, which Deno cannot raise; each 1,410-byte LSP datagram is charged 2,304 bytes). Before
 * the bound, an echo at window 64 overflowed both sockets (the kernel's `RcvbufErrors` rose by
 * hundreds per 5,000 messages) and every lost datagram stalled the stream for an epoch.
 *
 * The sender tests are pure; the adapter tests check, synchronously after the writes, how many
 * Data messages `listen()` and `connect()` put on the wire by default; the live test echoes a
 * window-64 stream of 1,000-byte messages with one-minute epochs, so a single datagram dropped by
 * the kernel stalls it (no retransmission comes before the guard fails the test).
 */
import assert from "node:assert/strict";
import { connect } from "../../src/lsp/client_deno.ts";
import { echoLoop } from "../../src/lsp/echo.ts";
import { DEFAULT_MAX_INFLIGHT_BYTES, lspParams } from "../../src/lsp/params.ts";
import { checkMaxInflightBytes, Sender } from "../../src/lsp/sender.ts";
import { listen } from "../../src/lsp/server_deno.ts";
import { newLspStats } from "../../src/lsp/stats.ts";
import {
  ackMessage,
  dataMessage,
  decodeMessage,
  encodedLength,
  encodeMessage,
  type LspMessage,
  MsgType,
} from "../../src/lsp/wire.ts";
import { withTimeout } from "./_loopback.ts";

const PAYLOAD = new Uint8Array(1000).fill(0x5a);
/** Data messages of 1,000-byte payloads (ConnID 1, SeqNums below 100) that fit in 32 KiB. */
const FULL_SIZE_FIT = Math.floor(
  DEFAULT_MAX_INFLIGHT_BYTES / encodedLength(dataMessage(1, 10, PAYLOAD)),
);

function sender(windowSize: number, maxInflightBytes?: number) {
  const sent: LspMessage[] = [];
  const params = lspParams({ windowSize, maxUnackedMessages: windowSize });
  const s = new Sender(params, 0, newLspStats(), (m) => sent.push(m), maxInflightBytes);
  return { s, sent };
}

Deno.test("Sender: without a byte bound, ω and M alone limit what is in flight", () => {
  const { s, sent } = sender(64);
  for (let i = 1; i <= 100; i++) s.enqueue(dataMessage(1, i, PAYLOAD));
  s.pump();
  assert.equal(sent.length, 64);
});

Deno.test("Sender: a byte bound holds back Data until Acks free room, in order", () => {
  const bytes = encodedLength(dataMessage(1, 10, PAYLOAD));
  const { s, sent } = sender(64, 10 * bytes);
  for (let i = 1; i <= 40; i++) s.enqueue(dataMessage(1, i, PAYLOAD));
  s.pump();
  assert.deepEqual(sent.map((m) => m.seqNum), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(s.inflightCount, 10);
  // An Ack frees one message's bytes: exactly one more goes out, the next in sequence.
  assert.equal(s.ack(4), true);
  s.pump();
  assert.deepEqual(sent.slice(10).map((m) => m.seqNum), [11]);
  // A CAck frees everything up to its SeqNum.
  assert.equal(s.cack(8), true);
  s.pump();
  assert.deepEqual(sent.slice(11).map((m) => m.seqNum), [12, 13, 14, 15, 16, 17, 18]);
  assert.equal(s.inflightCount, 10);
  // Retransmissions resend what is in flight and add nothing to the count.
  sent.length = 0;
  s.retransmitDue();
  assert.deepEqual(sent.map((m) => m.seqNum), [9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);
  s.pump();
  assert.equal(sent.length, 10);
  // After clear() the whole budget is free again.
  s.clear();
  sent.length = 0;
  for (let i = 41; i <= 60; i++) s.enqueue(dataMessage(1, i, PAYLOAD));
  s.pump();
  assert.equal(sent.length, 10);
});

Deno.test("Sender: one message always goes out, even one larger than the bound", () => {
  const { s, sent } = sender(8, 100);
  s.enqueue(dataMessage(1, 1, PAYLOAD));
  s.enqueue(dataMessage(1, 2, PAYLOAD));
  s.pump();
  assert.deepEqual(sent.map((m) => m.seqNum), [1]);
  s.ack(1);
  s.pump();
  assert.deepEqual(sent.map((m) => m.seqNum), [1, 2]);
});

Deno.test("Sender: small messages are not held back below window 100 by the default bound", () => {
  const { s, sent } = sender(100, DEFAULT_MAX_INFLIGHT_BYTES);
  const payload = new Uint8Array(180);
  for (let i = 1; i <= 100; i++) s.enqueue(dataMessage(1, i, payload));
  s.pump();
  assert.equal(sent.length, 100);
});

Deno.test("checkMaxInflightBytes() accepts positive integers and Infinity only", async () => {
  assert.equal(checkMaxInflightBytes(1), 1);
  assert.equal(checkMaxInflightBytes(Infinity), Infinity);
  for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => checkMaxInflightBytes(bad), RangeError);
  await assert.rejects(connect("127.0.0.1:9", { maxInflightBytes: 0 }), RangeError);
  assert.throws(() => listen(0, { hostname: "127.0.0.1", maxInflightBytes: -5 }), RangeError);
});

/** Long epochs: nothing is retransmitted during a test, so a lost datagram stalls it. */
const WIDE = { windowSize: 64, maxUnackedMessages: 64, epochMillis: 60_000, epochLimit: 5 };

Deno.test("connect(): by default at most 32 KiB of Data is in flight at window 64", async () => {
  // A bare UDP socket plays the server: it answers the Connect and never acknowledges Data.
  const fake = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const answer = (async () => {
    const [bytes, from] = await fake.receive();
    const msg = decodeMessage(bytes);
    assert.equal(msg?.type, MsgType.Connect);
    await fake.send(encodeMessage(ackMessage(1, msg!.seqNum)), from);
  })();
  const port = (fake.addr as Deno.NetAddr).port;
  const stop = new AbortController(); // no Ack ever comes: drop the connection at the end
  const client = await connect(`127.0.0.1:${port}`, { params: WIDE, isn: 0, signal: stop.signal });
  try {
    await answer;
    for (let i = 0; i < 64; i++) client.write(PAYLOAD);
    assert.equal(client.stats().lsp.dataSent, FULL_SIZE_FIT);
    assert.equal(FULL_SIZE_FIT, 23);
  } finally {
    stop.abort();
    fake.close();
    await client.done;
  }
});

Deno.test("listen(): by default at most 32 KiB of Data per connection is in flight", async () => {
  const server = listen(0, { hostname: "127.0.0.1", params: WIDE });
  // The client reads nothing and acknowledges as Data arrives; the count is taken before any
  // datagram can be read (the writes and the check run without yielding).
  const client = await connect(`127.0.0.1:${server.port}`, { params: WIDE, isn: 0 });
  try {
    client.write(new Uint8Array([1]));
    const { connId } = await withTimeout(server.read(), 5000, "the first message");
    const before = server.stats().lsp.dataSent;
    for (let i = 0; i < 64; i++) server.write(connId, PAYLOAD);
    assert.equal(server.stats().lsp.dataSent - before, FULL_SIZE_FIT);
  } finally {
    server.closeNow();
    client.close().catch(() => {});
    await Promise.all([server.done, client.done]);
  }
});

/**
 * The kernel's drop counter of each local UDP port (`drops`, the last column of /proc/net/udp),
 * or `undefined` where there is no /proc/net/udp. Read through `cat`: Deno reads /proc/net only
 * with --allow-all.
 */
function kernelDrops(ports: number[]): number[] | undefined {
  let table: string;
  try {
    const out = new Deno.Command("cat", { args: ["/proc/net/udp"] }).outputSync();
    if (!out.success) return undefined;
    table = new TextDecoder().decode(out.stdout);
  } catch {
    return undefined;
  }
  const drops = new Map<number, number>();
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 13) continue;
    drops.set(parseInt(fields[1].split(":")[1], 16), Number(fields[fields.length - 1]));
  }
  return ports.map((p) => drops.get(p) ?? 0);
}

Deno.test("a window-64 echo of 1,000-byte messages loses no datagram to full socket buffers", async (t) => {
  // δ 200 ms, as in the issue: each epoch tick retransmits what is in flight, which doubles the
  // Data waiting in the peer's socket; without the bound both sockets overflowed.
  const params = { windowSize: 64, maxUnackedMessages: 64, epochMillis: 200, epochLimit: 50 };
  const MESSAGES = 3000;
  const server = listen(0, { hostname: "127.0.0.1", params });
  const loop = echoLoop(server);
  const client = await connect(`127.0.0.1:${server.port}`, { params, isn: 0 });
  const ports = [server.port, Number(client.localAddr.split(":").pop())];
  try {
    const before = kernelDrops(ports);
    if (before === undefined) {
      await t.step({ name: "needs /proc/net/udp (Linux)", ignore: true, fn: () => {} });
      return;
    }
    for (let i = 0; i < MESSAGES; i++) client.write(PAYLOAD);
    for (let i = 0; i < MESSAGES; i++) {
      const echo = await withTimeout(client.read(), 20_000, `echo ${i}`);
      assert.equal(echo.length, 1000);
    }
    const after = kernelDrops(ports)!;
    assert.deepEqual(after.map((n, i) => n - before[i]), [0, 0], "datagrams dropped by the kernel");
  } finally {
    server.closeNow();
    client.close().catch(() => {});
    await Promise.all([loop, server.done, client.done]);
  }
});
