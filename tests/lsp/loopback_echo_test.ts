/**
 * The echo family of the spec's test catalogue (§15.2) on real UDP sockets: several clients with
 * random ISNs in 1..256 echo 50 messages each, lock-step, through a live server, with 20 % read
 * and 20 % write loss injected on both sides (the adapters' `readDropPercent`/`writeDropPercent`),
 * for windows (ω, M) = (1, 1), (5, 5) and (8, 4); on IPv6 loopback too when it is usable. Every
 * message must come back in order, exactly once, and the server must read each client's stream
 * in order, exactly once.
 *
 * The ISNs come from a seeded PRNG: `LOOPBACK_SEED=<n>` replays a failed run's ISNs (the loss
 * itself draws from OS entropy inside the adapters).
 */
import assert from "node:assert/strict";
import { connect, type LspClient } from "../../src/lsp/client_deno.ts";
import { LspConnectionError } from "../../src/lsp/errors.ts";
import type { LspParams } from "../../src/lsp/params.ts";
import { listen, type LspServer } from "../../src/lsp/server_deno.ts";
import { Prng } from "../../src/util/prng.ts";
import {
  allOrFirstError,
  assertConnError,
  bytes,
  type EchoRecorder,
  echoServe,
  ipv6LoopbackUsable,
  Janitor,
  lockStepEcho,
  messages,
  rejection,
  waitFor,
  withTimeout,
} from "./_loopback.ts";

/** Stops every client at the end of a test, passed or failed. */
const janitor = new Janitor();
const SEED = Number(Deno.env.get("LOOPBACK_SEED") ?? 0x15440);
const IPV6 = await ipv6LoopbackUsable();

/** §15.2 Robust: 50 ms epochs; 20 of them (1 s) of silence before a loss is declared. */
const ROBUST: Partial<LspParams> = { epochLimit: 20, epochMillis: 50, maxBackOffInterval: 0 };
const CLIENTS = 4;
const MESSAGES = 50;
const DROP = 20;

interface EchoRun {
  /** Where the server binds and what the clients dial, e.g. `127.0.0.1` / `[::1]`. */
  bind: string;
  dial: string;
  windowSize: number;
  maxUnackedMessages: number;
  dropPercent: number;
  seed: number;
}

/** Runs the echo scenario and checks streams and counters; returns the summed statistics. */
async function runEcho(run: EchoRun): Promise<void> {
  const params = {
    ...ROBUST,
    windowSize: run.windowSize,
    maxUnackedMessages: run.maxUnackedMessages,
  };
  const drops = { readDropPercent: run.dropPercent, writeDropPercent: run.dropPercent };
  const replay = `replay: LOOPBACK_SEED=${run.seed}`;
  const prng = Prng.seeded(run.seed);
  const server = listen(0, { hostname: run.bind, params, ...drops });
  const echo = echoServe(server);
  const clients: LspClient[] = [];
  try {
    const isns = Array.from({ length: CLIENTS }, () => prng.int(1, 256));
    await allOrFirstError(
      isns.map((isn) =>
        withTimeout(
          connect(`${run.dial}:${server.port}`, {
            isn,
            params,
            ...drops,
            signal: janitor.signal(),
          }),
          20_000,
          `connect (${replay})`,
        )
      ),
      clients,
    );
    const sent = clients.map((_, i) => messages(`c${i}`, MESSAGES));
    const echoed = await withTimeout(
      Promise.all(clients.map((c, i) => lockStepEcho(c, sent[i]))),
      60_000,
      `echo (${replay})`,
    );
    for (const [i, c] of clients.entries()) {
      assert.deepEqual(echoed[i], sent[i], `client ${i} echoes (${replay})`);
      assert.deepEqual(echo.received.get(c.connId), sent[i], `server read of ${i} (${replay})`);
    }
    assert.equal(echo.received.size, CLIENTS);
    assert.deepEqual(echo.writeFailures, []);
    if (run.dropPercent > 0) {
      // The loss was real, and repaired by retransmission.
      const s = server.stats();
      const cs = clients.map((c) => c.stats());
      assert.ok(s.socket.readDropped > 0 && s.socket.writeDropped > 0, JSON.stringify(s.socket));
      assert.ok(cs.every((x) => x.socket.readDropped + x.socket.writeDropped > 0));
      const retransmitted = s.lsp.dataRetransmitted +
        cs.reduce((n, x) => n + x.lsp.dataRetransmitted, 0);
      assert.ok(retransmitted > 0, "no retransmission under loss");
    }
    // Clients close first, while the server still acknowledges: their close must succeed.
    await withTimeout(Promise.all(clients.map((c) => c.close())), 20_000, `client close`);
    // The server's last echo may still wait for an Ack that was lost, from a client that has
    // closed: then the server reports that connection lost. Nothing else may go wrong.
    try {
      await withTimeout(server.close(), 20_000, "server close");
    } catch (err) {
      assert.ok(err instanceof LspConnectionError && err.reason === "lost", String(err));
    }
    await echo.finished;
    assert.ok(echo.errors.every((e) => e.reason === "lost"), `${echo.errors}`);
  } finally {
    await janitor.cleanup();
    server.closeNow();
    await echo.finished;
    await Promise.all([server.done, ...clients.map((c) => c.done)]);
  }
}

