/**
 * Ten `bitclone peer` processes on 127.0.0.1, each with its own peers file in a temporary
 * directory, in a chain (each given only the one started before it): through `getaddr`/`addr`
 * gossip every process reaches its target of five connections and never holds more than six
 * (read from its status lines), and every process comes to know all nine others (read from its
 * peers file). Meanwhile every peers file is read again and again and must always parse (written
 * atomically); one process stopped with SIGTERM leaves a complete file, and restarted with no
 * command-line peers it reloads all nine addresses and reconnects.
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
const KNOW_ALL_MS = 30_000;

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
    return this.statuses().at(-1);
  }

  /** Every status line logged. */
  statuses(): Status[] {
    return [
      ...this.stderr.matchAll(
        /status: (\d+) in, (\d+) out, (\d+) pending; (\d+) addresses known/g,
      ),
    ].map((m) => ({ inbound: +m[1], outbound: +m[2], pending: +m[3], known: +m[4] }));
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

Deno.test("ten bitclone peer processes in a chain converge on five connections each, learn all nine others and reload them", async () => {
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
    for (let i = 1; i < COUNT; i++) {
      const previous = `127.0.0.1:${await procs[i - 1].port()}`;
      procs.push(
        new PeerProc(`peer ${i}`, [...FAST, "--port", "0", "--peers-file", fileOf(i), previous]),
      );
    }
    const ports = await Promise.all(procs.map((p) => p.port()));
    const addressOf = (i: number) => `127.0.0.1:${ports[i]}`;

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
      // The first may hold only inbound connections: everyone it knows is already connected.
      if (i > 0) assert.ok(s.outbound >= 1, `${p.name} has no outbound one:\n${describe()}`);
    }

    // Every peer comes to know all nine others (spec §C.7: no address lost below capacity).
    const missing = async (i: number) => {
      let text = "[]";
      try {
        text = await Deno.readTextFile(fileOf(i));
      } catch {
        // not written yet
      }
      const saved = new Set(parsePeersFile(text).peers.map((p) => p.address));
      return ports.map((_, j) => addressOf(j)).filter((a, j) => j !== i && !saved.has(a));
    };
    const knowDeadline = performance.now() + KNOW_ALL_MS;
    for (;;) {
      const gaps = await Promise.all(procs.map((_, i) => missing(i)));
      if (gaps.every((g) => g.length === 0)) break;
      if (performance.now() > knowDeadline) {
        assert.fail(
          `not every peer knows all nine others:\n${
            gaps.map((g, i) => `${i} misses ${g.join(" ")}`).join("\n")
          }\n${describe()}`,
        );
      }
      await sleep(250);
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
    // Under a fresh key the book still keeps every entry (below capacity nothing is dropped).
    assert.equal(known.length, COUNT - 1, `saved ${saved.peers.map((p) => p.address).join(", ")}`);
    assert.equal(loadedCount, saved.peers.length);
    assert.doesNotMatch(again.stderr, /entries skipped/);
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
    // Never more than the target + 1 established (spec §A.8.1 trim), in any status line.
    for (const p of procs) {
      const worst = Math.max(...p.statuses().map(connected));
      assert.ok(worst <= TARGET + 1, `${p.name} held ${worst} connections`);
    }
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
