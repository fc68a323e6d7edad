// Spec §15.10 (network on/off buffering: ServerFastClose, ServerToClient, ClientToServer,
// RoundTrip, variants 1–3) and partitions (§11.4 liveness), in the simulator with the spec's
// parameters, several seeds each.
import {
  bytes,
  type ClientSide,
  scenarioPrng,
  SERVER,
  simTest,
  specParams,
  World,
} from "./_sim_harness.ts";
import { StreamChecker } from "../../src/sim/mod.ts";
import { dataMessage, encodeMessage } from "../../src/lsp/wire.ts";

type Variant = "ServerFastClose" | "ServerToClient" | "ClientToServer" | "RoundTrip";

const SIZES = [
  { n: 1, clients: 1, messages: 10, delta: 500, epochs: 12, seeds: 6 },
  { n: 2, clients: 3, messages: 10, delta: 500, epochs: 12, seeds: 6 },
  { n: 3, clients: 5, messages: 500, delta: 2000, epochs: 20, seeds: 2 },
] as const;

const VARIANTS: Variant[] = ["ServerFastClose", "ServerToClient", "ClientToServer", "RoundTrip"];

for (const size of SIZES) {
  for (const variant of VARIANTS) {
    const up = variant !== "ServerToClient"; // steps 2 and 4
    const down = variant !== "ClientToServer"; // steps 5, 7 and 8
    const clientsCloseEarly = variant === "ClientToServer"; // step 3
    const serverClosesEarly = variant === "ServerFastClose" || variant === "ServerToClient"; // 6
    simTest(
      import.meta.url,
      `LspEndpoint buffers writes while the network is off and drains them in 2 epochs on ` +
        `(${variant}${size.n}: ${size.clients} × ${size.messages}, K 5 δ ${size.delta} ω 1 M 1)`,
      { seeds: size.seeds },
      (seed) => {
        const { delta, messages } = size;
        const world = new World({
          seed,
          params: specParams(5, delta, 1, 0, 1),
          clients: size.clients,
          isn: 0,
        });
        const deadline = size.epochs * delta;
        const offFor = () => world.runFor(world.prng.float() * delta / 2); // vary the phase
        const serverInbox = (c: ClientSide) => world.serverConnOf(c).inbox;
        // 1. All connect. Network off.
        world.connectAll(delta);
        world.faults.networkOff();
        offFor();
        const upScripts = world.clients.map(() => world.script(messages));
        const downScripts = world.clients.map(() => world.script(messages));
        if (up) {
          // 2. Clients write everything: nothing blocks, the data queues up.
          for (const c of world.clients) {
            for (const p of upScripts[c.index]) c.endpoint.write(c.connId, p, world.now);
          }
          // 3. [ClientToServer] Clients close now; it blocks.
          if (clientsCloseEarly) {
            for (const c of world.clients) c.endpoint.closeAll(world.now);
            world.runFor(1);
            world.check(world.clients.every((c) => c.end === undefined), "a client close returned");
          }
          offFor();
          // 4. Network on for 2 epochs: every client message reaches the server.
          world.faults.networkOn();
          const onAt = world.now;
          world.runWhile(
            () => !world.clients.every((c) => serverInbox(c).length === messages),
            onAt + 2 * delta,
          );
          world.note(`up: everything arrived ${world.now - onAt}ms after the network came on`);
          world.runTo(onAt + 2 * delta);
          world.faults.networkOff();
          for (const c of world.clients) {
            world.expectMessages(
              `server read from client ${c.index}`,
              serverInbox(c),
              upScripts[c.index],
            );
            if (clientsCloseEarly) {
              world.check(
                c.end === "closed",
                `client ${c.index}'s close did not return (${c.end})`,
              );
            }
          }
          offFor();
        }
        if (down) {
          // 5. The server writes everything, to all clients in a random interleaving.
          const order = world.clients.flatMap((c) => upScripts[c.index].map(() => c));
          world.prng.shuffle(order);
          const next = world.clients.map(() => 0);
          for (const c of order) {
            world.server.write(c.connId, downScripts[c.index][next[c.index]++], world.now);
          }
          // 6. [ServerFastClose, ServerToClient] The server closes now; it blocks.
          if (serverClosesEarly) {
            world.server.closeAll(world.now);
            world.runFor(1);
            world.check(!world.server.isFinished, "the server's close returned with data pending");
          }
          offFor();
          // 7. Network on for 2 epochs: every server message reaches its client.
          world.faults.networkOn();
          const onAt = world.now;
          world.runWhile(
            () => !world.clients.every((c) => c.inbox.length === messages),
            onAt + 2 * delta,
          );
          world.note(`down: everything arrived ${world.now - onAt}ms after the network came on`);
          world.runTo(onAt + 2 * delta);
          world.faults.networkOff();
          if (serverClosesEarly) {
            world.check(world.server.isFinished, "the server's close did not return in 2 epochs");
          }
          offFor();
          // 8. Clients read everything from their buffers, then close at once (nothing pending).
          for (const c of world.clients) {
            world.expectMessages(`client ${c.index} read`, c.inbox, downScripts[c.index]);
            c.endpoint.closeAll(world.now);
            world.pump();
            world.check(
              c.end === "closed" || c.end === "lost",
              `client ${c.index}'s close did not return at once with the network off`,
            );
          }
        }
        // 9. [RoundTrip, ClientToServer] The server closes with the network off: nothing is
        // pending, so it returns at once without waiting for the clients to disappear.
        if (!serverClosesEarly) {
          world.server.closeAll(world.now);
          world.check(world.server.isFinished, "the server's close did not return at once");
        }
        world.check(world.now <= deadline, `took ${world.now}ms, over ${size.epochs} epochs`);
        world.checkEpochDiscipline();
      },
    );
  }
}

