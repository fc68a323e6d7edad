/**
 * BitClone peer benchmarks, each beside a baseline measured in the same run:
 *
 * - **handshakes per second**: 16 and then 128 concurrent clients, each doing complete handshakes (connect,
 *   `version`, wait for `verack` and the node's `version`, `verack`, wait for `getaddr`, close)
 *   against `bitclone peer` in a child process. Baseline: bare TCP connect + accept + close
 *   against a minimal Deno accept loop in a child process, same clients.
 * - **established connections one node holds** (target: 1,000): 1,000 clients complete the
 *   handshake and stay; the node's own status line must say `1000 in`.
 * - **memory per connection**: the node's resident set size (`ps -o rss`) with
 *   1,000 established connections minus its idle size, per connection. Baseline: the same for
 *   the minimal Deno server holding 1,000 bare sockets, each with a 16 KiB read pending (what
 *   Deno and the kernel charge before the protocol adds anything).
 * - **lines parsed per second** (`Deno.bench` table): 10,000 typical lines (version, verack,
 *   getaddr, 10-entry addr, ping, pong, message) framed with `LineFramer` and decoded with
 *   `decodeMessage`, against the baseline `TextDecoder` + `split("\r\n")` over the same bytes.
 *
 * The first three are printed when the module loads, before the bench table; the whole run takes
 * well under a minute. Run: `deno task bench`, or alone:
 * `deno bench --allow-net=127.0.0.1 --allow-read --allow-write --allow-run bench/bitclone_bench.ts`.
 *
 * @module
 */
import { LineFramer } from "../src/bitclone/framing.ts";
import { decodeMessage } from "../src/bitclone/messages.ts";

const HOST = "127.0.0.1";
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
/** Concurrent clients of the rate figures. */
const CLIENTS = [16, 128];
const RATE_MS = 2500;
const HELD = 1000;
const te = new TextEncoder();
const td = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process whose stdout and stderr are collected. */
class Child {
  readonly proc: Deno.ChildProcess;
  stdout = "";
  stderr = "";
  readonly #pumps: Promise<unknown>;
  constructor(args: string[]) {
    this.proc = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    }).spawn();
    const pump = async (s: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
        this[into] = (this[into] + chunk).slice(-1_000_000);
      }
    };
    this.#pumps = Promise.all([pump(this.proc.stdout, "stdout"), pump(this.proc.stderr, "stderr")]);
  }
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.stdout) ?? pattern.exec(this.stderr);
      if (m) return m;
      if (performance.now() > deadline) {
        throw new Error(`no ${pattern}: ${this.stdout} ${this.stderr.slice(-1000)}`);
      }
      await sleep(20);
    }
  }
  /** Resident set size in KiB (`ps`: Deno wants --allow-all for /proc/<pid>). */
  async rssKiB(): Promise<number> {
    const { stdout } = await new Deno.Command("ps", {
      args: ["-o", "rss=", "-p", String(this.proc.pid)],
      stdout: "piped",
    }).output();
    return Number(td.decode(stdout).trim());
  }
  async stop(): Promise<void> {
    try {
      this.proc.kill("SIGTERM");
    } catch {
      // exited
    }
    await this.proc.status;
    await this.#pumps;
  }
}

/** Reads from `conn` until `done(text)` holds; returns the text. */
async function readUntil(conn: Deno.TcpConn, done: (text: string) => boolean): Promise<string> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!done(text)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += td.decode(buf.subarray(0, n));
  }
  return text;
}

/** One complete handshake as a dialer; returns the open connection. */
async function handshake(port: number, identity: number, nonce: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: HOST, port });
  conn.setNoDelay(true);
  const now = Math.floor(Date.now() / 1000);
  await conn.write(
    te.encode(`version|3|1|${now}|${HOST}:${port}|${HOST}:${identity}|${nonce}|bench|0\r\n`),
  );
  const text = await readUntil(conn, (t) => /verack\|/.test(t) && /version\|[^\n]*\r\n/.test(t));
  const theirs = /version\|(?:[^|]*\|){5}(\d+)\|/.exec(text)![1];
  await conn.write(te.encode(`verack|${theirs}\r\n`));
  await readUntil(conn, (t) => t.includes("getaddr\r\n"));
  return conn;
}

/** Runs `op` on `clients` workers for RATE_MS; returns completed operations per second. */
async function rate(
  clients: number,
  op: (worker: number, n: number) => Promise<void>,
): Promise<number> {
  let done = 0;
  const end = performance.now() + RATE_MS;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, w) => {
    for (let n = 0; performance.now() < end; n++) {
      await op(w, n);
      done++;
    }
  }));
  return done / ((performance.now() - started) / 1000);
}

const RAW_SERVER = `
const l = Deno.listen({ hostname: "${HOST}", port: 0 });
console.log("port " + l.addr.port);
for await (const c of l) {
  (async () => {
    const b = new Uint8Array(16384);
    try { while ((await c.read(b)) !== null) {} } catch {}
    try { c.close(); } catch {}
  })();
}`;

