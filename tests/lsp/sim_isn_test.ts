// Spec §15.11 (BasicISN: sequence numbers start at ISN + 1 in both directions, one Connect-Ack
// per connection, no stray ConnIDs) and §6.3 for any ISN, in the simulator, several seeds each.
import { bytes, SERVER, simTest, specParams, World } from "./_sim_harness.ts";
import { MAX_ISN } from "../../src/lsp/conn.ts";
import { MsgType } from "../../src/lsp/wire.ts";

simTest(
  import.meta.url,
  "LspEndpoint numbers the Connect-Ack ISN and both first Data messages ISN + 1 for 100 " +
    "clients with random ISNs (BasicISN, K 5 δ 2000 ω 1 M 1)",
  { seeds: 5 },
  (seed) => {
    const delta = 2000;
    const world = new World({
      seed,
      params: specParams(5, delta, 1, 0, 1),
      clients: 100,
      clientStaggerMs: 20,
    });
    world.sniffer.start(); // before the first Connect
    const writtenAt = new Map<number, number>();
    world.onClient((c, e) => {
      if (e.type !== "connected") return;
      c.endpoint.write(c.connId, bytes("TestMessage"), world.now); // never blocks
      writtenAt.set(c.index, world.now);
    });
    world.connectAll(delta);
    world.waitFor(
      () => world.clients.every((c) => world.serverConnOf(c).inbox.length === 1),
      1000,
      "the server reading one message per client within 1 s",
    );
    world.runFor(delta);
    const byConn = new Map<number, typeof world.sniffer.log>();
    for (const e of world.sniffer.sent()) {
      const list = byConn.get(e.msg.connId) ?? [];
      list.push(e);
      byConn.set(e.msg.connId, list);
    }
    const ids = [...byConn.keys()].sort((a, b) => a - b);
    world.check(ids.length === 101, `${ids.length} distinct ConnIDs on the wire, not 101`);
    world.check(ids[0] === 0, "no ConnID 0 (Connect) on the wire");
    world.check(
      ids.slice(1).every((id) => world.clients.some((c) => c.connId === id)),
      `a stray ConnID among [${ids}]`,
    );
    for (const c of world.clients) {
      const isn = c.isn;
      const seen = byConn.get(c.connId)!
        .filter((e) => !(e.msg.type === MsgType.Ack && e.msg.seqNum === 0))
        .map((e) => `${e.from === SERVER ? "S" : "C"}:${e.msg.type}:${e.msg.seqNum}`);
      const want = [
        `S:${MsgType.Ack}:${isn}`,
        `C:${MsgType.Data}:${isn + 1}`,
        `S:${MsgType.Ack}:${isn + 1}`,
      ];
      world.check(
        JSON.stringify(seen.slice(0, 3)) === JSON.stringify(want),
        () => `client ${c.index} (ISN ${isn}): first messages [${seen.slice(0, 3)}], not [${want}]`,
      );
      const connectAcks = seen.filter((s) => s === want[0]).length;
      world.check(connectAcks === 1, `client ${c.index}: ${connectAcks} Connect-Acks`);
      world.check(writtenAt.get(c.index)! < 1000, `client ${c.index} wrote after 1 s`);
      world.expectMessages(`server read from client ${c.index}`, world.serverConnOf(c).inbox, [
        bytes("TestMessage"),
      ]);
    }
  },
);

simTest(
  import.meta.url,
  "LspEndpoint starts both streams at ISN + 1 for any ISN, through loss of the Connect-Ack",
  { seeds: 20 },
  (seed) => {
    const delta = 100;
    const world = new World({
      seed,
      params: specParams(8, delta, 2, 1, 2),
      clients: 4,
      isn: (i, prng) => [0, prng.int(1, 256), prng.int(0, 2 ** 31 - 1), MAX_ISN][i],
      link: { delayMs: [0.2, 3] },
    });
    world.sniffer.start();
    // Half of the seeds lose every Connect-Ack: the clients connect through heartbeats (§6.1).
    const loseAcks = world.prng.chance(0.5);
    if (loseAcks) {
      world.faults.middlebox = (msg, p) =>
        p.fromRole === "server" && msg.type === MsgType.Ack && msg.seqNum !== 0
          ? "drop"
          : undefined;
    }
    world.connectAll(2 * delta);
    world.faults.middlebox = undefined;
    const up = world.clients.map(() => world.script(3));
    const down = world.clients.map(() => world.script(3));
    for (const c of world.clients) {
      for (const p of up[c.index]) c.endpoint.write(c.connId, p, world.now);
      for (const p of down[c.index]) world.server.write(c.connId, p, world.now);
    }
    world.waitFor(
      () =>
        world.clients.every((c) =>
          c.inbox.length === 3 && world.serverConnOf(c).inbox.length === 3
        ),
      delta,
      "both streams",
    );
    for (const c of world.clients) {
      world.expectMessages(`client ${c.index} read`, c.inbox, down[c.index]);
      world.expectMessages(
        `server read from client ${c.index}`,
        world.serverConnOf(c).inbox,
        up[c.index],
      );
      for (const from of [c.addr, SERVER]) {
        const seqs = world.sniffer.sent()
          .filter((e) =>
            e.from === from && e.msg.type === MsgType.Data && e.msg.connId === c.connId
          )
          .map((e) => e.msg.seqNum);
        const want = [c.isn + 1, c.isn + 2, c.isn + 3];
        world.check(
          JSON.stringify(seqs) === JSON.stringify(want),
          () => `${from} sent Data [${seqs}] to ISN ${c.isn}, not [${want}]`,
        );
      }
      // Exactly one Connect-Ack per connection, even though the clients repeated their Connect
      // when it was lost: the server ignores duplicate Connects (§6.4).
      const connectAcks = world.sniffer.log.filter((e) =>
        e.from === SERVER && e.msg.type === MsgType.Ack && e.msg.connId === c.connId &&
        e.msg.seqNum === c.isn
      ).length;
      if (c.isn !== 0) {
        world.check(connectAcks === 1, `${connectAcks} Connect-Acks to ISN ${c.isn}`);
      }
      if (loseAcks && c.isn !== 0) { // with ISN 0 the Connect-Ack is a heartbeat anyway
        const firstHeartbeat = [...world.tickTimes(SERVER)][0];
        world.check(
          c.connectedAt! >= firstHeartbeat,
          `client ${c.index} connected at ${c.connectedAt}ms, before the server's first tick`,
        );
      }
    }
  },
);
