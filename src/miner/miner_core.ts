/**
 * The miner (spec `miner.md` §5.2, §7) as a sans-I/O datagram core over an LSP client endpoint:
 * it connects, sends one Join, then hands each Request to its hashing (a `scan` event; the
 * adapter's workers answer with {@linkcode MinerCore.handleScanned}) strictly one at a time and in
 * arrival order, and sends each Result. Requests that arrive during a search wait in a bounded
 * queue. A Request with `Lower > Upper` (never sent by a conforming server) is answered with
 * `Result(Hash(Data, Lower), Lower)` rather than left hanging (spec §4). When the connection is
 * lost the search is cancelled and the core ends: a miner whose server is gone must not linger.
 *
 * One core is one connection attempt on one socket. When the server does not answer, the core
 * says whether to try again (`retry`: the adapter makes a fresh socket and the next attempt's
 * core, `specs/lsp.md` §16) or to give up (`ended`, `unreachable`).
 *
 * @module
 */
import type { Addr, DatagramCore, EventSource, Millis, Transmit } from "../core/mod.ts";
import { OutputQueue } from "../core/mod.ts";
import { TimeKeeper } from "../core/mod.ts";
import { LspEndpoint } from "../lsp/mod.ts";
import { LspConnectError, LspConnectionError } from "../lsp/mod.ts";
import { type LspParams, lspParams } from "../lsp/mod.ts";
import { formatDuration } from "../util/mod.ts";
import type { Prng } from "../util/mod.ts";
import { encodeMessage, joinMessage, readMessage, resultMessage } from "./message.ts";
import { formatCount } from "./progress_bar.ts";

/**
 * Options of {@linkcode MinerCore}.
 */
export interface MinerCoreOptions {
  /** The server's resolved address. */
  serverAddr: Addr;
  /** The server as the user named it, for messages. */
  hostport: string;
  /** Randomness (the ISN, 0..255, unless `isn` is given). */
  prng: Prng;
  /** The current time. */
  now: Millis;
  /** LSP parameters; missing fields take the reference defaults. */
  params?: Partial<LspParams>;
  /** The initial sequence number. @default {a random integer in 0..255} */
  isn?: number;
  /** This connection attempt (1-based). @default {1} */
  attempt?: number;
  /** Connection attempts before giving up. @default {3} */
  attempts?: number;
  /** Requests waiting behind the one being searched; more are dropped (logged). @default {1024} */
  maxQueuedRequests?: number;
}

/** One Request to search: the whole range `lower..upper` of `data`. */
export interface MinerJob {
  /** Identifies the job in {@linkcode MinerCore.handleScanned}. */
  readonly id: number;
  readonly data: string;
  readonly lower: bigint;
  readonly upper: bigint;
}

/**
 * What the miner core asks of its adapter or reports:
 *
 * - `joined`: connected, and the Join is sent;
 * - `scan`: search this job and give the answer to `handleScanned()`;
 * - `cancel`: stop the search in progress (the connection is gone);
 * - `log`: a line to log;
 * - `retry`: this attempt got no answer: log `message` (a warning) and make the next attempt on a
 *   fresh socket;
 * - `ended`: the core is done (`lost`: the connection was lost; `unreachable`: no attempt got an
 *   answer); `detail` explains it.
 */
export type MinerEvent =
  | { readonly type: "joined"; readonly connId: number }
  | { readonly type: "scan"; readonly job: MinerJob }
  | { readonly type: "cancel" }
  | { readonly type: "log"; readonly level: "debug" | "warn"; readonly message: string }
  | { readonly type: "retry"; readonly message: string }
  | {
    readonly type: "ended";
    readonly reason: "lost" | "unreachable";
    readonly served: number;
    readonly detail: string;
  };

