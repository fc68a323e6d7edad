/**
 * The one Deno TCP driver: runs any {@linkcode StreamCore} over real TCP. It accepts on a listener,
 * opens the connections the core asks for (resolving host names, within the core's timeout),
 * feeds reads, end of file and errors back in with the current time, performs each connection's
 * writes, half-closes and closes in order, and keeps exactly one timer armed at `nextTimeout()`.
 * It makes no protocol decision; a failure stays with its connection.
 *
 * @module
 */

import type { Addr, ConnId, StreamAction, StreamCore } from "../core/mod.ts";
import { isStreamAction, SlotTable, TimeKeeper } from "../core/mod.ts";
import { formatHostPort, parseHostPort } from "./hostport.ts";

/** Options of {@linkcode TcpDriver}. */
export interface TcpDriverOptions<A> {
  /** The core to run. */
  core: StreamCore<A>;
  /** A listener whose connections go to the core (closed when the driver stops). */
  listener?: Deno.TcpListener;
  /** Receives the core's own actions (anything that is not a {@linkcode StreamAction}). */
  onAction?: (action: A) => void;
  /** Called after every input once the core's actions are drained: drain its events here. */
  onProgress?: () => void;
  /** Abort to stop: closes the listener and every connection, clears the timer. */
  signal?: AbortSignal;
  /**
   * The most bytes queued for writing on one connection; beyond it the connection fails with
   * `handleError(conn, "write buffer full")` (a peer that does not read cannot hold memory).
   *
   * @default {1048576}
   */
  writeBufferBytesMax?: number;
  /**
   * The most bytes one read takes.
   *
   * @default {65536}
   */
  readBytes?: number;
  /**
   * The core copies what it keeps of the bytes given to `handleData()`: the driver then lends it
   * its read buffer (valid only during the call, reused by the next read) instead of a copy.
   *
   * @default {false}
   */
  lendReads?: boolean;
  /**
   * The most connections held at once (accepted and outgoing, being opened included). An accepted
   * connection past it is closed at once without reaching the core (counted in `refused`); a
   * `connect` past it fails with `handleError()`.
   *
   * @default {Infinity}
   */
  connectionsMax?: number;
  /**
   * Turn Nagle's algorithm off on every connection (lines go out at once).
   *
   * @default {false}
   */
  noDelay?: boolean;
  /** The clock. @default {performance.now} */
  now?: () => number;
  /** Opens a connection (tests inject failures). @default {Deno.connect} */
  connect?: (options: Deno.ConnectOptions) => Promise<Deno.TcpConn>;
}

/** Counters kept by a {@linkcode TcpDriver}. */
export interface TcpDriverStats {
  /** Connections accepted from the listener. */
  accepted: number;
  /** Failed `accept()` calls (out of descriptors, say), each retried after a short pause. */
  acceptErrors: number;
  /** Outgoing connections established. */
  connected: number;
  /** Outgoing connections that failed or timed out. */
  connectFailed: number;
  /** Connections failed for a read or write error, or a full write buffer. */
  errors: number;
  /** Bytes read. */
  bytesIn: number;
  /** Bytes written. */
  bytesOut: number;
  /** Accepted connections closed at once because `connectionsMax` were held. */
  refused: number;
  /** The most connections held at once so far. */
  peakConnections: number;
}

interface Link {
  /** Its key in `#held` (the driver's own numbering: a core may give an id again). */
  readonly key: number;
  conn: Deno.TcpConn | undefined;
  /** The core closed it or it failed: nothing more is reported to the core about it. */
  closing: boolean;
  /** It failed or the driver stopped: no more I/O on it (queued writes are dropped). */
  dead: boolean;
  /** Its writes, shutdown and close (and the dial of an outgoing one), carried out in order. */
  steps: Step[];
  /** A runner is carrying out `steps`. */
  running: boolean;
  pendingBytes: number;
  /** Gives up a connect under way (set while one is). */
  giveUp?: () => void;
}

/**
 * One step of a connection's I/O: a write, a shutdown or a close (the core's action itself, carried
 * out by `#perform`: no closure per step, see `#chain`), or a dial.
 */
type Step =
  | Extract<StreamAction, { type: "write" | "shutdown" | "close" }>
  | (() => Promise<void>);

