/**
 * `bitclone tracker ring-serve` and `ring-peer` as real processes on 127.0.0.1 (through the CLI
 * layer, with shortened timers given as flags): five peer processes print the sentence; a second
 * peer claiming a live handle exits 1; one peer is killed with SIGKILL and the tracker prints its
 * removal and the repaired ring; SIGTERM stops everything with exit code 0; usage errors exit 2.
 */
import assert from "node:assert/strict";
import { RingProc } from "./_ring_proc.ts";

const SENTENCE = "blue skies and snowy peaks";

Deno.test("ring-serve and five ring-peer processes converge, lose one to SIGKILL and heal", async () => {
  const tracker = RingProc.bitclone("tracker", [
    "ring-serve",
    "--port",
    "0",
    "--ping-interval-ms",
    "300",
    "--ping-timeout-ms",
    "1000",
  ]);
  const peers: RingProc[] = [];
  try {
    const [, port] = await tracker.waitFor(/Tracker listening at 127\.0\.0\.1 @ (\d+)\n/);
    const handles = ["ann", "bob", "cat", "dan", "eve"];
    for (const h of handles) {
      peers.push(RingProc.bitclone(h, [
        "ring-peer",
        "-handle",
        h,
        "--port",
        "0",
        "--hostname",
        "127.0.0.1",
        "--tracker",
        `127.0.0.1:${port}`,
        "--query-interval-ms",
        "30",
      ]));
    }
    for (const p of peers) {
      await p.waitFor(new RegExp(`^${SENTENCE}\n$`), 30_000).catch((err) => {
        const all = [tracker, ...peers].map((q) => `--- ${q.name}\n${q.stdout}${q.stderr}`);
        throw new Error(`${err.message}\n${all.join("\n")}`);
      });
    }
    // Registration order is the order the processes got there: any order of the five.
    const [ring] = await tracker.waitFor(/^RING( \w+){5}$/m, 10_000);
    assert.deepEqual(ring.split(" ").slice(1).sort(), handles);

    const twin = RingProc.bitclone("twin", [
      "ring-peer",
      "--handle",
      "ann",
      "--port",
      "0",
      "--hostname",
      "127.0.0.1",
      "--tracker",
      `127.0.0.1:${port}`,
    ]);
    assert.equal(await twin.exit(), 1, "a live handle is refused");
    assert.match(twin.stderr, /Handle already registered/);

    const victim = peers[2];
    victim.kill("SIGKILL");
    await victim.exit();
    const [, removedPort, ring4] = await tracker.waitFor(
      /^REMOVED cat @ 127\.0\.0\.1 (\d+)\nRING((?: \w+){4})$/m,
      10_000,
    );
    assert.ok(Number(removedPort) > 0);
    assert.deepEqual(ring4.trim().split(" ").sort(), ["ann", "bob", "dan", "eve"]);
  } finally {
    for (const p of peers) p.kill("SIGTERM");
    tracker.kill("SIGTERM");
    const codes = await Promise.all(peers.map((p) => p.exit()));
    const trackerCode = await tracker.exit();
    assert.deepEqual(codes.filter((_, i) => i !== 2), [0, 0, 0, 0], "SIGTERM stops a peer cleanly");
    assert.equal(trackerCode, 0, `SIGTERM stops the tracker cleanly:\n${tracker.stderr}`);
  }
  for (const p of peers) {
    assert.equal(p.stdout, `${SENTENCE}\n`, `${p.name} prints the sentence once, and only that`);
  }
});

Deno.test("ring-serve and ring-peer exit 2 on usage errors", async () => {
  const cases: [string[], RegExp][] = [
    [["ring-peer", "--port", "0"], /missing --handle/],
    [["ring-peer", "--handle", "a", "--tracker", "nowhere"], /--tracker must look like HOST:PORT/],
    [["ring-peer", "--handle", "a", "--query-interval-ms", "0"], /--query-interval-ms/],
    [["ring-serve", "--port", "70000"], /--port/],
    [["ring-serve", "--drop-after", "0"], /--drop-after/],
  ];
  for (const [args, message] of cases) {
    const p = RingProc.bitclone(args.join(" "), args);
    assert.equal(await p.exit(), 2, args.join(" "));
    assert.match(p.stderr, message);
  }
});

Deno.test("ring-serve stops quietly with exit 0 when its stdout is closed", async () => {
  // `bitclone tracker ring-serve | head -1`: the REGISTERED line is printed from the server's
  // event callback; its EPIPE must stop the server cleanly, not crash the process.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      new URL("./_ring_cli.ts", import.meta.url).pathname,
      "tracker",
      "ring-serve",
      "--port",
      "0",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  let m: RegExpExecArray | null = null;
  while (!(m = /Tracker listening at 127\.0\.0\.1 @ (\d+)\n/.exec(out))) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  assert.ok(m, out);
  await reader.cancel(); // closes our end of the pipe, like `head -1` exiting
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(m[1]) });
  await conn.write(new TextEncoder().encode("(S'REGISTER'\np0\nS'p1'\np1\nI9201\ntp2\n."));
  // The reply may or may not be written before the server stops; either way it closes.
  await new Response(conn.readable).arrayBuffer();
  const status = await child.status;
  const stderr = await new Response(child.stderr).text();
  assert.doesNotMatch(stderr, /ERROR|Uncaught|Broken pipe/);
  assert.equal(status.code, 0, stderr);
});
