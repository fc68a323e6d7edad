// Spec §15.13 (integrity: CorruptedMsgServer/Client, VariableLengthMsgServer/Client) and §5,
// in the simulator with the spec's parameters, several seeds each.
import { bytes, type ClientSide, SERVER, simTest, specParams, World } from "./_sim_harness.ts";
import { decodeMessage, MsgType } from "../../src/lsp/wire.ts";
import type { LspEndpoint } from "../../src/lsp/endpoint.ts";

const DELTA = 2000;
const PHASE_MS = 2000;

/** One client with a random ISN, (5, 2000, 1, 1); `reader` says who reads. */
function setup(seed: number, reader: "server" | "client") {
  const world = new World({ seed, params: specParams(5, DELTA, 1, 0, 1), clients: 1 });
  world.connectAll(DELTA);
  const c: ClientSide = world.clients[0];
  const writer: LspEndpoint = reader === "server" ? c.endpoint : world.server;
  const readerEp: LspEndpoint = reader === "server" ? world.server : c.endpoint;
  const readerAddr = reader === "server" ? SERVER : c.addr;
  const inbox = () => (reader === "server" ? world.serverConnOf(c).inbox : c.inbox);
  /** The text of a random multiple of 1000 below 10^6, as the spec's tests use. */
  const payload = () => bytes(String(world.prng.int(0, 999) * 1000));
  const write = (p: Uint8Array) => writer.write(c.connId, p, world.now);
  /** Delivered within the phase limit, before any epoch could retransmit it. */
  const expectDelivered = (what: string, p: Uint8Array) => {
    const n = inbox().length;
    write(p);
    world.waitFor(() => inbox().length > n, PHASE_MS, what);
    world.expectMessages(what, inbox().slice(n), [p]);
  };
  /** Not delivered (and not acknowledged) for a whole phase. */
  const expectRejected = (what: string, p: Uint8Array) => {
    const n = inbox().length;
    world.sniffer.start();
    write(p);
    world.runFor(PHASE_MS);
    world.sniffer.stop();
    world.check(inbox().length === n, `${what}: delivered`);
    const seq = world.sniffer.log.find((e) => e.msg.type === MsgType.Data)?.msg.seqNum;
    const acked = world.sniffer.log.some((e) =>
      e.from === readerAddr && e.msg.type === MsgType.Ack && e.msg.seqNum === seq
    );
    world.check(seq !== undefined && !acked, `${what}: Acked (or never sent)`);
    world.check(c.end === undefined, `${what}: the connection ended`);
  };
  return { world, c, readerEp, inbox, payload, write, expectDelivered, expectRejected };
}

