/**
 * The LSP client and server API (spec §12–§13) on real UDP sockets on 127.0.0.1: connecting,
 * reading, writing, closing, the error classes and their reasons, abort signals, and clean
 * shutdown. Deno's sanitizers stay on, so a test that leaves a timer or a pending receive behind
 * fails; they do not see an idle UDP socket left open, which one test checks in a child process.
 *
 * Peers that must misbehave on purpose (never answer, never acknowledge) are {@linkcode RawPeer}s
 * speaking the wire format by hand; everything else is the real adapters.
 */
import assert from "node:assert/strict";
import { connect, type LspClient } from "../../src/lsp/client_deno.ts";
import {
  LspConnectError,
  LspConnectionError,
  LspPayloadTooLargeError,
} from "../../src/lsp/errors.ts";
import type { LspParams } from "../../src/lsp/params.ts";
import { listen, type LspServer } from "../../src/lsp/server_deno.ts";
import {
  ackMessage,
  dataMessage,
  encodeMessage,
  MAX_DATAGRAM_BYTES,
  MsgType,
} from "../../src/lsp/wire.ts";
import { ServiceStartError } from "../../src/node/service.ts";
import {
  assertConnError,
  bytes,
  echoServe,
  FAST,
  Janitor,
  lockStepEcho,
  messages,
  RawPeer,
  rejection,
  text,
  waitFor,
  watch,
  withTimeout,
} from "./_loopback.ts";

/** The largest payload of `fill` bytes whose Data message with this ConnID and SeqNum fits. */
function largestFitting(connId: number, seqNum: number, fill: number): number {
  for (let n = 1100; n >= 0; n--) {
    const m = dataMessage(connId, seqNum, new Uint8Array(n).fill(fill));
    if (encodeMessage(m).length <= MAX_DATAGRAM_BYTES) return n;
  }
  throw new Error("nothing fits");
}

/** Quick loss detection: a silent peer is declared lost after 3 epochs of 50 ms. */
const QUICK_LOSS: Partial<LspParams> = { epochLimit: 3, epochMillis: 50 };
/** Loss detection that never happens within a test (1000 epochs of 100 ms). */
const NO_LOSS: Partial<LspParams> = { epochLimit: 1000, epochMillis: 100 };

function startServer(params: Partial<LspParams>, signal?: AbortSignal, port = 0): LspServer {
  return listen(port, { hostname: "127.0.0.1", params, signal });
}

/** Stops every client a test connected when the test ends (see {@linkcode Janitor}). */
const janitor = new Janitor();

async function connectTo(
  server: LspServer | number,
  params: Partial<LspParams>,
  extra: { isn?: number; signal?: AbortSignal } = {},
): Promise<LspClient> {
  const port = typeof server === "number" ? server : server.port;
  const signal = janitor.signal(extra.signal);
  const client = await withTimeout(
    connect(`127.0.0.1:${port}`, { params, isn: extra.isn, signal }),
    10_000,
    "connect",
  );
  janitor.track(client.done);
  return client;
}

/** Closes a server at once and waits until its socket is closed. */
async function stopServer(server: LspServer): Promise<void> {
  server.closeNow();
  await withTimeout(server.done, 5_000, "server.done");
}

/** Connects a RawPeer as a client: Connect(isn), then waits for the Connect-Ack. */
async function rawConnect(raw: RawPeer, port: number, isn: number): Promise<number> {
  await raw.send({ type: 0, connId: 0, seqNum: isn, size: 0, checksum: 0, payload: null }, port);
  const ack = (await raw.next()).msg!; // with ISN 0 it looks like a heartbeat: take it as is
  assert.equal(ack?.type, MsgType.Ack);
  assert.equal(ack.seqNum, isn);
  assert.ok(ack.connId > 0);
  return ack.connId;
}

