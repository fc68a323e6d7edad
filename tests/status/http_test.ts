/**
 * The status service over HTTP on 127.0.0.1 (port 0) with stand-in services: routes, methods,
 * headers, a broken snapshot, a port in use; the node's view of its services (states, the
 * disabled ones, `--disable status`); and `bitclone status` when the node does not answer or
 * answers something else.
 */
import assert from "node:assert/strict";
import { serveStatus, statusService } from "../../src/status/service_deno.ts";
import type { NodeView, ServiceDefinition, ServiceView } from "../../src/node/service.ts";
import { ServiceStartError } from "../../src/node/service.ts";
import { startNode } from "../../src/node/node.ts";
import { runCli } from "../../src/cli/run.ts";
import { rootCommand } from "../../src/cli/commands/mod.ts";
import { nodeCommand } from "../../src/cli/commands/node.ts";
import type { StatusDocument } from "../../src/status/document.ts";
import { setupLogging } from "../../src/util/log_deno.ts";

setupLogging({ level: "error", write: () => {} });

const HOST = "127.0.0.1";

function view(name: string, status: () => Record<string, unknown> | undefined): ServiceView {
  return {
    name,
    description: `test ${name}`,
    listening: [{ transport: "tcp", hostname: HOST, port: 1234 }],
    startedAt: Date.now(),
    state: "running",
    status,
  };
}

async function cli(args: string[]) {
  const out: string[] = [], err: string[] = [], logs: string[] = [];
  const code = await runCli(rootCommand(), args, {
    version: "test",
    print: (t) => void out.push(t),
    printError: (t) => void err.push(t),
    writeLog: (l) => void logs.push(l),
  });
  return { code, out: out.join(""), err: err.join(""), logs };
}

Deno.test("the status server: GET and HEAD of its three paths, 405 for the rest, 404 elsewhere", async () => {
  const controller = new AbortController();
  const node: NodeView = {
    startedAt: Date.now(),
    hostname: HOST,
    disabled: ["kv"],
    services: () => [
      view("tracker", () => ({ port: 1234, entries: 16, served: 1 })),
      view("peer", () => {
        throw new Error("snapshot broke");
      }),
    ],
  };
  const errors: unknown[] = [];
  const server = serveStatus({
    hostname: HOST,
    port: 0,
    node,
    signal: controller.signal,
    onError: (e) => errors.push(e),
  });
  const base = `http://${HOST}:${server.port}`;
  try {
    const json = await fetch(`${base}/status.json`);
    assert.equal(json.status, 200);
    assert.equal(json.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(json.headers.get("cache-control"), "no-store");
    const doc: StatusDocument = await json.json();
    assert.deepEqual(doc.services.map((s) => [s.name, s.error]), [
      ["tracker", undefined],
      ["peer", "snapshot broke"],
    ]);
    assert.deepEqual(doc.tracker, { port: 1234, entries: 16, served: 1 });
    assert.equal(doc.peer, null);
    assert.deepEqual(doc.disabled, ["kv"]);

    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(page.headers.get("content-security-policy") ?? "", /^default-src 'none'; /);
    assert.match(await page.text(), /^<!doctype html>/);

    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.match(await metrics.text(), /^bitclone_tracker_entries 16$/m);

    const head = await fetch(`${base}/status.json`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");

    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      for (const path of ["/", "/status.json", "/metrics", "/nope"]) {
        const r = await fetch(`${base}${path}`, { method, body: method === "POST" ? "x" : null });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.get("allow"), "GET, HEAD");
        await r.body?.cancel();
      }
    }
    for (const path of ["/nope", "/status.json/", "/metrics.txt", "/index.html"]) {
      const r = await fetch(`${base}${path}`);
      assert.equal(r.status, 404, path);
      await r.body?.cancel();
    }
    const counts = server.requests();
    assert.equal(counts["/status.json"], 2 + 5);
    assert.equal(counts["/"], 1 + 5);
    assert.equal(counts["other"], 5 + 4);
    assert.deepEqual(errors, []);
  } finally {
    controller.abort();
    await server.finished;
  }
});

Deno.test("the status service names itself and the port when the port is in use", () => {
  const taken = Deno.listen({ hostname: HOST, port: 0 });
  try {
    assert.throws(
      () =>
        serveStatus({
          hostname: HOST,
          port: taken.addr.port,
          node: { startedAt: 0, hostname: HOST, disabled: [], services: () => [] },
          signal: new AbortController().signal,
        }),
      (err: unknown) =>
        err instanceof ServiceStartError &&
        err.message ===
          `status: cannot listen on tcp ${HOST}:${taken.addr.port}: address already in use`,
    );
  } finally {
    taken.close();
  }
});

