/**
 * Run by `simd_kernel_test.ts` in a process of its own: a runtime whose WebAssembly has no SIMD
 * (`WebAssembly.validate` rejects the module), then what the miner's kernels do there.
 */
WebAssembly.validate = () => false;
const { createNonceKernel, simdSupported } = await import("../../src/miner/sha256_simd.ts");
const { scanRange } = await import("../../src/miner/scan.ts");
let forced = "";
try {
  createNonceKernel("msg", "simd");
} catch (err) {
  forced = String(err);
}
console.log(JSON.stringify({
  simd: simdSupported(),
  auto: createNonceKernel("msg").constructor.name,
  forced,
  scan: String(scanRange("bradfitz", 0n, 9999n).nonce),
}));
