/**
 * The miner programs in the deterministic simulator, shared by the simulation tests: the
 * production server core (`MinerServerCore`), miners and request clients on their production
 * cores (`MinerCore`, `RequestCore`) or scripted to answer out of order, a lossy network and a
 * virtual clock. Simulated miners "compute" with a pure function after a virtual delay
 * proportional to the chunk size: the real hash (node:crypto, tables of small ranges) or, for huge
 * ranges, a fake hash whose range minimum has a closed form (checked against brute force in
 * `sim_scheduler_test.ts`).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { LspEndpoint } from "../../src/lsp/endpoint.ts";
import { LspConnectionError } from "../../src/lsp/errors.ts";
import {
  decodeMessage,
  encodeMessage,
  joinMessage,
  MAX_UINT64,
  type RequestMessage,
  resultMessage,
} from "../../src/miner/message.ts";
import type { SchedulerOptions, SchedulerStats } from "../../src/miner/scheduler.ts";
import { MinerServerCore } from "../../src/miner/server_core.ts";
import { MinerCore, type MinerJob } from "../../src/miner/miner_core.ts";
import { RequestCore, type RequestOutcome } from "../../src/miner/request_core.ts";
import {
  type DatagramCore,
  type Millis,
  replayHint,
  SimNet,
  type Transmit,
} from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";

export const SERVER = "10.0.0.1:6060";

// ---------------------------------------------------------------------------------------------
// Hash functions and oracles

export type Best = readonly [hash: bigint, nonce: bigint];

export function better(a: Best | undefined, b: Best): Best {
  return a === undefined || b[0] < a[0] || (b[0] === a[0] && b[1] < a[1]) ? b : a;
}

/** Spec §3.1 with node:crypto. */
export function realHash(data: string, nonce: bigint): bigint {
  const d = createHash("sha256").update(`${data} ${nonce}`).digest();
  return (BigInt(d.readUInt32BE(0)) << 32n) | BigInt(d.readUInt32BE(4));
}

/** Real hashes of nonces 0..REAL_MAX for a few fixed messages, computed once (slow: ~10 µs each). */
export const REAL_MAX = 19_999;
export const REAL_DATA = [
  "bradfitz",
  "msg",
  "6969395957072160278",
  "héllo wörld ✓ 日本 🚀",
];
const realTables = new Map<string, BigUint64Array>();

export function realTable(data: string): BigUint64Array {
  let table = realTables.get(data);
  if (table === undefined) {
    table = new BigUint64Array(REAL_MAX + 1);
    for (let n = 0; n <= REAL_MAX; n++) table[n] = realHash(data, BigInt(n));
    realTables.set(data, table);
  }
  return table;
}

/** Brute force over the real hash table. */
export function realRangeMin(data: string, lo: bigint, hi: bigint): Best {
  assert.ok(
    hi <= BigInt(REAL_MAX),
    `real-hash range ${lo}..${hi} is beyond the table`,
  );
  const table = realTable(data);
  let best: Best | undefined;
  for (let n = Number(lo); n <= Number(hi); n++) {
    best = better(best, [table[n], BigInt(n)]);
  }
  return best!;
}

function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  }
  return h >>> 0;
}

/**
 * A fake hash for huge ranges whose range minimum has a closed form. Nonces fall in blocks of
 * `block` (a power of two); each block has one "planted" nonce at a pseudo-random offset with a
 * pseudo-random hash below 2^63; every other nonce hashes to 2^64 − 1 − offset, so within a block
 * the unplanted minimum is the highest offset.
 */
export function fakeHash(seed: number, nonce: bigint, block: bigint): bigint {
  const k = nonce / block, off = nonce % block;
  const [plantedOff, plantedHash] = planted(seed, k, block);
  return off === plantedOff ? plantedHash : MAX_UINT64 - off;
}

function planted(seed: number, k: bigint, block: bigint): [bigint, bigint] {
  const a = mix32(
    seed ^ mix32(Number(k & 0xffffffffn) ^ mix32(Number(k >> 32n))),
  );
  const off = BigInt(a) % block;
  const hash = (BigInt(mix32(a ^ 0x2545f491) >>> 1) << 32n) |
    BigInt(mix32(a ^ 0x6c078965));
  return [off, hash];
}

