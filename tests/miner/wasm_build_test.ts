import assert from "node:assert/strict";
import { build, MODULE_PATH, WAT_PATH } from "../../tools/build_wasm.ts";
import { sha256SimdWasm } from "../../src/miner/wasm/mod.ts";

const root = new URL("../../", import.meta.url);

Deno.test("the shipped SIMD module is the assembled output of its generator", async () => {
  const { wat, bytes, source } = await build();
  assert.equal(Deno.readTextFileSync(new URL(WAT_PATH, root)), wat, `${WAT_PATH} is stale`);
  assert.equal(
    Deno.readTextFileSync(new URL(MODULE_PATH, root)),
    source,
    `${MODULE_PATH} is stale: run deno task build:wasm`,
  );
  assert.deepEqual(sha256SimdWasm(), bytes);
  assert.ok(WebAssembly.validate(bytes));
});
