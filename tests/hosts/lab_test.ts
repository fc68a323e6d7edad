/**
 * The lab of issue 14: eight Linux network namespaces on one bridge, each running `bitclone node`
 * with the SAME lab config (as the README's "Running a lab" says), its working directory holding
 * the lab's `peers.json` (the seed list). The config names h0's miner server as the pool, so every
 * node — h0 included — joins it with its cores. The test checks that the peers converge, that
 * every node joined the pool (the server's status, read with `bitclone status` from another host,
 * lists eight miners), and that a job of 10^9 nonces submitted with `bitclone mine client` from
 * another host completes with the right answer while two hosts are killed (SIGKILL), the status
 * showing the job's progress while it runs.
 *
 * The expected answer was computed once on one machine by our worker pool over 0..10^9
 * (`WorkerPool.scan("bitclone lab", 0n, 1_000_000_000n)`, two workers) and is checked here against
 * Web Crypto for the hash of the nonce; the search for the minimum is what the pool does.
 *
 * Run as root with `deno task test:hosts`; elsewhere the test is ignored with one line.
 */
import assert from "node:assert/strict";
import { type Host, type HostProcess, hostsTest, withHosts } from "./_netns.ts";

const HOSTS = 8;
const DATA = "bitclone lab";
const MAX_NONCE = 1_000_000_000n;
/** The minimum over 0..10^9 (see above). */
const EXPECTED = { hash: 23560424993n, nonce: 987925112n };
const START_MS = 60_000;
const CONVERGE_MS = 60_000;
const JOB_MS = 600_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The miner hash (spec miner.md §3): the first 8 bytes of SHA-256(data ‖ " " ‖ nonce), big-endian. */
async function minerHash(data: string, nonce: bigint): Promise<bigint> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${data} ${nonce}`),
  );
  return new DataView(digest).getBigUint64(0);
}

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const ARTIFACT = new URL("../artifacts/lab_status_page.png", import.meta.url).pathname;

/**
 * The server's status page as a browser on `host` shows it, written to tests/artifacts/ (the
 * README's picture of a lab); skipped with a line when chromium is not installed.
 */
async function screenshot(host: Host, url: string): Promise<void> {
  if (!CHROMIUM) return console.log("lab: no chromium, no screenshot of the status page");
  await Deno.mkdir(new URL("../artifacts/", import.meta.url), { recursive: true });
  const r = await host.run([
    CHROMIUM,
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--window-size=1100,1500",
    "--virtual-time-budget=4000",
    `--screenshot=${ARTIFACT}`,
    url,
  ], { timeoutMs: 60_000 });
  if (!r.success) console.log(`lab: chromium failed (${r.code}): ${r.stderr.slice(-300)}`);
}

/** In + out of the last status line of a node's peer service. */
function connected(p: HostProcess): number {
  const m = [...p.stderr.matchAll(/status: (\d+) in, (\d+) out/g)].at(-1);
  return m === undefined ? 0 : Number(m[1]) + Number(m[2]);
}

hostsTest(
  "a lab of eight nodes with one config: the peers converge, every node joins h0's mining pool, " +
    "and a job of 10^9 nonces from another host completes right while two hosts are killed",
  async () => {
    assert.equal(await minerHash(DATA, EXPECTED.nonce), EXPECTED.hash, "the expected answer");
    const dir = await Deno.makeTempDir({ prefix: "bitclone-lab-" });
    try {
      await withHosts({ count: HOSTS }, async (lab) => {
        const server = lab.hosts[0].address;
        // The lab's files, as an administrator would write them: one config for every machine,
        // and the seed list (the committed peers.json, here with the lab's addresses).
        const config = {
          services: {
            peer: { targetPeers: 5, statusIntervalMs: 500, advertiseIntervalMs: 1000 },
            // one hashing worker each: the eight "machines" share this machine's cores
            miner: { join: `${server}:9999`, workers: 1 },
          },
        };
        await Deno.writeTextFile(`${dir}/lab.json`, JSON.stringify(config, null, 2));
        await Deno.writeTextFile(
          `${dir}/peers.json`,
          JSON.stringify(lab.hosts.map((h) => `${h.address}:8333`)),
        );
        const nodes = lab.hosts.map((host) =>
          host.bitclone(
            ["node", "--config", `${dir}/lab.json`, "--data-dir", `${dir}/data-${host.name}`],
            { cwd: dir },
          )
        );
        const describe = () =>
          nodes.map((p, i) =>
            `h${i}: ${p.running ? "running" : "exited"}, ${connected(p)} peers, ` +
            `${p.stderr.includes("Joined") ? "joined" : "not joined"}\n` +
            p.stderr.split("\n").slice(-4).join("\n")
          ).join("\n");
        for (const p of nodes) await p.waitForOutput("service(s) running", { timeoutMs: START_MS });

        // The peers converge and every node joins the pool.
        const deadline = performance.now() + CONVERGE_MS;
        while (
          !nodes.every((p) => connected(p) >= 5 && p.stderr.includes(`Joined ${server}:9999`))
        ) {
          assert.ok(performance.now() < deadline, `no convergence:\n${describe()}`);
          assert.ok(nodes.every((p) => p.running), `a node exited:\n${describe()}`);
          await sleep(250);
        }

        // The server's status page lists all eight miners (read from h7, as a user would).
        const status = async () => {
          const r = await lab.hosts[7].bitclone(["status", "--json", `${server}:8080`]).wait({
            timeoutMs: 30_000,
          });
          assert.equal(r.code, 0, `bitclone status failed: ${r.stderr}`);
          return JSON.parse(r.stdout) as {
            miner: { miners: { id: number }[]; jobs: { searched: number; total: number }[] };
            kv: { members: { state: string }[] };
          };
        };
        // ... and the key-value store has found the seven others (UDP broadcast discovery).
        const settled = performance.now() + 30_000;
        for (;;) {
          const s = await status();
          const alive = s.kv.members.filter((m) => m.state === "alive").length;
          if (s.miner.miners.length === HOSTS && alive === HOSTS - 1) break;
          assert.ok(
            performance.now() < settled,
            `h0's status: ${s.miner.miners.length} miners, ${alive} key-value members alive`,
          );
          await sleep(1000);
        }

        // A job from h7 (not the server), while h5 and h6 are killed.
        const client = lab.hosts[7].bitclone([
          "mine",
          "client",
          `${server}:9999`,
          DATA,
          String(MAX_NONCE),
        ]);
        await sleep(10_000);
        const during = await status();
        assert.equal(during.miner.jobs.length, 1, "the job is listed while it runs");
        assert.equal(during.miner.jobs[0].total, Number(MAX_NONCE) + 1);
        assert.ok(during.miner.jobs[0].searched > 0, "the job's progress");
        await screenshot(lab.hosts[7], `http://${server}:8080/`);
        for (const i of [5, 6]) nodes[i].kill("SIGKILL");
        // The kill must come mid-job, or the rest proves nothing about surviving it.
        const killed = await status();
        assert.equal(killed.miner.jobs.length, 1, "the job still runs when h5 and h6 are killed");
        await sleep(5_000);
        const later = await status();
        assert.ok(
          later.miner.jobs.length === 0 ||
            later.miner.jobs[0].searched > during.miner.jobs[0].searched,
          "the job goes on after two hosts died",
        );
        const result = await client.wait({ timeoutMs: JOB_MS });
        assert.equal(result.code, 0, `the client failed:\n${result.stderr}\n${describe()}`);
        assert.equal(result.stdout.trim(), `Result ${EXPECTED.hash} ${EXPECTED.nonce}`);
        for (const [i, p] of nodes.entries()) {
          if (i === 5 || i === 6) continue;
          assert.ok(p.running, `h${i} exited:\n${describe()}`);
        }
        for (const p of nodes) await p.stop(5_000);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
