/**
 * Two PeerConns over simulated TCP stream links (SimNet): random delays and random re-chunking of
 * every write, many seeds. The handshake must complete, addresses must cross in both directions,
 * keep-alive pings must flow for minutes without a single reject; after a partition both sides
 * must drop the connection for inactivity.
 *
 * Replay one seed: SIM_SEED=<n> deno test --allow-read --allow-env tests/bitclone/sim_test.ts
 */
import assert from "node:assert/strict";
import { parsePeerAddress, type PeerAddress } from "../../src/bitclone/address.ts";
import type { AddrEntry } from "../../src/bitclone/messages.ts";
import { PeerConn, type PeerConnOptions, type PeerEvent } from "../../src/bitclone/peer_conn.ts";
import { replayHint, SimNet, simSeeds, type StreamEnd } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";

const UNIX_MS_AT_ZERO = 1_700_000_000_000;
const ALICE_SOCKET = "10.0.0.1:51234"; // Alice's ephemeral source address
const ALICE_LISTEN = "10.0.0.1:4000";
const BOB_LISTEN = "10.0.0.2:4001";

type Timed = PeerEvent & { readonly time: number };

/** The thin driver an adapter would be: bytes, EOF and timers in; lines out; events recorded. */
function drive(
  net: SimNet,
  end: StreamEnd,
  conn: PeerConn,
  onEvent: (e: PeerEvent) => void,
): void {
  let timer: number | undefined;
  let ended = false;
  const pump = () => {
    for (let round = 0; round < 100; round++) {
      let progress = false;
      for (let b = conn.pollTransmit(); b; b = conn.pollTransmit()) {
        progress = true;
        if (!ended && end.state !== "closed") end.write(b);
      }
      for (let e = conn.pollEvent(); e; e = conn.pollEvent()) {
        progress = true;
        onEvent(e);
        if (e.type === "closed" && !ended) {
          ended = true;
          end.end();
        }
      }
      if (!progress) break;
    }
    if (timer !== undefined) net.clock.cancel(timer);
    timer = undefined;
    const at = conn.nextTimeout();
    if (at !== undefined) {
      timer = net.clock.setTimer(Math.max(at, net.now), (now) => {
        timer = undefined;
        conn.handleTick(now);
        pump();
      });
    }
  };
  end.onEvent((e) => {
    if (e.type === "data") conn.receiveData(e.bytes, net.now);
    else if (e.type === "eof") conn.receiveEof(net.now);
    else if (e.type === "error") conn.close(`stream ${e.reason}`);
    pump();
  });
  pump();
}

function addr(text: string): PeerAddress {
  const a = parsePeerAddress(text);
  assert.ok(a !== undefined, text);
  return a;
}

interface Side {
  conn: PeerConn | undefined;
  events: Timed[];
  /** Entries received in addr lines, formatted. */
  learned: string[];
}

function scenario(seed: number) {
  const root = Prng.seeded(seed);
  const shape = root.fork();
  const chunkBytesMax = shape.int(1, 64);
  const delayMax = shape.int(1, 120);
  const net = new SimNet({
    prng: root.fork(),
    defaults: { delayMs: [1, delayMax], chunkBytesMax },
  });
  const alicePrng = root.fork(), bobPrng = root.fork();
  const nowSec = () => Math.floor((net.now + UNIX_MS_AT_ZERO) / 1000);
  const bobKnows: AddrEntry[] = Array.from({ length: 600 }, (_, i) => ({
    time: 1_699_990_000 + i,
    address: addr(
      i % 3 === 0
        ? `[2001:db8::${i.toString(16)}]:${5000 + i}`
        : `192.0.${i >> 8}.${i & 255}:${5000 + i}`,
    ),
  }));
  const aliceKnows: AddrEntry[] = [
    { time: 1_699_999_000, address: addr("198.51.100.9:4002") },
    { time: 1_699_999_500, address: addr("[2001:db8::7]:4003") },
  ];
  const common: Partial<PeerConnOptions> = { unixMillisOffset: UNIX_MS_AT_ZERO };
  const alice: Side = { conn: undefined, events: [], learned: [] };
  const bob: Side = { conn: undefined, events: [], learned: [] };
  const manager = (side: Side, self: PeerAddress, known: AddrEntry[]) => (e: PeerEvent) => {
    side.events.push({ ...e, time: net.now });
    const conn = side.conn!;
    if (e.type === "getaddrReceived") {
      conn.sendAddr([{ time: nowSec(), address: self }, ...known]);
    } else if (e.type === "advertiseDue") {
      conn.sendAddr([{ time: nowSec(), address: self }, known[0]]);
    } else if (e.type === "addrReceived") {
      for (const r of e.entries) side.learned.push(`${r.time}|${r.address.ip}|${r.address.port}`);
    }
  };

  net.listen(BOB_LISTEN, (end) => {
    bob.conn = new PeerConn({
      ...common,
      role: "inbound",
      prng: bobPrng,
      now: net.now,
      remoteAddress: addr(end.remote),
      localAddress: addr(end.local),
      userAgent: "bob",
    });
    drive(net, end, bob.conn, manager(bob, addr(BOB_LISTEN), bobKnows));
  });
  const aliceEnd = net.connect(ALICE_SOCKET, BOB_LISTEN);
  alice.conn = new PeerConn({
    ...common,
    role: "outbound",
    prng: alicePrng,
    now: net.now,
    remoteAddress: addr(BOB_LISTEN),
    localAddress: addr(ALICE_LISTEN),
    userAgent: "alice",
  });
  drive(net, aliceEnd, alice.conn, manager(alice, addr(ALICE_LISTEN), aliceKnows));
  return { net, alice, bob, bobKnows, aliceKnows, chunkBytesMax, delayMax };
}

