/**
 * The BitClone peer on the one TCP driver (`drivePeerNode`) against a scripted fake core, on real
 * sockets on 127.0.0.1: accept, read, EOF, ordered writes and flush-before-close, connects
 * (connected, refused, timed out, arriving late), the write buffer bound, the single timer,
 * serialized saves, log lines, the socket bound and the bounded clean stop.
 */
import assert from "node:assert/strict";
import { drivePeerNode, type DrivePeerNodeOptions } from "../../src/bitclone/tcp_adapter_deno.ts";
import type { SavedPeer } from "../../src/bitclone/peer_node_types.ts";
import type { Logger } from "../../src/util/log_deno.ts";
import { FakeCore, readAll, sendText, waitUntil } from "./_fake_core.ts";

const HOST = "127.0.0.1";

/** Runs a driver on a fresh port; `body` gets the port; the driver is stopped afterwards. */
async function withDriver(
  core: FakeCore,
  options: Partial<DrivePeerNodeOptions>,
  body: (port: number, stop: () => Promise<void>) => Promise<void>,
): Promise<ReturnType<typeof drivePeerNode>> {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const controller = new AbortController();
  const driver = drivePeerNode(core, {
    listener,
    signal: controller.signal,
    log: quietLogger().logger,
    stopTimeoutMs: 500, // the fake core closes nothing on shutdown unless a test scripts it
    ...options,
  });
  const stop = async () => {
    controller.abort();
    await driver.done;
  };
  try {
    await body(listener.addr.port, stop);
  } finally {
    await stop();
  }
  return driver;
}

