/**
 * The program's config resolves only what the program needs: `deno task start` must not download
 * test-only npm packages. Deno installs every npm package of a lockfile at start, so test-only
 * packages live in tests/deno.json and tests/deno.lock (the test tasks and `build:wasm` pass
 * `--config tests/deno.json`), never in deno.json or deno.lock.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const json = (path: string) => JSON.parse(Deno.readTextFileSync(new URL(path, ROOT)));

/** npm package names (without versions) in a lockfile's resolved packages. */
function lockedPackages(lock: { npm?: Record<string, unknown> }): string[] {
  return Object.keys(lock.npm ?? {}).map((key) => key.replace(/@[^@]+$/, "")).sort();
}

Deno.test("deno.json and deno.lock hold only the program's npm packages", () => {
  const config = json("deno.json");
  const program = ["@logtape/logtape", "@noble/ciphers", "@noble/curves", "@noble/hashes"];
  assert.deepEqual(Object.keys(config.imports).map((k) => k.replace(/\/$/, "")).sort(), program);
  assert.deepEqual(lockedPackages(json("deno.lock")), program);
  assert.doesNotMatch(Deno.readTextFileSync(new URL("deno.lock", ROOT)), /fast-check|pure-rand/);
});

Deno.test("tests/deno.json maps what deno.json maps, plus the test-only packages", () => {
  const program = json("deno.json");
  const tests = json("tests/deno.json");
  for (const [name, target] of Object.entries(program.imports)) {
    assert.equal(tests.imports[name], target, `tests/deno.json maps ${name} as deno.json does`);
  }
  assert.equal(tests.imports["fast-check"], "npm:fast-check@4.10.2");
  assert.deepEqual(tests.unstable, program.unstable);
  assert.deepEqual(lockedPackages(json("tests/deno.lock")), [
    "@logtape/logtape",
    "@noble/ciphers",
    "@noble/curves",
    "@noble/hashes",
    "fast-check",
    "pure-rand",
    "wabt",
  ]);
});

Deno.test("the test tasks, and only they, use the tests' config", () => {
  const { tasks } = json("deno.json") as { tasks: Record<string, string> };
  for (const name of ["test", "test:hosts"]) {
    assert.match(tasks[name], /^deno test --config tests\/deno\.json /, name);
  }
  assert.match(tasks.check, /deno check --doc --config tests\/deno\.json tests\//);
  // The WebAssembly assembler (wabt) is a build-time package, like the test-only ones.
  assert.match(tasks["build:wasm"], /^deno run --config tests\/deno\.json /);
  for (const name of ["bitclone", "start", "compile", "bundle"]) {
    assert.doesNotMatch(tasks[name], /tests\/deno\.json/, name);
  }
});
