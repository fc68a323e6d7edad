/**
 * Smoke tests of the several-hosts helper: real namespaces, a real bridge, real nftables loss.
 * Run as root with `deno task test:hosts`; elsewhere every test is ignored with one line.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type Host, hostsAvailable, hostsTest, type RunResult, withHosts } from "./_netns.ts";

const FIXTURE = fileURLToPath(new URL("./_echo_fixture.ts", import.meta.url));
const HELPER_URL = new URL("./_netns.ts", import.meta.url).href;
const PORT = 7000;

function fixtureArgv(args: readonly string[]): string[] {
  return [Deno.execPath(), "run", "--no-config", "--unstable-net", "--allow-net", FIXTURE, ...args];
}

const FIXTURE_ENV = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };

/** Runs one fixture client on `host`. */
function fixture(host: Host, args: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
  return host.run(fixtureArgv(args), { timeoutMs, env: FIXTURE_ENV });
}

/** Starts the echo server on `host` and resolves once both of its sockets are bound. */
async function startEcho(host: Host) {
  const server = host.spawn(fixtureArgv(["serve", "--port", String(PORT)]), { env: FIXTURE_ENV });
  await server.waitForOutput(`listening ${PORT}`, { timeoutMs: 10_000 });
  return server;
}

/** Sends `count` datagrams from `from` to `to` and returns how many arrived. */
async function countArrivals(from: Host, to: Host, count: number): Promise<number> {
  const counter = to.spawn(
    fixtureArgv(["udp-count", "--port", String(PORT + 1), "--idle-ms", "400"]),
    { env: FIXTURE_ENV },
  );
  await counter.waitForOutput(`listening ${PORT + 1}`, { timeoutMs: 10_000 });
  const sent = await fixture(from, ["udp-send", `${to.address}:${PORT + 1}`, String(count)]);
  assert.equal(sent.code, 0, sent.stderr);
  const counted = await counter.wait({ timeoutMs: 15_000 });
  assert.equal(counted.timedOut, false, counted.stderr);
  const match = /received (\d+)/.exec(counted.stdout);
  assert.ok(match, `no count in ${JSON.stringify(counted.stdout)}; stderr: ${counted.stderr}`);
  return Number(match[1]);
}

async function namespaceNames(): Promise<string[]> {
  const { stdout } = await new Deno.Command("ip", { args: ["netns", "list"] }).output();
  return new TextDecoder().decode(stdout).split("\n").map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n !== "");
}

/** True while `pid` runs and is not a zombie (this container's init may not reap orphans). */
async function pidAlive(pid: number): Promise<boolean> {
  const script =
    's=$(cat "/proc/$1/stat" 2>/dev/null) || exit 1; case "${s##*) }" in Z*) exit 1;; esac';
  const { success } = await new Deno.Command("sh", { args: ["-c", script, "sh", String(pid)] })
    .output();
  return success;
}

hostsTest("withHosts() lets two hosts exchange TCP and UDP echoes over the bridge", async () => {
  await withHosts({ count: 2 }, async (lab) => {
    const [a, b] = lab.hosts;
    await startEcho(b);
    const viaTcp = await fixture(a, ["tcp", `${b.address}:${PORT}`, "hello over tcp"]);
    assert.equal(viaTcp.code, 0, viaTcp.stderr);
    assert.equal(viaTcp.stdout.trim(), "hello over tcp");
    const viaUdp = await fixture(a, ["udp", `${b.address}:${PORT}`, "hello over udp"]);
    assert.equal(viaUdp.code, 0, viaUdp.stderr);
    assert.equal(viaUdp.stdout.trim(), "hello over udp");
  });
});

hostsTest("Host.bitclone() runs the bitclone command inside the host namespace", async () => {
  await withHosts({ count: 1 }, async (lab) => {
    const [a] = lab.hosts;
    const version = await a.bitclone(["--version"]).wait({ timeoutMs: 20_000 });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^bitclone \S+/);
    // The same runner really is inside the namespace: it sees eth0 with the host's address.
    const addr = await a.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    assert.equal(addr.code, 0, addr.stderr);
    assert.ok(addr.stdout.includes(`inet ${a.address}/24`), addr.stdout);
  });
});

hostsTest("withHosts() gives each host its own address and an isolated loopback", async () => {
  await withHosts({ count: 3 }, async (lab) => {
    const [a, b] = lab.hosts;
    assert.equal(new Set(lab.hosts.map((h) => h.address)).size, 3);
    for (const host of lab.hosts) {
      const { stdout } = await host.run(["ip", "-4", "-o", "addr", "show"]);
      const addresses = [...stdout.matchAll(/inet (\S+)/g)].map((m) => m[1]).sort();
      assert.deepEqual(addresses, [`${host.address}/24`, "127.0.0.1/8"].sort());
    }
    // Nothing of the lab lives in the root namespace.
    const { stdout: rootAddrs } = await new Deno.Command("ip", { args: ["-4", "-o", "addr"] })
      .output();
    assert.ok(!new TextDecoder().decode(rootAddrs).includes(lab.subnet.replace(/0\/24$/, "")));
    await startEcho(b);
    const own = await fixture(b, ["tcp", `127.0.0.1:${PORT}`, "loop"]);
    assert.equal(own.code, 0, `B reaches its own server on 127.0.0.1: ${own.stderr}`);
    const other = await fixture(a, ["tcp", `127.0.0.1:${PORT}`, "loop"]);
    assert.equal(other.code, 1, `A must not reach B on 127.0.0.1: ${other.stdout}`);
    assert.match(other.stderr, /cannot connect/);
  });
});

