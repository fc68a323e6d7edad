/**
 * Swarm run over many random seeds (`deno task sim`), TigerBeetle VOPR style: the simulator's own
 * scenarios and every real protocol's (LSP under random faults, the tracker ring with a crash or
 * a freeze; see `protocol_scenarios.ts`). Each seed runs twice and must give the same trace.
 * Prints every failing seed with a replay hint. `SIM_ONLY=lsp` runs the scenarios whose name
 * contains `lsp`.
 *
 *   deno task sim                       # 100 random seeds
 *   SIM_RUNS=5000 deno task sim         # more
 *   SIM_SEED=1234 deno task sim         # replay one seed (prints its trace tail on failure)
 *
 * @module
 */

import { readEnv, replayHint, simSeeds } from "../../src/sim/harness_deno.ts";
import { SCENARIOS } from "./scenarios.ts";
import { PROTOCOL_SCENARIOS } from "./protocol_scenarios.ts";

const runs = readEnv("SIM_RUNS") ?? "100";
const only = readEnv("SIM_ONLY");
const ALL = Object.fromEntries(
  Object.entries({ ...SCENARIOS, ...PROTOCOL_SCENARIOS }).filter(([name]) =>
    only === undefined || name.includes(only)
  ),
);
const seeds = simSeeds(
  [],
  (name) => (name === "SIM_RUNS" ? runs : readEnv(name)),
);
const failures: string[] = [];
let firstDetail: string | undefined;
const started = performance.now();

for (const seed of seeds) {
  for (const [name, scenario] of Object.entries(ALL)) {
    try {
      const first = scenario(seed);
      const again = scenario(seed);
      if (first.trace !== again.trace) {
        throw new Error("the same seed gave two different traces");
      }
      if (seeds.length === 1) {
        console.log(`${name} seed ${seed}: ${first.summary}`);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      failures.push(
        `FAIL ${name} seed ${seed}: ${message.split("\n")[0]}\n  ${
          replayHint(seed, "deno task sim")
        }`,
      );
      firstDetail ??= message;
    }
  }
}

const seconds = (performance.now() - started) / 1000;
const total = seeds.length * Object.keys(ALL).length;
for (const line of failures) console.log(line);
if (firstDetail !== undefined) {
  console.log(`\nFirst failure in full:\n${firstDetail}`);
}
console.log(
  `${total} scenario runs (x2 for determinism) over ${seeds.length} seeds, ` +
    `${failures.length} failed, ${(total / seconds).toFixed(0)} runs/s`,
);
if (failures.length > 0) Deno.exitCode = 1;
