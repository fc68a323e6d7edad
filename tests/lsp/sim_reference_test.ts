// Where the reference differs harmlessly from the handout, ours matches it (issue 9, in the
// simulator): payloads up to whatever fits in a 1500-byte datagram, a `"Payload":null` echoed
// as null, a Connect with a negative ISN accepted, and a heartbeat beside each retransmission.
import { SERVER, simTest, specParams, World } from "./_sim_harness.ts";
import {
  ackMessage,
  connectMessage,
  dataMessage,
  decodeMessage,
  encodeMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MsgType,
} from "../../src/lsp/wire.ts";
import type { LspEvent } from "../../src/lsp/conn.ts";

/**
 * The oracle: the largest payload of `fill` bytes whose Data message, encoded with this ConnID
 * and SeqNum, fits in one 1500-byte datagram (1068..1071 bytes with small numbers).
 */
function largestFitting(connId: number, seqNum: number, fill: number): Uint8Array {
  for (let n = 1100; n >= 0; n--) {
    const payload = new Uint8Array(n).fill(fill);
    if (encodeMessage(dataMessage(connId, seqNum, payload)).length <= MAX_DATAGRAM_BYTES) {
      return payload;
    }
  }
  throw new Error("nothing fits");
}

/** Echoes every message back to its sender; a `"Payload":null` goes back as null. */
function serveEcho(world: World): void {
  world.onServer((e: LspEvent) => {
    if (e.type !== "message") return;
    world.server.write(e.connId, e.payloadNull ? null : e.payload, world.now);
  });
}

simTest(
  import.meta.url,
  "LspEndpoint echoes payloads at the 1500-byte datagram edge (1068..1071 bytes) under 20% loss",
  { seeds: 6 },
  (seed) => {
    const K = 20, delta = 50, MESSAGES = 12;
    const world = new World({ seed, params: specParams(K, delta, 1, 0, 1), clients: 3 });
    world.connectAll(delta);
    serveEcho(world);
    // Lock-step: payload i of client c is the largest that fits with its SeqNum isn + 1 + i; the
    // server's echo travels with the same ConnID and SeqNum, so it is exactly as long.
    const scripts = world.clients.map((c) =>
      Array.from(
        { length: MESSAGES },
        (_, i) => largestFitting(c.connId, c.isn + 1 + i, world.prng.int(0, 255)),
      )
    );
    world.onClient((c, e) => {
      if (e.type !== "message") return;
      const next = c.inbox.length;
      if (next < MESSAGES) c.endpoint.write(c.connId, scripts[c.index][next], world.now);
    });
    world.faults.setWriteDrop("both", 0.2);
    world.sniffer.start();
    for (const c of world.clients) c.endpoint.write(c.connId, scripts[c.index][0], world.now);
    world.waitFor(
      () => world.clients.every((c) => c.inbox.length === MESSAGES),
      15_000,
      "edge-size echoes",
    );
    for (const c of world.clients) {
      world.expectMessages(`client ${c.index}'s echoes`, c.inbox, scripts[c.index]);
      world.expectMessages(
        `server's copy of ${c.index}`,
        world.serverConnOf(c).inbox,
        scripts[c.index],
      );
      world.check(
        scripts[c.index].every((p) => p.length >= 1068 && p.length <= 1071),
        "a payload off the edge",
      );
    }
    const longest = Math.max(...world.sniffer.log.map((e) => encodeMessage(e.msg).length));
    world.check(longest <= MAX_DATAGRAM_BYTES, `a ${longest}-byte datagram went out`);
    world.check(longest >= MAX_DATAGRAM_BYTES - 3, `the longest datagram has ${longest} bytes`);
    world.checkEpochDiscipline();
  },
);

simTest(
  import.meta.url,
  'LspEndpoint carries write(null) as "Payload":null both ways, and the echo keeps it null',
  { seeds: 4 },
  (seed) => {
    const delta = 100;
    const world = new World({ seed, params: specParams(10, delta, 2, 0, 2), clients: 2 });
    world.connectAll(delta);
    serveEcho(world);
    // Per client: null, "", "x", null — written at once, pipelined through ω 2.
    const script: (Uint8Array | null)[] = [null, new Uint8Array(0), Uint8Array.of(0x78), null];
    world.faults.setWriteDrop("both", 0.2);
    world.sniffer.start();
    for (const c of world.clients) for (const p of script) c.endpoint.write(c.connId, p, world.now);
    world.waitFor(
      () => world.clients.every((c) => c.inbox.length === script.length),
      50 * delta,
      "null and empty echoes",
    );
    const wantNull = script.map((p) => p === null);
    for (const c of world.clients) {
      const got = c.events.flatMap(({ event: e }) =>
        e.type === "message" ? [e.payloadNull === true] : []
      );
      world.check(
        JSON.stringify(got) === JSON.stringify(wantNull),
        () => `client ${c.index}: null flags ${got}, expected ${wantNull}`,
      );
      world.expectMessages(
        `client ${c.index}'s echoes`,
        c.inbox,
        script.map((p) => p ?? new Uint8Array(0)),
      );
      // On the wire, each direction: the Data numbered like a null write carries null.
      for (const from of [c.addr, SERVER]) {
        const data = world.sniffer.log.filter((e) =>
          e.from === from && e.msg.type === MsgType.Data && e.msg.connId === c.connId
        );
        for (const { msg } of data) {
          const i = msg.seqNum - c.isn - 1;
          world.check(
            (msg.payload === null) === wantNull[i],
            () => `${from}: Data ${msg.seqNum} has payload ${msg.payload}`,
          );
        }
      }
    }
  },
);

