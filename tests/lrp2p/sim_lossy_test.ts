/**
 * LRP2P byte streams over a bad network, 1,000 seeds: loss 0–30%, duplication, reordering,
 * corruption and delay drawn per seed, both directions at once, each closed at its end. Every
 * byte arrives exactly once and in order and both ends close cleanly. `LRP_SIM_SEED=N` replays
 * one seed; a failure prints its seed.
 */
import { forSeeds } from "./_sim_lrp.ts";
import { lossyTransferScenario } from "./_lossy_scenario.ts";

Deno.test("lrp2p sim: lossy bidirectional transfers, 1,000 seeds", () => {
  forSeeds(1000, (seed) => {
    lossyTransferScenario(seed);
  });
});
