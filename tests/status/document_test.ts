/**
 * The status service's pure parts: the document builder, the Prometheus rendering (checked
 * against the text format's rules by `_metrics_format.ts`, itself tested here on broken input),
 * the terminal table, the page's CSP, and the miner scheduler's snapshot.
 */
import assert from "node:assert/strict";
import { sha256 } from "@noble/hashes/sha2.js";
import { buildStatusDocument, type StatusDocument, statusJson } from "../../src/status/document.ts";
import { createStatusMetrics } from "../../src/status/metrics.ts";
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from "../../src/status/page.ts";
import { checkStatusDocument, formatStatusTable } from "../../src/status/table.ts";
import { Scheduler } from "../../src/miner/scheduler.ts";
import { minerStatus } from "../../src/miner/server_status.ts";
import { newSchedulerStats } from "../../src/miner/scheduler_types.ts";
import {
  decodeMessage,
  encodeMessage,
  joinMessage,
  requestMessage,
  resultMessage,
} from "../../src/miner/message.ts";
import { checkMetricsText } from "./_metrics_format.ts";

/** A full document, as a node with every section would give it. */
function fullDocument(): StatusDocument {
  return {
    schema: 1,
    version: "0.1.0",
    time: "2026-12-05T10:00:00.000Z",
    uptimeSec: 125,
    hostname: "0.0.0.0",
    services: [
      {
        name: "peer",
        description: "BitClone peer",
        state: "running",
        uptimeSec: 125,
        listening: [{ transport: "tcp", hostname: "0.0.0.0", port: 8333 }],
      },
      {
        name: "miner",
        description: "miner",
        state: "stopping",
        uptimeSec: 120,
        listening: [{ transport: "udp", hostname: "0.0.0.0", port: 9999 }],
      },
    ],
    disabled: ["lrp2p"],
    peer: {
      port: 8333,
      inbound: 1,
      outbound: 1,
      pending: 1,
      known: 7,
      tried: 2,
      connections: [
        {
          direction: "outbound",
          state: "established",
          address: "10.0.0.2:8333",
          remote: "10.0.0.2:8333",
          userAgent: "evil\x1b[2J\x07agent",
          version: 4,
          manual: true,
          ageSec: 61,
        },
        {
          direction: "inbound",
          state: "established",
          address: "10.0.0.3:8333",
          remote: "10.0.0.3:50111",
          userAgent: "bitclone-ts",
          version: 3,
          manual: false,
          ageSec: 5,
        },
        {
          direction: "outbound",
          state: "dialing",
          address: "10.0.0.4:8333",
          remote: null,
          userAgent: null,
          version: null,
          manual: false,
          ageSec: 1,
        },
      ],
      counters: {
        sockets: 3,
        peakSockets: 3,
        accepted: 1,
        refused: 0,
        dialed: 2,
        dialFailures: 4,
        resets: 0,
        bytesRead: 1000,
        bytesWritten: 2000,
        saves: 1,
        saveErrors: 0,
      } as never,
    },
    miner: {
      port: 9999,
      miners: [
        { id: 1, address: "10.0.0.5:4000", rate: 1_500_000, chunks: 2, jobs: [7] },
        { id: 3, address: "10.0.0.6:4000", rate: null, chunks: 0, jobs: [] },
      ],
      jobs: [{
        id: 7,
        client: 2,
        clientAddress: "10.0.0.7:5000",
        data: "hello",
        lower: "0",
        upper: "999999999",
        total: 1e9,
        searched: 25e7,
        progress: 0.25,
        rate: 3e6,
        elapsedSec: 83.3,
        miners: [1],
      }],
      connections: [
        { id: 1, address: "10.0.0.5:4000", role: "miner" },
        { id: 2, address: "10.0.0.7:5000", role: "client" },
        { id: 3, address: "10.0.0.6:4000", role: "miner" },
      ],
      counters: { ...newSchedulerStats(), miners: 2, clients: 1, requestsAccepted: 3 },
      lsp: {
        datagramsReceived: 10,
        datagramsSent: 11,
        dataSent: 5,
        dataRetransmitted: 1,
        messagesDelivered: 4,
        dropped: 2,
      },
    },
    tracker: {
      port: 7777,
      entries: 16,
      accepted: 5,
      active: 1,
      served: 3,
      invalid: 1,
      refused: 1,
      failed: 0,
    },
    kv: {
      name: "n1",
      advertise: "10.0.0.1:9000",
      port: 9000,
      udpPort: 8888,
      keys: 4,
      connections: 0,
      members: [
        { name: "n2", address: "10.0.0.2:9000", state: "alive" },
        { name: "n3", address: "10.0.0.3:9000", state: "suspect" },
      ],
      requests: 9,
      refused: 0,
    },
    status: { port: 8080, requests: { "/": 2, "/status.json": 5, "/metrics": 1 } },
  };
}

