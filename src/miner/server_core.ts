/**
 * The miner server as one sans-I/O datagram core (spec `miner.md` §8): an LSP server endpoint
 * with the {@linkcode Scheduler} stacked on its connection events. LSP events go to the
 * scheduler; its actions become the endpoint's `write`/`close`; its log records become
 * {@linkcode MinerServerEvent}s, each request's start with its size and its end with the time it
 * took and the hash rate it got. The UDP driver runs it in production (`server.ts`) and the
 * simulator runs the very same core in tests.
 *
 * @module
 */
import type { DatagramCore, EventSource, Millis, Transmit } from "../core/mod.ts";
import { OutputQueue } from "../core/mod.ts";
import { TimeKeeper } from "../core/mod.ts";
import { LspEndpoint, type LspStats } from "../lsp/mod.ts";
import { LspConnectionError } from "../lsp/mod.ts";
import type { LspParams } from "../lsp/mod.ts";
import { formatDuration } from "../util/mod.ts";
import type { Prng } from "../util/mod.ts";
import { formatCount } from "./progress_bar.ts";
import { type MinerServiceStatus, minerStatus } from "./server_status.ts";
import {
  Scheduler,
  type SchedulerAction,
  type SchedulerLog,
  type SchedulerOptions,
  type SchedulerStats,
} from "./scheduler.ts";

/**
 * Options of {@linkcode MinerServerCore}.
 */
export interface MinerServerCoreOptions {
  /** Randomness of the LSP endpoint. */
  prng: Prng;
  /** LSP parameters; missing fields take the reference defaults (K 5, δ 2000 ms, ω 1, B 0, M 1). */
  params?: Partial<LspParams>;
  /**
   * Size of the LSP connection table.
   *
   * @default {1024}
   */
  maxConnections?: number;
  /**
   * Scheduler options. Pass `hashOf` (the server passes `hashSync`) to match and verify every
   * Result whatever order a miner answers in.
   */
  scheduler?: SchedulerOptions;
  /**
   * Also report every scheduler action (chunks to miners, answers to clients) as an `action`
   * event, for tests and tools.
   *
   * @default {false}
   */
  reportActions?: boolean;
}

/**
 * What the server core reports:
 *
 * - `log`: a line to log, at `level`, with its structured `fields` (`code`, `connId`, and for a
 *   request's start and end `nonces`, `data`, `millis`, `noncesPerSecond`);
 * - `action`: a scheduler action carried out (only with `reportActions`);
 * - `closed`: after {@linkcode MinerServerCore.closeAll}, every connection has ended; `lost` is
 *   a connection lost meanwhile (what it was sent may not have arrived), if any.
 */
export type MinerServerEvent =
  | {
    readonly type: "log";
    readonly level: "debug" | "info" | "warn";
    /** When it happened. */
    readonly at: Millis;
    readonly message: string;
    readonly fields: Readonly<Record<string, unknown>>;
    /** The scheduler's record, when the line comes from it. */
    readonly record?: SchedulerLog;
  }
  | { readonly type: "action"; readonly at: Millis; readonly action: SchedulerAction }
  | { readonly type: "closed"; readonly lost?: number };

/** How much of a request's Data a log line shows. */
const DATA_PREVIEW_CHARS = 40;

function preview(data: string): string {
  const cut = data.length > DATA_PREVIEW_CHARS ? `${data.slice(0, DATA_PREVIEW_CHARS)}…` : data;
  return JSON.stringify(cut);
}

/**
 * The miner server: LSP endpoint plus scheduler, as a {@linkcode DatagramCore}. Drain
 * `pollTransmit()` and then `pollEvent()` after every input or command.
 *
 * @example A miner connects and joins
 * ```ts
 * import { MinerServerCore } from "./server_core.ts";
 * import { LspEndpoint } from "../lsp/endpoint.ts";
 * import type { DatagramCore } from "../core/mod.ts";
 * import { encodeMessage, joinMessage } from "./message.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const server = new MinerServerCore({ prng: Prng.seeded(1) });
 * const miner = LspEndpoint.client("S", {}, Prng.seeded(2), 0, { isn: 0 });
 * const pass = (from: DatagramCore, to: DatagramCore, addr: string) => {
 *   for (let t = from.pollTransmit(); t; t = from.pollTransmit()) to.handleDatagram(addr, t.bytes, 0);
 * };
 * pass(miner, server, "M"); // Connect
 * pass(server, miner, "S"); // Ack
 * assert.equal(miner.pollEvent()?.type, "connected");
 * miner.write(1, encodeMessage(joinMessage()), 0);
 * pass(miner, server, "M");
 * const e = server.pollEvent();
 * assert.ok(e?.type === "log" && e.message === "Miner 1 joined");
 * assert.equal(server.stats().miners, 1);
 * ```
 */
export class MinerServerCore implements DatagramCore, EventSource<MinerServerEvent> {
  readonly #endpoint: LspEndpoint;
  readonly #scheduler: Scheduler;
  readonly #time = new TimeKeeper();
  readonly #events = new OutputQueue<MinerServerEvent>();
  readonly #reportActions: boolean;
  #lostWhileClosing: number | undefined;
  #closedReported = false;

  /**
   * Makes an idle server.
   *
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: MinerServerCoreOptions) {
    this.#scheduler = new Scheduler(options.scheduler);
    this.#endpoint = LspEndpoint.server(options.params ?? {}, options.prng, {
      maxConnections: options.maxConnections,
    });
    this.#reportActions = options.reportActions ?? false;
  }

  /** Feeds one received datagram in. */
  handleDatagram(from: string, bytes: Uint8Array, now: Millis): void {
    const at = this.#time.advance(now);
    this.#endpoint.handleDatagram(from, bytes, at);
    this.#pump(at);
  }