const types = (side: Side, type: PeerEvent["type"]) => side.events.filter((e) => e.type === type);

for (const seed of simSeeds(Array.from({ length: 24 }, (_, i) => i + 1))) {
  Deno.test(`PeerConn pair completes the handshake and exchanges addr and pings over re-chunked streams (seed ${seed})`, () => {
    const s = scenario(seed);
    const { net, alice, bob } = s;
    const hint = () =>
      `${replayHint(seed, "deno test --allow-read --allow-env tests/bitclone/sim_test.ts")} ` +
      `(chunks ≤ ${s.chunkBytesMax} B, delay ≤ ${s.delayMax} ms)\n` +
      `alice: ${JSON.stringify(alice.events.map((e) => e.type))}\n` +
      `bob: ${JSON.stringify(bob.events.map((e) => e.type))}\n${net.formatTrace({ last: 30 })}`;
    net.runUntil(2_000);
    assert.equal(alice.conn?.state, "established", hint());
    assert.equal(bob.conn?.state, "established", hint());
    const [ea] = types(alice, "established");
    const [eb] = types(bob, "established");
    assert.ok(ea.type === "established" && eb.type === "established");
    assert.equal(ea.peer.userAgent, "bob");
    assert.equal(eb.peer.userAgent, "alice");
    assert.equal(ea.peer.nonce, bob.conn!.nonce);
    assert.equal(eb.peer.nonce, alice.conn!.nonce);
    assert.deepEqual(
      eb.peer.listenAddress,
      addr(ALICE_LISTEN),
      "inbound identity: IP + sender port",
    );
    assert.deepEqual(eb.peer.remoteAddress, addr(ALICE_SOCKET));

    net.runUntil(100_000);
    assert.equal(alice.conn!.state, "established", hint());
    assert.equal(bob.conn!.state, "established", hint());
    // Bob's answer: his own address plus 600 entries in one line, all accepted by Alice.
    const solicited = alice.events.filter((e) => e.type === "addrReceived" && e.solicited);
    assert.equal(solicited.length, 1, hint());
    assert.ok(solicited[0].type === "addrReceived" && solicited[0].lineEntries === 601);
    const bobSent = s.bobKnows.map((e) => `${e.time}|${e.address.ip}|${e.address.port}`);
    for (const entry of bobSent) assert.ok(alice.learned.includes(entry), `${entry}\n${hint()}`);
    // Alice's answer and advertisements reach Bob; Alice's own entry is a self-announcement.
    const aliceSelf = bob.events.flatMap((e) => e.type === "addrReceived" ? e.entries : [])
      .filter((r) => r.selfAnnouncement);
    assert.ok(aliceSelf.length >= 3, hint());
    assert.ok(aliceSelf.every((r) => r.address.ip === "10.0.0.1" && r.address.port === 4000));
    for (const side of [alice, bob]) {
      const rtts = types(side, "pingRtt");
      assert.ok(rtts.length >= 3, `pings at 30, 60 and 90 s\n${hint()}`);
      for (const r of rtts) {
        assert.ok(r.type === "pingRtt" && r.rttMs <= 2 * s.delayMax + 1, hint());
      }
      assert.ok(types(side, "advertiseDue").length >= 3, hint());
      for (const bad of ["rejectSent", "rejectReceived", "misbehaviour", "closed"] as const) {
        assert.deepEqual(types(side, bad), [], `${bad}\n${hint()}`);
      }
    }

    // A partition: nothing arrives any more; both sides drop the connection for inactivity.
    net.partition([ALICE_SOCKET], [BOB_LISTEN]);
    net.runUntil(300_000);
    for (const side of [alice, bob]) {
      const closed = types(side, "closed");
      assert.equal(closed.length, 1, hint());
      const c = closed[0];
      assert.ok(c.type === "closed" && c.reason.kind === "inactivity" && c.wasEstablished, hint());
      assert.ok(c.time <= 100_000 + 90_000 + 2 * s.delayMax, `closed at ${c.time}\n${hint()}`);
    }
  });
}

Deno.test("PeerConn pair gives the same event times when run twice with one seed", () => {
  const run = (seed: number) => {
    const s = scenario(seed);
    s.net.runUntil(120_000);
    return JSON.stringify([s.alice.events, s.bob.events]);
  };
  assert.equal(run(7), run(7));
  assert.notEqual(run(7), run(8));
});