Deno.test("buildStatusDocument() lists every service; a broken snapshot is an error, not a gap", () => {
  const doc = buildStatusDocument({
    now: 10_000,
    version: "9.9.9",
    hostname: "127.0.0.1",
    nodeStartedAt: 1_000,
    disabled: ["lrp2p"],
    services: [
      {
        name: "peer",
        description: "p",
        state: "running",
        startedAt: 2_000,
        listening: [{ transport: "tcp", hostname: "127.0.0.1", port: 1 }],
        status: () => {
          throw new Error("core gone");
        },
      },
      {
        name: "tracker",
        description: "t",
        state: "stopping",
        startedAt: 3_000,
        listening: [],
        status: () => ({ served: 4 }),
      },
      {
        name: "lrp2p-like",
        description: "x",
        state: "failed",
        startedAt: 20_000,
        listening: [],
        status: () => ({ secret: 1 }),
      },
    ],
  });
  assert.equal(doc.schema, 1);
  assert.equal(doc.version, "9.9.9");
  assert.equal(doc.time, "1970-01-01T00:00:10.000Z");
  assert.equal(doc.uptimeSec, 9);
  assert.deepEqual(doc.services.map((s) => [s.name, s.state, s.uptimeSec, s.error]), [
    ["peer", "running", 8, "core gone"],
    ["tracker", "stopping", 7, undefined],
    ["lrp2p-like", "failed", 0, undefined], // a start in the future is no negative age
  ]);
  assert.equal(doc.peer, null);
  assert.deepEqual(doc.tracker, { served: 4 });
  assert.equal(doc.miner, null);
  assert.equal(doc.kv, null);
  assert.ok(!("lrp2p-like" in doc) && !JSON.stringify(doc).includes("secret"));
  assert.deepEqual(doc.disabled, ["lrp2p"]);
  assert.deepEqual(JSON.parse(statusJson(doc)), JSON.parse(JSON.stringify(doc)));
});

Deno.test("/metrics of a full document: the text format's rules and every value", async () => {
  const text = await createStatusMetrics().render(fullDocument());
  const samples = checkMetricsText(text);
  const v = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))
      ?.value;
  assert.equal(v("bitclone_uptime_seconds"), 125);
  assert.equal(v("bitclone_service_up", { service: "peer" }), 1);
  assert.equal(v("bitclone_service_up", { service: "miner" }), 0); // stopping
  assert.equal(v("bitclone_service_up", { service: "lrp2p" }), 0);
  assert.equal(v("bitclone_peer_connections", { direction: "pending" }), 1);
  assert.equal(v("bitclone_peer_addresses_known"), 7);
  assert.equal(v("bitclone_peer_dials_total", { result: "failed" }), 4);
  assert.equal(v("bitclone_peer_sent_bytes_total"), 2000);
  assert.equal(v("bitclone_miner_miners"), 2);
  assert.equal(v("bitclone_miner_rate_nonces_per_second", { miner: "1" }), 1_500_000);
  assert.equal(v("bitclone_miner_rate_nonces_per_second", { miner: "3" }), undefined); // no rate yet
  assert.equal(v("bitclone_miner_job_progress_ratio", { job: "7" }), 0.25);
  assert.equal(v("bitclone_miner_job_nonces", { job: "7" }), 1e9);
  assert.equal(v("bitclone_miner_connections", { role: "miner" }), 2);
  assert.equal(v("bitclone_miner_requests_total", { outcome: "accepted" }), 3);
  assert.equal(v("bitclone_lsp_retransmissions_total"), 1);
  assert.equal(v("bitclone_lsp_dropped_total"), 2);
  assert.equal(v("bitclone_tracker_requests_total", { outcome: "refused" }), 1);
  assert.equal(v("bitclone_kv_members", { state: "suspect" }), 1);
  assert.equal(v("bitclone_kv_keys"), 4);
  assert.equal(v("bitclone_kv_requests_total"), 9);
  assert.equal(v("bitclone_status_requests_total", { path: "/status.json" }), 5);
});