for (const [windowSize, maxUnackedMessages] of [[1, 1], [5, 5], [8, 4]]) {
  Deno.test(
    `LspClient and LspServer echo ${CLIENTS}×${MESSAGES} messages in order exactly once at ${DROP}% loss (ω ${windowSize}, M ${maxUnackedMessages})`,
    async () => {
      await runEcho({
        bind: "127.0.0.1",
        dial: "127.0.0.1",
        windowSize,
        maxUnackedMessages,
        dropPercent: DROP,
        seed: SEED + windowSize,
      });
    },
  );
}

Deno.test({
  name: `LspClient and LspServer echo in order at ${DROP}% loss on IPv6 loopback [::1]`,
  ignore: !IPV6,
  async fn() {
    await runEcho({
      bind: "::1",
      dial: "[::1]",
      windowSize: 5,
      maxUnackedMessages: 5,
      dropPercent: DROP,
      seed: SEED + 100,
    });
  },
});

Deno.test("LspClient and LspServer echo without a single retransmission or epoch on a loss-free network", async () => {
  // §15.2 Basic/SendReceive: one epoch (10 s) is the deadline, so every message must go out the
  // instant the previous one is acknowledged; no tick may fire while the echoes run.
  const params: Partial<LspParams> = { epochLimit: 5, epochMillis: 10_000 };
  const server = listen(0, { hostname: "127.0.0.1", params });
  const echo = echoServe(server);
  const prng = Prng.seeded(SEED);
  const clients: LspClient[] = [];
  try {
    await allOrFirstError(
      [0, 1, 2].map(() =>
        connect(`127.0.0.1:${server.port}`, {
          isn: prng.int(1, 256),
          params,
          signal: janitor.signal(),
        })
      ),
      clients,
    );
    await withTimeout(
      Promise.all(clients.map((c, i) => lockStepEcho(c, messages(`q${i}`, MESSAGES)))),
      9_000,
      "echo within one epoch",
    );
    const all = [server.stats().lsp, ...clients.map((c) => c.stats().lsp)];
    for (const s of all) {
      assert.equal(s.dataRetransmitted, 0);
      assert.equal(s.heartbeatsSent, 0);
    }
    assert.equal(server.stats().lsp.messagesDelivered, 3 * MESSAGES);
    await withTimeout(Promise.all(clients.map((c) => c.close())), 5_000, "client close");
    await withTimeout(server.close(), 5_000, "server close");
    await echo.finished;
  } finally {
    await janitor.cleanup();
    server.closeNow();
    await Promise.all([server.done, ...clients.map((c) => c.done)]);
  }
});

/** §15.9: (K, δ) = (3, 50), 3 clients with random ISNs, 10 echoes each before the close. */
async function closeFamily(
  body: (server: LspServer, clients: LspClient[], echo: EchoRecorder) => Promise<void>,
): Promise<void> {
  const params: Partial<LspParams> = { epochLimit: 3, epochMillis: 50 };
  const server = listen(0, { hostname: "127.0.0.1", params });
  const echo = echoServe(server);
  const prng = Prng.seeded(SEED + 9);
  const clients: LspClient[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      clients.push(
        await withTimeout(
          connect(`127.0.0.1:${server.port}`, {
            isn: prng.int(1, 256),
            params,
            signal: janitor.signal(),
          }),
          5_000,
          "connect",
        ),
      );
    }
    await withTimeout(
      Promise.all(clients.map((c, i) => lockStepEcho(c, messages(`z${i}`, 10)))),
      10_000,
      "10 echoes each",
    );
    await body(server, clients, echo);
  } finally {
    await janitor.cleanup();
    server.closeNow();
    await echo.finished;
    await Promise.all([server.done, ...clients.map((c) => c.done)]);
  }
}

Deno.test("LspServer.close() after the echoes: every client's next read fails with 'lost' (ServerClose)", async () => {
  await closeFamily(async (server, clients, echo) => {
    await withTimeout(server.close(), 5_000, "server close");
    await echo.finished;
    assert.throws(() => server.write(clients[0].connId, bytes("x")), LspConnectionError);
    for (const c of clients) {
      assertConnError(await rejection(c.read(), "client read"), c.connId, "lost");
      assert.throws(() => c.write(bytes("x")), LspConnectionError);
      await withTimeout(c.close(), 2_000, "client close after loss");
    }
  });
});

Deno.test("LspServer.closeConn() for every client after the echoes: each client's read fails (ServerCloseConns)", async () => {
  await closeFamily(async (server, clients) => {
    for (const c of clients) server.closeConn(c.connId); // never blocks
    for (const c of clients) {
      assertConnError(await rejection(c.read(), "client read"), c.connId, "lost");
      await withTimeout(c.close(), 2_000, "client close");
    }
    await withTimeout(server.close(), 5_000, "server close");
  });
});

Deno.test("LspClient.close() after the echoes: the server's read reports every client (ClientClose)", async () => {
  await closeFamily(async (server, clients, echo) => {
    await withTimeout(Promise.all(clients.map((c) => c.close())), 5_000, "client close");
    await waitFor(() => echo.errors.length === clients.length, "an error per client");
    assert.deepEqual(
      echo.errors.map((e) => e.connId).toSorted(),
      clients.map((c) => c.connId).toSorted(),
    );
    assert.ok(echo.errors.every((e) => e.reason === "lost"));
    await withTimeout(server.close(), 2_000, "server close with nothing pending");
    assertConnError(await rejection(server.read(), "read after close"), 0, "closed");
  });
});
