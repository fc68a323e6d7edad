import { partitionCrashScenario } from "/work/wt/kv-sim/tests/kv/_sim_scenarios.ts";
const n = Number(Deno.args[0] ?? 20), from = Number(Deno.args[1] ?? 1);
const t0 = performance.now();
let fails = 0;
for (let seed = from; seed < from + n; seed++) {
  try {
    const o = partitionCrashScenario(seed);
    if (n <= 5) console.log(seed, o.summary);
  } catch (e) {
    fails++;
    if (fails <= 1) console.log((e as Error).message.slice(0, 3000));
    else console.log("FAIL", seed, (e as Error).message.split("\n")[0]);
  }
}
console.log(`${n} seeds ${fails} failed ${(performance.now() - t0).toFixed(0)}ms`);
