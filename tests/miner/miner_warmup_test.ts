/**
 * `runMiner` warms its workers up before it connects: a fresh worker compiles the kernel on its
 * first search (tens of milliseconds, hundreds on a busy machine), which would otherwise slow the
 * first chunks of the first request and spoil the server's first speed samples.
 */
import assert from "node:assert/strict";
import { runMiner } from "../../src/miner/miner_deno.ts";
import { WorkerPool } from "../../src/miner/worker_pool_deno.ts";

Deno.test("runMiner() warms its workers up with a search done before it sends its Connect", async () => {
  const events: string[] = [];
  const scan = WorkerPool.prototype.scan;
  WorkerPool.prototype.scan = function (this: WorkerPool, ...args: Parameters<typeof scan>) {
    events.push("scan started");
    const done = scan.apply(this, args);
    done.then(() => events.push("scan done"), () => events.push("scan failed"));
    return done;
  };
  const server = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const stop = new AbortController();
  try {
    const { port } = server.addr as Deno.NetAddr;
    const miner = runMiner(`127.0.0.1:${port}`, { workers: 2, signal: stop.signal });
    await server.receive(); // the Connect
    events.push("Connect");
    stop.abort();
    assert.equal((await miner).reason, "stopped");
  } finally {
    WorkerPool.prototype.scan = scan;
    server.close();
  }
  assert.deepEqual(events.slice(0, 3), ["scan started", "scan done", "Connect"]);
});
