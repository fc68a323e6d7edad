import assert from "node:assert/strict";
import { codeOnly, findEscapes, isAdapter } from "./_purity.ts";

Deno.test("findEscapes() catches each way out of sans-I/O", () => {
  const cases: [string, string][] = [
    ["Deno.exit(1);", "Deno"],
    ["const D = Deno; D.exit(1);", "Deno"],
    ['const s = "/*"; Deno.exit(1); // */', "Deno"],
    ["const s = '/*'; setTimeout(f, 1);", "timers"],
    ["globalThis.setTimeout(f, 1);", "globalThis"],
    ['globalThis["Deno"].exit(1);', "globalThis"],
    ["queueMicrotask(() => {});", "timers"],
    ["const later = setTimeout; later(f, 5);", "timers"],
    ["const id = crypto.randomUUID();", "crypto"],
    ["const t = Date.now();", "Date.now"],
    ["const t = new Date();", "new Date()"],
    ["const t = performance.now();", "performance"],
    ["const r = Math.random();", "Math.random"],
    ["const x = `${Date.now()}`;", "Date.now"],
    ["const x = `a ${`b ${performance.now()}`} c`;", "performance"],
    ['import { randomBytes } from "node:crypto";', "import node:crypto"],
    ['const m = await import("./x.ts");', "dynamic import"],
    ['const w = new Worker(new URL("./w.ts", import.meta.url), { type: "module" });', "Worker"],
    ['const r = await fetch("http://x");', "fetch"],
  ];
  for (const [src, what] of cases) {
    assert.ok(findEscapes(src).includes(what), `${what} not caught in: ${src}`);
  }
});

Deno.test("findEscapes() lets comments, strings, clock methods and assert imports pass", () => {
  const clean = [
    "// Deno.exit(1); setTimeout(f)",
    "/* performance.now() */ const a = 1;",
    '/** @example\n * ```ts\n * import { x } from "node:fs";\n * Deno.exit();\n * ```\n */',
    'throw new Error("Cannot use Deno.listen: setTimeout broke");',
    "const s = `the ${name} of Deno`;",
    "clock.setTimeout(10, () => {});",
    "setTimeout(delayMs: number, fn: () => void): number { return 1; }",
    'import assert from "node:assert/strict";',
    "const x = this.deadline - now;",
  ];
  for (const src of clean) assert.deepEqual(findEscapes(src), [], src);
});

Deno.test("codeOnly() keeps code in template expressions and drops string contents", () => {
  assert.equal(codeOnly("a(`x ${b(`y`)} z`, 'q') // c"), "a(`${b(``)}`, '') ");
});

Deno.test("isAdapter() knows adapters by layer and by name, not by a list", () => {
  assert.equal(isAdapter("src/net/udp_driver.ts"), true);
  assert.equal(isAdapter("src/cli/run.ts"), true);
  assert.equal(isAdapter("src/lsp/server_deno.ts"), true);
  assert.equal(isAdapter("src/miner/hash_worker.ts"), true);
  assert.equal(isAdapter("src/lsp/endpoint.ts"), false);
  assert.equal(isAdapter("src/sim/net.ts"), false);
});