hostsTest("Host.setLoss() drops every datagram at 100% and none after clearLoss()", async () => {
  await withHosts({ count: 2 }, async (lab) => {
    const [a, b] = lab.hosts;
    await startEcho(b);
    await b.setLoss(100);
    assert.deepEqual(b.loss, { percent: 100, direction: "both" });
    const rules = await b.run(["nft", "list", "table", "inet", "bitclone_loss"]);
    assert.match(rules.stdout, /iifname "eth0"/);
    assert.match(rules.stdout, /oifname "eth0"/);
    const aTables = await a.run(["nft", "list", "tables"]);
    assert.equal(aTables.stdout.trim(), "", "loss is per host");
    const lost = await fixture(a, ["udp", `${b.address}:${PORT}`, "x", "--timeout-ms", "600"]);
    assert.equal(lost.code, 2, `no echo at 100% loss: ${lost.stdout}`);
    // lo is never subject to loss: B still reaches itself.
    const self = await fixture(b, ["udp", `127.0.0.1:${PORT}`, "self"]);
    assert.equal(self.code, 0, self.stderr);
    await b.clearLoss();
    assert.equal(b.loss, undefined);
    const back = await fixture(a, ["udp", `${b.address}:${PORT}`, "back"]);
    assert.equal(back.code, 0, back.stderr);
  });
});

hostsTest("Host.setLoss() drops about the chosen share of datagrams at 30%", async () => {
  await withHosts({ count: 2, loss: [{ host: 1, percent: 30 }] }, async (lab) => {
    const [a, b] = lab.hosts;
    assert.deepEqual(b.loss, { percent: 30, direction: "both" });
    const sent = 300;
    const arrived = await countArrivals(a, b, sent);
    const lossFraction = 1 - arrived / sent;
    assert.ok(lossFraction >= 0.15 && lossFraction <= 0.45, `loss ${lossFraction} at 30%`);
  });
});

hostsTest("Host.setLoss() with direction out drops replies but not arrivals", async () => {
  await withHosts({ count: 2 }, async (lab) => {
    const [a, b] = lab.hosts;
    await b.setLoss(100, { direction: "out" });
    const arrived = await countArrivals(a, b, 100);
    assert.ok(arrived >= 95, `only ${arrived} of 100 arrived with loss on B's output only`);
    await startEcho(b);
    const echo = await fixture(a, ["udp", `${b.address}:${PORT}`, "x", "--timeout-ms", "600"]);
    assert.equal(echo.code, 2, "B's replies are dropped");
  });
});

hostsTest("withHosts() deletes the namespaces and stops processes when fn returns", async () => {
  let names: readonly string[] = [];
  let pid = 0;
  const value = await withHosts({ count: 2 }, async (lab) => {
    names = lab.namespaces;
    assert.equal(names.length, 3);
    const listed = await namespaceNames();
    for (const name of names) assert.ok(listed.includes(name), `${name} exists during fn`);
    pid = lab.hosts[0].spawn(["sleep", "30"]).pid;
    assert.ok(await pidAlive(pid));
    return 42;
  });
  assert.equal(value, 42);
  const left = (await namespaceNames()).filter((n) => names.includes(n));
  assert.deepEqual(left, []);
  assert.ok(!(await pidAlive(pid)), "the spawned sleep was stopped");
});

hostsTest("withHosts() tears down and rethrows when fn throws", async () => {
  let names: readonly string[] = [];
  let pid = 0;
  const failure = new Error("the test body failed");
  await assert.rejects(
    withHosts({ count: 2 }, (lab) => {
      names = lab.namespaces;
      pid = lab.hosts[1].spawn(["sleep", "30"]).pid;
      return Promise.reject(failure);
    }),
    (err) => err === failure,
  );
  assert.equal(names.length, 3);
  assert.deepEqual((await namespaceNames()).filter((n) => names.includes(n)), []);
  assert.ok(!(await pidAlive(pid)), "the spawned sleep was stopped");
});

hostsTest("withHosts() tears down and rejects with the reason when the signal aborts", async () => {
  const controller = new AbortController();
  let names: readonly string[] = [];
  const reason = new Error("stop now");
  await assert.rejects(
    withHosts({ count: 1, signal: controller.signal }, async (lab) => {
      names = lab.namespaces;
      const sleeper = lab.hosts[0].spawn(["sleep", "30"]);
      controller.abort(reason);
      await sleeper.status; // ends because the abort tears the lab down
    }),
    (err) => err === reason,
  );
  assert.equal(names.length, 2);
  assert.deepEqual((await namespaceNames()).filter((n) => names.includes(n)), []);
});

