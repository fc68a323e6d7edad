/**
 * Memory per LSP connection with 1,000 and 10,000 clients, and how fast connections are set up.
 *
 * The memory figures come from `_memory_probe.ts`, run in a fresh child process per row (so the
 * resident set size of one row is not lowered by memory an earlier row freed), and are printed
 * as a table when this module loads, before the bench table. Rows:
 *
 * - in-memory cores: one server `LspEndpoint` plus one client `LspEndpoint` per connection,
 *   wired in memory: the protocol state alone, split into server and client side;
 * - `listen()` + `connect()` over loopback UDP, one socket per client: the full cost on both
 *   sides (cores, adapters, receive buffers, Deno's socket resources);
 * - bare Deno UDP sockets with a receive pending: what Deno and the kernel charge per socket
 *   before LSP adds anything.
 *
 * Each connection has three 100-byte messages echoed, then idles with empty windows. Garbage is
 * collected before each reading (V8's `gc`, enabled at run time, no `--v8-flags`). The RSS split
 * between server and client is not shown: freed memory rarely leaves the RSS. Override the
 * counts with `LSP_BENCH_MEMORY_COUNTS=1000,10000`.
 *
 * Run: `deno task bench` (needs --allow-run, --allow-env and net access to 127.0.0.1, 0.0.0.0).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  buildCorePair,
  buildSocketPair,
  closeSocketPair,
  type PerConnection,
  type ProbeMode,
  type ProbeResult,
} from "./_memory_probe.ts";

const PROBE = fileURLToPath(new URL("./_memory_probe.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));
const PROBE_TIMEOUT_MS = 120_000;

/** Runs one probe in a fresh `deno run` process and returns its result line. */
async function probeInChild(mode: ProbeMode, count: number): Promise<ProbeResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--config=${CONFIG}`,
      "--allow-net=127.0.0.1,0.0.0.0",
      PROBE,
      mode,
      String(count),
    ],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  });
  const { success, stdout, stderr } = await command.output();
  const out = new TextDecoder().decode(stdout).trim();
  if (!success) {
    throw new Error(
      `Cannot probe ${mode} ${count}: ${out} ${new TextDecoder().decode(stderr).slice(-2000)}`,
    );
  }
  return JSON.parse(out.split("\n").at(-1)!) as ProbeResult;
}

function counts(): number[] {
  const text = Deno.env.get("LSP_BENCH_MEMORY_COUNTS") ?? "1000,10000";
  const list = text.split(",").map((s) => Number(s.trim()));
  for (const n of list) {
    if (!Number.isInteger(n) || n < 1 || n > 100_000) {
      throw new RangeError(`Cannot use LSP_BENCH_MEMORY_COUNTS: ${JSON.stringify(text)}`);
    }
  }
  return list;
}

const LABELS: Record<ProbeMode, string> = {
  core: "in-memory cores (server + client)",
  sockets: "listen() + connect() over UDP",
  udp: "bare Deno UDP socket (reference)",
};

function side(p: PerConnection | undefined): string {
  return p ? String(p.heapUsed + p.external).padStart(11) : "-".padStart(11);
}

function row(r: ProbeResult): string {
  return `  ${LABELS[r.mode].padEnd(35)} ${String(r.count).padStart(6)} ` +
    `${String(r.total.rss).padStart(9)} ${String(r.total.heapUsed).padStart(9)} ` +
    `${String(r.total.external).padStart(9)} ${side(r.server)} ${side(r.client)}`;
}

const rows: ProbeResult[] = [];
for (const mode of ["core", "sockets", "udp"] as const) {
  for (const count of counts()) rows.push(await probeInChild(mode, count));
}
console.log(
  "\nLSP memory per connection, in bytes (fresh process per row; 3 echoed 100-byte messages " +
    "each, then idle):\n" +
    `  ${"".padEnd(35)} ${"conns".padStart(6)} ${"RSS".padStart(9)} ${"heap".padStart(9)} ` +
    `${"external".padStart(9)} ${"server h+e".padStart(11)} ${"client h+e".padStart(11)}\n` +
    rows.map(row).join("\n") +
    "\n  (h+e: heap used + external (ArrayBuffers) per connection on that side)\n",
);

Deno.bench({
  name: "server core: 10,000 connections from client cores, 3 echoes each (in memory)",
  n: 3,
  warmup: 1,
  fn(b) {
    b.start();
    const pair = buildCorePair(10_000);
    b.end();
    if (pair.server.connectionCount !== 10_000) throw new Error("connections missing");
  },
});

Deno.bench({
  name: "listen() + 1,000 connect() clients on 127.0.0.1, 3 echoes each",
  n: 3,
  warmup: 1,
  async fn(b) {
    b.start();
    const pair = await buildSocketPair(1_000);
    b.end();
    await closeSocketPair(pair);
  },
});
