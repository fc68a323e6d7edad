/**
 * `bitclone lrp2p …` as real processes on 127.0.0.1: help and usage errors, keygen and key files,
 * the netcat with key pinning (accepted and refused), and send/recv of a 5 MB file with the bytes
 * compared, a refused transfer and an aborted one leaving no file.
 */
import assert from "node:assert/strict";
import { loadKey, parseKeyFile, saveKey, toHex } from "../../src/lrp2p/mod.ts";
import { keyPairFrom } from "../../src/lrp2p/mod.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const FLAGS = ["run", "--allow-net", "--allow-read", "--allow-write", MAIN];
const dec = new TextDecoder();

async function bitclone(args: string[], options: { cwd?: string; stdin?: string } = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
    stdin: options.stdin === undefined ? "null" : "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A long-running `bitclone` whose stderr is watched line by line. */
function spawn(args: string[], options: { cwd?: string; stdin?: "piped" | "null" } = {}) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...FLAGS, ...args],
    cwd: options.cwd,
    stdout: "piped",
    stderr: "piped",
    stdin: options.stdin ?? "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  let stderr = "";
  let stdout = "";
  const waiters: (() => void)[] = [];
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const chunk of s) {
      add(dec.decode(chunk));
      for (const w of waiters.splice(0)) w();
    }
  };
  const done = Promise.all([
    pump(child.stderr, (t) => stderr += t),
    pump(child.stdout, (t) => stdout += t),
  ]).then(() => child.status);
  return {
    child,
    done,
    get stderr() {
      return stderr;
    },
    get stdout() {
      return stdout;
    },
    /** Waits until stderr matches `re` (or the process ends: then throws). */
    async waitFor(re: RegExp): Promise<RegExpExecArray> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const m = re.exec(stderr);
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`never saw ${re} in: ${stderr}`);
        let ended = false;
        await Promise.race([
          new Promise<void>((r) => waiters.push(r)),
          done.then(() => ended = true),
          new Promise((r) => setTimeout(r, 200)),
        ]);
        if (ended && !re.exec(stderr)) throw new Error(`ended without ${re}: ${stderr}`);
      }
    },
  };
}

const LISTENING = /listening on udp [\d.]+:(\d+), key ([0-9a-f]{64})/;

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "bitclone-lrp2p-cli-" });
}

