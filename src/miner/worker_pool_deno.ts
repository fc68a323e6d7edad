/**
 * A pool of module workers (`hash_worker.ts`) that searches a nonce range on every core: the range is
 * cut lazily into chunks handed to whichever worker is free (a slow or busy core simply takes
 * fewer; chunks shrink as the range runs out, so that the workers finish together), each worker
 * holds its next chunk queued behind its current one (it never waits for the host between
 * chunks), and the chunk results merge with the rule of {@linkcode betterResult} — smaller hash,
 * then smaller nonce — so the answer equals `scanRange()` on one thread.
 *
 * Adapter: it owns the workers. `terminate()` stops all of them; cancelling a scan stops its
 * chunks within one slice, and the scan settles only once no worker is still working on it.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { betterResult, checkScanArgs, type ScanResult } from "./scan.ts";
import { DEFAULT_SLICE_SIZE, type WorkerReply, type WorkerRequest } from "./hash_worker.ts";
import type { KernelKind } from "./sha256_simd.ts";

/**
 * The worker module next to this one: `hash_worker.ts` from source (and in a compiled executable), or
 * `bitclone-worker.js` beside a bundle made by `deno task bundle` (which bundles it separately).
 */
function workerUrl(here: string): string {
  const name = here.endsWith(".ts") ? "./hash_worker.ts" : "./bitclone-worker.js";
  return new URL(name, here).href;
}

/**
 * Options of {@linkcode WorkerPool}.
 *
 * @example Two workers
 * ```ts
 * import { WorkerPool } from "./worker_pool_deno.ts";
 * import assert from "node:assert/strict";
 * const pool = new WorkerPool({ size: 2 });
 * assert.equal(pool.size, 2);
 * pool.terminate();
 * assert.throws(() => new WorkerPool({ size: 0 }), RangeError);
 * ```
 */
export interface WorkerPoolOptions {
  /**
   * Number of workers, 1 … 256.
   *
   * @default {navigator.hardwareConcurrency}
   */
  size?: number;
  /**
   * Nonces a worker hashes between two progress reports / cancellation checks.
   *
   * @default {131072}
   */
  sliceSize?: number;
  /**
   * Most nonces handed to one worker at a time. Smaller chunks balance better over unequal
   * cores; a chunk is at most a 1 / (4 × size) share of what is left of the range (and at least
   * 65,536 nonces), so chunks shrink toward the end.
   *
   * @default {4194304}
   */
  chunkSizeMax?: number;
  /**
   * The kernel the workers hash with: WebAssembly SIMD where available (`"auto"`), or forced
   * (`"simd"`, `"js"`).
   *
   * @default {"auto"}
   */
  kernel?: KernelKind;
}

/**
 * Options of {@linkcode WorkerPool.scan}.
 */
export interface PoolScanOptions {
  /**
   * Cancels the scan: its chunks stop within one slice and the scan rejects with
   * `signal.reason` once every worker has let go of it.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Called as workers report progress: nonces hashed so far and in all. If it throws, the scan
   * stops and rejects with what it threw.
   *
   * @default {undefined}
   */
  onProgress?: (scanned: bigint, total: bigint) => void;
}

/** One scan in flight. */
interface ScanTask {
  readonly data: string;
  readonly upper: bigint;
  readonly total: bigint;
  /** Next nonce not yet handed out; above `upper` once all are. */
  cursor: bigint;
  /** Chunks on workers. */
  outstanding: number;
  /** Nonces of finished chunks. */
  finished: bigint;
  best: ScanResult | undefined;
  /** Why it stops early (aborted, failed, pool terminated), if it does. */
  failure: { reason: unknown } | undefined;
  readonly onProgress: ((scanned: bigint, total: bigint) => void) | undefined;
  readonly resolve: (result: ScanResult) => void;
  readonly reject: (reason: unknown) => void;
  readonly cleanup: () => void;
}

/** A chunk on a worker. */
interface Chunk {
  readonly id: string;
  readonly task: ScanTask;
  readonly size: bigint;
  /** Nonces of this chunk the worker reported done. */
  scanned: bigint;
  /** Shared with the worker: `[0]` non-zero cancels this chunk. */
  readonly cancelFlag: Int32Array;
}

interface Slot {
  readonly worker: Worker;
  /** Chunks sent to the worker, in its order: the first runs, the others wait in its queue. */
  chunks: Chunk[];
}

