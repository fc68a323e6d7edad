/**
 * House rule (STYLE.md): protocol cores are sans-I/O. A file under `src/` is an adapter only by
 * its place or its name (`isAdapter()` in `_purity.ts`: the `cli`, `node` and `net` layers, and
 * files named `*_deno.ts` or `*_worker.ts`); every other file is a core and must not touch `Deno`,
 * `globalThis`, clocks, timers, microtasks, OS randomness or `node:` modules
 * (`findEscapes()`, itself tested in `purity_checker_test.ts`).
 */
import assert from "node:assert/strict";
import { findEscapes, isAdapter } from "./_purity.ts";

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test("protocol cores under src/ use no Deno, clock, timer, microtask or OS randomness", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const offences: string[] = [];
  let cores = 0;
  for await (const abs of walk(`${root}src`)) {
    const rel = abs.slice(root.length);
    if (isAdapter(rel)) continue;
    cores++;
    for (const what of findEscapes(await Deno.readTextFile(abs))) offences.push(`${rel}: ${what}`);
  }
  assert.ok(cores >= 50, `only ${cores} core files found: is the walk broken?`);
  assert.deepEqual(offences, [], "cores must stay sans-I/O (or be named *_deno.ts as adapters)");
});
