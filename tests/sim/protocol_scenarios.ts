/**
 * The real protocols' seeded scenarios for the swarm (`deno task sim`): each runs the production
 * cores on the simulator with faults drawn from the seed and throws when a property fails.
 *
 * @module
 */

import { bitcloneNetworkScenario } from "../bitclone/_network_scenario.ts";
import { partitionCrashScenario } from "../kv/_sim_scenarios.ts";
import { lspPropertyScenario } from "../lsp/_property_scenario.ts";
import { lossyTransferScenario } from "../lrp2p/_lossy_scenario.ts";
import { minerChurnScenario } from "../miner/_churn_scenario.ts";
import { ringScenario } from "../tracker/_ring_scenario.ts";
import type { ScenarioOutcome } from "./scenarios.ts";

/** Every protocol scenario by name. */
export const PROTOCOL_SCENARIOS: Record<
  string,
  (seed: number) => ScenarioOutcome
> = {
  "lsp-echo-under-faults": lspPropertyScenario,
  "tracker-ring-crash-or-freeze": ringScenario,
  "miner-churn-under-loss": minerChurnScenario,
  "bitclone-network-with-crashes": bitcloneNetworkScenario,
  "lrp2p-lossy-bidirectional": (seed) => lossyTransferScenario(seed, { traceLimit: 1e6 }),
  "kv-partitions-and-crashes": (seed) =>
    partitionCrashScenario(seed, {
      replay: `SIM_SEED=${seed} SIM_ONLY=kv deno task sim`,
      traceLimit: 1e6,
    }),
};
