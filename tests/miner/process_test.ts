/**
 * The real `bitclone mine server|miner|client` processes on 127.0.0.1 (spec `miner.md` §5–§9),
 * with the reference's default LSP parameters unless a test says otherwise:
 *
 * - server + two miners + clients: exact `Result <hash> <nonce>` lines, equal to a brute force;
 * - `kill -9` of a miner in the middle of a request: the Result is still exact;
 * - `kill -9` of the server: the client prints `Disconnected` within EpochLimit × EpochMillis
 *   + 2 s and the miner exits 1;
 * - our client against a fake server playing the client harness (§9.1): the Request is exactly
 *   the reference's, and a server that goes silent gives `Disconnected` within 20 s;
 * - our miner against a fake server playing the miner harness (§9.2), plus `Lower > Upper` and
 *   junk between Requests; the miner exits 1 once its server is gone;
 * - usage errors (exit 2, nothing on stdout) and unreachable servers (one diagnostic from the
 *   miner; the client says it is connecting when stderr is a terminal).
 *
 * Hash rates are measured, not assumed: the machine is shared, so request sizes that must
 * outlast an event are calibrated from the kernel's speed in this process.
 */
import assert from "node:assert/strict";
import { listen, type LspServer } from "../../src/lsp/server_deno.ts";
import { hashSync } from "../../src/miner/hash.ts";
import { decodeMessage, encodeMessage, requestMessage } from "../../src/miner/message.ts";
import { scanRange } from "../../src/miner/scan.ts";
import { WorkerPool } from "../../src/miner/worker_pool_deno.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const RUN = ["run", "--allow-net", "--allow-read", "--allow-write", MAIN, "mine"];
/** The reference's LSP defaults: a silent peer is lost after K × δ. */
const K_TIMES_DELTA_MS = 5 * 2000;
const HOST = "127.0.0.1";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A running `bitclone mine …` process whose output is collected as it comes. */
class Proc {
  readonly child: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  exited = false;
  readonly #pumps: Promise<void>;

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [...RUN, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.child.status.then(() => this.exited = true);
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) this[into] += chunk;
    };
    this.#pumps = Promise.all([
      collect(this.child.stdout, "stdout"),
      collect(this.child.stderr, "stderr"),
    ]).then(() => {});
  }

  /** Resolves once `stream` matches `pattern`; fails when the process ends first or on timeout. */
  async waitFor(
    stream: "stdout" | "stderr",
    pattern: RegExp,
    timeoutMs = 30_000,
  ): Promise<RegExpExecArray> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this[stream]);
      if (m) return m;
      if (this.exited) {
        await this.#pumps;
        const late = pattern.exec(this[stream]);
        if (late) return late;
        throw new Error(`process ended without ${pattern} on ${stream}:\n${this.describe()}`);
      }
      if (performance.now() > deadline) {
        throw new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms:\n${this.describe()}`);
      }
      await sleep(20);
    }
  }

  /** Waits for the exit (SIGKILL after `timeoutMs`) and all output; returns the exit code. */
  async exit(timeoutMs = 60_000): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killer = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.kill("SIGKILL");
        resolve();
      }, timeoutMs);
    });
    const status = await Promise.race([this.child.status, killer.then(() => this.child.status)]);
    clearTimeout(timer);
    await this.#pumps;
    return status.code;
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // already gone
    }
  }

  describe(): string {
    return `--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}`;
  }
}

/** Starts `mine server 0` on 127.0.0.1 and returns it with its port. */
async function startServer(flags: string[] = []): Promise<{ server: Proc; port: number }> {
  const server = new Proc(["server", "0", "--hostname", HOST, ...flags]);
  const m = await server.waitFor("stdout", /^Server listening on port (\d+)\n/);
  return { server, port: Number(m[1]) };
}

/** Starts `count` miners with one worker each and waits until the server saw them join. */
async function startMiners(server: Proc, port: number, count: number): Promise<Proc[]> {
  const before = (server.stderr.match(/Miner \d+ joined/g) ?? []).length;
  const miners = Array.from(
    { length: count },
    () => new Proc(["miner", `${HOST}:${port}`, "--workers", "1"]),
  );
  const deadline = performance.now() + 30_000;
  while ((server.stderr.match(/Miner \d+ joined/g) ?? []).length < before + count) {
    if (performance.now() > deadline) throw new Error(`miners did not join:\n${server.describe()}`);
    await sleep(20);
  }
  return miners;
}

/** Kills every process still running and waits for them. */
async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exit(10_000)));
}

/** A random decimal message like the reference harnesses' (about 19 digits). */
function randomMessage(): string {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return String((BigInt(words[0]) << 32n | BigInt(words[1])) % 10n ** 19n);
}

/** Single-thread hashes per second in this process (a short warm-up, then a timed run). */
function measuredRate(): number {
  scanRange("warm-up", 0n, 20_000n);
  const n = 300_000;
  const t0 = performance.now();
  scanRange("calibration", 0n, BigInt(n - 1));
  return n / ((performance.now() - t0) / 1000);
}

/** The exact line our client must print for `data` over 0..maxNonce. */
function expectedLine(data: string, maxNonce: bigint): string {
  const { hash, nonce } = scanRange(data, 0n, maxNonce);
  return `Result ${hash} ${nonce}\n`;
}

Deno.test("bitclone mine client prints the brute-force Result, served by our server and two miners", async () => {
  const { server, port } = await startServer();
  const procs = [server];
  try {
    procs.push(...await startMiners(server, port, 2));
    const jobs: [string, bigint][] = [
      [randomMessage(), 9999n],
      [randomMessage(), 99999n],
      ["msg", 2n],
      ["héllo wörld ✓ 日本 🚀", 0n],
    ];
    const clients = jobs.map(([data, max]) =>
      new Proc(["client", `${HOST}:${port}`, data, String(max)])
    );
    procs.push(...clients);
    for (const [i, client] of clients.entries()) {
      const [data, max] = jobs[i];
      const code = await client.exit();
      assert.equal(code, 0, client.describe());
      assert.equal(client.stdout, expectedLine(data, max), client.describe());
      assert.equal(client.stderr, "", "no progress bar when stderr is not a terminal");
    }
    assert.equal(clients[2].stdout, "Result 4754799531757243342 1\n", "the handout's vector");
    // The server logged each request's start, and its end with a hash rate.
    await server.waitFor("stderr", /(Request \d+ done.*nonces\/s\)[^]*){4}/);
    assert.match(server.stderr, /Request \d+ from \d+: 0\.\.99999 started: 100000 nonces/);
  } finally {
    await stopAll(procs);
  }
});

Deno.test("bitclone mine client still gets the exact Result when a miner is killed -9 mid-request", async () => {
  // Long enough that both miners (one worker each) need at least ~4 s for it at this machine's
  // speed: the kill, 0.5 s after the request starts, surely lands in the middle.
  const rate = measuredRate();
  const nonces = BigInt(Math.min(60e6, Math.max(4e6, Math.round(rate * 2 * 4))));
  const maxNonce = nonces - 1n;
  const data = randomMessage();
  const { server, port } = await startServer();
  const procs = [server];
  try {
    const [victim, survivor] = await startMiners(server, port, 2);
    procs.push(victim, survivor);
    const client = new Proc(["client", `${HOST}:${port}`, data, String(maxNonce)]);
    procs.push(client);
    await server.waitFor("stderr", new RegExp(`: 0\\.\\.${maxNonce} started`));
    await sleep(500);
    assert.equal(client.stdout, "", "the request must still be running at the kill");
    assert.doesNotMatch(server.stderr, /Request \d+ done/);
    victim.kill("SIGKILL");
    assert.notEqual(await victim.exit(), 0);
    const code = await client.exit(180_000);
    assert.equal(code, 0, client.describe());
    // The server noticed the death (its chunks were handed out again or already copied).
    await server.waitFor("stderr", /Miner \d+ lost/, K_TIMES_DELTA_MS + 10_000);
    assert.ok(!survivor.exited, "the other miner keeps serving");
    // The brute force, on two workers, once the processes are idle.
    const pool = new WorkerPool({ size: 2 });
    try {
      const { hash, nonce } = await pool.scan(data, 0n, maxNonce);
      assert.equal(client.stdout, `Result ${hash} ${nonce}\n`, client.describe());
    } finally {
      pool.terminate();
    }
  } finally {
    await stopAll(procs);
  }
});

Deno.test("bitclone mine client prints Disconnected within K x delta + 2 s of a kill -9 of the server, and the miner exits 1", async () => {
  const { server, port } = await startServer();
  const procs = [server];
  try {
    const [miner] = await startMiners(server, port, 1);
    procs.push(miner);
    // A request that never ends: the whole uint64 range.
    const client = new Proc(["client", `${HOST}:${port}`, "forever", "18446744073709551615"]);
    procs.push(client);
    await server.waitFor("stderr", /: 0\.\.18446744073709551615 started/);
    await sleep(300);
    server.kill("SIGKILL");
    const t0 = performance.now();
    await server.exit();
    const code = await client.exit(60_000);
    const elapsed = performance.now() - t0;
    assert.equal(code, 0, client.describe());
    assert.equal(client.stdout, "Disconnected\n", client.describe());
    assert.ok(
      elapsed <= K_TIMES_DELTA_MS + 2000,
      `Disconnected after ${elapsed.toFixed(0)} ms, more than K x delta + 2 s`,
    );
    assert.equal(await miner.exit(60_000), 1, miner.describe());
    const minerElapsed = performance.now() - t0;
    assert.ok(minerElapsed <= K_TIMES_DELTA_MS + 4000, `miner exit after ${minerElapsed} ms`);
    assert.match(miner.stderr, /Lost the server/);
  } finally {
    await stopAll(procs);
  }
});

/** Reads one message from `server` within `ms`, or fails. */
async function readWithin(
  server: LspServer,
  ms: number,
): Promise<{ connId: number; text: string }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const got = await Promise.race([
      server.read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
      }),
    ]);
    return { connId: got.connId, text: dec.decode(got.payload) };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("bitclone mine client sends the reference's exact Request and prints the harness's answer, or Disconnected when it goes silent", async () => {
  // Two fake servers like the client harness (spec §9.1): one answers, one takes the request,
  // then drops everything and goes silent. Both clients run at once.
  const answering = listen(0, { hostname: HOST });
  const silent = listen(0, { hostname: HOST });
  const procs: Proc[] = [];
  try {
    const data = randomMessage();
    const ok = new Proc(["client", `${HOST}:${answering.port}`, data, "9999"]);
    const t0 = performance.now();
    const dropped = new Proc(["client", `${HOST}:${silent.port}`, data, "999"]);
    procs.push(ok, dropped);

    const got = await readWithin(answering, 30_000);
    assert.equal(
      got.text,
      `{"Type":1,"Data":"${data}","Lower":0,"Upper":9999,"Hash":0,"Nonce":0}`,
      "exactly the reference's Request: no progress field when stderr is not a terminal",
    );
    const best = scanRange(data, 0n, 9999n);
    answering.write(
      got.connId,
      enc.encode(
        `{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":${best.hash},"Nonce":${best.nonce}}`,
      ),
    );
    assert.equal(await ok.exit(), 0, ok.describe());
    assert.equal(ok.stdout, `Result ${best.hash} ${best.nonce}\n`);

    const taken = await readWithin(silent, 30_000);
    assert.equal(
      taken.text,
      `{"Type":1,"Data":"${data}","Lower":0,"Upper":999,"Hash":0,"Nonce":0}`,
    );
    silent.closeNow();
    assert.equal(await dropped.exit(60_000), 0, dropped.describe());
    const elapsed = performance.now() - t0;
    assert.equal(dropped.stdout, "Disconnected\n", dropped.describe());
    assert.ok(elapsed < 20_000, `Disconnected after ${elapsed.toFixed(0)} ms, over 20 s`);
  } finally {
    await stopAll(procs);
    answering.closeNow();
    silent.closeNow();
    await Promise.all([answering.done, silent.done]);
  }
});

