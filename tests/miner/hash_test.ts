import assert from "node:assert/strict";
import fc from "fast-check";
import { hash, hashSync, MAX_NONCE } from "../../src/miner/hash.ts";
import { NonceKernel } from "../../src/miner/sha256_kernel.ts";

interface PointVector {
  data: string;
  nonce: string;
  hash: string;
}

const LINES = Deno.readTextFileSync(new URL("../fixtures/miner_hash.jsonl", import.meta.url))
  .split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line));
const POINTS: PointVector[] = LINES.filter((v) => "nonce" in v && !("lower" in v));

/** Nonces around every change of digit count, plus the uint64 extremes. */
const EDGE_NONCES: bigint[] = [0n, MAX_NONCE - 1n, MAX_NONCE, 2n ** 32n, 2n ** 53n + 1n];
for (let k = 1; k <= 19; k++) EDGE_NONCES.push(10n ** BigInt(k) - 1n, 10n ** BigInt(k));

/** A uint64 nonce: anywhere, or next to a change of digit count or a power of two. */
const nonceArb = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_NONCE }),
  fc.tuple(fc.integer({ min: 1, max: 19 }), fc.integer({ min: -3, max: 3 }))
    .map(([k, d]) => 10n ** BigInt(k) + BigInt(d)),
  fc.tuple(fc.integer({ min: 2, max: 64 }), fc.integer({ min: -3, max: 3 }))
    .map(([k, d]) => 2n ** BigInt(k) + BigInt(d))
    .map((n) => n > MAX_NONCE ? MAX_NONCE : n),
);

/** Messages up to ~200 UTF-8 bytes: ASCII, any code point, any UTF-16 unit (lone surrogates). */
const dataArb = fc.oneof(
  fc.string({ unit: "binary-ascii", maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 50 }),
  fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 66 }),
  fc.integer({ min: 40, max: 140 }).map((n) => "é".repeat(n >> 1) + "z".repeat(n & 1)),
);

Deno.test("miner_hash.jsonl fixture holds the point vectors of the spec", () => {
  assert.equal(POINTS.length, 51);
  assert.ok(POINTS.some((v) => v.data === "msg" && v.nonce === "1"));
});

Deno.test("hash() matches every point vector of miner_hash.jsonl", async () => {
  for (const v of POINTS) {
    assert.equal(await hash(v.data, BigInt(v.nonce)), BigInt(v.hash), `${v.data} ${v.nonce}`);
  }
});

Deno.test("hashSync() matches every point vector of miner_hash.jsonl", () => {
  for (const v of POINTS) {
    assert.equal(hashSync(v.data, BigInt(v.nonce)), BigInt(v.hash), `${v.data} ${v.nonce}`);
  }
});

Deno.test("hash() gives the handout's values for msg 0, 1, 2", async () => {
  assert.equal(await hash("msg", 0n), 13781283048668101583n);
  assert.equal(await hash("msg", 1n), 4754799531757243342n);
  assert.equal(await hash("msg", 2n), 5611725180048225792n);
});

Deno.test("hashSync() equals hash() at every prefix length 0..150 bytes and digit count", async () => {
  // Every padding edge: the digits end before, at and after byte 55/56 of a block, and the prefix
  // itself fills 0, 1 or 2 whole blocks.
  for (let length = 0; length <= 150; length++) {
    const data = "a".repeat(length);
    for (const nonce of EDGE_NONCES) {
      assert.equal(hashSync(data, nonce), await hash(data, nonce), `len ${length} nonce ${nonce}`);
    }
  }
});

Deno.test("hashSync() equals hash() for random messages and uint64 nonces", async () => {
  await fc.assert(
    fc.asyncProperty(dataArb, nonceArb, async (data, nonce) => {
      assert.equal(hashSync(data, nonce), await hash(data, nonce));
    }),
    { numRuns: 500 },
  );
});

Deno.test("NonceKernel.scan() hashes each nonce of a run like hash() across carries", async () => {
  // scan(1) steps the in-place decimal counter: every carry, digit-count change and two-block
  // tail (reused first block or not) is compared with the reference, nonce by nonce.
  await fc.assert(
    fc.asyncProperty(dataArb, nonceArb, async (data, start) => {
      const kernel = new NonceKernel(data);
      const first = start > MAX_NONCE - 30n ? MAX_NONCE - 30n : start;
      kernel.seek(first);
      for (let nonce = first; nonce <= first + 30n; nonce++) {
        assert.equal(kernel.nonceText, String(nonce));
        assert.equal(kernel.scan(1), 0);
        assert.equal(kernel.minHash(), await hash(data, nonce), `${data} ${nonce}`);
      }
    }),
    { numRuns: 150 },
  );
});

Deno.test("NonceKernel.scan() counts through 9 → 10 and 99999 → 100000 with long prefixes", async () => {
  for (const length of [0, 50, 53, 54, 55, 56, 60, 63, 64, 110, 119, 120]) {
    const data = "b".repeat(length);
    for (const start of [0n, 99990n, 9999999999999999990n]) {
      const kernel = new NonceKernel(data);
      kernel.seek(start);
      for (let nonce = start; nonce < start + 15n; nonce++) {
        kernel.scan(1);
        assert.equal(kernel.minHash(), await hash(data, nonce), `len ${length} nonce ${nonce}`);
      }
      assert.equal(kernel.nonceText, String(start + 15n));
    }
  }
});

Deno.test("NonceKernel.scan() returns the offset of the smallest hash and records it", async () => {
  const kernel = new NonceKernel("bradfitz");
  kernel.seek(9890n);
  const index = kernel.scan(20);
  assert.equal(index, 8); // nonce 9898, the minimum of 0..9999
  assert.equal(kernel.minHash(), 1419516646206828n);
  assert.equal(kernel.minHash(), await hash("bradfitz", 9898n));
  assert.equal(kernel.nonceText, "9910");
});

Deno.test("hash() and hashSync() hash lone surrogates as U+FFFD", async () => {
  assert.equal(await hash("\ud800x", 7n), await hash("\ufffdx", 7n));
  assert.equal(hashSync("\ud800x", 7n), await hash("\ufffdx", 7n));
  assert.equal(hashSync("x\udfff", 7n), await hash("x\ufffd", 7n));
});

Deno.test("hash() and hashSync() reject a nonce that is not a uint64 bigint", async () => {
  for (const bad of [-1n, MAX_NONCE + 1n]) {
    assert.throws(() => hashSync("msg", bad), RangeError);
    await assert.rejects(hash("msg", bad), RangeError);
  }
  assert.throws(() => hashSync("msg", 1 as unknown as bigint), TypeError);
  await assert.rejects(hash("msg", 1 as unknown as bigint), TypeError);
  assert.throws(() => hashSync(1 as unknown as string, 1n), TypeError);
  await assert.rejects(hash(1 as unknown as string, 1n), TypeError);
});

Deno.test("NonceKernel.scan() rejects a count that is not a positive safe integer", () => {
  const kernel = new NonceKernel("msg");
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
    assert.throws(() => kernel.scan(bad), RangeError, String(bad));
  }
  assert.equal(kernel.nonceText, "0");
});

Deno.test("NonceKernel.seek() rejects nonces outside the uint64 range", () => {
  const kernel = new NonceKernel("msg");
  assert.throws(() => kernel.seek(-1n), RangeError);
  assert.throws(() => kernel.seek(MAX_NONCE + 1n), RangeError);
  assert.throws(() => kernel.seek(5 as unknown as bigint), TypeError);
  kernel.seek(MAX_NONCE);
  assert.equal(kernel.nonceText, "18446744073709551615");
});
