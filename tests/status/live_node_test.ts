/**
 * The status service of a real node, started as `bitclone node` is (the CLI's `node` command, in
 * this process, every port 0): two live BitClone peers (one dialed by the node, one dialing it),
 * two miners and a client's job of 10^12 nonces on the node's miner server, requests to the
 * tracker and the key-value store. `/status.json` and `/metrics` are checked field by field
 * against what the test made; `bitclone status` prints them; and the page is loaded in Debian's
 * headless chromium (skipped with a message when it is not installed): no console error, the
 * peers drawn, the job's progress advancing, a screenshot in tests/artifacts/.
 */
import assert from "node:assert/strict";
import { runCli } from "../../src/cli/run.ts";
import { rootCommand } from "../../src/cli/commands/mod.ts";
import { exchangePart1 } from "../../src/tracker/part1/client_deno.ts";
import { kvRequest } from "../../src/kv/client_deno.ts";
import { requestMinimum } from "../../src/miner/client_deno.ts";
import { runMiner } from "../../src/miner/miner_deno.ts";
import { VERSION } from "../../src/version.ts";
import type { StatusDocument } from "../../src/status/document.ts";
import { startTestPeer, type TestPeer } from "../bitclone/_live_helpers.ts";
import { Prng } from "../../src/util/prng.ts";
import { checkMetricsText, type Sample } from "./_metrics_format.ts";
import { findChromium, type PageReport, pageReport } from "./_browser.ts";

const HOST = "127.0.0.1";
const JOB_DATA = "status-page-test";
const JOB_MAX = 999_999_999_999n; // 10^12 nonces: still running when the test ends
const ARTIFACTS = new URL("../artifacts/", import.meta.url).pathname;

