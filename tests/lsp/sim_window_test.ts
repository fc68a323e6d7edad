// Spec §15.3 (window and max-unacked capacity), §15.4 (scattered: out-of-order buffering inside
// the window) and §15.7 (out-of-order delivery with delayed packets), in the simulator with the
// spec's parameters, several seeds each.
import { type ClientSide, SERVER, simTest, specParams, World } from "./_sim_harness.ts";
import { decodeMessage, MsgType } from "../../src/lsp/wire.ts";

/** Writes every payload of `scripts[i]` on client i's connection at once. */
function clientsWrite(world: World, scripts: Uint8Array[][], from = 0, to?: number): void {
  for (const c of world.clients) {
    for (const p of scripts[c.index].slice(from, to)) c.endpoint.write(c.connId, p, world.now);
  }
}

/** Writes every payload of `scripts[i]` to client i's connection at once. */
function serverWrites(world: World, scripts: Uint8Array[][], from = 0, to?: number): void {
  for (const c of world.clients) {
    for (const p of scripts[c.index].slice(from, to)) world.server.write(c.connId, p, world.now);
  }
}

/** The highest Data SeqNum `addr` emitted on the connection of `c` so far. */
function highestSent(world: World, addr: string, c: ClientSide): number {
  let high = 0;
  for (const { msg } of world.dataEmitted(addr)) {
    if (msg.connId === c.connId) high = Math.max(high, msg.seqNum);
  }
  return high;
}

// ---- §15.3 -------------------------------------------------------------------------------------

const CAPACITY: [string, number, number, [number, number, number, number, number]][] = [
  ["Window1", 1, 10, [3, 500, 5, 0, 50]],
  ["Window2", 5, 25, [3, 500, 10, 0, 50]],
  ["Window3", 10, 25, [3, 500, 10, 0, 50]],
  ["MaxUnackedMessages1", 1, 10, [3, 500, 50, 0, 5]],
  ["MaxUnackedMessages2", 5, 25, [3, 500, 50, 0, 10]],
  ["MaxUnackedMessages3", 10, 25, [3, 500, 50, 0, 10]],
];

for (const [name, clients, messages, [K, delta, omega, B, M]] of CAPACITY) {
  const limit = Math.min(omega, M);
  simTest(
    import.meta.url,
    `LspEndpoint sends exactly min(ω, M) = ${limit} messages without Acks, then the rest ` +
      `(${name}: ${clients} × ${messages}, K ${K} δ ${delta} ω ${omega} B ${B} M ${M})`,
    { seeds: 6 },
    (seed) => {
      const world = new World({ seed, params: specParams(K, delta, omega, B, M), clients, isn: 0 });
      world.connectAll(delta);
      const up = world.clients.map(() => world.script(messages));
      const down = world.clients.map(() => world.script(messages));
      // (1) No Acks reach the clients; they stream everything; the server reads exactly `limit`.
      world.faults.setWriteDrop("server", 1);
      clientsWrite(world, up);
      world.waitFor(
        () => world.clients.every((c) => world.serverConnOf(c).inbox.length >= limit),
        delta,
        "the server reading the first window",
      );
      world.runFor(50);
      for (const c of world.clients) {
        world.expectMessages(
          `server read from client ${c.index} with its Acks dropped`,
          world.serverConnOf(c).inbox,
          up[c.index].slice(0, limit),
        );
        world.check(
          highestSent(world, c.addr, c) === limit,
          () =>
            `client ${c.index} sent up to SeqNum ${highestSent(world, c.addr, c)}, not ${limit}`,
        );
      }
      // (2) Acks restored: the rest arrives through retransmission and window sliding.
      world.faults.setWriteDrop("server", 0);
      world.waitFor(
        () => world.clients.every((c) => world.serverConnOf(c).inbox.length === messages),
        2 * delta,
        "the server reading everything",
      );
      for (const c of world.clients) {
        world.expectMessages(
          `server read from client ${c.index}`,
          world.serverConnOf(c).inbox,
          up[c.index],
        );
      }
      // (3)-(4) The mirror image, server to clients.
      world.faults.setWriteDrop("client", 1);
      serverWrites(world, down);
      world.waitFor(
        () => world.clients.every((c) => c.inbox.length >= limit),
        delta,
        "the clients reading the first window",
      );
      world.runFor(50);
      for (const c of world.clients) {
        world.expectMessages(
          `client ${c.index} read with its Acks dropped`,
          c.inbox,
          down[c.index].slice(0, limit),
        );
        world.check(
          highestSent(world, SERVER, c) === limit,
          () => `server sent up to SeqNum ${highestSent(world, SERVER, c)} to client ${c.index}`,
        );
      }
      world.faults.setWriteDrop("client", 0);
      world.waitFor(
        () => world.clients.every((c) => c.inbox.length === messages),
        2 * delta,
        "the clients reading everything",
      );
      for (const c of world.clients) {
        world.expectMessages(`client ${c.index} read`, c.inbox, down[c.index]);
      }
      world.check(world.now <= 5 * delta, `took ${world.now}ms, over 5 epochs`);
      world.check(
        world.clients.every((c) => c.end === undefined),
        "a connection was lost (K·δ = 1.5 s)",
      );
      world.checkEpochDiscipline();
    },
  );
}