hostsTest("withHosts() deletes stale namespaces of dead runs before building", async () => {
  const exited = new Deno.Command("true").spawn();
  await exited.status;
  const stale = `bc${exited.pid}xabc1-h0`;
  assert.ok(!(await pidAlive(exited.pid)));
  const created = await new Deno.Command("ip", { args: ["netns", "add", stale] }).output();
  assert.ok(created.success);
  try {
    await withHosts({ count: 1 }, async () => {
      assert.ok(!(await namespaceNames()).includes(stale), `${stale} was deleted`);
    });
  } finally {
    await new Deno.Command("ip", { args: ["netns", "del", stale], stderr: "null" }).output();
  }
});

/**
 * Runs a lab in a child Deno process (a script, or a test under `deno test`), waits until it is
 * built, sends `signal` to the child and returns what the child reported and how it ended.
 */
async function labInChild(runner: "eval" | "test", signal: Deno.Signal) {
  const body = `await withHosts({ count: 2, cacheBitclone: false }, async (lab) => {
    const sleeper = lab.hosts[0].spawn(["sleep", "30"]);
    console.log("LAB " + JSON.stringify({ names: lab.namespaces, pid: sleeper.pid }));
    await sleeper.status;
  });`;
  const source = `import { withHosts } from ${JSON.stringify(HELPER_URL)};\n` +
    (runner === "eval" ? body : `Deno.test("lab", async () => {\n${body}\n});`);
  const dir = await Deno.makeTempDir({ prefix: "bitclone_hosts_" });
  try {
    const file = `${dir}/lab_test.ts`;
    await Deno.writeTextFile(file, source);
    const args = runner === "eval"
      ? ["eval", "--no-config", source]
      : ["test", "--no-config", "--no-check", "--allow-all", file];
    const child = new Deno.Command(Deno.execPath(), {
      args,
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    try {
      for (let i = 0; i < 1_000 && !/LAB .*\n/.test(out); i++) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      child.kill(signal);
    } finally {
      await reader.cancel();
    }
    const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
    const line = /LAB (.*)\n/.exec(out);
    assert.ok(line, `the child never built its lab: ${out} ${stderr}`);
    const { names, pid } = JSON.parse(line[1]) as { names: string[]; pid: number };
    assert.equal(names.length, 3);
    return { status, stderr, names, pid };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Polls (bounded) until none of `names` is listed and `pid` is gone; returns what is left. */
async function leftovers(names: readonly string[], pid: number): Promise<string[]> {
  let left: string[] = [];
  for (let i = 0; i < 50; i++) {
    left = (await namespaceNames()).filter((n) => names.includes(n));
    if (await pidAlive(pid)) left.push(`pid ${pid}`);
    if (left.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return left;
}

hostsTest("withHosts() tears the lab down when the process gets SIGINT", async () => {
  const { status, stderr, names, pid } = await labInChild("eval", "SIGINT");
  assert.equal(status.code, 130, stderr);
  assert.match(stderr, /SIGINT: tearing down 1 host lab/);
  // Torn down before the process exited: nothing to wait for.
  assert.deepEqual((await namespaceNames()).filter((n) => names.includes(n)), []);
  assert.ok(!(await pidAlive(pid)), "the spawned sleep was stopped");
});

hostsTest("withHosts() leaves nothing behind when the process is killed with SIGKILL", async () => {
  const { status, names, pid } = await labInChild("eval", "SIGKILL");
  assert.equal(status.signal, "SIGKILL");
  assert.deepEqual(await leftovers(names, pid), [], "the watchdog cleaned up");
});

hostsTest("withHosts() leaves nothing behind when deno test gets SIGINT", async () => {
  // `deno test` exits at once on SIGINT, before any JS listener can finish a teardown.
  const { status, stderr, names, pid } = await labInChild("test", "SIGINT");
  assert.notEqual(status.code, 0, stderr);
  assert.deepEqual(await leftovers(names, pid), [], "the watchdog cleaned up");
});

hostsTest(
  "hostsTest() ignores the tests with one clear line when hosts are unavailable",
  async () => {
    // Without --allow-run the helper cannot create namespaces: every test must be ignored.
    const self = fileURLToPath(import.meta.url);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--no-check", "--allow-read", "--allow-env", self],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const lines = out.split("\n").filter((l) => l.includes("skipping several-hosts tests:"));
    assert.deepEqual(lines, [
      "skipping several-hosts tests: no --allow-run permission (run as root: sudo deno task test:hosts)",
    ]);
    assert.match(out, /ok \| 0 passed \| 0 failed \| \d+ ignored/);
  },
);

hostsTest("hostsAvailable() reports hosts available when run as root with ip and nft", async () => {
  assert.deepEqual(await hostsAvailable(), { ok: true });
});