/** Polls `read` until `ok` holds; fails with the last value after `ms`. */
async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 60_000, // a bound, not a timing: a cold start type-checks the miners' workers first
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      assert.fail(`${what} did not happen within ${ms} ms; last: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

interface Lab {
  ports: Record<string, number>;
  statusUrl: string;
  peerA: TestPeer;
  peerB: TestPeer;
  minerIds: number[];
  clientId: number;
  stop(): Promise<void>;
}

async function startLab(dir: string): Promise<Lab> {
  const stops: (() => Promise<unknown>)[] = [];
  /** Stops everything, last started first; then throws the first failure (the node's exit code). */
  const stop = async () => {
    const failures: unknown[] = [];
    for (const s of stops.reverse()) await s().catch((err) => failures.push(err));
    if (failures.length > 0) throw failures[0];
  };
  try {
    // Peer A first: the node dials it (a manual peer).
    const peerA = await startTestPeer({ userAgent: "status-peer-a", targetPeers: 1 });
    stops.push(() => peerA.stop());

    const config = `${dir}/node.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        services: {
          peer: {
            userAgent: "status-node",
            targetPeers: 1,
            manualPeers: [`${HOST}:${peerA.peer.port}`],
            seedsFile: `${dir}/no-seeds.json`,
          },
          kv: { udpPort: 0, memory: true, name: "status-kv" },
          miner: { scheduler: { minChunkNonces: 2000, targetChunkMillis: 200 } },
        },
      }),
    );
    const nodeStop = new AbortController();
    let banner = "";
    let bannerSeen: () => void = () => {};
    const bannerDone = new Promise<void>((r) => bannerSeen = r);
    const nodeExit = runCli(rootCommand(), [
      "node",
      "--hostname",
      HOST,
      ...["peer", "miner", "tracker", "kv", "status"].flatMap((s) => [`--${s}-port`, "0"]),
      "--config",
      config,
      "--data-dir",
      `${dir}/data`,
      "--log-level",
      "error",
    ], {
      version: "test",
      signal: nodeStop.signal,
      print: (t) => {
        banner += t;
        if (/^ {2}status /m.test(banner)) bannerSeen();
      },
      printError: (t) => banner += t,
      writeLog: () => {},
    });
    stops.push(async () => {
      nodeStop.abort();
      assert.equal(await nodeExit, 0);
    });
    await Promise.race([
      bannerDone,
      nodeExit.then((code) => assert.fail(`the node exited ${code}: ${banner}`)),
    ]);
    const ports: Record<string, number> = {};
    for (const m of banner.matchAll(/^ {2}(\w+) +(tcp|udp) [\d.]+:(\d+)/gm)) {
      ports[`${m[1]}/${m[2]}`] = Number(m[3]);
    }
    const statusUrl = `http://${HOST}:${ports["status/tcp"]}`;

    // Peer B dials the node.
    const peerB = await startTestPeer({
      userAgent: "status-peer-b",
      targetPeers: 1,
      prng: Prng.seeded(2),
      manualPeers: [`${HOST}:${ports["peer/tcp"]}`],
    });
    stops.push(() => peerB.stop());

    // Two miners of one worker each, then a client's job.
    const minerIds: number[] = [];
    const minerStop = new AbortController();
    const minerRuns: Promise<unknown>[] = [];
    for (let i = 0; i < 2; i++) {
      let joined: () => void = () => {};
      const ready = new Promise<void>((r) => joined = r);
      minerRuns.push(runMiner(`${HOST}:${ports["miner/udp"]}`, {
        workers: 1,
        signal: minerStop.signal,
        log: quiet,
        onJoined: (id) => {
          minerIds.push(id);
          joined();
        },
      }));
      await ready;
    }
    stops.push(async () => {
      minerStop.abort();
      await Promise.all(minerRuns);
    });
    const clientStop = new AbortController();
    let clientId = 0;
    let connected: () => void = () => {};
    const clientReady = new Promise<void>((r) => connected = r);
    const job = requestMinimum(`${HOST}:${ports["miner/udp"]}`, JOB_DATA, JOB_MAX, {
      signal: clientStop.signal,
      onProgress: () => {},
      onConnected: (id) => {
        clientId = id;
        connected();
      },
    }).catch(() => {});
    await clientReady;
    stops.push(async () => {
      clientStop.abort();
      await job;
    });

    // Tracker: two requests served, one answered with the error reply.
    const tracker = `${HOST}:${ports["tracker/tcp"]}`;
    assert.equal((await exchangePart1(tracker, { type: "size" })).type, "size");
    assert.equal((await exchangePart1(tracker, { type: "item", index: 0 })).type, "item");
    assert.equal((await exchangePart1(tracker, { type: "item", index: 999 })).type, "error");
    // Key-value store: one key.
    await kvRequest(HOST, ports["kv/tcp"], { type: "Setvalue", key: "k1", value: "v1" });

    return { ports, statusUrl, peerA, peerB, minerIds, clientId, stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

const quiet = {
  error() {},
  warn() {},
  info() {},
  debug() {},
} as unknown as import("../../src/util/log_deno.ts").Logger;

async function getJson(url: string): Promise<StatusDocument> {
  const r = await fetch(url);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/json; charset=utf-8");
  return await r.json();
}

/** Both peers established, both miners rated, the job searched by both. */
function settled(d: StatusDocument, lab: Lab): boolean {
  return d.peer?.inbound === 1 && d.peer.outbound === 1 && d.peer.pending === 0 &&
    d.miner?.miners.length === 2 && d.miner.miners.every((m) => (m.rate ?? 0) > 0) &&
    d.miner.jobs.length === 1 && d.miner.jobs[0].searched > 0 &&
    lab.minerIds.length === 2;
}

Deno.test({
  name: "the status service of a live node: /status.json, /metrics, bitclone status, the page",
  // Web workers of the miners and chromium's pipes end after the lab stops.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "bitclone-status-" });
    const lab = await startLab(dir);
    try {
      const json = `${lab.statusUrl}/status.json`;
      const first = await eventually(
        "peers, miners and the job",
        () => getJson(json),
        (d) => settled(d, lab),
      );

      await t.step("/status.json, field by field", async () => {
        const d = first;
        assert.equal(d.schema, 1);
        assert.equal(d.version, VERSION);
        assert.equal(d.hostname, HOST);
        assert.ok(Number.isFinite(Date.parse(d.time)), d.time);
        assert.ok(d.uptimeSec >= 0);
        assert.deepEqual(d.services.map((s) => s.name), [
          "peer",
          "miner",
          "tracker",
          "kv",
          "status",
        ]);
        assert.deepEqual(d.disabled, ["lrp2p"]);
        for (const s of d.services) {
          assert.equal(s.state, "running", s.name);
          assert.ok(s.uptimeSec >= 0 && s.uptimeSec <= d.uptimeSec, s.name);
          assert.equal(s.error, undefined);
          for (const a of s.listening) {
            assert.equal(a.hostname, HOST);
            assert.equal(a.port, lab.ports[`${s.name}/${a.transport}`], `${s.name} ${a.transport}`);
          }
        }
        assert.equal(d.services.find((s) => s.name === "kv")?.listening.length, 2);

        // The BitClone peer: A outbound (manual), B inbound.
        const p = d.peer!;
        assert.equal(p.port, lab.ports["peer/tcp"]);
        assert.deepEqual([p.inbound, p.outbound, p.pending], [1, 1, 0]);
        assert.ok(p.known >= 1 && p.tried <= p.known, JSON.stringify(p));
        assert.equal(p.connections.length, 2);
        const out = p.connections.find((c) => c.direction === "outbound")!;
        assert.deepEqual(
          { ...out, ageSec: 0 },
          {
            direction: "outbound",
            state: "established",
            address: `${HOST}:${lab.peerA.peer.port}`,
            remote: `${HOST}:${lab.peerA.peer.port}`,
            userAgent: "status-peer-a",
            version: 3,
            manual: true,
            ageSec: 0,
          },
        );
        const inb = p.connections.find((c) => c.direction === "inbound")!;
        assert.equal(inb.state, "established");
        assert.equal(inb.address, `${HOST}:${lab.peerB.peer.port}`);
        assert.match(inb.remote ?? "", /^127\.0\.0\.1:\d+$/);
        assert.equal(inb.userAgent, "status-peer-b");
        assert.equal(inb.version, 3);
        assert.equal(inb.manual, false);
        for (const c of p.connections) assert.ok(c.ageSec >= 0 && c.ageSec <= d.uptimeSec);
        assert.ok(p.counters.bytesRead > 0 && p.counters.bytesWritten > 0);
        assert.ok(p.counters.accepted >= 1 && p.counters.dialed >= 1);
        assert.equal(p.counters.refused, 0);

        // The miner server: two miners, one client, one job.
        const m = d.miner!;
        assert.equal(m.port, lab.ports["miner/udp"]);
        assert.deepEqual(m.miners.map((w) => w.id), [...lab.minerIds].sort((a, b) => a - b));
        for (const w of m.miners) {
          assert.match(w.address ?? "", /^127\.0\.0\.1:\d+$/);
          assert.ok(w.rate! > 0 && Number.isInteger(w.rate));
          assert.ok(w.chunks >= 0 && w.chunks <= 8);
          assert.ok(w.jobs.every((j) => j === 1));
        }
        const job = m.jobs[0];
        assert.equal(job.id, 1);
        assert.equal(job.client, lab.clientId);
        assert.match(job.clientAddress ?? "", /^127\.0\.0\.1:\d+$/);
        assert.equal(job.data, JOB_DATA);
        assert.equal(job.lower, "0");
        assert.equal(job.upper, String(JOB_MAX));
        assert.equal(job.total, Number(JOB_MAX + 1n));
        assert.ok(job.searched > 0 && job.searched < job.total);
        assert.equal(job.progress, job.searched / job.total);
        assert.ok(job.rate > 0 && job.elapsedSec >= 0);
        assert.ok(job.miners.every((id) => lab.minerIds.includes(id)));
        assert.deepEqual(
          m.connections.map((c) => [c.id, c.role]),
          [...lab.minerIds.map((id) => [id, "miner"]), [lab.clientId, "client"]]
            .sort((a, b) => (a[0] as number) - (b[0] as number)),
        );
        assert.equal(m.counters.miners, 2);
        assert.equal(m.counters.clients, 1);
        assert.equal(m.counters.liveRequests, 1);
        assert.equal(m.counters.requestsAccepted, 1);
        assert.equal(m.counters.requestsCompleted, 0);
        assert.ok(m.counters.chunksSent >= 2 && m.counters.chunksCompleted >= 2);
        assert.ok(m.lsp.datagramsReceived > 0 && m.lsp.datagramsSent > 0);

        // The tracker and the key-value store.
        assert.deepEqual(d.tracker, {
          port: lab.ports["tracker/tcp"],
          entries: 16,
          accepted: 3,
          active: d.tracker!.active, // 0 once the last exchange's linger ended
          served: 2,
          invalid: 1,
          refused: 0,
          failed: 0,
        });
        assert.ok(d.tracker!.active >= 0 && d.tracker!.active <= 3);
        const kv = d.kv!;
        assert.equal(kv.name, "status-kv");
        assert.equal(kv.port, lab.ports["kv/tcp"]);
        assert.equal(kv.udpPort, lab.ports["kv/udp"]);
        assert.equal(kv.keys, 1);
        assert.ok(kv.requests >= 1);
        assert.equal(kv.refused, 0);
        assert.ok(Array.isArray(kv.members));
        assert.equal(d.status?.port, lab.ports["status/tcp"]);
        assert.ok(d.status!.requests["/status.json"] >= 1);

        // The job advances.
        await eventually(
          "the job's progress advancing",
          () => getJson(json),
          (n) => (n.miner?.jobs[0]?.searched ?? 0) > job.searched,
        );
      });

      await t.step("/metrics, in the text format, field by field", async () => {
        const r = await fetch(`${lab.statusUrl}/metrics`);
        assert.equal(r.status, 200);
        assert.equal(r.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
        const samples = checkMetricsText(await r.text());
        const d = await getJson(json);
        const v = (name: string, labels: Record<string, string> = {}) => {
          const s = samples.find((x: Sample) =>
            x.name === name &&
            Object.keys(x.labels).length === Object.keys(labels).length &&
            Object.entries(labels).every(([k, val]) => x.labels[k] === val)
          );
          assert.ok(s, `no sample ${name}${JSON.stringify(labels)}`);
          return s.value;
        };
        assert.equal(v("bitclone_info", { version: VERSION }), 1);
        assert.ok(v("bitclone_uptime_seconds") >= 0);
        for (const s of ["peer", "miner", "tracker", "kv", "status"]) {
          assert.equal(v("bitclone_service_up", { service: s }), 1, s);
          assert.ok(v("bitclone_service_uptime_seconds", { service: s }) >= 0);
        }
        assert.equal(v("bitclone_service_up", { service: "lrp2p" }), 0);
        assert.equal(v("bitclone_peer_connections", { direction: "inbound" }), 1);
        assert.equal(v("bitclone_peer_connections", { direction: "outbound" }), 1);
        assert.equal(v("bitclone_peer_connections", { direction: "pending" }), 0);
        assert.equal(v("bitclone_peer_addresses_known"), d.peer!.known);
        assert.equal(v("bitclone_peer_addresses_tried"), d.peer!.tried);
        assert.ok(v("bitclone_peer_received_bytes_total") > 0);
        assert.ok(v("bitclone_peer_sent_bytes_total") > 0);
        assert.equal(v("bitclone_peer_accepts_total", { result: "refused" }), 0);
        assert.ok(v("bitclone_peer_dials_total", { result: "ok" }) >= 1);
        assert.equal(v("bitclone_miner_miners"), 2);
        assert.equal(v("bitclone_miner_jobs"), 1);
        assert.equal(v("bitclone_miner_connections", { role: "miner" }), 2);
        assert.equal(v("bitclone_miner_connections", { role: "client" }), 1);
        for (const id of lab.minerIds) {
          assert.ok(v("bitclone_miner_rate_nonces_per_second", { miner: String(id) }) > 0);
        }
        assert.equal(v("bitclone_miner_job_nonces", { job: "1" }), Number(JOB_MAX + 1n));
        const ratio = v("bitclone_miner_job_progress_ratio", { job: "1" });
        assert.ok(ratio > 0 && ratio < 1);
        assert.ok(v("bitclone_miner_job_searched_nonces", { job: "1" }) > 0);
        assert.ok(v("bitclone_miner_job_rate_nonces_per_second", { job: "1" }) > 0);
        assert.equal(v("bitclone_miner_requests_total", { outcome: "accepted" }), 1);
        assert.equal(v("bitclone_miner_requests_total", { outcome: "completed" }), 0);
        assert.ok(v("bitclone_miner_chunks_total", { event: "sent" }) >= 2);
        assert.ok(v("bitclone_lsp_datagrams_total", { direction: "received" }) > 0);
        assert.equal(v("bitclone_tracker_entries"), 16);
        assert.equal(v("bitclone_tracker_requests_total", { outcome: "served" }), 2);
        assert.equal(v("bitclone_tracker_requests_total", { outcome: "invalid" }), 1);
        assert.equal(v("bitclone_tracker_requests_total", { outcome: "refused" }), 0);
        assert.equal(v("bitclone_kv_keys"), 1);
        assert.equal(v("bitclone_kv_requests_total"), d.kv!.requests);
        assert.equal(v("bitclone_kv_refused_total"), 0);
        assert.ok(v("bitclone_status_requests_total", { path: "/metrics" }) >= 1);
        assert.ok(v("bitclone_status_requests_total", { path: "/status.json" }) >= 2);
      });

      await t.step("bitclone status prints the node's table", async () => {
        const out: string[] = [];
        const code = await runCli(rootCommand(), ["status", lab.statusUrl.slice(7)], {
          version: "test",
          print: (s) => void out.push(s),
          printError: (s) => void out.push(s),
          writeLog: (s) => void out.push(s),
        });
        const text = out.join("");
        assert.equal(code, 0, text);
        assert.match(text, new RegExp(`^bitclone ${VERSION} at 127\\.0\\.0\\.1:\\d+, up `));
        assert.match(text, /^peer +running +tcp \d+/m);
        assert.match(text, /^lrp2p +disabled$/m);
        assert.match(text, /^peers: 1 in, 1 out, 0 pending;/m);
        assert.match(text, /^ {2}out +established +127\.0\.0\.1:\d+ +status-peer-a +3 /m);
        assert.match(text, /^ {2}in +established +127\.0\.0\.1:\d+ +status-peer-b +3 /m);
        assert.match(text, /^jobs: 1; miners: 2$/m);
        assert.match(text, new RegExp(`^ {2}1 +\\S* *[\\d.]+% +\\S+/1\\.00T .*${JOB_DATA}$`, "m"));
        assert.match(text, /^tracker: 2 served, 1 invalid, 0 refused, 0 failed; 16 entries$/m);
        assert.match(text, /^kv: 1 keys;/m);
      });

      const chromium = await findChromium();
      await t.step({
        name: "the page in headless chromium: no console error, peers, job advancing, screenshot",
        ignore: chromium === undefined,
        async fn() {
          await Deno.mkdir(ARTIFACTS, { recursive: true });
          const report: PageReport = await pageReport(chromium!, lab.statusUrl, {
            screenshot: `${ARTIFACTS}status_page.png`,
          });
          assert.deepEqual(report.consoleErrors, []);
          assert.deepEqual(report.foreignRequests, []);
          assert.deepEqual(report.controls, 0, "the page has no form, button or input");
          assert.deepEqual(
            report.peers.map((p) => `${p.direction} ${p.state} ${p.address}`).sort(),
            [
              `inbound established ${HOST}:${lab.peerB.peer.port}`,
              `outbound established ${HOST}:${lab.peerA.peer.port}`,
            ],
          );
          assert.ok(report.peerLabels.includes("status-peer-a v3"), report.peerLabels.join());
          assert.equal(report.jobs.length, 1);
          assert.equal(report.jobs[0].id, "1");
          assert.ok(
            report.jobs[0].searchedLater > report.jobs[0].searchedFirst,
            JSON.stringify(report.jobs),
          );
          assert.match(report.jobs[0].text, new RegExp(JOB_DATA));
          assert.match(report.jobs[0].text, /miners \d+ \([\d.]+[kMGT]?\/s\)/);
          assert.deepEqual(report.miners.sort(), lab.minerIds.map(String).sort());
          assert.match(report.services, /peer.*running/);
          const png = await Deno.readFile(`${ARTIFACTS}status_page.png`);
          assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
          assert.ok(png.length > 10_000);
        },
      });
      if (chromium === undefined) {
        console.log(
          "SKIPPED the page test: chromium not found (apt-get install -y chromium; .ci/run does)",
        );
      }
    } finally {
      await lab.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
