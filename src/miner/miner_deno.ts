/**
 * The miner program (spec `miner.md` §5.2, §7): the adapter that runs the sans-I/O
 * {@linkcode MinerCore} on a UDP socket with the one UDP driver, one connection attempt after the
 * other as the core says (a fresh socket each), and gives the core's searches to a
 * {@linkcode WorkerPool}. Every protocol decision — joining, the order of the Requests, what to do
 * with junk, retrying a connect, giving up when the server is lost — is the core's; this file
 * moves bytes, time, searches and log lines.
 *
 * Hashing runs in the pool (one worker per core by default), so the event loop — and with it the
 * LSP endpoint's Acks and heartbeats — stays free however large a range is. When the connection
 * is lost the search in progress is cancelled and the miner returns at once.
 *
 * @example Mining for a server until it goes away
 * ```ts ignore
 * import { runMiner } from "./miner_deno.ts";
 * const outcome = await runMiner("localhost:9999", { workers: 2 });
 * console.error(`stopped: ${outcome.reason} after ${outcome.served} request(s)`);
 * ```
 *
 * @module
 */
import { type LspParams, lspParams } from "../lsp/mod.ts";
import { resolveHostPort } from "../net/mod.ts";
import { UdpDriver } from "../net/mod.ts";
import { checkInt as checkIntIn } from "../util/mod.ts";
import { prngFromEntropy } from "../util/mod.ts";
import { type Logger, serviceLogger } from "../util/mod.ts";
import { MinerCore } from "./miner_core.ts";
import { WorkerPool } from "./worker_pool_deno.ts";

/**
 * Options of {@linkcode runMiner}.
 */
export interface RunMinerOptions {
  /** LSP parameters; missing fields take the reference defaults (K 5, δ 2000 ms, ω 1, B 0, M 1). */
  params?: Partial<LspParams>;
  /**
   * Hashing worker threads, 1 … 256.
   *
   * @default {navigator.hardwareConcurrency}
   */
  workers?: number;
  /**
   * Connection attempts before giving up (each one lasts up to EpochLimit epochs), 1 … 10.
   *
   * @default 3
   */
  connectAttempts?: number;
  /**
   * Requests waiting behind the one being searched; more are dropped (logged). A conforming
   * server sends one or two at a time.
   *
   * @default 1024
   */
  maxQueuedRequests?: number;
  /**
   * Fault injection for benchmarks and tests: drops this fraction (0 … 1) of the datagrams each
   * way at the miner's socket (see `UdpDriver`'s `readDropRate` and `writeDropRate`).
   *
   * @default 0
   */
  dropRate?: number;
  /** Abort to stop: the search is cancelled and the connection dropped at once. */
  signal?: AbortSignal;
  /**
   * Where log lines go.
   *
   * @default {serviceLogger("miner")}
   */
  log?: Logger;
  /**
   * Called once connected and joined, with the connection's id and a function that reads the
   * time the miner has spent searching so far, in milliseconds (`MinerCore.busyMillis`; for
   * tests and tools, e.g. the busy share of a benchmark).
   */
  onJoined?: (connId: number, busyMillis: () => number) => void;
}

/**
 * How {@linkcode runMiner} ended:
 *
 * - `lost`: the connection to the server was lost (the server died or went silent);
 * - `unreachable`: no connection could be made;
 * - `stopped`: the signal was aborted.
 */
export interface MinerOutcome {
  /** Why it ended. */
  readonly reason: "lost" | "unreachable" | "stopped";
  /** Requests answered. */
  readonly served: number;
  /** Milliseconds spent searching over the whole run (see `MinerCore.busyMillis`). */
  readonly busyMillis: number;
  /**
   * A human-readable explanation for a diagnostic; for `unreachable`, the reason only (the
   * caller names the server), e.g. `no answer within 5 epochs, 3 times`.
   */
  readonly detail: string;
}

/** Nonces each worker searches before the miner connects. */
const WARM_UP_NONCES = 1n << 18n;

function checkInt(name: string, value: number, min: number, max: number): number {
  return checkIntIn(name, value, min, max, "run the miner");
}

/**
 * Runs the miner against the server at `hostport` until the connection is lost, cannot be made,
 * or `signal` is aborted. The worker pool is started and warmed up first (each worker searches
 * 2^18 nonces, so that the first Request finds the kernel compiled) and terminated before
 * returning.
 *
 * @param hostport The server, `host:port`.
 * @param options Workers, LSP parameters, retries, cancellation and logging.
 * @returns Why it ended and how many requests it answered.
 * @throws {RangeError} When an option is out of range.
 *
 * @example A miner stopped by its signal
 * ```ts ignore
 * import { runMiner } from "./miner_deno.ts";
 * import assert from "node:assert/strict";
 * const controller = new AbortController();
 * setTimeout(() => controller.abort(), 60_000);
 * const { reason } = await runMiner("127.0.0.1:9999", { signal: controller.signal });
 * assert.equal(reason, "stopped"); // the server was still up after a minute
 * ```
 */
