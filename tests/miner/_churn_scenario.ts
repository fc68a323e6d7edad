/**
 * The miner programs' churn scenario, shared by `sim_programs_test.ts` (fixed seeds) and
 * `deno task sim` (random seeds): the production server core with miners that join, leave, die
 * mid-search and come back, clients that disconnect mid-job, and 5-10% loss. Throws when a check
 * fails.
 */
import assert from "node:assert/strict";
import { requestMessage } from "../../src/miner/message.ts";
import { type CoreMinerNode, lossFor, REAL_DATA, REAL_MAX, SCHED, World } from "./_sim_world.ts";

/** How to replay a seed. */
export const REPLAY = "deno test --allow-read tests/miner/sim_programs_test.ts";

/**
 * Runs the churn scenario for one seed.
 *
 * @returns The run's trace and a summary.
 */
export function minerChurnScenario(seed: number): { trace: string; summary: string } {
  const loss = lossFor(seed);
  const w = new World(seed, loss, SCHED, REPLAY);
  const p = w.root.fork();
  for (let i = 0; i < 3; i++) {
    w.miner(10_000 + p.int(0, 10_000), p.int(0, 1000));
  }
  let dying: CoreMinerNode | undefined, leaving: CoreMinerNode | undefined;
  w.miner(15_000, 0, (m) => { // dies (kill -9) in the middle of a search
    dying = m;
    m.dieInChunk = p.int(2, 4);
    m.dieFraction = 0.2 + 0.6 * p.float();
  });
  w.miner(15_000, 0, (m) => leaving = m); // stopped (Ctrl-C) a few seconds in
  const leaveAt = p.int(3000, 6000);
  w.net.clock.setTimer(leaveAt, () => leaving!.vanish());
  // New miner processes come later, each on a fresh socket.
  w.miner(15_000, p.int(12_000, 16_000));
  w.miner(15_000, p.int(18_000, 24_000));
  const requests = 4;
  for (let i = 0; i < requests - 1; i++) {
    w.client(
      requestMessage(
        `fake:${seed}:job${i}`,
        0n,
        BigInt(p.int(300_000_000, 900_000_000)),
      ),
      p.int(0, 8000),
    );
  }
  const data = REAL_DATA[p.int(0, REAL_DATA.length - 1)];
  w.client(requestMessage(data, 0n, BigInt(REAL_MAX)), p.int(0, 8000));
  // Two clients go away in the middle of their (huge) jobs.
  const gone = [`fake:${seed}:gone0`, `fake:${seed}:gone1`];
  for (const d of gone) {
    w.client(
      requestMessage(d, 0n, 10n ** 13n),
      p.int(0, 2000),
      p.int(4000, 9000),
    );
  }
  // A miner that went is noticed as lost by the server; one that went before its Connect was
  // answered never joined (at 10 % loss that can happen), and there is nothing to notice.
  const noticedGone = (m: CoreMinerNode | undefined) =>
    m !== undefined && (m.connId === undefined || w.server.lostAt.has(m.connId));
  w.run(
    () =>
      w.clients.length === requests + gone.length && w.clients.every((c) => c.done) &&
      w.server.core.requestCount === 0 && w.miners.length === 7 &&
      // The jobs may all be done before the server's silence detection (K epochs) notices the
      // miners that died or left: wait for it too.
      [dying, leaving].every(noticedGone),
    600_000,
  );
  w.check(); // exact answers, chunks within their requests, no warning at the server
  const answered = w.clients.filter((c) => c.result !== undefined).length;
  // At 10% loss LSP may declare a quiet client lost; otherwise every client is answered.
  assert.ok(
    answered >= requests - (loss >= 0.1 ? 1 : 0),
    w.explain(`${answered} answers`),
  );
  assert.ok(
    dying!.crashedMidChunk,
    w.explain("the dying miner never died mid-search"),
  );
  // The server noticed both miners going (and handed their work out again).
  for (const m of [dying!, leaving!]) assert.ok(noticedGone(m), w.explain("not lost"));
  assert.ok(
    w.stats.chunksReassigned + w.stats.chunksCopied >= 1,
    w.explain("nothing redone"),
  );
  // The miners that came later joined and worked.
  const late = w.miners.slice(5) as CoreMinerNode[];
  assert.ok(
    late.every((m) => m.connId !== undefined && m.started > 0),
    w.explain("late"),
  );
  // The gone clients' requests stopped: accepted (unless their Request never got through before
  // they went), abandoned, and no chunk of theirs sent after the server noticed.
  const seen = gone.filter((d) => w.server.arrivedAt.has(d));
  // A regular client that LSP declared lost (possible at 10 % loss, see above) has its request
  // abandoned too: every gone client's request is abandoned, and at most the unanswered others.
  const abandoned = w.stats.requestsAbandoned;
  assert.ok(
    abandoned >= seen.length && abandoned <= seen.length + (requests - answered),
    w.explain(`abandoned requests: ${abandoned}, gone ${seen.length}, answered ${answered}`),
  );
  for (const d of seen) {
    const conn = [...w.server.dataOf].find(([, x]) => x === d)![0];
    const lost = w.server.lostAt.get(conn)!;
    const after = w.server.chunks.filter((c) => c.m.data === d && c.at > lost);
    assert.deepEqual(
      after,
      [],
      w.explain(`chunks for ${d} after its client was lost`),
    );
  }
  // Our miners' cores never saw junk, and the ones still running are still connected.
  for (const m of w.miners as CoreMinerNode[]) {
    assert.deepEqual(m.warnings, []);
  }
  assert.ok(
    (w.miners as CoreMinerNode[]).every((m) => m.crashed || m.ended === undefined),
    w.explain("a miner ended while its server was up"),
  );
  return {
    trace: w.net.formatTrace(),
    summary: `${w.miners.length} miners, ${answered} answers, loss ${loss}`,
  };
}
