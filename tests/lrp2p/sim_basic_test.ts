/**
 * LRP2P on the simulator: a connection opens, and byte streams in both directions arrive exactly
 * once and in order over loss, duplication, reordering and corruption.
 */
import assert from "node:assert/strict";
import { sameBytes, simLrp, Transfer } from "./_sim_lrp.ts";

function run(seed: number, link: Parameters<typeof simLrp>[2], bytes: number) {
  const { net, peers, prng } = simLrp(seed, 2, link);
  const [a, b] = peers;
  const idA = a.ep.connect(b.addr, net.now);
  let idB: bigint | undefined;
  const stop = net.runWhile(() => {
    idB ??= b.ep.accept();
    return idB === undefined || a.ep.conn(idA)?.state !== "open";
  }, { maxTime: 60_000 });
  assert.equal(stop, "done", `seed ${seed}: no connection (${a.ep.conn(idA)?.state})`);
  const ab = new Transfer(a.ep, idA, b.ep, idB!, prng.bytes(bytes), true);
  const ba = new Transfer(b.ep, idB!, a.ep, idA, prng.bytes(bytes), true);
  const end = net.runWhile(() => {
    ab.step(net.now);
    ba.step(net.now);
    return !(ab.complete && ba.complete && ab.eof && ba.eof);
  }, { maxTime: 600_000 });
  assert.equal(
    end,
    "done",
    `seed ${seed}: ${ab.gotBytes}/${bytes} and ${ba.gotBytes}/${bytes} at ${net.now} ms`,
  );
  assert.ok(sameBytes(ab.received(), ab.data), `seed ${seed}: a→b bytes differ`);
  assert.ok(sameBytes(ba.received(), ba.data), `seed ${seed}: b→a bytes differ`);
}

Deno.test("lrp2p sim: a clean link carries 200 kB each way", () => {
  run(1, { delayMs: [5, 5] }, 200_000);
});

Deno.test("lrp2p sim: 10% loss, duplication, reordering and corruption", () => {
  for (let seed = 1; seed <= 5; seed++) {
    run(seed, { dropRate: 0.1, dupRate: 0.05, corruptRate: 0.02, delayMs: [2, 30] }, 50_000);
  }
});