for (const reader of ["server", "client"] as const) {
  const suffix = reader === "server" ? "Server" : "Client";

  simTest(
    import.meta.url,
    `LspEndpoint drops Data whose payload was corrupted, retransmissions included, without an ` +
      `Ack (CorruptedMsg${suffix}, K 5 δ 2000 ω 1 M 1)`,
    { seeds: 10 },
    (seed) => {
      const t = setup(seed, reader);
      const { world } = t;
      t.expectDelivered("a clean message", t.payload());
      world.faults.corrupt = true;
      const before = t.readerEp.stats().dropped.badChecksum;
      const next = t.payload();
      t.expectRejected("a corrupted message", next);
      const dropped = t.readerEp.stats().dropped.badChecksum - before;
      world.check(dropped >= 1, `badChecksum counted ${dropped} drops`);
      world.check(world.now <= 3000 + t.c.startAt + 10, `took ${world.now}ms, over 3 s`);
      // Ours: once the corruption stops, the next retransmission gets through.
      world.faults.corrupt = false;
      world.waitFor(() => t.inbox().length === 2, DELTA + 10, "delivery after the corruption");
      world.expectMessages("the stream", t.inbox().slice(1), [next]);
    },
  );

  simTest(
    import.meta.url,
    `LspEndpoint truncates a longer payload to Size and drops a shorter one ` +
      `(VariableLengthMsg${suffix}, K 5 δ 2000 ω 1 M 1)`,
    { seeds: 10 },
    (seed) => {
      const t = setup(seed, reader);
      const { world, c } = t;
      const readerAddr = reader === "server" ? SERVER : c.addr;
      const arrivedLengths: number[] = [];
      world.net.onPacket((r, data) => {
        if (r.kind !== "deliver" || r.to !== readerAddr || data === undefined) return;
        const msg = decodeMessage(data);
        if (msg?.type === MsgType.Data) arrivedLengths.push(msg.payload!.length - msg.size);
      });
      // (a) A normal message.
      t.expectDelivered("a normal message", t.payload());
      // (b) Lengthened by 3 bytes on the wire: delivered with the original length and content.
      world.faults.lengthenRate = 1;
      t.expectDelivered("a lengthened message", t.payload());
      world.check(
        arrivedLengths.at(-1) === 3,
        `the lengthened message arrived with ${arrivedLengths.at(-1)} extra bytes, not 3`,
      );
      // (c) Shortened to half: never delivered.
      world.faults.lengthenRate = 0;
      world.faults.shortenRate = 1;
      const before = t.readerEp.stats().dropped.shortPayload;
      const short = t.payload();
      t.expectRejected("a shortened message", short);
      const dropped = t.readerEp.stats().dropped.shortPayload - before;
      world.check(dropped >= 1, `shortPayload counted ${dropped} drops`);
      world.check(world.now <= 3000 + c.startAt + 10, `took ${world.now}ms, over 3 s`);
      // Ours: once the shortening stops, the next retransmission gets through.
      world.faults.shortenRate = 0;
      world.waitFor(() => t.inbox().length === 3, DELTA + 10, "delivery after the shortening");
      world.expectMessages("the last message", t.inbox().slice(2), [short]);
    },
  );
}

simTest(
  import.meta.url,
  "LspEndpoint counts corrupted Data as proof of life: K epochs of it lose nothing",
  { seeds: 8 },
  (seed) => {
    // B 0: the sender retransmits on every tick. A middlebox corrupts that Data and drops the
    // sender's heartbeats (sent beside each retransmission, like the reference's), so corrupted
    // Data is all the receiver hears from it (§11.4).
    const K = 3, delta = 100;
    const world = new World({ seed, params: specParams(K, delta, 1, 0, 1), clients: 1 });
    world.connectAll(delta);
    const c = world.clients[0];
    const toServer = world.prng.chance(0.5);
    const [p] = world.script(1);
    const sender = toServer ? "client" : "server";
    world.faults.middlebox = (m, { fromRole }) => {
      if (fromRole !== sender) return undefined;
      if (m.type === MsgType.Ack && m.seqNum === 0) return "drop";
      if (m.type !== MsgType.Data || m.payload === null || m.payload.length === 0) return undefined;
      const payload = m.payload.slice();
      payload[0] ^= 0xff; // Size and Checksum unchanged: the receiver's check fails
      return { ...m, payload };
    };
    if (toServer) c.endpoint.write(c.connId, p, world.now);
    else world.server.write(c.connId, p, world.now);
    world.runFor(3 * K * delta);
    const receiver = toServer ? world.server : c.endpoint;
    const bad = receiver.stats().dropped.badChecksum;
    world.check(bad >= 3 * K - 1, `only ${bad} corrupted transmissions arrived`);
    world.check(
      c.end === undefined && world.serverConnOf(c).end === undefined,
      "a connection was lost while corrupted Data kept arriving",
    );
    world.faults.middlebox = undefined;
    const inbox = () => (toServer ? world.serverConnOf(c).inbox : c.inbox);
    world.waitFor(() => inbox().length === 1, delta + 10, "delivery after the corruption stops");
    world.expectMessages("the stream", inbox(), [p]);
  },
);