// ---- Partitions --------------------------------------------------------------------------------

simTest(
  import.meta.url,
  "LspEndpoint reports lost on both sides of a partition longer than K epochs, and nowhere else",
  { seeds: 12 },
  (seed) => {
    // K ≥ 4: under the heartbeat rule (§7) a healthy peer may stay quiet for almost 2δ, so the
    // clients beyond the partition are only guaranteed to survive from K = 4 on.
    const draw = scenarioPrng(seed);
    const K = draw.int(4, 6), delta = draw.int(50, 500);
    const world = new World({
      seed,
      params: specParams(K, delta, draw.int(1, 4), draw.int(0, 3), draw.int(1, 4)),
      clients: 4,
      link: { delayMs: [0.5, 5] },
    });
    world.connectAll(delta);
    const checker = new StreamChecker();
    world.onServer((e) => {
      if (e.type === "message") checker.delivered(`c${e.connId} up`, e.payload);
    });
    world.onClient((c, e) => {
      if (e.type === "message") checker.delivered(`c${c.connId} down`, e.payload);
    });
    const write = (c: ClientSide) => {
      for (const p of world.script(world.prng.int(0, 5))) {
        c.endpoint.write(c.connId, p, world.now);
        checker.sent(`c${c.connId} up`, p);
      }
      for (const p of world.script(world.prng.int(0, 5))) {
        world.server.write(c.connId, p, world.now);
        checker.sent(`c${c.connId} down`, p);
      }
    };
    for (const c of world.clients) write(c);
    world.runFor(world.prng.float() * delta);
    // Cut off two clients (one by isolation, one by a one-sided split), keep writing to all.
    const [a, b, ...rest] = world.clients;
    world.net.isolate(a.addr);
    world.net.partition([b.addr], [SERVER]);
    const cutAt = world.now;
    for (const c of world.clients) write(c);
    world.runFor((K + 2) * delta);
    for (const c of [a, b]) {
      const sc = world.serverConnOf(c);
      world.check(c.end === "lost", `client ${c.index} ended ${c.end}, not lost`);
      world.check(sc.end === "lost", `server c${sc.connId} ended ${sc.end}, not lost`);
      world.checkLossTiming(`client ${c.index}`, SERVER, c.addr, c.endedAt);
      world.checkLossTiming(`server c${sc.connId}`, c.addr, SERVER, sc.endedAt);
      world.check(c.endedAt! > cutAt && sc.endedAt! > cutAt, "lost before the partition");
    }
    for (const c of rest) {
      world.check(c.end === undefined, `client ${c.index} beyond the partition ended ${c.end}`);
      world.check(world.serverConnOf(c).end === undefined, "the server lost a connected client");
      world.verify(`streams of client ${c.index}`, () => {
        for (const dir of ["up", "down"]) {
          const { sent, delivered } = checker.counts(`c${c.connId} ${dir}`);
          if (sent !== delivered) throw new Error(`${dir}: ${delivered} of ${sent} delivered`);
        }
      });
    }
    world.verify("stream checker", () => checker.check());
    for (const c of [a, b]) {
      world.check(
        world.server.connState(c.connId) === undefined,
        "the server kept a lost connection",
      );
    }
  },
);