/**
 * A miner on one connection attempt.
 *
 * @example A miner that gets no answer on its last attempt gives up
 * ```ts
 * import { MinerCore } from "./miner_core.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const miner = new MinerCore({
 *   serverAddr: "S", hostport: "S", prng: Prng.seeded(1), now: 0,
 *   params: { epochLimit: 2, epochMillis: 100 }, attempt: 3, attempts: 3,
 * });
 * assert.equal(miner.pollTransmit()?.to, "S"); // Connect
 * for (let t = 100; t <= 300; t += 100) miner.handleTick(t);
 * assert.deepEqual(miner.pollEvent(), {
 *   type: "ended", reason: "unreachable", served: 0, detail: "no answer within 2 epochs, 3 times",
 * });
 * ```
 */
export class MinerCore implements DatagramCore, EventSource<MinerEvent> {
  readonly #endpoint: LspEndpoint;
  readonly #hostport: string;
  readonly #epochLimit: number;
  readonly #attempt: number;
  readonly #attempts: number;
  readonly #maxQueued: number;
  readonly #time: TimeKeeper;
  readonly #events = new OutputQueue<MinerEvent>();
  readonly #queue: MinerJob[] = [];
  #connId = 0;
  #current: { job: MinerJob; startedAt: Millis } | undefined;
  #nextJobId = 1;
  #served = 0;
  /** Time spent searching by the searches that ended (answered or cancelled). */
  #busyMillis = 0;
  #ended = false;

