/**
 * `bitclone peer` on several hosts: eight Linux network namespaces on one bridge, each with its
 * own address and every peer on port 8333, as lab machines would be. Every host is seeded with
 * the first host's address only; through `getaddr`/`addr` gossip each reaches its target of five
 * connections, learns the others by their lab addresses (never a loopback or ephemeral one), and
 * saves them in its peers file.
 *
 * Run as root with `deno task test:hosts`; elsewhere the test is ignored with one line.
 */
import assert from "node:assert/strict";
import { type HostProcess, hostsTest, withHosts } from "./_netns.ts";
import { parsePeersFile } from "../../src/bitclone/peers_file.ts";

const HOSTS = 8;
const PORT = 8333;
const TARGET = 5;
const CONVERGE_MS = 60_000;
const START_MS = 30_000;
const FAST = [
  "--target-peers",
  String(TARGET),
  "--advertise-interval-ms",
  "1000",
  "--ping-interval-ms",
  "2000",
  "--status-interval-ms",
  "500",
  "--save-interval-ms",
  "1000",
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** In + out of the last status line of a peer's log. */
function connected(p: HostProcess): number {
  const all = [...p.stderr.matchAll(/status: (\d+) in, (\d+) out/g)];
  const m = all.at(-1);
  return m === undefined ? 0 : Number(m[1]) + Number(m[2]);
}

hostsTest(
  "bitclone peer on eight hosts, all on port 8333 and seeded from one, converge on five " +
    "connections each and save each other's lab addresses",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "bitclone-hosts-" });
    try {
      await withHosts({ count: HOSTS }, async (lab) => {
        const seed = `${lab.hosts[0].address}:${PORT}`;
        const procs = lab.hosts.map((host, i) =>
          host.bitclone([
            "peer",
            "--port",
            String(PORT),
            "--peers-file",
            `${dir}/h${i}.json`,
            ...FAST,
            ...(i === 0 ? [] : [seed]),
          ])
        );
        for (const p of procs) {
          await p.waitForOutput(`listening on tcp 0.0.0.0:${PORT}`, { timeoutMs: START_MS });
        }
        const describe = () =>
          procs.map((p, i) =>
            `h${i} (${lab.hosts[i].address}): ${connected(p)} connected; ` +
            p.stderr.split("\n").filter((l) => l.includes("status:")).at(-1)
          ).join("\n");
        const deadline = performance.now() + CONVERGE_MS;
        while (!procs.every((p) => connected(p) >= TARGET)) {
          assert.ok(performance.now() < deadline, `no convergence:\n${describe()}`);
          assert.ok(procs.every((p) => p.running), `a peer exited:\n${describe()}`);
          await sleep(200);
        }
        const labAddresses = new Set(lab.hosts.map((h) => `${h.address}:${PORT}`));
        for (const p of procs) await p.stop(5000);
        for (const [i, p] of procs.entries()) {
          const status = await p.status;
          assert.equal(status.code, 0, `h${i}: ${p.stderr.slice(-1500)}`);
          const saved = parsePeersFile(await Deno.readTextFile(`${dir}/h${i}.json`));
          assert.equal(saved.damaged, false);
          const addresses = saved.peers.map((e) => e.address);
          const strangers = addresses.filter((a) => !labAddresses.has(a));
          assert.deepEqual(strangers, [], `h${i} saved addresses that are no peer's`);
          assert.ok(
            !addresses.includes(`${lab.hosts[i].address}:${PORT}`),
            `h${i} saved its own address`,
          );
          assert.ok(addresses.length >= TARGET - 1, `h${i} saved only ${addresses.join(", ")}`);
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
