/**
 * Runs any {@linkcode StreamCore} on the simulator's stream links, as the one TCP driver runs it on
 * real sockets: the simulator's `StreamEnd`s play the sockets and its virtual clock the one timer.
 * A host can crash (listener closed, every stream reset: connects are refused) or freeze (it
 * accepts connections but never reads or answers: peers see timeouts).
 *
 * @module
 */

import {
  type Addr,
  type ConnId,
  isStreamAction,
  type StreamAction,
  type StreamCore,
} from "../core/mod.ts";
import type { TimerId } from "./clock.ts";
import type { SimNet } from "./net.ts";
import type { StreamEnd, StreamEvent, StreamListener } from "./stream.ts";

/** Options of {@linkcode SimStreamHost}. */
export interface SimStreamHostOptions<A> {
  /** The address this host listens on; without it the host only dials. */
  listen?: Addr;
  /** The host's IP, for the ephemeral ports of its outgoing streams. @default {the listen IP} */
  ip?: string;
  /** Receives the core's own actions (anything that is not a {@linkcode StreamAction}). */
  onAction?: (action: A) => void;
  /** Called after every input once the actions are drained: drain the core's events here. */
  onProgress?: () => void;
  /**
   * Picks the port of each outgoing stream (to share a counter between hosts of one IP, say
   * across restarts). @default {40000, 40001, … per host}
   */
  ephemeralPort?: () => number;
}

/** The state of a simulated host. */
export type SimHostState = "up" | "crashed" | "frozen";

/**
 * One simulated machine running one stream core.
 *
 * @example Two hosts, one dialling the other
 * ```ts
 * import { SimNet } from "./net.ts";
 * import { SimStreamHost } from "./stream_host.ts";
 * import { OutputQueue, type StreamAction, type StreamCore } from "../core/mod.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * class Core implements StreamCore {
 *   out = new OutputQueue<StreamAction>();
 *   got = "";
 *   handleAccept(): number { return 1; }
 *   handleConnected(conn: number): void {
 *     this.out.push({ type: "write", conn, bytes: new TextEncoder().encode("hi") });
 *   }
 *   handleData(_c: number, bytes: Uint8Array): void { this.got += new TextDecoder().decode(bytes); }
 *   handleEof(): void {}
 *   handleError(): void {}
 *   handleTick(): void {}
 *   pollAction(): StreamAction | undefined { return this.out.shift(); }
 *   nextTimeout(): number | undefined { return undefined; }
 * }
 * const net = new SimNet({ prng: Prng.seeded(1) });
 * const server = new Core(), client = new Core();
 * new SimStreamHost(net, server, { listen: "10.0.0.1:80" });
 * const host = new SimStreamHost(net, client, { ip: "10.0.0.2" });
 * client.out.push({ type: "connect", conn: 9, to: "10.0.0.1:80", timeoutMs: 1000 });
 * host.pump(); // after a command given to the core from outside
 * net.runUntil(1000);
 * assert.equal(server.got, "hi");
 * ```
 */
export class SimStreamHost<A = never> {
  /** The simulated network. */
  readonly net: SimNet;
  /** The core this host runs. */
  readonly core: StreamCore<A>;
  readonly #ip: string;
  readonly #onAction: (action: A) => void;
  readonly #onProgress: () => void;
  readonly #links = new Map<ConnId, StreamEnd>();
  readonly #dialTimers = new Map<ConnId, TimerId>();
  #listener: StreamListener | undefined;
  #timer: TimerId | undefined;
  #state: SimHostState = "up";
  #nextPort = 40_000;
  readonly #ephemeralPort: () => number;
  readonly #addresses = new Set<Addr>();

  /** Starts the host: listens when asked to, and pumps the core at once. */
  constructor(net: SimNet, core: StreamCore<A>, options: SimStreamHostOptions<A> = {}) {
    this.net = net;
    this.core = core;
    const { listen, onAction, onProgress } = options;
    this.#ip = options.ip ?? listen?.slice(0, listen.lastIndexOf(":")) ?? "10.255.255.255";
    this.#onAction = onAction ?? (() => {});
    this.#onProgress = onProgress ?? (() => {});
    this.#ephemeralPort = options.ephemeralPort ?? (() => this.#nextPort++);
    if (listen !== undefined) {
      this.#listener = net.listen(listen, (end) => this.#accepted(end));
      this.#addresses.add(listen);
    }
    this.pump();
  }

  /** Whether the host runs, crashed or froze. */
  get state(): SimHostState {
    return this.#state;
  }

  /** How many streams the host holds. */
  get connections(): number {
    return this.#links.size;
  }

