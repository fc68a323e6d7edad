/**
 * `bitclone node` hosts the LRP2P file receiver only when the config enables it; then
 * `bitclone lrp2p send` delivers a file into its `outDir`, with the node's key from its key file.
 */
import assert from "node:assert/strict";
import { loadKey, toHex } from "../../src/lrp2p/mod.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const FLAGS = ["run", "--allow-net", "--allow-read", "--allow-write", MAIN];
const dec = new TextDecoder();

/** Starts a node on 127.0.0.1 and reads its banner (the lines up to the last service). */
async function startNode(args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, "node", "--hostname", "127.0.0.1", ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  let stdout = "";
  const reader = child.stdout.getReader();
  const complete = () => {
    const n = Number(/(\d+) service\(s\) running/.exec(stdout)?.[1] ?? NaN);
    return stdout.endsWith("\n") && stdout.trimEnd().split("\n").length >= 1 + n;
  };
  while (!complete()) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`no banner: ${stdout}`);
    stdout += dec.decode(value);
  }
  reader.releaseLock();
  return { child, banner: stdout };
}

async function stop(child: Deno.ChildProcess) {
  child.kill("SIGINT");
  const out = await child.output();
  return { code: out.code, stderr: dec.decode(out.stderr) };
}

Deno.test("node: the lrp2p service is off unless enabled, then receives files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-lrp2p-node-" });
  try {
    const ports = ["--peer-port", "0", "--miner-port", "0", "--tracker-port", "0"];
    const others = ["--disable", "kv", ...ports];
    // off by default
    const off = await startNode([...others, "--data-dir", `${dir}/data`]);
    assert.doesNotMatch(off.banner, /lrp2p/);
    assert.equal((await stop(off.child)).code, 0);
    // on
    await Deno.writeTextFile(
      `${dir}/node.json`,
      JSON.stringify({ services: { lrp2p: { enabled: true, port: 0, outDir: `${dir}/inbox` } } }),
    );
    const on = await startNode([
      ...others,
      "--data-dir",
      `${dir}/data`,
      "--config",
      `${dir}/node.json`,
    ]);
    const port = /lrp2p\s+udp 127\.0\.0\.1:(\d+)/.exec(on.banner)?.[1];
    assert.ok(port, on.banner);
    const key = toHex((await loadKey(`${dir}/data/lrp2p.key`)).publicKey); // created by the node
    assert.equal((await Deno.stat(`${dir}/data/lrp2p.key`)).mode! & 0o777, 0o600);
    const data = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
    await Deno.writeFile(`${dir}/payload.bin`, data);
    const send = await new Deno.Command(Deno.execPath(), {
      args: [...FLAGS, "lrp2p", "send", `127.0.0.1:${port}`, `${dir}/payload.bin`, "--expect", key],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    assert.equal(send.code, 0, dec.decode(send.stderr));
    assert.deepEqual(await Deno.readFile(`${dir}/inbox/payload.bin`), data);
    const { code, stderr } = await stop(on.child);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /saved .*payload\.bin \(300000 bytes\), SHA-256 verified/);
    // a bad setting is a usage error naming the config file
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify({ services: { lrp2p: { enabled: true, allow: ["nope"] } } }),
    );
    const bad = await new Deno.Command(Deno.execPath(), {
      args: [...FLAGS, "node", "--config", `${dir}/bad.json`, "--data-dir", `${dir}/data`],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    assert.equal(bad.code, 2);
    assert.match(dec.decode(bad.stderr), /services\.lrp2p\.allow must be a list of public keys/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