Deno.test("a node's status service sees every service, its state and the disabled ones", async () => {
  let stopSlowly: () => void = () => {};
  let seen: NodeView | undefined;
  const slow: ServiceDefinition = {
    name: "slow",
    description: "slow to stop",
    transport: "tcp",
    defaultPort: 0,
    start(ctx) {
      seen = ctx.node;
      const closed = new Promise<void>((resolve) => {
        ctx.signal.addEventListener("abort", () => stopSlowly = resolve, { once: true });
      });
      return Promise.resolve({ listening: [], closed, status: () => ({ ticks: 3 }) });
    },
  };
  const controller = new AbortController();
  const node = await startNode({
    services: [slow, statusService],
    hostname: HOST,
    signal: controller.signal,
    disabled: ["kv"],
  });
  const port = node.services[1].listening[0].port;
  const doc: StatusDocument = await (await fetch(`http://${HOST}:${port}/status.json`)).json();
  assert.deepEqual(doc.services.map((s) => [s.name, s.state]), [
    ["slow", "running"],
    ["status", "running"],
  ]);
  assert.deepEqual(doc.status, { port, requests: { "/status.json": 1 } });
  assert.deepEqual(doc.disabled, ["kv"]);
  assert.equal(doc.hostname, HOST);
  const state = () => seen!.services().map((s) => s.state);
  controller.abort();
  for (let i = 0; i < 500 && state()[1] !== "stopped"; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual(state(), ["stopping", "stopped"]); // the slow one waits for stopSlowly()
  stopSlowly();
  await node.closed;
  assert.deepEqual(state(), ["stopped", "stopped"]);
});

Deno.test("bitclone node: --status-port is listed, --disable status leaves it out", async () => {
  const help = await cli(["node", "--help"]);
  assert.match(help.out, /--status-port PORT +TCP port of the status page/);
  assert.match(help.out, /status +tcp 8080/);

  const dir = await Deno.makeTempDir({ prefix: "bitclone-status-off-" });
  const controller = new AbortController();
  let banner = "";
  let ready: () => void = () => {};
  const started = new Promise<void>((r) => ready = r);
  const tiny: ServiceDefinition = {
    name: "tiny",
    description: "tiny",
    transport: "tcp",
    defaultPort: 0,
    start: (ctx) =>
      Promise.resolve({
        listening: [],
        closed: new Promise((r) => ctx.signal.addEventListener("abort", () => r(), { once: true })),
      }),
  };
  const exit = runCli(
    {
      name: "bitclone",
      summary: "test",
      subcommands: [nodeCommand([tiny, statusService])],
    },
    ["node", "--hostname", HOST, "--status-port", "0", "--disable", "status", "--data-dir", dir],
    {
      version: "test",
      signal: controller.signal,
      print: (t) => {
        banner += t;
        if (banner.includes("running")) ready();
      },
      printError: (t) => banner += t,
      writeLog: () => {},
    },
  );
  await Promise.race([started, exit]);
  controller.abort();
  assert.equal(await exit, 0, banner);
  assert.match(banner, /^bitclone node: 1 service\(s\) running/);
  assert.ok(!/status/.test(banner), banner);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bitclone status: exit 1 with one line when nothing answers or the answer is wrong", async () => {
  // A port that was free a moment ago: connection refused.
  const l = Deno.listen({ hostname: HOST, port: 0 });
  const closedPort = l.addr.port;
  l.close();
  const refused = await cli(["status", `${HOST}:${closedPort}`]);
  assert.equal(refused.code, 1);
  assert.equal(refused.out, "");
  assert.equal(refused.logs.length, 1, refused.logs.join("\n"));
  assert.match(
    refused.logs[0],
    new RegExp(`cannot read the status of http://127\\.0\\.0\\.1:${closedPort}/status\\.json: `),
  );
  assert.ok(!refused.logs[0].trimEnd().includes("\n"));

  // Something that is not a status service, and one that never answers.
  const controller = new AbortController();
  const silent = Promise.withResolvers<void>();
  const other = Deno.serve({ hostname: HOST, port: 0, signal: controller.signal, onListen() {} }, (
    req,
  ) => {
    const path = new URL(req.url).pathname;
    if (path === "/status.json" && req.headers.get("x-hang") === null) {
      return Response.json({ hello: "world" });
    }
    return new Response("nope", { status: 404 });
  });
  const hang = Deno.serve(
    { hostname: HOST, port: 0, signal: controller.signal, onListen() {} },
    async () => {
      await silent.promise;
      return new Response("late");
    },
  );
  try {
    const wrong = await cli(["status", `${HOST}:${other.addr.port}`]);
    assert.equal(wrong.code, 1);
    assert.equal(wrong.logs.length, 1);
    assert.match(wrong.logs[0], /not a bitclone status document/);

    const slow = await cli(["status", `${HOST}:${hang.addr.port}`, "--timeout", "300"]);
    assert.equal(slow.code, 1);
    assert.equal(slow.logs.length, 1);
    assert.match(slow.logs[0], /no answer within 300 ms/);
  } finally {
    silent.resolve();
    controller.abort();
    await other.finished;
    await hang.finished;
  }

  // Usage errors: exit 2, one line on stderr.
  for (
    const args of [
      ["status", "nohost"],
      ["status", `${HOST}:0`],
      ["status", `${HOST}:1`, `${HOST}:2`],
      ["status", "--timeout", "0"],
    ]
  ) {
    const r = await cli(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
    assert.match(r.err, /^bitclone status: /);
  }
});

Deno.test("bitclone status --json prints the document as the node gave it", async () => {
  const controller = new AbortController();
  const server = serveStatus({
    hostname: HOST,
    port: 0,
    node: { startedAt: Date.now(), hostname: HOST, disabled: [], services: () => [] },
    signal: controller.signal,
  });
  try {
    const r = await cli(["status", `${HOST}:${server.port}`, "--json"]);
    assert.equal(r.code, 0, r.logs.join("\n"));
    const doc = JSON.parse(r.out);
    assert.equal(doc.schema, 1);
    assert.deepEqual(doc.services, []);
    const table = await cli(["status", `${HOST}:${server.port}`]);
    assert.equal(table.code, 0);
    assert.match(table.out, /^bitclone \S+ at 127\.0\.0\.1:\d+, up /);
  } finally {
    controller.abort();
    await server.finished;
  }
});
