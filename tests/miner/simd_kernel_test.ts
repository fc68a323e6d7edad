import assert from "node:assert/strict";
import fc from "fast-check";
import { hash, MAX_NONCE } from "../../src/miner/hash.ts";
import { scanRange, type ScanResult } from "../../src/miner/scan.ts";
import { NonceKernel } from "../../src/miner/sha256_kernel.ts";
import {
  createNonceKernel,
  type KernelKind,
  LANES,
  type MinerKernel,
  SimdNonceKernel,
  simdSupported,
} from "../../src/miner/sha256_simd.ts";

interface Vector {
  data: string;
  nonce: string;
  hash: string;
  lower?: string;
  upper?: string;
}

const VECTORS: Vector[] = Deno.readTextFileSync(
  new URL("../fixtures/miner_hash.jsonl", import.meta.url),
).split("\n").filter((line) => line.length > 0).map((line) => JSON.parse(line));
const POINTS = VECTORS.filter((v) => !("lower" in v));
const SEARCHES = VECTORS.filter((v) => "lower" in v);

const KINDS: readonly KernelKind[] = ["simd", "js"];

/** The definition on Web Crypto: the smallest hash of `lower … upper`, the lowest nonce on a tie. */
async function bruteForce(data: string, lower: bigint, upper: bigint): Promise<ScanResult> {
  let best: ScanResult | undefined;
  for (let nonce = lower; nonce <= upper; nonce++) {
    const h = await hash(data, nonce);
    if (best === undefined || h < best.hash) best = { hash: h, nonce };
  }
  assert.ok(best !== undefined);
  return best;
}

/** One `scan(count)` from `lower` as a result, checking where the kernel ends up. */
function kernelScan(kernel: MinerKernel, lower: bigint, count: number): ScanResult {
  kernel.seek(lower);
  const index = kernel.scan(count);
  assert.ok(index >= 0 && index < count, `index ${index} of ${count}`);
  assert.equal(kernel.nonceText, String(lower + BigInt(count)));
  return { hash: kernel.minHash(), nonce: lower + BigInt(index) };
}

/** Messages up to ~200 UTF-8 bytes: ASCII, any code point, any UTF-16 unit (lone surrogates). */
const dataArb = fc.oneof(
  fc.string({ unit: "binary-ascii", maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 50 }),
  fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 66 }),
  // 40 … 62 bytes: the padding of the nonce's digits spills into a second block
  fc.integer({ min: 40, max: 62 }).map((n) => "s".repeat(n)),
);

/** A first nonce: anywhere, or just below a change of digit count or the top of the range. */
const lowerArb = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX_NONCE - 64n }),
  fc.tuple(fc.integer({ min: 1, max: 19 }), fc.integer({ min: 1, max: 3 * LANES }))
    .map(([k, d]) => 10n ** BigInt(k) > BigInt(d) ? 10n ** BigInt(k) - BigInt(d) : 0n),
  fc.integer({ min: 0, max: 3 * LANES }).map((d) => MAX_NONCE - BigInt(d)),
);

Deno.test("simdSupported() is true in Deno and auto picks the SIMD kernel", () => {
  assert.equal(simdSupported(), true);
  assert.ok(createNonceKernel("msg") instanceof SimdNonceKernel);
  assert.ok(createNonceKernel("msg", "simd") instanceof SimdNonceKernel);
  assert.ok(createNonceKernel("msg", "js") instanceof NonceKernel);
});

Deno.test("without WebAssembly SIMD, auto falls back to the JS kernel and simd is refused", async () => {
  const script = new URL("./_no_simd.ts", import.meta.url).pathname;
  const config = new URL("../deno.json", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", config, "--allow-read", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), {
    simd: false,
    auto: "NonceKernel",
    forced: "Error: Cannot hash: this runtime has no WebAssembly SIMD",
    scan: "9898",
  });
});

