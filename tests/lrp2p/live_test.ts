/**
 * LRP2P over real UDP sockets on 127.0.0.1 (`socketListen` of socket_deno.ts, the one UDP driver):
 * streams both ways through `read`/`write` and `readable`/`writable`, several accepts, 20
 * connections at once on one socket, backpressure, close, read timeouts, aborts, handshake
 * timeouts, a port in use (L15), key pinning and the driver's drop rate.
 */
import assert from "node:assert/strict";
import { type LrpConnection, socketListen } from "../../src/lrp2p/socket_deno.ts";
import { FAST_CLOSE, pair, pattern, readAll, readN, sameBytes } from "./_live.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const OPTS = { endpoint: { timings: FAST_CLOSE } };

Deno.test("lrp2p live: bytes both ways with read/write, then close ends both with null", async () => {
  const p = await pair(OPTS);
  try {
    assert.deepEqual(p.c.remoteStatic, p.server.publicKey);
    assert.deepEqual(p.s.remoteStatic, p.client.publicKey);
    assert.equal(p.s.connId, p.c.connId);
    await p.c.write(enc.encode("hello from the client"));
    assert.equal(dec.decode(await readN(p.s, 21)), "hello from the client");
    await p.s.write(enc.encode("and back"));
    assert.equal(dec.decode(await readN(p.c, 8)), "and back");
    const big = pattern(300_000, 1);
    const [, got] = await Promise.all([p.s.write(big), readN(p.c, big.length)]);
    assert.ok(sameBytes(got, big), "300 kB server → client differ");
    await Promise.all([p.c.close(), p.s.close()]);
    const buf = new Uint8Array(10);
    assert.equal(await p.c.read(buf), null);
    assert.equal(await p.s.read(buf), null);
    assert.equal(p.c.closed && p.s.closed, true);
    assert.equal(p.c.error, undefined);
    assert.equal(p.s.error, undefined);
    await assert.rejects(p.c.write(enc.encode("late")));
  } finally {
    await p.close();
  }
});

Deno.test("lrp2p live: a slow reader still gets every byte after both ends closed", async () => {
  const p = await pair(OPTS);
  try {
    const data = pattern(1_000_000, 9);
    const closing = p.c.close(); // the client has nothing to send but still reads
    await p.s.write(data);
    await p.s.close();
    await closing;
    assert.equal(p.c.closed, true);
    // the connection has ended (both FINs acknowledged, the linger over): the bytes remain
    await new Promise((r) => setTimeout(r, FAST_CLOSE.lingerMs + 200));
    const got = await readAll(p.c);
    assert.equal(got.length, data.length, `${got.length} of ${data.length} bytes read`);
    assert.ok(sameBytes(got, data));
    assert.equal(await p.c.read(new Uint8Array(1)), null);
  } finally {
    await p.close();
  }
});

Deno.test("lrp2p live: readable and writable streams carry 1 MB each way", async () => {
  const p = await pair(OPTS);
  try {
    const up = pattern(1_000_000, 2);
    const down = pattern(1_000_000, 3);
    const send = async (conn: LrpConnection, data: Uint8Array) => {
      const w = conn.writable.getWriter();
      for (let at = 0; at < data.length; at += 70_001) {
        await w.write(data.subarray(at, at + 70_001));
      }
      await w.close(); // FIN
    };
    const collect = async (conn: LrpConnection) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of conn.readable) parts.push(chunk);
      const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of parts) (out.set(c, at), at += c.length);
      return out;
    };
    const [, , gotUp, gotDown] = await Promise.all([
      send(p.c, up),
      send(p.s, down),
      collect(p.s),
      collect(p.c),
    ]);
    assert.ok(sameBytes(gotUp, up), "client → server differ");
    assert.ok(sameBytes(gotDown, down), "server → client differ");
  } finally {
    await p.close();
  }
});