/** A logger that records `[level, template, props]`. */
function quietLogger(): { logger: Logger; lines: [string, string, Record<string, unknown>][] } {
  const lines: [string, string, Record<string, unknown>][] = [];
  const at = (level: string) => (template: string, props: Record<string, unknown> = {}) => {
    lines.push([level, template, props]);
  };
  const logger = { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
  return { logger: logger as unknown as Logger, lines };
}

function freePort(): number {
  const l = Deno.listen({ hostname: HOST, port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

Deno.test("drivePeerNode() passes an accepted connection, its bytes and its end to the core", async () => {
  const core = new FakeCore();
  core.react = (i, c) => {
    if (i.type === "eof") c.push({ type: "close", conn: i.key });
  };
  const driver = await withDriver(core, {}, async (port) => {
    const client = await Deno.connect({ hostname: HOST, port });
    await client.write(new TextEncoder().encode("version|3|1\r\n"));
    await client.write(new TextEncoder().encode("ping|5\r\n"));
    await waitUntil(() => core.received(1).length === 21, "both writes");
    client.closeWrite();
    await waitUntil(() => core.of("eof").length === 1, "eof");
    assert.equal(await readAll(client), "", "closed by the close action");
    client.close();
    const [inbound] = core.of("inbound");
    assert.equal(inbound.remote, `${HOST}:${(client.localAddr as Deno.NetAddr).port}`);
    assert.equal(inbound.local, `${HOST}:${port}`);
    assert.equal(core.received(inbound.key), "version|3|1\r\nping|5\r\n");
  });
  assert.equal(driver.stats().sockets, 0);
  assert.equal(driver.stats().accepted, 1);
  assert.equal(core.maxDepth, 1, "the core is never entered twice at once");
});

Deno.test("drivePeerNode() writes send actions in order and flushes them before a close action", async () => {
  const core = new FakeCore();
  const big = "x".repeat(3 << 20) + "\r\n";
  core.react = (i, c) => {
    if (i.type !== "inbound") return;
    c.push(sendText(i.key, "verack|1\r\n"), sendText(i.key, big), sendText(i.key, "pong|2\r\n"));
    c.push({ type: "close", conn: i.key });
    c.push(sendText(i.key, "after close\r\n")); // dropped: the core closed the key
  };
  await withDriver(core, {}, async (port) => {
    const client = await Deno.connect({ hostname: HOST, port });
    const text = await readAll(client);
    client.close();
    assert.equal(text.length, 10 + big.length + 8);
    assert.ok(text.startsWith("verack|1\r\nxxx"));
    assert.ok(text.endsWith("xx\r\npong|2\r\n"));
  });
});

Deno.test("drivePeerNode() reports handleConnected for a connect that succeeds and handleError for a refused one", async () => {
  const core = new FakeCore();
  const target = Deno.listen({ hostname: HOST, port: 0 });
  const closedPort = freePort();
  core.react = (i, c) => {
    if (i.type === "dialed") c.push(sendText(i.key, "version|3\r\n"));
  };
  core.later(
    { type: "connect", conn: 100, to: `${HOST}:${target.addr.port}`, timeoutMs: 5000 },
    { type: "connect", conn: 101, to: `${HOST}:${closedPort}`, timeoutMs: 5000 },
    { type: "connect", conn: 102, to: "no port", timeoutMs: 5000 },
  );
  await withDriver(core, {}, async (port) => {
    const accepted = await target.accept();
    const buf = new Uint8Array(64);
    const n = await accepted.read(buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "version|3\r\n");
    await waitUntil(() => core.of("dialFailed").length === 2, "two failures");
    const [dialed] = core.of("dialed");
    assert.equal(dialed.key, 100);
    assert.equal(dialed.local, `${HOST}:${(accepted.remoteAddr as Deno.NetAddr).port}`);
    assert.deepEqual(core.of("dialFailed").map((f) => f.key).sort(), [101, 102]);
    // An inbound connection gets the id the core chose.
    const client = await Deno.connect({ hostname: HOST, port });
    await waitUntil(() => core.of("inbound").length === 1, "inbound");
    assert.equal(core.of("inbound")[0].key, 1);
    client.close();
    accepted.close();
  });
  target.close();
});

Deno.test("drivePeerNode() fails a dial at its timeout and closes the connection that arrives late", async () => {
  const core = new FakeCore();
  const target = Deno.listen({ hostname: HOST, port: 0 });
  // A connect that succeeds 300 ms later.
  const slowConnect = async (o: Deno.ConnectOptions): Promise<Deno.TcpConn> => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    return await Deno.connect({ hostname: o.hostname, port: o.port });
  };
  core.later({ type: "connect", conn: 7, to: `${HOST}:${target.addr.port}`, timeoutMs: 50 });
  await withDriver(core, { connect: slowConnect }, async () => {
    await waitUntil(() => core.of("dialFailed").length === 1, "the timeout");
    const [failed] = core.of("dialFailed");
    assert.match(failed.reason, /within 50 ms/);
    assert.ok(failed.now - core.inputs[0].now < 250, "reported at the deadline, not on arrival");
    const late = await target.accept();
    assert.equal(await readAll(late), "", "the late connection is closed");
    late.close();
    assert.equal(core.of("dialed").length, 0);
  });
  target.close();
});

Deno.test("drivePeerNode() fails a connection once more than maxQueuedBytes wait to be written", async () => {
  const core = new FakeCore();
  core.react = (i, c) => {
    if (i.type !== "inbound") return;
    for (let k = 0; k < 4; k++) c.push(sendText(i.key, "y".repeat(600_000)));
  };
  await withDriver(core, { maxQueuedBytes: 1_000_000 }, async (port) => {
    const client = await Deno.connect({ hostname: HOST, port });
    await waitUntil(() => core.of("reset").length === 1, "the reset");
    assert.match(core.of("reset")[0].reason, /write buffer full/);
    const got = await readAll(client);
    assert.ok(got.length < 1_200_000, `at most what fit before the bound: ${got.length}`);
    client.close();
  });
});

Deno.test("drivePeerNode() calls handleTick once nextTimeout() is due and re-arms after each input", async () => {
  const core = new FakeCore();
  const started = performance.now();
  core.timeout = started + 80;
  core.react = (i, c) => {
    if (i.type === "tick" && c.of("tick").length === 1) c.timeout = i.now + 40;
  };
  await withDriver(core, {}, async () => {
    await waitUntil(() => core.of("tick").length === 2, "two ticks");
    const [a, b] = core.of("tick");
    assert.ok(a.now >= started + 80, `first tick early: ${a.now - started}`);
    assert.ok(b.now >= a.now + 40, `second tick early: ${b.now - a.now}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(core.of("tick").length, 2, "no tick without a timeout");
  });
});

Deno.test("drivePeerNode() writes save actions one at a time, the newest waiting book next", async () => {
  const core = new FakeCore();
  const books = [1, 2, 3, 4].map((n): SavedPeer[] => [{ address: `10.0.0.${n}:8333` }]);
  let running = 0, most = 0;
  const written: string[] = [];
  const save = async (peers: readonly SavedPeer[]) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 60));
    written.push(peers[0].address);
    running--;
  };
  core.later(...books.map((peers) => ({ type: "save" as const, peers })));
  const driver = await withDriver(core, { save }, async () => {
    await waitUntil(() => written.length === 2, "two writes");
    await new Promise((resolve) => setTimeout(resolve, 100));
  });
  assert.deepEqual(written, ["10.0.0.1:8333", "10.0.0.4:8333"]);
  assert.equal(most, 1);
  assert.equal(driver.stats().saves, 2);
});

Deno.test("drivePeerNode() logs a failed save and keeps running", async () => {
  const core = new FakeCore();
  const { logger, lines } = quietLogger();
  core.later({ type: "save", peers: [] });
  const driver = await withDriver(core, {
    log: logger,
    save: () => Promise.reject(new Error("disk full")),
  }, async () => {
    await waitUntil(() => lines.some((l) => l[0] === "warn"), "the warning");
  });
  assert.equal(driver.stats().saveErrors, 1);
  assert.deepEqual(lines.find((l) => l[0] === "warn")?.[2], { error: "disk full" });
});

Deno.test("drivePeerNode() hands log actions to the logger as plain text with their fields", async () => {
  const core = new FakeCore();
  const { logger, lines } = quietLogger();
  core.later(
    { type: "log", level: "info", message: "status: 3 in {x}", fields: { inbound: 3 } },
    { type: "log", level: "warn", message: "agent {weird}" },
    { type: "log", level: "debug", message: "d" },
    { type: "log", level: "error", message: "e" },
  );
  await withDriver(core, { log: logger }, async () => {
    await waitUntil(() => lines.length >= 4, "four lines");
  });
  assert.deepEqual(lines.slice(0, 4), [
    ["info", "status: 3 in {{x}}", { inbound: 3 }],
    ["warn", "agent {{weird}}", {}],
    ["debug", "d", {}],
    ["error", "e", {}],
  ]);
});

Deno.test("drivePeerNode() closes inbound connections past maxSockets without telling the core", async () => {
  const core = new FakeCore();
  const driver = await withDriver(core, { maxSockets: 3 }, async (port) => {
    const clients: Deno.TcpConn[] = [];
    for (let i = 0; i < 3; i++) clients.push(await Deno.connect({ hostname: HOST, port }));
    await waitUntil(() => core.of("inbound").length === 3, "three inbound");
    const extra = [
      await Deno.connect({ hostname: HOST, port }),
      await Deno.connect({ hostname: HOST, port }),
    ];
    for (const c of extra) assert.equal(await readAll(c), "", "refused at once");
    assert.equal(core.of("inbound").length, 3);
    for (const c of [...clients, ...extra]) c.close();
  });
  assert.equal(driver.stats().refused, 2);
  assert.equal(driver.stats().peakSockets, 3);
});

Deno.test("drivePeerNode() on abort calls shutdown, flushes the last lines and waits for the final save", async () => {
  const core = new FakeCore();
  const keys: number[] = [];
  let saved = false;
  core.react = (i, c) => {
    if (i.type === "inbound") keys.push(i.key);
    if (i.type === "shutdown") {
      for (const key of keys) {
        c.push(sendText(key, "reject|503|busy|stopping\r\n"), { type: "close", conn: key });
      }
      c.push({ type: "save", peers: [{ address: "10.0.0.9:8333" }] });
    }
  };
  const save = async () => {
    await new Promise((resolve) => setTimeout(resolve, 150));
    saved = true;
  };
  let client: Deno.TcpConn | undefined;
  const driver = await withDriver(core, { save }, async (port, stop) => {
    client = await Deno.connect({ hostname: HOST, port });
    await waitUntil(() => keys.length === 1, "inbound");
    const reading = readAll(client);
    const t0 = performance.now();
    await stop();
    assert.ok(saved, "done waits for the final save");
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(await reading, "reject|503|busy|stopping\r\n");
  });
  client?.close();
  assert.equal(core.of("shutdown").length, 1);
  assert.equal(driver.stats().sockets, 0);
});

Deno.test("drivePeerNode() stops within stopTimeoutMs when a peer does not read its last lines", async () => {
  const core = new FakeCore();
  const keys: number[] = [];
  core.react = (i, c) => {
    if (i.type === "inbound") keys.push(i.key);
    if (i.type === "shutdown") {
      for (const key of keys) {
        for (let k = 0; k < 32; k++) c.push(sendText(key, "w".repeat(1 << 20)));
        c.push({ type: "close", conn: key });
      }
    }
  };
  const { logger, lines } = quietLogger();
  let client: Deno.TcpConn | undefined;
  await withDriver(
    core,
    { stopTimeoutMs: 300, maxQueuedBytes: 64 << 20, log: logger },
    async (port, stop) => {
      client = await Deno.connect({ hostname: HOST, port }); // never reads
      await waitUntil(() => keys.length === 1, "inbound");
      const t0 = performance.now();
      await stop();
      const took = performance.now() - t0;
      // It waits for the stop timeout, then gives up on the unread lines (bounded, even when loaded).
      assert.ok(took >= 290 && took < 5000, `stop took ${took} ms`);
    },
  );
  client?.close();
  assert.ok(lines.some((l) => l[0] === "warn" && /not flushed/.test(l[1])));
});

Deno.test("drivePeerNode() rejects a limit that is not positive", () => {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  try {
    assert.throws(
      () => drivePeerNode(new FakeCore(), { listener, maxSockets: 0 }),
      RangeError,
    );
  } finally {
    listener.close();
  }
});
