/**
 * Raw-datagram conformance against the live adapters on 127.0.0.1 (spec §15.15, last two items,
 * and the wire-visible parts of §15.3, §15.11, §15.12, §15.13): a {@linkcode RawPeer} speaks LSP
 * by hand to our server, or plays a server for our client.
 *
 * No test waits a fixed time to prove that something did *not* happen. Instead a barrier: the
 * raw peer sends one more valid Data message and reads until its Ack. The adapter handles
 * datagrams in order and acknowledges at once, and loopback keeps order, so everything the
 * earlier datagrams caused has arrived before that Ack.
 */
import assert from "node:assert/strict";
import { connect } from "../../src/lsp/client_deno.ts";
import { echoLoop } from "../../src/lsp/echo.ts";
import type { LspParams } from "../../src/lsp/params.ts";
import { listen, type LspServer } from "../../src/lsp/server_deno.ts";
import {
  ackMessage,
  cackMessage,
  connectMessage,
  dataMessage,
  encodeBase64,
  encodeMessage,
  type LspMessage,
  MsgType,
} from "../../src/lsp/wire.ts";
import { Prng } from "../../src/util/prng.ts";
import { bytes, echoServe, RawPeer, text, watch, withTimeout } from "./_loopback.ts";

/** Slow epochs (loss after 50 × 100 ms): ticks may happen, losses do not. */
const CALM: Partial<LspParams> = { epochLimit: 50, epochMillis: 100 };

/** A raw client connected to a live server, with its own outgoing sequence numbers. */
class RawClient {
  readonly raw = new RawPeer();
  connId = 0;
  nextSeq = 0;
  constructor(readonly port: number, readonly isn: number) {
    this.nextSeq = isn + 1;
  }

  async connect(): Promise<number> {
    await this.send(connectMessage(this.isn));
    const ack = (await this.raw.next()).msg;
    assert.ok(ack && ack.type === MsgType.Ack && ack.seqNum === this.isn, JSON.stringify(ack));
    assert.ok(ack.connId > 0);
    this.connId = ack.connId;
    return ack.connId;
  }

  send(msg: LspMessage | Uint8Array): Promise<void> {
    return this.raw.send(msg, this.port);
  }

  /**
   * Sends the next in-order Data message and returns every non-heartbeat message received
   * before its Ack (the Ack itself excluded).
   */
  async barrier(payload = "barrier"): Promise<LspMessage[]> {
    const sn = this.nextSeq++;
    await this.send(dataMessage(this.connId, sn, bytes(payload)));
    return await this.until((m) => m.type === MsgType.Ack && m.seqNum === sn);
  }

  /** Non-heartbeat messages received until `stop` matches one (that one excluded). */
  async until(stop: (m: LspMessage) => boolean): Promise<LspMessage[]> {
    const seen: LspMessage[] = [];
    for (let i = 0; i < 10_000; i++) {
      const m = await this.raw.nextMessage();
      if (stop(m)) return seen;
      seen.push(m);
    }
    throw new Error("RawClient.until: no end");
  }

  close(): Promise<void> {
    return this.raw.close();
  }
}

function dataSeqs(msgs: LspMessage[]): number[] {
  return msgs.filter((m) => m.type === MsgType.Data).map((m) => m.seqNum);
}

async function withServer(
  params: Partial<LspParams>,
  body: (server: LspServer) => Promise<void>,
): Promise<void> {
  const server = listen(0, { hostname: "127.0.0.1", params });
  try {
    await body(server);
  } finally {
    server.closeNow();
    await server.done;
  }
}