Deno.test("bitclone mine miner answers the miner harness's three Requests exactly, skips junk, and exits 1 without its server", async () => {
  // Shorter epochs on both ends, so that the loss at the end is seen in about 3 s.
  const params = { epochMillis: 500, epochLimit: 6 };
  const lsp = listen(0, { hostname: HOST, params });
  const miner = new Proc(["miner", `${HOST}:${lsp.port}`, "-ems", "500", "-elim", "6"]);
  try {
    const join = await readWithin(lsp, 30_000);
    assert.equal(join.text, '{"Type":0,"Data":"","Lower":0,"Upper":0,"Hash":0,"Nonce":0}');
    const id = join.connId;
    const send = (text: string) => lsp.write(id, enc.encode(text));
    const data = randomMessage();
    for (const upper of [9999n, 99999n, 999999n]) {
      // Junk first: the miner must ignore it and still answer the Request that follows.
      send("not json");
      send('{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":1,"Nonce":2}');
      lsp.write(id, encodeMessage(requestMessage(data, 0n, upper)));
      const r = decodeMessage(enc.encode((await readWithin(lsp, 60_000)).text));
      const best = scanRange(data, 0n, upper);
      assert.deepEqual(r, { type: "result", hash: best.hash, nonce: best.nonce }, `0..${upper}`);
    }
    // Lower > Upper (never from a conforming server): answered with the hash of Lower.
    send('{"Type":1,"Data":"msg","Lower":5,"Upper":3,"Hash":0,"Nonce":0}');
    const r = decodeMessage(enc.encode((await readWithin(lsp, 30_000)).text));
    assert.deepEqual(r, { type: "result", hash: hashSync("msg", 5n), nonce: 5n });
    assert.match(miner.stderr, /Ignored/);
    // The server goes away: the miner must not linger.
    lsp.closeNow();
    const t0 = performance.now();
    assert.equal(await miner.exit(60_000), 1, miner.describe());
    const elapsed = performance.now() - t0;
    assert.ok(elapsed < 3000 + 4000, `exit ${elapsed.toFixed(0)} ms after the server went away`);
    assert.match(miner.stderr, /Lost the server/);
    assert.equal(miner.stdout, "");
  } finally {
    await stopAll([miner]);
    lsp.closeNow();
    await lsp.done;
  }
});