  /** Every address this host used: the listening one and those of its outgoing streams. */
  get addresses(): Addr[] {
    return [...this.#addresses];
  }

  /** Closes the listener only (a process gone without a word: a new one may listen there). */
  unlisten(): void {
    this.#listener?.close();
    this.#listener = undefined;
  }

  /** The process dies: its listener closes and every stream it has is reset. */
  crash(): void {
    this.#stop("crashed");
    this.#listener?.close();
    for (const end of this.#links.values()) end.cut();
    this.#links.clear();
  }

  /** The process hangs: connections are still accepted by the OS, but nothing is ever read. */
  freeze(): void {
    this.#stop("frozen");
  }

  /**
   * Performs the core's actions, runs its due timers and re-arms the one timer. Call it after
   * every command given to the core from outside.
   */
  pump(): void {
    if (this.#state !== "up") return;
    for (let round = 0; round < 1000; round++) {
      for (let a = this.core.pollAction(); a !== undefined; a = this.core.pollAction()) {
        if (isStreamAction(a)) this.#act(a);
        else this.#onAction(a);
      }
      this.#onProgress();
      if (this.#timer !== undefined) this.net.clock.cancel(this.#timer);
      this.#timer = undefined;
      const at = this.core.nextTimeout();
      if (at === undefined) return;
      if (at > this.net.now) {
        this.#timer = this.net.clock.setTimer(at, () => {
          this.#timer = undefined;
          this.#input(() => this.core.handleTick(this.net.now));
        });
        return;
      }
      this.core.handleTick(this.net.now);
    }
    throw new Error(`Cannot settle the core at ${this.#ip}: its timer does not move`);
  }

  #stop(state: "crashed" | "frozen"): void {
    this.#state = state;
    if (this.#timer !== undefined) this.net.clock.cancel(this.#timer);
    this.#timer = undefined;
    for (const t of this.#dialTimers.values()) this.net.clock.cancel(t);
    this.#dialTimers.clear();
  }

  #input(fn: () => void): void {
    if (this.#state !== "up") return;
    fn();
    this.pump();
  }

  #accepted(end: StreamEnd): void {
    if (this.#state !== "up") return; // frozen: the connection just sits there
    const id = this.core.handleAccept(end.remote, end.local, this.net.now);
    this.#links.set(id, end);
    this.#follow(id, end);
    this.pump();
  }

  #follow(id: ConnId, end: StreamEnd): void {
    end.onEvent((e: StreamEvent) => {
      if (this.#links.get(id) !== end) return;
      if (e.type === "open") this.#clearDialTimer(id);
      if (e.type === "error") {
        this.#clearDialTimer(id);
        this.#links.delete(id);
      }
      this.#input(() => {
        const now = this.net.now;
        switch (e.type) {
          case "open":
            return this.core.handleConnected(id, now, end.local);
          case "data":
            return this.core.handleData(id, e.bytes, now);
          case "eof":
            return this.core.handleEof(id, now);
          case "error":
            return this.core.handleError(id, e.reason, now);
        }
      });
    });
  }

  #clearDialTimer(id: ConnId): void {
    const t = this.#dialTimers.get(id);
    if (t !== undefined) this.net.clock.cancel(t);
    this.#dialTimers.delete(id);
  }

  #act(a: StreamAction): void {
    switch (a.type) {
      case "connect": {
        const from = `${this.#ip}:${this.#ephemeralPort()}`;
        this.#addresses.add(from);
        const end = this.net.connect(from, a.to);
        this.#links.set(a.conn, end);
        this.#follow(a.conn, end);
        const timer = this.net.clock.setTimer(this.net.now + a.timeoutMs, () => {
          this.#dialTimers.delete(a.conn);
          if (this.#links.get(a.conn) !== end || end.state !== "connecting") return;
          this.#links.delete(a.conn);
          end.cut();
          this.#input(() =>
            this.core.handleError(
              a.conn,
              `no connection to ${a.to} within ${a.timeoutMs} ms`,
              this.net.now,
            )
          );
        });
        this.#dialTimers.set(a.conn, timer);
        return;
      }
      case "write":
        this.#links.get(a.conn)?.write(a.bytes);
        return;
      case "shutdown":
        this.#links.get(a.conn)?.end();
        return;
      case "close": {
        const end = this.#links.get(a.conn);
        if (end === undefined) return;
        this.#clearDialTimer(a.conn);
        this.#links.delete(a.conn);
        if (end.state === "connecting") end.cut(); // a connect given up
        else end.end(); // the simulator's streams half-close; nothing more is read from this one
        return;
      }
    }
  }
}
