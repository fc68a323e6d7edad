/**
 * `GET /metrics`: the status document in the Prometheus text format (version 0.0.4), rendered by
 * npm `prom-client`. Each metric lives in a registry of its own (never prom-client's global one)
 * and reads the document at scrape time; no default process metrics. Counters are the services'
 * own totals since they started; gauges are values now. Metric names start with `bitclone_`; the
 * full list is in the README.
 *
 * @module
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { StatusDocument } from "./document.ts";

type Labels = Record<string, string>;
type Put = (labels: Labels, value: number) => void;
type Fill = (doc: StatusDocument, put: Put) => void;

/**
 * Fills one metric from the document: a value that is not a finite number (a section of another
 * shape) is left out, and a section that cannot be read leaves this metric empty, never the scrape.
 */
function collectFrom(doc: StatusDocument | undefined, fill: Fill, put: Put): void {
  if (doc === undefined) return;
  try {
    fill(doc, (labels, v) => {
      if (typeof v === "number" && Number.isFinite(v)) put(labels, v);
    });
  } catch {
    // a snapshot of an unexpected shape: no samples for this metric
  }
}

/** The metrics' registry and how to render it for one document. */
export interface StatusMetrics {
  /** The registry (for tests: the metric names). */
  readonly registry: Registry;
  /** The `Content-Type` of the rendered text. */
  readonly contentType: string;
  /** Renders `doc` in the text format. */
  render(doc: StatusDocument): Promise<string>;
}

/**
 * Makes the registry of every bitclone metric.
 *
 * @returns A fresh registry and its renderer.
 *
 * @example
 * ```ts
 * import { createStatusMetrics } from "./metrics.ts";
 * import assert from "node:assert/strict";
 * const metrics = createStatusMetrics();
 * const text = await metrics.render({
 *   schema: 1, version: "0.1.0", time: "", uptimeSec: 3, hostname: "0.0.0.0", services: [], disabled: [],
 *   peer: null, miner: null, tracker: null, kv: null, status: null,
 * });
 * assert.match(text, /^bitclone_uptime_seconds 3$/m);
 * assert.match(text, /^bitclone_info\{version="0\.1\.0"\} 1$/m);
 * ```
 */