  /** Runs the LSP epoch and the scheduler's timer work if due. */
  handleTick(now: Millis): void {
    const at = this.#time.advance(now);
    this.#endpoint.handleTick(at);
    const due = this.#scheduler.nextTimeout();
    if (due !== undefined && due <= at) {
      this.#scheduler.handleTimeout(at);
      this.#apply(at);
    }
    this.#pump(at);
  }

  /** The next datagram to send. */
  pollTransmit(): Transmit | undefined {
    return this.#endpoint.pollTransmit();
  }

  /** The next epoch or scheduler deadline, whichever comes first. */
  nextTimeout(): Millis | undefined {
    const a = this.#endpoint.nextTimeout(), b = this.#scheduler.nextTimeout();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  /** The next event. */
  pollEvent(): MinerServerEvent | undefined {
    return this.#events.shift();
  }

  /**
   * Stops accepting connections and closes every one once what was written to it is
   * acknowledged; a `closed` event follows when all have ended.
   */
  closeAll(now: Millis): void {
    const at = this.#time.advance(now);
    this.#endpoint.closeAll(at);
    this.#pump(at);
  }

  /** True once `closeAll()` ran and every connection has ended. */
  get isFinished(): boolean {
    return this.#endpoint.isFinished;
  }

  /** The scheduler's counters. */
  stats(): SchedulerStats {
    return this.#scheduler.stats();
  }

  /** The LSP endpoint's counters. */
  lspStats(): LspStats {
    return this.#endpoint.stats();
  }

  /** Live requests (accepted, not answered, client connected). */
  get requestCount(): number {
    return this.#scheduler.requestCount;
  }

  /**
   * The status service's view: miners, jobs and connections with their addresses.
   *
   * @param now The clock now (ms), for rates and ages.
   * @param port The server's UDP port.
   * @returns The JSON-ready status.
   */
  status(now: Millis, port: number): MinerServiceStatus {
    const lsp = this.#endpoint.stats();
    return minerStatus(
      this.#scheduler.snapshot(),
      now,
      port,
      (id) => this.#endpoint.peerAddr(id),
      this.#scheduler.stats(),
      {
        datagramsReceived: lsp.datagramsReceived,
        datagramsSent: lsp.datagramsSent,
        dataSent: lsp.dataSent,
        dataRetransmitted: lsp.dataRetransmitted,
        messagesDelivered: lsp.messagesDelivered,
        dropped: Object.values(lsp.dropped).reduce((a, b) => a + b, 0),
      },
    );
  }

  /** Live requests with nonces waiting to be handed out. */
  get waitingRequestCount(): number {
    return this.#scheduler.waitingRequestCount;
  }

  /** Free chunk slots over all miners. */
  get freeSlots(): number {
    return this.#scheduler.freeSlots;
  }

  #pump(now: Millis): void {
    for (let e = this.#endpoint.pollEvent(); e; e = this.#endpoint.pollEvent()) {
      if (e.type === "lost" && this.#endpoint.isShuttingDown) this.#lostWhileClosing ??= e.connId;
      this.#scheduler.handleEvent(e, now);
      this.#apply(now);
    }
    if (this.#endpoint.isFinished && !this.#closedReported) {
      this.#closedReported = true;
      this.#events.push(
        this.#lostWhileClosing === undefined
          ? { type: "closed" }
          : { type: "closed", lost: this.#lostWhileClosing },
      );
    }
  }

  /** Carries out the scheduler's actions and turns its records into log events. */
  #apply(now: Millis): void {
    for (let a = this.#scheduler.pollAction(); a; a = this.#scheduler.pollAction()) {
      try {
        if (a.type === "send") this.#endpoint.write(a.connId, a.bytes, now);
        else this.#endpoint.close(a.connId, now);
        if (this.#reportActions) this.#events.push({ type: "action", at: now, action: a });
      } catch (err) {
        // The connection just died (its loss comes next) or was closed already.
        if (!(err instanceof LspConnectionError)) throw err;
        this.#events.push({
          type: "log",
          level: "debug",
          at: now,
          message: err.message,
          fields: { connId: a.connId },
        });
      }
    }
    for (let r = this.#scheduler.pollLog(); r; r = this.#scheduler.pollLog()) {
      this.#events.push(logEvent(r));
    }
  }
}

/** A scheduler record as a log line: a request's start gets its size, its end its rate. */
function logEvent(r: SchedulerLog): MinerServerEvent {
  const fields: Record<string, unknown> = { code: r.code, connId: r.connId };
  let message = r.message;
  const req = r.request;
  if (req !== undefined) {
    const nonces = req.upper - req.lower + 1n;
    if (r.code === "requestAccepted") {
      message += ` started: ${nonces} nonces of ${preview(req.data)}` +
        (req.wantProgress ? ", with progress" : "");
      Object.assign(fields, { nonces: String(nonces), data: req.data });
    } else if (r.code === "requestDone" && req.millis !== undefined) {
      const millis = Math.max(req.millis, 0.001);
      const perSecond = Number(nonces) / (millis / 1000);
      message += ` (${nonces} nonces in ${formatDuration(millis)}, ` +
        `${formatCount(perSecond)} nonces/s)`;
      Object.assign(fields, { nonces: String(nonces), millis, noncesPerSecond: perSecond });
    }
  }
  if (r.level === "warn" && r.connId !== undefined) message += ` (connection ${r.connId})`;
  return { type: "log", level: r.level, at: r.at, message, fields, record: r };
}