/** The closed-form minimum of `fakeHash` over lo..hi (at most 10^5 blocks). */
export function fakeRangeMin(
  seed: number,
  lo: bigint,
  hi: bigint,
  block: bigint,
): Best {
  const kLo = lo / block, kHi = hi / block;
  assert.ok(kHi - kLo < 100_000n, "fakeRangeMin() over too many blocks");
  let best: Best | undefined;
  for (let k = kLo; k <= kHi; k++) {
    const s = k * block > lo ? k * block : lo;
    const e = k * block + block - 1n < hi ? k * block + block - 1n : hi;
    const [off, hash] = planted(seed, k, block);
    const p = k * block + off;
    if (s <= p && p <= e) best = better(best, [hash, p]);
    const top = e === p ? e - 1n : e;
    if (top >= s) best = better(best, [MAX_UINT64 - top % block, top]);
  }
  return best!;
}

export const BLOCK = 1n << 20n;

/** What simulated miners compute and what results are checked against: by the data's prefix. */
export function rangeMin(data: string, lo: bigint, hi: bigint): Best {
  return data.startsWith("fake:")
    ? fakeRangeMin(fnv(data), lo, hi, BLOCK)
    : realRangeMin(data, lo, hi);
}

// ---------------------------------------------------------------------------------------------
// Simulated nodes

/**
 * The production server core (`MinerServerCore`: the LSP endpoint with the Scheduler stacked on
 * its events) and what its events tell: chunks sent, requests' arrivals and answers, losses.
 */
export class ServerProbe {
  readonly core: MinerServerCore;
  /** Chunks sent to miners, with the time the scheduler sent them. */
  readonly chunks: { at: Millis; connId: number; m: RequestMessage }[] = [];
  /** When each Request arrived (by data) and when its Result left. */
  readonly arrivedAt = new Map<string, Millis>();
  readonly answeredAt = new Map<string, Millis>();
  readonly lostAt = new Map<number, Millis>();
  readonly dataOf = new Map<number, string>();
  readonly violations: string[] = [];

  constructor(prng: Prng, options: SchedulerOptions) {
    this.core = new MinerServerCore({
      prng,
      scheduler: options,
      reportActions: true,
    });
  }

  /** Takes the core's events (called before every step of the simulation, and before checks). */
  drain(now: Millis): void {
    for (let e = this.core.pollEvent(); e; e = this.core.pollEvent()) {
      if (e.type === "action") {
        if (e.action.type !== "send") continue;
        const m = decodeMessage(e.action.bytes)!;
        if (m.type === "request") {
          this.chunks.push({ at: e.at, connId: e.action.connId, m });
        }
        if (m.type === "result") {
          this.answeredAt.set(this.dataOf.get(e.action.connId)!, e.at);
        }
      } else if (e.type === "log" && e.record !== undefined) {
        const r = e.record;
        if (r.level === "warn") {
          this.violations.push(`unexpected warning: ${e.message}`);
        }
        if (
          r.code === "requestAccepted" && r.request !== undefined &&
          r.connId !== undefined
        ) {
          this.arrivedAt.set(r.request.data, r.at);
          this.dataOf.set(r.connId, r.request.data);
        } else if (
          (r.code === "minerLost" || r.code === "clientLost" ||
            r.code === "clientLeft") &&
          r.connId !== undefined
        ) {
          this.lostAt.set(r.connId, r.at);
        }
      }
    }
    if (this.core.waitingRequestCount > 0 && this.core.freeSlots > 0) {
      this.violations.push(
        `${now}: ${this.core.freeSlots} free slots while work waits`,
      );
    }
  }
}

/**
 * How a simulated miner orders its work:
 *
 * - `fifo`: one Request at a time, in arrival order (the reference miner);
 * - `reverse`: waits up to `HOLD_MS` for a second Request, then does the whole batch newest
 *   first, so each pair of chunks is answered in reverse;
 * - `concurrent`: starts every Request at once, each on its own and lasting 0.5 to 2 times its
 *   normal time, answering as each finishes (a Go miner with one goroutine per Request).
 */
export type MinerMode = "fifo" | "reverse" | "concurrent";
const HOLD_MS = 300;

/**
 * A scripted miner on a bare LSP client endpoint: Join, then compute Requests (`mode` says in
 * which order: other miners than ours, e.g. a Go miner with a goroutine per Request), `speed`
 * nonces per ms.
 */