/** Answers a client's Connect on a RawPeer with Ack(connId, isn); returns the ISN and client port. */
async function rawAccept(raw: RawPeer, connId: number): Promise<{ isn: number; port: number }> {
  const d = await raw.next();
  assert.equal(d.msg?.type, MsgType.Connect);
  const port = Number(d.from.slice(d.from.lastIndexOf(":") + 1));
  await raw.send(ackMessage(connId, d.msg!.seqNum), port);
  return { isn: d.msg!.seqNum, port };
}

// ---------------------------------------------------------------------------------------------
// connect()

Deno.test("connect() resolves with the server's ConnID and echoes in order on 127.0.0.1", async () => {
  const server = startServer(FAST);
  const echo = echoServe(server);
  try {
    const a = await connectTo(server, FAST, { isn: 7 });
    const b = await withTimeout(
      connect(`localhost:${server.port}`, { params: FAST, isn: 0, signal: janitor.signal() }),
      10_000,
      "connect via localhost",
    );
    janitor.track(b.done);
    assert.ok(a.connId > 0 && b.connId > 0 && a.connId !== b.connId);
    assert.deepEqual(await lockStepEcho(a, messages("a", 10)), messages("a", 10));
    assert.deepEqual(await lockStepEcho(b, messages("b", 10)), messages("b", 10));
    assert.deepEqual(echo.received.get(a.connId), messages("a", 10));
    assert.deepEqual(echo.received.get(b.connId), messages("b", 10));
    assert.equal(a.stats().lsp.messagesDelivered, 10);
    await withTimeout(Promise.all([a.close(), b.close()]), 5_000, "client close");
    await Promise.all([a.done, b.done]);
    await withTimeout(server.close(), 5_000, "server close");
    await echo.finished;
    await server.done;
    assert.deepEqual(echo.errors, []);
  } finally {
    await janitor.cleanup();
    await stopServer(server);
    await echo.finished;
  }
});

Deno.test("connect() rejects with LspConnectError when nobody answers within EpochLimit epochs", async () => {
  const silent = new RawPeer();
  try {
    const port = Number(silent.addr.split(":")[1]);
    const t0 = performance.now();
    const err = await rejection(
      connect(`127.0.0.1:${port}`, { params: QUICK_LOSS, isn: 42 }),
      "connect to a silent socket",
    );
    const elapsed = performance.now() - t0;
    assert.ok(err instanceof LspConnectError, String(err));
    assert.equal(err.hostport, `127.0.0.1:${port}`);
    // Never before EpochLimit − 1 epochs (timers do not fire early).
    assert.ok(elapsed >= (QUICK_LOSS.epochLimit! - 1) * QUICK_LOSS.epochMillis!, `${elapsed} ms`);
    // One Connect at once, then one per epoch (epochs a late timer skipped are not replayed).
    const connects: number[] = [];
    while (silent.queued > 0) {
      const d = await silent.next();
      assert.equal(d.msg?.type, MsgType.Connect);
      connects.push(d.msg!.seqNum);
    }
    assert.ok(connects.length >= 2 && connects.length <= QUICK_LOSS.epochLimit!, `${connects}`);
    assert.ok(connects.every((isn) => isn === 42));
  } finally {
    await janitor.cleanup();
    await silent.close();
  }
});

Deno.test("connect() rejects with LspConnectError when the port is closed (ICMP errors survived)", async () => {
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const err = await rejection(connect(`127.0.0.1:${port}`, { params: QUICK_LOSS }), "connect");
  assert.ok(err instanceof LspConnectError, String(err));
});

Deno.test("connect() keeps retrying and connects when the server starts after the client", async () => {
  // §15.8 ServerSlowStart: the port first belongs to a silent socket that swallows Connects.
  const params: Partial<LspParams> = { epochLimit: 20, epochMillis: 50 };
  const silent = new RawPeer();
  const port = Number(silent.addr.split(":")[1]);
  const connecting = watch(connectTo(port, params, { isn: 9 }));
  let server: LspServer | undefined;
  try {
    for (let i = 0; i < 2; i++) assert.equal((await silent.next()).msg?.seqNum, 9);
    await silent.close();
    assert.equal(connecting.state, "pending");
    server = startServer(params, undefined, port);
    const echo = echoServe(server);
    const client = await connecting.promise;
    assert.deepEqual(await lockStepEcho(client, messages("late", 10)), messages("late", 10));
    await withTimeout(client.close(), 5_000, "client close");
    await withTimeout(server.close(), 5_000, "server close");
    await echo.finished;
  } finally {
    await janitor.cleanup();
    await silent.close();
    await janitor.cleanup();
    await connecting.promise.catch(() => {});
    if (server) await stopServer(server);
  }
});