simTest(
  import.meta.url,
  "LspEndpoint survives a partition shorter than (K − 5) epochs without loss and then delivers " +
    "everything within B + 2 epochs",
  { seeds: 12 },
  (seed) => {
    // A peer may be quiet for almost 2δ before the partition and again after it (heartbeat rule,
    // §7), so a partition of P ms is survivable for sure only when P + 4δ < (K − 1)δ.
    const draw = scenarioPrng(seed);
    const K = draw.int(6, 9), delta = draw.int(50, 500), B = draw.int(0, 4);
    const world = new World({
      seed,
      params: specParams(K, delta, draw.int(1, 6), B, draw.int(1, 6)),
      clients: 3,
      link: { delayMs: [0.5, 5] },
    });
    world.connectAll(delta);
    const cut = world.clients[world.prng.int(0, 2)];
    const up = world.clients.map(() => world.script(world.prng.int(1, 6)));
    const down = world.clients.map(() => world.script(world.prng.int(1, 6)));
    world.net.isolate(cut.addr);
    for (const c of world.clients) {
      for (const p of up[c.index]) c.endpoint.write(c.connId, p, world.now);
      for (const p of down[c.index]) world.server.write(c.connId, p, world.now);
    }
    world.runFor(world.prng.float() * ((K - 5) * delta - 10));
    world.net.heal();
    const healedAt = world.now;
    world.waitFor(
      () =>
        world.clients.every((c) =>
          c.inbox.length === down[c.index].length &&
          world.serverConnOf(c).inbox.length === up[c.index].length
        ),
      (B + 2) * delta + 50,
      "delivering everything after the partition healed",
    );
    world.note(`healed at ${healedAt}ms`);
    for (const c of world.clients) {
      world.expectMessages(`client ${c.index} read`, c.inbox, down[c.index]);
      world.expectMessages(
        `server read from client ${c.index}`,
        world.serverConnOf(c).inbox,
        up[c.index],
      );
    }
    world.runFor(K * delta);
    world.check(
      world.clients.every((c) => c.end === undefined && world.serverConnOf(c).end === undefined),
      "a connection was lost over a short partition",
    );
    world.checkEpochDiscipline();
  },
);

simTest(
  import.meta.url,
  "LspEndpoint ignores well-formed datagrams from strangers and ConnIDs from the wrong address",
  { seeds: 8 },
  (seed) => {
    const delta = 200;
    const world = new World({ seed, params: specParams(5, delta, 2, 0, 2), clients: 2 });
    world.connectAll(delta);
    const [a, b] = world.clients;
    const stranger = "10.9.9.9:6666";
    const forge = (connId: number, seqNum: number) =>
      encodeMessage(dataMessage(connId, seqNum, bytes(`forged ${seqNum}`)));
    // To a client, from a stranger: its own ConnID and the next SeqNum it expects.
    world.net.send(stranger, a.addr, forge(a.connId, a.isn + 1));
    // To the server, from a stranger and from client b's address, with client a's ConnID.
    world.net.send(stranger, SERVER, forge(a.connId, a.isn + 1));
    world.net.send(b.addr, SERVER, forge(a.connId, a.isn + 1));
    world.runFor(10);
    world.check(a.inbox.length === 0, "client a delivered a stranger's message");
    world.check(
      world.clients.every((c) => world.serverConnOf(c).inbox.length === 0),
      "the server delivered a forged message",
    );
    world.check(
      a.endpoint.stats().dropped.unknownPeer === 1,
      "client a did not count the stranger",
    );
    const dropped = world.server.stats().dropped;
    world.check(dropped.noConnection === 1, `server noConnection ${dropped.noConnection}, not 1`);
    world.check(dropped.wrongConnId === 1, `server wrongConnId ${dropped.wrongConnId}, not 1`);
    // The real streams are unharmed: their first messages still carry ISN + 1.
    const [p] = world.script(1);
    a.endpoint.write(a.connId, p, world.now);
    world.server.write(a.connId, p, world.now);
    world.waitFor(
      () => a.inbox.length === 1 && world.serverConnOf(a).inbox.length === 1,
      delta,
      "the real messages",
    );
    world.expectMessages("client a read", a.inbox, [p]);
    world.expectMessages("server read from a", world.serverConnOf(a).inbox, [p]);
  },
);
