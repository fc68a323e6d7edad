/**
 * Simulated miners and request clients for the miner simulation tests: our miner and client on
 * their production cores (`MinerCore`, `RequestCore`), and scripted miners on a bare LSP endpoint
 * that answer out of order. Miners "compute" with the oracles of `_sim_oracles.ts` after a virtual
 * delay proportional to the chunk size.
 */
import { LspEndpoint } from "../../src/lsp/endpoint.ts";
import { LspConnectionError } from "../../src/lsp/errors.ts";
import {
  decodeMessage,
  encodeMessage,
  joinMessage,
  type RequestMessage,
  resultMessage,
} from "../../src/miner/message.ts";
import { MinerCore, type MinerJob } from "../../src/miner/miner_core.ts";
import { RequestCore, type RequestOutcome } from "../../src/miner/request_core.ts";
import type { DatagramCore, Millis, Transmit } from "../../src/sim/mod.ts";
import type { Prng } from "../../src/util/prng.ts";
import { type Best, rangeMin } from "./_sim_oracles.ts";

/** The server's address. */
export const SERVER = "10.0.0.1:6060";

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
/**
 * What the program-core nodes share: the core of the current connection attempt, a crash (the
 * process is gone) and a pending retry (the world gives the next attempt a fresh socket).
 */
abstract class RetryingNode<C extends DatagramCore> implements DatagramCore {
  core!: C;
  attempt = 1;
  crashed = false;
  retryPending = false;

  /** The core of the current attempt. */
  protected abstract newCore(now: Millis): C;
  /** Takes the core's events after an input. */
  protected abstract drain(now: Millis): void;

  /** Whether the node takes no input: crashed, or between two attempts. */
  get silent(): boolean {
    return this.crashed || this.retryPending;
  }

  /** The next connection attempt, on a fresh socket (the world gives it a new address). */
  restart(now: Millis): void {
    this.attempt++;
    this.retryPending = false;
    this.core = this.newCore(now);
  }

  handleDatagram(from: string, bytes: Uint8Array, now: Millis): void {
    if (this.silent) return;
    this.core.handleDatagram(from, bytes, now);
    this.drain(now);
  }

  handleTick(now: Millis): void {
    if (this.silent) return;
    this.core.handleTick(now);
    this.drain(now);
  }

  pollTransmit(): Transmit | undefined {
    return this.silent ? undefined : this.core.pollTransmit();
  }

  nextTimeout(): Millis | undefined {
    return this.silent ? undefined : this.core.nextTimeout();
  }
}

export class CoreMinerNode extends RetryingNode<MinerCore> {
  connId: number | undefined;
  running: { job: MinerJob; finishAt: Millis } | undefined;
  dieInChunk = 0;
  dieFraction = 0.5;
  dieAt: Millis | undefined;
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

  constructor(readonly prng: Prng, now: Millis, readonly speed: number) {
    super();
    this.core = this.newCore(now);
  }

  protected newCore(now: Millis): MinerCore {
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

  override handleTick(now: Millis): void {
    if (this.silent) return;
    if (this.dieAt !== undefined && now >= this.dieAt) return this.vanish();
    if (this.running !== undefined && this.running.finishAt <= now) {
      const { job } = this.running;
      this.running = undefined;
      const [hash, nonce] = rangeMin(job.data, job.lower, job.upper);
      this.core.handleScanned(job.id, hash, nonce, now);
    }
    this.core.handleTick(now);
    this.drain(now);
  }

  override nextTimeout(): Millis | undefined {
    if (this.silent) return undefined;
    let t = this.core.nextTimeout();
    for (const at of [this.running?.finishAt, this.dieAt]) {
      if (at !== undefined && (t === undefined || at < t)) t = at;
    }
    return t;
  }

  protected drain(now: Millis): void {
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
export class ClientNode extends RetryingNode<RequestCore> {
  connId: number | undefined;
  outcome: RequestOutcome | undefined;
  /** When the outcome came. */
  doneAt: Millis | undefined;
  result: Best | undefined;
  disconnected = false;
  progress = 0;
  onRetry: ((node: ClientNode) => void) | undefined;

  constructor(
    readonly prng: Prng,
    now: Millis,
    readonly request: RequestMessage,
  ) {
    super();
    this.core = this.newCore(now);
  }

  protected newCore(now: Millis): RequestCore {
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

  protected drain(now: Millis): void {
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
