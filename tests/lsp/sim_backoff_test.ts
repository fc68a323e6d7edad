// Spec §15.5 (out-of-window: max-unacked versus window with growing backoff), §15.6
// (exponential backoff counting with the sniffer) and the retransmission epochs of §11.1, in the
// simulator with the spec's parameters, several seeds each.
import { type ClientSide, type Role, SERVER, simTest, specParams, World } from "./_sim_harness.ts";
import { MsgType } from "../../src/lsp/wire.ts";

// ---- §15.5 -------------------------------------------------------------------------------------

for (
  const [name, clients, omega] of [
    ["MaxUnackedMessages4", 1, 20],
    ["MaxUnackedMessages5", 5, 15],
    ["MaxUnackedMessages6", 5, 20],
  ] as const
) {
  simTest(
    import.meta.url,
    `LspEndpoint lets Acks of buffered messages free M slots while backoff delays the rest ` +
      `(${name}: ${clients} × 20, K 100 δ 1000 ω ${omega} B 10 M 10)`,
    { seeds: 5 },
    (seed) => {
      const delta = 1000;
      const world = new World({
        seed,
        params: specParams(100, delta, omega, 10, 10),
        clients,
        isn: 0,
      });
      world.connectAll(delta);

      const run = (dir: "up" | "down") => {
        const sender: Role = dir === "up" ? "client" : "server";
        const receiver: Role = dir === "up" ? "server" : "client";
        const scripts = world.clients.map(() => world.script(20));
        const write = (from: number, to: number) => {
          for (const c of world.clients) {
            for (const p of scripts[c.index].slice(from, to)) {
              if (dir === "up") c.endpoint.write(c.connId, p, world.now);
              else world.server.write(c.connId, p, world.now);
            }
          }
        };
        const inboxOf = (c: ClientSide) => dir === "up" ? world.serverConnOf(c).inbox : c.inbox;
        const senderAddr = (c: ClientSide) => dir === "up" ? c.addr : SERVER;
        const highestSent = (c: ClientSide) =>
          Math.max(
            0,
            ...world.dataEmitted(senderAddr(c)).filter((d) => d.msg.connId === c.connId)
              .map((d) => d.msg.seqNum),
          );
        const phaseStart = world.now;
        // (1) The first quarter is sent and lost.
        world.faults.setWriteDrop(sender, 1);
        write(0, 5);
        // (2) Two seconds: its backoff grows (retransmitted at epoch 1, next at epoch 3).
        world.runFor(2000);
        // (3) Writes restored; the second quarter is buffered and Acked, not deliverable.
        world.faults.setWriteDrop(sender, 0);
        world.sniffer.start();
        write(5, 10);
        world.runFor(200);
        for (const c of world.clients) {
          world.check(inboxOf(c).length === 0, `${dir}: delivered without the first quarter`);
          const acks = world.sniffer.sent().filter((e) =>
            e.msg.type === MsgType.Ack && e.msg.connId === c.connId && e.msg.seqNum >= 6 &&
            e.msg.seqNum <= 10 && world.roleOf(e.from) === receiver
          ).length;
          world.check(acks === 5, () =>
            `${dir}: ${acks} Acks of the second quarter, not 5`);
        }
        // (4) No more Acks; the last half is written; only 5 fit under M = 10.
        world.faults.setWriteDrop(receiver, 1);
        write(10, 20);
        for (const c of world.clients) {
          const high = highestSent(c);
          world.check(high === 15, () => `${dir}: sent up to SeqNum ${high} at once, not 15`);
        }
        // (5) The retransmitted first quarter arrives: exactly 15 readable, then nothing more.
        world.waitFor(
          () => world.clients.every((c) => inboxOf(c).length >= 15),
          2 * delta,
          `${dir}: reading 3/4 of the messages`,
        );
        world.runFor(500);
        for (const c of world.clients) {
          world.expectMessages(
            `${dir}: stream of client ${c.index} with M exhausted`,
            inboxOf(c),
            scripts[c.index].slice(0, 15),
          );
          world.check(highestSent(c) === 15, `${dir}: a message beyond M went out`);
        }
        // (6) Acks restored: the last quarter arrives, everything in order.
        world.faults.setWriteDrop(receiver, 0);
        world.sniffer.stop();
        world.waitFor(
          () => world.clients.every((c) => inboxOf(c).length === 20),
          20 * delta - world.now, // the whole test, both directions, within 20 epochs
          `${dir}: reading all 20 within 20 epochs of the start`,
        );
        for (const c of world.clients) {
          world.expectMessages(`${dir}: stream of client ${c.index}`, inboxOf(c), scripts[c.index]);
        }
        world.note(`${dir} phase took ${world.now - phaseStart}ms`);
      };

      run("up");
      run("down");
      world.checkEpochDiscipline();
      world.check(
        world.clients.every((c) => c.end === undefined),
        "a connection ended with K = 100",
      );
    },
  );
}

