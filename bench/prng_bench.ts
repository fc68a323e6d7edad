/**
 * The seeded PRNG every core and the simulator draw from, against `Math.random` (the baseline,
 * measured in the same run). Run: `deno task bench`.
 */
import { Prng } from "../src/util/prng.ts";

const prng = Prng.seeded(1);
let sink = 0;

Deno.bench("Math.random() x1000", { group: "prng float", baseline: true }, () => {
  for (let i = 0; i < 1000; i++) sink += Math.random();
});

Deno.bench("Prng.float() x1000", { group: "prng float" }, () => {
  for (let i = 0; i < 1000; i++) sink += prng.float();
});

Deno.bench("Prng.u32() x1000", { group: "prng float" }, () => {
  for (let i = 0; i < 1000; i++) sink += prng.u32();
});

Deno.bench("crypto.getRandomValues 4000 bytes", { group: "prng bytes", baseline: true }, () => {
  sink += crypto.getRandomValues(new Uint8Array(4000))[0];
});

Deno.bench("Prng.bytes(4000)", { group: "prng bytes" }, () => {
  sink += prng.bytes(4000)[0];
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink); // keeps the loops from being optimised away
});
