/**
 * The miner program (spec `miner.md` §5.2, §7): connect to the server (retrying a failed connect
 * once or twice, `specs/lsp.md` §16), send one Join, then answer each Request with the Result of
 * its whole range, strictly one at a time and in arrival order, until the connection is lost.
 *
 * Hashing runs in a {@linkcode WorkerPool} (one worker per core by default), so the event loop —
 * and with it the LSP endpoint's Acks and heartbeats — stays free however large a range is.
 * Requests that arrive during a search wait in a bounded queue. A Request with `Lower > Upper`
 * (never sent by a conforming server) is answered with `Result(Hash(Data, Lower), Lower)` rather
 * than left hanging (spec §4). When the connection is lost the search in progress is cancelled and
 * the miner returns at once: a miner whose server is gone must not linger.
 *
 * @example Mining for a server until it goes away
 * ```ts ignore
 * import { runMiner } from "./miner.ts";
 * const outcome = await runMiner("localhost:9999", { workers: 2 });
 * console.error(`stopped: ${outcome.reason} after ${outcome.served} request(s)`);
 * ```
 *
 * @module
 */
import { connect, type LspClient } from "../lsp/client.ts";
import { LspConnectError, LspConnectionError } from "../lsp/errors.ts";
import { type LspParams, lspParams } from "../lsp/params.ts";
import { prngFromEntropy } from "../util/entropy.ts";
import { formatDuration } from "../util/duration.ts";
import { type Logger, serviceLogger } from "../util/log.ts";
import { encodeMessage, joinMessage, readMessage, resultMessage } from "./message.ts";
import { formatCount } from "./progress_bar.ts";
import { WorkerPool } from "./worker_pool.ts";
import { checkInt as checkIntIn } from "../util/checks.ts";

/**
 * Options of {@linkcode runMiner}.
 *
 * @example Two workers, short epochs
 * ```ts
 * import type { RunMinerOptions } from "./miner.ts";
 * const options: RunMinerOptions = { workers: 2, params: { epochMillis: 200 } };
 * console.assert(options.workers === 2);
 * ```
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
  /** Abort to stop: the search is cancelled and the connection dropped at once. */
  signal?: AbortSignal;
  /**
   * Where log lines go.
   *
   * @default {serviceLogger("miner")}
   */
  log?: Logger;
  /** Called once connected and joined, with the connection's id (for tests and tools). */
  onJoined?: (connId: number) => void;
}

/**
 * How {@linkcode runMiner} ended:
 *
 * - `lost`: the connection to the server was lost (the server died or went silent);
 * - `unreachable`: no connection could be made;
 * - `stopped`: the signal was aborted.
 *
 * @example Choosing an exit code
 * ```ts
 * import type { MinerOutcome } from "./miner.ts";
 * const exitCode = (o: MinerOutcome) => (o.reason === "stopped" ? 0 : 1);
 * console.assert(exitCode({ reason: "lost", served: 3, detail: "" }) === 1);
 * ```
 */
export interface MinerOutcome {
  /** Why it ended. */
  readonly reason: "lost" | "unreachable" | "stopped";
  /** Requests answered. */
  readonly served: number;
  /**
   * A human-readable explanation for a diagnostic; for `unreachable`, the reason only (the
   * caller names the server), e.g. `no answer within 5 epochs, 3 times`.
   */
  readonly detail: string;
}

/** One Request to answer. */
interface Job {
  readonly data: string;
  readonly lower: bigint;
  readonly upper: bigint;
}

function checkInt(name: string, value: number, min: number, max: number): number {
  return checkIntIn(name, value, min, max, "run the miner");
}

/**
 * Connects to `hostport` with a random ISN in 0..255, up to `attempts` times (a fresh socket
 * each time). Returns the client, or why there is none; rethrows the abort reason.
 */
async function connectWithRetry(
  hostport: string,
  attempts: number,
  params: Partial<LspParams> | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<LspClient | { failed: string }> {
  const prng = prngFromEntropy();
  let why = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await connect(hostport, { isn: prng.int(0, 255), params, signal });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (!(err instanceof LspConnectError)) {
        // A bad address or name: retrying won't help.
        why = err instanceof Error ? err.message : String(err);
        break;
      }
      // The caller says which server: the reason alone, not "Cannot connect to …" again.
      why = `no answer within ${lspParams(params).epochLimit} epochs` +
        (attempt > 1 ? `, ${attempt} times` : "");
      if (attempt < attempts) {
        log.warn("{message}", {
          message: `${err.message}; trying again (${attempt + 1}/${attempts})`,
        });
      }
    }
  }
  return { failed: why };
}