Deno.test("lrp2p live: every accept returns a different connection", async () => {
  const server = await socketListen("127.0.0.1", 0, OPTS);
  const c1 = await socketListen("127.0.0.1", 0, OPTS);
  const c2 = await socketListen("127.0.0.1", 0, OPTS);
  try {
    const outs = await Promise.all([
      c1.connectTo("127.0.0.1", server.addr.port),
      c1.connectTo("127.0.0.1", server.addr.port),
      c2.connectTo("127.0.0.1", server.addr.port),
    ]);
    const ins = [await server.accept(), await server.accept(), await server.accept()];
    assert.equal(new Set(ins.map((c) => c.connId)).size, 3);
    assert.deepEqual(
      new Set(ins.map((c) => c.connId)),
      new Set(outs.map((c) => c.connId)),
    );
    // each accepted connection is its own stream
    await Promise.all(outs.map((c, i) => c.write(enc.encode(`conn ${i}`))));
    for (const conn of ins) {
      const i = outs.findIndex((o) => o.connId === conn.connId);
      assert.equal(dec.decode(await readN(conn, 6)), `conn ${i}`);
      const key = i < 2 ? c1.publicKey : c2.publicKey;
      assert.deepEqual(conn.remoteStatic, key);
    }
    // no fourth one waits
    const ac = new AbortController();
    const fourth = server.accept({ signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(fourth, { name: "AbortError" });
  } finally {
    await c1.close();
    await c2.close();
    await server.close();
  }
});

Deno.test("lrp2p live: 20 connections at once on one socket, 1 MB each, exact", async () => {
  const COUNT = 20, SIZE = 1_000_000;
  const server = await socketListen("127.0.0.1", 0, { ...OPTS, acceptBacklog: COUNT });
  const client = await socketListen("127.0.0.1", 0, OPTS);
  try {
    const accepted = (async () => {
      const out: LrpConnection[] = [];
      while (out.length < COUNT) out.push(await server.accept());
      return out;
    })();
    const conns = await Promise.all(
      Array.from({ length: COUNT }, () => client.connectTo("127.0.0.1", server.addr.port)),
    );
    const ins = await accepted;
    const byId = new Map(ins.map((c) => [c.connId, c]));
    assert.equal(byId.size, COUNT);
    const results = await Promise.all(conns.map(async (c, i) => {
      const data = pattern(SIZE, 100 + i);
      const peer = byId.get(c.connId)!;
      // the reader closes once it has read the end of the stream (close() waits for both FINs)
      const [got] = await Promise.all([
        readAll(peer).then(async (got) => (await peer.close(), got)),
        c.write(data).then(() => c.close()),
      ]);
      return sameBytes(got, data) ? "ok" : `conn ${i}: ${got.length} bytes, differ`;
    }));
    assert.deepEqual(results, Array(COUNT).fill("ok"));
    assert.equal(server.stats.drops.badSegment, 0);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("lrp2p live: a writer whose peer does not read is held back (bounded buffers)", async () => {
  const BUF = 64 * 1024, TOTAL = 1_000_000;
  const opts = {
    endpoint: { timings: FAST_CLOSE, sendBufferBytes: BUF, receiveBufferBytes: BUF },
  };
  const p = await pair(opts);
  try {
    const data = pattern(TOTAL, 4);
    let accepted = 0;
    const writer = (async () => {
      for (let at = 0; at < TOTAL; at += 4096) {
        accepted += await p.c.write(data.subarray(at, at + 4096));
      }
      await p.c.close();
    })();
    // nobody reads for a while: at most the two buffers' worth is taken
    await new Promise((r) => setTimeout(r, 1500));
    const held = accepted;
    assert.ok(held > 0, "nothing was accepted");
    assert.ok(held <= 2 * BUF, `${held} bytes accepted with ${2 * BUF} bytes of buffers`);
    const c = p.server._endpoint.conn(p.s.connId)!;
    assert.ok(c.readable <= BUF, `${c.readable} bytes readable with a ${BUF}-byte buffer`);
    const [got] = await Promise.all([
      readAll(p.s).then(async (got) => (await p.s.close(), got)),
      writer,
    ]);
    assert.ok(sameBytes(got, data), `${got.length} bytes received, differ`);
  } finally {
    await p.close();
  }
});

Deno.test("lrp2p live: setReadTimeout rejects with TimedOut, the connection carries on", async () => {
  const p = await pair(OPTS);
  try {
    p.s.setReadTimeout(100);
    await assert.rejects(p.s.read(new Uint8Array(10)), Deno.errors.TimedOut);
    p.s.setReadTimeout(undefined);
    await p.c.write(enc.encode("after"));
    assert.equal(dec.decode(await readN(p.s, 5)), "after");
  } finally {
    await p.close();
  }
});

Deno.test("lrp2p live: AbortSignal cancels connectTo, accept and read", async () => {
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const p = await pair(OPTS);
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    const ac1 = new AbortController();
    const connecting = p.client.connectTo("127.0.0.1", port, { signal: ac1.signal });
    setTimeout(() => ac1.abort(), 50);
    await assert.rejects(connecting, { name: "AbortError" });
    assert.equal(p.client.stats.connections, 1, "the aborted handshake is not kept");

    const ac2 = new AbortController();
    const accepting = p.server.accept({ signal: ac2.signal });
    setTimeout(() => ac2.abort(), 50);
    await assert.rejects(accepting, { name: "AbortError" });

    const ac3 = new AbortController();
    const reading = p.s.read(new Uint8Array(10), { signal: ac3.signal });
    setTimeout(() => ac3.abort(), 50);
    await assert.rejects(reading, { name: "AbortError" });
    const already = AbortSignal.abort();
    await assert.rejects(p.s.read(new Uint8Array(10), { signal: already }), { name: "AbortError" });

    // the connection is unharmed
    await p.c.write(enc.encode("still here"));
    assert.equal(dec.decode(await readN(p.s, 10)), "still here");
  } finally {
    silent.close();
    await p.close();
  }
});

Deno.test("lrp2p live: connectTo a port that never answers fails after the handshake timeout", async () => {
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const client = await socketListen("127.0.0.1", 0, {
    endpoint: { timings: { handshakeRetryMs: 20, hello1Sends: 3 } },
  });
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    const got: number[] = [];
    const sniff = (async () => {
      const buf = new Uint8Array(2000);
      for (;;) {
        try {
          const [d] = await silent.receive(buf);
          got.push(d.length);
        } catch {
          return;
        }
      }
    })();
    await assert.rejects(
      client.connectTo("127.0.0.1", port),
      /no answer to the handshake/,
    );
    assert.equal(client.stats.connections, 0);
    silent.close();
    await sniff;
    assert.deepEqual(got, [40, 40, 40], "three message 1 datagrams of 40 bytes");
    // and a timeoutMs of connectTo rejects with TimedOut
    const silent2 = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      await assert.rejects(
        client.connectTo("127.0.0.1", (silent2.addr as Deno.NetAddr).port, { timeoutMs: 30 }),
        Deno.errors.TimedOut,
      );
    } finally {
      silent2.close();
    }
  } finally {
    await client.close();
  }
});

Deno.test("lrp2p live: binding a port in use rejects with AddrInUse (L15)", async () => {
  const a = await socketListen("127.0.0.1", 0);
  try {
    let pending: Promise<unknown> | undefined;
    let threw: unknown;
    try {
      pending = socketListen("127.0.0.1", a.addr.port);
    } catch (err) {
      threw = err;
    }
    assert.equal(threw, undefined, `socketListen threw instead of rejecting: ${threw}`);
    await assert.rejects(pending!, Deno.errors.AddrInUse);
  } finally {
    await a.close();
  }
});

Deno.test("lrp2p live: verifyRemote pins the peer's key on both sides", async () => {
  const server = await socketListen("127.0.0.1", 0, OPTS);
  const good = await socketListen("127.0.0.1", 0, OPTS);
  const bad = await socketListen("127.0.0.1", 0, OPTS);
  const pinned = (key: Uint8Array) => (k: Uint8Array) => sameBytes(k, key);
  const strict = await socketListen("127.0.0.1", 0, {
    ...OPTS,
    verifyRemote: pinned(new Uint8Array(32).fill(7)), // expects some other server
  });
  const serverPinned = await socketListen("127.0.0.1", 0, {
    ...OPTS,
    verifyRemote: pinned(good.publicKey),
  });
  try {
    // the initiator refuses a responder with another key
    await assert.rejects(
      strict.connectTo("127.0.0.1", server.addr.port),
      /key is not accepted/,
    );
    // the responder admits only the pinned initiator: the other one is never accepted
    const refused = await bad.connectTo("127.0.0.1", serverPinned.addr.port);
    const ok = await good.connectTo("127.0.0.1", serverPinned.addr.port);
    const s = await serverPinned.accept();
    assert.equal(s.connId, ok.connId);
    assert.notEqual(s.connId, refused.connId);
    assert.deepEqual(s.remoteStatic, good.publicKey);
    assert.deepEqual(ok.remoteStatic, serverPinned.publicKey);
    await ok.write(enc.encode("pinned"));
    assert.equal(dec.decode(await readN(s, 6)), "pinned");
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    await assert.rejects(serverPinned.accept({ signal: ac.signal }), { name: "AbortError" });
    // bytes from the refused initiator go nowhere
    await refused.write(enc.encode("let me in"));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(serverPinned.stats.connections, 1);
  } finally {
    for (const s of [strict, serverPinned, good, bad, server]) await s.close();
  }
});

Deno.test("lrp2p live: a 5% drop rate each way still delivers exactly, both ways", async () => {
  const opts = { ...OPTS, dropRate: 0.05 };
  const p = await pair(opts);
  try {
    const up = pattern(400_000, 5);
    const down = pattern(400_000, 6);
    const [gotUp, gotDown] = await Promise.all([
      readAll(p.s),
      readAll(p.c),
      p.c.write(up).then(() => p.c.close()),
      p.s.write(down).then(() => p.s.close()),
    ]);
    assert.ok(sameBytes(gotUp, up), `client → server: ${gotUp.length} bytes, differ`);
    assert.ok(sameBytes(gotDown, down), `server → client: ${gotDown.length} bytes, differ`);
    const drops = p.client.stats.driver.readDropped + p.client.stats.driver.writeDropped;
    assert.ok(drops > 0, "the drop rate dropped nothing");
  } finally {
    await p.close();
  }
});