export class ScriptedMinerNode implements DatagramCore {
  readonly ep: LspEndpoint;
  connId: number | undefined;
  mode: MinerMode = "fifo";
  /** Draws the `concurrent` miner's times. */
  rand: Prng | undefined;
  readonly queue: RequestMessage[] = [];
  /** The `reverse` miner's batch, in the order it does it. */
  batch: RequestMessage[] = [];
  holdUntil: Millis | undefined;
  /** Requests being computed, soonest done first (more than one only if `concurrent`). */
  running: { m: RequestMessage; finishAt: Millis }[] = [];
  /** Crashes (goes silent) during its `dieInChunk`-th chunk, at `dieFraction` of it. */
  dieInChunk = 0;
  dieFraction = 0.5;
  dieAt: Millis | undefined;
  crashed = false;
  crashedMidChunk = false;
  ended = false;
  started = 0;
  /** Time from its first chunk on: idle while the server had work waiting. */
  idleWhileWaiting = 0;
  presentWhileWaiting = 0;

  constructor(prng: Prng, now: Millis, readonly speed: number) {
    this.ep = LspEndpoint.client(SERVER, {}, prng, now);
  }

  get alive(): boolean {
    return !this.crashed && !this.ended;
  }

  /** The Request it works on (the soonest done), if any. */
  get current(): { m: RequestMessage; finishAt: Millis } | undefined {
    return this.running[0];
  }

  handleDatagram(from: string, bytes: Uint8Array, now: Millis): void {
    if (this.crashed) return;
    this.ep.handleDatagram(from, bytes, now);
    this.#pump(now);
  }

  handleTick(now: Millis): void {
    if (this.crashed) return;
    if (this.dieAt !== undefined && now >= this.dieAt) {
      this.crashed = true;
      this.crashedMidChunk = this.current !== undefined;
      return;
    }
    while (this.current !== undefined && this.current.finishAt <= now) {
      this.#finish(now);
    }
    this.#startNext(now);
    this.ep.handleTick(now);
    this.#pump(now);
  }

  pollTransmit(): Transmit | undefined {
    return this.crashed ? undefined : this.ep.pollTransmit();
  }

  nextTimeout(): Millis | undefined {
    if (this.crashed) return undefined;
    let t = this.ep.nextTimeout();
    const hold = this.running.length === 0 && this.batch.length === 0 &&
        this.queue.length > 0
      ? this.holdUntil
      : undefined;
    for (const at of [this.current?.finishAt, this.dieAt, hold]) {
      if (at !== undefined && (t === undefined || at < t)) t = at;
    }
    return t;
  }

  #pump(now: Millis): void {
    for (let e = this.ep.pollEvent(); e; e = this.ep.pollEvent()) {
      if (e.type === "connected") {
        this.connId = e.connId;
        this.ep.write(e.connId, encodeMessage(joinMessage()), now);
      } else if (e.type === "message") {
        const m = decodeMessage(e.payload);
        if (m?.type === "request") {
          if (this.queue.length === 0) this.holdUntil = now + HOLD_MS;
          this.queue.push(m);
          this.#startNext(now);
        }
      } else {
        this.ended = true;
        this.running = [];
      }
    }
  }

  #startNext(now: Millis): void {
    if (this.ended) return;
    if (this.mode === "concurrent") {
      for (
        let m = this.queue.shift();
        m !== undefined;
        m = this.queue.shift()
      ) {
        this.#start(m, now, 0.5 + 1.5 * this.rand!.float());
      }
      return;
    }
    if (this.running.length > 0) return;
    if (this.mode === "reverse" && this.batch.length === 0) {
      if (this.queue.length === 0) return;
      if (this.queue.length < 2 && now < this.holdUntil!) return; // wait for a second one
      this.batch = this.queue.splice(0).reverse();
    }
    const m = this.mode === "reverse" ? this.batch.shift() : this.queue.shift();
    if (m !== undefined) this.#start(m, now, 1);
  }

  #start(m: RequestMessage, now: Millis, factor: number): void {
    const took = Math.max(
      1,
      (Number(m.upper - m.lower + 1n) / this.speed) * factor,
    );
    this.running.push({ m, finishAt: now + took });
    this.running.sort((a, b) => a.finishAt - b.finishAt);
    if (++this.started === this.dieInChunk) {
      this.dieAt = now + took * this.dieFraction;
    }
  }

  #finish(now: Millis): void {
    const { m } = this.running.shift()!;
    const [hash, nonce] = rangeMin(m.data, m.lower, m.upper);
    try {
      this.ep.write(
        this.connId!,
        encodeMessage(resultMessage(hash, nonce)),
        now,
      );
    } catch (e) {
      if (!(e instanceof LspConnectionError)) throw e;
    }
    this.#startNext(now);
  }
}