  /**
   * Starts connecting: a Connect is waiting in `pollTransmit()`.
   *
   * @throws {TypeError} On parameters of the wrong type.
   * @throws {RangeError} On out-of-range parameters.
   */
  constructor(options: MinerCoreOptions) {
    const params = lspParams(options.params ?? {});
    this.#hostport = options.hostport;
    this.#epochLimit = params.epochLimit;
    this.#attempt = options.attempt ?? 1;
    this.#attempts = options.attempts ?? 3;
    this.#maxQueued = options.maxQueuedRequests ?? 1024;
    this.#time = new TimeKeeper(options.now);
    this.#endpoint = LspEndpoint.client(options.serverAddr, params, options.prng, options.now, {
      isn: options.isn ?? options.prng.int(0, 255),
    });
  }

  /** Requests answered. */
  get served(): number {
    return this.#served;
  }

  /**
   * The time its searches have taken up to `now`, in milliseconds: from each `scan` event to its
   * `handleScanned()` (or to the cancel), the search in progress counted up to `now`. Requests
   * wait in the queue only while a search runs, so over a stretch of wall time the miner's busy
   * share is the growth of this figure divided by the stretch.
   *
   * @param now The current time (as given to the core's inputs).
   * @returns Milliseconds.
   *
   * @example No search yet
   * ```ts
   * import { MinerCore } from "./miner_core.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const miner = new MinerCore({ serverAddr: "S", hostport: "S", prng: Prng.seeded(1), now: 0 });
   * assert.equal(miner.busyMillis(1000), 0);
   * ```
   */
  busyMillis(now: Millis): number {
    const current = this.#current;
    return this.#busyMillis + (current === undefined ? 0 : Math.max(0, now - current.startedAt));
  }

  /** True once the core has ended (an `ended` or `retry` event was given). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Feeds one received datagram in. */
  handleDatagram(from: Addr, bytes: Uint8Array, now: Millis): void {
    if (this.#ended) return;
    const at = this.#time.advance(now);
    this.#endpoint.handleDatagram(from, bytes, at);
    this.#pump(at);
  }

  /** Runs the LSP epoch if due. */
  handleTick(now: Millis): void {
    if (this.#ended) return;
    const at = this.#time.advance(now);
    this.#endpoint.handleTick(at);
    this.#pump(at);
  }

  /** The next datagram to send. */
  pollTransmit(): Transmit | undefined {
    return this.#endpoint.pollTransmit();
  }

  /** The next LSP epoch, or `undefined` once ended. */
  nextTimeout(): Millis | undefined {
    return this.#ended ? undefined : this.#endpoint.nextTimeout();
  }

  /** The next event. */
  pollEvent(): MinerEvent | undefined {
    return this.#events.shift();
  }

  /**
   * The search of job `id` found `hash` at `nonce`: sends the Result and starts the next job.
   * An answer for a job that is not the current one (cancelled, or after the end) is ignored.
   */
  handleScanned(id: number, hash: bigint, nonce: bigint, now: Millis): void {
    const at = this.#time.advance(now);
    const current = this.#current;
    if (this.#ended || current === undefined || current.job.id !== id) return;
    this.#current = undefined;
    this.#busyMillis += Math.max(0, at - current.startedAt);
    try {
      this.#endpoint.write(this.#connId, encodeMessage(resultMessage(hash, nonce)), at);
    } catch (err) {
      if (!(err instanceof LspConnectionError)) throw err;
      return; // lost: its event comes next
    }
    this.#served++;
    const { job } = current;
    const millis = Math.max(at - current.startedAt, 0.001);
    const nonces = job.upper - job.lower + 1n;
    this.#log(
      "debug",
      `Request ${job.lower}..${job.upper}: Result ${hash} ${nonce} ` +
        `in ${formatDuration(millis)} (${formatCount(Number(nonces) / (millis / 1000))}/s)`,
    );
    this.#startNext(at);
  }

  #pump(now: Millis): void {
    for (let e = this.#endpoint.pollEvent(); e && !this.#ended; e = this.#endpoint.pollEvent()) {
      switch (e.type) {
        case "connected":
          this.#connId = e.connId;
          try {
            this.#endpoint.write(e.connId, encodeMessage(joinMessage()), now);
          } catch (err) {
            if (!(err instanceof LspConnectionError)) throw err;
          }
          this.#events.push({ type: "joined", connId: e.connId });
          break;
        case "message":
          this.#onMessage(e.payload, now);
          break;
        default: // connectFailed, lost, closed
          this.#end(now);
      }
    }
  }

  #onMessage(payload: Uint8Array, now: Millis): void {
    const r = readMessage(payload);
    let job: MinerJob;
    if (r.ok && r.message.type === "request") {
      const { data, lower, upper } = r.message;
      job = { id: this.#nextJobId++, data, lower, upper };
    } else if (!r.ok && r.reason === "lowerAboveUpper" && r.request !== undefined) {
      // Spec §4: answer with the hash of Lower rather than hang.
      const { data, lower } = r.request;
      job = { id: this.#nextJobId++, data, lower, upper: lower };
    } else {
      this.#log("warn", `Ignored ${r.ok ? `a message of type ${r.message.type}` : r.detail}`);
      return;
    }
    if (this.#queue.length >= this.#maxQueued) {
      this.#log(
        "warn",
        `Dropped Request ${job.lower}..${job.upper}: ${this.#queue.length} are queued`,
      );
      return;
    }
    this.#queue.push(job);
    this.#startNext(now);
  }

  #startNext(now: Millis): void {
    if (this.#current !== undefined) return;
    const job = this.#queue.shift();
    if (job === undefined) return;
    this.#current = { job, startedAt: now };
    this.#events.push({ type: "scan", job });
  }

  #end(now: Millis): void {
    this.#ended = true;
    if (this.#connId === 0) {
      // Never connected: no answer within EpochLimit epochs.
      if (this.#attempt < this.#attempts) {
        const err = new LspConnectError(this.#hostport, this.#epochLimit);
        this.#events.push({
          type: "retry",
          message: `${err.message}; trying again (${this.#attempt + 1}/${this.#attempts})`,
        });
        return;
      }
      // The adapter names the server: the reason alone.
      const detail = `no answer within ${this.#epochLimit} epochs` +
        (this.#attempt > 1 ? `, ${this.#attempt} times` : "");
      this.#events.push({ type: "ended", reason: "unreachable", served: 0, detail });
      return;
    }
    if (this.#current !== undefined) {
      this.#busyMillis += Math.max(0, now - this.#current.startedAt);
      this.#events.push({ type: "cancel" });
    }
    this.#current = undefined;
    this.#queue.length = 0;
    this.#events.push({
      type: "ended",
      reason: "lost",
      served: this.#served,
      detail: new LspConnectionError("read", this.#connId, "lost").message,
    });
  }

  #log(level: "debug" | "warn", message: string): void {
    this.#events.push({ type: "log", level, message });
  }
}
