import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import { readEnv, replayHint, simSeeds, swarmLinkOptions } from "../../src/sim/harness_deno.ts";
import { checkLinkOptions } from "../../src/sim/links.ts";

function env(vars: Record<string, string>) {
  return (name: string) => vars[name];
}

Deno.test("simSeeds() returns the defaults when neither SIM_SEED nor SIM_RUNS is set", () => {
  assert.deepEqual(simSeeds([1, 2, 0xbeef], env({})), [1, 2, 0xbeef]);
  assert.deepEqual(simSeeds([4], env({ SIM_SEED: "", SIM_RUNS: " " })), [4]);
});

Deno.test("simSeeds() returns just SIM_SEED when it is set, even with SIM_RUNS", () => {
  assert.deepEqual(simSeeds([1, 2], env({ SIM_SEED: "1234" })), [1234]);
  assert.deepEqual(simSeeds([1, 2], env({ SIM_SEED: " 7 ", SIM_RUNS: "50" })), [7]);
});

Deno.test("simSeeds() returns SIM_RUNS fresh random seeds when SIM_RUNS is set", () => {
  const seeds = simSeeds([1, 2], env({ SIM_RUNS: "50" }));
  assert.equal(seeds.length, 50);
  assert.ok(seeds.every((s) => Number.isSafeInteger(s) && s >= 0));
  assert.ok(new Set(seeds).size > 45);
  assert.notDeepEqual(seeds, simSeeds([1, 2], env({ SIM_RUNS: "50" })));
  assert.deepEqual(simSeeds([1], env({ SIM_RUNS: "0" })), []);
});

Deno.test("simSeeds() throws RangeError when a variable is not a non-negative integer", () => {
  for (const bad of ["abc", "-1", "1.5", "1e3", "9007199254740993"]) {
    assert.throws(() => simSeeds([], env({ SIM_SEED: bad })), RangeError, bad);
  }
  assert.throws(() => simSeeds([], env({ SIM_RUNS: "lots" })), RangeError);
  assert.throws(() => simSeeds([], env({ SIM_RUNS: "99999999999" })), RangeError);
});

Deno.test("readEnv() returns undefined when a variable is unset", () => {
  assert.equal(readEnv("BITCLONE_SIM_TEST_SURELY_UNSET_VARIABLE"), undefined);
});

Deno.test("replayHint() names the seed and the command", () => {
  assert.equal(replayHint(99), "replay: SIM_SEED=99 deno task test");
  assert.equal(replayHint(5, "deno task sim"), "replay: SIM_SEED=5 deno task sim");
});

Deno.test("swarmLinkOptions() draws valid options within limits, varying with the seed", () => {
  const seen = new Set<string>();
  let lossless = 0;
  for (let seed = 0; seed < 500; seed++) {
    const options = swarmLinkOptions(Prng.seeded(seed), { dropRateMax: 0.4, delayMsMax: 50 });
    checkLinkOptions(options);
    assert.ok(options.dropRate! <= 0.4);
    assert.ok(options.corruptRate! <= 0.05);
    assert.ok(options.delayMs![1] <= 50);
    if (options.dropRate === 0) lossless++;
    seen.add(JSON.stringify(options));
  }
  assert.equal(seen.size, 500);
  assert.ok(lossless > 150 && lossless < 350, `${lossless} lossless runs of 500`);
  assert.deepEqual(swarmLinkOptions(Prng.seeded(3)), swarmLinkOptions(Prng.seeded(3)));
  const clean = swarmLinkOptions(Prng.seeded(3), { corruptRateMax: 0, dupRateMax: 0 });
  assert.deepEqual([clean.corruptRate, clean.dupRate], [0, 0]);
});