for (const kind of KINDS) {
  Deno.test(`${kind} kernel: every point vector of miner_hash.jsonl`, () => {
    assert.equal(POINTS.length, 51);
    for (const v of POINTS) {
      const kernel = createNonceKernel(v.data, kind);
      assert.deepEqual(kernelScan(kernel, BigInt(v.nonce), 1), {
        hash: BigInt(v.hash),
        nonce: BigInt(v.nonce),
      }, `${v.data} ${v.nonce}`);
    }
  });

  Deno.test(`${kind} kernel: every search vector of miner_hash.jsonl through scanRange()`, () => {
    assert.equal(SEARCHES.length, 9);
    for (const v of SEARCHES) {
      const got = scanRange(v.data, BigInt(v.lower!), BigInt(v.upper!), { kernel: kind });
      assert.deepEqual(got, { hash: BigInt(v.hash), nonce: BigInt(v.nonce) }, JSON.stringify(v));
    }
  });

  Deno.test(`${kind} kernel: random messages and runs equal Web Crypto`, async () => {
    // Runs of 1 … 3·LANES + 1 nonces: not a multiple of the lanes, across digit-count changes and
    // up to 2^64 − 1, one- and two-block tails.
    await fc.assert(
      fc.asyncProperty(dataArb, lowerArb, fc.integer({ min: 1, max: 3 * LANES + 1 }), async (
        data,
        lower,
        count,
      ) => {
        const upper = lower + BigInt(count - 1) > MAX_NONCE ? MAX_NONCE : lower + BigInt(count - 1);
        const kernel = createNonceKernel(data, kind);
        const got = kernelScan(kernel, lower, Number(upper - lower) + 1);
        assert.deepEqual(got, await bruteForce(data, lower, upper), `${data} ${lower}..${upper}`);
      }),
      { numRuns: 150 },
    );
  });

  Deno.test(`${kind} kernel: every prefix length 0..130 across every digit-count change`, async () => {
    // Each nonce of the window is made the window's end in turn, so that each lane's hash
    // decides a result; the windows straddle 10^k (9 → 10, 99 → 100, …) and reach 2^64 − 1.
    const starts = [0n, MAX_NONCE - 5n];
    for (let k = 1; k <= 19; k++) starts.push(10n ** BigInt(k) - 3n);
    for (let length = 0; length <= 130; length += length < 40 ? 13 : 1) {
      const data = "c".repeat(length);
      const kernel = createNonceKernel(data, kind);
      for (const start of starts) {
        const hashes: bigint[] = [];
        for (let n = start; n < start + 6n; n++) hashes.push(await hash(data, n));
        for (let count = 1; count <= 6; count++) {
          let best = 0;
          for (let i = 1; i < count; i++) if (hashes[i] < hashes[best]) best = i;
          const got = kernelScan(kernel, start, count);
          assert.deepEqual(
            got,
            { hash: hashes[best], nonce: start + BigInt(best) },
            `${length} ${start}+${count}`,
          );
        }
      }
    }
  });
}

Deno.test("simd and js kernels agree over long runs in a row, with ties to the lowest nonce", () => {
  for (const data of ["6969395957072160278", "é".repeat(30), "z".repeat(61)]) {
    const simd = createNonceKernel(data, "simd"), js = createNonceKernel(data, "js");
    simd.seek(999_990n);
    js.seek(999_990n);
    for (const count of [1, 7, 4096, 12345, 3]) {
      assert.equal(simd.scan(count), js.scan(count), `${data} ${count}`);
      assert.equal(simd.minHash(), js.minHash());
      assert.equal(simd.nonceText, js.nonceText);
    }
  }
});

Deno.test("SimdNonceKernel rejects bad arguments like NonceKernel", () => {
  const kernel = new SimdNonceKernel("msg");
  for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
    assert.throws(() => kernel.scan(bad), RangeError, String(bad));
  }
  assert.throws(() => kernel.seek(-1n), RangeError);
  assert.throws(() => kernel.seek(MAX_NONCE + 1n), RangeError);
  assert.throws(() => kernel.seek(5 as unknown as bigint), TypeError);
  assert.throws(() => new SimdNonceKernel(5 as unknown as string), TypeError);
  assert.equal(kernel.nonceText, "0");
});