const PUMP_ROUNDS_MAX = 1000;
/** Read buffers kept for reuse hold at most this many bytes in all. */
const READ_POOL_BYTES = 1 << 20;
const ACCEPT_ERROR_PAUSE_MS = 50;
const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * Drives a stream core over TCP until stopped.
 *
 * @example A client core dialling a listener
 * ```ts ignore
 * import { TcpDriver } from "./tcp_driver.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const driver = new TcpDriver({ core: myCore, listener });
 * // ... later
 * driver.close();
 * await driver.done;
 * ```
 */
export class TcpDriver<A = never> {
  readonly #core: StreamCore<A>;
  readonly #listener?: Deno.TcpListener;
  readonly #onAction: (action: A) => void;
  readonly #onProgress: () => void;
  readonly #clock: () => number;
  readonly #time = new TimeKeeper();
  readonly #writeMax: number;
  readonly #readBytes: number;
  readonly #connect: (options: Deno.ConnectOptions) => Promise<Deno.TcpConn>;
  /**
   * The connections known to the core, by id. The connection tables are `SlotTable`s, not a `Map`
   * and a `Set`: a `Map` or `Set` that churns keeps its deleted values reachable from its old hash
   * tables until a full GC, so every connection's objects were promoted (see `slot_table.ts`).
   */
  readonly #links = new SlotTable<Link>();
  /** Connections held: known to the core, or still carrying out their writes before a close. */
  readonly #held = new SlotTable<Link>();
  #nextKey = 0;
  /** The runners of connections' steps (writes, shutdown, close, dial) still running. */
  readonly #runners = new Count();
  /** The runners and the read loops still running. */
  readonly #work = new Count();
  /** Read buffers of connections that ended, for the next ones (no allocation, no zeroing). */
  readonly #readPool: Uint8Array[] = [];
  readonly #readPoolMax: number;
  readonly #connectionsMax: number;
  readonly #noDelay: boolean;
  readonly #lendReads: boolean;
  readonly #tasks = new Set<Promise<unknown>>();
  /** Wakes the connects and pauses under way (by a number of their own), when the driver stops. */
  readonly #wakers = new SlotTable<() => void>();
  #nextWaker = 0;
  readonly #signal?: AbortSignal;
  readonly #onAbort = () => this.close();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer fires (`Infinity` when none is armed). */
  #timerAt = Infinity;
  /** The armed timer keeps the process alive (it is unref'd while the core wants no tick). */
  #timerRef = false;
  /**
   * The listener is accepting: its pending accept keeps the process alive, so the timer is left
   * unref'd (not ref'd and unref'd again with every connection that comes and goes alone).
   */
  #accepting = false;
  #closed = false;
  #resolveDone!: () => void;
  /** Counters. */
  readonly stats: TcpDriverStats = {
    accepted: 0,
    acceptErrors: 0,
    connected: 0,
    connectFailed: 0,
    errors: 0,
    bytesIn: 0,
    bytesOut: 0,
    refused: 0,
    peakConnections: 0,
  };
  /** Resolves once the driver has stopped and every read, write and connect has settled. */
  readonly done: Promise<void>;

  /** Starts driving `options.core` (and accepting, when a listener is given). */
  constructor(options: TcpDriverOptions<A>) {
    this.#core = options.core;
    this.#listener = options.listener;
    this.#onAction = options.onAction ?? (() => {});
    this.#onProgress = options.onProgress ?? (() => {});
    this.#clock = options.now ?? (() => performance.now());
    this.#writeMax = options.writeBufferBytesMax ?? 1 << 20;
    this.#readBytes = options.readBytes ?? 65536;
    this.#readPoolMax = Math.floor(READ_POOL_BYTES / this.#readBytes);
    this.#connectionsMax = options.connectionsMax ?? Infinity;
    this.#noDelay = options.noDelay ?? false;
    this.#lendReads = options.lendReads ?? false;
    this.#connect = options.connect ??
      ((o) => Deno.connect(o as Deno.ConnectOptions & { transport?: "tcp" }));
    this.#signal = options.signal;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    if (this.#listener) {
      this.#accepting = true;
      this.#track(this.#acceptLoop(this.#listener));
    }
    if (this.#signal?.aborted) queueMicrotask(() => this.close());
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    queueMicrotask(() => this.pump());
  }

  /** True once the driver was stopped. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The number of connections the driver holds (closed ones still writing included). */
  get connections(): number {
    return this.#held.size;
  }

