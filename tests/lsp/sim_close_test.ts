// Spec §15.9 (close family: ServerClose, ServerCloseConns, ClientClose) and §12 (close with
// pending data, close while the peer is unreachable), in the simulator with the spec's
// parameters, several seeds each. "After-close checks" in core terms: write() throws, and no
// `message` event ever follows the end of a connection (the harness checks that on every event).
import assert from "node:assert/strict";
import { type ClientSide, EchoRun, SERVER, simTest, specParams, World } from "./_sim_harness.ts";
import { LspConnectionError } from "../../src/lsp/errors.ts";
import { MsgType } from "../../src/lsp/wire.ts";
import type { LspEndpoint } from "../../src/lsp/endpoint.ts";

/** Checks that `write()` on a finished connection throws LspConnectionError with `reason`. */
function checkWriteFails(
  world: World,
  who: string,
  endpoint: LspEndpoint,
  connId: number,
  reasons: string[],
): void {
  world.verify(`${who}: write after the end`, () => {
    assert.throws(
      () => endpoint.write(connId, new Uint8Array([1]), world.now),
      (e: unknown) => e instanceof LspConnectionError && reasons.includes(e.reason),
    );
  });
}

/** Connects, then runs 10 lock-step echoes per client (all close tests start so). */
function echoes(world: World, deadline: number): void {
  const echo = new EchoRun(world, { messages: 10 });
  world.connectAll(deadline);
  echo.start();
  world.waitFor(() => echo.done, deadline - world.now, "10 echoes per client");
  echo.detach();
}

// ---- ServerClose1/2 ----------------------------------------------------------------------------

for (
  const [name, clients, K, epochs] of [["ServerClose1", 1, 5, 10], [
    "ServerClose2",
    3,
    2,
    5,
  ]] as const
) {
  simTest(
    import.meta.url,
    `LspEndpoint.closeAll() on a server drains, goes silent, and every client times out ` +
      `(${name}: ${clients} client(s), K ${K} δ 500)`,
    { seeds: 8 },
    (seed) => {
      const delta = 500, deadline = epochs * delta;
      const world = new World({ seed, params: specParams(K, delta, 1, 0, 1), clients, isn: 0 });
      echoes(world, deadline);
      // Close right away or a little later: the last echo's Ack may still be on its way.
      world.runFor(world.prng.chance(0.5) ? 0 : world.prng.float() * 2);
      world.server.closeAll(world.now);
      world.waitFor(() => world.server.isFinished, delta, "the server's close returning");
      const finishedAt = world.now;
      for (const sc of world.serverConns.values()) {
        world.check(sc.end === "closed", `server c${sc.connId} ended ${sc.end}, not closed`);
        checkWriteFails(world, "server", world.server, sc.connId, ["closed"]);
      }
      // The clients do not know: one more write each, never acknowledged nor read.
      for (const c of world.clients) c.endpoint.write(c.connId, world.script(1)[0], world.now);
      world.waitFor(
        () => world.clients.every((c) => c.end !== undefined),
        deadline - world.now,
        `every client's read failing within ${epochs} epochs of the start`,
      );
      for (const c of world.clients) {
        world.check(c.end === "lost", `client ${c.index} ended ${c.end}, not lost`);
        world.checkLossTiming(`client ${c.index}`, SERVER, c.addr, c.endedAt);
        checkWriteFails(world, `client ${c.index}`, c.endpoint, c.connId, ["lost"]);
        world.check(c.endpoint.isFinished, `client ${c.index} is not finished`);
      }
      world.runFor(delta);
      world.checkSilentAfter("after the server's close", SERVER, finishedAt);
      for (const sc of world.serverConns.values()) {
        world.check(
          sc.inbox.length === 10,
          `server read ${sc.inbox.length} messages on c${sc.connId}`,
        );
      }
    },
  );
}

// ---- ServerCloseConns1/2 -----------------------------------------------------------------------

