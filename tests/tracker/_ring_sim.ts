/**
 * A ring core on the simulator's stream links, through the one simulator stream host
 * (`SimStreamHost`), with its events collected: the shape the ring simulation tests use.
 */
import type { EventSource, StreamCore } from "../../src/core/mod.ts";
import { type SimHostState, type SimNet, SimStreamHost } from "../../src/sim/mod.ts";

/** One simulated machine running one ring core, listening on `ip:port`. */
export class SimTcpHost<E> {
  readonly net: SimNet;
  readonly ip: string;
  readonly port: number;
  readonly core: StreamCore & EventSource<E>;
  readonly events: E[] = [];
  readonly #host: SimStreamHost;

  constructor(
    net: SimNet,
    ip: string,
    port: number,
    core: StreamCore & EventSource<E>,
    onEvent?: (e: E) => void,
  ) {
    this.net = net;
    this.ip = ip;
    this.port = port;
    this.core = core;
    this.#host = new SimStreamHost<never>(net, core, {
      listen: `${ip}:${port}`,
      onProgress: () => {
        for (let e = core.pollEvent(); e; e = core.pollEvent()) {
          this.events.push(e);
          onEvent?.(e);
        }
      },
    });
  }

  get state(): SimHostState {
    return this.#host.state;
  }

  /** The process dies: its listener closes and every stream it has is reset. */
  crash(): void {
    this.#host.crash();
  }

  /** The process hangs: connections are still accepted by the OS, but nothing is ever read. */
  freeze(): void {
    this.#host.freeze();
  }
}
