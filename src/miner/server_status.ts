/**
 * The miner server's state as the status service shows it: the scheduler's records read into a
 * {@linkcode SchedulerSnapshot} (miners with their speed and the chunks they hold, live requests
 * with their progress, every connection's role), and that snapshot turned into the JSON-ready
 * {@linkcode MinerServiceStatus} with the LSP addresses and the time. Read-only: nothing here
 * changes the scheduler.
 *
 * @module
 */
import type { Conn, Miner } from "./scheduler_state.ts";
import type { SchedulerStats } from "./scheduler_types.ts";

/** What the scheduler holds now (see {@linkcode Scheduler.snapshot}). */
export interface SchedulerSnapshot {
  /** Every connection with its role. */
  readonly conns: readonly { readonly connId: number; readonly role: string }[];
  /** Every miner: its measured speed and the chunks it holds (job and range). */
  readonly miners: readonly {
    readonly connId: number;
    readonly noncesPerMilli: number | undefined;
    readonly chunks: readonly { readonly job: number; readonly lo: bigint; readonly hi: bigint }[];
  }[];
  /** Every live request (a job), in arrival order. */
  readonly jobs: readonly {
    readonly seq: number;
    readonly clientConnId: number;
    readonly data: string;
    readonly lower: bigint;
    readonly upper: bigint;
    readonly total: bigint;
    readonly searched: bigint;
    readonly arrivedAt: number;
  }[];
}

/**
 * Reads the scheduler's connections and miners into a snapshot (the scheduler calls it with its
 * private maps).
 *
 * @param conns The scheduler's connections.
 * @param miners The scheduler's miners.
 * @returns Copies: later changes of the scheduler do not show in it.
 */
export function readSchedulerSnapshot(
  conns: ReadonlyMap<number, Conn>,
  miners: ReadonlyMap<number, Miner>,
): SchedulerSnapshot {
  const jobs: SchedulerSnapshot["jobs"][number][] = [];
  const roles: SchedulerSnapshot["conns"][number][] = [];
  for (const [connId, conn] of conns) {
    roles.push({ connId, role: conn.role });
    if (conn.role !== "client") continue;
    for (const r of conn.client.requests) {
      if (r.state !== "active") continue;
      jobs.push({
        seq: r.seq,
        clientConnId: connId,
        data: r.data,
        lower: r.lower,
        upper: r.upper,
        total: r.total,
        searched: r.searched,
        arrivedAt: r.arrivedAt,
      });
    }
  }
  jobs.sort((a, b) => a.seq - b.seq);
  return {
    conns: roles,
    miners: [...miners.values()].map((m) => ({
      connId: m.connId,
      noncesPerMilli: m.speed.noncesPerMilli,
      chunks: m.fifo.map(({ chunk }) => ({ job: chunk.req.seq, lo: chunk.lo, hi: chunk.hi })),
    })),
    jobs,
  };
}

/** One miner in {@linkcode MinerServiceStatus}. */
export type MinerWorkerStatus = {
  /** Its LSP connection id. */
  id: number;
  /** Its UDP address, when known. */
  address: string | null;
  /** Its measured speed in nonces per second (`null` before its first Result). */
  rate: number | null;
  /** Chunks it holds now. */
  chunks: number;
  /** The jobs whose chunks it holds. */
  jobs: number[];
};

/** One job (a client's Request) in {@linkcode MinerServiceStatus}. */
export type MinerJobStatus = {
  /** The request's number on this server (1, 2, …). */
  id: number;
  /** Its client's LSP connection id. */
  client: number;
  /** Its client's UDP address, when known. */
  clientAddress: string | null;
  /** The message hashed (cut to 64 characters with `…`). */
  data: string;
  /** The first nonce (decimal text: a uint64). */
  lower: string;
  /** The last nonce (decimal text). */
  upper: string;
  /** Nonces in the range. */
  total: number;
  /** Nonces searched so far. */
  searched: number;
  /** `searched / total`, 0 … 1. */
  progress: number;
  /** Nonces per second since it arrived. */
  rate: number;
  /** Seconds since it arrived. */
  elapsedSec: number;
  /** The miners holding its chunks now. */
  miners: number[];
};

/** One LSP connection of the miner server. */
export type MinerConnectionStatus = {
  /** Its LSP connection id. */
  id: number;
  /** Its UDP address, when known. */
  address: string | null;
  /** `miner`, `client`, `unknown` (nothing sent yet) or `closed`. */
  role: string;
};

/** This node's own miner in another (or its own) server's pool (`--join-miner`). */
export type MinerPoolStatus = {
  /** The pool's server, `HOST:PORT`. */
  server: string;
  /** Hashing workers it brings. */
  workers: number;
  /** Whether it is joined now (else it is waiting to join again). */
  joined: boolean;
  /** Times it joined. */
  joins: number;
  /** Requests answered in earlier joins. */
  served: number;
};