export async function runMiner(
  hostport: string,
  options: RunMinerOptions = {},
): Promise<MinerOutcome> {
  const {
    params,
    workers = Math.max(1, navigator.hardwareConcurrency || 1),
    connectAttempts = 3,
    maxQueuedRequests = 1024,
    log = serviceLogger("miner"),
    signal,
    dropRate = 0,
  } = options;
  if (typeof dropRate !== "number" || !(dropRate >= 0 && dropRate <= 1)) {
    throw new RangeError(`Cannot run the miner: dropRate ${dropRate} is not in 0..1`);
  }
  checkInt("workers", workers, 1, 256);
  checkInt("connectAttempts", connectAttempts, 1, 10);
  checkInt("maxQueuedRequests", maxQueuedRequests, 1, 1 << 20);
  lspParams(params); // throws on bad parameters, before anything starts
  if (signal?.aborted) return { reason: "stopped", served: 0, busyMillis: 0, detail: "aborted" };
  const pool = new WorkerPool({ size: workers });
  try {
    // Warm the workers up while the name resolves: a fresh worker loads its module and compiles
    // the kernel on its first search (tens of milliseconds, hundreds on a busy machine), which
    // would slow the first chunks and make the server's first speed samples say little.
    const warmUp = pool.scan("warm-up", 0n, BigInt(workers) * WARM_UP_NONCES - 1n, { signal });
    warmUp.catch(() => {}); // awaited below, unless it returns before
    let serverAddr: string;
    try {
      serverAddr = await resolveHostPort(hostport);
    } catch (err) {
      // A bad address or name: retrying won't help.
      if (signal?.aborted) {
        return { reason: "stopped", served: 0, busyMillis: 0, detail: "aborted" };
      }
      return { reason: "unreachable", served: 0, busyMillis: 0, detail: (err as Error).message };
    }
    try {
      await warmUp;
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
    if (signal?.aborted) return { reason: "stopped", served: 0, busyMillis: 0, detail: "aborted" };
    return await new Promise<MinerOutcome>((resolve, reject) => {
      const prng = prngFromEntropy();
      let driver: UdpDriver | undefined;
      let core: MinerCore | undefined;
      let search: AbortController | undefined;
      let settled = false;
      // Searches of earlier attempts' cores: none (a core searches only once connected).
      const busy = () => core?.busyMillis(performance.now()) ?? 0;
      const finish = (outcome: Omit<MinerOutcome, "busyMillis"> | { error: unknown }) => {
        if (settled) return;
        settled = true;
        const busyMillis = busy();
        signal?.removeEventListener("abort", onAbort);
        search?.abort();
        driver?.close();
        const done = driver?.done ?? Promise.resolve();
        done.then(
          () => "error" in outcome ? reject(outcome.error) : resolve({ ...outcome, busyMillis }),
          reject,
        );
      };
      const onAbort = () =>
        finish({ reason: "stopped", served: core?.served ?? 0, detail: "aborted" });
      signal?.addEventListener("abort", onAbort, { once: true });
      const attempt = (n: number) => {
        const c = new MinerCore({
          serverAddr,
          hostport,
          prng,
          now: performance.now(),
          params,
          attempt: n,
          attempts: connectAttempts,
          maxQueuedRequests,
        });
        core = c;
        const socket = Deno.listenDatagram({
          transport: "udp",
          hostname: serverAddr.startsWith("[") ? "::" : "0.0.0.0",
          port: 0,
        });
        const d: UdpDriver = new UdpDriver({
          socket,
          core: c,
          onProgress: () => drain(c, d, n),
          readDropRate: dropRate,
          writeDropRate: dropRate,
        });
        driver = d;
        d.pump(); // send the Connect, arm the epoch timer
      };
      const drain = (c: MinerCore, d: UdpDriver, n: number) => {
        for (let e = c.pollEvent(); e && !settled; e = c.pollEvent()) {
          switch (e.type) {
            case "joined":
              log.info("{message}", {
                message: `Joined ${hostport} as connection ${e.connId} with ${workers} worker(s)`,
                connId: e.connId,
              });
              options.onJoined?.(e.connId, busy);
              break;
            case "scan": {
              const { id, data, lower, upper } = e.job;
              const controller = search = new AbortController();
              pool.scan(data, lower, upper, { signal: controller.signal }).then((r) => {
                if (controller.signal.aborted || d.closed) return;
                c.handleScanned(id, r.hash, r.nonce, performance.now());
                d.pump();
              }, (err) => {
                if (!controller.signal.aborted) finish({ error: err });
              });
              break;
            }
            case "cancel":
              search?.abort();
              break;
            case "log":
              log[e.level]("{message}", { message: e.message });
              break;
            case "retry":
              log.warn("{message}", { message: e.message });
              d.close();
              attempt(n + 1);
              return;
            case "ended":
              finish({ reason: e.reason, served: e.served, detail: e.detail });
              return;
          }
        }
      };
      attempt(1);
    });
  } finally {
    pool.terminate();
  }
}
