import assert from "node:assert/strict";
import { MAX_NONCE } from "../../src/miner/hash.ts";
import { scanRange } from "../../src/miner/scan.ts";
import type { WorkerReply, WorkerRequest } from "../../src/miner/hash_worker.ts";
import { MAX_PENDING_SCANS, WorkerPool } from "../../src/miner/worker_pool_deno.ts";

const WORKER_URL = new URL("../../src/miner/hash_worker.ts", import.meta.url).href;

/** Settles with `promise`, or rejects after `ms` (the timer is always cleared). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("WorkerPool.scan() equals scanRange() on one and two workers", async () => {
  const cases: [string, bigint, bigint][] = [
    ["bradfitz", 0n, 9999n],
    ["bradfitz", 10000n, 19999n],
    ["msg", 0n, 2n],
    ["msg", 99990n, 100010n],
    ["héllo wörld ✓ 日本 🚀", 0n, 3000n],
    ["a".repeat(60), 2n ** 32n - 500n, 2n ** 32n + 500n],
    ["msg", MAX_NONCE - 700n, MAX_NONCE],
    ["msg", MAX_NONCE, MAX_NONCE],
  ];
  for (const size of [1, 2]) {
    // Small chunks and slices: many chunks per worker, merged out of order.
    const pool = new WorkerPool({ size, chunkSizeMax: 97, sliceSize: 13 });
    try {
      for (const [data, lower, upper] of cases) {
        const got = await within(pool.scan(data, lower, upper), 30_000, "scan");
        assert.deepEqual(got, scanRange(data, lower, upper), `${size}: ${data} ${lower}..${upper}`);
      }
      assert.equal(pool.busyWorkers, 0);
    } finally {
      pool.terminate();
    }
  }
});

Deno.test("WorkerPool.scan() answers overlapping scans each with its own result", async () => {
  const pool = new WorkerPool({ size: 2, chunkSizeMax: 500 });
  try {
    const [a, b, c] = await within(
      Promise.all([
        pool.scan("bradfitz", 0n, 9999n),
        pool.scan("6969395957072160278", 0n, 9999n),
        pool.scan("msg", 0n, 2n),
      ]),
      30_000,
      "scans",
    );
    assert.deepEqual(a, { hash: 1419516646206828n, nonce: 9898n });
    assert.deepEqual(b, { hash: 2565776525126096n, nonce: 1096n });
    assert.deepEqual(c, { hash: 4754799531757243342n, nonce: 1n });
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool keeps each worker's next chunk queued behind its current one", async () => {
  const pool = new WorkerPool({ size: 2 });
  try {
    let least = Infinity;
    const scan = pool.scan("msg", 0n, 2_999_999n, {
      onProgress: (scanned, total) => {
        // While much is left, a finished chunk is replaced at once: never fewer than 3 in flight.
        if (total - scanned > 1_000_000n) least = Math.min(least, pool.chunksInFlight);
      },
    });
    assert.equal(pool.chunksInFlight, 4);
    assert.deepEqual(await within(scan, 30_000, "scan"), scanRange("msg", 0n, 2_999_999n));
    assert.ok(least >= 3, `only ${least} chunks in flight`);
    assert.equal(pool.chunksInFlight, 0);
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool: cancelling a scan spares another scan's chunk queued behind it", async () => {
  const pool = new WorkerPool({ size: 1 });
  try {
    const controller = new AbortController();
    const first = pool.scan("msg", 0n, 50_000n, { signal: controller.signal });
    const second = pool.scan("bradfitz", 0n, 9999n);
    assert.equal(pool.chunksInFlight, 2); // one chunk each, on the same worker
    controller.abort(new Error("enough"));
    await assert.rejects(within(first, 30_000, "first"), /enough/);
    const got = await within(second, 30_000, "second");
    assert.deepEqual(got, { hash: 1419516646206828n, nonce: 9898n });
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool with the JavaScript kernel forced equals scanRange()", async () => {
  const pool = new WorkerPool({ size: 2, kernel: "js", chunkSizeMax: 5000 });
  try {
    const got = await within(pool.scan("a".repeat(60), 99_000n, 120_000n), 30_000, "scan");
    assert.deepEqual(got, scanRange("a".repeat(60), 99_000n, 120_000n, { kernel: "simd" }));
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool.scan() reports progress up to the whole range", async () => {
  const pool = new WorkerPool({ size: 2, chunkSizeMax: 2000, sliceSize: 500 });
  try {
    const seen: bigint[] = [];
    await within(
      pool.scan("msg", 0n, 19999n, {
        onProgress: (scanned, total) => {
          assert.equal(total, 20000n);
          seen.push(scanned);
        },
      }),
      30_000,
      "scan",
    );
    assert.ok(seen.length >= 10, `only ${seen.length} reports`);
    assert.equal(seen.at(-1), 20000n);
    assert.ok(seen.every((s, i) => s > 0n && s <= 20000n && (i === 0 || s >= seen[i - 1])));
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool.scan() stops every worker when its signal aborts", async () => {
  // One endless chunk per worker: only cancellation can end this scan.
  const pool = new WorkerPool({ size: 2, chunkSizeMax: 2 ** 52, sliceSize: 4096 });
  try {
    const controller = new AbortController();
    const reason = new Error("enough");
    let reports = 0;
    let abortedAt = 0;
    const scan = pool.scan("msg", 0n, MAX_NONCE, {
      signal: controller.signal,
      onProgress: () => {
        reports++;
        if (reports === 4) {
          abortedAt = performance.now();
          controller.abort(reason);
        }
      },
    });
    await assert.rejects(within(scan, 20_000, "cancelled scan"), (err) => err === reason);
    const stopMs = performance.now() - abortedAt;
    assert.equal(pool.busyWorkers, 0);
    assert.ok(stopMs < 5000, `took ${stopMs} ms to stop`);
    const reportsAtStop = reports;
    await sleep(200);
    assert.equal(reports, reportsAtStop, "progress after the scan settled");
    // The workers are free again: a new scan gets the whole pool.
    const next = await within(pool.scan("bradfitz", 0n, 9999n), 30_000, "next scan");
    assert.deepEqual(next, { hash: 1419516646206828n, nonce: 9898n });
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool.scan() rejects with the error its progress callback throws", async () => {
  const pool = new WorkerPool({ size: 2, chunkSizeMax: 2 ** 52, sliceSize: 4096 });
  try {
    const oops = new Error("callback bug");
    const scan = pool.scan("msg", 0n, MAX_NONCE, {
      onProgress: () => {
        throw oops;
      },
    });
    await assert.rejects(within(scan, 20_000, "failing scan"), (err) => err === oops);
    assert.equal(pool.busyWorkers, 0);
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool.scan() rejects at once when the signal is already aborted", async () => {
  const pool = new WorkerPool({ size: 1 });
  try {
    const reason = new Error("before");
    await assert.rejects(
      pool.scan("msg", 0n, 2n, { signal: AbortSignal.abort(reason) }),
      (err) => err === reason,
    );
    assert.equal(pool.busyWorkers, 0);
  } finally {
    pool.terminate();
  }
});

Deno.test("WorkerPool.terminate() rejects scans in flight and later scans", async () => {
  const pool = new WorkerPool({ size: 2, chunkSizeMax: 2 ** 52 });
  const scan = pool.scan("msg", 0n, MAX_NONCE);
  pool.terminate();
  await assert.rejects(scan, /terminated/);
  await assert.rejects(pool.scan("msg", 0n, 2n), /terminated/);
  assert.equal(pool.busyWorkers, 0);
  pool.terminate();
});

Deno.test("WorkerPool.scan() refuses a scan beyond MAX_PENDING_SCANS in flight", async () => {
  const pool = new WorkerPool({ size: 1, chunkSizeMax: 2 ** 52 });
  const pending: Promise<unknown>[] = [];
  try {
    for (let i = 0; i < MAX_PENDING_SCANS; i++) {
      pending.push(pool.scan("msg", 0n, MAX_NONCE).catch((err) => err));
    }
    await assert.rejects(pool.scan("msg", 0n, 2n), RangeError);
  } finally {
    pool.terminate();
  }
  for (const err of await Promise.all(pending)) assert.match(String(err), /terminated/);
});

Deno.test("WorkerPool rejects bad options and bad scan arguments", () => {
  assert.throws(() => new WorkerPool({ size: 0 }), RangeError);
  assert.throws(() => new WorkerPool({ size: 1.5 }), RangeError);
  assert.throws(() => new WorkerPool({ sliceSize: 0 }), RangeError);
  assert.throws(() => new WorkerPool({ chunkSizeMax: -1 }), RangeError);
  const pool = new WorkerPool({ size: 1 });
  try {
    assert.throws(() => pool.scan("msg", 3n, 2n), RangeError);
    assert.throws(() => pool.scan("msg", 0n, MAX_NONCE + 1n), RangeError);
    assert.throws(() => pool.scan("msg", 0 as unknown as bigint, 2n), TypeError);
  } finally {
    pool.terminate();
  }
});

/** A raw worker on worker.ts and its replies, for the message protocol itself. */
function rawWorker() {
  const worker = new Worker(WORKER_URL, { type: "module" });
  const replies: WorkerReply[] = [];
  const waiters: (() => void)[] = [];
  worker.onmessage = (event: MessageEvent<WorkerReply>) => {
    replies.push(event.data);
    for (const wake of waiters.splice(0)) wake();
  };
  const send = (msg: WorkerRequest | Record<string, unknown>) => worker.postMessage(msg);
  /** Waits for the first reply matching `match`. */
  const next = async (match: (r: WorkerReply) => boolean): Promise<WorkerReply> => {
    for (let i = 0; i < 10_000; i++) {
      const found = replies.find(match);
      if (found) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    throw new Error("too many replies");
  };
  return { worker, replies, send, next };
}

Deno.test("worker.ts answers a scan job with the scanRange() result", async () => {
  const w = rawWorker();
  try {
    w.send({ type: "scan", id: "a", data: "bradfitz", lower: "0", upper: "9999", sliceSize: 999 });
    const reply = await within(w.next((r) => r.type !== "progress"), 30_000, "result");
    assert.deepEqual(reply, { type: "result", id: "a", hash: "1419516646206828", nonce: "9898" });
    const progress = w.replies.filter((r) => r.type === "progress");
    assert.equal(progress.length, 10); // after each of the 11 slices but the last
  } finally {
    w.worker.terminate();
  }
});

Deno.test("worker.ts stops a job on a cancel message when it has no cancel flag", async () => {
  const w = rawWorker();
  try {
    w.send({ type: "scan", id: "big", data: "msg", lower: "0", upper: String(MAX_NONCE) });
    w.send({ type: "scan", id: "queued", data: "msg", lower: "0", upper: "2" });
    await within(w.next((r) => r.type === "progress"), 30_000, "progress");
    w.send({ type: "cancel", id: "queued" });
    w.send({ type: "cancel", id: "big" });
    const first = await within(w.next((r) => r.id === "queued"), 30_000, "queued");
    assert.deepEqual(first, { type: "cancelled", id: "queued" });
    const big = await within(w.next((r) => r.id === "big" && r.type !== "progress"), 30_000, "big");
    assert.deepEqual(big, { type: "cancelled", id: "big" });
  } finally {
    w.worker.terminate();
  }
});

Deno.test("worker.ts stops a job mid-slice when its shared cancel flag is set", async () => {
  const w = rawWorker();
  try {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    // One slice spanning the whole range: only the flag, checked inside scanRange(), can stop it.
    w.send({
      type: "scan",
      id: "f",
      data: "msg",
      lower: "0",
      upper: String(MAX_NONCE),
      sliceSize: Number.MAX_SAFE_INTEGER,
      cancelFlag: flag,
    });
    await sleep(300);
    Atomics.store(flag, 0, 1);
    const reply = await within(w.next((r) => r.id === "f"), 30_000, "cancelled");
    assert.deepEqual(reply, { type: "cancelled", id: "f" });
  } finally {
    w.worker.terminate();
  }
});

Deno.test("worker.ts answers bad jobs with an error reply and keeps serving", async () => {
  const w = rawWorker();
  try {
    w.send({ type: "scan", id: "rev", data: "msg", lower: "3", upper: "2" });
    w.send({ type: "scan", id: "neg", data: "msg", lower: "-1", upper: "2" });
    w.send({ type: "scan", id: "big", data: "msg", lower: "0", upper: "18446744073709551616" });
    w.send({ type: "scan", id: "sl", data: "msg", lower: "0", upper: "2", sliceSize: 0 });
    w.send({ type: "scan", id: "kn", data: "msg", lower: "0", upper: "2", kernel: "gpu" });
    w.send({ type: "bogus", id: "x" });
    w.send({ type: "scan", id: "ok", data: "msg", lower: "0", upper: "2" });
    await within(w.next((r) => r.id === "ok"), 30_000, "ok");
    for (const id of ["rev", "neg", "big", "sl", "kn", "x"]) {
      assert.equal(w.replies.find((r) => r.id === id)?.type, "error", id);
    }
    assert.deepEqual(w.replies.find((r) => r.id === "ok"), {
      type: "result",
      id: "ok",
      hash: "4754799531757243342",
      nonce: "1",
    });
  } finally {
    w.worker.terminate();
  }
});