for (
  const [name, clients, K, epochs] of [
    ["ServerCloseConns1", 1, 5, 10],
    ["ServerCloseConns2", 3, 2, 5],
  ] as const
) {
  simTest(
    import.meta.url,
    `LspEndpoint.close(connId) on a server ends each connection without blocking, and every ` +
      `client times out (${name}: ${clients} client(s), K ${K} δ 500)`,
    { seeds: 8 },
    (seed) => {
      const delta = 500, deadline = epochs * delta;
      const world = new World({ seed, params: specParams(K, delta, 1, 0, 1), clients, isn: 0 });
      echoes(world, deadline);
      // Half of the seeds leave a last message pending at close(connId): it is still delivered.
      const pending = world.prng.chance(0.5);
      const extra = new Map<number, Uint8Array>();
      for (const c of world.clients) {
        if (pending) {
          const [p] = world.script(1);
          extra.set(c.index, p);
          world.server.write(c.connId, p, world.now);
        }
        world.server.close(c.connId, world.now); // must not block, must not throw
        checkWriteFails(world, "server", world.server, c.connId, ["closing", "closed"]);
      }
      world.check(!world.server.isShuttingDown, "close(connId) shut the whole server down");
      world.waitFor(
        () => world.clients.every((c) => world.serverConnOf(c).end !== undefined),
        delta,
        "the server reporting every closed connection",
      );
      for (const c of world.clients) {
        const sc = world.serverConnOf(c);
        world.check(sc.end === "closed", `server c${sc.connId} ended ${sc.end}, not closed`);
        world.check(world.server.connState(c.connId) === undefined, "the connection lingers");
      }
      world.waitFor(
        () => world.clients.every((c) => c.end !== undefined),
        deadline - world.now,
        `every client's read failing within ${epochs} epochs of the start`,
      );
      for (const c of world.clients) {
        world.check(c.end === "lost", `client ${c.index} ended ${c.end}, not lost`);
        world.checkLossTiming(`client ${c.index}`, SERVER, c.addr, c.endedAt);
        const want = pending ? 11 : 10;
        world.check(
          c.inbox.length === want,
          `client ${c.index} read ${c.inbox.length}, not ${want}`,
        );
        if (pending) {
          world.expectMessages(`client ${c.index}'s last read`, c.inbox.slice(10), [
            extra.get(c.index)!,
          ]);
        }
        // The clients close: a lost connection closes at once and stays closed.
        c.endpoint.closeAll(world.now);
        world.check(c.endpoint.isFinished, `client ${c.index} is not finished after close`);
        checkWriteFails(world, `client ${c.index}`, c.endpoint, c.connId, ["lost"]);
      }
      world.check(!world.server.isFinished, "the server stopped after closing connections only");
    },
  );
}

// ---- ClientClose1/2 ----------------------------------------------------------------------------

for (const [name, clients, epochs] of [["ClientClose1", 2, 10], ["ClientClose2", 3, 15]] as const) {
  simTest(
    import.meta.url,
    `LspEndpoint.closeAll() on clients goes silent and the server detects every one ` +
      `(${name}: ${clients} clients, K 5 δ 500)`,
    { seeds: 8 },
    (seed) => {
      const K = 5, delta = 500, deadline = epochs * delta;
      const world = new World({ seed, params: specParams(K, delta, 1, 0, 1), clients, isn: 0 });
      echoes(world, deadline);
      world.runFor(world.prng.float() * 2);
      const closedAt = new Map<number, number>();
      for (const c of world.clients) {
        c.endpoint.closeAll(world.now);
        closedAt.set(c.index, world.now);
      }
      world.waitFor(
        () => world.clients.every((c) => c.end !== undefined),
        delta,
        "the clients' close returning",
      );
      for (const c of world.clients) {
        world.check(c.end === "closed", `client ${c.index} ended ${c.end}, not closed`);
        world.check(c.endpoint.isFinished, `client ${c.index} is not finished`);
        checkWriteFails(world, `client ${c.index}`, c.endpoint, c.connId, ["closed"]);
      }
      world.waitFor(
        () => world.clients.every((c) => world.serverConnOf(c).end !== undefined),
        deadline - world.now,
        "the server reporting every client",
      );
      for (const c of world.clients) {
        const sc = world.serverConnOf(c);
        world.check(sc.end === "lost", `server c${sc.connId} ended ${sc.end}, not lost`);
        world.checkLossTiming(`server c${sc.connId}`, c.addr, SERVER, sc.endedAt);
        world.checkSilentAfter(`client ${c.index} after close`, c.addr, c.endedAt!);
      }
      world.server.closeAll(world.now);
      world.check(world.server.isFinished, "the server's close did not return at once");
      for (const c of world.clients) {
        checkWriteFails(world, "server", world.server, c.connId, ["lost"]);
      }
      world.check(world.now <= deadline, `took ${world.now}ms, over ${epochs} epochs`);
    },
  );
}