Deno.test("LspServer answers each Connect once with Ack(id, isn) and starts its stream at isn+1", async () => {
  // §15.11 BasicISN on the wire: random ISNs in 1..256, a duplicate Connect never re-answered.
  await withServer(CALM, async (server) => {
    const echo = echoServe(server);
    const prng = Prng.seeded(11);
    const clients = Array.from({ length: 20 }, () => new RawClient(server.port, prng.int(1, 256)));
    try {
      const ids = await Promise.all(clients.map((c) => c.connect()));
      assert.equal(new Set(ids).size, ids.length, "distinct ConnIDs");
      await Promise.all(clients.map(async (c, i) => {
        await c.send(connectMessage(c.isn)); // duplicate: ignored
        const sn = c.nextSeq++;
        assert.equal(sn, c.isn + 1);
        await c.send(dataMessage(c.connId, sn, bytes(`m${i}`)));
        // The Ack of the Data comes first: nothing answered the duplicate Connect.
        const first = await c.raw.nextMessage();
        assert.deepEqual([first.type, first.connId, first.seqNum], [MsgType.Ack, c.connId, sn]);
        const reply = await c.raw.nextMessage();
        assert.deepEqual([reply.type, reply.connId, reply.seqNum], [MsgType.Data, c.connId, sn]);
        assert.equal(text(reply.payload!), `m${i}`);
        await c.send(ackMessage(c.connId, sn));
      }));
      assert.equal(server.stats().lsp.dropped.duplicateConnect, clients.length);
      assert.equal(server.stats().lsp.acksSent, 2 * clients.length); // Connect-Acks + Data Acks
      await withTimeout(server.close(), 5_000, "close with everything acknowledged");
      await echo.finished;
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

Deno.test("LspServer drops corrupt, short, negative and out-of-window Data unacknowledged and truncates long Data", async () => {
  // §5 and §15.13 on the wire, plus lenient JSON and an oversized datagram.
  await withServer({ ...CALM, windowSize: 3, maxUnackedMessages: 3 }, async (server) => {
    const echo = echoServe(server);
    const c = new RawClient(server.port, 10);
    try {
      const id = await c.connect();
      const good = dataMessage(id, 11, bytes("abc"));
      const bad: LspMessage[] = [
        { ...good, checksum: (good.checksum + 1) & 0xffff }, // corrupt
        { ...dataMessage(id, 11, bytes("abcde")), payload: bytes("ab") }, // short
        { ...good, size: -1 }, // negative Size
        dataMessage(id, 14, bytes("far")), // 11 + ω: beyond the window
        dataMessage(id, 10, bytes("isn")), // numbered at the ISN
        dataMessage(id + 1, 11, bytes("abc")), // another ConnID
      ];
      for (const m of bad) await c.send(m);
      await c.send(new Uint8Array(2000).fill(0x7b)); // oversized: dropped, no crash
      await c.send({ ...good, payload: bytes("abcXYZ") }); // long: truncated to Size 3
      c.nextSeq = 12;
      const before = await c.until((m) => m.type === MsgType.Ack && m.seqNum === 11);
      assert.deepEqual(before.filter((m) => m.type === MsgType.Ack), [], "an Ack for bad Data");
      const dropped = server.stats().lsp.dropped;
      assert.deepEqual(
        [dropped.badChecksum, dropped.shortPayload, dropped.negativeSize, dropped.outOfWindow],
        [1, 1, 1, 2],
      );
      assert.equal(dropped.wrongConnId, 1);
      assert.equal(dropped.oversize, 1);
      // The echo of the truncated message: exactly Size bytes.
      const reply = await c.raw.nextMessage();
      assert.deepEqual([reply.type, reply.seqNum, reply.size], [MsgType.Data, 11, 3]);
      assert.equal(text(reply.payload!), "abc");
      await c.send(ackMessage(id, 11));
      // A duplicate: re-acknowledged, not delivered again.
      await c.send({ ...good, payload: bytes("abcXYZ") });
      // Lenient JSON: other key order and case, whitespace, a trailing newline.
      const m12 = dataMessage(id, 12, bytes("lenient"));
      await c.send(bytes(
        `{ "payload": "${encodeBase64(m12.payload!)}", "seqnum": 12, "TYPE": 1,\n` +
          ` "connid": ${id}, "Size": ${m12.size}, "checksum": ${m12.checksum} }\n`,
      ));
      c.nextSeq = 13;
      const acks = (await c.barrier("last")).filter((m) => m.type === MsgType.Ack);
      assert.deepEqual(acks.map((m) => m.seqNum), [11, 12]);
      assert.equal(server.stats().lsp.duplicatesReceived, 1);
      assert.deepEqual(echo.received.get(id), ["abc", "lenient", "last"]);
    } finally {
      await c.close();
    }
  });
});

for (const [windowSize, maxUnackedMessages] of [[5, 50], [50, 5]]) {
  Deno.test(`LspServer keeps at most min(ω, M) in flight and slides at once on Acks (ω ${windowSize}, M ${maxUnackedMessages})`, async () => {
    // §9 and §15.3: ω bounds the distance from the oldest unacked message; M counts messages.
    await withServer({ ...CALM, windowSize, maxUnackedMessages }, async (server) => {
      const c = new RawClient(server.port, 100);
      try {
        const id = await c.connect();
        for (let k = 1; k <= 10; k++) server.write(id, bytes(`w${k}`));
        const first = new Set(dataSeqs(await c.barrier()));
        // The barrier is answered after the five first transmissions (and maybe a retransmission).
        assert.deepEqual([...first].sort(), [101, 102, 103, 104, 105]);
        await c.send(ackMessage(id, 102)); // not the oldest
        const afterNonOldest = new Set(dataSeqs(await c.barrier()));
        await c.send(ackMessage(id, 101)); // the oldest: base moves to 103
        const afterOldest = new Set(dataSeqs(await c.barrier()));
        if (windowSize === 5) {
          // ω: the window stays [101, 105] until 101 is acked, then [103, 107].
          assert.ok([...afterNonOldest].every((sn) => sn <= 105), `${[...afterNonOldest]}`);
          assert.ok(afterOldest.has(106) && afterOldest.has(107), `${[...afterOldest]}`);
          assert.ok([...afterOldest].every((sn) => sn <= 107), `${[...afterOldest]}`);
        } else {
          // M: each Ack frees one slot, oldest or not.
          assert.ok(afterNonOldest.has(106), `${[...afterNonOldest]}`);
          assert.ok([...afterNonOldest].every((sn) => sn <= 106), `${[...afterNonOldest]}`);
          assert.ok(afterOldest.has(107), `${[...afterOldest]}`);
          assert.ok([...afterOldest].every((sn) => sn <= 107), `${[...afterOldest]}`);
        }
        // A CAck retires everything up to 107 at once: 108..110 go out before the next Ack.
        await c.send(cackMessage(id, 107));
        const rest = new Set(dataSeqs(await c.barrier()));
        for (const sn of [108, 109, 110]) assert.ok(rest.has(sn), `${[...rest]}`);
        assert.ok([...rest].every((sn) => sn >= 103 && sn <= 110), `${[...rest]}`);
        const closing = watch(server.close());
        await c.barrier(); // still acknowledged while closing
        assert.equal(closing.state, "pending");
        await c.send(cackMessage(id, 110));
        await withTimeout(closing.promise, 5_000, "close after the CAck");
      } finally {
        await c.close();
      }
    });
  });
}

Deno.test("connect() takes a heartbeat as the Connect-Ack and ignores datagrams from other addresses", async () => {
  // §6.1 and §15.15: a server that answers the Connect only with heartbeats; §2.5: an intruder.
  const fake = new RawPeer();
  const intruder = new RawPeer();
  const port = Number(fake.addr.split(":")[1]);
  const connecting = watch(
    withTimeout(connect(`127.0.0.1:${port}`, { isn: 33, params: CALM }), 5_000, "connect"),
  );
  try {
    const hello = await fake.next();
    assert.deepEqual([hello.msg?.type, hello.msg?.seqNum], [MsgType.Connect, 33]);
    const clientPort = Number(hello.from.split(":")[1]);
    await fake.send(ackMessage(8, 0), clientPort); // heartbeat, not Ack(8, 33)
    const client = await connecting.promise;
    assert.equal(client.connId, 8);
    try {
      await intruder.send(dataMessage(8, 34, bytes("intruder")), clientPort);
      await fake.send({ ...dataMessage(8, 34, bytes("bad")), checksum: 0 }, clientPort);
      await fake.send(dataMessage(8, 34, bytes("good")), clientPort);
      assert.equal(text(await withTimeout(client.read(), 5_000, "read")), "good");
      await fake.send(dataMessage(8, 35, bytes("next")), clientPort);
      assert.equal(text(await withTimeout(client.read(), 5_000, "read")), "next");
      const acks: number[] = [];
      while (acks.at(-1) !== 35) {
        const m = await fake.nextMessage();
        if (m.type === MsgType.Ack) acks.push(m.seqNum);
      }
      assert.deepEqual(acks, [34, 35]); // the corrupt copy got no Ack
      const s = client.stats().lsp;
      assert.equal(s.dropped.unknownPeer, 1);
      assert.equal(s.dropped.badChecksum, 1);
      assert.equal(intruder.queued, 0);
      await withTimeout(client.close(), 5_000, "close");
    } finally {
      await client.close().catch(() => {});
    }
  } finally {
    await connecting.promise.catch(() => {});
    await fake.close();
    await intruder.close();
  }
});

Deno.test('LspServer with the shared echo loop accepts a negative-ISN Connect and echoes "Payload":null as null', async () => {
  // Issue 9: the reference accepts a Connect with a negative SeqNum (both streams start at
  // ISN + 1) and echoes a Data whose payload is null with "Payload":null, an empty one with "".
  await withServer(CALM, async (server) => {
    const loop = echoLoop(server);
    const c = new RawClient(server.port, -3);
    try {
      const id = await c.connect(); // asserts Ack(id, -3)
      const wire = (m: LspMessage) => new TextDecoder().decode(encodeMessage(m));
      const nullData = { ...dataMessage(id, -2, new Uint8Array(0)), payload: null };
      const emptyData = dataMessage(id, -1, new Uint8Array(0));
      const expectedNull = `{"Type":1,"ConnID":${id},"SeqNum":-2,"Size":0,"Checksum":` +
        `${nullData.checksum},"Payload":null}`;
      assert.equal(wire(nullData), expectedNull);
      for (
        const [sent, want] of [[nullData, expectedNull], [emptyData, wire(emptyData)]] as const
      ) {
        await c.send(sent);
        const got: string[] = [];
        while (!got.some((t) => t.includes('"Type":1'))) {
          const d = await c.raw.next();
          if (d.msg?.type === MsgType.Ack && d.msg.seqNum === 0) continue; // heartbeat
          got.push(text(d.bytes));
        }
        // The Ack of the Data, then its echo, byte for byte.
        assert.deepEqual(got, [wire(ackMessage(id, sent.seqNum)), want]);
        await c.send(ackMessage(id, sent.seqNum));
      }
      assert.equal(server.stats().lsp.dropped.refusedConnect, 0);
    } finally {
      await c.close();
      server.closeNow();
      await loop;
    }
  });
});