const MAX_WORKERS = 256;
/**
 * Scans in flight at once in one pool; more are refused (the miner runs one at a time).
 *
 * @example A bound
 * ```ts
 * import { MAX_PENDING_SCANS } from "./worker_pool_deno.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_PENDING_SCANS, 1024);
 * ```
 */
export const MAX_PENDING_SCANS = 1024;
const DEFAULT_CHUNK_SIZE_MAX = 4194304;
/** Chunks per worker a large range is cut into at least. */
const CHUNKS_PER_WORKER = 4;
/** Chunks a worker holds at once: the running one and the next, queued. */
const CHUNKS_IN_FLIGHT = 2;
/** Smallest chunk (unless `chunkSizeMax` is smaller): a few milliseconds of hashing. */
const CHUNK_SIZE_MIN = 65536n;

/**
 * A fixed set of module workers searching nonce ranges (spec §3.5: one per core, results merged).
 * Scans may overlap: chunks are handed out oldest scan first.
 *
 * @example Searching a range on two workers
 * ```ts
 * import { WorkerPool } from "./worker_pool_deno.ts";
 * import assert from "node:assert/strict";
 * const pool = new WorkerPool({ size: 2 });
 * try {
 *   const { hash, nonce } = await pool.scan("bradfitz", 0n, 9999n);
 *   assert.equal(hash, 1419516646206828n);
 *   assert.equal(nonce, 9898n);
 * } finally {
 *   pool.terminate();
 * }
 * ```
 */
export class WorkerPool {
  /** Number of workers. */
  readonly size: number;
  readonly #sliceSize: number;
  readonly #chunkSizeMax: bigint;
  readonly #kernel: KernelKind;
  readonly #slots: Slot[] = [];
  readonly #tasks: ScanTask[] = [];
  readonly #chunks = new Map<string, Chunk>();
  #nextId = 0;
  #terminated = false;

