/**
 * The Deno Worker entry of the miner's worker pool (`worker_pool.ts` starts it as a module
 * worker). It receives scan jobs with the bounds as decimal strings, runs `scanRange()` over them
 * in slices (on one kernel per message, the SIMD one where available), posts progress after each
 * slice and one final reply per job: `result`, `cancelled` or `error`. Jobs run one at a time in arrival order; at most {@linkcode MAX_QUEUED_JOBS} wait.
 *
 * Cancellation has two paths. With a `cancelFlag` (an `Int32Array` on a `SharedArrayBuffer`) the
 * sender stores a non-zero value and the scan notices it within `scanRange()`'s `checkEvery`
 * nonces, with no yielding at all. Without one, the worker yields to its event loop between
 * slices (a `setTimeout(0)`, a few milliseconds) so that a `cancel` message can be handled. (A
 * message to itself would be quicker, but Deno then never delivers the host's messages.)
 *
 * Adapter: the only place besides `worker_pool.ts` that touches Worker APIs. Bad messages are
 * answered with an `error` reply, never thrown.
 *
 * @module
 */

import { betterResult, checkScanArgs, type ScanResult, scanWith } from "./scan.ts";
import { createNonceKernel, type KernelKind, type MinerKernel } from "./sha256_simd.ts";

/**
 * Jobs a worker holds waiting behind the running one; more are refused with an `error`.
 *
 * @example A bound
 * ```ts
 * import { MAX_QUEUED_JOBS } from "./hash_worker.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_QUEUED_JOBS, 64);
 * ```
 */
export const MAX_QUEUED_JOBS = 64;

/**
 * Default nonces per slice: about 10 ms of hashing on the SIMD kernel, the granularity of progress
 * (and of a `cancel` message when the job has no cancel flag).
 *
 * @example Slices of a million-nonce job
 * ```ts
 * import { DEFAULT_SLICE_SIZE } from "./hash_worker.ts";
 * import assert from "node:assert/strict";
 * assert.equal(Math.ceil(1_000_000 / DEFAULT_SLICE_SIZE), 8);
 * ```
 */
export const DEFAULT_SLICE_SIZE = 131072;

/**
 * A message to a worker: start a scan job, or cancel one (running or queued).
 */
export type WorkerRequest =
  | {
    readonly type: "scan";
    /** Chosen by the sender; echoed in every reply about this job. */
    readonly id: string;
    readonly data: string;
    /** First nonce, included: a decimal uint64. */
    readonly lower: string;
    /** Last nonce, included: a decimal uint64. */
    readonly upper: string;
    /** Nonces per slice. @default {DEFAULT_SLICE_SIZE} */
    readonly sliceSize?: number;
    /**
     * `[0]` non-zero cancels the job (read with `Atomics.load`); the sender owns resetting it
     * between jobs. @default {undefined}
     */
    readonly cancelFlag?: Int32Array;
    /** The kernel (`scanRange()`'s `kernel` option). @default {"auto"} */
    readonly kernel?: KernelKind;
  }
  | { readonly type: "cancel"; readonly id: string };

/**
 * A message from a worker. `progress` counts the job's nonces hashed so far (decimal); each job
 * ends with exactly one `result`, `cancelled` or `error`.
 */
export type WorkerReply =
  | { readonly type: "progress"; readonly id: string; readonly scanned: string }
  | { readonly type: "result"; readonly id: string; readonly hash: string; readonly nonce: string }
  | { readonly type: "cancelled"; readonly id: string }
  | { readonly type: "error"; readonly id: string; readonly message: string };

type ScanJob = Extract<WorkerRequest, { type: "scan" }>;

interface WorkerScope {
  onmessage: ((event: MessageEvent<unknown>) => void) | null;
  postMessage(message: WorkerReply): void;
}

const UINT64_TEXT = /^(0|[1-9][0-9]{0,19})$/;

/** Parses a decimal uint64 bound, or undefined. */
function parseBound(text: unknown): bigint | undefined {
  return typeof text === "string" && UINT64_TEXT.test(text) ? BigInt(text) : undefined;
}

