import assert from "node:assert/strict";
import { formatDuration } from "../../src/util/duration.ts";

Deno.test("formatDuration() rounds to what a person reads", () => {
  const cases: [number, string][] = [
    [0, "0 ms"],
    [0.4, "0 ms"],
    [171.9426000000003, "172 ms"],
    [999.4, "999 ms"],
    [999.5, "1 s"],
    [1500, "1.5 s"],
    [12_345.6, "12.35 s"],
    [59_994, "59.99 s"],
    [59_995, "1 min 0 s"],
    [125_000, "2 min 5 s"],
    [3_599_499, "59 min 59 s"],
    [3_599_500, "1 h 0 min"],
    [3_720_000, "1 h 2 min"],
    [-5, "0 ms"],
    [Infinity, "Infinity ms"],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});
