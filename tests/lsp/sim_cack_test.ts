// Spec §15.12 (CAckServer1–4: one CAck retires every outstanding message) and its mirror image
// from the server to the clients, in the simulator with the spec's parameters, several seeds each.
import {
  type ClientSide,
  type Role,
  scenarioPrng,
  simTest,
  specParams,
  World,
} from "./_sim_harness.ts";
import { cackMessage, MsgType } from "../../src/lsp/wire.ts";

interface CAckCase {
  name: string;
  omega: number;
  M: number;
  /** Messages per client (W), or a draw. */
  w: number | ((world: World) => number);
  /** Probability that an Ack below ISN + W is dropped. */
  dropLower: number;
}

const CASES: CAckCase[] = [
  { name: "CAckServer1", omega: 1, M: 1, w: 1, dropLower: 1 },
  { name: "CAckServer2", omega: 100, M: 50, w: 50, dropLower: 1 },
  { name: "CAckServer3", omega: 100, M: 50, w: (world) => world.prng.int(1, 50), dropLower: 1 },
  { name: "CAckServer4", omega: 100, M: 100, w: (world) => world.prng.int(1, 100), dropLower: 0.5 },
];

for (const c of CASES) {
  for (const sender of ["client", "server"] as const) {
    const receiver: Role = sender === "client" ? "server" : "client";
    const name = sender === "client" ? c.name : c.name.replace("Server", "Client");
    simTest(
      import.meta.url,
      `LspEndpoint retires every outstanding message on one CAck from the ${receiver} ` +
        `(${name}: 5 clients, K 5 δ 1000 ω ${c.omega} M ${c.M})`,
      { seeds: 6 },
      (seed) => {
        const delta = 1000;
        const world = new World({
          seed,
          params: specParams(5, delta, c.omega, 0, c.M),
          clients: 5,
        });
        world.connectAll(delta);
        const top = new Map<number, number>(); // ConnID → ISN + W
        const scripts = new Map<number, Uint8Array[]>();
        for (const cl of world.clients) {
          const w = typeof c.w === "number" ? c.w : c.w(world);
          top.set(cl.connId, cl.isn + w);
          scripts.set(cl.index, world.script(w));
        }
        let rewritten = 0;
        world.faults.middlebox = (msg, p) => {
          if (p.fromRole !== receiver || msg.type !== MsgType.Ack || msg.seqNum === 0) return;
          const limit = top.get(msg.connId)!;
          world.check(msg.seqNum <= limit, `an Ack of ${msg.seqNum}, above ISN + W = ${limit}`);
          if (msg.seqNum === limit) {
            rewritten++;
            return cackMessage(msg.connId, limit);
          }
          return world.prng.chance(c.dropLower) ? "drop" : undefined;
        };
        const inboxOf = (cl: ClientSide) =>
          sender === "client" ? world.serverConnOf(cl).inbox : cl.inbox;
        const startedAt = world.now;
        for (const cl of world.clients) {
          for (const p of scripts.get(cl.index)!) {
            if (sender === "client") cl.endpoint.write(cl.connId, p, world.now);
            else world.server.write(cl.connId, p, world.now);
          }
        }
        world.check(world.now - startedAt < 1000, "the writes did not return within 1 s");
        world.runFor(2 * delta);
        world.faults.middlebox = undefined;
        world.check(rewritten >= world.clients.length, `only ${rewritten} Acks became CAcks`);
        for (const cl of world.clients) {
          world.expectMessages(`${receiver} read`, inboxOf(cl), scripts.get(cl.index)!);
        }
        world.sniffer.start();
        world.runFor(12 * delta);
        world.check(
          world.sniffer.dataSent === 0 && world.sniffer.dataDropped === 0,
          () =>
            `${world.sniffer.dataSent} Data sent after the CAck, first: ` +
            JSON.stringify(world.sniffer.log.find((e) => e.msg.type === MsgType.Data)?.msg.seqNum),
        );
        const pending = world.clients.map((cl) =>
          sender === "client"
            ? cl.endpoint.pendingCount(cl.connId)
            : world.server.pendingCount(cl.connId)
        );
        world.check(pending.every((n) => n === 0), `messages still pending: [${pending}]`);
        world.check(
          world.clients.every((cl) => cl.end === undefined),
          "a connection ended (heartbeats must keep them alive)",
        );
      },
    );
  }
}

simTest(
  import.meta.url,
  "LspEndpoint sends queued messages the moment a CAck frees room when every Ack arrives as a CAck",
  { seeds: 6 },
  (seed) => {
    const delta = 1000;
    const draw = scenarioPrng(seed);
    const omega = draw.int(1, 4), M = draw.int(1, 4);
    // No loss and no reordering: every Ack(sn) then means everything up to sn has arrived, so
    // turning it into CAck(sn) is truthful (§7).
    const world = new World({
      seed,
      params: specParams(5, delta, omega, 0, M),
      clients: 3,
      link: { delayMs: [1, 1] },
    });
    world.connectAll(delta);
    let rewritten = 0;
    world.faults.middlebox = (msg) => {
      if (msg.type !== MsgType.Ack || msg.seqNum === 0) return;
      rewritten++;
      return cackMessage(msg.connId, msg.seqNum);
    };
    const up = world.clients.map(() => world.script(world.prng.int(20, 60)));
    const down = world.clients.map(() => world.script(world.prng.int(20, 60)));
    for (const cl of world.clients) {
      for (const p of up[cl.index]) cl.endpoint.write(cl.connId, p, world.now);
      for (const p of down[cl.index]) world.server.write(cl.connId, p, world.now);
    }
    world.waitFor(
      () =>
        world.clients.every((cl) =>
          cl.inbox.length === down[cl.index].length &&
          world.serverConnOf(cl).inbox.length === up[cl.index].length
        ),
      delta / 2,
      "both streams, paced by CAcks only, within half an epoch",
    );
    for (const cl of world.clients) {
      world.expectMessages(`client ${cl.index} read`, cl.inbox, down[cl.index]);
      world.expectMessages(`server read`, world.serverConnOf(cl).inbox, up[cl.index]);
    }
    world.check(rewritten > 0, "no Ack was turned into a CAck");
  },
);
