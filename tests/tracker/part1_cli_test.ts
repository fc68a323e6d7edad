/**
 * The real `bitclone tracker serve|fetch` and `bitclone node` processes, run as `deno task
 * bitclone` runs them (same permission flags): help, usage errors (exit 2), a port in use and bad
 * db files (exit 1), serve + fetch end to end with a custom db, fetch against the Python replica
 * of the original and its handling of the error reply, and the node hosting the tracker.
 */
import assert from "node:assert/strict";
import { fetchPart1 } from "../../src/tracker/part1/client_deno.ts";
import { ERROR_REPLY } from "../../src/tracker/part1/wire.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";
import { startReplica } from "./_part1_replica.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const FLAGS = ["run", "--allow-net", "--allow-read", "--allow-write", MAIN];
const td = new TextDecoder();

async function bitclone(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: td.decode(out.stdout), stderr: td.decode(out.stderr) };
}

/** Starts a long-running bitclone process and waits until stdout matches `ready`. */
async function spawn(args: string[], ready: RegExp) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  const deadline = Date.now() + 30_000;
  while (!ready.test(stdout)) {
    if (Date.now() > deadline) throw new Error(`not ready: ${stdout}`);
    const { value, done } = await reader.read();
    if (done) break;
    stdout += value;
  }
  const match = ready.exec(stdout);
  return {
    match,
    stdout,
    /** Sends SIGINT; returns the exit code, the time it took and stderr. */
    async stop() {
      const t0 = performance.now();
      child.kill("SIGINT");
      const status = await child.status;
      const ms = performance.now() - t0;
      await reader.cancel();
      const stderr = await new Response(child.stderr).text();
      return { code: status.code, ms, stderr };
    },
  };
}

Deno.test("bitclone tracker --help lists serve and fetch; each has its own help", async () => {
  const group = await bitclone(["tracker", "--help"]);
  assert.equal(group.code, 0);
  assert.match(group.stdout, /serve/);
  assert.match(group.stdout, /fetch/);
  const serve = await bitclone(["tracker", "serve", "--help"]);
  assert.equal(serve.code, 0);
  for (const opt of ["--port", "--db", "--max-protocol", "--timeout", "7777"]) {
    assert.ok(serve.stdout.includes(opt), opt);
  }
  const fetch = await bitclone(["tracker", "fetch", "-h"]);
  assert.equal(fetch.code, 0);
  assert.match(fetch.stdout, /HOST:PORT/);
  assert.match(fetch.stdout, /--protocol/);
});

Deno.test("bitclone tracker with bad arguments prints one line and exits 2", async () => {
  for (
    const args of [
      ["tracker"],
      ["tracker", "nosuch"],
      ["tracker", "serve", "--port", "70000"],
      ["tracker", "serve", "--bogus"],
      ["tracker", "serve", "--max-protocol", "6"],
      ["tracker", "serve", "--timeout", "0"],
      ["tracker", "serve", "--max-request-bytes", "8"],
      ["tracker", "serve", "extra"],
      ["tracker", "fetch", "nonsense"],
      ["tracker", "fetch", "127.0.0.1:0"],
      ["tracker", "fetch", "--protocol", "3"],
      ["tracker", "fetch", "127.0.0.1:1", "127.0.0.1:2"],
    ]
  ) {
    const r = await bitclone(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /^bitclone tracker/);
  }
});

Deno.test("bitclone tracker serve exits 1 naming the port when it is in use", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const r = await bitclone(["tracker", "serve", "--port", String(taken.addr.port)]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`cannot listen on tcp 127\\.0\\.0\\.1:${taken.addr.port}: address already in use`),
    );
    assert.doesNotMatch(r.stdout, /serving/);
  } finally {
    taken.close();
  }
});

Deno.test("bitclone tracker serve exits 1 on a missing or invalid db file, naming the line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await bitclone(["tracker", "serve", "--port", "0", "--db", `${dir}/none.txt`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Cannot read the db file .*none\.txt/);
    await Deno.writeTextFile(`${dir}/bad.txt`, "0 zero\n0 again\n");
    const bad = await bitclone(["tracker", "serve", "--port", "0", "--db", `${dir}/bad.txt`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.txt: line 2: SEQNUM 0 repeats line 1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitclone tracker serve --db and tracker fetch work end to end, stop on SIGINT", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/db.txt`, "# test\n2 processes\n0 Two\n1 bitclone\n");
    const server = await spawn(
      ["tracker", "serve", "--port", "0", "--db", `${dir}/db.txt`],
      /Tracker serving 3 entries on tcp 127\.0\.0\.1:(\d+)/,
    );
    const port = server.match![1];
    try {
      const fetched = await bitclone(["tracker", "fetch", `127.0.0.1:${port}`, "--items"]);
      assert.equal(fetched.code, 0, fetched.stderr);
      assert.equal(
        fetched.stdout,
        "0 2 processes\n1 0 Two\n2 1 bitclone\nTwo bitclone processes\n",
      );
      const p2 = await bitclone(["tracker", "fetch", `localhost:${port}`, "--protocol", "2"]);
      assert.equal(p2.stdout, "Two bitclone processes\n", p2.stderr);
    } finally {
      const { code, ms, stderr } = await server.stop();
      assert.equal(code, 0, stderr);
      assert.ok(ms < 2000, `stopped in ${ms.toFixed(0)} ms`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitclone tracker serve logs each exchange at --log-level debug, and none at info", async () => {
  for (const level of ["debug", "info"]) {
    const server = await spawn(
      ["tracker", "serve", "--port", "0", "--log-level", level],
      /on tcp 127\.0\.0\.1:(\d+)/,
    );
    let stderr = "";
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(server.match![1]) });
      await conn.write(new TextEncoder().encode("REGISTER"));
      assert.equal(await new Response(conn.readable).text(), "I16\n.");
    } finally {
      const stopped = await server.stop();
      assert.equal(stopped.code, 0, stopped.stderr);
      stderr = stopped.stderr;
    }
    const lines = stderr.split("\n").filter((l) => l.includes("REGISTER -> size"));
    assert.equal(lines.length, level === "debug" ? 1 : 0, stderr);
  }
});