export function createStatusMetrics(): StatusMetrics {
  const registry = new Registry();
  let current: StatusDocument | undefined;
  const gauge = (name: string, help: string, labelNames: string[], fill: Fill) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collectFrom(current, fill, (labels, v) => this.set(labels, v));
      },
    });
  const counter = (name: string, help: string, labelNames: string[], fill: Fill) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        collectFrom(current, fill, (labels, v) => this.inc(labels, Math.max(0, v)));
      },
    });
  const each = <T>(items: readonly T[] | undefined, f: (item: T) => void) => items?.forEach(f);

  gauge("bitclone_info", "bitclone's version (always 1)", ["version"], (d, put) => {
    put({ version: d.version }, 1);
  });
  gauge("bitclone_uptime_seconds", "Seconds since the node started", [], (d, put) => {
    put({}, d.uptimeSec);
  });
  gauge(
    "bitclone_service_up",
    "1 when the service runs, 0 when it stops, failed or is disabled",
    ["service"],
    (d, put) => {
      for (const s of d.services) put({ service: s.name }, s.state === "running" ? 1 : 0);
      for (const name of d.disabled) put({ service: name }, 0);
    },
  );
  gauge("bitclone_service_uptime_seconds", "Seconds since the service started", ["service"], (
    d,
    put,
  ) => each(d.services, (s) => put({ service: s.name }, s.uptimeSec)));

  // The BitClone peer
  gauge(
    "bitclone_peer_connections",
    "BitClone connections: established inbound and outbound, and pending (dial or handshake)",
    ["direction"],
    (d, put) => {
      if (!d.peer) return;
      put({ direction: "inbound" }, d.peer.inbound);
      put({ direction: "outbound" }, d.peer.outbound);
      put({ direction: "pending" }, d.peer.pending);
    },
  );
  gauge("bitclone_peer_addresses_known", "Addresses in the peer's address book", [], (d, put) => {
    if (d.peer) put({}, d.peer.known);
  });
  gauge("bitclone_peer_addresses_tried", "Addresses in the tried table", [], (d, put) => {
    if (d.peer) put({}, d.peer.tried);
  });
  counter("bitclone_peer_received_bytes_total", "Bytes read from peers", [], (d, put) => {
    if (d.peer) put({}, d.peer.counters.bytesRead);
  });
  counter("bitclone_peer_sent_bytes_total", "Bytes written to peers", [], (d, put) => {
    if (d.peer) put({}, d.peer.counters.bytesWritten);
  });
  counter("bitclone_peer_dials_total", "Outbound connects by result", ["result"], (d, put) => {
    if (!d.peer) return;
    put({ result: "ok" }, d.peer.counters.dialed);
    put({ result: "failed" }, d.peer.counters.dialFailures);
  });
  counter("bitclone_peer_accepts_total", "Inbound connections by result", ["result"], (d, put) => {
    if (!d.peer) return;
    put({ result: "accepted" }, d.peer.counters.accepted);
    put({ result: "refused" }, d.peer.counters.refused);
  });

  // The miner server
  gauge("bitclone_miner_miners", "Miners connected", [], (d, put) => {
    if (d.miner) put({}, d.miner.miners.length);
  });
  gauge(
    "bitclone_miner_pool_joined",
    "1 while this node's miner is joined to its pool",
    [],
    (d, put) => {
      if (d.miner?.pool) put({}, d.miner.pool.joined ? 1 : 0);
    },
  );
  gauge("bitclone_miner_jobs", "Jobs (client requests) being searched", [], (d, put) => {
    if (d.miner) put({}, d.miner.jobs.length);
  });
  gauge("bitclone_miner_connections", "LSP connections by role", ["role"], (d, put) => {
    if (!d.miner) return;
    const roles = new Map<string, number>();
    for (const c of d.miner.connections) roles.set(c.role, (roles.get(c.role) ?? 0) + 1);
    for (const [role, n] of roles) put({ role }, n);
  });
  gauge(
    "bitclone_miner_rate_nonces_per_second",
    "A miner's measured speed",
    ["miner"],
    (d, put) =>
      each(d.miner?.miners, (m) => {
        if (m.rate !== null) put({ miner: String(m.id) }, m.rate);
      }),
  );
  gauge(
    "bitclone_miner_job_progress_ratio",
    "Share of a job's nonces searched",
    ["job"],
    (d, put) => each(d.miner?.jobs, (j) => put({ job: String(j.id) }, j.progress)),
  );
  gauge(
    "bitclone_miner_job_searched_nonces",
    "Nonces of a job searched",
    ["job"],
    (d, put) => each(d.miner?.jobs, (j) => put({ job: String(j.id) }, j.searched)),
  );
  gauge(
    "bitclone_miner_job_nonces",
    "Nonces in a job's range",
    ["job"],
    (d, put) => each(d.miner?.jobs, (j) => put({ job: String(j.id) }, j.total)),
  );
  gauge(
    "bitclone_miner_job_rate_nonces_per_second",
    "A job's nonces searched per second since it arrived",
    ["job"],
    (d, put) => each(d.miner?.jobs, (j) => put({ job: String(j.id) }, j.rate)),
  );
  counter("bitclone_miner_requests_total", "Client requests by outcome", ["outcome"], (d, put) => {
    const c = d.miner?.counters;
    if (!c) return;
    put({ outcome: "accepted" }, c.requestsAccepted);
    put({ outcome: "completed" }, c.requestsCompleted);
    put({ outcome: "abandoned" }, c.requestsAbandoned);
    put({ outcome: "rejected" }, c.requestsRejected);
  });
  counter("bitclone_miner_chunks_total", "Chunks by event", ["event"], (d, put) => {
    const c = d.miner?.counters;
    if (!c) return;
    put({ event: "sent" }, c.chunksSent);
    put({ event: "completed" }, c.chunksCompleted);
    put({ event: "reassigned" }, c.chunksReassigned);
    put({ event: "copied" }, c.chunksCopied);
  });
  counter("bitclone_lsp_datagrams_total", "LSP datagrams of the miner server", ["direction"], (
    d,
    put,
  ) => {
    if (!d.miner) return;
    put({ direction: "received" }, d.miner.lsp.datagramsReceived);
    put({ direction: "sent" }, d.miner.lsp.datagramsSent);
  });
  counter("bitclone_lsp_retransmissions_total", "LSP Data messages sent again", [], (d, put) => {
    if (d.miner) put({}, d.miner.lsp.dataRetransmitted);
  });
  counter("bitclone_lsp_dropped_total", "LSP datagrams dropped (any reason)", [], (d, put) => {
    if (d.miner) put({}, d.miner.lsp.dropped);
  });

  // The tracker
  gauge("bitclone_tracker_entries", "Entries in the tracker's database", [], (d, put) => {
    if (d.tracker) put({}, d.tracker.entries);
  });
  gauge("bitclone_tracker_connections", "Tracker connections held now", [], (d, put) => {
    if (d.tracker) put({}, d.tracker.active);
  });
  counter(
    "bitclone_tracker_requests_total",
    "Tracker requests: served, invalid (error reply), refused (too many connections), failed",
    ["outcome"],
    (d, put) => {
      if (!d.tracker) return;
      put({ outcome: "served" }, d.tracker.served);
      put({ outcome: "invalid" }, d.tracker.invalid);
      put({ outcome: "refused" }, d.tracker.refused);
      put({ outcome: "failed" }, d.tracker.failed);
    },
  );

  // The key-value store
  gauge("bitclone_kv_keys", "Keys in the key-value store", [], (d, put) => {
    if (d.kv) put({}, d.kv.keys);
  });
  gauge("bitclone_kv_members", "Key-value members known, by state", ["state"], (d, put) => {
    if (!d.kv) return;
    const states = new Map<string, number>();
    for (const m of d.kv.members) states.set(m.state, (states.get(m.state) ?? 0) + 1);
    for (const [state, n] of states) put({ state }, n);
  });
  counter("bitclone_kv_requests_total", "Key-value messages handled on TCP", [], (d, put) => {
    if (d.kv) put({}, d.kv.requests);
  });
  counter(
    "bitclone_kv_refused_total",
    "Key-value connections, writes and syncs refused",
    [],
    (d, put) => {
      if (d.kv) put({}, d.kv.refused);
    },
  );

  // The status service
  counter("bitclone_status_requests_total", "HTTP requests to the status service", ["path"], (
    d,
    put,
  ) => {
    for (const [path, n] of Object.entries(d.status?.requests ?? {})) put({ path }, n);
  });

  let queue: Promise<unknown> = Promise.resolve();
  return {
    registry,
    contentType: registry.contentType,
    render(doc) {
      // One document per scrape: scrapes take turns.
      const run = queue.then(async () => {
        current = doc;
        try {
          return await registry.metrics();
        } finally {
          current = undefined;
        }
      });
      queue = run.catch(() => {});
      return run;
    },
  };
}
