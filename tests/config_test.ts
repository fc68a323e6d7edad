/**
 * The program's config resolves only what the program needs: `deno task start` must not download
 * test-only npm packages. Deno installs every npm package of a lockfile at start, so test-only
 * packages live in tests/deno.json and tests/deno.lock (the test tasks and `build:wasm` pass
 * `--config tests/deno.json`), never in deno.json or deno.lock.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const json = (path: string) => JSON.parse(Deno.readTextFileSync(new URL(path, ROOT)));

/** The program's npm imports, and what they bring along in deno.lock. */
const PROGRAM = [
  "@logtape/logtape",
  "@noble/ciphers",
  "@noble/curves",
  "@noble/hashes",
  "libsodium-wrappers",
  "prom-client",
];
/** libsodium-wrappers' and prom-client's dependencies. */
const PROGRAM_DEPENDENCIES = ["@opentelemetry/api", "bintrees", "libsodium", "tdigest"];

/** A lockfile key's package name: `a@1_b@2` and `@s/a@1` give `a` and `@s/a`. */
const packageName = (key: string) => /^@?[^@]+/.exec(key)![0];

/** The packages of `lock` reachable from the package named `root` (versions left out). */
function reachable(lock: { npm?: Record<string, { dependencies?: string[] }> }, root: string) {
  const npm = lock.npm ?? {};
  const keyOf = (dep: string) =>
    dep in npm ? dep : Object.keys(npm).find((k) => packageName(k) === dep);
  const seen = new Set<string>();
  const todo = [keyOf(root)];
  while (todo.length) {
    const key = todo.pop();
    if (key === undefined || seen.has(key)) continue;
    seen.add(key);
    for (const dep of npm[key]?.dependencies ?? []) todo.push(keyOf(dep));
  }
  return [...seen].map(packageName);
}

/** npm package names (without versions) in a lockfile's resolved packages. */
function lockedPackages(lock: { npm?: Record<string, unknown> }): string[] {
  return [...new Set(Object.keys(lock.npm ?? {}).map(packageName))].sort();
}

Deno.test("deno.json and deno.lock hold only the program's npm packages", () => {
  const config = json("deno.json");
  assert.deepEqual(Object.keys(config.imports).map((k) => k.replace(/\/$/, "")).sort(), PROGRAM);
  assert.deepEqual(
    lockedPackages(json("deno.lock")),
    [...PROGRAM, ...PROGRAM_DEPENDENCIES].sort(),
  );
  assert.doesNotMatch(
    Deno.readTextFileSync(new URL("deno.lock", ROOT)),
    /fast-check|pure-rand|puppeteer/,
  );
});

Deno.test("tests/deno.json maps what deno.json maps, plus the test-only packages", () => {
  const program = json("deno.json");
  const tests = json("tests/deno.json");
  for (const [name, target] of Object.entries(program.imports)) {
    assert.equal(tests.imports[name], target, `tests/deno.json maps ${name} as deno.json does`);
  }
  assert.equal(tests.imports["fast-check"], "npm:fast-check@4.10.2");
  assert.deepEqual(tests.unstable, program.unstable);
  assert.equal(tests.imports["puppeteer-core"], "npm:puppeteer-core@25.16.0");
  assert.equal(tests.imports["wabt"], "npm:wabt@1.0.39");
  // The program's packages, fast-check with pure-rand, wabt (the WebAssembly assembler of
  // `deno task build:wasm`), and puppeteer-core with what it needs.
  const lock = json("tests/deno.lock");
  const browser = reachable(lock, "puppeteer-core");
  assert.ok(browser.length > 1 && browser.includes("ws"), browser.join());
  assert.deepEqual(
    lockedPackages(lock),
    [
      ...new Set([
        ...PROGRAM,
        ...PROGRAM_DEPENDENCIES,
        "fast-check",
        "pure-rand",
        "wabt",
        ...browser,
      ]),
    ]
      .sort(),
  );
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