Deno.test("bitclone tracker fetch prints the message of the Python replica of the original", async () => {
  const replica = await startReplica();
  try {
    const r = await bitclone(["tracker", "fetch", replica.hostport]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${DEFAULT_DB.message}\n`);
  } finally {
    await replica.stop();
  }
});

Deno.test("bitclone tracker fetch reports the error reply and an unreachable tracker, exit 1", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    for await (const conn of listener) {
      try {
        await conn.read(new Uint8Array(1024));
        await conn.write(ERROR_REPLY);
      } catch {
        // the client left
      }
      conn.close();
    }
  })();
  try {
    const r = await bitclone(["tracker", "fetch", `127.0.0.1:${listener.addr.port}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /REGISTER.*the tracker answered 'Bad request'/);
  } finally {
    listener.close();
    await serving;
  }
  const gone = await bitclone(["tracker", "fetch", `127.0.0.1:${listener.addr.port}`]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /Cannot get the size \(REGISTER\) from 127\.0\.0\.1:\d+/);
});

Deno.test("bitclone node hosts the tracker on TCP (default 7777) with a db from the config", async () => {
  const help = await bitclone(["node", "--help"]);
  assert.match(help.stdout, /tracker +tcp 7777 +CS457 tracker, Part 1/);
  assert.match(help.stdout, /--tracker-port/);
  // Every service of the node on a free port, whatever the other services are.
  const ports = [...help.stdout.matchAll(/--([a-z0-9-]+)-port PORT/g)].flatMap((m) => [
    `--${m[1]}-port`,
    "0",
  ]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/db.txt`, "1 node\n0 hello\n");
    await Deno.writeTextFile(
      `${dir}/node.json`,
      JSON.stringify({ services: { tracker: { db: `${dir}/db.txt`, maxProtocol: 2 } } }),
    );
    const node = await spawn(
      ["node", "--hostname", "127.0.0.1", ...ports, "--config", `${dir}/node.json`],
      /tracker +tcp 127\.0\.0\.1:(\d+) +CS457 tracker, Part 1\n/,
    );
    try {
      const result = await fetchPart1(`127.0.0.1:${node.match![1]}`);
      assert.equal(result.message, "hello node");
    } finally {
      const { code, stderr } = await node.stop();
      assert.equal(code, 0, stderr);
      assert.match(stderr, /stopped cleanly/);
    }
    await Deno.writeTextFile(
      `${dir}/node.json`,
      JSON.stringify({ services: { tracker: { db: `${dir}/none.txt` } } }),
    );
    const bad = await bitclone([
      "node",
      "--hostname",
      "127.0.0.1",
      ...ports,
      "--config",
      `${dir}/node.json`,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /tracker: Cannot read the db file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bitclone tracker fetch ends quietly with exit 0 when its stdout is closed", async () => {
  // `bitclone tracker fetch --items | head -1`: here stdout is closed before the tracker answers
  // anything, so the first line written fails with EPIPE (it printed "ERROR Broken pipe", exit 1).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, "tracker", "fetch", "--items", `127.0.0.1:${listener.addr.port}`],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  await child.stdout.cancel(); // closes our end of the pipe
  const serving = (async () => {
    for await (const conn of listener) {
      try {
        let request = "";
        const buf = new Uint8Array(64);
        while (request !== "REGISTER" && !request.endsWith(".")) {
          const n = await conn.read(buf);
          if (n === null) break;
          request += td.decode(buf.subarray(0, n));
        }
        const item = /^I(\d+)\n\.$/.exec(request);
        await conn.write(
          item ? DEFAULT_DB.itemReply(Number(item[1])) : new TextEncoder().encode("I16\n."),
        );
      } catch {
        // the client left
      }
      conn.close();
    }
  })();
  try {
    const status = await child.status;
    const stderr = await new Response(child.stderr).text();
    assert.equal(stderr, "");
    assert.equal(status.code, 0);
  } finally {
    listener.close();
    await serving;
  }
});