/** What the world needs of a simulated miner. */
export type SimMiner = CoreMinerNode | ScriptedMinerNode;

/**
 * Our miner: the production `MinerCore`, whose searches take `nonces / speed` virtual ms. It can
 * crash (go silent, as after `kill -9`) during its `dieInChunk`-th search or at `vanish()`; when
 * the core says to retry a connect, `onRetry` moves it to a fresh address (a fresh socket).
 */
export class CoreMinerNode implements DatagramCore {
  core: MinerCore;
  attempt = 1;
  connId: number | undefined;
  running: { job: MinerJob; finishAt: Millis } | undefined;
  dieInChunk = 0;
  dieFraction = 0.5;
  dieAt: Millis | undefined;
  crashed = false;
  crashedMidChunk = false;
  /** How the core ended (lost server, unreachable), if it did, and when. */
  ended:
    | { reason: string; served: number; detail: string; at: Millis }
    | undefined;
  /** Warnings the core logged. */
  readonly warnings: string[] = [];
  started = 0;
  idleWhileWaiting = 0;
  presentWhileWaiting = 0;
  onRetry: ((node: CoreMinerNode) => void) | undefined;
  retryPending = false;

  constructor(readonly prng: Prng, now: Millis, readonly speed: number) {
    this.core = this.#newCore(now);
  }

  #newCore(now: Millis): MinerCore {
    return new MinerCore({
      serverAddr: SERVER,
      hostport: SERVER,
      prng: this.prng,
      now,
      attempt: this.attempt,
      attempts: 3,
    });
  }

  get alive(): boolean {
    return !this.crashed && this.ended === undefined;
  }

  get current(): { job: MinerJob; finishAt: Millis } | undefined {
    return this.running;
  }

  /** The process stops (Ctrl-C or kill): its socket is gone, nothing more is sent. */
  vanish(): void {
    this.crashed = true;
    this.crashedMidChunk = this.running !== undefined;
  }

  /** The next connection attempt, on a fresh socket (the world gives it a new address). */
  restart(now: Millis): void {
    this.attempt++;
    this.retryPending = false;
    this.core = this.#newCore(now);
  }

  handleDatagram(from: string, bytes: Uint8Array, now: Millis): void {
    if (this.crashed || this.retryPending) return;
    this.core.handleDatagram(from, bytes, now);
    this.#drain(now);
  }

  handleTick(now: Millis): void {
    if (this.crashed || this.retryPending) return;
    if (this.dieAt !== undefined && now >= this.dieAt) return this.vanish();
    if (this.running !== undefined && this.running.finishAt <= now) {
      const { job } = this.running;
      this.running = undefined;
      const [hash, nonce] = rangeMin(job.data, job.lower, job.upper);
      this.core.handleScanned(job.id, hash, nonce, now);
    }
    this.core.handleTick(now);
    this.#drain(now);
  }

  pollTransmit(): Transmit | undefined {
    return this.crashed || this.retryPending ? undefined : this.core.pollTransmit();
  }

  nextTimeout(): Millis | undefined {
    if (this.crashed || this.retryPending) return undefined;
    let t = this.core.nextTimeout();
    for (const at of [this.running?.finishAt, this.dieAt]) {
      if (at !== undefined && (t === undefined || at < t)) t = at;
    }
    return t;
  }

  #drain(now: Millis): void {
    for (let e = this.core.pollEvent(); e; e = this.core.pollEvent()) {
      switch (e.type) {
        case "joined":
          this.connId = e.connId;
          break;
        case "scan": {
          const { lower, upper } = e.job;
          const took = Math.max(1, Number(upper - lower + 1n) / this.speed);
          this.running = { job: e.job, finishAt: now + took };
          if (++this.started === this.dieInChunk) {
            this.dieAt = now + took * this.dieFraction;
          }
          break;
        }
        case "cancel":
          this.running = undefined;
          break;
        case "log":
          if (e.level === "warn") this.warnings.push(e.message);
          break;
        case "retry":
          this.retryPending = true;
          this.onRetry?.(this);
          break;
        case "ended":
          this.ended = {
            reason: e.reason,
            served: e.served,
            detail: e.detail,
            at: now,
          };
          this.running = undefined;
          break;
      }
    }
  }
}