async function keygen(dir: string, name: string): Promise<string> {
  const r = await bitclone(["lrp2p", "keygen", "--out", `${dir}/${name}`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

Deno.test("lrp2p: --help of the group and of every command", async () => {
  const group = await bitclone(["lrp2p", "--help"]);
  assert.equal(group.code, 0);
  for (const c of ["keygen", "listen", "connect", "send", "recv"]) {
    assert.match(group.stdout, new RegExp(`\\b${c}\\b`));
    const r = await bitclone(["lrp2p", c, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`bitclone lrp2p ${c}`));
  }
  assert.match((await bitclone(["lrp2p", "keygen", "--help"])).stdout, /0600/);
});

Deno.test("lrp2p: usage errors are one line on stderr and exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["lrp2p", "listen"], /missing --port/],
    [["lrp2p", "listen", "--port", "70000"], /out of range/],
    [["lrp2p", "listen", "--port", "0", "--allow", "abc"], /--allow must be 64 hex digits/],
    [["lrp2p", "connect"], /missing HOST:PORT/],
    [["lrp2p", "connect", "nowhere"], /HOST:PORT/],
    [["lrp2p", "connect", "127.0.0.1:1", "--expect", "g".repeat(64)], /--expect must be 64/],
    [["lrp2p", "send", "127.0.0.1:1"], /missing FILE/],
    [["lrp2p", "recv", "--port", "0"], /missing --out/],
    [["lrp2p", "recv", "--out", "x"], /missing --port/],
    [["lrp2p", "keygen", "--out", ""], /--out must not be empty/],
    [["lrp2p", "frob"], /unknown command 'frob'/],
  ];
  for (const [args, re] of cases) {
    const r = await bitclone(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  }
});

Deno.test("lrp2p keygen: prints the public key, writes a 0600 key file, never replaces one", async () => {
  const dir = await tempDir();
  try {
    const r = await bitclone(["lrp2p", "keygen"], { cwd: dir }); // default: data/lrp2p.key
    assert.equal(r.code, 0, r.stderr);
    const pub = r.stdout.trim();
    assert.match(pub, /^[0-9a-f]{64}$/);
    const path = `${dir}/data/lrp2p.key`;
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    assert.ok(!r.stdout.includes(text.split("\n")[1].split(" ")[1]), "no private key on stdout");
    const kp = parseKeyFile(text);
    assert.equal(toHex(kp.publicKey), pub);
    assert.equal(toHex(keyPairFrom(kp.privateKey).publicKey), pub);
    // a second keygen refuses, and the file is unchanged
    const again = await bitclone(["lrp2p", "keygen"], { cwd: dir });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists already/);
    assert.equal(await Deno.readTextFile(path), text);
    const forced = await bitclone(["lrp2p", "keygen", "--force"], { cwd: dir });
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(forced.stdout.trim(), pub);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/data`))).map((e) => e.name), [
      "lrp2p.key",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lrp2p key files: round trip, and damaged files are refused", async () => {
  const dir = await tempDir();
  try {
    const kp = keyPairFrom(new Uint8Array(32).map((_, i) => i + 1));
    await saveKey(`${dir}/k`, kp);
    assert.deepEqual(await loadKey(`${dir}/k`), kp);
    await assert.rejects(saveKey(`${dir}/k`, kp), Deno.errors.AlreadyExists);
    const text = await Deno.readTextFile(`${dir}/k`);
    const other = keyPairFrom(new Uint8Array(32).fill(9));
    const bad = [
      "",
      text.replace("lrp2p-key 1", "lrp2p-key 2"),
      text.replace(/public \w+/, `public ${toHex(other.publicKey)}`), // not the private key's
      text.replace(/private (\w+)/, "private $1ff"),
      text.replace(/private \w+\n/, ""),
      text + "private " + "00".repeat(32) + "\n",
      text + "comment hello\n",
    ];
    for (const t of bad) {
      await Deno.writeTextFile(`${dir}/bad`, t);
      await assert.rejects(loadKey(`${dir}/bad`), { name: "KeyFileError" }, JSON.stringify(t));
    }
    await assert.rejects(loadKey(`${dir}/missing`), /no such file/);
    // a file without the public line is fine: it is derived
    await Deno.writeTextFile(`${dir}/nopub`, text.replace(/public \w+\n/, ""));
    assert.deepEqual(await loadKey(`${dir}/nopub`), kp);
    // --key with a damaged file: a runtime failure, exit 1
    await Deno.writeTextFile(`${dir}/bad`, "nonsense\n");
    const r = await bitclone(["lrp2p", "connect", "127.0.0.1:9", "--key", `${dir}/bad`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not an lrp2p key file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lrp2p listen/connect: lines both ways, keys pinned with --allow and --expect", async () => {
  const dir = await tempDir();
  try {
    const serverPub = await keygen(dir, "server.key");
    const clientPub = await keygen(dir, "client.key");
    const listen = spawn([
      "lrp2p",
      "listen",
      "--hostname",
      "127.0.0.1",
      "--port",
      "0",
      "--key",
      `${dir}/server.key`,
      "--allow",
      clientPub,
    ], { stdin: "piped" });
    const [, port, key] = await listen.waitFor(LISTENING);
    assert.equal(key, serverPub);
    const w = listen.child.stdin.getWriter();
    await w.write(new TextEncoder().encode("from the server\n"));
    await w.close(); // the server's side ends after this line; it still reads the client's
    const connect = await bitclone([
      "lrp2p",
      "connect",
      `127.0.0.1:${port}`,
      "--key",
      `${dir}/client.key`,
      "--expect",
      serverPub.toUpperCase(), // either case
    ], { stdin: "one\ntwo\nthree\n" });
    // both stdins ended: each side sent its FIN, read the other's, and exits 0
    assert.equal(connect.code, 0, connect.stderr);
    assert.equal(connect.stdout, "from the server\n");
    assert.match(
      connect.stderr,
      new RegExp(`connected to 127\\.0\\.0\\.1:${port}, peer key ${serverPub}`),
    );
    assert.equal((await listen.done).code, 0, listen.stderr);
    assert.equal(listen.stdout, "one\ntwo\nthree\n");
    assert.match(
      listen.stderr,
      new RegExp(`connection from 127\\.0\\.0\\.1:\\d+, peer key ${clientPub} \\(SHA256:`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lrp2p listen/connect: a peer not --allow-ed is refused, a wrong --expect fails the connect", async () => {
  const dir = await tempDir();
  try {
    const serverPub = await keygen(dir, "server.key");
    const clientPub = await keygen(dir, "client.key");
    const strangerPub = await keygen(dir, "stranger.key");
    const listen = spawn([
      "lrp2p",
      "listen",
      "--hostname",
      "127.0.0.1",
      "--port",
      "0",
      "--key",
      `${dir}/server.key`,
      "--allow",
      clientPub,
    ], { stdin: "piped" });
    const [, port] = await listen.waitFor(LISTENING);
    // the client expects another key: the handshake fails on its side, exit 1
    const wrong = await bitclone([
      "lrp2p",
      "connect",
      `127.0.0.1:${port}`,
      "--key",
      `${dir}/client.key`,
      "--expect",
      strangerPub,
    ], { stdin: "secret\n" });
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /cannot connect.*not accepted/);
    assert.match(wrong.stderr, new RegExp(`refused peer key ${serverPub}`));
    assert.equal(wrong.stdout, "");
    // a stranger: the server refuses its key (LRP2P has no refusal on the wire, so the stranger
    // is not told: it is stopped here)
    const stranger = spawn([
      "lrp2p",
      "connect",
      `127.0.0.1:${port}`,
      "--key",
      `${dir}/stranger.key`,
    ], {
      stdin: "piped",
    });
    const sw = stranger.child.stdin.getWriter();
    await sw.write(new TextEncoder().encode("let me in\n"));
    await listen.waitFor(
      new RegExp(`refused peer key ${strangerPub} \\(SHA256:[0-9a-f:]+\\): not allowed`),
    );
    stranger.child.kill("SIGTERM");
    await stranger.done;
    // the listener is still waiting, and takes the allowed client (the listener's stdin is empty)
    await listen.child.stdin.close();
    const ok = await bitclone([
      "lrp2p",
      "connect",
      `127.0.0.1:${port}`,
      "--key",
      `${dir}/client.key`,
      "--expect",
      serverPub,
    ], { stdin: "hello\n" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await listen.done).code, 0, listen.stderr);
    assert.equal(listen.stdout, "hello\n"); // never "let me in" nor "secret"
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lrp2p send/recv: a 5 MB file arrives intact, the same name again is refused", async () => {
  const dir = await tempDir();
  try {
    const data = new Uint8Array(5 * 1024 * 1024 + 123);
    for (let at = 0; at < data.length; at += 65536) {
      crypto.getRandomValues(data.subarray(at, Math.min(data.length, at + 65536)));
    }
    await Deno.writeFile(`${dir}/random.bin`, data);
    const recv = spawn([
      "lrp2p",
      "recv",
      "--hostname",
      "127.0.0.1",
      "--port",
      "0",
      "--out",
      `${dir}/inbox`,
    ]);
    const [, port, recvPub] = await recv.waitFor(LISTENING);
    const sent = await bitclone([
      "lrp2p",
      "send",
      `127.0.0.1:${port}`,
      `${dir}/random.bin`,
      "--expect",
      recvPub,
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^sent random\.bin: 5243003 bytes in [\d.]+ s \([\d.]+ MB\/s\)\n$/);
    await recv.waitFor(/receiving random\.bin \(5243003 bytes\)/);
    const got = await Deno.readFile(`${dir}/inbox/random.bin`);
    assert.equal(got.length, data.length);
    assert.ok(got.every((b, i) => b === data[i]), "the same bytes");
    // the same name again: refused in-band, the sender exits 1, the file is unchanged
    await Deno.mkdir(`${dir}/other`);
    await Deno.writeFile(`${dir}/other/random.bin`, new Uint8Array([1, 2, 3]));
    const again = await bitclone(["lrp2p", "send", `127.0.0.1:${port}`, `${dir}/other/random.bin`]);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, /refused: random\.bin exists already/);
    assert.equal((await Deno.stat(`${dir}/inbox/random.bin`)).size, data.length);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/inbox`))).map((e) => e.name), [
      "random.bin",
    ]);
    recv.child.kill("SIGINT");
    assert.equal((await recv.done).code, 0, recv.stderr);
    assert.match(
      recv.stdout,
      /received .*random\.bin: 5243003 bytes in [\d.]+ s .*SHA-256 verified/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lrp2p send/recv --once: a sender killed midway leaves no file, and recv exits 1", async () => {
  const dir = await tempDir();
  try {
    const data = new Uint8Array(40 * 1024 * 1024); // zeros: large enough to be midway when killed
    await Deno.writeFile(`${dir}/big.bin`, data);
    const recv = spawn([
      "lrp2p",
      "recv",
      "--hostname",
      "127.0.0.1",
      "--port",
      "0",
      "--out",
      `${dir}/inbox`,
      "--once",
    ]);
    const [, port] = await recv.waitFor(LISTENING);
    const send = spawn(["lrp2p", "send", `127.0.0.1:${port}`, `${dir}/big.bin`]);
    await recv.waitFor(/receiving big\.bin/);
    send.child.kill("SIGKILL");
    await send.done;
    const names = (await Array.fromAsync(Deno.readDir(`${dir}/inbox`))).map((e) => e.name);
    assert.ok(!names.includes("big.bin"), `no final file: ${names}`);
    // the receiver waits for more bytes (the sender is not there to say it died): stop it
    recv.child.kill("SIGINT");
    const status = await recv.done;
    assert.equal(status.code, 1, recv.stderr);
    assert.match(recv.stderr, /transfer failed/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/inbox`)), [], "no .part left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