  /**
   * Resolves once every write, shutdown and close asked for so far has been carried out (or has
   * failed), and every connect under way has settled: call it before {@linkcode close} for a
   * graceful stop.
   */
  async flushed(): Promise<void> {
    await this.#runners.zero();
  }

  /**
   * Performs the core's actions, runs its due timers and re-arms the one timer. Call it after
   * every command given to the core from outside (a write, a submit).
   */
  pump(): void {
    if (this.#closed) return;
    for (let round = 0; round < PUMP_ROUNDS_MAX; round++) {
      for (let a = this.#core.pollAction(); a !== undefined; a = this.#core.pollAction()) {
        if (isStreamAction(a)) this.#act(a);
        else this.#onAction(a);
      }
      this.#onProgress();
      if (this.#closed) return;
      const at = this.#core.nextTimeout();
      if (at === undefined) return this.#idle();
      const now = this.#now();
      if (at > now) return this.#arm(at, now);
      this.#core.handleTick(now);
    }
    throw new Error("Cannot settle the core: handleTick() does not move nextTimeout()");
  }

  /** Stops: closes the listener and every connection and clears the timer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    for (const wake of [...this.#wakers.values()]) wake();
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    for (const link of this.#held.values()) {
      link.closing = true;
      link.dead = true;
      link.giveUp?.();
      try {
        link.conn?.close();
      } catch {
        // already closed
      }
    }
    this.#links.clear();
    this.#held.clear();
    (async () => {
      for (let i = 0; i < 100 && this.#tasks.size > 0; i++) {
        await Promise.allSettled([...this.#tasks]);
      }
      await this.#work.zero();
      this.#resolveDone();
    })();
  }

  #now(): number {
    return this.#time.advance(this.#clock());
  }

  /**
   * Makes the one timer fire by `at`. A timer already armed to fire by then is kept (re-arming a
   * timer costs more than a wake-up that finds nothing due: when it fires, {@linkcode pump} ticks
   * the core only if `nextTimeout()` has come, and arms the timer again otherwise). So a core
   * whose next timeout moves later with every connection (a deadline per connection) costs one
   * timer per expiry, not one per connection.
   */
  #arm(at: number, now: number): void {
    if (this.#timer !== undefined && this.#timerAt <= at) {
      if (!this.#timerRef && !this.#accepting) {
        Deno.refTimer(this.#timer);
        this.#timerRef = true;
      }
      return;
    }
    this.#disarm();
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#timerRef = false;
      this.#input(() => {}); // pump: ticks the core if its timeout has come, re-arms otherwise
    }, Math.min(Math.max(0, Math.ceil(at - now)), TIMER_MAX_MS));
    this.#timerRef = !this.#accepting;
    if (this.#accepting) Deno.unrefTimer(this.#timer);
  }

  /**
   * The core wants no tick: an armed timer is kept but no longer keeps the process alive (its
   * wake-up finds nothing due), so that the next timeout does not have to arm a new one. (While
   * the listener accepts, the timer is never ref'd: see `#accepting`.)
   */
  #idle(): void {
    if (this.#timer === undefined || !this.#timerRef) return;
    Deno.unrefTimer(this.#timer);
    this.#timerRef = false;
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#timerRef = false;
  }

  #track(p: Promise<unknown>): void {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p));
  }

  #input(fn: () => void): void {
    if (this.#closed) return;
    fn();
    this.pump();
  }

  #fail(id: ConnId, link: Link, reason: string): void {
    if (link.closing || this.#links.get(id) !== link) return;
    link.closing = true;
    link.dead = true;
    this.#links.delete(id);
    this.#held.delete(link.key);
    this.stats.errors++;
    try {
      link.conn?.close();
    } catch {
      // already closed
    }
    this.#input(() => this.#core.handleError(id, reason, this.#now()));
  }

  /**
   * Queues `step` on the connection's steps. When none is running, a runner starts at once and
   * carries out the steps in order (so a write's system call is made now, not a microtask later),
   * awaiting each one that is asynchronous; it ends when the queue is empty.
   */
  #chain(link: Link, step: Step): void {
    if (link.running) {
      link.steps.push(step);
      return;
    }
    link.running = true;
    const pending = this.#perform(link, step); // idle: the step runs now
    if (pending === undefined && link.steps.length === 0) {
      link.running = false; // done at once (a close): no runner needed
      return;
    }
    this.#runners.up();
    this.#work.up();
    this.#run(link, pending);
  }

