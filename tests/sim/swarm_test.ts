import assert from "node:assert/strict";
import { replayHint, simSeeds } from "../../src/sim/harness_deno.ts";
import { SCENARIOS } from "./scenarios.ts";

// The same scenarios `deno task sim` runs over random seeds, here on fixed seeds (or SIM_SEED).
for (const [name, scenario] of Object.entries(SCENARIOS)) {
  Deno.test(`${name} scenario holds and replays identically for fixed seeds`, () => {
    for (const seed of simSeeds([1, 2, 3, 4, 5, 6, 7, 8, 0xbeef])) {
      const hint = replayHint(seed, "deno test --allow-env tests/sim/swarm_test.ts");
      let first;
      try {
        first = scenario(seed);
      } catch (err) {
        assert.fail(`seed ${seed} failed: ${(err as Error).message}\n${hint}`);
      }
      assert.equal(scenario(seed).trace, first.trace, `two traces for seed ${seed}\n${hint}`);
    }
  });
}