// ---- Close with pending data (§12.3, §12.4) ----------------------------------------------------

for (const closer of ["server", "client"] as const) {
  simTest(
    import.meta.url,
    `LspEndpoint.closeAll() on a ${closer} delivers every pending message through 20% loss ` +
      `before reporting closed`,
    { seeds: 10 },
    (seed) => {
      const world = new World({
        seed,
        params: specParams(20, 50, 3, 2, 2), // like Robust: K·δ = 1 s against 20% loss
        clients: 3,
        link: { delayMs: [0.2, 5] },
      });
      world.connectAll(50);
      world.faults.setReadDrop("both", 0.2);
      const scripts = world.clients.map(() => world.script(world.prng.int(1, 12)));
      const sender = (c: ClientSide) => closer === "server" ? world.server : c.endpoint;
      for (const c of world.clients) {
        for (const p of scripts[c.index]) sender(c).write(c.connId, p, world.now);
      }
      if (closer === "server") world.server.closeAll(world.now);
      else for (const c of world.clients) c.endpoint.closeAll(world.now);
      for (const c of world.clients) {
        checkWriteFails(world, closer, sender(c), c.connId, ["closing", "closed"]);
      }
      const ended = (c: ClientSide) => closer === "server" ? world.serverConnOf(c).end : c.end;
      world.waitFor(
        () => world.clients.every((c) => ended(c) !== undefined),
        60_000,
        "every connection closing",
      );
      for (const c of world.clients) {
        world.check(ended(c) === "closed", `${closer} side of client ${c.index} ended ${ended(c)}`);
        const inbox = closer === "server" ? c.inbox : world.serverConnOf(c).inbox;
        world.expectMessages(`stream of client ${c.index} before close`, inbox, scripts[c.index]);
      }
      if (closer === "server") {
        world.check(world.server.isFinished, "the server is not finished");
        world.checkSilentAfter("the server after close", SERVER, world.now);
        world.runFor(500);
        world.checkSilentAfter("the server after close", SERVER, world.now - 500);
      }
    },
  );
}

// ---- Close while the peer is unreachable -------------------------------------------------------

