/**
 * How a node stops when run the README's ways — `npx -y deno@2.9.6 task start`,
 * `deno task bitclone peer …` — in a copy of the checkout, signalled as a terminal does (the whole
 * process group), or only the npx process as `kill` from another terminal would: one clean stop
 * whatever number of signals arrive together, every file saved, no
 * `.tmp` left, "saved" logged once and only after the rename, the committed `peers.json` never
 * rewritten; a data directory that cannot be written is reported at start and fails the exit; a
 * node whose parent dies stops cleanly too.
 */
import assert from "node:assert/strict";
import { parsePeersFile } from "../../src/bitclone/peers_file.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PORTS = ["--hostname", "127.0.0.1", "--peer-port", "0", "--miner-port", "0"];
const NODE_ARGS = [...PORTS, "--tracker-port", "0", "--kv-port", "0", "--status-port", "0"];
/** The committed seed list of the copy: not empty, so that a rewrite would show. */
const SEEDS = '[\n  "192.0.2.10:8333"\n]\n';

/** A copy of the checkout (what `deno task` needs) in a temporary directory. */
async function copyProject(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-lifecycle-" });
  for (const f of ["deno.json", "deno.lock", "main.ts", ".npmrc"]) {
    await Deno.copyFile(`${ROOT}${f}`, `${dir}/${f}`);
  }
  await Deno.writeTextFile(`${dir}/peers.json`, SEEDS);
  const copyDir = async (from: string, to: string) => {
    await Deno.mkdir(to, { recursive: true });
    for await (const e of Deno.readDir(from)) {
      if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
      else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  };
  await copyDir(`${ROOT}src`, `${dir}/src`);
  return dir;
}

/**
 * A user's terminal environment: without the variables and the `node_modules/.bin` PATH entries of
 * an `npx` this test may itself run under (a nested npm runs a binary without its `sh -c`).
 */
const USER_ENV = {
  NO_COLOR: "1",
  HOME: Deno.env.get("HOME") ?? "/",
  PATH: (Deno.env.get("PATH") ?? "").split(":").filter((p) => !p.includes("node_modules")).join(
    ":",
  ),
};

interface Started {
  child: Deno.ChildProcess;
  banner: string;
  /** The rest of stdout and all of stderr, once the process exited. */
  finish(): Promise<{ code: number; stdout: string; stderr: string }>;
}

/**
 * Spawns `cmd args` in a new session and process group (`setsid`: its pid is the group's id) in
 * `cwd`, and waits until stdout shows `ready`.
 */
async function start(cmd: string, args: string[], cwd: string, ready: RegExp): Promise<Started> {
  const child = new Deno.Command("setsid", {
    args: [cmd, ...args],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: USER_ENV,
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  const dec = new TextDecoder();
  let stdout = "";
  const deadline = Date.now() + 60_000;
  while (!ready.test(stdout)) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* gone */ }
      await child.status;
      throw new Error(`not ready: ${stdout}\n${await stderr}`);
    }
    stdout += dec.decode(value, { stream: true });
  }
  const banner = stdout;
  const rest = (async () => {
    let out = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return out;
      out += dec.decode(value, { stream: true });
    }
  })();
  return {
    child,
    banner,
    finish: async () => {
      // A process of the group left running would hold the pipes open: give up after 30 s,
      // killing the whole group, and fail.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) =>
        timer = setTimeout(() => {
          try {
            Deno.kill(-child.pid, "SIGKILL");
          } catch { /* gone */ }
          reject(new Error("still running 30 s after the signal: killed the process group"));
        }, 30_000)
      );
      try {
        const [status, out, err] = await Promise.race([
          Promise.all([child.status, rest, stderr]),
          timeout,
        ]);
        return { code: status.code, stdout: banner + out, stderr: err };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

const count = (text: string, re: RegExp) => [...text.matchAll(new RegExp(re, "g"))].length;

async function tmpFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".tmp")) out.push(e.name);
  return out;
}

/** What every clean stop of `npx … task start` in `dir` must leave. */
async function assertCleanStop(dir: string, r: { code: number; stderr: string }) {
  // 0 through npm too: the checkout's .npmrc has npm run deno without a /bin/sh in between (dash
  // died of the SIGINT once the node exited, and npm then reported 130).
  assert.equal(r.code, 0, r.stderr);
  assert.equal(count(r.stderr, /stopped cleanly/), 1, r.stderr);
  assert.equal(count(r.stderr, /address book saved to data\/peers\.json/), 1, r.stderr);
  assert.doesNotMatch(r.stderr, /stopping at once|NOT saved/);
  const saved = parsePeersFile(await Deno.readTextFile(`${dir}/data/peers.json`));
  assert.equal(saved.damaged, false);
  // The committed seed list was read (its address is in the saved book) and not rewritten.
  assert.deepEqual(saved.peers.map((p) => p.address), ["192.0.2.10:8333"]);
  assert.equal(await Deno.readTextFile(`${dir}/peers.json`), SEEDS);
  assert.deepEqual(await tmpFiles(`${dir}/data`), []);
  assert.deepEqual(await tmpFiles(dir), []);
}

const NPX = ["-y", "deno@2.9.6", "task"];
const BANNER = /service\(s\) running[\s\S]*tracker .*\n/;

