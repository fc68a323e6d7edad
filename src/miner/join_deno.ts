/**
 * A node's contribution to another node's mining pool (`bitclone node --join-miner HOST:PORT`, or
 * `services.miner.join`): a miner with one worker per core that joins the server, and when the
 * server goes away or cannot be reached, tries again after a backoff (1 s, doubling to 30 s; back
 * to 1 s once a join has held a minute) until the node stops.
 *
 * @module
 */
import type { LspParams } from "../lsp/mod.ts";
import type { Logger } from "../util/mod.ts";
import { type MinerOutcome, runMiner, type RunMinerOptions } from "./miner_deno.ts";
import type { MinerPoolStatus } from "./server_status.ts";

/** Options of {@linkcode joinPool}. */
export interface JoinPoolOptions {
  /** Hashing workers. @default {navigator.hardwareConcurrency} */
  workers?: number;
  /** LSP parameters of the miner's connection. */
  params?: Partial<LspParams>;
  /** Abort to leave the pool (the search in progress is cancelled). */
  signal: AbortSignal;
  /** Where log lines go. */
  log: Logger;
  /** First wait after a failed or lost join, ms. @default {1000} */
  backoffMs?: number;
  /** Longest wait, ms. @default {30000} */
  maxBackoffMs?: number;
  /** A join that lasted this long resets the wait to `backoffMs`. @default {60000} */
  stableMs?: number;
  /** The miner (tests give a fake). @default {runMiner} */
  run?: (hostport: string, options: RunMinerOptions) => Promise<MinerOutcome>;
  /** Waits `ms` or until aborted (tests give a fake). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The clock, ms. @default {performance.now} */
  now?: () => number;
  /** Kept up to date while it runs (for the status service). */
  status?: MinerPoolStatus;
}

/** What {@linkcode joinPool} did, when it returns. */
export interface JoinPoolSummary {
  /** Times a miner joined the server. */
  joins: number;
  /** Requests answered over all joins. */
  served: number;
}

/**
 * The wait after `failures` consecutive failed or lost joins (1 or more): `backoffMs` doubled per
 * failure, at most `maxBackoffMs`.
 *
 * @example
 * ```ts
 * import { joinBackoff } from "./join_deno.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual([1, 2, 3, 6, 7].map((n) => joinBackoff(n, 1000, 30_000)), [1000, 2000, 4000, 30_000, 30_000]);
 * ```
 */
export function joinBackoff(failures: number, backoffMs: number, maxBackoffMs: number): number {
  return Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
}

function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Mines for the server at `hostport` until `signal` aborts, rejoining after each loss with a
 * backoff. Resolves (never rejects for the server's sake) once the miner has stopped.
 *
 * @example Leaving the pool
 * ```ts ignore
 * import { joinPool } from "./join_deno.ts";
 * import { serviceLogger } from "../util/mod.ts";
 * const stop = new AbortController();
 * const joined = joinPool("lab0:9999", { signal: stop.signal, log: serviceLogger("miner") });
 * // ... later
 * stop.abort();
 * await joined;
 * ```
 */
export async function joinPool(
  hostport: string,
  options: JoinPoolOptions,
): Promise<JoinPoolSummary> {
  const {
    signal,
    log,
    backoffMs = 1000,
    maxBackoffMs = 30_000,
    stableMs = 60_000,
    run = runMiner,
    sleep = sleepFor,
    now = () => performance.now(),
  } = options;
  const summary: JoinPoolSummary = { joins: 0, served: 0 };
  let failures = 0;
  while (!signal.aborted) {
    let joinedAt: number | undefined;
    let outcome: MinerOutcome;
    try {
      outcome = await run(hostport, {
        workers: options.workers,
        params: options.params,
        signal,
        log,
        onJoined: () => {
          joinedAt = now();
          summary.joins++;
          if (options.status) {
            options.status.joined = true;
            options.status.joins = summary.joins;
          }
        },
      });
    } catch (err) {
      // a bad option or a worker that cannot start: retrying would fail the same way
      log.error("{message}", { message: `cannot mine for ${hostport}: ${(err as Error).message}` });
      return summary;
    }
    summary.served += outcome.served;
    if (options.status) {
      options.status.joined = false;
      options.status.served = summary.served;
    }
    if (outcome.reason === "stopped" || signal.aborted) break;
    if (joinedAt !== undefined && now() - joinedAt >= stableMs) failures = 0;
    failures++;
    const wait = joinBackoff(failures, backoffMs, maxBackoffMs);
    const why = outcome.reason === "lost"
      ? `lost the mining server ${hostport}`
      : `cannot reach the mining server ${hostport} (${outcome.detail})`;
    log.warn("{message}", { message: `${why}; joining again in ${(wait / 1000).toFixed(1)} s` });
    await sleep(wait, signal);
  }
  return summary;
}
