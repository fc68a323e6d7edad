/**
 * The distributed bitcoin miner of CMU 15-440/640 Project 1 Part B over LSP (spec `miner.md`):
 * a server that splits requests into jobs for miners, the miners, and the request client — each
 * interchangeable with the Go reference's programs.
 *
 * - Programs: {@linkcode listenMiner} (the server),
 *   {@linkcode runMiner} (a miner), {@linkcode requestMinimum} (the request client), and the
 *   node service {@linkcode minerService}.
 * - Cores: {@linkcode MinerServerCore} (the server: LSP endpoint and {@linkcode Scheduler}, the
 *   sans-I/O scheduling core; `dispatch.ts` states the strategy), the message codec ({@linkcode encodeMessage}, {@linkcode readMessage},
 *   {@linkcode decodeMessage}), {@linkcode formatProgressBar}.
 * - Hashing: {@linkcode hash} / {@linkcode hashSync}, {@linkcode scanRange} on one thread,
 *   {@linkcode WorkerPool} on all cores.
 *
 * @example Server, miner and client in one process
 * ```ts ignore
 * import { listenMiner, requestMinimum, runMiner } from "./mod.ts";
 * const server = listenMiner(0, { hostname: "127.0.0.1" });
 * const stop = new AbortController();
 * const miner = runMiner(`127.0.0.1:${server.port}`, { workers: 1, signal: stop.signal });
 * const r = await requestMinimum(`127.0.0.1:${server.port}`, "bradfitz", 9999n);
 * console.log(r.type === "result" ? `Result ${r.hash} ${r.nonce}` : "Disconnected");
 * stop.abort();
 * await miner;
 * server.closeNow();
 * await server.done;
 * ```
 *
 * @module
 */
export {
  type DecodeFailure,
  decodeMessage,
  encodeMessage,
  type JoinMessage,
  joinMessage,
  MAX_MESSAGE_BYTES,
  MAX_UINT64,
  type MinerMessage,
  MinerMsgType,
  type ProgressMessage,
  progressMessage,
  readMessage,
  type ReadResult,
  requestFits,
  type RequestMessage,
  requestMessage,
  type RequestOptions,
  type ResultMessage,
  resultMessage,
} from "./message.ts";
export { hash, hashSync, MAX_NONCE } from "./hash.ts";
export { betterResult, type ScanOptions, scanRange, type ScanResult } from "./scan.ts";
export { type PoolScanOptions, WorkerPool, type WorkerPoolOptions } from "./worker_pool_deno.ts";
export type { ChunkingOptions } from "./chunking.ts";
export {
  type ConnEvent,
  Scheduler,
  type SchedulerAction,
  type SchedulerLog,
  type SchedulerOptions,
  type SchedulerStats,
} from "./scheduler.ts";
export {
  listenMiner,
  type ListenMinerOptions,
  MinerServer,
  type ServeMinerOptions,
} from "./server_deno.ts";
export {
  MinerServerCore,
  type MinerServerCoreOptions,
  type MinerServerEvent,
} from "./server_core.ts";
export { type MinerOutcome, runMiner, type RunMinerOptions } from "./miner_deno.ts";
export { requestMinimum, type RequestMinimumOptions, type RequestOutcome } from "./client_deno.ts";
export {
  formatBar,
  formatCount,
  formatDuration,
  formatProgressBar,
  type ProgressBarOptions,
  type ProgressSnapshot,
} from "./progress_bar.ts";
export { minerService } from "./service_deno.ts";
export type {
  MinerConnectionStatus,
  MinerJobStatus,
  MinerPoolStatus,
  MinerServiceStatus,
  MinerWorkerStatus,
} from "./server_status.ts";
export { joinBackoff, joinPool, type JoinPoolOptions, type JoinPoolSummary } from "./join_deno.ts";
