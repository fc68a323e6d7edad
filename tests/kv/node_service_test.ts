/**
 * `bitclone node` hosts the key-value store as its `kv` service: TCP on `--kv-port`, UDP on the
 * config file's `services.kv.udpPort`, the log in `<data-dir>/kv`.
 */
import assert from "node:assert/strict";
import { KvLog } from "../../src/kv/durable_log_deno.ts";
import { exchange, ROOT, RUN, UdpProbe, until } from "./_live.ts";

Deno.test("bitclone node serves kv: Setvalue/Getvalue on --kv-port, data in <data-dir>/kv", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitclone-kv-node-" });
  try {
    await Deno.writeTextFile(
      `${dir}/node.json`,
      JSON.stringify({ services: { kv: { udpPort: 0, advertise: "127.0.0.1", name: "ts-node" } } }),
    );
    const ports = [
      "--peer-port",
      "0",
      "--miner-port",
      "0",
      "--tracker-port",
      "0",
      "--kv-port",
      "0",
    ];
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...RUN,
        "node",
        "--hostname",
        "127.0.0.1",
        "--data-dir",
        dir,
        "--config",
        `${dir}/node.json`,
        ...ports,
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
      stdin: "null",
      env: { NO_COLOR: "1" },
    }).spawn();
    let stdout = "";
    let status: Deno.CommandStatus | undefined;
    try {
      const reader = child.stdout.getReader();
      const dec = new TextDecoder();
      const kvLine = (t: string) => new RegExp(`^  kv +${t} 127\\.0\\.0\\.1:(\\d+) `, "m");
      const deadline = Date.now() + 30_000;
      while (!kvLine("tcp").test(stdout) || !kvLine("udp").test(stdout)) {
        if (Date.now() > deadline) throw new Error(`no kv in the banner: ${stdout}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`exited: ${stdout}`);
        stdout += dec.decode(value);
      }
      reader.releaseLock();
      const tcpPort = Number(kvLine("tcp").exec(stdout)![1]);
      const udpPort = Number(kvLine("udp").exec(stdout)![1]);
      assert.notEqual(udpPort, 8888, "the config's udpPort 0 is used");

      const set = await exchange(tcpPort, '{"Setvalue":{"key":"hosted","value":"yes"}}');
      assert.equal(set.reply, '{"ValueResponse":{"value":"Value set successful"}}');
      const get = await exchange(tcpPort, '{"Getvalue":{"key":"hosted"}}');
      assert.equal(get.reply, '{"ValueResponse":{"value":"yes","clock":1,"origin":"ts-node"}}');
      // the discovery socket answers a Handshake
      const udp = new UdpProbe();
      try {
        await udp.send(
          udpPort,
          '{"Handshake":{"node_name":"ts-q","tcp_address":"127.0.0.1:1","kv_ext":1,"boot":1}}',
        );
        await until(() => udp.received.length >= 2, "the Greeting and Handshake");
        assert.equal(udp.texts()[0], '"Greeting"');
        assert.match(udp.texts()[1], new RegExp(`"tcp_address":"127\\.0\\.0\\.1:${tcpPort}"`));
      } finally {
        await udp.close();
      }
    } finally {
      child.kill("SIGTERM");
      status = await child.status;
      await child.stdout.cancel().catch(() => {});
    }
    assert.equal(status.code, 0);
    const { log, recovered } = await KvLog.open(`${dir}/kv`, { fsync: false });
    await log.close();
    assert.deepEqual(
      recovered.entries.map((e) => [e.key, e.value, e.clock, e.origin]),
      [["hosted", "yes", 1, "ts-node"]],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
