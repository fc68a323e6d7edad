/**
 * The miner programs in the deterministic simulator, shared by the simulation tests: the
 * production server core (`MinerServerCore`), miners and request clients on their production
 * cores or scripted to answer out of order (`_sim_nodes.ts`), a lossy network and a virtual clock.
 * Results are checked against the oracles of `_sim_oracles.ts`.
 */
import assert from "node:assert/strict";
import { decodeMessage, type RequestMessage } from "../../src/miner/message.ts";
import type { SchedulerOptions, SchedulerStats } from "../../src/miner/scheduler.ts";
import { MinerServerCore } from "../../src/miner/server_core.ts";
import { type DatagramCore, type Millis, replayHint, SimNet } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";
import {
  ClientNode,
  CoreMinerNode,
  ScriptedMinerNode,
  SERVER,
  type SimMiner,
} from "./_sim_nodes.ts";
import { rangeMin, simHash } from "./_sim_oracles.ts";

export * from "./_sim_nodes.ts";
export * from "./_sim_oracles.ts";

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