for (const closer of ["server", "client"] as const) {
  simTest(
    import.meta.url,
    `LspEndpoint.closeAll() on a ${closer} with data pending to an unreachable peer ends ` +
      `in lost within K epochs`,
    { seeds: 10 },
    (seed) => {
      const K = 4, delta = 200;
      const world = new World({ seed, params: specParams(K, delta, 2, 1, 2), clients: 2 });
      world.connectAll(delta);
      const [cut, ok] = world.clients;
      world.net.isolate(cut.addr);
      const cutAt = world.now;
      const sender = (c: ClientSide) => closer === "server" ? world.server : c.endpoint;
      for (const c of world.clients) {
        for (const p of world.script(3)) sender(c).write(c.connId, p, world.now);
      }
      if (closer === "server") world.server.closeAll(world.now);
      else for (const c of world.clients) c.endpoint.closeAll(world.now);
      const side = (c: ClientSide) => closer === "server" ? world.serverConnOf(c) : c;
      world.waitFor(
        () => side(cut).end !== undefined,
        K * delta + 10,
        "the unreachable peer's end",
      );
      world.check(side(cut).end === "lost", `ended ${side(cut).end}, not lost`);
      world.check(side(ok).end === "closed", `the reachable peer's side ended ${side(ok).end}`);
      world.check(
        side(cut).endedAt! - cutAt >= (K - 1) * delta,
        `lost after ${side(cut).endedAt! - cutAt}ms of partition`,
      );
      if (closer === "server") {
        world.check(world.server.isFinished, "the server's close did not return after the loss");
      } else {
        world.check(cut.endpoint.isFinished, "the client's close did not return after the loss");
      }
      // The other end of the cut connection notices the silence too.
      world.waitFor(
        () => (closer === "server" ? cut.end : world.serverConnOf(cut).end) !== undefined,
        K * delta + 10,
        "the far side of the partition noticing",
      );
    },
  );
}

// ---- A closing connection acknowledges but discards incoming Data (§12.2) --------------------

for (const closer of ["server", "client"] as const) {
  simTest(
    import.meta.url,
    `LspEndpoint.close() on a ${closer} keeps acknowledging incoming Data while draining, ` +
      `but never delivers it`,
    { seeds: 8 },
    (seed) => {
      const delta = 200;
      const world = new World({ seed, params: specParams(5, delta, 4, 0, 4), clients: 2 });
      world.connectAll(delta);
      const closerRole = closer;
      const peerRole = closer === "server" ? "client" : "server";
      // The peer's Acks are dropped (its Data passes), so the closer stays in `closing`.
      world.faults.middlebox = (msg, p) =>
        p.fromRole === peerRole && msg.type === MsgType.Ack && msg.seqNum !== 0
          ? "drop"
          : undefined;
      const out = world.clients.map(() => world.script(2));
      const incoming = world.clients.map(() => world.script(3));
      for (const c of world.clients) {
        const ep = closer === "server" ? world.server : c.endpoint;
        for (const p of out[c.index]) ep.write(c.connId, p, world.now);
        if (closer === "server") world.server.close(c.connId, world.now);
        else c.endpoint.closeAll(world.now);
      }
      world.runFor(1);
      world.sniffer.start();
      for (const c of world.clients) {
        const peer = closer === "server" ? c.endpoint : world.server;
        for (const p of incoming[c.index]) peer.write(c.connId, p, world.now);
      }
      world.runFor(delta / 2);
      for (const c of world.clients) {
        const state = closer === "server"
          ? world.server.connState(c.connId)
          : c.endpoint.connState(c.connId);
        world.check(state === "closing", `the ${closer} side of client ${c.index} is ${state}`);
        const acks = world.sniffer.sent().filter((e) =>
          world.roleOf(e.from) === closerRole && e.msg.type === MsgType.Ack &&
          e.msg.connId === c.connId && e.msg.seqNum > c.isn
        ).length;
        world.check(acks === 3, `the closing ${closer} Acked ${acks} of 3 incoming messages`);
        const inbox = closer === "server" ? world.serverConnOf(c).inbox : c.inbox;
        world.check(inbox.length === 0, `the closing ${closer} delivered ${inbox.length} messages`);
      }
      world.faults.middlebox = undefined;
      world.waitFor(
        () =>
          world.clients.every((c) =>
            (closer === "server" ? world.serverConnOf(c).end : c.end) === "closed"
          ),
        2 * delta,
        "the close finishing once the Acks pass",
      );
      for (const c of world.clients) {
        const inbox = closer === "server" ? c.inbox : world.serverConnOf(c).inbox;
        world.expectMessages(`the ${peerRole} read`, inbox, out[c.index]);
      }
    },
  );
}
