/**
 * The miner hash per core: the WebAssembly SIMD kernel and the JavaScript kernel (its fallback)
 * against `openssl speed -evp sha256 -bytes 16` (the native baseline) and Web Crypto `digest`,
 * measured in the same run, rounds interleaved; then the worker pool with 1 and 2 workers.
 * Targets (issue 13): SIMD kernel / openssl >= 1, 2 workers / 1 worker >= 1.85.
 *
 * `openssl speed` divides by the CPU time it got (user time, unless `-elapsed`), so the kernels are
 * compared with it by CPU time too (`process.cpuUsage()`, the whole process: conservative);
 * wall-clock rates are printed beside them. The machine is shared: medians of several rounds.
 *
 * Run: `deno task bench` (all benches) or, for this file alone,
 * `deno bench --allow-read --allow-run --allow-env bench/miner_hash_bench.ts` (30–70 s, with load).
 * The printed lines come first (measured at load), then the `Deno.bench` table.
 */
import process from "node:process";
import { NonceKernel } from "../src/miner/sha256_kernel.ts";
import { type MinerKernel, SimdNonceKernel } from "../src/miner/sha256_simd.ts";
import { WorkerPool } from "../src/miner/worker_pool_deno.ts";

/** A message like the ones the reference harnesses send (spec §9.1). */
const DATA = "6969395957072160278";
/** Interleaved rounds of the per-core comparison. */
const ROUNDS = 5;
const encoder = new TextEncoder();
let sink = 0;

async function webCryptoHashes(start: number, count: number): Promise<void> {
  for (let n = start; n < start + count; n++) {
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`${DATA} ${n}`));
    sink ^= new Uint8Array(digest)[0];
  }
}

/** Hashes/s of `run(count)` by CPU time (user, whole process) and by wall clock. */
async function measure(
  count: number,
  run: (count: number) => unknown,
): Promise<{ cpu: number; wall: number }> {
  const cpu0 = process.cpuUsage(), t0 = performance.now();
  await run(count);
  const wall = performance.now() - t0, cpu = process.cpuUsage(cpu0).user / 1000;
  return { cpu: count / (cpu / 1000), wall: count / (wall / 1000) };
}

/** One `openssl speed` run at 16 bytes: hashes/s (by its CPU time, or wall with `-elapsed`). */
async function openssl(elapsed: boolean): Promise<number | string> {
  const args = ["speed", "-mr", ...(elapsed ? ["-elapsed"] : [])];
  args.push("-evp", "sha256", "-bytes", "16", "-seconds", "1");
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" }).output();
  } catch (err) {
    return err instanceof Deno.errors.NotFound ? "openssl is not installed" : String(err);
  }
  if (!output.success) return `openssl ${args.join(" ")} failed (status ${output.code})`;
  // -mr prints "+F:<n>:sha256:<bytes per second at 16 bytes>".
  const line = new TextDecoder().decode(output.stdout).split("\n").find((l) => l.startsWith("+F:"));
  const bytesPerSecond = Number(line?.split(":").at(-1));
  return bytesPerSecond > 0 ? bytesPerSecond / 16 : `openssl ${args.join(" ")}: no +F line`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const mhs = (perSecond: number) => `${(perSecond / 1e6).toFixed(2)} Mhash/s`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

function kernelRun(kernel: MinerKernel, from: bigint): (count: number) => void {
  let next = from;
  return (count) => {
    kernel.seek(next);
    sink ^= kernel.scan(count);
    next += BigInt(count);
  };
}

// ---- Per core: kernels, openssl, Web Crypto; interleaved rounds ----

