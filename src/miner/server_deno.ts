/**
 * The miner server adapter (spec `miner.md` §8): binds a UDP socket and runs the sans-I/O
 * {@linkcode MinerServerCore} (the LSP endpoint with the scheduler on top; `dispatch.ts` explains
 * the scheduling strategy) with the one UDP driver, the very core the simulator runs. It moves
 * bytes, time and log lines only: every decision is the core's. Results are verified with
 * {@linkcode hashSync} before they count.
 *
 * Logging: the core's log events go to the logger (`warn` for bad input, `info` for miners,
 * clients and requests). Each request's start is logged with its range and size, and its end with
 * the time it took and the hash rate it got (nonces per second over the whole request).
 *
 * @example A server on a free port
 * ```ts ignore
 * import { listenMiner } from "./server_deno.ts";
 * const server = listenMiner(0, { hostname: "127.0.0.1" });
 * console.log(`Server listening on port ${server.port}`);
 * server.closeNow();
 * await server.done;
 * ```
 *
 * @module
 */
import { LspConnectionError } from "../lsp/mod.ts";
import type { LspParams } from "../lsp/mod.ts";
import { UdpDriver } from "../net/mod.ts";
import { listenUdp } from "../node/mod.ts";
import { prngFromEntropy } from "../util/mod.ts";
import { type Logger, serviceLogger } from "../util/mod.ts";
import { hashSync } from "./hash.ts";
import type { SchedulerOptions, SchedulerStats } from "./scheduler.ts";
import { MinerServerCore } from "./server_core.ts";
import type { MinerServiceStatus } from "./server_status.ts";

/**
 * Options of the miner server: the scheduler's and the logger.
 */
export interface ServeMinerOptions {
  /**
   * Scheduler options: chunk sizes, pipeline depth, limits. `hashOf` defaults to
   * {@linkcode hashSync} (every Result is verified); pass `hashOf: undefined` explicitly to skip it.
   *
   * @default {{ hashOf: hashSync }}
   */
  scheduler?: SchedulerOptions;
  /**
   * Where log lines go.
   *
   * @default {serviceLogger("miner")}
   */
  log?: Logger;
}

/**
 * Options of {@linkcode listenMiner}: the LSP server's and the scheduler's.
 */
export interface ListenMinerOptions extends ServeMinerOptions {
  /** LSP parameters; missing fields take the reference defaults (K 5, δ 2000 ms, ω 1, B 0, M 1). */
  params?: Partial<LspParams>;
  /**
   * The address to bind.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Size of the LSP connection table.
   *
   * @default {1024}
   */
  maxConnections?: number;
  /** Abort to stop at once: every connection dropped, the socket closed. */
  signal?: AbortSignal;
  /**
   * Name used in bind errors.
   *
   * @default {"miner"}
   */
  serviceName?: string;
}

/**
 * A running miner server: the socket, the driver and the core.
 *
 * @example Counters of a running server
 * ```ts ignore
 * import { listenMiner } from "./server_deno.ts";
 * const server = listenMiner(9999);
 * setInterval(() => console.log(server.stats().requestsCompleted), 10_000);
 * ```
 */
export class MinerServer {
  readonly #core: MinerServerCore;
  readonly #driver: UdpDriver;
  readonly #log: Logger;
  #closing: Promise<void> | undefined;
  #settleClose: ((lost: number | undefined) => void) | undefined;

  /** @internal Made by {@linkcode listenMiner}. */
  constructor(
    core: MinerServerCore,
    socket: Deno.DatagramConn,
    log: Logger,
    signal: AbortSignal | undefined,
  ) {
    this.#core = core;
    this.#log = log;
    this.#driver = new UdpDriver({ socket, core, signal, onProgress: () => this.#drain() });
    const settle = () => this.#settleClose?.(undefined);
    this.#driver.done.then(settle, settle);
  }

  /** The bound UDP port. */
  get port(): number {
    return this.#driver.addr.port;
  }

  /** Resolves once the socket is closed. Rejects only on a bug (a broken invariant of the core). */
  get done(): Promise<void> {
    return this.#driver.done;
  }

  /**
   * The scheduler's counters.
   *
   * @returns A snapshot.
   */
  stats(): SchedulerStats {
    return this.#core.stats();
  }

  /** Miners, jobs and connections now, for the status service. */
  status(): MinerServiceStatus {
    return this.#core.status(performance.now(), this.port);
  }

  /** Live requests with nonces not handed out yet (work waiting for a free miner slot). */
  get waitingRequestCount(): number {
    return this.#core.waitingRequestCount;
  }

  /**
   * Stops accepting connections and waits until what was written is acknowledged (or lost),
   * then closes the socket. Rejects with an {@linkcode LspConnectionError} naming a connection
   * lost meanwhile, or on a second call.
   */
  close(): Promise<void> {
    if (this.#closing) return Promise.reject(new LspConnectionError("close", 0, "closed"));
    if (this.#driver.closed) {
      this.#closing = Promise.resolve();
      return this.#closing;
    }
    this.#closing = new Promise<void>((resolve, reject) => {
      this.#settleClose = (lost) => {
        this.#settleClose = undefined;
        if (lost === undefined) resolve();
        else reject(new LspConnectionError("close", lost, "lost"));
      };
    });
    this.#core.closeAll(performance.now());
    this.#driver.pump();
    return this.#closing;
  }

  /** Stops at once: drops every connection and closes the socket. Idempotent. */
  closeNow(): void {
    this.#driver.close();
  }

  #drain(): void {
    for (let e = this.#core.pollEvent(); e; e = this.#core.pollEvent()) {
      if (e.type === "closed") {
        this.#driver.close();
        this.#settleClose?.(e.lost);
      } else if (e.type === "log") {
        this.#log[e.level]("{message}", { ...e.fields, message: e.message });
      }
    }
  }
}

/**
 * Starts a miner server on `port` (0 picks a free port; see `server.port`).
 *
 * @param port The UDP port.
 * @param options LSP, scheduler and logging options.
 * @returns The running server.
 * @throws {ServiceStartError} When the port cannot be bound.
 * @throws {RangeError} When an option is out of range (nothing is left open).
 *
 * @example A loopback server
 * ```ts
 * import { listenMiner } from "./server_deno.ts";
 * import assert from "node:assert/strict";
 * const server = listenMiner(0, { hostname: "127.0.0.1" });
 * assert.ok(server.port > 0);
 * server.closeNow();
 * await server.done;
 * ```
 */
export function listenMiner(port: number, options: ListenMinerOptions = {}): MinerServer {
  // The core first: it validates the options, and a refused option must not leave a socket open.
  const core = new MinerServerCore({
    prng: prngFromEntropy(),
    params: options.params,
    maxConnections: options.maxConnections,
    scheduler: { hashOf: hashSync, ...options.scheduler },
  });
  const socket = listenUdp(options.serviceName ?? "miner", {
    hostname: options.hostname ?? "0.0.0.0",
    port,
  });
  return new MinerServer(core, socket, options.log ?? serviceLogger("miner"), options.signal);
}
