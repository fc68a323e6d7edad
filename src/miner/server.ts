/**
 * The miner server adapter (spec `miner.md` §8): an {@linkcode LspServer} feeds the sans-I/O
 * {@linkcode Scheduler} (whose module doc explains the scheduling strategy) and carries out its
 * actions; one timer follows `nextTimeout()`. It moves bytes and time only: every decision is the
 * scheduler's. Results are verified with {@linkcode hashSync} before they count.
 *
 * Logging: the scheduler's records go to the logger (`warn` for bad input, `info` for miners,
 * clients and requests). Each request's start is logged with its range and size, and its end with
 * the time it took and the hash rate it got (nonces per second over the whole request).
 *
 * @example A server on a free port
 * ```ts ignore
 * import { listenMiner } from "./server.ts";
 * const server = listenMiner(0, { hostname: "127.0.0.1" });
 * console.log(`Server listening on port ${server.port}`);
 * server.closeNow();
 * await server.done;
 * ```
 *
 * @module
 */
import { LspConnectionError } from "../lsp/errors.ts";
import type { LspParams } from "../lsp/params.ts";
import { listen, type LspServer } from "../lsp/server.ts";
import { formatDuration } from "../util/duration.ts";
import { type Logger, serviceLogger } from "../util/log.ts";
import { hashSync } from "./hash.ts";
import { decodeMessage } from "./message.ts";
import { formatCount } from "./progress_bar.ts";
import {
  Scheduler,
  type SchedulerLog,
  type SchedulerOptions,
  type SchedulerStats,
} from "./scheduler.ts";

/**
 * Options of {@linkcode serveMiner}.
 *
 * @example Smaller chunks and a named logger
 * ```ts
 * import type { ServeMinerOptions } from "./server.ts";
 * import { serviceLogger } from "../util/log.ts";
 * const options: ServeMinerOptions = {
 *   scheduler: { minChunkNonces: 1000 },
 *   log: serviceLogger("miner"),
 * };
 * console.assert(options.scheduler?.minChunkNonces === 1000);
 * ```
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
 *
 * @example Loopback only, short epochs
 * ```ts
 * import type { ListenMinerOptions } from "./server.ts";
 * const options: ListenMinerOptions = {
 *   hostname: "127.0.0.1",
 *   params: { epochMillis: 200, epochLimit: 10 },
 * };
 * console.assert(options.params?.epochLimit === 10);
 * ```
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

/** A request of one client, from its start, for the rate logged at its end. */
interface Started {
  readonly at: number;
  readonly nonces: bigint;
}

/** Longest delay a JavaScript timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How much of a request's Data a log line shows. */
const DATA_PREVIEW_CHARS = 40;

function preview(data: string): string {
  const cut = data.length > DATA_PREVIEW_CHARS ? `${data.slice(0, DATA_PREVIEW_CHARS)}…` : data;
  return JSON.stringify(cut);
}

/**
 * A running miner server: the LSP server, the scheduler and the loop between them.
 *
 * @example Counters of a running server
 * ```ts ignore
 * import { listenMiner } from "./server.ts";
 * const server = listenMiner(9999);
 * setInterval(() => console.log(server.stats().requestsCompleted), 10_000);
 * ```
 */
export class MinerServer {
  /** The LSP server underneath. */
  readonly lsp: LspServer;
  readonly #scheduler: Scheduler;
  readonly #log: Logger;
  /** Requests in progress per client, oldest first (Results go out in this order). */
  readonly #started = new Map<number, Started[]>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #done: Promise<void>;

  /** @internal Made by {@linkcode serveMiner} or {@linkcode listenMiner}. */
  constructor(lsp: LspServer, options: ServeMinerOptions = {}) {
    this.lsp = lsp;
    this.#log = options.log ?? serviceLogger("miner");
    this.#scheduler = new Scheduler({ hashOf: hashSync, ...options.scheduler });
    this.#done = this.#run();
  }

  /** The bound UDP port. */
  get port(): number {
    return this.lsp.port;
  }

  /**
   * Resolves once the LSP server is closed and the loop has stopped (timer cleared). Rejects
   * only on a bug (a broken invariant of the scheduler).
   */
  get done(): Promise<void> {
    return this.#done;
  }

  /**
   * The scheduler's counters.
   *
   * @returns A snapshot.
   */
  stats(): SchedulerStats {
    return this.#scheduler.stats();
  }

  /**
   * Stops accepting connections and waits until what was written is acknowledged (or lost),
   * then closes the socket. Rejects like `LspServer.close()`.
   */
  close(): Promise<void> {
    return this.lsp.close();
  }

  /** Stops at once: drops every connection and closes the socket. Idempotent. */
  closeNow(): void {
    this.lsp.closeNow();
  }