async function figures(): Promise<string[]> {
  const out: string[] = [];
  const dir = await Deno.makeTempDir({ prefix: "bitclone-bench-" });
  const node = new Child([
    "run",
    `--config=${CONFIG}`,
    "--allow-net",
    "--allow-read",
    "--allow-write",
    MAIN,
    "peer",
    "--hostname",
    HOST,
    "--port",
    "0",
    "--peers-file",
    `${dir}/peers.json`,
    "--max-connections",
    String(HELD + 100),
    "--max-inbound",
    String(HELD + 50),
    "--status-interval-ms",
    "250",
  ]);
  const raw = new Child(["eval", RAW_SERVER]);
  try {
    const nodePort = Number((await node.waitFor(/listening on tcp [\d.]+:(\d+)/))[1]);
    const rawPort = Number((await raw.waitFor(/port (\d+)/))[1]);

    // Memory is read first, on a fresh node (RSS rarely shrinks once memory was used).
    await sleep(500);
    const idleNode = await node.rssKiB();
    const idleRaw = await raw.rssKiB();

    // Connections held: HELD complete handshakes that stay open.
    const held: Deno.TcpConn[] = [];
    const heldRaw: Deno.TcpConn[] = [];
    try {
      const t0 = performance.now();
      for (let i = 0; i < HELD; i += 50) {
        held.push(
          ...await Promise.all(
            Array.from({ length: 50 }, (_, k) => handshake(nodePort, 30_000 + i + k, 9e6 + i + k)),
          ),
        );
      }
      const setupMs = performance.now() - t0;
      let status = "";
      const deadline = performance.now() + 10_000;
      while (!new RegExp(`status: ${HELD} in`).test(status) && performance.now() < deadline) {
        await sleep(100);
        status = node.stderr.split("\n").filter((l) => l.includes("status:")).at(-1) ?? "";
      }
      out.push(
        `established connections held:    ${String(held.length).padStart(7)}   ` +
          `(target ${HELD}; node says "${status.replace(/^.*status: /, "")}"; ` +
          `set up in ${(setupMs / 1000).toFixed(1)} s)`,
      );
      await sleep(300);
      const fullNode = await node.rssKiB();
      for (let i = 0; i < HELD; i++) {
        heldRaw.push(await Deno.connect({ hostname: HOST, port: rawPort }));
      }
      await sleep(300);
      const fullRaw = await raw.rssKiB();
      const perNode = (fullNode - idleNode) / HELD;
      const perRaw = (fullRaw - idleRaw) / HELD;
      out.push(
        `memory per connection (RSS):     ${perNode.toFixed(1).padStart(7)} KiB ` +
          `(baseline bare Deno socket with a 16 KiB read pending: ${perRaw.toFixed(1)} KiB; ` +
          `node ${(idleNode / 1024).toFixed(1)} → ${(fullNode / 1024).toFixed(1)} MiB, ` +
          `bare server ${(idleRaw / 1024).toFixed(1)} → ${(fullRaw / 1024).toFixed(1)} MiB)`,
      );
    } finally {
      for (const c of [...held, ...heldRaw]) c.close();
    }
    await sleep(500); // let the node drop the held connections
    // Handshakes per second, and the bare TCP baseline. Every handshake waits for the node's
    // 50 ms pause between its verack and its version (spec Part D 1), so few clients measure
    // that pause and many clients measure the node's work.
    for (const clients of CLIENTS) {
      const tcp = await rate(clients, async () => {
        const c = await Deno.connect({ hostname: HOST, port: rawPort });
        c.close();
      });
      const hs = await rate(clients, async (w, n) => {
        const c = await handshake(nodePort, 20_000 + w, w * 1_000_000 + n + 1);
        c.close();
      });
      out.push(
        `handshakes/s, ${String(clients).padStart(3)} clients:     ${
          hs.toFixed(0).padStart(7)
        }   ` +
          `(baseline bare TCP connect+accept+close: ${tcp.toFixed(0)}/s)`,
      );
    }
  } finally {
    await node.stop();
    await raw.stop();
    await Deno.remove(dir, { recursive: true });
  }
  return out;
}

console.log("BitClone peer, measured at load:");
for (const line of await figures()) console.log(`  ${line}`);

// ---- lines parsed per second -----------------------------------------------------------------

const LINES = 10_000;
const SAMPLE = [
  "version|3|1|1700000000|198.51.100.7:4001|198.51.100.5:4000|5843920175521|alice-ts|0",
  "verack|5843920175521",
  "getaddr",
  "addr|10|" +
  Array.from({ length: 10 }, (_, i) => `1700000000|198.51.100.${i + 1}:${4000 + i}`).join("|"),
  "ping|7730125",
  "pong|7730125",
  "message|100|peer statistics|43 requests, 10 rejections, 76% correct",
];
const CORPUS = te.encode(
  Array.from({ length: LINES }, (_, i) => SAMPLE[i % SAMPLE.length] + "\r\n").join(""),
);

Deno.bench(`split("\\r\\n") x${LINES} lines`, { group: "lines parsed", baseline: true }, () => {
  const lines = td.decode(CORPUS).split("\r\n");
  if (lines.length !== LINES + 1) throw new Error("miscounted");
});

Deno.bench(`LineFramer x${LINES} lines (framing only)`, { group: "lines parsed" }, () => {
  const framer = new LineFramer();
  framer.receiveData(CORPUS);
  let n = 0;
  for (let r = framer.nextLine(); r.type === "line"; r = framer.nextLine()) n++;
  if (n !== LINES) throw new Error("miscounted");
});

Deno.bench(`LineFramer + decodeMessage x${LINES} lines`, { group: "lines parsed" }, () => {
  const framer = new LineFramer();
  framer.receiveData(CORPUS);
  let n = 0;
  for (let r = framer.nextLine(); r.type === "line"; r = framer.nextLine()) {
    if (decodeMessage(r.line).ok) n++;
  }
  if (n !== LINES) throw new Error("a line did not decode");
});