/**
 * Our request client: the production `RequestCore`. It can crash (go silent, as after Ctrl-C or
 * `kill -9`); when the core says to retry a connect, `onRetry` moves it to a fresh address.
 */
export class ClientNode implements DatagramCore {
  core: RequestCore;
  attempt = 1;
  connId: number | undefined;
  outcome: RequestOutcome | undefined;
  /** When the outcome came. */
  doneAt: Millis | undefined;
  result: Best | undefined;
  disconnected = false;
  crashed = false;
  progress = 0;
  onRetry: ((node: ClientNode) => void) | undefined;
  retryPending = false;

  constructor(
    readonly prng: Prng,
    now: Millis,
    readonly request: RequestMessage,
  ) {
    this.core = this.#newCore(now);
  }

  #newCore(now: Millis): RequestCore {
    return new RequestCore({
      serverAddr: SERVER,
      hostport: SERVER,
      prng: this.prng,
      now,
      request: encodeMessage(this.request),
      wantProgress: this.request.wantProgress,
      attempt: this.attempt,
      attempts: 2,
    });
  }

  get done(): boolean {
    return this.result !== undefined || this.disconnected || this.crashed;
  }

  /** The next connection attempt, on a fresh socket (the world gives it a new address). */
  restart(now: Millis): void {
    this.attempt++;
    this.retryPending = false;
    this.core = this.#newCore(now);
  }

  handleDatagram(from: string, bytes: Uint8Array, now: Millis): void {
    if (this.crashed || this.retryPending) return;
    this.core.handleDatagram(from, bytes, now);
    this.#drain(now);
  }

  handleTick(now: Millis): void {
    if (this.crashed || this.retryPending) return;
    this.core.handleTick(now);
    this.#drain(now);
  }

  pollTransmit(): Transmit | undefined {
    return this.crashed || this.retryPending ? undefined : this.core.pollTransmit();
  }

  nextTimeout(): Millis | undefined {
    return this.crashed || this.retryPending ? undefined : this.core.nextTimeout();
  }

  #drain(now: Millis): void {
    for (let e = this.core.pollEvent(); e; e = this.core.pollEvent()) {
      if (e.type === "connected") this.connId = e.connId;
      else if (e.type === "progress") this.progress++;
      else if (e.type === "retry") {
        this.retryPending = true;
        this.onRetry?.(this);
      } else if (e.type === "done") {
        this.outcome = e.outcome;
        this.doneAt = now;
        if (e.outcome.type === "result") {
          this.result = [e.outcome.hash, e.outcome.nonce];
        } else this.disconnected = true;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The world

/** The hash the simulated miners use, for the server to match and verify their Results. */
export function simHash(data: string, nonce: bigint): bigint {
  if (data.startsWith("fake:")) return fakeHash(fnv(data), nonce, BLOCK);
  return nonce <= BigInt(REAL_MAX) ? realTable(data)[Number(nonce)] : realHash(data, nonce);
}

/** Like the real server's: every Result is matched and verified with the hash. */
export const SCHED: SchedulerOptions = {
  minChunkNonces: 500,
  targetChunkMillis: 1000,
  hashOf: simHash,
};

export class World {
  readonly root: Prng;
  readonly net: SimNet;
  readonly server: ServerProbe;
  readonly miners: SimMiner[] = [];
  readonly clients: ClientNode[] = [];
  #nextHost = 2;
  #lastSample = 0;
  /** Miners present while work waited at the last sample, and whether each was idle. */
  readonly #state = new Map<SimMiner, boolean>();
  /** Each node's current address. */
  readonly addrOf = new Map<DatagramCore, string>();

  constructor(
    readonly seed: number,
    dropRate: number,
    options: SchedulerOptions = SCHED,
    readonly replay = "deno test --allow-read tests/miner/sim_scheduler_test.ts",
  ) {
    this.root = Prng.seeded(seed);
    this.net = new SimNet({
      prng: this.root.fork(),
      defaults: { dropRate, dupRate: dropRate / 4, delayMs: [1, 40] },
    });
    this.server = new ServerProbe(this.root.fork(), options);
    this.net.add(SERVER, this.server.core);
  }

  #addr(): string {
    return `10.0.${this.#nextHost >> 8}.${this.#nextHost++ & 255}:5000`;
  }

  #attach(node: DatagramCore): void {
    const addr = this.#addr();
    this.addrOf.set(node, addr);
    this.net.add(addr, node);
  }

  /** Moves a node to a fresh address (a fresh socket), after the step that asked for it. */
  #move(node: CoreMinerNode | ClientNode): void {
    this.net.clock.setTimer(this.net.now, (now) => {
      this.net.remove(this.addrOf.get(node)!);
      node.restart(now);
      this.#attach(node);
    });
  }

  /** Adds our miner (`speed` nonces per ms) now or at `at`; `setup` can arrange its crash. */
  miner(
    speed: number,
    at = 0,
    setup: (m: CoreMinerNode) => void = () => {},
  ): void {
    const start = () => {
      const m = new CoreMinerNode(this.root.fork(), this.net.now, speed);
      m.onRetry = (node) => this.#move(node);
      setup(m);
      this.miners.push(m);
      this.#attach(m);
    };
    if (at <= this.net.now) start();
    else this.net.clock.setTimer(at, start);
  }

  /** Adds a scripted miner (see {@linkcode ScriptedMinerNode}) now or at `at`. */
  scriptedMiner(
    speed: number,
    at = 0,
    setup: (m: ScriptedMinerNode) => void = () => {},
  ): void {
    const start = () => {
      const m = new ScriptedMinerNode(this.root.fork(), this.net.now, speed);
      setup(m);
      this.miners.push(m);
      this.#attach(m);
    };
    if (at <= this.net.now) start();
    else this.net.clock.setTimer(at, start);
  }

  /** Adds a client now or at `at`; `crashAt` makes it go silent then. */
  client(request: RequestMessage, at = 0, crashAt?: Millis): void {
    const start = () => {
      const c = new ClientNode(this.root.fork(), this.net.now, request);
      c.onRetry = (node) => this.#move(node);
      this.clients.push(c);
      this.#attach(c);
      if (crashAt !== undefined) {
        this.net.clock.setTimer(crashAt, () => (c.crashed = true));
      }
    };
    if (at <= this.net.now) start();
    else this.net.clock.setTimer(at, start);
  }

  /**
   * Called before every step: the state seen at the previous call held until now (it only
   * changes at steps), so charge the elapsed time to it, then take the state for the next one.
   */
  #sample(): void {
    const now = this.net.now, dt = now - this.#lastSample;
    this.#lastSample = now;
    for (const [m, idle] of this.#state) {
      m.presentWhileWaiting += dt;
      if (idle) m.idleWhileWaiting += dt;
    }
    this.#state.clear();
    if (this.server.core.waitingRequestCount === 0) return;
    for (const m of this.miners) {
      if (m.alive && m.started > 0) this.#state.set(m, m.current === undefined);
    }
  }

  run(until: () => boolean, maxTime: Millis): void {
    const stop = this.net.runWhile(() => {
      this.server.drain(this.net.now);
      this.#sample();
      return !until();
    }, { maxTime, maxSteps: 2_000_000 });
    assert.equal(
      stop,
      "done",
      this.explain(`the run stopped: ${stop} at ${this.net.now} ms`),
    );
  }

  get stats(): SchedulerStats {
    return this.server.core.stats();
  }

  explain(what: string): string {
    return `${what}\n${replayHint(this.seed, this.replay)}\n${JSON.stringify(this.stats)}`;
  }

  /** Common checks: exact answers, chunks within their requests, no invariant violations. */
  check(): void {
    this.server.drain(this.net.now);
    assert.deepEqual(this.server.violations, [], this.explain("violations"));
    for (const c of this.clients) {
      if (c.crashed || c.disconnected) continue;
      const { data, lower, upper } = c.request;
      assert.deepEqual(
        c.result,
        rangeMin(data, lower, upper),
        this.explain(`wrong answer: ${data}`),
      );
    }
    for (const { m } of this.server.chunks) {
      const owner = this.clients.find(({ request: r }) =>
        r.data === m.data && r.lower <= m.lower && m.upper <= r.upper
      );
      assert.ok(
        owner !== undefined,
        this.explain(`a chunk outside any request: ${m.data}`),
      );
    }
  }
}

export const lossFor = (seed: number) => Prng.seeded(seed ^ 0x5eed).pick([0.05, 0.075, 0.1]);
