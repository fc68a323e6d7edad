import assert from "node:assert/strict";
import { NodeError, startNode } from "../../src/node/node.ts";
import { listenTcp, listenUdp } from "../../src/node/listen.ts";
import { type ServiceDefinition, ServiceStartError } from "../../src/node/service.ts";
import { parseNodeConfig } from "../../src/node/config.ts";
import { setupLogging } from "../../src/util/log_deno.ts";

setupLogging({ level: "error", write: () => {} });

/** A TCP service that accepts and closes connections; `stopDelayMs` makes it slow to stop. */
function tcpService(name: string, stopDelayMs = 0): ServiceDefinition {
  return {
    name,
    description: `test ${name}`,
    transport: "tcp",
    defaultPort: 0,
    start(ctx) {
      const listener = listenTcp(name, ctx);
      const closed = (async () => {
        ctx.signal.addEventListener("abort", () => listener.close(), { once: true });
        try {
          for await (const conn of listener) conn.close();
        } catch { /* closed */ }
        if (stopDelayMs) await new Promise((r) => setTimeout(r, stopDelayMs));
      })();
      return Promise.resolve({
        listening: [{ transport: "tcp", hostname: ctx.hostname, port: listener.addr.port }],
        closed,
      });
    },
  };
}

function udpService(name: string): ServiceDefinition {
  return {
    name,
    description: `test ${name}`,
    transport: "udp",
    defaultPort: 0,
    start(ctx) {
      const sock = listenUdp(name, ctx);
      const closed = (async () => {
        ctx.signal.addEventListener("abort", () => sock.close(), { once: true });
        try {
          for (;;) await sock.receive();
        } catch { /* closed */ }
      })();
      const port = (sock.addr as Deno.NetAddr).port;
      return Promise.resolve({
        listening: [{ transport: "udp", hostname: ctx.hostname, port }],
        closed,
      });
    },
  };
}

/** A service that fails while running, after `afterMs`. */
function crashingService(name: string, afterMs: number): ServiceDefinition {
  return {
    name,
    description: "crashes",
    transport: "tcp",
    defaultPort: 0,
    start(ctx) {
      const closed = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("disk on fire")), afterMs);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
      return Promise.resolve({ listening: [], closed });
    },
  };
}

Deno.test("startNode() starts services side by side and stops them all on abort", async () => {
  const controller = new AbortController();
  const node = await startNode({
    services: [tcpService("a"), udpService("b")],
    hostname: "127.0.0.1",
    signal: controller.signal,
  });
  assert.deepEqual(node.services.map((s) => s.name), ["a", "b"]);
  const tcpPort = node.services[0].listening[0].port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: tcpPort });
  conn.close();
  controller.abort();
  await node.closed;
  // The ports are free again.
  const again = Deno.listen({ hostname: "127.0.0.1", port: tcpPort });
  again.close();
});

Deno.test("startNode() names the service and the port when the port is in use, and stops the rest", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const takenUdp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    let firstPort = 0;
    const first: ServiceDefinition = { ...tcpService("first") };
    const start = first.start;
    first.start = async (ctx) => {
      const r = await start(ctx);
      firstPort = r.listening[0].port;
      return r;
    };
    await assert.rejects(
      startNode({
        services: [first, tcpService("peer")],
        hostname: "127.0.0.1",
        ports: { peer: taken.addr.port },
      }),
      (err: unknown) => {
        assert.ok(err instanceof ServiceStartError);
        assert.equal(err.service, "peer");
        assert.match(
          err.message,
          new RegExp(
            `peer: cannot listen on tcp 127\\.0\\.0\\.1:${taken.addr.port}: address already in use`,
          ),
        );
        return true;
      },
    );
    // The service started before the failure was stopped: its port is free again.
    const again = Deno.listen({ hostname: "127.0.0.1", port: firstPort });
    again.close();
    const udpPort = (takenUdp.addr as Deno.NetAddr).port;
    await assert.rejects(
      startNode({ services: [udpService("lsp")], hostname: "127.0.0.1", ports: { lsp: udpPort } }),
      new RegExp(`lsp: cannot listen on udp 127\\.0\\.0\\.1:${udpPort}: address already in use`),
    );
  } finally {
    taken.close();
    takenUdp.close();
  }
});

Deno.test("startNode() stops the whole node when one service fails while running", async () => {
  const node = await startNode({
    services: [tcpService("ok"), crashingService("bad", 20)],
    hostname: "127.0.0.1",
  });
  await assert.rejects(node.closed, (err: unknown) => {
    assert.ok(err instanceof NodeError);
    assert.match(err.message, /bad: disk on fire/);
    return true;
  });
});

Deno.test("startNode() reports a service that does not stop within the deadline", async () => {
  const controller = new AbortController();
  const node = await startNode({
    services: [tcpService("slow", 300)],
    hostname: "127.0.0.1",
    signal: controller.signal,
    stopTimeoutMs: 50,
  });
  controller.abort();
  await assert.rejects(node.closed, /did not stop within 50 ms: slow/);
  await new Promise((r) => setTimeout(r, 320)); // let the slow service finish for the sanitizers
});

Deno.test("startNode() refuses the same service twice", async () => {
  await assert.rejects(startNode({ services: [tcpService("x"), tcpService("x")] }), TypeError);
});

Deno.test("parseNodeConfig() reads ports, enabled and settings, and rejects bad shapes", () => {
  const cfg = parseNodeConfig(
    '{"hostname":"127.0.0.1","services":{"lsp":{"port":1,"enabled":false,"x":2}}}',
    ["lsp"],
    "f.json",
  );
  assert.equal(cfg.hostname, "127.0.0.1");
  assert.deepEqual(cfg.services.lsp, { port: 1, enabled: false, settings: { x: 2 } });
  for (
    const [bad, re] of [
      ["{", /f\.json: not valid JSON/],
      ["[]", /top level must be an object/],
      ['{"nope":1}', /unknown key 'nope'/],
      ['{"services":{"zzz":{}}}', /unknown service 'zzz'/],
      ['{"services":{"lsp":{"port":70000}}}', /port must be an integer/],
      ['{"services":{"lsp":{"port":1.5}}}', /port must be an integer/],
      ['{"services":{"lsp":{"enabled":"yes"}}}', /enabled must be true or false/],
      ['{"hostname":""}', /hostname/],
    ] as const
  ) {
    assert.throws(() => parseNodeConfig(bad, ["lsp"], "f.json"), re, bad);
  }
});
