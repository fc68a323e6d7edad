/**
 * The real `bitclone` process: exit codes, one-line usage errors, and the node's start and clean
 * stop on SIGINT/SIGTERM, run as `deno task bitclone` would (same permission flags).
 */
import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const FLAGS = ["run", "--allow-net", "--allow-read", "--allow-write", MAIN];

async function bitclone(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `--<service>-port 0` for every service the node hosts (read from its help), so tests never clash. */
let anyPorts: string[] | undefined;
async function allPortsZero(except: string[] = []): Promise<string[]> {
  anyPorts ??= [...(await bitclone(["node", "--help"])).stdout.matchAll(/--([a-z]+)-port PORT/g)]
    .map((m) => m[1]);
  assert.ok(anyPorts.length >= 1, "the node has services");
  return anyPorts.filter((s) => !except.includes(s)).flatMap((s) => [`--${s}-port`, "0"]);
}

/** The nodes' data directory: never the checkout's `data/`. */
const DATA_DIR = await Deno.makeTempDir({ prefix: "bitclone-main-process-" });
globalThis.addEventListener("unload", () => Deno.removeSync(DATA_DIR, { recursive: true }));

/** Starts `bitclone node` and waits for its banner. */
async function startNode(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, "node", "--hostname", "127.0.0.1", "--data-dir", DATA_DIR, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const dec = new TextDecoder();
  let stdout = "";
  const reader = child.stdout.getReader();
  const deadline = Date.now() + 20_000;
  const complete = () => {
    const n = Number(/(\d+) service\(s\) running/.exec(stdout)?.[1] ?? NaN);
    return stdout.endsWith("\n") && stdout.trimEnd().split("\n").length >= 1 + n;
  };
  while (!complete()) {
    if (Date.now() > deadline) throw new Error(`no banner: ${stdout}`);
    const { value, done } = await reader.read();
    if (done) break;
    stdout += dec.decode(value);
  }
  reader.releaseLock();
  return { child, banner: stdout };
}

Deno.test("bitclone --help lists the commands and exits 0", async () => {
  const r = await bitclone(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: bitclone <command>/);
  assert.match(r.stdout, /node/);
  assert.match(r.stdout, /lsp/);
  assert.match(r.stdout, /mine/);
});

Deno.test("bitclone nosuch prints one line to stderr and exits 2", async () => {
  const r = await bitclone(["nosuch"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, "bitclone: unknown command 'nosuch' (see 'bitclone --help')\n");
});

Deno.test("bitclone node --bogus and a bad port are usage errors with exit 2", async () => {
  for (
    const args of [["node", "--bogus"], ["node", "--miner-port", "99999"], [
      "node",
      "--disable",
      "zzz",
    ], ["node", "--join-miner", "lab0"]]
  ) {
    const r = await bitclone(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.stderr.trimEnd().split("\n").length, 1);
  }
  const join = await bitclone(["node", "--join-miner", "lab0:99999"]);
  assert.match(join.stderr, /--join-miner must be a HOST:PORT string/);
});

Deno.test("bitclone takes negative numbers as values and names ranges in its usage errors", async () => {
  const cases: [string[], string][] = [
    [["lsp", "server", "-port", "-1"], "bitclone lsp server: -port: -1 is out of range 0..65535"],
    [
      ["mine", "client", "localhost:6060", "msg", "-5"],
      "bitclone mine client: MAXNONCE: -5 is out of range 0..18446744073709551615",
    ],
    [
      ["mine", "client", "localhost:99999", "msg", "5"],
      "bitclone mine client: HOST:PORT: port 99999 in 'localhost:99999' is out of range 1..65535",
    ],
    [
      ["mine", "client", "localhost", "msg", "5"],
      "bitclone mine client: HOST:PORT must look like HOST:PORT, not 'localhost'",
    ],
  ];
  for (const [args, line] of cases) {
    const r = await bitclone(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `${line} (see '${line.split(":")[0]} --help')\n`);
  }
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`bitclone node stops cleanly within 2 s on ${signal}`, async () => {
    const { child, banner } = await startNode(await allPortsZero());
    assert.match(banner, /miner +udp 127\.0\.0\.1:\d+ /);
    const port = Number(/udp 127\.0\.0\.1:(\d+)/.exec(banner)![1]);
    const t0 = performance.now();
    child.kill(signal);
    const status = await child.status;
    const elapsed = performance.now() - t0;
    await child.stdout.cancel();
    const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
    assert.equal(status.code, 0, stderr);
    assert.ok(elapsed < 2000, `stopped in ${elapsed.toFixed(0)} ms`);
    assert.match(stderr, /stopped cleanly/);
    // The port is free again.
    const again = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
    again.close();
  });
}

Deno.test("bitclone node names the service and the port when the port is taken, exit 1", async () => {
  const taken = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const r = await bitclone([
      "node",
      "--hostname",
      "127.0.0.1",
      ...await allPortsZero(["miner"]),
      "--miner-port",
      String(port),
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`miner: cannot listen on udp 127\\.0\\.0\\.1:${port}: address already in use`),
    );
    assert.doesNotMatch(r.stdout, /running/);
  } finally {
    taken.close();
  }
});

Deno.test("bitclone node reads ports from a config file and flags win over it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bitclone.json`;
    await Deno.writeTextFile(file, JSON.stringify({ services: { miner: { port: 0 } } }));
    const { child, banner } = await startNode(["--config", file, ...await allPortsZero(["miner"])]);
    assert.match(banner, /udp 127\.0\.0\.1:\d+/);
    child.kill("SIGINT");
    assert.equal((await child.status).code, 0);
    await child.stdout.cancel();
    await child.stderr.cancel();
    await Deno.writeTextFile(file, '{"services":{"nope":{}}}');
    const bad = await bitclone(["node", "--config", file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown service 'nope'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitclone node: a setting of the wrong type is a config error naming the file, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bitclone.json`;
    for (
      const [section, setting] of [
        ['"peer":{"targetPeers":"five"}', "services.peer.targetPeers"],
        ['"tracker":{"maxProtocol":"5"}', "services.tracker.maxProtocol"],
        ['"miner":{"maxConnections":true}', "services.miner.maxConnections"],
      ]
    ) {
      await Deno.writeTextFile(file, `{"services":{${section}}}`);
      const r = await bitclone(["node", "--config", file, ...await allPortsZero()]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.includes(`${file}: ${setting} must be`), r.stderr);
      assert.doesNotMatch(r.stdout, /running/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitclone node --help: every option of its examples exists", async () => {
  const help = (await bitclone(["node", "--help"])).stdout;
  const examples = help.slice(help.search(/^Examples?:/m));
  assert.ok(examples.length > 0 && /bitclone node --/.test(examples), help);
  for (const [flag] of examples.matchAll(/--[a-z][a-z-]*/g)) {
    // Listed among the options (global ones included), as `  --name VALUE  description`.
    assert.ok(help.includes(`  ${flag} `) || help.includes(`, ${flag} `), `${flag} in:\n${help}`);
  }
});

Deno.test("bitclone node leaves the data directory's peers.json after a stop", async () => {
  const { child } = await startNode(await allPortsZero());
  child.kill("SIGTERM");
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assert.equal((await child.status).code, 0, stderr);
  await child.stdout.cancel();
  assert.match(stderr, /address book (saved to|.* unchanged)/);
  assert.equal((await Deno.stat(`${DATA_DIR}/peers.json`)).isFile, true);
});