Deno.test("npx … task start: Ctrl-C to the process group stops once, cleanly, files saved", async () => {
  const dir = await copyProject();
  try {
    const node = await start("npx", [...NPX, "start", ...NODE_ARGS], dir, BANNER);
    Deno.kill(-node.child.pid, "SIGINT");
    await assertCleanStop(dir, await node.finish());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("npx … task start: two Ctrl-C 50 ms apart are still one clean stop", async () => {
  const dir = await copyProject();
  try {
    const node = await start("npx", [...NPX, "start", ...NODE_ARGS], dir, BANNER);
    Deno.kill(-node.child.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 50));
    killGroupIfAlive(node.child.pid, "SIGINT"); // the stop may already be over
    await assertCleanStop(dir, await node.finish());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`npx … task start: ${signal} to the npx process alone stops the node cleanly`, async () => {
    const dir = await copyProject();
    try {
      const node = await start("npx", [...NPX, "start", ...NODE_ARGS], dir, BANNER);
      const port = Number(/peer +tcp 127\.0\.0\.1:(\d+)/.exec(node.banner)![1]);
      Deno.kill(node.child.pid, signal); // setsid exec'd npx: the child is npx itself
      await assertCleanStop(dir, await node.finish());
      // Every process of the chain is gone (the pipes closed) and the port is free.
      const again = Deno.listen({ hostname: "127.0.0.1", port });
      again.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("npx … task bitclone peer: Ctrl-C to the process group saves the book once, exit 0", async () => {
  const dir = await copyProject();
  try {
    const peer = await start(
      "npx",
      [...NPX, "bitclone", "peer", "--hostname", "127.0.0.1", "--port", "0", "10.9.8.7:8333"],
      dir,
      /listening on .*\n/,
    );
    Deno.kill(-peer.child.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 50));
    killGroupIfAlive(peer.child.pid, "SIGINT"); // the stop may already be over
    const r = await peer.finish();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(count(r.stderr, /address book saved to data\/peers\.json \(2 addresses\)/), 1);
    assert.equal(count(r.stderr, /SIGINT: stopping/), 1, r.stderr);
    const saved = parsePeersFile(await Deno.readTextFile(`${dir}/data/peers.json`));
    assert.deepEqual(saved.peers.map((p) => p.address).sort(), [
      "10.9.8.7:8333",
      "192.0.2.10:8333",
    ]);
    assert.equal(await Deno.readTextFile(`${dir}/peers.json`), SEEDS);
    assert.deepEqual(await tmpFiles(`${dir}/data`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const command of ["peer", "node"] as const) {
  Deno.test(`deno task bitclone ${command}: an unwritable data directory warns at start, exits 1`, async () => {
    const dir = await copyProject();
    try {
      // A data directory under a regular file cannot be created, not even by root.
      await Deno.writeTextFile(`${dir}/afile`, "");
      // (the key-value store, which cannot run without its data directory, is left out: it
      // would stop the node at start)
      const ports = command === "peer"
        ? ["--hostname", "127.0.0.1", "--port", "0"]
        : [...NODE_ARGS, "--disable", "kv"];
      const run = await start(
        Deno.execPath(),
        ["task", "bitclone", command, ...ports, "--data-dir", "afile/data"],
        dir,
        command === "peer" ? /listening on .*\n/ : BANNER,
      );
      Deno.kill(-run.child.pid, "SIGINT");
      const r = await run.finish();
      assert.equal(r.code, 1, r.stderr);
      const warning = r.stderr.indexOf("afile/data/peers.json cannot be saved");
      assert.ok(warning >= 0, r.stderr);
      assert.ok(warning < r.stderr.indexOf("SIGINT: stopping"), "the warning comes at start");
      assert.match(r.stderr, /address book NOT saved to afile\/data\/peers\.json/);
      assert.doesNotMatch(r.stderr, /address book saved|stopped cleanly/);
      assert.equal(await Deno.readTextFile(`${dir}/peers.json`), SEEDS);
      assert.deepEqual(await tmpFiles(dir), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("deno task bitclone node: the node stops cleanly when its parent dies", async () => {
  const dir = await copyProject();
  try {
    // The child is `deno task`; the node is its child. SIGKILL is not forwarded: only the parent
    // watch can notice.
    const node = await start(
      Deno.execPath(),
      ["task", "bitclone", "node", ...NODE_ARGS, "--data-dir", "state"],
      dir,
      BANNER,
    );
    const port = Number(/peer +tcp 127\.0\.0\.1:(\d+)/.exec(node.banner)![1]);
    node.child.kill("SIGKILL");
    const r = await node.finish(); // the pipes close when the node, which holds them, exits
    assert.match(r.stderr, /parent process \d+ exited: stopping/);
    assert.equal(count(r.stderr, /stopped cleanly/), 1, r.stderr);
    assert.match(r.stderr, /address book saved to state\/peers\.json/);
    assert.equal(parsePeersFile(await Deno.readTextFile(`${dir}/state/peers.json`)).damaged, false);
    const again = Deno.listen({ hostname: "127.0.0.1", port });
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Signals a process group, unless every process of it has already exited. */
function killGroupIfAlive(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
