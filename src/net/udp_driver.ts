/**
 * Binds a sans-I/O {@linkcode DatagramCore} to a real UDP socket and real time: it feeds received
 * datagrams in, sends what the core emits, and keeps exactly one timer armed at the core's
 * `nextTimeout()`. It makes no protocol decisions.
 *
 * @module
 */
import type { DatagramCore } from "../core/mod.ts";
import { addrKey, toNetAddr } from "./resolve.ts";

/** Options for {@linkcode UdpDriver}. */
export interface UdpDriverOptions {
  /** The bound socket; the driver closes it when stopped. */
  socket: Deno.DatagramConn;
  /** The protocol core. */
  core: DatagramCore;
  /**
   * Called after every input and timer run, once the core's transmits are sent: drain the core's
   * events here.
   */
  onProgress?: () => void;
  /** Abort to close the socket and stop. */
  signal?: AbortSignal;
  /** Drops this fraction (0..1) of received datagrams before the core sees them (fault injection). @default {0} */
  readDropRate?: number;
  /** Drops this fraction (0..1) of the core's datagrams instead of sending them. @default {0} */
  writeDropRate?: number;
  /** Random numbers for the drop rates. @default {Math.random} */
  random?: () => number;
  /** The clock. @default {performance.now} */
  now?: () => number;
  /**
   * Hand the core a view of the driver's receive buffer instead of a copy of each datagram. Only
   * for cores that copy whatever they keep of a datagram before `handleDatagram` returns: the
   * next datagram overwrites the view. Saves an allocation and a copy per datagram. @default
   * {false}
   */
  lendReads?: boolean;
}

/** Counters kept by a {@linkcode UdpDriver}. */
export interface UdpDriverStats {
  received: number;
  sent: number;
  readDropped: number;
  writeDropped: number;
  sendErrors: number;
  receiveErrors: number;
}

const RECEIVE_BUFFER_BYTES = 65536;
const MAX_ROUNDS = 1000;
/** Datagrams waiting for the socket at most; beyond, new ones are dropped (counted in `sendErrors`). */
const SEND_QUEUE_MAX = 8192;
/** Parsed destination addresses kept at most (the cache is emptied when full). */
const DESTINATIONS_MAX = 4096;

/**
 * Drives a datagram core over a UDP socket.
 *
 * @example An echo core on a real socket
 * ```ts ignore
 * import { UdpDriver } from "./udp_driver.ts";
 * const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const driver = new UdpDriver({ socket, core: myCore, onProgress: () => drainEvents(myCore) });
 * // ... later
 * driver.close();
 * await driver.done;
 * ```
 */
export class UdpDriver {
  readonly #socket: Deno.DatagramConn;
  readonly #core: DatagramCore;
  readonly #onProgress: () => void;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #readDrop: number;
  readonly #writeDrop: number;
  readonly #lendReads: boolean;
  /** Destinations parsed from the cores' address keys, by key. */
  readonly #destinations = new Map<string, Deno.NetAddr>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #closed = false;
  #sendQueue: { bytes: Uint8Array; to: Deno.NetAddr }[] = [];
  #sendHead = 0;
  #sending = false;
  #signal?: AbortSignal;
  readonly #onAbort = () => this.close();
  /** Counters. */
  readonly stats: UdpDriverStats = {
    received: 0,
    sent: 0,
    readDropped: 0,
    writeDropped: 0,
    sendErrors: 0,
    receiveErrors: 0,
  };
  /** Resolves when the receive loop has ended and the socket is closed. */
  readonly done: Promise<void>;