// ---- §15.6 -------------------------------------------------------------------------------------

for (
  const [name, clients, messages] of [["ExpBackOff1", 1, 10], ["ExpBackOff2", 10, 15]] as const
) {
  simTest(
    import.meta.url,
    `LspEndpoint retransmits each unacked message at epochs 1, 3, 6, 11 with B 4 ` +
      `(${name}: ${clients} × ${messages}, K 100 δ 2000 ω 5 M 5)`,
    { seeds: 5 },
    (seed) => {
      const delta = 2000, omega = 5;
      const world = new World({
        seed,
        params: specParams(100, delta, omega, 4, omega),
        clients,
        isn: 0,
        clientStaggerMs: 500,
      });
      world.connectAll(delta);
      world.faults.setWriteDrop("server", 1); // no Acks, no server heartbeats
      world.sniffer.start();
      const writtenAt = world.now;
      for (const c of world.clients) {
        for (const p of world.script(messages)) c.endpoint.write(c.connId, p, world.now);
      }
      world.runFor(14 * delta);
      // The spec's bound, then the exact count: 5 transmissions of each of the ω in-window ones.
      const n = world.sniffer.dataSent;
      world.check(
        n >= 4 * omega * clients && n <= 6 * omega * clients,
        `${n} Data transmissions, outside [4·ω·clients, 6·ω·clients]`,
      );
      world.check(n === 5 * omega * clients, `${n} Data transmissions, not 5·ω·clients`);
      world.check(world.sniffer.dataDropped === 0, "client Data was dropped");
      for (const c of world.clients) {
        // Epoch k is the k-th tick of the client after the writes.
        const ticks = [...world.tickTimes(c.addr)].filter((t) => t > writtenAt);
        world.check(
          ticks.every((t, i) => i === 0 || Math.abs(t - ticks[i - 1] - delta) < 1e-6),
          () => `client ${c.index} ticked at [${ticks}], not every δ`,
        );
        const epoch = (k: number) => ticks[k - 1];
        const want = [writtenAt, epoch(1), epoch(3), epoch(6), epoch(11)];
        for (let seq = 1; seq <= messages; seq++) {
          const times = world.sniffer.log
            .filter((e) => e.from === c.addr && e.msg.type === MsgType.Data && e.msg.seqNum === seq)
            .map((e) => e.at);
          const expected = seq <= omega ? want : [];
          world.check(
            JSON.stringify(times) === JSON.stringify(expected),
            () => `client ${c.index} sent sn${seq} at [${times}], expected [${expected}]`,
          );
        }
      }
    },
  );
}

// ---- §11.1 table -------------------------------------------------------------------------------

/** The spec's table of retransmission epochs per MaxBackOffInterval (§11.1). */
const BACKOFF_TABLE: [number, number[]][] = [
  [0, [1, 2, 3, 4, 5]],
  [1, [1, 3, 5, 7, 9]],
  [2, [1, 3, 6, 9, 12]],
  [3, [1, 3, 6, 10, 14, 18]],
  [4, [1, 3, 6, 11, 16, 21]],
  [8, [1, 3, 6, 11, 20, 29, 38]],
  [16, [1, 3, 6, 11, 20, 37]],
];

for (const [B, epochs] of BACKOFF_TABLE) {
  simTest(
    import.meta.url,
    `LspEndpoint retransmits an unacked message at epochs ${epochs.join(", ")} when ` +
      `MaxBackOffInterval is ${B}`,
    { seeds: 4 },
    (seed) => {
      const delta = 100;
      const last = epochs[epochs.length - 1];
      const world = new World({
        seed,
        params: specParams(1000, delta, 1, B, 1),
        clients: 1,
        clientStaggerMs: 50,
      });
      world.connectAll(delta);
      const c = world.clients[0];
      // Either side may be the sender; its peer's Acks are cut off by a one-way blackhole.
      const serverSends = world.prng.chance(0.5);
      const sender = serverSends ? SERVER : c.addr;
      const [first] = world.script(1);
      const start = [...world.tickTimes(sender)].length;
      world.net.setLink(serverSends ? c.addr : SERVER, sender, { dropRate: 1 });
      if (serverSends) world.server.write(c.connId, first, world.now);
      else c.endpoint.write(c.connId, first, world.now);
      world.runFor((last + 0.5) * delta);
      const ticks = [...world.tickTimes(sender)].slice(start);
      const sent = world.dataEmitted(sender).map((d) => d.at);
      const got = sent.slice(1).map((t) => ticks.indexOf(t) + 1);
      world.check(
        JSON.stringify(got) === JSON.stringify(epochs),
        () => `${sender} retransmitted at epochs [${got}], expected [${epochs}]`,
      );
    },
  );
}
