/**
 * The request client's progress line: counts, durations, the bar's eighths, the whole line for
 * known snapshots, fitting to narrow terminals, and its bounds for any snapshot.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatBar,
  formatCount,
  formatDuration,
  formatProgressBar,
} from "../../src/miner/progress_bar.ts";

const width = (s: string) => [...s].length;

Deno.test("formatCount() gives three significant digits and an SI prefix", () => {
  const cases: [number | bigint, string][] = [
    [0, "0"],
    [7, "7"],
    [2.5, "2.5"],
    [999, "999"],
    [999.4, "999"],
    [999.6, "1.00k"],
    [1000, "1.00k"],
    [1234, "1.23k"],
    [12_345, "12.3k"],
    [123_456, "123k"],
    [999_499, "999k"],
    [999_500, "1.00M"],
    [10_000_000n, "10.0M"],
    [3_040_000_000, "3.04G"],
    [2n ** 64n - 1n, "18.4E"],
  ];
  for (const [value, text] of cases) assert.equal(formatCount(value), text, String(value));
});

Deno.test("formatCount() throws RangeError when the count is negative or not finite", () => {
  for (const bad of [-1, NaN, Infinity, -5n]) {
    assert.throws(() => formatCount(bad), RangeError, String(bad));
  }
});

Deno.test("formatDuration() picks the unit by size and rounds within it", () => {
  const cases: [number, string][] = [
    [0, "0.0s"],
    [400, "0.4s"],
    [9_940, "9.9s"],
    [9_960, "10s"],
    [12_000, "12s"],
    [59_400, "59s"],
    [59_600, "1m00s"],
    [245_000, "4m05s"],
    [3_599_400, "59m59s"],
    [3_600_000, "1h00m"],
    [(3 * 3600 + 2 * 60) * 1000, "3h02m"],
    [(25 * 3600 + 60) * 1000, "1d01h"],
    [999 * 86_400_000, "999d00h"],
    [1000 * 86_400_000, ">999d"],
    [Infinity, ">999d"],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

Deno.test("formatDuration() throws RangeError when the duration is negative or NaN", () => {
  assert.throws(() => formatDuration(-1), RangeError);
  assert.throws(() => formatDuration(NaN), RangeError);
});

Deno.test("formatBar() fills whole cells, then eighths, then spaces", () => {
  assert.equal(formatBar(0, 4), "    ");
  assert.equal(formatBar(1, 4), "████");
  assert.equal(formatBar(0.5, 4), "██  ");
  assert.equal(formatBar(1 / 32, 4), "▏   "); // one eighth of the first cell
  assert.equal(formatBar(0.25 + 3 / 32, 4), "█▍  "); // one cell and three eighths of the next
  assert.equal(formatBar(7 / 8 / 4, 4), "▉   ");
  assert.equal(formatBar(2, 4), "████", "clamped above");
  assert.equal(formatBar(-1, 4), "    ", "clamped below");
  assert.equal(formatBar(NaN, 4), "    ");
});

Deno.test("formatProgressBar() shows bar, percentage, counts, rate and time left", () => {
  const line = formatProgressBar({
    searched: 5_000_000n,
    total: 10_000_000n,
    elapsedMillis: 2000,
  });
  assert.equal(
    line,
    "[████████████            ]   50.0%  5.00M/10.0M nonces  2.50M/s  2.0s left",
  );
});

Deno.test("formatProgressBar() shows no rate and an unknown time left when nothing is searched", () => {
  const line = formatProgressBar({ searched: 0n, total: 100n, elapsedMillis: 0 });
  assert.equal(line, "[                        ]    0.0%  0/100 nonces  0/s  -- left");
});

Deno.test("formatProgressBar() shows a full bar and no time left when everything is searched", () => {
  const line = formatProgressBar({ searched: 42n, total: 42n, elapsedMillis: 1000 }, {
    barCells: 4,
  });
  assert.equal(line, "[████]  100.0%  42/42 nonces  42/s  0.0s left");
});

Deno.test("formatProgressBar() handles the full uint64 range without losing precision", () => {
  const total = 2n ** 64n;
  const line = formatProgressBar({ searched: total / 4n, total, elapsedMillis: 1e12 });
  assert.match(line, / 25\.0% /);
  assert.ok(line.includes("4.61E/18.4E nonces  4.61G/s"), line);
  assert.match(line, / >999d left$/);
});

Deno.test("formatProgressBar() drops the bar, then the counts, then the rate when columns are few", () => {
  const snapshot = { searched: 5_000_000n, total: 10_000_000n, elapsedMillis: 2000 };
  assert.equal(
    formatProgressBar(snapshot, { columns: 50 }),
    "50.0%  5.00M/10.0M nonces  2.50M/s  2.0s left",
  );
  assert.equal(formatProgressBar(snapshot, { columns: 30 }), "50.0%  2.50M/s  2.0s left");
  assert.equal(formatProgressBar(snapshot, { columns: 20 }), "50.0%  2.0s left");
  assert.equal(formatProgressBar(snapshot, { columns: 10 }), "50.0%");
});

Deno.test("formatProgressBar() throws when the snapshot or an option is out of range", () => {
  const ok = { searched: 1n, total: 2n, elapsedMillis: 1 };
  assert.throws(() => formatProgressBar({ ...ok, total: 0n, searched: 0n }), RangeError);
  assert.throws(() => formatProgressBar({ ...ok, searched: 3n }), RangeError);
  assert.throws(() => formatProgressBar({ ...ok, searched: -1n }), RangeError);
  assert.throws(() => formatProgressBar({ ...ok, elapsedMillis: -1 }), RangeError);
  assert.throws(() => formatProgressBar({ ...ok, elapsedMillis: NaN }), RangeError);
  assert.throws(() => formatProgressBar(ok, { barCells: 3 }), RangeError);
  assert.throws(() => formatProgressBar(ok, { columns: 9 }), RangeError);
  assert.throws(
    () => formatProgressBar({ ...ok, searched: 1 as unknown as bigint }),
    TypeError,
  );
});

Deno.test("formatProgressBar() fits its columns and reports the exact percentage for any snapshot", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 2n ** 64n }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1e10, noNaN: true }),
      fc.integer({ min: 10, max: 200 }),
      fc.integer({ min: 4, max: 60 }),
      (total, share, elapsedMillis, columns, barCells) => {
        const searched = (total * BigInt(Math.floor(share * 1e6))) / 1_000_000n;
        const line = formatProgressBar({ searched, total, elapsedMillis }, { columns, barCells });
        assert.ok(width(line) <= columns - 1, `${width(line)} > ${columns - 1}: ${line}`);
        assert.ok(![...line].some((c) => c.charCodeAt(0) < 0x20), "no control characters");
        const percent = Number((searched * 10_000n) / total) / 100;
        assert.ok(line.includes(`${percent.toFixed(1)}%`), line);
      },
    ),
    { numRuns: 500 },
  );
});