  async #run(): Promise<void> {
    try {
      for (;;) {
        let item;
        try {
          item = await this.lsp.read();
        } catch (err) {
          if (!(err instanceof LspConnectionError)) throw err;
          if (err.connId === 0) break; // the server is closed
          this.#scheduler.handleLost(err.connId, performance.now());
          this.#drain(undefined);
          continue;
        }
        this.#scheduler.handleMessage(item.connId, item.payload, performance.now());
        this.#drain(item.payload);
      }
      await this.lsp.done;
    } catch (err) {
      this.lsp.closeNow(); // a broken invariant: stop serving rather than serve wrongly
      throw err;
    } finally {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Carries out every action, writes every log record and re-arms the timer. */
  #drain(payload: Uint8Array | undefined): void {
    for (let a = this.#scheduler.pollAction(); a; a = this.#scheduler.pollAction()) {
      try {
        if (a.type === "send") this.lsp.write(a.connId, a.bytes);
        else this.lsp.closeConn(a.connId);
      } catch (err) {
        // The connection just died (its loss comes next) or was closed already.
        if (!(err instanceof LspConnectionError)) throw err;
        this.#log.debug("{message}", { message: err.message, connId: a.connId });
      }
    }
    for (let r = this.#scheduler.pollLog(); r; r = this.#scheduler.pollLog()) {
      this.#write(r, payload);
    }
    this.#arm();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const at = this.#scheduler.nextTimeout();
    if (at === undefined) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - performance.now())));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#scheduler.handleTimeout(performance.now());
      this.#drain(undefined);
    }, delay);
  }

  /** Writes one record; adds size and rate to a request's start and end. */
  #write(r: SchedulerLog, payload: Uint8Array | undefined): void {
    const props: Record<string, unknown> = { code: r.code, connId: r.connId };
    let message = r.message;
    const connId = r.connId;
    if (r.code === "requestAccepted" && connId !== undefined && payload !== undefined) {
      // Logged while handling this very payload: the client's Request.
      const m = decodeMessage(payload);
      if (m?.type === "request") {
        const nonces = m.upper - m.lower + 1n;
        const list = this.#started.get(connId) ?? [];
        list.push({ at: performance.now(), nonces });
        this.#started.set(connId, list);
        message += ` started: ${nonces} nonces of ${preview(m.data)}` +
          (m.wantProgress ? ", with progress" : "");
        Object.assign(props, { nonces: String(nonces), data: m.data });
      }
    } else if (r.code === "requestDone" && connId !== undefined) {
      const s = this.#started.get(connId)?.shift();
      if (s !== undefined) {
        const millis = Math.max(performance.now() - s.at, 0.001);
        const perSecond = Number(s.nonces) / (millis / 1000);
        message += ` (${s.nonces} nonces in ${formatDuration(millis)}, ` +
          `${formatCount(perSecond)} nonces/s)`;
        Object.assign(props, { nonces: String(s.nonces), millis, noncesPerSecond: perSecond });
      }
    } else if ((r.code === "clientLost" || r.code === "clientLeft") && connId !== undefined) {
      this.#started.delete(connId);
    }
    if (r.level === "warn" && connId !== undefined) message += ` (connection ${connId})`;
    props.message = message;
    if (r.level === "warn") this.#log.warn("{message}", props);
    else this.#log.info("{message}", props);
  }
}

/**
 * Serves the miner protocol on an LSP server that is already listening, until it is closed.
 *
 * @param lsp The LSP server (it must not be read by anyone else).
 * @param options Scheduler options and the logger.
 * @returns The running server.
 * @throws {TypeError} When a scheduler option has the wrong type.
 * @throws {RangeError} When a scheduler option is out of range.
 *
 * @example Serving on a server made elsewhere
 * ```ts ignore
 * import { listen } from "../lsp/server.ts";
 * import { serveMiner } from "./server.ts";
 * const server = serveMiner(listen(9999), { scheduler: { pipelineDepth: 1 } });
 * await server.done;
 * ```
 */
export function serveMiner(lsp: LspServer, options: ServeMinerOptions = {}): MinerServer {
  return new MinerServer(lsp, options);
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
 * import { listenMiner } from "./server.ts";
 * const server = listenMiner(0, { hostname: "127.0.0.1" });
 * console.assert(server.port > 0);
 * server.closeNow();
 * await server.done;
 * ```
 */
export function listenMiner(port: number, options: ListenMinerOptions = {}): MinerServer {
  // The scheduler validates its options before any socket exists.
  new Scheduler(options.scheduler);
  const lsp = listen(port, {
    params: options.params,
    hostname: options.hostname,
    maxConnections: options.maxConnections,
    signal: options.signal,
    serviceName: options.serviceName ?? "miner",
  });
  return serveMiner(lsp, options);
}