const simd = kernelRun(new SimdNonceKernel(DATA), 1_000_000n);
const js = kernelRun(new NonceKernel(DATA), 1_000_000n);
const twoBlock = kernelRun(new SimdNonceKernel("x".repeat(60)), 1_000_000n); // 2-block tails
simd(500_000); // warm up: JIT and WebAssembly tier-up
js(200_000);
twoBlock(200_000);
await webCryptoHashes(0, 2000);
const rows: Record<string, { cpu: number[]; wall: number[] }> = {};
const record = (name: string, m: { cpu: number; wall: number }) => {
  rows[name] ??= { cpu: [], wall: [] };
  rows[name].cpu.push(m.cpu);
  rows[name].wall.push(m.wall);
};
const native: number[] = [], nativeWall: number[] = [];
let nativeSkipped: string | undefined;
for (let round = 0; round < ROUNDS; round++) {
  record("simd", await measure(2_000_000, simd));
  record("js", await measure(600_000, js));
  record("simd2", await measure(1_000_000, twoBlock));
  record("webcrypto", await measure(5_000, (n) => webCryptoHashes(round * 5_000, n)));
  const cpu = await openssl(false), wall = await openssl(true);
  if (typeof cpu === "string") nativeSkipped = cpu;
  else native.push(cpu);
  if (typeof wall === "number") nativeWall.push(wall);
}
const m = (name: string, by: "cpu" | "wall") => median(rows[name][by]);
console.log(`miner hash of "${DATA} <nonce>", medians of ${ROUNDS} interleaved rounds`);
for (
  const [name, label] of [
    ["simd", "SIMD kernel (WebAssembly, 4 lanes)"],
    ["simd2", "SIMD kernel, 60-byte message (2-block tails)"],
    ["js", "JS kernel (fallback)"],
    ["webcrypto", "Web Crypto digest"],
  ]
) {
  console.log(
    `${label}: ${mhs(m(name, "cpu"))} by CPU time, ${mhs(m(name, "wall"))} by wall clock`,
  );
}
if (nativeSkipped !== undefined) {
  console.log(`native: skipped (${nativeSkipped})`);
} else {
  const nat = median(native);
  console.log(
    `openssl speed -evp sha256 -bytes 16: ${mhs(nat)} (its CPU time), ` +
      `${mhs(median(nativeWall))} with -elapsed`,
  );
  const simdRatio = m("simd", "cpu") / nat;
  console.log(
    `SIMD kernel / openssl: ${simdRatio.toFixed(2)}x by CPU time ` +
      `(target >= 1: ${simdRatio >= 1 ? "met" : "NOT met"}), ` +
      `${ratio(m("simd", "wall"), median(nativeWall))} wall / -elapsed; ` +
      `JS kernel / openssl: ${ratio(m("js", "cpu"), nat)}`,
  );
}
console.log(
  `SIMD kernel / Web Crypto: ${ratio(m("simd", "wall"), m("webcrypto", "wall"))}, ` +
    `SIMD / JS kernel: ${ratio(m("simd", "cpu"), m("js", "cpu"))} (CPU time)`,
);

// ---- Worker pool: 1 and 2 workers, alternating ----

/**
 * Nanoseconds each worker thread ("worker-N") of this process spent on a CPU and waiting for one
 * (Linux `/proc/<pid>/task/<tid>/schedstat`, read by `sh`: Deno lets a program read its own
 * `/proc` entries only with `--allow-all`); empty elsewhere.
 */
async function workerThreadTimes(): Promise<Map<string, [run: number, wait: number]>> {
  const times = new Map<string, [number, number]>();
  const script = `for t in /proc/${Deno.pid}/task/*; do ` +
    `echo "\${t##*/} $(cat $t/schedstat) $(cat $t/comm)"; done 2>/dev/null`;
  try {
    const output = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" })
      .output();
    for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
      const [tid, run, wait, , comm] = line.split(" ");
      if (comm?.startsWith("worker-")) times.set(tid, [Number(run), Number(wait)]);
    }
  } catch {
    // no sh: the figures that need it are left out
  }
  return times;
}

/**
 * One pool scan: hashes/s by wall clock; the cores the whole process got (CPU time / wall time);
 * the share of the wall time its workers were busy (on a CPU or waiting for one, rather than
 * waiting for work) and their hashes per second on a CPU.
 */
interface PoolRun {
  rate: number;
  cores: number;
  busy: number;
  onCpuRate: number;
}

/**
 * Pools of 1 and 2 workers, startup and warm-up excluded; each run scans `perWorker` nonces per
 * worker of the pool, so that both sizes run about as long (the pool's fixed costs per scan, its
 * first and last chunks, weigh the same in both); the pools alternate so that a burst of load
 * from elsewhere does not land on one size only.
 */
