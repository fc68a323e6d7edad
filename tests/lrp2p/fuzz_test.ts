/**
 * 100,000 hostile datagrams at a live LRP2P socket while a real connection moves data through it
 * (issue 12, item 5): every length from 0 to 80 bytes and random lengths up to 65,507, random bytes,
 * the live connection's id with garbage, forged, replayed, bit-flipped and truncated transport
 * datagrams (copies of real ones taken by a relay between the two peers), and a flood of message 1
 * from many source ports. The transfer stays exact both ways, nothing throws, the socket counts
 * the drops, and the connections it holds stay within the backlog.
 */
import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import { socketListen } from "../../src/lrp2p/socket_deno.ts";
import { FAST_CLOSE, pattern, readAll, sameBytes } from "./_live.ts";

const TOTAL = 100_000;
const BACKLOG = 16;
const FLOOD_PORTS = 24;
const LOCAL = { transport: "udp", hostname: "127.0.0.1", port: 0 } as const;

/** A UDP relay client ⇄ server that keeps copies of the client's datagrams (for replays). */
function relay(serverPort: number) {
  const sock = Deno.listenDatagram(LOCAL);
  const seen: Uint8Array[] = [];
  let client: Deno.NetAddr | undefined;
  const done = (async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await sock.receive(buf);
      } catch {
        return;
      }
      const [d, from] = got;
      const addr = from as Deno.NetAddr;
      if (addr.port === serverPort) {
        if (client) sock.send(d.slice(), client).catch(() => {});
      } else {
        client = addr;
        if (seen.length < 4096) seen.push(d.slice());
        else seen[Math.floor(Math.random() * seen.length)] = d.slice();
        sock.send(d.slice(), { transport: "udp", hostname: "127.0.0.1", port: serverPort })
          .catch(() => {});
      }
    }
  })();
  return { port: (sock.addr as Deno.NetAddr).port, seen, close: () => sock.close(), done };
}

function be64(x: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, x);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

Deno.test("lrp2p fuzz: 100,000 hostile datagrams while a live transfer stays exact", async () => {
  const prng = Prng.seeded(0x1f2e3d);
  const server = await socketListen("127.0.0.1", 0, {
    acceptBacklog: BACKLOG,
    endpoint: { timings: FAST_CLOSE },
  });
  const client = await socketListen("127.0.0.1", 0, { endpoint: { timings: FAST_CLOSE } });
  const mid = relay(server.addr.port);
  const shooters = Array.from({ length: FLOOD_PORTS }, () => Deno.listenDatagram(LOCAL));
  const target = { transport: "udp" as const, hostname: "127.0.0.1", port: server.addr.port };
  let maxConns = 0;
  const watch = setInterval(() => maxConns = Math.max(maxConns, server.stats.connections), 20);
  try {
    const [s, c] = await Promise.all([server.accept(), client.connectTo("127.0.0.1", mid.port)]);
    const connId = c.connId;
    // the client streams a repeated block until the fuzzing ends; the server checks every byte
    const block = pattern(65_543, 11);
    const down = pattern(500_000, 12);
    let fuzzing = true;
    let written = 0;
    const writer = (async () => {
      while (fuzzing || written < 1_000_000) {
        await c.write(block);
        written += block.length;
      }
      await c.close();
    })();
    const checker = (async () => {
      const buf = new Uint8Array(65536);
      let at = 0, bad = -1;
      for (;;) {
        const n = await s.read(buf);
        if (n === null) break;
        for (let i = 0; i < n && bad < 0; i++) {
          if (buf[i] !== block[(at + i) % block.length]) bad = at + i;
        }
        at += n;
      }
      await s.close();
      return { at, bad };
    })();
    const transfer = Promise.all([checker, readAll(c), writer, s.write(down)]);

    const kinds = new Map<string, number>();
    const started = performance.now();
    let sent = 0;
    const one = (): [string, Uint8Array] => {
      if (sent < 81 * 20) return ["small", prng.bytes(sent % 81)]; // 0..80, twenty times each
      const k = prng.int(0, 99);
      if (k < 15) return ["random", prng.bytes(prng.int(0, 1500))];
      if (k < 17) return ["large", prng.bytes(prng.int(1501, 65507))];
      if (k < 35) return ["connId+garbage", concat(be64(connId), prng.bytes(prng.int(0, 1400)))];
      if (k < 45) {
        // a forged transport datagram: the live id, a plausible counter, random ciphertext
        const n = BigInt(prng.int(0, 100_000));
        return ["forged", concat(be64(connId), be64(n), prng.bytes(prng.int(22, 1352)))];
      }
      const real = mid.seen.length > 0 ? prng.pick(mid.seen) : undefined;
      if (k < 60 && real) return ["replayed", real];
      if (k < 70 && real) return ["truncated", real.subarray(0, prng.int(0, real.length - 1))];
      if (k < 75 && real) {
        const d = real.slice();
        d[prng.int(16, d.length - 1)] ^= 1 << prng.int(0, 7);
        return ["bitflip", d];
      }
      // message 1 of a new connection (a random key) from one of many source ports
      return ["hello", concat(prng.bytes(8), prng.bytes(32))];
    };
    while (sent < TOTAL) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 64 && sent < TOTAL; i++, sent++) {
        const [kind, d] = one();
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        const from = kind === "hello" ? shooters[sent % FLOOD_PORTS] : shooters[0];
        batch.push(from.send(d, target).catch(() => {}));
      }
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 0)); // let the socket's receive loop keep up
    }
    const elapsedS = (performance.now() - started) / 1000;
    fuzzing = false;
    const [up, gotDown] = await transfer;
    assert.equal(up.bad, -1, `client → server: byte ${up.bad} differs`);
    assert.equal(up.at, written, `client → server: ${up.at} of ${written} bytes`);
    assert.ok(sameBytes(gotDown, down), `server → client: ${gotDown.length} bytes, differ`);

    const st = server.stats;
    const d = st.drops;
    const dropped = Object.values(d).reduce((a, b) => a + b, 0);
    console.log(
      `fuzz: ${TOTAL} sent in ${elapsedS.toFixed(1)} s, ${
        JSON.stringify(Object.fromEntries(kinds))
      }`,
    );
    console.log(`fuzz: server received ${st.driver.received}, drops ${JSON.stringify(d)}`);
    console.log(`fuzz: at most ${maxConns} connections held; ${written} bytes streamed`);
    assert.ok(d.short > 0, "no short datagram counted");
    assert.ok(d.unknownConn > 0, "no unknown connection counted");
    assert.ok(d.authFailed > 0, "no failed authentication counted");
    assert.ok(d.rateLimited + d.backlogFull > 0, "the message 1 flood was not limited");
    // every received datagram that is not the client's own is dropped and counted, except the
    // message 1s admitted as half-open connections (at most the per-IP rate: 20 + 20/s)
    const foreign = st.driver.received - client.stats.driver.sent;
    const admittedMax = 20 + Math.ceil(20 * (elapsedS + 10));
    assert.ok(
      dropped + admittedMax >= foreign,
      `${dropped} dropped of at least ${foreign} foreign datagrams`,
    );
    assert.ok(maxConns <= BACKLOG + 1, `${maxConns} connections held with a backlog of ${BACKLOG}`);
  } finally {
    clearInterval(watch);
    for (const sh of shooters) sh.close();
    mid.close();
    await mid.done;
    await client.close();
    await server.close();
  }
});
