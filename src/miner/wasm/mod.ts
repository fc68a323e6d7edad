/**
 * The miner's WebAssembly SIMD kernel module: its bytes (assembled from `sha256_simd.wat`, the
 * output of the generator `sha256_simd_wat.ts`, by `deno task build:wasm`) and the memory layout
 * the TypeScript side (`../sha256_simd.ts`) shares with it.
 *
 * @module
 */

import { SHA256_SIMD_WASM_BASE64 } from "./sha256_simd_module.ts";

export { K, LANES, LAYOUT, tailByteAddress, VECTORS } from "./sha256_simd_wat.ts";

/**
 * The bytes of the SIMD kernel module (a fresh copy per call).
 *
 * @returns A WebAssembly binary using the SIMD (`v128`) feature.
 *
 * @example A WebAssembly binary
 * ```ts
 * import { sha256SimdWasm } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const bytes = sha256SimdWasm();
 * assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]); // "\0asm"
 * ```
 */
export function sha256SimdWasm(): Uint8Array<ArrayBuffer> {
  const binary = atob(SHA256_SIMD_WASM_BASE64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