  constructor(options: UdpDriverOptions) {
    this.#socket = options.socket;
    this.#core = options.core;
    this.#onProgress = options.onProgress ?? (() => {});
    this.#now = options.now ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
    this.#readDrop = options.readDropRate ?? 0;
    this.#writeDrop = options.writeDropRate ?? 0;
    this.#lendReads = options.lendReads ?? false;
    this.#signal = options.signal;
    if (this.#signal?.aborted) this.#closed = true;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.done = this.#receiveLoop();
  }

  /** The socket's local address. */
  get addr(): Deno.NetAddr {
    return this.#socket.addr as Deno.NetAddr;
  }

  /** True once {@linkcode UdpDriver.close} ran or the signal aborted. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends what the core has to send, runs its due timer work, and re-arms the timer. Call it after
   * every command given to the core (write, close).
   */
  pump(): void {
    if (this.#closed) return;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      this.#flush();
      this.#onProgress();
      if (this.#closed) return;
      this.#flush(); // what onProgress made the core send
      const at = this.#core.nextTimeout();
      const now = this.#now();
      if (at === undefined) return this.#disarm();
      if (at > now) return this.#arm(at, now);
      this.#core.handleTick(now);
    }
    throw new Error("Cannot settle the core: handleTick() does not move nextTimeout()");
  }

  /** Closes the socket and the timer; the core is left as it is. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disarm();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    try {
      this.#socket.close();
    } catch {
      // already closed
    }
  }

  #flush(): void {
    for (let t = this.#core.pollTransmit(); t; t = this.#core.pollTransmit()) {
      if (this.#closed) continue;
      if (this.#writeDrop > 0 && this.#random() < this.#writeDrop) {
        this.stats.writeDropped++;
        continue;
      }
      const to = this.#destination(t.to);
      if (to === undefined) {
        this.stats.sendErrors++;
        continue;
      }
      if (this.#sendQueue.length - this.#sendHead >= SEND_QUEUE_MAX) {
        this.stats.sendErrors++; // the socket is not keeping up: drop, as a full socket buffer would
        continue;
      }
      this.stats.sent++;
      this.#sendQueue.push({ bytes: t.bytes, to });
    }
    if (!this.#sending && this.#sendQueue.length > this.#sendHead) void this.#sendLoop();
  }

  /**
   * Sends the queued datagrams one after the other, in order. Deno's `send` is an asynchronous op,
   * and several started at once leave the host in any order (measured: about one inversion per 64
   * datagrams on loopback), which a receiver sees as reordering; one at a time costs nothing in
   * rate (the op completes at once while the socket buffer has room).
   */
  async #sendLoop(): Promise<void> {
    this.#sending = true;
    while (this.#sendHead < this.#sendQueue.length) {
      const t = this.#sendQueue[this.#sendHead];
      this.#sendQueue[this.#sendHead++] = undefined!;
      if (this.#sendHead >= 1024 && 2 * this.#sendHead >= this.#sendQueue.length) {
        this.#sendQueue = this.#sendQueue.slice(this.#sendHead);
        this.#sendHead = 0;
      }
      if (this.#closed) continue;
      try {
        await this.#socket.send(t.bytes, t.to);
      } catch {
        this.stats.sendErrors++;
      }
    }
    this.#sendQueue = [];
    this.#sendHead = 0;
    this.#sending = false;
  }

  /** The socket address of a core's address key (parsed once; undefined when it is not one). */
  #destination(key: string): Deno.NetAddr | undefined {
    let to = this.#destinations.get(key);
    if (to !== undefined) return to;
    try {
      to = toNetAddr(key);
    } catch {
      return undefined;
    }
    if (this.#destinations.size >= DESTINATIONS_MAX) this.#destinations.clear();
    this.#destinations.set(key, to);
    return to;
  }

  #arm(at: number, now: number): void {
    // A timer already armed no later than `at` stays: when it fires, the tick is a no-op if nothing
    // is due (the core contract) and the pump re-arms at the core's deadline. Cores move their
    // deadline on almost every datagram (an RTO restarted by each ACK); re-arming each time would
    // cost a clearTimeout and a setTimeout per datagram.
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    this.#disarm();
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      if (this.#closed) return;
      this.#core.handleTick(this.#now());
      this.pump();
    }, Math.max(0, Math.ceil(at - now)));
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  async #receiveLoop(): Promise<void> {
    const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
    let errorsInARow = 0;
    while (!this.#closed) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await this.#socket.receive(buffer);
        errorsInARow = 0;
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) break;
        this.stats.receiveErrors++; // an ICMP error surfaced on the socket: carry on
        if (++errorsInARow > 100) await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (this.#closed) break;
      this.stats.received++;
      if (this.#readDrop > 0 && this.#random() < this.#readDrop) {
        this.stats.readDropped++;
        continue;
      }
      // The core gets its own copy unless it copies what it keeps: the buffer is reused for the
      // next datagram.
      const datagram = this.#lendReads ? got[0] : got[0].slice();
      this.#core.handleDatagram(addrKey(got[1]), datagram, this.#now());
      this.pump();
    }
    this.close();
  }
}