/** The miner service's snapshot (`miner` in `/status.json`). */
export type MinerServiceStatus = {
  /** This node's miner in a pool, when the node joined one (`null` otherwise). */
  pool?: MinerPoolStatus | null;
  /** The UDP port it listens on. */
  port: number;
  /** Miners connected, each with its speed. */
  miners: MinerWorkerStatus[];
  /** Live jobs, in arrival order. */
  jobs: MinerJobStatus[];
  /** LSP connections of every role. */
  connections: MinerConnectionStatus[];
  /** The scheduler's counters. */
  counters: SchedulerStats;
  /** The LSP endpoint's counters. */
  lsp: {
    datagramsReceived: number;
    datagramsSent: number;
    dataSent: number;
    dataRetransmitted: number;
    messagesDelivered: number;
    dropped: number;
  };
};

const MAX_DATA_CHARS = 64;

/**
 * Turns a scheduler snapshot into the miner service's status.
 *
 * @param snap The scheduler's snapshot.
 * @param now The scheduler's clock now (ms).
 * @param port The server's UDP port.
 * @param addressOf A connection's UDP address.
 * @param counters The scheduler's counters.
 * @param lsp The LSP endpoint's counters.
 * @returns The JSON-ready status.
 *
 * @example A miner on a job
 * ```ts
 * import { minerStatus } from "./server_status.ts";
 * import { newSchedulerStats } from "./scheduler_types.ts";
 * import assert from "node:assert/strict";
 * const status = minerStatus({
 *   conns: [{ connId: 1, role: "miner" }, { connId: 2, role: "client" }],
 *   miners: [{ connId: 1, noncesPerMilli: 2, chunks: [{ job: 1, lo: 0n, hi: 99n }] }],
 *   jobs: [{ seq: 1, clientConnId: 2, data: "msg", lower: 0n, upper: 999n, total: 1000n, searched: 250n, arrivedAt: 0 }],
 * }, 500, 9999, (id) => `10.0.0.${id}:5000`, newSchedulerStats(), {
 *   datagramsReceived: 0, datagramsSent: 0, dataSent: 0, dataRetransmitted: 0, messagesDelivered: 0, dropped: 0,
 * });
 * assert.equal(status.jobs[0].progress, 0.25);
 * assert.equal(status.jobs[0].rate, 500);
 * assert.deepEqual(status.jobs[0].miners, [1]);
 * assert.equal(status.miners[0].rate, 2000);
 * ```
 */
export function minerStatus(
  snap: SchedulerSnapshot,
  now: number,
  port: number,
  addressOf: (connId: number) => string | undefined,
  counters: SchedulerStats,
  lsp: MinerServiceStatus["lsp"],
): MinerServiceStatus {
  const holders = new Map<number, number[]>();
  const miners = snap.miners.map((m): MinerWorkerStatus => {
    const jobs = [...new Set(m.chunks.map((c) => c.job))].sort((a, b) => a - b);
    for (const j of jobs) holders.set(j, [...(holders.get(j) ?? []), m.connId]);
    return {
      id: m.connId,
      address: addressOf(m.connId) ?? null,
      rate: m.noncesPerMilli === undefined ? null : Math.round(m.noncesPerMilli * 1000),
      chunks: m.chunks.length,
      jobs,
    };
  }).sort((a, b) => a.id - b.id);
  const jobs = snap.jobs.map((j): MinerJobStatus => {
    const elapsedMs = Math.max(0, now - j.arrivedAt);
    const searched = Number(j.searched), total = Number(j.total);
    return {
      id: j.seq,
      client: j.clientConnId,
      clientAddress: addressOf(j.clientConnId) ?? null,
      data: j.data.length > MAX_DATA_CHARS ? `${j.data.slice(0, MAX_DATA_CHARS - 1)}…` : j.data,
      lower: String(j.lower),
      upper: String(j.upper),
      total,
      searched,
      progress: total > 0 ? Math.min(1, searched / total) : 0,
      rate: elapsedMs > 0 ? Math.round(searched / (elapsedMs / 1000)) : 0,
      elapsedSec: Math.round(elapsedMs / 100) / 10,
      miners: (holders.get(j.seq) ?? []).sort((a, b) => a - b),
    };
  });
  const connections = snap.conns.map((c): MinerConnectionStatus => ({
    id: c.connId,
    address: addressOf(c.connId) ?? null,
    role: c.role,
  })).sort((a, b) => a.id - b.id);
  return { port, miners, jobs, connections, counters, lsp };
}
