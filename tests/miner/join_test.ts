// A node joining another node's mining pool (issue 14, item 1): `services.miner.join` /
// `--join-miner`, the backoff between attempts, and rejoining a server that comes back.
import assert from "node:assert/strict";
import { joinBackoff, joinPool, type RunMinerOptions } from "../../src/miner/mod.ts";
import type { MinerOutcome, MinerServiceStatus } from "../../src/miner/mod.ts";
import { listenMiner, minerService, requestMinimum } from "../../src/miner/mod.ts";
import { scanRange } from "../../src/miner/scan.ts";
import { startNode } from "../../src/node/mod.ts";
import { ServiceSettingsError } from "../../src/node/mod.ts";
import { serviceLogger } from "../../src/util/mod.ts";
import { setupLogging } from "../../src/util/log_deno.ts";

setupLogging({ level: "error", write: () => {} });

/** Fast LSP epochs, so a lost server is noticed in about a second. */
const FAST = { epochMillis: 100, epochLimit: 8 };

Deno.test("join settings: HOST:PORT and 1..256 workers, anything else named", () => {
  const check = (settings: Record<string, unknown>) => {
    try {
      minerService.checkSettings!(settings);
      return "ok";
    } catch (err) {
      assert.ok(err instanceof ServiceSettingsError);
      return err.setting;
    }
  };
  assert.equal(check({ join: "lab0:9999", workers: 4 }), "ok");
  assert.equal(check({ join: "[::1]:9999" }), "ok");
  assert.equal(check({ join: "lab0" }), "join");
  assert.equal(check({ join: "lab0:99999" }), "join");
  assert.equal(check({ join: 9999 }), "join");
  assert.equal(check({ workers: 0 }), "workers");
  assert.equal(check({ workers: 1.5 }), "workers");
  assert.equal(check({ workers: 257 }), "workers");
  assert.deepEqual(minerService.flags?.map((f) => [f.name, f.setting]), [["join-miner", "join"]]);
});

Deno.test("joinBackoff doubles from the first wait up to the longest", () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 40].map((n) => joinBackoff(n, 1000, 30_000)),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
});

Deno.test("joinPool retries with backoff, resets it after a join that held, stops on abort", async () => {
  const stop = new AbortController();
  let clock = 0;
  const waits: number[] = [];
  // unreachable, unreachable, joined 5 s then lost, unreachable, joined 90 s then lost, then stop
  const script: { joinFor?: number; outcome: MinerOutcome }[] = [
    { outcome: { reason: "unreachable", served: 0, detail: "no answer", busyMillis: 0 } },
    { outcome: { reason: "unreachable", served: 0, detail: "no answer", busyMillis: 0 } },
    { joinFor: 5_000, outcome: { reason: "lost", served: 3, detail: "", busyMillis: 0 } },
    { outcome: { reason: "unreachable", served: 0, detail: "no answer", busyMillis: 0 } },
    { joinFor: 90_000, outcome: { reason: "lost", served: 7, detail: "", busyMillis: 0 } },
  ];
  const seen: string[] = [];
  const run = (hostport: string, options: RunMinerOptions): Promise<MinerOutcome> => {
    seen.push(hostport);
    const step = script.shift();
    if (!step) {
      stop.abort();
      return Promise.resolve({ reason: "stopped", served: 0, detail: "aborted", busyMillis: 0 });
    }
    if (step.joinFor !== undefined) {
      options.onJoined?.(1, () => 0);
      clock += step.joinFor;
    }
    return Promise.resolve(step.outcome);
  };
  const summary = await joinPool("lab0:9999", {
    signal: stop.signal,
    log: serviceLogger("miner"),
    run,
    sleep: (ms) => {
      waits.push(ms);
      clock += ms;
      return Promise.resolve();
    },
    now: () => clock,
  });
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 1000]);
  assert.deepEqual(summary, { joins: 2, served: 10 });
  assert.equal(seen.length, 6);
  assert.ok(seen.every((h) => h === "lab0:9999"));
});

Deno.test("a node with services.miner.join mines for another node's server", async () => {
  const stopA = new AbortController(), stopB = new AbortController();
  const a = await startNode({
    services: [minerService],
    hostname: "127.0.0.1",
    ports: { miner: 0 },
    settings: { miner: { params: FAST } },
    signal: stopA.signal,
  });
  const portA = a.services[0].listening[0].port;
  // B is the miner service alone, started as the node starts it, to read its status
  const b = await minerService.start({
    hostname: "127.0.0.1",
    port: 0,
    signal: stopB.signal,
    log: serviceLogger("miner"),
    settings: { params: FAST, join: `127.0.0.1:${portA}`, workers: 1 },
    dataDir: "unused",
    node: { startedAt: Date.now(), hostname: "127.0.0.1", disabled: [], services: () => [] },
  });
  try {
    // node A has no miner of its own: only B's joined miner can answer
    const r = await requestMinimum(`127.0.0.1:${portA}`, "lab", 20_000n, { params: FAST });
    const best = scanRange("lab", 0n, 20_000n);
    assert.deepEqual(r, { type: "result", hash: best.hash, nonce: best.nonce });
    const pool = (b.status?.() as MinerServiceStatus).pool;
    assert.deepEqual(pool, {
      server: `127.0.0.1:${portA}`,
      workers: 1,
      joined: true,
      joins: 1,
      served: 0, // counted when a join ends
    });
  } finally {
    stopB.abort();
    await b.closed;
    stopA.abort();
    await a.closed;
  }
});

Deno.test("joinPool rejoins a server that went away and came back on the same port", async () => {
  const first = listenMiner(0, { hostname: "127.0.0.1", params: FAST });
  const port = first.port;
  const stop = new AbortController();
  let joins = 0;
  let joinedAgain: () => void = () => {};
  const rejoined = new Promise<void>((r) => joinedAgain = r);
  const joined = joinPool(`127.0.0.1:${port}`, {
    workers: 1,
    params: FAST,
    signal: stop.signal,
    log: serviceLogger("miner"),
    backoffMs: 50,
    maxBackoffMs: 200,
    run: async (hostport, options) => {
      const { runMiner } = await import("../../src/miner/mod.ts");
      return runMiner(hostport, {
        ...options,
        onJoined: (id, busy) => {
          options.onJoined?.(id, busy);
          if (++joins === 2) joinedAgain();
        },
      });
    },
  });
  let second: ReturnType<typeof listenMiner> | undefined;
  try {
    const r1 = await requestMinimum(`127.0.0.1:${port}`, "one", 5_000n, { params: FAST });
    assert.equal(r1.type, "result");
    first.closeNow();
    await first.done;
    await new Promise((r) => setTimeout(r, 300)); // the miner notices (or not yet): either way
    second = listenMiner(port, { hostname: "127.0.0.1", params: FAST });
    await rejoined;
    const r2 = await requestMinimum(`127.0.0.1:${port}`, "two", 5_000n, { params: FAST });
    const best = scanRange("two", 0n, 5_000n);
    assert.deepEqual(r2, { type: "result", hash: best.hash, nonce: best.nonce });
  } finally {
    stop.abort();
    const summary = await joined;
    assert.ok(summary.joins >= 2);
    second?.closeNow();
    await second?.done;
  }
});
