/**
 * `bitclone peer` as a real process (run as `deno task bitclone` would, same permission flags):
 * help, usage errors with exit code 2, a port in use with exit code 1, and a start and clean stop
 * on SIGTERM that saves the address book. Plus the node's `peer` service started in-process.
 */
import assert from "node:assert/strict";
import { peerService, peerSettings } from "../../src/bitclone/service.ts";
import { ServiceStartError } from "../../src/node/service.ts";
import { parsePeersFile } from "../../src/bitclone/peers_file.ts";
import { recordingLogger } from "./_live_helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const FLAGS = ["run", "--allow-net", "--allow-read", "--allow-write", MAIN];
const dec = new TextDecoder();

async function bitclone(args: string[], cwd?: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    cwd,
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("bitclone peer --help lists the flags and exits 0", async () => {
  const r = await bitclone(["peer", "--help"]);
  assert.equal(r.code, 0);
  for (
    const flag of [
      "--port",
      "--hostname",
      "--peers-file",
      "--data-dir",
      "--seeds-file",
      "--user-agent",
      "--target-peers",
      "--max-inbound",
      "--ping-interval-ms",
      "--inactivity-timeout-ms",
      "--status-interval-ms",
      "HOST:PORT",
    ]
  ) {
    assert.ok(r.stdout.includes(flag), `help lacks ${flag}`);
  }
  assert.match(r.stdout, /8333/);
  const root = await bitclone(["--help"]);
  assert.match(root.stdout, /\n\s+peer\s/);
});

Deno.test("bitclone peer with a bad flag or peer prints one line and exits 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown option '--bogus'/],
    [["--port", "99999"], /--port: 99999 is out of range 0\.\.65535/],
    [["--target-peers", "many"], /--target-peers/],
    [["--ping-interval-ms", "0"], /--ping-interval-ms: 0 is out of range 1\.\./],
    [["--user-agent", "a|b"], /--user-agent/],
    [["bad_name:8333"], /peer 'bad_name:8333' must be an IP address or host name and a port/],
    [["10.0.0.300:8333"], /must be an IP address or host name and a port/],
    [["10.0.0.1"], /must be an IP address or host name and a port/],
  ];
  for (const [args, message] of cases) {
    const r = await bitclone(["peer", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^bitclone peer: /);
    assert.match(r.stderr, message);
  }
});

Deno.test("bitclone peer exits 1 with one error when its port is in use", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-peer-cli-" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const r = await bitclone([
      "peer",
      "--hostname",
      "127.0.0.1",
      "--port",
      String(taken.addr.port),
      "--peers-file",
      `${dir}/peers.json`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /peer: cannot listen on tcp 127\.0\.0\.1:\d+: address already in use/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no file written");
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitclone peer starts, stops on SIGTERM with exit 0 and saves its command-line peer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-peer-cli-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, "peer", "--hostname", "127.0.0.1", "--port", "0", "10.9.8.7:8333"],
    cwd: dir, // the default data directory, data/, lands here
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    let stdout = "";
    while (!stdout.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      stdout += dec.decode(value);
    }
    reader.releaseLock();
    assert.match(stdout, /^BitClone peer listening on tcp 127\.0\.0\.1:\d+ \(Ctrl-C to stop\)\n/);
    child.kill("SIGTERM");
    const [status, err] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
      child.stdout.cancel(),
    ]);
    assert.equal(status.code, 0, err);
    assert.match(err, /\[peer\] starting: 1 manual peers/);
    assert.match(err, /\[peer\] address book saved to data\/peers\.json \(1 addresses\)/);
    const saved = parsePeersFile(await Deno.readTextFile(`${dir}/data/peers.json`));
    assert.equal(saved.damaged, false);
    assert.deepEqual(saved.peers.map((p) => p.address), ["10.9.8.7:8333"]);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["data"]);
    assert.deepEqual([...Deno.readDirSync(`${dir}/data`)].map((e) => e.name), ["peers.json"]);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitclone peer resolves a command-line host name at start and dials the address", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-peer-cli-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept(); // a bare TCP listener: the dial is what counts
  const port = listener.addr.port;
  const child = new Deno.Command(Deno.execPath(), {
    // localhost.localdomain resolves to 127.0.0.1 without asking DNS (src/net/resolve.ts).
    args: [
      ...FLAGS,
      "peer",
      "--hostname",
      "127.0.0.1",
      "--port",
      "0",
      `localhost.localdomain:${port}`,
    ],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    const first = await Promise.race([accepted, child.status]);
    if (!("localAddr" in first)) assert.fail(`the peer exited (${first.code}) before dialing`);
    first.close();
    child.kill("SIGTERM");
    const [status, err] = await Promise.all([child.status, new Response(child.stderr).text()]);
    assert.equal(status.code, 0, err);
    assert.match(
      err,
      new RegExp(
        `manual peer .?localhost\\.localdomain:${port}.? resolved to .?127\\.0\\.0\\.1:${port}`,
      ),
    );
    const saved = parsePeersFile(await Deno.readTextFile(`${dir}/data/peers.json`));
    assert.ok(saved.peers.some((p) => p.address === `127.0.0.1:${port}`), JSON.stringify(saved));
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("peerService starts on its port with its settings and stops on abort", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-peer-svc-" });
  const controller = new AbortController();
  const { logger, lines } = recordingLogger();
  try {
    assert.equal(peerService.name, "peer");
    assert.equal(peerService.defaultPort, 8333);
    const running = await peerService.start({
      hostname: "127.0.0.1",
      port: 0,
      signal: controller.signal,
      log: logger,
      dataDir: `${dir}/data`,
      settings: {
        peersFile: `${dir}/book.json`,
        userAgent: "svc",
        targetPeers: 3,
        manualPeers: ["10.9.8.6:8333"],
      },
    });
    const [where] = running.listening;
    assert.equal(where.transport, "tcp");
    assert.ok(where.port > 0);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: where.port });
    conn.close();
    controller.abort();
    await running.closed;
    assert.ok(
      lines.some((l) => /starting: 1 manual peers, 0 saved addresses, target 3/.test(l.text)),
    );
    const saved = parsePeersFile(await Deno.readTextFile(`${dir}/book.json`));
    assert.deepEqual(saved.peers.map((p) => p.address), ["10.9.8.6:8333"]);
  } finally {
    controller.abort();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("peerSettings() rejects a setting of the wrong type with a ServiceStartError", () => {
  assert.throws(() => peerSettings({ targetPeers: "five" }), ServiceStartError);
  assert.throws(() => peerSettings({ manualPeers: "10.0.0.1:8333" }), /manualPeers/);
  assert.throws(() => peerSettings({ peersFile: 7 }), /peersFile/);
  assert.deepEqual(peerSettings({}), {
    peersFile: "data/peers.json",
    seedsFile: "peers.json",
    maxConnections: 12,
  });
  assert.equal(peerSettings({}, "/srv/x/").peersFile, "/srv/x/peers.json");
});