Deno.test("/metrics: a job that ended disappears; odd label values are escaped", async () => {
  const metrics = createStatusMetrics();
  const doc = fullDocument();
  const first = checkMetricsText(await metrics.render(doc));
  assert.ok(first.some((s) => s.labels.job === "7"));
  doc.miner!.jobs = [];
  doc.version = 'a"b\\c\nd';
  const later = checkMetricsText(await metrics.render(doc));
  assert.ok(!later.some((s) => s.labels.job === "7"));
  assert.equal(later.find((s) => s.name === "bitclone_info")?.labels.version, 'a"b\\c\nd');
  // Without sections, no labelled sample of theirs.
  const empty = { ...doc, peer: null, miner: null, tracker: null, kv: null, status: null };
  const none = checkMetricsText(await metrics.render(empty));
  assert.ok(!none.some((s) => s.name === "bitclone_peer_connections"));
  assert.ok(!none.some((s) => s.name === "bitclone_miner_connections"));
});

Deno.test("the metrics checker refuses what the text format forbids", () => {
  const ok = '# HELP bitclone_x X\n# TYPE bitclone_x gauge\nbitclone_x{a="1"} 2\n';
  assert.equal(checkMetricsText(ok)[0].value, 2);
  const bad: [string, RegExp][] = [
    [ok.slice(0, -1), /newline/],
    ["# TYPE bitclone_x gauge\nbitclone_x 1\n", /no HELP/],
    ["# HELP bitclone_x X\nbitclone_x 1\n# TYPE bitclone_x gauge\n", /TYPE after samples/],
    [ok + 'bitclone_x{a="1"} 3\n', /repeated/],
    ['# HELP bitclone_x X\n# TYPE bitclone_x gauge\nbitclone_x{a="\\t"} 1\n', /bad escape/],
    ["# HELP bitclone_x X\n# TYPE bitclone_x gauge\nbitclone_x{a=1} 1\n", /not quoted/],
    ["# HELP bitclone_x X\n# TYPE bitclone_x gauge\nbitclone_x one\n", /bad value/],
    ["# HELP bitclone_c C\n# TYPE bitclone_c counter\nbitclone_c 1\n", /_total/],
    ["# HELP x X\n# TYPE x gauge\nx 1\n", /bitclone_/],
    [
      ok + '# HELP bitclone_y Y\n# TYPE bitclone_y gauge\nbitclone_y 1\nbitclone_x{a="2"} 1\n',
      /not together/,
    ],
  ];
  for (const [text, why] of bad) assert.throws(() => checkMetricsText(text), why, text);
});

Deno.test("formatStatusTable() shows every section and no control character from the network", () => {
  const text = formatStatusTable(fullDocument(), "10.0.0.1:8080");
  assert.match(
    text,
    /^bitclone 0\.1\.0 at 10\.0\.0\.1:8080, up 2m05s \(2026-12-05 10:00:00 UTC\)$/m,
  );
  assert.match(text, /^miner +stopping +udp 9999 +2m00s$/m);
  assert.match(text, /^lrp2p +disabled$/m);
  assert.match(text, /^peers: 1 in, 1 out, 1 pending; 7 addresses known \(2 tried\)$/m);
  assert.match(text, /^ {2}out +established +10\.0\.0\.2:8333 +evil\?\[2J\?agent +4 +1m01s$/m);
  assert.match(text, /^ {2}out +dialing +10\.0\.0\.4:8333 +1\.0s$/m);
  assert.match(text, /^jobs: 1; miners: 2$/m);
  assert.match(text, /^ {2}7 +█████ +25\.0% +250M\/1\.00G +3\.00M +1 +hello$/m);
  assert.match(text, /^ {2}3 +10\.0\.0\.6:4000 +- +0$/m);
  assert.match(text, /^tracker: 3 served, 1 invalid, 1 refused, 0 failed; 16 entries$/m);
  assert.match(text, /^kv: 4 keys; 2 members \(1 alive\); 9 requests$/m);
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f]/.test(text));
});

Deno.test("checkStatusDocument() refuses what is not a status document it can show", () => {
  assert.equal(checkStatusDocument(null), "not a bitclone status document");
  assert.equal(checkStatusDocument([1]), "not a bitclone status document");
  assert.equal(checkStatusDocument({ schema: 1 }), "not a bitclone status document");
  assert.match(checkStatusDocument({ schema: 2, services: [] }) as string, /version 2 is newer/);
  const doc = fullDocument();
  assert.equal(checkStatusDocument(doc), doc);
});