// ---- §15.4 -------------------------------------------------------------------------------------

for (const [name, clients] of [["Window4", 1], ["Window5", 5], ["Window6", 10]] as const) {
  simTest(
    import.meta.url,
    `LspEndpoint buffers the second half inside the window until the first half is ` +
      `retransmitted (${name}: ${clients} × 10, K 3 δ 1000 ω 20 M 20)`,
    { seeds: 6 },
    (seed) => {
      const delta = 1000;
      const world = new World({ seed, params: specParams(3, delta, 20, 0, 20), clients, isn: 0 });
      world.connectAll(delta);
      const up = world.clients.map(() => world.script(10));
      const down = world.clients.map(() => world.script(10));

      const scattered = (
        dir: "up" | "down",
        scripts: Uint8Array[][],
        write: (from: number, to: number) => void,
        inboxOf: (c: ClientSide) => Uint8Array[],
        receiver: string | ((c: ClientSide) => string),
      ) => {
        const sender = dir === "up" ? "client" : "server";
        world.faults.setWriteDrop(sender, 1);
        write(0, 5);
        world.runFor(world.prng.int(1, 50));
        world.faults.setWriteDrop(sender, 0);
        const restoredAt = world.now;
        world.sniffer.start();
        write(5, 10);
        world.runFor(20);
        for (const c of world.clients) {
          world.check(
            inboxOf(c).length === 0,
            () => `${dir}: client ${c.index}'s stream delivered before its first half arrived`,
          );
          const to = typeof receiver === "string" ? receiver : receiver(c);
          const acked = world.sniffer.sent().filter((e) =>
            e.from === to && e.msg.type === MsgType.Ack && e.msg.connId === c.connId &&
            e.msg.seqNum >= 6 && e.msg.seqNum <= 10
          ).length;
          world.check(acked === 5, () =>
            `${dir}: ${acked} Acks of the buffered second half, not 5`);
        }
        world.sniffer.stop();
        world.waitFor(
          () => world.clients.every((c) => inboxOf(c).length === 10),
          delta + 20,
          `${dir}: delivery after the first half is retransmitted`,
        );
        for (const c of world.clients) {
          world.expectMessages(`${dir}: client ${c.index}'s stream`, inboxOf(c), scripts[c.index]);
        }
        world.note(`${dir}: restored at ${restoredAt}ms, all delivered at ${world.now}ms`);
      };

      scattered(
        "up",
        up,
        (from, to) => clientsWrite(world, up, from, to),
        (c) => world.serverConnOf(c).inbox,
        SERVER,
      );
      scattered(
        "down",
        down,
        (from, to) => serverWrites(world, down, from, to),
        (c) => c.inbox,
        (c) => c.addr,
      );
      world.check(world.now <= 5 * delta, `took ${world.now}ms, over 5 epochs`);
      world.checkEpochDiscipline();
    },
  );
}

// ---- §15.7 -------------------------------------------------------------------------------------

for (
  const [name, clients, messages] of [
    ["OutOfOrderMsg1", 1, 10],
    ["OutOfOrderMsg2", 5, 25],
    ["OutOfOrderMsg3", 10, 25],
  ] as const
) {
  simTest(
    import.meta.url,
    `LspEndpoint delivers in order when half of all datagrams are held 500 ms ` +
      `(${name}: ${clients} × ${messages}, K 3 δ 5000 ω 30 M 30)`,
    { seeds: 8 },
    (seed) => {
      const delta = 5000;
      const world = new World({ seed, params: specParams(3, delta, 30, 0, 30), clients, isn: 0 });
      world.faults.delayRate = 0.5; // from the very start: Connects and Acks too
      const arrivals = new Map<string, number[]>();
      world.net.onPacket((r, data) => {
        if (r.kind !== "deliver" || r.to !== SERVER || data === undefined) return;
        const msg = decodeMessage(data);
        if (msg?.type !== MsgType.Data) return;
        const list = arrivals.get(r.from) ?? [];
        list.push(msg.seqNum);
        arrivals.set(r.from, list);
      });
      world.connectAll(5 * delta);
      const up = world.clients.map(() => world.script(messages));
      clientsWrite(world, up);
      world.waitFor(
        () => world.clients.every((c) => world.serverConnOf(c).inbox.length === messages),
        5 * delta - world.now,
        "the server reading everything within 5 epochs",
      );
      for (const c of world.clients) {
        world.expectMessages(
          `server read from client ${c.index}`,
          world.serverConnOf(c).inbox,
          up[c.index],
        );
      }
      // With 500 ms holds and 5 s epochs, nothing ever needs a retransmission.
      world.check(world.now < delta, `took ${world.now}ms: not within the first epoch`);
      const retransmitted = world.clients.reduce(
        (n, c) => n + c.endpoint.stats().dataRetransmitted,
        0,
      );
      world.check(retransmitted === 0, `${retransmitted} retransmissions`);
      if (messages >= 25) {
        // The scenario really reordered: some client's Data reached the server out of order.
        const reordered = [...arrivals.values()].some((seqs) =>
          seqs.some((s, i) => i > 0 && s < seqs[i - 1])
        );
        world.check(reordered, "no Data arrived out of order");
      }
    },
  );
}