Deno.test("bitclone mine commands are usage errors with exit 2 and no stdout when arguments are bad", async () => {
  const cases: string[][] = [
    ["server"],
    ["server", "70000"],
    ["server", "1", "2"],
    ["miner"],
    ["miner", "nohostport"],
    ["miner", "127.0.0.1:1", "--workers", "0"],
    ["client", "127.0.0.1:1", "msg"],
    ["client", "127.0.0.1:1", "msg", "-1"],
    ["client", "127.0.0.1:1", "msg", "18446744073709551616"],
    ["client", "127.0.0.1:1", "msg", "1e3"],
    ["client", "127.0.0.1:1", "x".repeat(950), "9"],
    ["client", "localhost", "msg", "9"],
  ];
  await Promise.all(cases.map(async (args) => {
    const p = new Proc(args);
    const code = await p.exit(30_000);
    assert.equal(code, 2, `${args.join(" ").slice(0, 60)}\n${p.describe()}`);
    assert.equal(p.stdout, "", args.join(" "));
    assert.equal(p.stderr.trimEnd().split("\n").length, 1, p.describe());
  }));
});

Deno.test("bitclone mine client prints Disconnected and the miner exits 1 when no server answers", async () => {
  // A port nobody listens on; short epochs (0.3 s per attempt) so the test stays quick.
  const probe = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const fast = ["-ems", "100", "-elim", "3"];
  const client = new Proc(["client", `${HOST}:${port}`, "msg", "2", ...fast]);
  const miner = new Proc(["miner", `${HOST}:${port}`, "--workers", "1", ...fast]);
  try {
    assert.equal(await client.exit(30_000), 0, client.describe());
    assert.equal(client.stdout, "Disconnected\n");
    assert.equal(await miner.exit(30_000), 1, miner.describe());
    assert.equal(miner.stdout, "");
    // One diagnostic, saying it once: not "… at H:P: Cannot connect to H:P: …".
    const final = miner.stderr.split("\n").filter((l) =>
      l.includes("Cannot connect to the server")
    );
    assert.equal(final.length, 1, miner.describe());
    assert.equal(final[0].split("Cannot connect to").length, 2, final[0]);
    assert.match(final[0], /at 127\.0\.0\.1:\d+: no answer within 3 epochs, 3 times$/);
  } finally {
    await stopAll([client, miner]);
  }
});

