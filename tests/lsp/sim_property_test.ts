// The LSP safety and liveness property over random parameters and random fault schedules,
// 1,000 seeds (the scenario lives in _property_scenario.ts, shared with `deno task sim`).
import { simTest } from "./_sim_harness.ts";
import { property } from "./_property_scenario.ts";

const SEEDS_PER_TEST = 500;

for (let part = 0; part < 2; part++) {
  const first = 1 + part * SEEDS_PER_TEST, last = first + SEEDS_PER_TEST - 1;
  simTest(
    import.meta.url,
    `LspEndpoint delivers every message once and in order, or reports the connection lost, ` +
      `under random faults and parameters (seeds ${first}–${last})`,
    { seeds: SEEDS_PER_TEST, firstSeed: first },
    property,
  );
}