async function poolRuns(perWorker: bigint, rounds: number): Promise<[PoolRun[], PoolRun[]]> {
  const pools = [new WorkerPool({ size: 1 }), new WorkerPool({ size: 2 })];
  try {
    for (const pool of pools) await pool.scan(DATA, 0n, 2_000_000n); // start, tier up
    const runs: [PoolRun[], PoolRun[]] = [[], []];
    let lower = 10_000_000n;
    for (let round = 0; round < rounds; round++) {
      for (const [i, pool] of pools.entries()) {
        const count = perWorker * BigInt(pool.size);
        const threads0 = await workerThreadTimes();
        const cpu0 = process.cpuUsage(), t0 = performance.now();
        await pool.scan(DATA, lower, lower + count - 1n);
        const wall = performance.now() - t0, cpu = process.cpuUsage(cpu0);
        let run = 0, wait = 0;
        for (const [tid, [run1, wait1]] of await workerThreadTimes()) {
          const [run0, wait0] = threads0.get(tid) ?? [run1, wait1];
          if (run1 - run0 < wall * 1e4) continue; // < 1% of the time: the other pool's worker
          run += run1 - run0;
          wait += wait1 - wait0;
        }
        runs[i].push({
          rate: Number(count) / (wall / 1000),
          cores: (cpu.user + cpu.system) / 1000 / wall,
          busy: (run + wait) / 1e6 / (wall * pool.size),
          onCpuRate: Number(count) / (run / 1e9),
        });
        lower += count;
      }
    }
    return runs;
  } finally {
    for (const pool of pools) pool.terminate();
  }
}

/** Nonces per worker in each pool run: about a second of hashing. */
const SCALING_RANGE = 12_000_000n;
const SCALING_ROUNDS = 5;
const [one, two] = await poolRuns(SCALING_RANGE, SCALING_ROUNDS);
const of = (runs: PoolRun[], key: keyof PoolRun) => median(runs.map((r) => r[key]));
const speedup = of(two, "rate") / of(one, "rate");
console.log(
  `worker pool over ${SCALING_RANGE} nonces per worker, medians of ${SCALING_ROUNDS}: ` +
    `1 worker ${mhs(of(one, "rate"))}, 2 workers ${mhs(of(two, "rate"))}, ` +
    `speedup ${speedup.toFixed(2)}x (target >= 1.85: ${speedup >= 1.85 ? "met" : "NOT met"}; ` +
    `${navigator.hardwareConcurrency} cores)`,
);
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
console.log(
  `  cores the process got (CPU time / wall): 1 worker ${of(one, "cores").toFixed(2)}, ` +
    `2 workers ${of(two, "cores").toFixed(2)} (Linux shares the CPU per session: with other ` +
    `programs running, a second thread does not get more of it)`,
);
if (of(two, "onCpuRate") > 0 && Number.isFinite(of(two, "onCpuRate"))) {
  // On idle cores a busy worker is always on one: n workers × busy share × rate on a CPU.
  const projected = (2 * of(two, "busy") * of(two, "onCpuRate")) /
    (of(one, "busy") * of(one, "onCpuRate"));
  console.log(
    `  workers busy (on a CPU or waiting for one, not for work): 1 worker ` +
      `${pct(of(one, "busy"))}, 2 workers ${pct(of(two, "busy"))} of the wall time; rate on a ` +
      `CPU per worker ${mhs(of(one, "onCpuRate"))} / ${mhs(of(two, "onCpuRate"))}; ` +
      `so on two idle cores: about ${projected.toFixed(2)}x`,
  );
}

// ---- Deno.bench table: the same 10 000 hashes per iteration for every contender ----

const PER_OP = 10_000;
Deno.bench(
  `Web Crypto digest x${PER_OP}`,
  { group: "miner hash", baseline: true, n: 3, warmup: 1 },
  async () => await webCryptoHashes(0, PER_OP),
);
Deno.bench(`JS kernel x${PER_OP}`, { group: "miner hash", n: 50 }, () => js(PER_OP));
Deno.bench(`SIMD kernel x${PER_OP}`, { group: "miner hash", n: 100 }, () => simd(PER_OP));

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink); // keeps the loops from being optimised away
});
