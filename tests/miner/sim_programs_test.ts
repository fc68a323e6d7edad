/**
 * The three miner programs on their production cores in the deterministic simulator: the server
 * core (`MinerServerCore`), miners (`MinerCore`) and request clients (`RequestCore`), over a lossy
 * network with a virtual clock (see `_sim_world.ts`). Miners join, leave, die mid-search and new
 * ones come; clients disconnect mid-job; connects that get no answer are retried on a fresh
 * socket, then given up; the server dies under its miners and clients.
 *
 * Replay a failing seed with `SIM_SEED=<seed> deno test --allow-read tests/miner/sim_programs_test.ts`.
 */
import assert from "node:assert/strict";
import { requestMessage } from "../../src/miner/message.ts";
import { simSeeds } from "../../src/sim/mod.ts";
import { minerChurnScenario, REPLAY } from "./_churn_scenario.ts";
import { type CoreMinerNode, lossFor, SCHED, SERVER, World } from "./_sim_world.ts";

/** The reference's LSP defaults: a silent peer is lost after K × δ. */
const K_TIMES_DELTA = 5 * 2000;
const EPOCH = 2000;

for (const seed of simSeeds([81, 82, 83, 84])) {
  Deno.test(`Miner programs: miners join, leave, die and come back, clients disconnect mid-job, with loss (seed ${seed})`, () => {
    minerChurnScenario(seed);
  });
}

for (const seed of simSeeds([91, 92, 93])) {
  Deno.test(`Miner programs: a miner and a client retry a connect that got no answer on a fresh socket (seed ${seed})`, () => {
    const w = new World(seed, 0, SCHED, REPLAY);
    // Nothing reaches the server for the first 11 s: the first attempts (K epochs, 10 s) fail.
    w.net.setMiddlebox((packet) => packet.time < 11_000 ? "drop" : undefined);
    w.miner(20_000);
    w.client(requestMessage("msg", 0n, 9_999n), 100);
    w.run(() => w.clients[0]?.done === true, 120_000);
    w.check();
    const [miner] = w.miners as CoreMinerNode[];
    const [client] = w.clients;
    assert.equal(miner.attempt, 2, w.explain("the miner did not retry once"));
    assert.equal(client.attempt, 2, w.explain("the client did not retry once"));
    assert.notEqual(w.addrOf.get(miner), undefined);
    assert.ok(
      miner.connId !== undefined && miner.ended === undefined,
      w.explain("miner"),
    );
    assert.deepEqual(client.outcome?.type, "result", w.explain("no Result"));
    assert.equal(w.stats.miners, 1);
  });
}

Deno.test("Miner programs: a miner and a client give up on a server that never answers", () => {
  const w = new World(95, 0, SCHED, REPLAY);
  w.net.setMiddlebox(() => "drop");
  w.miner(20_000);
  w.client(requestMessage("msg", 0n, 2n));
  const [miner] = w.miners as CoreMinerNode[];
  w.run(() => w.clients[0].done && miner.ended !== undefined, 300_000);
  // Each attempt lasts EpochLimit epochs: the miner tries 3 times, the client twice.
  assert.deepEqual(miner.ended, {
    reason: "unreachable",
    served: 0,
    detail: "no answer within 5 epochs, 3 times",
    at: 3 * K_TIMES_DELTA,
  });
  assert.equal(miner.attempt, 3);
  const [client] = w.clients;
  assert.deepEqual(client.outcome, {
    type: "disconnected",
    detail: `Cannot connect to ${SERVER}: no answer within 5 epochs`,
  });
  assert.equal(client.doneAt, 2 * K_TIMES_DELTA);
});

for (const seed of simSeeds([101, 102])) {
  Deno.test(`Miner programs: miners end and clients get Disconnected when the server dies mid-job (seed ${seed})`, () => {
    const w = new World(seed, lossFor(seed), SCHED, REPLAY);
    for (let i = 0; i < 3; i++) w.miner(20_000);
    w.client(requestMessage(`fake:${seed}:forever`, 0n, 2n ** 64n - 1n), 200);
    w.client(requestMessage(`fake:${seed}:long`, 0n, 10n ** 12n), 400);
    const diesAt = 6000;
    w.net.clock.setTimer(diesAt, () => w.net.remove(SERVER));
    const miners = w.miners as CoreMinerNode[];
    w.run(
      () =>
        w.clients.length === 2 && w.clients.every((c) => c.done) &&
        miners.every((m) => m.ended !== undefined),
      120_000,
    );
    for (const m of miners) {
      assert.equal(
        m.ended?.reason,
        "lost",
        w.explain("a miner did not see the loss"),
      );
      assert.match(m.ended!.detail, /^Cannot read: connection \d+ is lost$/);
      // Silent for K epochs after the last datagram heard, which came before the death.
      assert.ok(
        m.ended!.at <= diesAt + K_TIMES_DELTA + EPOCH,
        w.explain(`late: ${m.ended!.at}`),
      );
      assert.equal(
        m.current,
        undefined,
        "the search in progress was cancelled",
      );
    }
    for (const c of w.clients) {
      assert.equal(
        c.outcome?.type,
        "disconnected",
        w.explain("a client got an answer"),
      );
      assert.ok(
        c.doneAt! <= diesAt + K_TIMES_DELTA + EPOCH,
        w.explain(`late: ${c.doneAt}`),
      );
    }
  });
}