  /**
   * Waits for the step under way, then carries out the queued ones in order. Counted in
   * `#runners` and `#work` (counting, not a promise per task, is cheaper).
   */
  async #run(link: Link, first: Promise<void> | void): Promise<void> {
    try {
      if (first !== undefined) await first;
      for (let step = link.steps.shift(); step !== undefined; step = link.steps.shift()) {
        const pending = this.#perform(link, step);
        if (pending !== undefined) await pending;
      }
    } finally {
      link.running = false;
      this.#runners.down();
      this.#work.down();
    }
  }

  /**
   * Carries out one step. The steps are the core's actions, not closures over them: a connection's
   * objects then point to nothing short-lived, which keeps the young generation's survivors (and so
   * the scavenges) small at thousands of connections a second.
   */
  #perform(link: Link, step: Step): Promise<void> | void {
    if (typeof step === "function") return step();
    switch (step.type) {
      case "write":
        return link.dead || link.conn === undefined ? undefined : this.#write(link, step);
      case "shutdown":
        return link.dead || link.conn === undefined ? undefined : this.#shutdown(link, step.conn);
      case "close":
        link.dead = true;
        this.#held.delete(link.key);
        try {
          link.conn?.close();
        } catch {
          // already closed
        }
        return;
    }
  }

  async #write(link: Link, a: { conn: ConnId; bytes: Uint8Array }): Promise<void> {
    const { bytes } = a;
    try {
      for (let off = 0; off < bytes.length;) {
        off += await link.conn!.write(off === 0 ? bytes : bytes.subarray(off));
      }
      this.stats.bytesOut += bytes.length;
      link.pendingBytes -= bytes.length;
    } catch (err) {
      this.#fail(a.conn, link, `write failed: ${errorText(err)}`);
    }
  }

  async #shutdown(link: Link, id: ConnId): Promise<void> {
    try {
      await link.conn!.closeWrite();
    } catch (err) {
      this.#fail(id, link, `shutdown failed: ${errorText(err)}`);
    }
  }

  #hold(id: ConnId, link: Link): void {
    this.#links.set(id, link);
    this.#held.set(link.key, link);
    this.stats.peakConnections = Math.max(this.stats.peakConnections, this.#held.size);
  }

  #act(a: StreamAction): void {
    if (a.type === "connect") return this.#dial(a.conn, a.to, a.timeoutMs);
    const link = this.#links.get(a.conn);
    if (link === undefined || link.closing) return;
    switch (a.type) {
      case "write": {
        link.pendingBytes += a.bytes.length;
        if (link.pendingBytes > this.#writeMax) {
          return this.#fail(a.conn, link, "write buffer full");
        }
        this.#chain(link, a);
        return;
      }
      case "shutdown":
        this.#chain(link, a);
        return;
      case "close":
        link.closing = true;
        this.#links.delete(a.conn);
        link.giveUp?.();
        this.#chain(link, a);
        return;
    }
  }

  #dial(id: ConnId, to: Addr, timeoutMs: number): void {
    const link: Link = {
      key: this.#nextKey++,
      conn: undefined,
      closing: false,
      dead: false,
      steps: [],
      running: false,
      pendingBytes: 0,
    };
    const full = this.#held.size >= this.#connectionsMax;
    this.#hold(id, link);
    const target = parseHostPort(to);
    if (target === undefined || full) {
      this.stats.connectFailed++;
      const reason = full
        ? `no connection free (${this.#connectionsMax} held)`
        : `bad address ${to}`;
      queueMicrotask(() => this.#fail(id, link, reason));
      return;
    }
    this.#chain(link, async () => {
      const waker = this.#nextWaker++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake = () => {};
      const timedOut = new Promise<"timeout">((resolve) => {
        wake = () => resolve("timeout");
        timer = setTimeout(wake, Math.max(0, Math.min(timeoutMs, TIMER_MAX_MS)));
        this.#wakers.set(waker, wake);
      });
      link.giveUp = wake;
      const opening = this.#connect({ hostname: target.hostname, port: target.port });
      let result: Deno.TcpConn | "timeout" | Error;
      try {
        result = await Promise.race([opening, timedOut]);
      } catch (err) {
        result = err instanceof Error ? err : new Error(String(err));
      } finally {
        clearTimeout(timer);
        this.#wakers.delete(waker);
        link.giveUp = undefined;
      }
      if (result === "timeout" || result instanceof Error) {
        if (result === "timeout") opening.then((c) => c.close(), () => {});
        this.stats.connectFailed++;
        const reason = result === "timeout"
          ? `no connection to ${to} within ${timeoutMs} ms`
          : `cannot connect to ${to}: ${errorText(result)}`;
        this.#fail(id, link, reason);
        return;
      }
      if (link.closing || this.#closed) {
        result.close();
        return;
      }
      link.conn = result;
      this.stats.connected++;
      this.#read(id, link, result);
      const local = result.localAddr as Deno.NetAddr;
      const localText = formatHostPort(local.hostname, local.port);
      this.#input(() => this.#core.handleConnected(id, this.#now(), localText));
    });
  }

  #read(id: ConnId, link: Link, conn: Deno.TcpConn): void {
    if (this.#noDelay) {
      try {
        conn.setNoDelay(true);
      } catch {
        // not fatal
      }
    }
    this.#work.up();
    this.#readLoop(id, link, conn);
  }

  /** Reads `conn` until end of file, an error or its close, into a buffer from the pool. */
  async #readLoop(id: ConnId, link: Link, conn: Deno.TcpConn): Promise<void> {
    // No read is under way on a pooled buffer: it is returned once its last read has settled.
    const buf = this.#readPool.pop() ?? new Uint8Array(this.#readBytes);
    try {
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch (err) {
          return this.#fail(id, link, `read failed: ${errorText(err)}`);
        }
        if (link.closing || this.#closed) return;
        if (n === null) {
          this.#core.handleEof(id, this.#now());
          return this.pump();
        }
        this.stats.bytesIn += n;
        const bytes = this.#lendReads ? buf.subarray(0, n) : buf.slice(0, n);
        this.#core.handleData(id, bytes, this.#now());
        this.pump();
        // Closed by the core (its reply, say): no read is left pending, whose cancellation by the
        // close would cost an error per connection.
        if (link.closing) return;
      }
    } finally {
      if (this.#readPool.length < this.#readPoolMax) this.#readPool.push(buf);
      this.#work.down();
    }
  }

  async #acceptLoop(listener: Deno.TcpListener): Promise<void> {
    try {
      await this.#accept(listener);
    } finally {
      // No accept keeps the process alive any more: the timer must, while the core wants ticks.
      this.#accepting = false;
      if (!this.#closed) this.pump();
    }
  }

  async #accept(listener: Deno.TcpListener): Promise<void> {
    let localHost = "", localPort = -1, localText = "";
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        this.stats.acceptErrors++;
        await this.#pause(ACCEPT_ERROR_PAUSE_MS); // out of descriptors, say: try again soon
        continue;
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      if (this.#held.size >= this.#connectionsMax) {
        conn.close();
        this.stats.refused++;
        continue;
      }
      this.stats.accepted++;
      const remote = conn.remoteAddr as Deno.NetAddr;
      const local = conn.localAddr as Deno.NetAddr;
      const link: Link = {
        key: this.#nextKey++,
        conn,
        closing: false,
        dead: false,
        steps: [],
        running: false,
        pendingBytes: 0,
      };
      if (local.port !== localPort || local.hostname !== localHost) {
        localHost = local.hostname; // the same for every connection of a listener, mostly
        localPort = local.port;
        localText = formatHostPort(localHost, localPort);
      }
      const id = this.#core.handleAccept(
        formatHostPort(remote.hostname, remote.port),
        localText,
        this.#now(),
      );
      this.#hold(id, link);
      this.#read(id, link, conn);
      this.pump();
    }
  }

  #pause(ms: number): Promise<void> {
    const waker = this.#nextWaker++;
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.#wakers.delete(waker);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.#wakers.set(waker, wake);
    });
  }
}

/** A count of tasks under way, with a promise for when it is zero. */
class Count {
  #n = 0;
  #waiters: (() => void)[] = [];

  up(): void {
    this.#n++;
  }

  down(): void {
    if (--this.#n > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once the count is zero (at once when it is). */
  zero(): Promise<void> {
    return this.#n === 0 ? Promise.resolve() : new Promise((wake) => this.#waiters.push(wake));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
