/**
 * End-to-end miner throughput: one request for the minimum over 10^7 nonces (0..9,999,999) sent
 * by our request client to our server on 127.0.0.1, served by two in-process miners of one
 * worker thread each, with the reference's default LSP parameters. The baseline, measured in the
 * same run, is the same hashing capacity without network or scheduling: a two-worker
 * `WorkerPool` scanning the same range. The gap is the cost of chunking, round trips and
 * Results (the server's pipeline of two chunks per miner hides most round trips).
 *
 * Only the request is timed (`b.start()`/`b.end()`): from sending it until the Result is back;
 * the server and the miners are started before and stopped after. Each answer is checked against
 * the baseline's. After the table, nonces per second are printed (median over all runs).
 *
 * Run: `deno task bench`, or alone (about 30 s on two cores):
 * `deno bench --allow-net=127.0.0.1,0.0.0.0 --allow-read bench/miner_e2e_bench.ts`.
 *
 * @module
 */
import { requestMinimum } from "../src/miner/client_deno.ts";
import { runMiner } from "../src/miner/miner_deno.ts";
import type { ScanResult } from "../src/miner/scan.ts";
import { listenMiner } from "../src/miner/server_deno.ts";
import { WorkerPool } from "../src/miner/worker_pool_deno.ts";

/** The request: 10^7 nonces. */
const NONCES = 10_000_000n;
const MAX_NONCE = NONCES - 1n;
/** A message like the reference harnesses' (spec §9.1). */
const DATA = "6969395957072160278";
const HOST = "127.0.0.1";
const GROUP = "minimum over 10^7 nonces, two workers";
/** Timed runs per bench (Deno adds a warm-up run or two, also counted in the median). */
const RUNS = 1;

let expected: ScanResult | undefined;
const rates: Record<string, number[]> = { baseline: [], e2e: [] };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

Deno.bench({
  name: "WorkerPool.scan(), 2 workers (baseline)",
  group: GROUP,
  baseline: true,
  n: RUNS,
  warmup: 0,
  async fn(b) {
    const pool = new WorkerPool({ size: 2 });
    try {
      await pool.scan("warm-up", 0n, 1000n); // workers loaded
      b.start();
      const t0 = performance.now();
      const result = await pool.scan(DATA, 0n, MAX_NONCE);
      const ms = performance.now() - t0;
      b.end();
      rates.baseline.push(Number(NONCES) / (ms / 1000));
      expected = result;
    } finally {
      pool.terminate();
    }
  },
});

Deno.bench({
  name: "client → server → 2 miners × 1 worker, LSP on loopback",
  group: GROUP,
  n: RUNS,
  warmup: 0,
  async fn(b) {
    const server = listenMiner(0, { hostname: HOST });
    const hostport = `${HOST}:${server.port}`;
    const stop = new AbortController();
    const joins: Promise<void>[] = [];
    const miners = [0, 1].map(() => {
      let joined: () => void = () => {};
      joins.push(new Promise<void>((resolve) => joined = resolve));
      return runMiner(hostport, { workers: 1, signal: stop.signal, onJoined: () => joined() });
    });
    try {
      await Promise.all(joins);
      b.start();
      const t0 = performance.now();
      const outcome = await requestMinimum(hostport, DATA, MAX_NONCE);
      const ms = performance.now() - t0;
      b.end();
      if (outcome.type !== "result") throw new Error(`No Result: ${outcome.detail}`);
      if (expected && (outcome.hash !== expected.hash || outcome.nonce !== expected.nonce)) {
        throw new Error(`Wrong Result ${outcome.hash} ${outcome.nonce}`);
      }
      rates.e2e.push(Number(NONCES) / (ms / 1000));
    } finally {
      stop.abort();
      await Promise.all(miners);
      server.closeNow();
      await server.done;
    }
  },
});

globalThis.addEventListener("unload", () => {
  if (rates.baseline.length === 0 || rates.e2e.length === 0) return;
  const base = median(rates.baseline), e2e = median(rates.e2e);
  const m = (v: number) => `${(v / 1e6).toFixed(2)} M nonces/s`;
  console.log(
    `miner end to end, 10^7 nonces: ${m(e2e)} (median of ${rates.e2e.length}); ` +
      `baseline WorkerPool(2): ${m(base)}; ${(100 * e2e / base).toFixed(0)}% of the baseline`,
  );
});
