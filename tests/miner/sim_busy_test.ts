/**
 * Miners never wait for work (issue 13, item 3), in the deterministic simulator: the production
 * server core with its default scheduling (only `hashOf` set, as the real server does), our
 * miners on their production cores, default LSP parameters, 5% loss and some duplication each
 * way. Over a long request, miners must be busy at least 90% of the time the server had work
 * waiting to hand out; and `MinerCore.busyMillis` must agree with the searches the simulated
 * workers actually ran.
 */
import assert from "node:assert/strict";
import { requestMessage } from "../../src/miner/message.ts";
import { type CoreMinerNode, simHash, World } from "./_sim_world.ts";

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const LOSS = 0.05;

Deno.test("Scheduler over LSP with its defaults keeps miners at least 90% busy under 5% loss", () => {
  let idle = 0, present = 0;
  const lines: string[] = [];
  for (const seed of SEEDS) {
    const w = new World(seed, LOSS, { hashOf: simHash });
    const p = w.root.fork();
    // Two miners of 3 to 8 million nonces per second, one request of about a minute.
    for (let i = 0; i < 2; i++) w.miner(3000 + p.int(0, 5000), 0);
    const data = `fake:${seed}:busy`;
    w.client(requestMessage(data, 0n, 500_000_000n), 100);
    // How long each miner's simulated worker really searched: the state seen before a step
    // holds until the next one.
    const searched = new Map<CoreMinerNode, number>();
    let last = 0, searching: CoreMinerNode[] = [];
    w.run(() => {
      for (const m of searching) searched.set(m, (searched.get(m) ?? 0) + w.net.now - last);
      last = w.net.now;
      searching = (w.miners as CoreMinerNode[]).filter((m) => m.current !== undefined);
      return w.clients.length === 1 && w.clients.every((c) => c.done);
    }, 600_000);
    w.check();
    const miners = w.miners as CoreMinerNode[];
    const i = miners.reduce((t, m) => t + m.idleWhileWaiting, 0);
    const t = miners.reduce((t, m) => t + m.presentWhileWaiting, 0);
    assert.ok(t > 30_000, w.explain(`too short a run: ${t} ms`));
    idle += i;
    present += t;
    lines.push(`seed ${seed}: busy ${(1 - i / t).toFixed(3)}`);
    assert.ok(1 - i / t >= 0.85, w.explain(`seed ${seed}: idle ${i} of ${t} ms while work waited`));
    // The core's counter is the time its worker searched.
    for (const m of miners) {
      const busy = m.core.busyMillis(last), want = searched.get(m)!;
      assert.ok(Math.abs(busy - want) < 1e-6 * want, `seed ${seed}: busy ${busy} vs ${want}`);
    }
  }
  const busy = 1 - idle / present;
  assert.ok(
    busy >= 0.92,
    `miners busy ${busy.toFixed(3)} of the time work waited\n${lines.join("\n")}`,
  );
});