Deno.test("the page: one document, no external asset, its CSP allows exactly its script and style", () => {
  const html = STATUS_PAGE_HTML;
  const script = /<script>([\s\S]*)<\/script>/.exec(html)![1];
  const style = /<style>([\s\S]*)<\/style>/.exec(html)![1];
  const hash = (s: string) =>
    `'sha256-${btoa(String.fromCharCode(...sha256(new TextEncoder().encode(s))))}'`;
  assert.ok(STATUS_PAGE_CSP.includes(`script-src ${hash(script)}`), STATUS_PAGE_CSP);
  assert.ok(STATUS_PAGE_CSP.includes(`style-src ${hash(style)}`), STATUS_PAGE_CSP);
  assert.match(STATUS_PAGE_CSP, /default-src 'none'/);
  assert.match(STATUS_PAGE_CSP, /connect-src 'self'/);
  assert.equal((html.match(/<script/g) ?? []).length, 1);
  assert.ok(!/<(?:link|img|iframe)\b[^>]*\b(?:src|href)="(?!data:)/.test(html));
  assert.ok(
    !/(?:https?:)?\/\/(?!www\.w3\.org\/2000\/svg)[a-z]/i.test(html.replace(/\/\/ .*$/gm, "")),
  );
  assert.ok(!/<(?:form|button|input|select|textarea)\b/.test(html));
  // Values from the network are set as text, never parsed as HTML.
  assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(script));
});

Deno.test("Scheduler.snapshot() and minerStatus(): miners, their chunks, the job's progress", () => {
  const s = new Scheduler({ minChunkNonces: 100, maxChunkNonces: 100, pipelineDepth: 1 });
  s.handleMessage(1, encodeMessage(joinMessage()), 0);
  s.handleMessage(2, encodeMessage(joinMessage()), 0);
  s.handleMessage(3, encodeMessage(requestMessage("msg", 0n, 999n)), 0);
  const sent = new Map<number, bigint[]>();
  for (let a = s.pollAction(); a; a = s.pollAction()) {
    const m = a.type === "send" ? decodeMessage(a.bytes) : undefined;
    if (a.type === "send" && m?.type === "request") sent.set(a.connId, [m.lower, m.upper]);
  }
  assert.equal(sent.size, 2);
  let snap = s.snapshot();
  assert.deepEqual(snap.conns, [
    { connId: 1, role: "miner" },
    { connId: 2, role: "miner" },
    { connId: 3, role: "client" },
  ]);
  assert.deepEqual(
    snap.miners.map((m) => [m.connId, m.noncesPerMilli, m.chunks.map((c) => [c.job, c.lo, c.hi])]),
    [[1, undefined, [[1, ...sent.get(1)!]]], [2, undefined, [[1, ...sent.get(2)!]]]],
  );
  assert.deepEqual(snap.jobs.map((j) => [j.seq, j.clientConnId, j.total, j.searched]), [
    [1, 3, 1000n, 0n],
  ]);
  // Miner 1 answers its chunk after 50 ms: 100 nonces searched, a speed of 2 nonces/ms.
  const [lo] = sent.get(1)!;
  s.handleMessage(1, encodeMessage(resultMessage(1n, lo)), 50);
  snap = s.snapshot();
  assert.equal(snap.jobs[0].searched, 100n);
  assert.equal(snap.miners[0].noncesPerMilli, 2);
  const status = minerStatus(snap, 1050, 9999, (id) => `10.0.0.${id}:1`, s.stats(), {
    datagramsReceived: 0,
    datagramsSent: 0,
    dataSent: 0,
    dataRetransmitted: 0,
    messagesDelivered: 0,
    dropped: 0,
  });
  assert.deepEqual(status.jobs[0], {
    id: 1,
    client: 3,
    clientAddress: "10.0.0.3:1",
    data: "msg",
    lower: "0",
    upper: "999",
    total: 1000,
    searched: 100,
    progress: 0.1,
    rate: 95, // 100 nonces in 1.05 s
    elapsedSec: 1.1,
    miners: [1, 2],
  });
  assert.deepEqual(status.miners.map((m) => [m.id, m.rate, m.chunks, m.jobs]), [
    [1, 2000, 1, [1]],
    [2, null, 1, [1]],
  ]);
  assert.deepEqual(status.connections.map((c) => c.role), ["miner", "miner", "client"]);
  // A long Data is cut for the page.
  const long = minerStatus(
    { ...snap, jobs: [{ ...snap.jobs[0], data: "x".repeat(100) }] },
    1050,
    9999,
    () => undefined,
    s.stats(),
    status.lsp,
  );
  assert.equal(long.jobs[0].data, "x".repeat(63) + "…");
  assert.equal(long.jobs[0].clientAddress, null);
});