simTest(
  import.meta.url,
  "LspEndpoint server accepts a Connect with a negative ISN and echoes from ISN + 1",
  { seeds: 3 },
  (seed) => {
    const delta = 100;
    const world = new World({ seed, params: specParams(5, delta, 1, 0, 1), clients: 0 });
    serveEcho(world);
    const RAW = "10.0.0.200:4000";
    const got: LspMessage[] = [];
    const raw = world.net.bind(RAW, (_from, bytes) => {
      const m = decodeMessage(bytes);
      if (m !== undefined) got.push(m);
    });
    const isn = -1 - world.prng.int(0, 5); // −1 … −6: Data numbered up to 0 and beyond
    raw.send(SERVER, encodeMessage(connectMessage(isn)));
    world.runFor(5);
    const connectAck = got.find((m) => m.type === MsgType.Ack && m.seqNum === isn);
    world.check(connectAck !== undefined, `no Ack(id, ${isn}) for the Connect`);
    const id = connectAck!.connId;
    const payloads = ["a", "b", "c", "d", "e", "f", "g", "h"].map((s) =>
      new TextEncoder().encode(s)
    );
    for (let i = 0; i < payloads.length; i++) {
      const sn = isn + 1 + i;
      raw.send(SERVER, encodeMessage(dataMessage(id, sn, payloads[i])));
      world.runFor(5);
      const echo = got.find((m) => m.type === MsgType.Data && m.seqNum === sn);
      world.check(echo !== undefined, `no echo numbered ${sn}`);
      world.check(echo!.payload?.[0] === payloads[i][0], `echo ${sn} carries the wrong payload`);
      // Ack the echo (an Ack of Data 0 is byte for byte a heartbeat).
      raw.send(SERVER, encodeMessage(ackMessage(id, sn)));
      world.runFor(5);
    }
    const inbox = [...world.serverConns.values()][0]?.inbox ?? [];
    world.check(inbox.length === payloads.length, `server delivered ${inbox.length} messages`);
    world.runFor(3 * delta);
    const retransmitted = got.filter((m) => m.type === MsgType.Data).length - payloads.length;
    world.check(retransmitted === 0, `${retransmitted} echoes retransmitted: an Ack was not taken`);
  },
);

simTest(
  import.meta.url,
  "LspEndpoint sends a heartbeat beside each retransmission (no Acks coming back, B 4)",
  { seeds: 3 },
  (seed) => {
    const delta = 2000;
    const world = new World({ seed, params: specParams(100, delta, 5, 4, 5), clients: 2 });
    world.connectAll(delta);
    world.faults.setWriteDrop("server", 1); // no Acks reach the clients
    world.sniffer.start();
    for (const c of world.clients) {
      for (let i = 0; i < 10; i++) c.endpoint.write(c.connId, Uint8Array.of(i), world.now);
    }
    world.runFor(14 * delta);
    for (const c of world.clients) {
      const ticks = [...world.tickTimes(c.addr)].filter((t) => t > c.connectedAt!);
      let withRetransmission = 0;
      for (const t of ticks) {
        const atTick = world.sniffer.log.filter((e) => e.from === c.addr && e.at === t);
        const data = atTick.filter((e) => e.msg.type === MsgType.Data).length;
        const hb = atTick.filter((e) => e.msg.type === MsgType.Ack && e.msg.seqNum === 0).length;
        if (data > 0) withRetransmission++;
        world.check(hb === 1, () => `client ${c.index} at ${t}ms: ${data} Data, ${hb} heartbeats`);
      }
      // Retransmission epochs 1, 3, 6, 11 of the schedule all fall in these 14 epochs.
      world.check(withRetransmission >= 4, `only ${withRetransmission} retransmission ticks`);
    }
  },
);