/**
 * Runs the miner against the server at `hostport` until the connection is lost, cannot be made,
 * or `signal` is aborted. The worker pool is started first (so the first Request finds it warm)
 * and terminated before returning.
 *
 * @param hostport The server, `host:port`.
 * @param options Workers, LSP parameters, retries, cancellation and logging.
 * @returns Why it ended and how many requests it answered.
 * @throws {RangeError} When an option is out of range.
 *
 * @example A miner stopped by its signal
 * ```ts ignore
 * import { runMiner } from "./miner.ts";
 * const controller = new AbortController();
 * setTimeout(() => controller.abort(), 60_000);
 * const { reason } = await runMiner("127.0.0.1:9999", { signal: controller.signal });
 * console.assert(reason === "stopped" || reason === "lost" || reason === "unreachable");
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
  } = options;
  checkInt("workers", workers, 1, 256);
  checkInt("connectAttempts", connectAttempts, 1, 10);
  checkInt("maxQueuedRequests", maxQueuedRequests, 1, 1 << 20);
  lspParams(params); // throws on bad parameters, before anything starts
  // One signal for everything: the caller's abort, or the loss of the connection.
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) return { reason: "stopped", served: 0, detail: "aborted" };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const pool = new WorkerPool({ size: workers });
  let served = 0;
  try {
    let client: LspClient;
    try {
      const got = await connectWithRetry(hostport, connectAttempts, params, stop.signal, log);
      if ("failed" in got) {
        return { reason: "unreachable", served, detail: got.failed };
      }
      client = got;
    } catch (err) {
      if (stop.signal.aborted) return { reason: "stopped", served, detail: "aborted" };
      throw err;
    }
    try {
      client.write(encodeMessage(joinMessage()));
    } catch (err) {
      if (!(err instanceof LspConnectionError)) throw err;
    }
    log.info("{message}", {
      message: `Joined ${hostport} as connection ${client.connId} with ${workers} worker(s)`,
      connId: client.connId,
    });
    options.onJoined?.(client.connId);

    const queue: Job[] = [];
    const state: { ended?: LspConnectionError } = {};
    let wake: (() => void) | undefined;
    const reader = (async () => {
      try {
        for (;;) {
          const payload = await client.read();
          const r = readMessage(payload);
          let job: Job;
          if (r.ok && r.message.type === "request") {
            job = r.message;
          } else if (!r.ok && r.reason === "lowerAboveUpper" && r.request !== undefined) {
            // Spec §4: answer with the hash of Lower rather than hang.
            job = { data: r.request.data, lower: r.request.lower, upper: r.request.lower };
          } else {
            const what = r.ok ? `a message of type ${r.message.type}` : r.detail;
            log.warn("{message}", { message: `Ignored ${what}` });
            continue;
          }
          if (queue.length >= maxQueuedRequests) {
            log.warn("{message}", {
              message: `Dropped Request ${job.lower}..${job.upper}: ${queue.length} are queued`,
            });
            continue;
          }
          queue.push(job);
          wake?.();
        }
      } catch (err) {
        state.ended = err instanceof LspConnectionError
          ? err
          : new LspConnectionError("read", client.connId, "lost");
        stop.abort(state.ended);
        wake?.();
      }
    })();

    try {
      // Bounded by the connection's life: each round searches one Request or waits for one.
      while (state.ended === undefined && !stop.signal.aborted) {
        const job = queue.shift();
        if (job === undefined) {
          await new Promise<void>((resolve) => wake = resolve);
          wake = undefined;
          continue;
        }
        const t0 = performance.now();
        let result;
        try {
          result = await pool.scan(job.data, job.lower, job.upper, { signal: stop.signal });
        } catch (err) {
          if (stop.signal.aborted) break;
          throw err;
        }
        try {
          client.write(encodeMessage(resultMessage(result.hash, result.nonce)));
        } catch (err) {
          if (!(err instanceof LspConnectionError)) throw err;
          break; // lost: the reader reports it
        }
        served++;
        const millis = Math.max(performance.now() - t0, 0.001);
        const nonces = job.upper - job.lower + 1n;
        log.debug("{message}", {
          message: `Request ${job.lower}..${job.upper}: Result ${result.hash} ${result.nonce} ` +
            `in ${formatDuration(millis)} (${formatCount(Number(nonces) / (millis / 1000))}/s)`,
        });
      }
    } finally {
      // Drop the connection at once (after a loss or an abort it is gone already; nothing is
      // left to deliver otherwise) and wait for the socket.
      stop.abort();
      await reader;
      await client.done;
    }
    if (options.signal?.aborted) return { reason: "stopped", served, detail: "aborted" };
    return {
      reason: "lost",
      served,
      detail: state.ended?.message ?? `connection ${client.connId} ended`,
    };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    pool.terminate();
  }
}
