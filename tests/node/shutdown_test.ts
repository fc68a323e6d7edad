/**
 * The process's stop signal (`src/node/shutdown.ts`) and the parent watch: signals that arrive
 * together are one stop, a deliberate second Ctrl-C exits 130 without leaving a half-written file,
 * and a changed parent is noticed once.
 */
import assert from "node:assert/strict";
import { watchParent } from "../../src/node/parent_watch.ts";
import { setupLogging } from "../../src/util/log_deno.ts";

setupLogging({ level: "error", write: () => {} });

const FIXTURE = new URL("./_shutdown_fixture.ts", import.meta.url).pathname;

function fixture(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-run", FIXTURE, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
}

Deno.test("shutdownSignal(): SIGINTs arriving together abort once and do not exit", async () => {
  // Three within 40 ms, as a terminal plus two `deno task` layers deliver them. Before, the second one
  // called Deno.exit(130) at once.
  const out = await fixture(["burst"]);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.equal(new TextDecoder().decode(out.stdout), "aborts 1\n");
  assert.equal([...stderr.matchAll(/SIGINT: stopping/g)].length, 1, stderr);
});

Deno.test("shutdownSignal(): a deliberate second Ctrl-C exits 130 and leaves no .tmp", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-force-" });
  try {
    const out = await fixture(["force", dir]);
    const stderr = new TextDecoder().decode(out.stderr);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, ["big.txt"], stderr);
    assert.equal((await Deno.stat(`${dir}/big.txt`)).size, 8 * 1024 * 1024 + 1, "whole");
    assert.equal(out.code, 130, stderr);
    assert.match(stderr, /SIGINT: stopping/);
    assert.match(stderr, /second Ctrl-C: stopping at once/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("watchParent(): notices a new parent once, and not while it stays", async () => {
  let parent = 4242;
  const why: string[] = [];
  const watch = watchParent({ onGone: (w) => why.push(w), intervalMs: 5, parentPid: () => parent });
  try {
    assert.equal(watch.parent, 4242);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(why, []);
    parent = 1;
    await new Promise((r) => setTimeout(r, 30));
    parent = 777;
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(why, ["parent process 4242 exited"]);
  } finally {
    watch.dispose();
  }
  const none = watchParent({ onGone: () => assert.fail("no parent to watch"), parentPid: () => 1 });
  assert.equal(none.parent, undefined);
  none.dispose();
});
