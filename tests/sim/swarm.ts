/**
 * Swarm run of the simulator's own scenarios over many random seeds (`deno task sim`). Each seed
 * runs twice and must give the same trace. Prints every failing seed with a replay hint.
 *
 *   deno task sim                       # 300 random seeds
 *   SIM_RUNS=5000 deno task sim         # more
 *   SIM_SEED=1234 deno task sim         # replay one seed (prints its trace tail on failure)
 *
 * @module
 */

import { readEnv, replayHint, simSeeds } from "../../src/sim/harness.ts";
import { SCENARIOS } from "./scenarios.ts";

const runs = readEnv("SIM_RUNS") ?? "300";
const seeds = simSeeds([], (name) => (name === "SIM_RUNS" ? runs : readEnv(name)));
const failures: string[] = [];
let firstDetail: string | undefined;
const started = performance.now();

for (const seed of seeds) {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    try {
      const first = scenario(seed);
      const again = scenario(seed);
      if (first.trace !== again.trace) throw new Error("the same seed gave two different traces");
      if (seeds.length === 1) console.log(`${name} seed ${seed}: ${first.summary}`);
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
const total = seeds.length * Object.keys(SCENARIOS).length;
for (const line of failures) console.log(line);
if (firstDetail !== undefined) console.log(`\nFirst failure in full:\n${firstDetail}`);
console.log(
  `${total} scenario runs (x2 for determinism) over ${seeds.length} seeds, ` +
    `${failures.length} failed, ${(total / seconds).toFixed(0)} runs/s`,
);
if (failures.length > 0) Deno.exitCode = 1;
