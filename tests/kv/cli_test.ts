/**
 * `bitclone kv` as a user runs it: help, one-line usage errors with exit 2, runtime failures with
 * exit 1, and `kv set` / `kv get` / `kv members` against a running `bitclone kv serve`.
 */
import assert from "node:assert/strict";
import { closedPort, ROOT, RUN, spawnServe, UdpProbe, until } from "./_live.ts";

const dec = new TextDecoder();

async function bitclone(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...RUN, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A single line on stderr (ending in a newline). */
function oneLine(stderr: string): void {
  assert.equal(stderr.split("\n").length, 2, `one line: ${JSON.stringify(stderr)}`);
  assert.ok(stderr.endsWith("\n"));
}

Deno.test("bitclone kv --help and each subcommand's --help", async () => {
  const top = await bitclone(["kv", "--help"]);
  assert.equal(top.code, 0);
  assert.equal(top.stderr, "");
  for (const sub of ["serve", "set", "get", "members"]) {
    assert.match(top.stdout, new RegExp(`^  ${sub} `, "m"));
  }
  const expect: Record<string, RegExp[]> = {
    serve: [/--udp-port PORT/, /--tcp-port PORT/, /--data-dir DIR/, /--memory/, /--seed HOST:PORT/],
    set: [/Usage: bitclone kv set .*HOST:PORT KEY VALUE/],
    get: [/Usage: bitclone kv get .*HOST:PORT KEY/, /exits 1/],
    members: [/Usage: bitclone kv members .*HOST:PORT/],
  };
  for (const [sub, patterns] of Object.entries(expect)) {
    const r = await bitclone(["kv", sub, "--help"]);
    assert.equal(r.code, 0, sub);
    assert.equal(r.stderr, "");
    for (const p of patterns) assert.match(r.stdout, p, sub);
  }
});

Deno.test("bitclone kv usage errors: one line, exit 2", async () => {
  const cases: [string[], RegExp][] = [
    [["kv", "serve", "--tcp-port", "99999"], /--tcp-port/],
    [["kv", "serve", "--udp-port", "x"], /--udp-port/],
    [["kv", "serve", "--seed", "nohost"], /--seed/],
    [["kv", "serve", "--advertise", "example.com"], /--advertise/],
    [["kv", "serve", "--name", "bad name"], /--name/],
    [["kv", "get"], /missing HOST:PORT/],
    [["kv", "get", "127.0.0.1:9000"], /KEY/],
    [["kv", "set", "127.0.0.1:9000", "k"], /VALUE/],
    [["kv", "get", "nohost", "k"], /HOST:PORT/],
    [["kv", "set", "127.0.0.1:70000", "k", "v"], /70000/],
    [["kv", "members"], /HOST:PORT/],
    [["kv", "nosuch"], /nosuch/],
  ];
  for (const [args, pattern] of cases) {
    const r = await bitclone(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    oneLine(r.stderr);
    assert.match(r.stderr, pattern);
  }
});

Deno.test("bitclone kv set to a closed port exits 1 with one line", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  for (const args of [["set", `127.0.0.1:${port}`, "k", "v"], ["get", `127.0.0.1:${port}`, "k"]]) {
    const r = await bitclone(["kv", ...args]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    oneLine(r.stderr);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  }
});

Deno.test("bitclone kv set, get and members against a running kv serve", async () => {
  const { child, port, udpPort } = await spawnServe(["--memory", "--name", "ts-cli"]);
  try {
    const at = `127.0.0.1:${port}`;
    const absent = await bitclone(["kv", "get", at, "color"]);
    assert.equal(absent.code, 1);
    assert.equal(absent.stdout, "");
    oneLine(absent.stderr);
    assert.match(absent.stderr, /color.*absent/);

    const set = await bitclone(["kv", "set", at, "color", "green é 😀"]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, "Value set successful\n");
    const get = await bitclone(["kv", "get", at, "color"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, "green é 😀\n");

    // a value too long to be replicated to legacy nodes is refused: exit 1
    const big = await bitclone(["kv", "set", at, "big", "v".repeat(990)]);
    assert.equal(big.code, 1);

    const empty = await bitclone(["kv", "members", at]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, "NAME  ADDRESS  STATE  LAST SEEN\n");
    // two members: a legacy node and one of ours (their heartbeats will fail: still alive now)
    const udp = new UdpProbe();
    const [p1, p2] = [closedPort(), closedPort()];
    await udp.send(udpPort, `{"Handshake":{"node_name":"","tcp_address":"10.9.9.9:${p1}"}}`);
    await udp.send(
      udpPort,
      `{"Handshake":{"node_name":"ts-other","tcp_address":"127.0.0.1:${p2}","kv_ext":1,"boot":5}}`,
    );
    await until(() => udp.received.length >= 4, "two Greetings and Handshakes");
    await udp.close();
    const members = await bitclone(["kv", "members", at]);
    assert.equal(members.code, 0, members.stderr);
    const lines = members.stdout.trimEnd().split("\n").map((l) => l.split(/ {2,}/));
    assert.deepEqual(lines[0], ["NAME", "ADDRESS", "STATE", "LAST SEEN"]);
    assert.deepEqual(
      lines.slice(1).map((l) => l.slice(0, 3)).sort(),
      [["(legacy)", `127.0.0.1:${p1}`, "alive"], ["ts-other", `127.0.0.1:${p2}`, "alive"]],
    );
    for (const l of lines.slice(1)) assert.match(l[3], /^\d+ s ago$/);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
