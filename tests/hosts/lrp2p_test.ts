/**
 * LRP2P between hosts: Linux network namespaces on one bridge, nftables random loss on the wire
 * (`setLoss`, direction "both" on the server host, so every datagram of every connection crosses
 * one lossy filter: N% each way), and a small probe (`_lrp2p_probe.ts`) on each host using
 * `socketListen`. Streams go both ways at once and must arrive exactly.
 *
 * Run as root with `deno task test:hosts`; elsewhere every test is ignored with one line.
 */
import assert from "node:assert/strict";
import { BITCLONE_CONFIG, type Host, hostsTest, withHosts } from "./_netns.ts";

const PORT = 7400;
const PROBE = new URL("./_lrp2p_probe.ts", import.meta.url).pathname;
const ENV = { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };

function probeCmd(job: unknown): string[] {
  return [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-read",
    `--config=${BITCLONE_CONFIG}`,
    PROBE,
    JSON.stringify(job),
  ];
}

interface ClientResult {
  got: number;
  ok: boolean;
  ms: number;
  retransmits: number | null;
  error: string | null;
}

interface ServerResult {
  conns: { seed: number; got: number; ok: boolean; error: string | null }[];
  drops: Record<string, number>;
}

/** A server on `server` and one client per host of `clients`, `up`/`down` bytes each way. */
async function transfer(
  server: Host,
  clients: readonly Host[],
  up: number,
  down: number,
  timeoutMs: number,
): Promise<string> {
  const lossy = server.loss !== undefined && server.loss.percent >= 5;
  const srv = server.spawn(probeCmd({ role: "serve", port: PORT, conns: clients.length, down }), {
    env: ENV,
  });
  try {
    await srv.waitForOutput("listening", { timeoutMs: 60_000 });
  } catch (err) {
    throw new Error(`the probe server did not start: ${srv.stdout} ${srv.stderr}`, { cause: err });
  }
  const runs = await Promise.all(clients.map((host, i) =>
    host.run(
      probeCmd({ role: "connect", host: server.address, port: PORT, seed: 1 + i, up, down }),
      { env: ENV, timeoutMs },
    )
  ));
  // the server's close may wait for its FIN's ACK up to the peer-unreachable limit (about 50 s)
  const srvResult = await srv.wait({ timeoutMs: 90_000 });
  const lines: string[] = [];
  for (const [i, r] of runs.entries()) {
    assert.ok(r.success, `client ${i}: ${r.stderr} ${r.stdout} (timed out: ${r.timedOut})`);
    const res = JSON.parse(r.stdout) as ClientResult;
    assert.equal(res.got, down, `client ${i} got ${res.got} of ${down} bytes`);
    assert.ok(res.ok, `client ${i}: the bytes from the server differ`);
    assert.equal(res.error, null, `client ${i}: ${res.error}`);
    // the loss is real: at 5% or more, a 1 MB stream without a retransmission is impossible
    if (lossy) assert.ok((res.retransmits ?? 0) > 0, `client ${i}: no retransmission`);
    lines.push(`client ${i}: ${res.ms} ms, ${res.retransmits} retransmissions`);
  }
  assert.ok(srvResult.success, `server: ${srvResult.stderr} ${srvResult.stdout}`);
  const s = JSON.parse(
    srvResult.stdout.split("\n").filter((l) => l.startsWith("{"))[0],
  ) as ServerResult;
  assert.equal(s.conns.length, clients.length);
  for (const c of s.conns) {
    assert.ok(c.seed >= 1 && c.seed <= clients.length, `unknown seed ${c.seed}`);
    assert.equal(c.got, up, `server got ${c.got} of ${up} bytes from client ${c.seed - 1}`);
    assert.ok(c.ok, `server: the bytes from client ${c.seed - 1} differ`);
    if (c.error) lines.push(`server's end of client ${c.seed - 1} closed with: ${c.error}`);
  }
  assert.deepEqual(new Set(s.conns.map((c) => c.seed)).size, clients.length);
  return lines.join("; ");
}

hostsTest("lrp2p: two clients on their own hosts, 1 MB each way, 1% loss", async () => {
  await withHosts({ count: 3, cacheBitclone: false }, async (lab) => {
    const [server, ...clients] = lab.hosts;
    await server.setLoss(1);
    const info = await transfer(server, clients, 1_000_000, 1_000_000, 120_000);
    console.log(`1% loss: ${info}`);
  });
});

hostsTest("lrp2p: two clients on their own hosts, 1 MB each way, 10% loss", async () => {
  await withHosts({ count: 3, cacheBitclone: false }, async (lab) => {
    const [server, ...clients] = lab.hosts;
    await server.setLoss(10);
    const info = await transfer(server, clients, 1_000_000, 1_000_000, 180_000);
    console.log(`10% loss: ${info}`);
  });
});
