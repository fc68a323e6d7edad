/**
 * The miner server, an honest miner and clients in this process over real LSP on 127.0.0.1:
 *
 * - hostile input (spec `miner.md` §2.3, §8.7): a fake miner and fake clients send malformed,
 *   out-of-range, mistyped and role-breaking messages and wrong Results. Each must be logged and
 *   dropped; the server, the hostile connections and everyone else carry on, and honest clients
 *   still get exact Results;
 * - the progress extension: Progress messages go to the client that asked, and only to it;
 * - a miner answering its chunks in reverse order: every Result is matched, every client served.
 */
import assert from "node:assert/strict";
import { connect, type LspClient } from "../../src/lsp/client_deno.ts";
import { requestMinimum } from "../../src/miner/client_deno.ts";
import {
  decodeMessage,
  encodeMessage,
  joinMessage,
  requestMessage,
  resultMessage,
} from "../../src/miner/message.ts";
import { runMiner } from "../../src/miner/miner_deno.ts";
import { scanRange } from "../../src/miner/scan.ts";
import { listenMiner } from "../../src/miner/server_deno.ts";
import { serviceLogger, setupLogging } from "../../src/util/log_deno.ts";

const HOST = "127.0.0.1";
const enc = new TextEncoder();

/** Settles like `promise`, or rejects after `ms` (the timer is always cleared). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `cond()` holds (polled every 10 ms), or rejects after 30 s. */
async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`Timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Payloads no decoder may accept (each is logged as `badMessage`). */
const UNDECODABLE: Uint8Array[] = [
  Uint8Array.of(0xff, 0xfe, 0x00, 0x7b),
  enc.encode(""),
  enc.encode("not json"),
  enc.encode("null"),
  enc.encode('"a string"'),
  enc.encode("[".repeat(490) + "]".repeat(490)),
  enc.encode("{".repeat(1000)),
  enc.encode('{"Type":2,"Hash":-1,"Nonce":0}'),
  enc.encode('{"Type":2,"Hash":1e3,"Nonce":0}'),
  enc.encode('{"Type":2,"Hash":1.5,"Nonce":0}'),
  enc.encode('{"Type":2,"Hash":18446744073709551616,"Nonce":0}'),
  enc.encode('{"Type":2,"Hash":"1","Nonce":0}'),
  enc.encode('{"Type":"2"}'),
  enc.encode('{"Type":9}'),
  enc.encode('{"Type":-1}'),
  enc.encode('{"Type":1,"Data":5,"Lower":0,"Upper":1}'),
  enc.encode('{"Type":2} trailing'),
  enc.encode('\ufeff{"Type":0}'),
];

/** Valid messages a miner may not send (each is logged as `unexpectedMessage`). */
const MINER_MISCONDUCT: Uint8Array[] = [
  encodeMessage(joinMessage()), // a second Join
  enc.encode('{"__proto__":{"Type":2},"type":0}'), // another Join, in disguise
  encodeMessage(requestMessage("x", 0n, 5n)), // a Request from a miner
  enc.encode('{"Type":3,"Lower":0,"Upper":9,"Searched":1}'), // a Progress from a miner
];

function codes(lines: string[]): string[] {
  return lines.map((l) => JSON.parse(l).properties?.code).filter((c) => c !== undefined);
}

function count(list: string[], code: string): number {
  return list.filter((c) => c === code).length;
}

Deno.test("listenMiner() logs and drops hostile JSON from a fake miner and fake clients while real clients get exact Results", async () => {
  const lines: string[] = [];
  setupLogging({ level: "debug", format: "json", write: (l) => lines.push(l) });
  const server = listenMiner(0, { hostname: HOST, log: serviceLogger("miner") });
  const hostport = `${HOST}:${server.port}`;
  const stopMiner = new AbortController();
  const open: LspClient[] = [];
  let miner: ReturnType<typeof runMiner> | undefined;
  try {
    // An honest miner (one worker) and a hostile one.
    let joined: (id: number) => void = () => {};
    const minerJoined = new Promise<number>((resolve) => joined = resolve);
    miner = runMiner(hostport, {
      workers: 1,
      signal: stopMiner.signal,
      log: serviceLogger("honest-miner"),
      onJoined: joined,
    });
    await within(minerJoined, 30_000, "the honest miner joins");
    const fakeMiner = await connect(hostport);
    open.push(fakeMiner);
    fakeMiner.write(encodeMessage(joinMessage()));
    for (const p of [...UNDECODABLE, ...MINER_MISCONDUCT]) fakeMiner.write(p);
    // A Result before any work was given: nothing to match.
    fakeMiner.write(encodeMessage(resultMessage(1n, 1n)));
    // LSP delivers them one by one: wait until the server has seen them all, before any work.
    await waitFor(
      () =>
        server.stats().messagesDropped >= UNDECODABLE.length + MINER_MISCONDUCT.length &&
        server.stats().resultsRejected >= 1,
      "the fake miner's messages reach the server",
    );

    // A fake client: junk, a Result it may not send, then a valid Request it must get answered.
    const fakeClient = await connect(hostport);
    open.push(fakeClient);
    for (const p of UNDECODABLE.slice(0, 5)) fakeClient.write(p);
    fakeClient.write(encodeMessage(resultMessage(5n, 5n)));
    fakeClient.write(encodeMessage(requestMessage("bradfitz", 0n, 9999n)));
    fakeClient.write(enc.encode("{garbage after the Request"));

    // A fake client whose Request cannot be served (Lower > Upper): it is closed.
    const rejected = await connect(hostport);
    open.push(rejected);
    rejected.write(enc.encode('{"Type":1,"Data":"x","Lower":9,"Upper":1,"Hash":0,"Nonce":0}'));

    // A real client. The hostile miner takes chunks of its request and answers them wrongly:
    // a wrong hash, then a nonce outside the chunk. The honest miner ends up doing the work.
    const data = `hostile-${crypto.randomUUID()}`;
    const answer = requestMinimum(hostport, data, 99_999n);
    const job = decodeMessage(await within(fakeMiner.read(), 30_000, "a chunk for the fake miner"));
    assert.equal(job?.type, "request");
    if (job?.type !== "request") return;
    fakeMiner.write(encodeMessage(resultMessage(1n, job.lower))); // wrong hash for that nonce
    fakeMiner.write(encodeMessage(resultMessage(1n, job.upper + 1_000_000n))); // outside

    const outcome = await within(answer, 60_000, "the real client's Result");
    const best = scanRange(data, 0n, 99_999n);
    assert.deepEqual(outcome, { type: "result", hash: best.hash, nonce: best.nonce });

    // The hostile client still got its own answer.
    let own;
    for (let i = 0; i < 10; i++) {
      own = decodeMessage(await within(fakeClient.read(), 30_000, "the fake client's Result"));
      if (own?.type === "result") break;
    }
    assert.deepEqual(own, { type: "result", hash: 1419516646206828n, nonce: 9898n });

    // The server still serves a new client after all that.
    const again = await within(requestMinimum(hostport, "msg", 2n), 30_000, "a second client");
    assert.deepEqual(again, { type: "result", hash: 4754799531757243342n, nonce: 1n });

    // Everything hostile was logged and dropped.
    const stats = server.stats();
    const logged = codes(lines);
    const undecodable = UNDECODABLE.length + 5 + 1;
    assert.ok(
      count(logged, "badMessage") >= undecodable,
      `badMessage: ${count(logged, "badMessage")}`,
    );
    assert.ok(
      count(logged, "unexpectedMessage") >= MINER_MISCONDUCT.length + 1,
      `unexpectedMessage: ${count(logged, "unexpectedMessage")}`,
    );
    assert.ok(stats.messagesDropped >= undecodable + MINER_MISCONDUCT.length + 1);
    assert.equal(count(logged, "requestRejected"), 1);
    assert.equal(stats.requestsRejected, 1);
    assert.ok(stats.resultsRejected >= 3, `resultsRejected: ${stats.resultsRejected}`);
    const rejectedResults = lines.filter((l) => JSON.parse(l).properties?.code === "resultRejected")
      .map((l) => JSON.parse(l).properties.message as string);
    assert.ok(rejectedResults.some((m) => /is not the hash of nonce/.test(m)), "wrong hash");
    assert.ok(rejectedResults.some((m) => /in none of the chunks held/.test(m)), "nonce outside");
    assert.ok(rejectedResults.some((m) => /no work given/.test(m)), "no work given");
    assert.equal(stats.requestsCompleted, 3);
    // Start, end and hash rate of each request were logged.
    assert.ok(lines.some((l) => /started: 100000 nonces/.test(l)), "request start");
    assert.ok(lines.some((l) => /100000 nonces in .* nonces\/s/.test(l)), "request end and rate");
  } finally {
    stopMiner.abort();
    const outcome = await miner;
    assert.ok(outcome === undefined || outcome.reason === "stopped");
    for (const c of open) {
      await within(c.close().catch(() => {}), 15_000, "closing a fake peer").catch(() => {});
    }
    server.closeNow();
    await server.done;
    for (const c of open) await c.done;
    setupLogging();
  }
});

Deno.test("listenMiner() sends Progress messages only to the client that asked for them", async () => {
  const lines: string[] = [];
  setupLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
  // Small chunks and no minimum interval: a Progress after every chunk but the last.
  const server = listenMiner(0, {
    hostname: HOST,
    log: serviceLogger("miner"),
    scheduler: {
      progressIntervalMillis: 0,
      minChunkNonces: 2000,
      initialChunkNonces: 2000,
      maxChunkNonces: 20_000,
      targetChunkMillis: 20,
    },
  });
  const hostport = `${HOST}:${server.port}`;
  const stopMiner = new AbortController();
  let miner: ReturnType<typeof runMiner> | undefined;
  let plain: LspClient | undefined;
  try {
    let joined: (id: number) => void = () => {};
    const minerJoined = new Promise<number>((resolve) => joined = resolve);
    miner = runMiner(hostport, { workers: 1, signal: stopMiner.signal, onJoined: joined });
    await within(minerJoined, 30_000, "the miner joins");

    // A reference-style client: the plain Request; it must receive the Result and nothing else.
    plain = await connect(hostport);
    plain.write(encodeMessage(requestMessage("plain", 0n, 199_999n)));
    const plainGot = (async () => {
      const got = [];
      for (;;) {
        const m = decodeMessage(await plain!.read());
        got.push(m);
        if (m?.type === "result") return got;
      }
    })();

    const upper = 299_999n;
    const progress: { lower: bigint; upper: bigint; searched: bigint; hash: bigint }[] = [];
    const outcome = await within(
      requestMinimum(hostport, "with progress", upper, { onProgress: (p) => progress.push(p) }),
      60_000,
      "the Result for the client that asked for progress",
    );
    const best = scanRange("with progress", 0n, upper);
    assert.deepEqual(outcome, { type: "result", hash: best.hash, nonce: best.nonce });
    assert.ok(progress.length >= 2, `only ${progress.length} Progress message(s)`);
    for (const [i, p] of progress.entries()) {
      assert.equal(p.lower, 0n);
      assert.equal(p.upper, upper);
      assert.ok(p.searched > 0n && p.searched < upper + 1n, `searched ${p.searched}`);
      assert.ok(p.hash >= best.hash, "the best so far is never better than the final best");
      if (i > 0) assert.ok(p.searched > progress[i - 1].searched, "searched only grows");
    }

    const got = await within(plainGot, 60_000, "the plain client's Result");
    const plainBest = scanRange("plain", 0n, 199_999n);
    assert.deepEqual(got, [{ type: "result", hash: plainBest.hash, nonce: plainBest.nonce }]);
    assert.ok(server.stats().progressSent >= progress.length);
    assert.ok(lines.some((l) => /0\.\.299999 started: 300000 nonces of .*, with progress/.test(l)));
  } finally {
    stopMiner.abort();
    await miner;
    if (plain) {
      await within(plain.close().catch(() => {}), 15_000, "closing").catch(() => {});
      await plain.done;
    }
    server.closeNow();
    await server.done;
    setupLogging();
  }
});

Deno.test("listenMiner() serves every client when its only miner answers each pair of chunks in reverse", async () => {
  const lines: string[] = [];
  setupLogging({ level: "info", format: "json", write: (l) => lines.push(l) });
  const server = listenMiner(0, {
    hostname: HOST,
    log: serviceLogger("miner"),
    scheduler: { minChunkNonces: 2000, initialChunkNonces: 2000, maxChunkNonces: 5000 },
  });
  const hostport = `${HOST}:${server.port}`;
  const drop = new AbortController();
  const miner = await connect(hostport, { signal: drop.signal });
  let answered = 0;
  let reader: Promise<void> | undefined;
  try {
    miner.write(encodeMessage(joinMessage()));
    // Holds a Request until a second one comes (or 300 ms pass), then answers the newest first.
    const held: { data: string; lower: bigint; upper: bigint }[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      clearTimeout(timer);
      for (const m of held.splice(0).reverse()) {
        const best = scanRange(m.data, m.lower, m.upper);
        miner.write(encodeMessage(resultMessage(best.hash, best.nonce)));
        answered++;
      }
    };
    reader = (async () => {
      try {
        for (;;) {
          const m = decodeMessage(await miner.read());
          if (m?.type !== "request") continue;
          held.push(m);
          if (held.length >= 2) flush();
          else timer = setTimeout(flush, 300);
        }
      } catch {
        clearTimeout(timer); // the connection is gone: the test is over
      }
    })();
    const jobs: [string, bigint][] = [["reverse-a", 29_999n], ["reverse-b", 14_999n]];
    const outcomes = await within(
      Promise.all(jobs.map(([data, max]) => requestMinimum(hostport, data, max))),
      60_000,
      "every client's Result",
    );
    for (const [i, [data, max]] of jobs.entries()) {
      const best = scanRange(data, 0n, max);
      assert.deepEqual(outcomes[i], { type: "result", hash: best.hash, nonce: best.nonce }, data);
    }
    assert.ok(answered >= 9, `${answered} chunks answered`);
    assert.equal(server.stats().resultsRejected, 0, lines.join(""));
    assert.equal(server.stats().requestsCompleted, 2);
  } finally {
    drop.abort();
    await reader;
    await miner.done.catch(() => {});
    server.closeNow();
    await server.done;
    setupLogging();
  }
});
