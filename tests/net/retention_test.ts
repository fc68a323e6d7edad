/**
 * Finished connections do not outlive young-generation GCs in the TCP driver's and the tracker
 * core's connection tables. Before, they were a `Map` and `Set`s: once such a table is old, the
 * hash tables it rebuilds keep pointing to the values they held, so every connection's objects
 * survived the young GCs and were promoted (at 64 clients, young GCs of 5-10 ms instead of under
 * 1). `_retention_fixture.ts` runs 2,000 connections, each holding about 4 KiB of young objects,
 * then two young GCs, and prints the heap bytes still used: about 10 MB (driver) and 6.7 MB
 * (tracker) before, about 1.3 MB and 0.8 MB now. The `Map` control shows that the probe sees such
 * retention (about 7 MB).
 */
import assert from "node:assert/strict";

const FIXTURE = new URL("./_retention_fixture.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
/** Far below the 2,000 connections' young objects (8 MB and more), far above the rest. */
const RETAINED_MAX = 3_000_000;

async function retained(what: "driver" | "tracker" | "map"): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      // No full GC during the run: it would clear what the young GCs kept.
      "--v8-flags=--expose-gc,--initial-old-space-size=256",
      FIXTURE,
      what,
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  return JSON.parse(new TextDecoder().decode(out.stdout)).retained;
}

Deno.test("retention probe: a churning Map in the old generation keeps its deleted values through young GCs", async () => {
  assert.ok(await retained("map") > RETAINED_MAX);
});

Deno.test("TcpDriver: finished connections do not survive young GCs", async () => {
  const bytes = await retained("driver");
  assert.ok(bytes < RETAINED_MAX, `${bytes} bytes still held`);
});

Deno.test("Part1ServerCore: finished connections do not survive young GCs", async () => {
  const bytes = await retained("tracker");
  assert.ok(bytes < RETAINED_MAX, `${bytes} bytes still held`);
});