Deno.test("connect() rejects with TypeError when the address is not host:port", async () => {
  await assert.rejects(connect("no-port-here", { params: QUICK_LOSS }), TypeError);
});

Deno.test("connect() rejects a bad ISN with RangeError", async () => {
  for (const isn of [-1, 0.5, 2 ** 53]) {
    await assert.rejects(connect("127.0.0.1:9", { params: FAST, isn }), RangeError);
  }
});

Deno.test({
  name: "connect() and listen() leave no socket open when they refuse an option",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Deno's resource sanitizer does not see an idle UDP socket, and reading /proc/self/fd needs
    // --allow-all: so count the descriptors in a child process that has every permission.
    const url = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    const code = `
      import { connect } from ${url("../../src/lsp/client_deno.ts")};
      import { listen } from ${url("../../src/lsp/server_deno.ts")};
      const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
      const warm = listen(0, { hostname: "127.0.0.1" });
      warm.closeNow();
      await warm.done;
      const before = fds();
      for (const isn of [-1, 0.5]) await connect("127.0.0.1:9", { isn }).catch(() => {});
      for (const maxConnections of [0, 1.5]) {
        try { listen(0, { hostname: "127.0.0.1", maxConnections }); } catch { /* refused */ }
      }
      const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      const withOne = fds();
      probe.close();
      console.log(JSON.stringify({ before, after: fds(), withOne }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--unstable-net", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const { before, after, withOne } = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(withOne, after + 1, "the count sees a socket"); // the check can fail
    assert.equal(after, before, "a refused connect() or listen() left a socket open");
  },
});

Deno.test("connect() rejects with the abort reason at once when its signal aborts", async () => {
  const silent = new RawPeer();
  try {
    const port = Number(silent.addr.split(":")[1]);
    const before = new AbortController();
    before.abort(new Error("gave up early"));
    await assert.rejects(
      connect(`127.0.0.1:${port}`, { params: NO_LOSS, signal: before.signal }),
      /gave up early/,
    );
    // Aborted while the address is being resolved (before the socket exists).
    const early = new AbortController();
    const resolving = connect(`127.0.0.1:${port}`, { params: NO_LOSS, signal: early.signal });
    early.abort(new Error("aborted while resolving"));
    await withTimeout(
      assert.rejects(resolving, /aborted while resolving/),
      2_000,
      "abort while resolving",
    );
    silent.clear();
    const controller = new AbortController();
    const connecting = watch(
      connect(`127.0.0.1:${port}`, { params: NO_LOSS, signal: controller.signal }),
    );
    await silent.next(); // its first Connect
    const reason = new Error("gave up");
    controller.abort(reason);
    const err = await withTimeout(rejection(connecting.promise, "connect"), 2_000, "abort");
    assert.equal(err, reason);
  } finally {
    await janitor.cleanup();
    await silent.close();
  }
});

// ---------------------------------------------------------------------------------------------
// LspClient

Deno.test("LspClient.write() throws after close(), read() rejects with 'closed' and a second close() rejects", async () => {
  const server = startServer(FAST);
  const echo = echoServe(server);
  const client = await connectTo(server, FAST);
  try {
    assert.throws(() => client.write(new Uint8Array(1072)), LspPayloadTooLargeError);
    const buffer = bytes("orig");
    client.write(buffer);
    buffer.set(bytes("XXXX")); // write() copied the caller's buffer
    assert.equal(text(await client.read()), "orig");
    client.write(new Uint8Array(0)); // empty payloads are legal
    assert.equal((await client.read()).length, 0);
    const pendingRead = watch(client.read());
    await withTimeout(client.close(), 5_000, "close");
    assertConnError(await rejection(pendingRead.promise, "pending read"), client.connId, "closed");
    assertConnError(await rejection(client.read(), "read after close"), client.connId, "closed");
    try {
      client.write(bytes("late"));
      assert.fail("write after close did not throw");
    } catch (err) {
      assert.ok(err instanceof LspConnectionError);
      assert.ok(err.reason === "closed" || err.reason === "closing", err.reason);
    }
    assertConnError(await rejection(client.close(), "second close"), client.connId, "closed");
    await withTimeout(client.done, 5_000, "client.done");
  } finally {
    await janitor.cleanup();
    await withTimeout(server.close(), 5_000, "server close");
    await echo.finished;
  }
});

Deno.test("LspClient.read() gives what arrived before a loss, then rejects with 'lost'", async () => {
  const server = startServer(QUICK_LOSS);
  const client = await connectTo(server, QUICK_LOSS);
  try {
    for (const m of ["x", "y", "z"]) server.write(client.connId, bytes(m));
    await waitFor(() => client.stats().lsp.messagesDelivered === 3, "3 messages delivered");
    await stopServer(server); // the server goes silent
    await waitFor(() => {
      try {
        client.write(bytes("probe"));
        return false;
      } catch (err) {
        return err instanceof LspConnectionError && err.reason === "lost";
      }
    }, "the client notices the loss");
    assert.deepEqual([text(await client.read()), text(await client.read())], ["x", "y"]);
    assert.equal(text(await client.read()), "z");
    assertConnError(await rejection(client.read(), "read after loss"), client.connId, "lost");
    await withTimeout(client.close(), 2_000, "close after loss returns promptly");
    assertConnError(await rejection(client.close(), "second close"), client.connId, "closed");
    await withTimeout(client.done, 2_000, "client.done");
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("LspClient.read() rejects with 'closed' after close() even when a loss left data unread", async () => {
  const server = startServer(QUICK_LOSS);
  const client = await connectTo(server, QUICK_LOSS);
  try {
    for (const m of ["p", "q"]) server.write(client.connId, bytes(m));
    await waitFor(() => client.stats().lsp.messagesDelivered === 2, "2 messages delivered");
    await stopServer(server);
    await withTimeout(client.done, 5_000, "the client notices the loss and closes its socket");
    await client.close();
    assertConnError(await rejection(client.read(), "read after close"), client.connId, "closed");
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("LspClient.close() waits until everything written is acknowledged", async () => {
  const raw = new RawPeer();
  const port = Number(raw.addr.split(":")[1]);
  const connecting = connectTo(port, { epochLimit: 50, epochMillis: 50 }, { isn: 5 });
  try {
    const { isn, port: clientPort } = await rawAccept(raw, 77);
    assert.equal(isn, 5);
    const client = await connecting;
    assert.equal(client.connId, 77);
    client.write(bytes("a"));
    const first = await raw.nextMessage();
    assert.deepEqual([first.type, first.connId, first.seqNum], [MsgType.Data, 77, 6]);
    const closing = watch(client.close());
    const again = await raw.nextMessage(); // retransmitted on an epoch tick while closing
    assert.deepEqual([again.type, again.seqNum], [MsgType.Data, 6]);
    assert.equal(closing.state, "pending");
    // Data from the server is still acknowledged while closing (but no longer delivered).
    await raw.send(dataMessage(77, 6, bytes("s")), clientPort);
    for (;;) {
      const m = await raw.nextMessage();
      if (m.type === MsgType.Ack) {
        assert.equal(m.seqNum, 6);
        break;
      }
      assert.equal(m.type, MsgType.Data); // a retransmission meanwhile
    }
    assert.equal(closing.state, "pending");
    await raw.send(ackMessage(77, 6), clientPort);
    await withTimeout(closing.promise, 5_000, "close after the Ack");
    await withTimeout(client.done, 5_000, "client.done");
    assert.equal(client.stats().lsp.messagesDelivered, 0);
  } finally {
    await janitor.cleanup();
    await connecting.catch(() => {});
    await raw.close();
  }
});

Deno.test("LspClient.close() rejects with 'lost' when the server goes silent with data unacknowledged", async () => {
  const raw = new RawPeer();
  const port = Number(raw.addr.split(":")[1]);
  const connecting = connectTo(port, QUICK_LOSS);
  try {
    await rawAccept(raw, 3);
    const client = await connecting;
    client.write(bytes("never acked"));
    assertConnError(await rejection(client.close(), "close"), 3, "lost");
    await withTimeout(client.done, 2_000, "client.done");
  } finally {
    await janitor.cleanup();
    await connecting.catch(() => {});
    await raw.close();
  }
});

Deno.test("LspClient async iteration ends on local close and throws 'lost' on a loss", async () => {
  const server = startServer(QUICK_LOSS);
  const a = await connectTo(server, QUICK_LOSS);
  const b = await connectTo(server, QUICK_LOSS);
  try {
    for (const m of ["1", "2", "3"]) server.write(a.connId, bytes(m));
    const seen: string[] = [];
    let closing: Promise<void> | undefined;
    for await (const payload of a) {
      seen.push(text(payload));
      if (seen.length === 3) closing = a.close();
    }
    assert.deepEqual(seen, ["1", "2", "3"]);
    await withTimeout(closing!, 5_000, "close");

    server.write(b.connId, bytes("only"));
    await waitFor(() => b.stats().lsp.messagesDelivered === 1, "delivered");
    await stopServer(server);
    const got: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const payload of b) got.push(text(payload));
      })(),
      "iteration over a lost connection",
    );
    assert.deepEqual(got, ["only"]);
    assertConnError(err, b.connId, "lost");
    await withTimeout(Promise.all([a.done, b.done]), 5_000, "done");
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("LspClient stops at once, reads rejecting, when its signal aborts", async () => {
  const server = startServer(NO_LOSS);
  const controller = new AbortController();
  const client = await connectTo(server, NO_LOSS, { signal: controller.signal });
  try {
    client.write(bytes("in flight"));
    const pending = watch(client.read());
    controller.abort();
    assertConnError(await rejection(pending.promise, "pending read"), client.connId, "closed");
    await withTimeout(client.done, 2_000, "client.done after abort");
    assert.throws(() => client.write(bytes("x")), LspConnectionError);
    await withTimeout(client.close().catch(() => {}), 2_000, "close after abort");
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("LspClient.read() serves several outstanding calls in call order", async () => {
  const server = startServer(FAST);
  const client = await connectTo(server, FAST);
  try {
    const reads = [client.read(), client.read(), client.read()];
    for (const m of ["a", "b", "c"]) server.write(client.connId, bytes(m));
    const got = await withTimeout(Promise.all(reads), 5_000, "reads");
    assert.deepEqual(got.map(text), ["a", "b", "c"]);
    await withTimeout(client.close(), 5_000, "close");
  } finally {
    await janitor.cleanup();
    await withTimeout(server.close(), 5_000, "server close");
  }
});

// ---------------------------------------------------------------------------------------------
// LspServer

Deno.test("LspServer.read() reports exactly one 'lost' error per silent client, after its data", async () => {
  const server = startServer(QUICK_LOSS);
  const controllers = [new AbortController(), new AbortController()];
  const clients = await Promise.all(
    controllers.map((c) => connectTo(server, QUICK_LOSS, { signal: c.signal })),
  );
  try {
    for (const [i, c] of clients.entries()) for (let k = 0; k < 3; k++) c.write(bytes(`${i}:${k}`));
    await waitFor(() => server.stats().lsp.messagesDelivered === 6, "6 messages delivered");
    for (const c of controllers) c.abort(); // both clients fall silent at once
    const seen = new Map<number, string[]>();
    const errors: number[] = [];
    while (errors.length < 2) {
      try {
        const { connId, payload } = await withTimeout(server.read(), 5_000, "server read");
        assert.ok(!errors.includes(connId), `data for ${connId} after its error`);
        seen.set(connId, [...(seen.get(connId) ?? []), text(payload)]);
      } catch (err) {
        assert.ok(err instanceof LspConnectionError, String(err));
        assert.equal(err.reason, "lost");
        errors.push(err.connId);
      }
    }
    assert.deepEqual(errors.toSorted(), clients.map((c) => c.connId).toSorted());
    for (const [i, c] of clients.entries()) {
      assert.deepEqual(seen.get(c.connId), [`${i}:0`, `${i}:1`, `${i}:2`]);
    }
    // Nothing else: the next read stays pending until close() fails it with ConnID 0.
    const next = watch(server.read());
    assert.throws(() => server.write(clients[0].connId, bytes("x")), LspConnectionError);
    await withTimeout(server.close(), 2_000, "close");
    assertConnError(await rejection(next.promise, "read after close"), 0, "closed");
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("LspServer.closeConn() drops unread data, reports one 'closed' error, still delivers writes", async () => {
  const server = startServer(QUICK_LOSS);
  const client = await connectTo(server, QUICK_LOSS);
  try {
    const id = client.connId;
    for (const m of ["u1", "u2"]) client.write(bytes(m));
    await waitFor(() => server.stats().lsp.messagesDelivered === 2, "2 delivered");
    server.write(id, bytes("bye"));
    server.closeConn(id);
    assertConnError(await rejection(server.read(), "read after closeConn"), id, "closed");
    assertConnError(
      (() => {
        try {
          server.write(id, bytes("no"));
        } catch (err) {
          return err;
        }
      })(),
      id,
      "closed",
      "write after closeConn",
    );
    assert.throws(() => server.closeConn(id), (e) => e instanceof LspConnectionError);
    assert.throws(
      () => server.closeConn(9999),
      (e) => e instanceof LspConnectionError && e.reason === "unknown",
    );
    // The client still gets what was written before closeConn, then times out.
    assert.equal(text(await withTimeout(client.read(), 5_000, "bye")), "bye");
    assertConnError(await rejection(client.read(), "client read"), id, "lost");
    // No second error for that connection on the server.
    const next = watch(server.read());
    await withTimeout(server.close(), 2_000, "close");
    assertConnError(await rejection(next.promise, "read after close"), 0, "closed");
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("LspServer.close() resolves at once when nothing is pending, though clients are silent", async () => {
  const server = startServer(NO_LOSS);
  const silence = new AbortController();
  const mute = await connectTo(server, NO_LOSS, { signal: silence.signal });
  const alive = await connectTo(server, NO_LOSS);
  try {
    silence.abort(); // this client sends nothing more; loss detection would take 100 s
    await withTimeout(server.close(), 5_000, "close with nothing pending");
    assertConnError(await rejection(server.read(), "read after close"), 0, "closed");
    assert.throws(
      () => server.write(alive.connId, bytes("x")),
      (e) => e instanceof LspConnectionError,
    );
    assertConnError(await rejection(server.close(), "second close"), 0, "closed");
    await withTimeout(server.done, 2_000, "server.done");
    await withTimeout(alive.close(), 2_000, "client close with nothing pending");
    await mute.done;
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("LspServer.close() waits for acknowledgements and keeps acknowledging while it waits", async () => {
  const server = startServer({ epochLimit: 50, epochMillis: 50 });
  const raw = new RawPeer();
  try {
    const id = await rawConnect(raw, server.port, 3);
    const read = watch(server.read());
    server.write(id, bytes("x"));
    const data = await raw.nextMessage();
    assert.deepEqual([data.type, data.connId, data.seqNum], [MsgType.Data, id, 4]);
    const closing = watch(server.close());
    assert.throws(() => server.write(id, bytes("late")), LspConnectionError);
    // Still acknowledging incoming Data while draining.
    await raw.send(dataMessage(id, 4, bytes("y")), server.port);
    for (;;) {
      const m = await raw.nextMessage();
      if (m.type === MsgType.Ack) {
        assert.equal(m.seqNum, 4);
        break;
      }
      assert.deepEqual([m.type, m.seqNum], [MsgType.Data, 4]); // a retransmission
    }
    assert.equal(closing.state, "pending");
    await raw.send(ackMessage(id, 4), server.port);
    await withTimeout(closing.promise, 5_000, "close after the Ack");
    await withTimeout(server.done, 2_000, "server.done");
    assertConnError(await rejection(read.promise, "read"), 0, "closed");
  } finally {
    await janitor.cleanup();
    await raw.close();
    await stopServer(server);
  }
});

Deno.test("LspServer.close() rejects with 'lost' when a client goes silent while draining", async () => {
  const server = startServer(QUICK_LOSS);
  const raw = new RawPeer();
  try {
    const id = await rawConnect(raw, server.port, 0);
    server.write(id, bytes("never acked"));
    assertConnError(await rejection(server.close(), "close"), id, "lost");
    await withTimeout(server.done, 2_000, "server.done");
  } finally {
    await janitor.cleanup();
    await raw.close();
    await stopServer(server);
  }
});

Deno.test("LspServer stops at once when its signal aborts: reads fail with ConnID 0, close settles", async () => {
  const controller = new AbortController();
  const server = startServer(NO_LOSS, controller.signal);
  const echo = echoServe(server);
  const raw = new RawPeer();
  try {
    const id = await rawConnect(raw, server.port, 1);
    server.write(id, bytes("never acked"));
    const closing = watch(server.close());
    await raw.nextMessage(); // the Data
    assert.equal(closing.state, "pending");
    controller.abort();
    await withTimeout(closing.promise, 2_000, "close settles on abort");
    await withTimeout(echo.finished, 2_000, "iteration ends");
    await withTimeout(server.done, 2_000, "server.done");
    assertConnError(await rejection(server.read(), "read"), 0, "closed");
  } finally {
    await janitor.cleanup();
    await raw.close();
    await stopServer(server);
  }
});

Deno.test("LspServer.close() settles at once after closeNow() or an abort", async () => {
  const server = startServer(NO_LOSS);
  const raw = new RawPeer();
  try {
    const id = await rawConnect(raw, server.port, 1);
    server.write(id, bytes("never acked"));
    server.closeNow();
    await withTimeout(server.close(), 2_000, "close after closeNow");
    assertConnError(await rejection(server.close(), "second close"), 0, "closed");
    await withTimeout(server.done, 2_000, "server.done");
  } finally {
    await janitor.cleanup();
    await raw.close();
    await stopServer(server);
  }
});

Deno.test("LspServer.write() refuses unknown ConnIDs and payloads whose Data message exceeds 1500 bytes", async () => {
  const server = startServer(FAST);
  const client = await connectTo(server, FAST, { isn: 0 });
  try {
    assert.throws(
      () => server.write(client.connId + 100, bytes("x")),
      (e) => e instanceof LspConnectionError && e.reason === "unknown",
    );
    // The server's first Data is numbered 1 (ISN 0) with the client's small ConnID.
    const max = largestFitting(client.connId, 1, 7);
    assert.ok(max >= 1068 && max <= 1071, `${max}`);
    assert.throws(
      () => server.write(client.connId, new Uint8Array(max + 1).fill(7)),
      (e) => e instanceof LspPayloadTooLargeError && e.payloadBytes === max + 1,
    );
    server.write(client.connId, new Uint8Array(max).fill(7));
    const got = await withTimeout(client.read(), 5_000, `${max}-byte payload`);
    assert.equal(got.length, max);
    assert.ok(got.every((b) => b === 7));
    await withTimeout(client.close(), 5_000, "close");
  } finally {
    await janitor.cleanup();
    await withTimeout(server.close(), 5_000, "server close");
  }
});

Deno.test("LspClient.write() takes every payload up to the 1500-byte datagram edge and the echo comes back whole", async () => {
  const server = startServer(FAST);
  const echo = echoServe(server);
  const client = await connectTo(server, FAST, { isn: 0 });
  try {
    // Lock-step, sizes 1001 … the edge for each SeqNum; the server echoes with the same
    // ConnID and SeqNum, hence a Data message just as long.
    let seq = 1;
    for (const size of [1001, 1024, 1044, 1050, 1067, 1068]) {
      const payload = new Uint8Array(size).fill(0x30 + (size % 10));
      client.write(payload);
      assert.deepEqual(await withTimeout(client.read(), 5_000, `${size}-byte echo`), payload);
      seq++;
    }
    const fill = 0x0a; // with this fill the checksum is short enough for 1071 bytes at SeqNum 7
    assert.equal(client.connId, 1); // a fresh server's first connection
    const max = largestFitting(client.connId, seq, fill);
    assert.equal(max, 1071);
    assert.throws(
      () => client.write(new Uint8Array(max + 1).fill(fill)),
      LspPayloadTooLargeError,
    );
    const edge = new Uint8Array(max).fill(fill);
    client.write(edge);
    assert.deepEqual(await withTimeout(client.read(), 5_000, `${max}-byte echo`), edge);
    assert.deepEqual(echo.writeFailures, []);
    await withTimeout(client.close(), 5_000, "close");
  } finally {
    await janitor.cleanup();
    await withTimeout(server.close(), 5_000, "server close");
    await echo.finished;
  }
});

Deno.test("listen() throws RangeError on a bad maxConnections and leaves the port free", () => {
  const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  for (const maxConnections of [0, -1, 1.5]) {
    assert.throws(() => listen(port, { hostname: "127.0.0.1", maxConnections }), RangeError);
  }
  // Still free: a refused listen() must not keep its socket.
  Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
});

Deno.test("listen() throws ServiceStartError naming the port when it is taken", () => {
  const taken = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    assert.throws(
      () => listen(port, { hostname: "127.0.0.1" }),
      (e) => e instanceof ServiceStartError && /address already in use/.test(e.message),
    );
  } finally {
    taken.close();
  }
});

Deno.test("listen({ readQueueMax }) pushes back on a client while the server does not read; a slow reader gets everything in order", async () => {
  const BOUND = 4, N = 30;
  const params: Partial<LspParams> = {
    epochLimit: 20,
    epochMillis: 50,
    windowSize: 4,
    maxUnackedMessages: 4,
  };
  const server = listen(0, { hostname: "127.0.0.1", params, readQueueMax: BOUND });
  let peak = 0;
  try {
    const client = await connectTo(server, params, { isn: 0 });
    const sample = () => (peak = Math.max(peak, server.unreadCount(client.connId)));
    const want = messages("m", N);
    for (const m of want) client.write(bytes(m));
    // Not reading: the server takes BOUND messages, then refuses the client's retransmissions.
    await waitFor(() => {
      sample();
      return server.stats().lsp.dropped.readQueueFull >= 3 * 4; // three rounds of the window
    }, "the server refusing retransmissions");
    assert.equal(server.unreadCount(client.connId), BOUND);
    assert.ok(client.stats().lsp.dataRetransmitted >= 8);
    assert.equal(server.connectionCount, 1); // neither side lost the other
    // A slow reader: one message at a time, after a pause.
    const got: Uint8Array[] = [];
    while (got.length < N) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      sample();
      const m = await withTimeout(server.read(), 10_000, `read #${got.length}`);
      assert.equal(m.connId, client.connId);
      got.push(m.payload);
    }
    sample();
    assert.deepEqual(got.map(text), want);
    assert.ok(peak <= BOUND, `${peak} unread messages`);
    await withTimeout(client.close(), 10_000, "client close");
  } finally {
    await janitor.cleanup();
    await stopServer(server);
  }
});

Deno.test("listen() and connect() refuse a bad readQueueMax with RangeError", async () => {
  assert.throws(() => listen(0, { hostname: "127.0.0.1", readQueueMax: 0 }), RangeError);
  await assert.rejects(connect("127.0.0.1:9", { readQueueMax: 2.5 }), RangeError);
});
