/**
 * Ten `bitclone peer` processes on 127.0.0.1, each with its own peers file in a temporary
 * directory, all seeded from the first one only: through `getaddr`/`addr` gossip every process
 * reaches its target of five connections (read from its status lines). Meanwhile every peers file
 * is read again and again and must always parse (written atomically); one process stopped with
 * SIGTERM leaves a complete file, and restarted with no command-line peers it reloads that file
 * and reconnects.
 *
 * Timers are shortened with flags (advertisement, ping, status, save).
 */
import assert from "node:assert/strict";
import { parsePeersFile } from "../../src/bitclone/peers_file.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const RUN = ["run", "--allow-net", "--allow-read", "--allow-write", MAIN, "peer"];
const COUNT = 10;
const TARGET = 5;
const FAST = [
  "--hostname",
  "127.0.0.1",
  "--target-peers",
  String(TARGET),
  "--advertise-interval-ms",
  "500",
  "--ping-interval-ms",
  "1000",
  "--status-interval-ms",
  "250",
  "--save-interval-ms",
  "300",
];
const CONVERGE_MS = 45_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Status {
  inbound: number;
  outbound: number;
  pending: number;
  known: number;
}

/** A running `bitclone peer` whose output is collected as it comes. */
class PeerProc {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  stdout = "";
  stderr = "";
  exited = false;
  readonly #pumps: Promise<void>;

  constructor(name: string, args: string[]) {
    this.name = name;
    this.child = new Deno.Command(Deno.execPath(), {
      args: [...RUN, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    this.child.status.then(() => this.exited = true);
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        if (this[into].length < 4 << 20) this[into] += chunk;
      }
    };
    this.#pumps = Promise.all([
      collect(this.child.stdout, "stdout"),
      collect(this.child.stderr, "stderr"),
    ]).then(() => {});
  }

  /** Resolves with the listening port from the start banner. */
  async port(timeoutMs = 30_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = /listening on tcp 127\.0\.0\.1:(\d+)/.exec(this.stdout);
      if (m) return Number(m[1]);
      if (this.exited || performance.now() > deadline) {
        throw new Error(`${this.name} did not start:\n${this.stdout}\n${this.stderr.slice(-2000)}`);
      }
      await sleep(20);
    }
  }

  /** The last status line logged. */
  status(): Status | undefined {
    const all = [
      ...this.stderr.matchAll(
        /status: (\d+) in, (\d+) out, (\d+) pending; (\d+) addresses known/g,
      ),
    ];
    const m = all.at(-1);
    if (m === undefined) return undefined;
    return { inbound: +m[1], outbound: +m[2], pending: +m[3], known: +m[4] };
  }

  /** SIGTERM, then the exit code; SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<number> {
    if (!this.exited) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // exited meanwhile
      }
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // exited
      }
    }, graceMs);
    const status = await this.child.status;
    clearTimeout(timer);
    await this.#pumps;
    return status.code;
  }
}

function connected(s: Status | undefined): number {
  return s === undefined ? 0 : s.inbound + s.outbound;
}

Deno.test("ten bitclone peer processes seeded from one converge on five connections each and reload their saved peers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-net-" });
  const procs: PeerProc[] = [];
  const fileOf = (i: number) => `${dir}/peers-${i}.json`;
  let reads = 0;
  let watching = true;
  const damaged: string[] = [];
  // Read every peers file again and again: a half-written file would not parse.
  const watcher = (async () => {
    while (watching) {
      for (let i = 0; i < COUNT; i++) {
        let text: string;
        try {
          text = await Deno.readTextFile(fileOf(i));
        } catch {
          continue; // not written yet
        }
        reads++;
        if (parsePeersFile(text).damaged) damaged.push(`${i}: ${text.slice(0, 200)}`);
      }
      await sleep(10);
    }
  })();
  const describe = () =>
    procs.map((p, i) => `${i}: ${JSON.stringify(p.status())}`).join("\n") +
    `\nlog of 1:\n${
      procs[1]?.stderr.split("\n").filter((l) => !/status:/.test(l)).slice(-15).join("\n")
    }`;
  try {
    procs.push(new PeerProc("peer 0", [...FAST, "--port", "0", "--peers-file", fileOf(0)]));
    const seed = `127.0.0.1:${await procs[0].port()}`;
    for (let i = 1; i < COUNT; i++) {
      procs.push(
        new PeerProc(`peer ${i}`, [...FAST, "--port", "0", "--peers-file", fileOf(i), seed]),
      );
    }
    const ports = await Promise.all(procs.map((p) => p.port()));

    const deadline = performance.now() + CONVERGE_MS;
    while (!procs.every((p) => connected(p.status()) >= TARGET)) {
      if (performance.now() > deadline) {
        assert.fail(`no convergence within ${CONVERGE_MS} ms:\n${describe()}`);
      }
      if (procs.some((p) => p.exited)) assert.fail(`a peer exited:\n${describe()}`);
      await sleep(100);
    }
    for (const [i, p] of procs.entries()) {
      const s = p.status()!;
      assert.ok(s.known >= TARGET, `${p.name} knows only ${s.known} addresses:\n${describe()}`);
      // The seed may hold only inbound connections: everyone it knows is already connected.
      if (i > 0) assert.ok(s.outbound >= 1, `${p.name} has no outbound one:\n${describe()}`);
    }

    // Stop one peer: it saves its book and exits 0.
    const victim = 5;
    assert.equal(await procs[victim].stop(), 0, procs[victim].stderr.slice(-2000));
    assert.match(procs[victim].stderr, /address book (saved to|\S+ unchanged)/);
    const saved = parsePeersFile(await Deno.readTextFile(fileOf(victim)));
    assert.equal(saved.damaged, false);
    const others = new Set(ports.filter((_, i) => i !== victim).map((p) => `127.0.0.1:${p}`));
    const known = saved.peers.filter((p) => others.has(p.address));
    assert.ok(known.length >= 3, `saved only ${saved.peers.map((p) => p.address).join(", ")}`);
    assert.ok(
      !saved.peers.some((p) => p.address === `127.0.0.1:${ports[victim]}`),
      "its own address is not saved",
    );

    // Restart it from the file alone (no command-line peer), on its old port.
    const again = new PeerProc("peer 5 again", [
      ...FAST,
      "--port",
      String(ports[victim]),
      "--peers-file",
      fileOf(victim),
    ]);
    procs[victim] = again;
    await again.port();
    assert.match(again.stderr, /starting: 0 manual peers, \d+ saved addresses/);
    const loadedCount = Number(/starting: 0 manual peers, (\d+) saved/.exec(again.stderr)![1]);
    // The book may drop a few on reload (bucket collisions under a fresh key), never most.
    assert.ok(loadedCount >= 3, `reloaded ${loadedCount} of ${saved.peers.length} addresses`);
    const redial = performance.now() + 20_000;
    while ((again.status()?.outbound ?? 0) < 1) {
      assert.ok(
        performance.now() < redial,
        `no reconnection from the saved peers:\n${again.stderr}`,
      );
      await sleep(100);
    }
    watching = false;
    await watcher;
    assert.ok(reads > COUNT, `the watcher read ${reads} files`);
    assert.deepEqual(damaged, [], "a reader saw a half-written peers file");
    for (const p of procs) assert.equal(await p.stop(), 0, `${p.name}: ${p.stderr.slice(-1500)}`);
    const after = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".tmp"));
    assert.deepEqual(after, [], "temporary files left after every peer stopped");
  } finally {
    watching = false;
    await watcher;
    await Promise.all(procs.map((p) => p.stop(1000)));
    await Deno.remove(dir, { recursive: true });
  }
});
