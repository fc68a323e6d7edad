/**
 * Our miner's core with a server pipelining Requests (issue 13, item 3): a Request that arrives
 * while a search runs is queued, not dropped, and the Results go back in order; the core counts
 * the time it spends searching (`busyMillis`, the miner's busy share in the benchmark).
 */
import assert from "node:assert/strict";
import { LspEndpoint } from "../../src/lsp/endpoint.ts";
import {
  decodeMessage,
  encodeMessage,
  type MinerMessage,
  requestMessage,
} from "../../src/miner/message.ts";
import { MinerCore, type MinerEvent, type MinerJob } from "../../src/miner/miner_core.ts";
import { Prng } from "../../src/util/prng.ts";

const SERVER = "S:1";
const MINER = "M:1";

/** A miner core and a bare LSP server endpoint, wired back to back without loss or delay. */
class Pair {
  readonly server = LspEndpoint.server({}, Prng.seeded(1));
  readonly miner = new MinerCore({
    serverAddr: SERVER,
    hostport: SERVER,
    prng: Prng.seeded(2),
    now: 0,
  });
  connId = 0;
  /** Messages the server received from the miner (Join, Results), in order. */
  readonly received: MinerMessage[] = [];
  readonly scans: MinerJob[] = [];
  readonly warnings: string[] = [];
  now = 0;

  constructor() {
    this.shuttle();
    assert.ok(this.connId > 0, "the miner did not connect");
  }

  /** Moves datagrams both ways until quiet, and takes both sides' events. */
  shuttle(): void {
    for (let moved = true; moved;) {
      moved = false;
      for (let t = this.miner.pollTransmit(); t; t = this.miner.pollTransmit()) {
        this.server.handleDatagram(MINER, t.bytes, this.now);
        moved = true;
      }
      for (let t = this.server.pollTransmit(); t; t = this.server.pollTransmit()) {
        this.miner.handleDatagram(SERVER, t.bytes, this.now);
        moved = true;
      }
    }
    for (let e = this.server.pollEvent(); e; e = this.server.pollEvent()) {
      if (e.type === "connected") this.connId = e.connId;
      if (e.type === "message") this.received.push(decodeMessage(e.payload)!);
    }
    for (let e: MinerEvent | undefined = this.miner.pollEvent(); e; e = this.miner.pollEvent()) {
      if (e.type === "scan") this.scans.push(e.job);
      if (e.type === "log" && e.level === "warn") this.warnings.push(e.message);
    }
  }

  request(lower: bigint, upper: bigint): void {
    this.server.write(this.connId, encodeMessage(requestMessage("msg", lower, upper)), this.now);
    this.shuttle();
  }

  scanned(job: MinerJob, hash: bigint, at: number): void {
    this.now = at;
    this.miner.handleScanned(job.id, hash, job.lower, at);
    this.shuttle();
  }

  results(): MinerMessage[] {
    return this.received.filter((m) => m.type === "result");
  }
}

Deno.test("MinerCore queues Requests that arrive while it searches and answers them in order", () => {
  const p = new Pair();
  assert.deepEqual(p.received.map((m) => m.type), ["join"]);
  p.request(0n, 9n);
  p.request(10n, 19n); // pipelined behind the first, as our server does
  p.request(20n, 29n);
  assert.deepEqual(p.scans.map((j) => j.lower), [0n], "one search at a time");
  assert.deepEqual(p.warnings, []);
  p.scanned(p.scans[0], 100n, 5);
  assert.deepEqual(p.scans.map((j) => j.lower), [0n, 10n], "the next starts at once");
  p.scanned(p.scans[1], 200n, 9);
  p.scanned(p.scans[2], 300n, 12);
  assert.deepEqual(
    p.results().map((m) => m.type === "result" ? [m.hash, m.nonce] : []),
    [[100n, 0n], [200n, 10n], [300n, 20n]],
    "one Result per Request, in the Requests' order",
  );
  assert.equal(p.miner.served, 3);
});

Deno.test("MinerCore counts the time it spends searching, not the time it waits", () => {
  const p = new Pair();
  p.now = 100;
  p.request(0n, 9n);
  assert.equal(p.miner.busyMillis(100), 0);
  assert.equal(p.miner.busyMillis(130), 30, "the search in progress counts up to now");
  p.request(10n, 19n);
  p.scanned(p.scans[0], 1n, 150); // 50 ms, and the queued one starts at once
  assert.equal(p.miner.busyMillis(150), 50);
  p.scanned(p.scans[1], 2n, 170); // 20 ms
  assert.equal(p.miner.busyMillis(1000), 70, "idle from 170 on");
  p.now = 2000;
  p.request(20n, 29n);
  p.scanned(p.scans[2], 3n, 2005);
  assert.equal(p.miner.busyMillis(3000), 75);
});

Deno.test("MinerCore counts a search cut short by the loss of the server until the loss", () => {
  const p = new Pair();
  p.now = 10;
  p.request(0n, 9n);
  // The server goes silent: the miner notices after EpochLimit (5) epochs of 2 s.
  for (let t = 2000; t <= 12_000; t += 2000) p.miner.handleTick(t);
  const events: MinerEvent[] = [];
  for (let e = p.miner.pollEvent(); e; e = p.miner.pollEvent()) events.push(e);
  assert.ok(events.some((e) => e.type === "cancel"), JSON.stringify(events));
  const ended = events.find((e) => e.type === "ended");
  assert.ok(ended?.type === "ended" && ended.reason === "lost");
  const busy = p.miner.busyMillis(20_000);
  assert.ok(busy > 0 && busy <= 12_000 - 10, `busy ${busy}`);
  assert.equal(p.miner.busyMillis(30_000), busy, "nothing counts after the end");
});
