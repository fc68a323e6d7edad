import assert from "node:assert/strict";
import fc from "fast-check";
import { Prng } from "../../src/util/prng.ts";

function draws(prng: Prng, n: number): number[] {
  return Array.from({ length: n }, () => prng.u32());
}

Deno.test("Prng.seeded() gives the same sequence when the seed is the same", () => {
  assert.deepEqual(draws(Prng.seeded(42), 100), draws(Prng.seeded(42), 100));
  assert.deepEqual(draws(Prng.seeded(42n), 10), draws(Prng.seeded(42), 10));
});

Deno.test("Prng.seeded() gives different sequences when seeds differ", () => {
  const seen = new Set<string>();
  for (const seed of [0, 1, 2, 3, -1, 2 ** 32, 2 ** 53 - 1]) {
    seen.add(draws(Prng.seeded(seed), 4).join());
  }
  assert.equal(seen.size, 7);
});

Deno.test("Prng.fromWords() avoids the all-zero state when given zeros", () => {
  const prng = Prng.fromWords([0, 0, 0, 0]);
  const xs = draws(prng, 50);
  assert.ok(xs.some((x) => x !== 0));
  assert.ok(new Set(xs).size > 40);
});

Deno.test("Prng.u32() stays in [0, 2^32) and spreads its bits", () => {
  const prng = Prng.seeded(7);
  const bitCounts = new Array(32).fill(0);
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const x = prng.u32();
    assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    for (let b = 0; b < 32; b++) if ((x >>> b) & 1) bitCounts[b]++;
  }
  for (const c of bitCounts) assert.ok(Math.abs(c / n - 0.5) < 0.02, `bit frequency ${c / n}`);
});

Deno.test("Prng.float() stays in [0, 1) with mean about 0.5", () => {
  const prng = Prng.seeded(8);
  let sum = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const x = prng.float();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01, `mean ${sum / n}`);
});

Deno.test("Prng.int() covers both inclusive ends uniformly when the range is small", () => {
  const prng = Prng.seeded(9);
  const counts = new Array(6).fill(0);
  const n = 60_000;
  for (let i = 0; i < n; i++) counts[prng.int(1, 6) - 1]++;
  for (const c of counts) assert.ok(Math.abs(c / n - 1 / 6) < 0.01, `frequency ${c / n}`);
});

Deno.test("Prng.int() stays in range for any bounds", () => {
  fc.assert(
    fc.property(
      fc.integer(),
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      (seed, min, span) => {
        const x = Prng.seeded(seed).int(min, min + span);
        return Number.isInteger(x) && x >= min && x <= min + span;
      },
    ),
  );
});

Deno.test("Prng.int() throws RangeError when the range is empty or not integral", () => {
  const prng = Prng.seeded(1);
  assert.throws(() => prng.int(5, 4), RangeError);
  assert.throws(() => prng.int(0.5, 4), RangeError);
  assert.throws(() => prng.int(0, Infinity), RangeError);
  assert.equal(prng.int(3, 3), 3);
});

Deno.test("Prng.chance() is never true at 0, always at 1, and about p in between", () => {
  const prng = Prng.seeded(10);
  let hits = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    assert.equal(prng.chance(0), false);
    assert.equal(prng.chance(1), true);
    if (prng.chance(0.3)) hits++;
  }
  assert.ok(Math.abs(hits / n - 0.3) < 0.015, `rate ${hits / n}`);
});

Deno.test("Prng.pick() returns members and throws RangeError when the array is empty", () => {
  const prng = Prng.seeded(11);
  const items = ["a", "b", "c"];
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) seen.add(prng.pick(items));
  assert.deepEqual([...seen].sort(), items);
  assert.throws(() => prng.pick([]), RangeError);
});

Deno.test("Prng.shuffle() returns a permutation, deterministically per seed", () => {
  const a = Prng.seeded(12).shuffle(Array.from({ length: 50 }, (_, i) => i));
  const b = Prng.seeded(12).shuffle(Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(a, b);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual(a, Array.from({ length: 50 }, (_, i) => i));
});

Deno.test("Prng.bytes() returns n bytes, deterministic per seed, when n is not a multiple of 4", () => {
  for (const n of [0, 1, 3, 5, 17]) {
    const a = Prng.seeded(13).bytes(n);
    assert.equal(a.length, n);
    assert.deepEqual(a, Prng.seeded(13).bytes(n));
  }
  assert.ok(Prng.seeded(13).bytes(64).some((b) => b !== 0));
});

Deno.test("Prng.fork() gives a child independent of the parent's later draws", () => {
  const root1 = Prng.seeded(14), root2 = Prng.seeded(14);
  const child1 = root1.fork(), child2 = root2.fork();
  root1.u32(); // the parent moves on differently: the child must not care
  assert.deepEqual(draws(child1, 20), draws(child2, 20));
  const parentNext = draws(Prng.seeded(14), 30);
  const child = Prng.seeded(14).fork();
  assert.notDeepEqual(draws(child, 20), parentNext.slice(0, 20));
});
