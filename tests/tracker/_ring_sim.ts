/**
 * Runs a ring core (`TcpCore`) on the simulator's stream links: the simulator's `StreamEnd`s play
 * the sockets and its virtual clock the timer, exactly as the Deno driver does with real ones.
 * A host can crash (listener closed, every stream reset: connects are refused) or freeze (it
 * accepts connections but never reads or answers: peers see timeouts).
 */
import type { SimNet, StreamEnd, StreamListener, TimerId } from "../../src/sim/mod.ts";
import type { ConnId, TcpAction, TcpCore } from "../../src/tracker/ring/tcp_core.ts";

/** One simulated machine running one core, listening on `ip:port`. */
export class SimTcpHost<E> {
  readonly net: SimNet;
  readonly ip: string;
  readonly port: number;
  readonly core: TcpCore<E>;
  readonly events: E[] = [];
  #onEvent: ((e: E) => void) | undefined;
  #links = new Map<ConnId, StreamEnd>();
  #listener: StreamListener;
  #timer: TimerId | undefined;
  #state: "up" | "crashed" | "frozen" = "up";
  #nextPort = 40_000;

  constructor(net: SimNet, ip: string, port: number, core: TcpCore<E>, onEvent?: (e: E) => void) {
    this.net = net;
    this.ip = ip;
    this.port = port;
    this.core = core;
    this.#onEvent = onEvent;
    this.#listener = net.listen(`${ip}:${port}`, (end) => this.#accepted(end));
    this.#pump();
  }

  get state(): "up" | "crashed" | "frozen" {
    return this.#state;
  }

  /** The process dies: its listener closes and every stream it has is reset. */
  crash(): void {
    this.#stop("crashed");
    this.#listener.close();
    for (const end of this.#links.values()) end.cut();
    this.#links.clear();
  }

  /** The process hangs: connections are still accepted by the OS, but nothing is ever read. */
  freeze(): void {
    this.#stop("frozen");
  }

  #stop(state: "crashed" | "frozen"): void {
    this.#state = state;
    if (this.#timer !== undefined) this.net.clock.cancel(this.#timer);
    this.#timer = undefined;
  }

  #accepted(end: StreamEnd): void {
    if (this.#state !== "up") return; // frozen: the connection just sits there
    const host = end.remote.slice(0, end.remote.lastIndexOf(":"));
    const id = this.core.handleAccept(host, this.net.now);
    this.#links.set(id, end);
    end.onEvent((e) => {
      if (this.#state !== "up" || this.#links.get(id) !== end) return;
      const now = this.net.now;
      switch (e.type) {
        case "open":
          this.core.handleConnected(id, now);
          break;
        case "data":
          this.core.handleData(id, e.bytes, now);
          break;
        case "eof":
          this.core.handleEof(id, now);
          break;
        case "error":
          this.#links.delete(id);
          this.core.handleError(id, now);
          break;
      }
      this.#pump();
    });
    this.#pump();
  }

  #act(a: TcpAction): void {
    switch (a.type) {
      case "connect": {
        const end = this.net.connect(`${this.ip}:${this.#nextPort++}`, `${a.host}:${a.port}`);
        this.#links.set(a.conn, end);
        end.onEvent((e) => {
          if (this.#state !== "up" || this.#links.get(a.conn) !== end) return;
          const now = this.net.now;
          switch (e.type) {
            case "open":
              this.core.handleConnected(a.conn, now);
              break;
            case "data":
              this.core.handleData(a.conn, e.bytes, now);
              break;
            case "eof":
              this.core.handleEof(a.conn, now);
              break;
            case "error":
              this.#links.delete(a.conn);
              this.core.handleError(a.conn, now);
              break;
          }
          this.#pump();
        });
        return;
      }
      case "write":
        this.#links.get(a.conn)?.write(a.bytes);
        return;
      case "close": {
        const end = this.#links.get(a.conn);
        if (end === undefined) return;
        this.#links.delete(a.conn);
        end.end(); // the simulator's streams half-close; nothing more is read from this one
        return;
      }
    }
  }

  #pump(): void {
    if (this.#state !== "up") return;
    for (let round = 0; round < 1000; round++) {
      for (let a = this.core.pollAction(); a; a = this.core.pollAction()) this.#act(a);
      for (let e = this.core.pollEvent(); e; e = this.core.pollEvent()) {
        this.events.push(e);
        this.#onEvent?.(e);
      }
      if (this.#timer !== undefined) this.net.clock.cancel(this.#timer);
      this.#timer = undefined;
      const at = this.core.nextTimeout();
      if (at === undefined) return;
      if (at > this.net.now) {
        this.#timer = this.net.clock.setTimer(at, () => {
          this.#timer = undefined;
          if (this.#state !== "up") return;
          this.core.handleTimeout(this.net.now);
          this.#pump();
        });
        return;
      }
      this.core.handleTimeout(this.net.now);
    }
    throw new Error(`Cannot settle the core at ${this.ip}: its timer does not move`);
  }
}