/**
 * Runs `bitclone mine ARGS` with stderr on a pseudo-terminal (Python's `pty`), stdout piped;
 * returns both and the exit code.
 */
async function runWithTerminalStderr(
  args: string[],
): Promise<{ code: number; stdout: string; terminal: string }> {
  const script = `
import json, os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
os.close(slave)
terminal = b""
while True:
    try:
        data = os.read(master, 4096)
    except OSError:
        break
    if not data:
        break
    terminal += data
out = p.stdout.read()
code = p.wait()
print(json.dumps({"code": code, "stdout": out.decode(), "terminal": terminal.decode()}))
`;
  const out = await new Deno.Command("python3", {
    args: ["-c", script, Deno.execPath(), ...RUN, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(out.code, 0, "the pty helper failed");
  return JSON.parse(dec.decode(out.stdout));
}

Deno.test("bitclone mine client says on a terminal stderr that it is connecting to a server that does not answer", async () => {
  const probe = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const r = await runWithTerminalStderr(
    ["client", `${HOST}:${port}`, "msg", "2", "-ems", "100", "-elim", "3"],
  );
  assert.equal(r.code, 0, r.terminal);
  assert.equal(r.stdout, "Disconnected\n");
  assert.ok(r.terminal.includes(`Connecting to ${HOST}:${port}…`), JSON.stringify(r.terminal));
  assert.ok(r.terminal.includes("(attempt 2 of 2)"), JSON.stringify(r.terminal));
});

Deno.test("bitclone mine server exits 1 with the error on stderr when its port is taken", async () => {
  const taken = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  try {
    const p = new Proc(["server", String(port), "--hostname", HOST]);
    assert.equal(await p.exit(30_000), 1, p.describe());
    assert.equal(p.stdout, "");
    assert.match(p.stderr, /address already in use/);
  } finally {
    taken.close();
  }
});
