import assert from "node:assert/strict";
import fc from "fast-check";
import { hash, MAX_NONCE } from "../../src/miner/hash.ts";
import {
  betterResult,
  checkScanArgs,
  type ScanProgress,
  scanRange,
  type ScanResult,
} from "../../src/miner/scan.ts";

interface SearchVector {
  data: string;
  lower: string;
  upper: string;
  hash: string;
  nonce: string;
}

const SEARCHES: SearchVector[] = Deno.readTextFileSync(
  new URL("../fixtures/miner_hash.jsonl", import.meta.url),
).split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line))
  .filter((v) => "lower" in v);

/** The definition, on Web Crypto: strictly smaller wins, so ties keep the lowest nonce. */
async function bruteForce(data: string, lower: bigint, upper: bigint): Promise<ScanResult> {
  let best: ScanResult | undefined;
  for (let nonce = lower; nonce <= upper; nonce++) {
    const h = await hash(data, nonce);
    if (best === undefined || h < best.hash) best = { hash: h, nonce };
  }
  assert.ok(best !== undefined);
  return best;
}

Deno.test("scanRange() matches every search vector of miner_hash.jsonl", () => {
  assert.equal(SEARCHES.length, 9);
  for (const v of SEARCHES) {
    const got = scanRange(v.data, BigInt(v.lower), BigInt(v.upper));
    assert.deepEqual(got, { hash: BigInt(v.hash), nonce: BigInt(v.nonce) }, JSON.stringify(v));
  }
});

Deno.test("scanRange() equals a Web Crypto brute force across digit-count and width edges", async () => {
  const ranges: [bigint, bigint][] = [
    [0n, 0n],
    [7n, 7n],
    [0n, 12n],
    [95n, 105n],
    [99990n, 100010n],
    [2n ** 32n - 5n, 2n ** 32n + 5n],
    [2n ** 53n - 5n, 2n ** 53n + 5n],
    [10n ** 19n - 6n, 10n ** 19n + 6n],
    [MAX_NONCE - 12n, MAX_NONCE],
    [MAX_NONCE, MAX_NONCE],
  ];
  for (const data of ["msg", "", "a".repeat(52), "a".repeat(55), "é".repeat(30), "z".repeat(63)]) {
    for (const [lower, upper] of ranges) {
      const want = await bruteForce(data, lower, upper);
      assert.deepEqual(scanRange(data, lower, upper), want, `${data} ${lower}..${upper}`);
      assert.deepEqual(scanRange(data, lower, upper, { checkEvery: 3 }), want);
    }
  }
});

Deno.test("scanRange() equals a Web Crypto brute force on random small ranges", async () => {
  const lowerArb = fc.oneof(
    fc.bigInt({ min: 0n, max: MAX_NONCE }),
    fc.tuple(fc.integer({ min: 1, max: 19 }), fc.integer({ min: 0, max: 30 }))
      .map(([k, back]) => 10n ** BigInt(k) - BigInt(back))
      .map((n) => n < 0n ? 0n : n),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.string({ unit: "binary", maxLength: 40 }),
      lowerArb,
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 1, max: 50 }),
      async (data, lower, span, checkEvery) => {
        const upper = lower + BigInt(span) > MAX_NONCE ? MAX_NONCE : lower + BigInt(span);
        const want = await bruteForce(data, lower, upper);
        assert.deepEqual(scanRange(data, lower, upper, { checkEvery }), want);
      },
    ),
    { numRuns: 120 },
  );
});

Deno.test("scanRange() with lower == upper returns that nonce and its hash", async () => {
  for (const nonce of [0n, 9n, 10n, 2n ** 63n, MAX_NONCE]) {
    assert.deepEqual(scanRange("msg", nonce, nonce), { hash: await hash("msg", nonce), nonce });
  }
});

Deno.test("scanRange() reports progress every checkEvery nonces with the best so far", async () => {
  const seen: ScanProgress[] = [];
  const result = scanRange("bradfitz", 9870n, 9909n, {
    checkEvery: 16,
    onProgress: (progress) => seen.push(progress),
  });
  assert.deepEqual(seen.map((p) => p.scanned), [16n, 32n, 40n]);
  assert.ok(seen.every((p) => p.total === 40n));
  assert.deepEqual(seen[0].best, await bruteForce("bradfitz", 9870n, 9885n));
  assert.deepEqual(seen[1].best, await bruteForce("bradfitz", 9870n, 9901n));
  assert.deepEqual(seen[2].best, result);
  assert.equal(result.nonce, 9898n);
});

Deno.test("scanRange() throws the signal's reason once it is aborted", () => {
  const reason = new Error("stop");
  let reports = 0;
  const controller = new AbortController();
  assert.throws(
    () =>
      scanRange("msg", 0n, MAX_NONCE, {
        checkEvery: 1000,
        signal: controller.signal,
        onProgress: ({ scanned }) => {
          reports++;
          if (scanned === 5000n) controller.abort(reason);
        },
      }),
    (err) => err === reason,
  );
  assert.equal(reports, 5);
});

Deno.test("scanRange() does not start when the signal is already aborted", () => {
  let reports = 0;
  assert.throws(
    () => scanRange("msg", 0n, 10n, { signal: { aborted: true }, onProgress: () => reports++ }),
    (err) => err instanceof DOMException && err.name === "AbortError",
  );
  assert.equal(reports, 0);
});

Deno.test("scanRange() rejects bad bounds, reversed ranges and bad checkEvery", () => {
  assert.throws(() => scanRange("msg", 3n, 2n), RangeError);
  assert.throws(() => scanRange("msg", -1n, 2n), RangeError);
  assert.throws(() => scanRange("msg", 0n, MAX_NONCE + 1n), RangeError);
  assert.throws(() => scanRange("msg", 0 as unknown as bigint, 2n), TypeError);
  assert.throws(() => scanRange(7 as unknown as string, 0n, 2n), TypeError);
  for (const checkEvery of [0, 1.5, 2 ** 32 + 1]) {
    assert.throws(() => scanRange("msg", 0n, 2n, { checkEvery }), RangeError);
  }
  assert.throws(() => checkScanArgs("msg", 5n, 4n), RangeError);
  assert.doesNotThrow(() => checkScanArgs("msg", 5n, 5n));
});

Deno.test("betterResult() keeps the smaller hash, then the smaller nonce", () => {
  const a = { hash: 10n, nonce: 7n }, b = { hash: 10n, nonce: 3n }, c = { hash: 9n, nonce: 99n };
  assert.equal(betterResult(a, b), b);
  assert.equal(betterResult(b, a), b);
  assert.equal(betterResult(a, c), c);
  assert.equal(betterResult(c, a), c);
  assert.equal(betterResult(undefined, a), a);
  assert.equal(betterResult(a, { hash: 10n, nonce: 7n }), a); // equal: the first stays
});