  /**
   * Starts the workers.
   *
   * @param options Pool size, slice and chunk sizes.
   * @throws {RangeError} When an option is out of range.
   *
   * @example One worker per core
   * ```ts
   * import { WorkerPool } from "./worker_pool_deno.ts";
   * import assert from "node:assert/strict";
   * const pool = new WorkerPool();
   * assert.equal(pool.size, navigator.hardwareConcurrency);
   * pool.terminate();
   * ```
   */
  constructor(options: WorkerPoolOptions = {}) {
    const {
      size = Math.max(1, navigator.hardwareConcurrency || 1),
      sliceSize = DEFAULT_SLICE_SIZE,
      chunkSizeMax = DEFAULT_CHUNK_SIZE_MAX,
      kernel = "auto",
    } = options;
    if (!Number.isInteger(size) || size < 1 || size > MAX_WORKERS) {
      throw new RangeError(`Cannot start the pool: size ${size} is not in 1..${MAX_WORKERS}`);
    }
    if (!Number.isSafeInteger(sliceSize) || sliceSize < 1) {
      throw new RangeError(`Cannot start the pool: sliceSize ${sliceSize} is not positive`);
    }
    if (!Number.isSafeInteger(chunkSizeMax) || chunkSizeMax < 1) {
      throw new RangeError(`Cannot start the pool: chunkSizeMax ${chunkSizeMax} is not positive`);
    }
    this.size = size;
    this.#sliceSize = sliceSize;
    this.#chunkSizeMax = BigInt(chunkSizeMax);
    this.#kernel = kernel;
    const url = workerUrl(import.meta.url);
    for (let i = 0; i < size; i++) {
      const slot: Slot = {
        worker: new Worker(url, { type: "module" }),
        chunks: [],
      };
      slot.worker.onmessage = (event: MessageEvent<WorkerReply>) => this.#onReply(slot, event.data);
      slot.worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        this.#fail(new Error(`Cannot scan: a worker failed: ${event.message}`));
      };
      slot.worker.onmessageerror = () => {
        this.#fail(new Error("Cannot scan: a worker reply could not be read"));
      };
      this.#slots.push(slot);
    }
  }

  /**
   * Workers currently holding a chunk.
   *
   * @example An idle pool
   * ```ts
   * import { WorkerPool } from "./worker_pool_deno.ts";
   * import assert from "node:assert/strict";
   * const pool = new WorkerPool({ size: 1 });
   * assert.equal(pool.busyWorkers, 0);
   * pool.terminate();
   * ```
   */
  get busyWorkers(): number {
    return this.#slots.filter((slot) => slot.chunks.length > 0).length;
  }

  /**
   * Chunks sent to workers and not finished yet: up to two per worker while a scan has work
   * left (the running one and the next, queued in the worker).
   *
   * @example Two chunks on the one worker of a long scan
   * ```ts
   * import { WorkerPool } from "./worker_pool_deno.ts";
   * import assert from "node:assert/strict";
   * const pool = new WorkerPool({ size: 1 });
   * const scan = pool.scan("msg", 0n, 2n ** 64n - 1n);
   * assert.equal(pool.chunksInFlight, 2);
   * pool.terminate();
   * await scan.catch(() => {});
   * ```
   */
  get chunksInFlight(): number {
    return this.#chunks.size;
  }

  /**
   * Finds the nonce in `lower … upper` (both included) with the smallest hash, the lowest on a
   * tie: the same answer as `scanRange()`, computed on all workers.
   *
   * @param data The message.
   * @param lower First nonce, included; a uint64.
   * @param upper Last nonce, included; a uint64.
   * @param options Cancellation and progress.
   * @returns The smallest hash and its nonce. Rejects with `signal.reason` when aborted (after
   *   every worker has stopped on it), with an `Error` when a worker fails or the pool is
   *   terminated, with a `RangeError` when {@linkcode MAX_PENDING_SCANS} scans are in flight.
   * @throws {TypeError} When `data` is not a string or a bound is not a bigint.
   * @throws {RangeError} When a bound is outside the uint64 range or `lower > upper`.
   *
   * @example Cancelling a scan that would never end
   * ```ts
   * import { WorkerPool } from "./worker_pool_deno.ts";
   * import assert from "node:assert/strict";
   * const pool = new WorkerPool({ size: 2 });
   * const controller = new AbortController();
   * const scan = pool.scan("msg", 0n, 2n ** 64n - 1n, { signal: controller.signal });
   * controller.abort();
   * await scan.catch(() => {});
   * assert.equal(pool.busyWorkers, 0);
   * pool.terminate();
   * ```
   */
  scan(
    data: string,
    lower: bigint,
    upper: bigint,
    options: PoolScanOptions = {},
  ): Promise<ScanResult> {
    checkScanArgs(data, lower, upper);
    const { signal, onProgress } = options;
    if (this.#terminated) {
      return Promise.reject(new Error("Cannot scan: the worker pool is terminated"));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#tasks.length >= MAX_PENDING_SCANS) {
      return Promise.reject(
        new RangeError(`Cannot scan: ${MAX_PENDING_SCANS} scans are already in flight`),
      );
    }
    const total = upper - lower + 1n;
    return new Promise<ScanResult>((resolve, reject) => {
      const onAbort = () => this.#stop(task, signal?.reason);
      const task: ScanTask = {
        data,
        upper,
        total,
        cursor: lower,
        outstanding: 0,
        finished: 0n,
        best: undefined,
        failure: undefined,
        onProgress,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#tasks.push(task);
      this.#dispatch();
    });
  }

  /**
   * Stops every worker at once and rejects the scans in flight. Idempotent; the pool cannot be
   * used afterwards.
   *
   * @example Terminating twice is harmless
   * ```ts
   * import { WorkerPool } from "./worker_pool_deno.ts";
   * import assert from "node:assert/strict";
   * const pool = new WorkerPool({ size: 1 });
   * pool.terminate();
   * assert.doesNotThrow(() => pool.terminate());
   * ```
   */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    for (const slot of this.#slots) {
      slot.worker.terminate();
      slot.chunks = [];
    }
    this.#chunks.clear();
    const error = new Error("Cannot scan: the worker pool is terminated");
    for (const task of this.#tasks.splice(0)) {
      task.cleanup();
      task.reject(task.failure?.reason ?? error);
    }
  }

  /**
   * Hands the next chunks of the oldest scan with work to the workers: first one to each idle
   * worker, then a second, queued behind the running one.
   */
  #dispatch(): void {
    for (let depth = 1; depth <= CHUNKS_IN_FLIGHT; depth++) {
      for (const slot of this.#slots) {
        if (slot.chunks.length >= depth) continue;
        const task = this.#tasks.find((t) => t.failure === undefined && t.cursor <= t.upper);
        if (task === undefined) return;
        this.#send(slot, task);
      }
    }
  }

  /**
   * Sends `slot` the next chunk of `task`: a share of what is left (a 1 / (4 × size) share,
   * between {@linkcode CHUNK_SIZE_MIN} and `chunkSizeMax`), so chunks shrink toward the end.
   */
  #send(slot: Slot, task: ScanTask): void {
    const lo = task.cursor;
    const left = task.upper - lo + 1n;
    const share = (left + BigInt(this.size * CHUNKS_PER_WORKER) - 1n) /
      BigInt(this.size * CHUNKS_PER_WORKER);
    const min = CHUNK_SIZE_MIN < this.#chunkSizeMax ? CHUNK_SIZE_MIN : this.#chunkSizeMax;
    const size = share < min ? min : share > this.#chunkSizeMax ? this.#chunkSizeMax : share;
    const hi = left <= size ? task.upper : lo + size - 1n;
    task.cursor = hi + 1n;
    task.outstanding++;
    const chunk: Chunk = {
      id: String(this.#nextId++),
      task,
      size: hi - lo + 1n,
      scanned: 0n,
      cancelFlag: new Int32Array(new SharedArrayBuffer(4)),
    };
    this.#chunks.set(chunk.id, chunk);
    slot.chunks.push(chunk);
    const request: WorkerRequest = {
      type: "scan",
      id: chunk.id,
      data: task.data,
      lower: String(lo),
      upper: String(hi),
      sliceSize: this.#sliceSize,
      cancelFlag: chunk.cancelFlag,
      kernel: this.#kernel,
    };
    slot.worker.postMessage(request);
  }

  #onReply(slot: Slot, reply: WorkerReply): void {
    const chunk = this.#chunks.get(reply?.id);
    const at = chunk === undefined ? -1 : slot.chunks.indexOf(chunk);
    if (chunk === undefined || at < 0) return; // stale: pool terminated or unknown
    const task = chunk.task;
    if (reply.type === "progress") {
      if (task.failure !== undefined) return;
      chunk.scanned = BigInt(reply.scanned);
      return this.#report(task);
    }
    // A final reply: the worker is free again.
    this.#chunks.delete(chunk.id);
    slot.chunks.splice(at, 1);
    task.outstanding--;
    if (reply.type === "result") {
      task.best = betterResult(task.best, { hash: BigInt(reply.hash), nonce: BigInt(reply.nonce) });
      task.finished += chunk.size;
      if (task.failure === undefined) this.#report(task);
    } else if (reply.type === "error") {
      this.#stop(task, new Error(reply.message));
    }
    this.#settle(task);
    this.#dispatch();
  }

  /** Calls `task.onProgress`; a callback that throws fails its scan instead of the process. */
  #report(task: ScanTask): void {
    let scanned = task.finished;
    for (const chunk of this.#chunks.values()) if (chunk.task === task) scanned += chunk.scanned;
    try {
      task.onProgress?.(scanned, task.total);
    } catch (err) {
      this.#stop(task, err);
    }
  }

  /** Stops handing out `task`'s chunks and cancels those on workers; it rejects once they stop. */
  #stop(task: ScanTask, reason: unknown): void {
    if (task.failure !== undefined || !this.#tasks.includes(task)) return;
    task.failure = { reason };
    for (const slot of this.#slots) {
      for (const chunk of slot.chunks) {
        if (chunk.task !== task) continue;
        Atomics.store(chunk.cancelFlag, 0, 1); // seen within checkEvery nonces, mid-slice
        const cancel: WorkerRequest = { type: "cancel", id: chunk.id };
        slot.worker.postMessage(cancel);
      }
    }
    this.#settle(task);
  }

  /** Resolves or rejects `task` once no worker holds a chunk of it and it cannot go on. */
  #settle(task: ScanTask): void {
    if (task.outstanding > 0) return;
    if (task.failure === undefined && task.cursor <= task.upper) return;
    const at = this.#tasks.indexOf(task);
    if (at < 0) return;
    this.#tasks.splice(at, 1);
    task.cleanup();
    if (task.failure !== undefined) return task.reject(task.failure.reason);
    assert(task.best !== undefined, "a finished scan has a best nonce");
    task.resolve(task.best);
  }

  /**
   * A worker broke (a bug: workers answer bad jobs with an `error` reply): its chunk will never
   * end, so every scan fails with `error` and the pool terminates.
   */
  #fail(error: Error): void {
    for (const task of this.#tasks) task.failure ??= { reason: error };
    this.terminate();
  }
}