/** Runs the job protocol on `scope` (a worker's global scope). */
function serve(scope: WorkerScope): void {
  const queue: ScanJob[] = [];
  let running: { id: string; cancelled: boolean } | undefined;
  /** The last job's kernel: the chunks of one request share their message, so it is reused. */
  let cached: { kernel: MinerKernel; kind: KernelKind } | undefined;
  const kernelFor = (data: string, kind: KernelKind): MinerKernel => {
    if (cached?.kernel.data !== data || cached.kind !== kind) {
      cached = { kernel: createNonceKernel(data, kind), kind };
    }
    return cached.kernel;
  };

  const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

  const runJob = async (job: ScanJob): Promise<void> => {
    const { id, data } = job;
    const lower = parseBound(job.lower), upper = parseBound(job.upper);
    const sliceSize = job.sliceSize ?? DEFAULT_SLICE_SIZE;
    if (lower === undefined || upper === undefined) {
      return scope.postMessage({ type: "error", id, message: "Cannot scan: bad bounds" });
    }
    if (!Number.isSafeInteger(sliceSize) || sliceSize < 1) {
      return scope.postMessage({ type: "error", id, message: "Cannot scan: bad slice size" });
    }
    const flag = job.cancelFlag;
    if (flag !== undefined && !(flag instanceof Int32Array && flag.length >= 1)) {
      return scope.postMessage({ type: "error", id, message: "Cannot scan: bad cancel flag" });
    }
    const kind = job.kernel ?? "auto";
    if (kind !== "auto" && kind !== "simd" && kind !== "js") {
      return scope.postMessage({ type: "error", id, message: "Cannot scan: bad kernel" });
    }
    let kernel: MinerKernel;
    try {
      checkScanArgs(data, lower, upper);
      kernel = kernelFor(data, kind);
    } catch (err) {
      return scope.postMessage({ type: "error", id, message: String(err) });
    }
    const state = { id, cancelled: false };
    running = state;
    const signal = flag === undefined ? { aborted: false } : {
      get aborted() {
        return Atomics.load(flag, 0) !== 0;
      },
    };
    const step = BigInt(sliceSize);
    let best: ScanResult | undefined;
    let from = lower;
    // One slice per pass: bounded by (upper - lower) / sliceSize + 1 passes.
    for (;;) {
      const to: bigint = upper - from < step ? upper : from + step - 1n;
      try {
        best = betterResult(best, scanWith(kernel, from, to, { signal }));
      } catch (err) {
        if (!signal.aborted) throw err;
        return scope.postMessage({ type: "cancelled", id });
      }
      if (to === upper) break;
      from = to + 1n;
      scope.postMessage({ type: "progress", id, scanned: String(from - lower) });
      if (flag === undefined) await yieldToEventLoop();
      if (state.cancelled || signal.aborted) return scope.postMessage({ type: "cancelled", id });
    }
    scope.postMessage({
      type: "result",
      id,
      hash: String(best.hash),
      nonce: String(best.nonce),
    });
  };

  let draining = false;
  const drain = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
      try {
        await runJob(job);
      } catch (err) {
        scope.postMessage({ type: "error", id: job.id, message: String(err) });
      }
      running = undefined;
    }
    draining = false;
  };

  scope.onmessage = (event) => {
    const msg = event.data as Partial<ScanJob> | Partial<WorkerRequest> | null;
    const id = typeof msg?.id === "string" ? msg.id : "";
    if (msg?.type === "scan" && typeof (msg as Partial<ScanJob>).data === "string") {
      if (queue.length >= MAX_QUEUED_JOBS) {
        return scope.postMessage({ type: "error", id, message: "Cannot queue: too many jobs" });
      }
      queue.push(msg as ScanJob);
      void drain();
    } else if (msg?.type === "cancel") {
      if (running?.id === id) return void (running.cancelled = true);
      const at = queue.findIndex((job) => job.id === id);
      if (at >= 0) {
        queue.splice(at, 1);
        scope.postMessage({ type: "cancelled", id });
      } // else: already finished; its final reply is on its way
    } else {
      scope.postMessage({ type: "error", id, message: "Cannot handle: unknown message" });
    }
  };
}

// Only inside a worker: importing this module elsewhere (type checks, docs) installs nothing.
const WorkerScopeClass = (globalThis as { WorkerGlobalScope?: abstract new () => unknown })
  .WorkerGlobalScope;
if (WorkerScopeClass !== undefined && globalThis instanceof WorkerScopeClass) {
  serve(globalThis as unknown as WorkerScope);
}
