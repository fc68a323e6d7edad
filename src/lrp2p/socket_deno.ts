/**
 * The LRP2P API of spec §7 in Deno's idiom: {@linkcode socketListen} binds one UDP socket (the one
 * UDP driver running an {@linkcode LrpEndpoint}); its `accept()` yields each incoming connection
 * once, `connectTo()` opens one, and each {@linkcode LrpConnection} has `read`/`write`/`close`,
 * `readable`/`writable` streams, `remoteStatic`, and `AbortSignal`s throughout. Writes wait while
 * the connection's send buffer is full (backpressure).
 *
 * @module
 */

import { UdpDriver } from "../net/mod.ts";
import { LrpEndpoint, type LrpEndpointOptions, type LrpEvent } from "./endpoint.ts";
import { generateKeyPair, type KeyPair } from "./noise.ts";
import { sodiumAead } from "./aead_deno.ts";

/** Options of {@linkcode socketListen}. */
export interface SocketOptions {
  /** This socket's identity. @default {a key pair generated for this socket} */
  staticKey?: KeyPair;
  /** Accepts or refuses a peer's static key (undefined: any, as Go peers present random keys). */
  verifyRemote?: (remoteStatic: Uint8Array) => boolean;
  /** Incoming connections waiting for `accept`. @default {16} */
  acceptBacklog?: number;
  /** Admit incoming connections at all. @default {true} */
  acceptIncoming?: boolean;
  /** Aborting closes the socket. */
  signal?: AbortSignal;
  /** Endpoint tuning (timers, buffers, limits). */
  endpoint?: Partial<Omit<LrpEndpointOptions, "staticKey" | "random" | "verifyRemote">>;
  /** Fault injection for tests: drop this fraction of datagrams each way. */
  dropRate?: number;
}

/** A wait that a timer, an abort or a close can end. */
class Waiters {
  // An array, not a Set: a reader or writer waits once per wake-up, and a Set that gains and loses
  // an entry each time keeps the lost ones (and their promises) alive until a full GC.
  #list: (() => void)[] = [];
  wait(signal?: AbortSignal, timeoutMs?: number): Promise<"ok" | "timeout"> {
    return new Promise((resolve, reject) => {
      if (signal === undefined && timeoutMs === undefined) {
        this.#list.push(() => resolve("ok"));
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (how: "ok" | "timeout" | Error) => {
        const at = this.#list.indexOf(wake);
        if (at >= 0) this.#list.splice(at, 1);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (how instanceof Error) reject(how);
        else resolve(how);
      };
      const wake = () => done("ok");
      const onAbort = () => done(signal!.reason ?? new DOMException("Aborted", "AbortError"));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined) timer = setTimeout(() => done("timeout"), timeoutMs);
      this.#list.push(wake);
    });
  }
  wakeAll(): void {
    const list = this.#list;
    if (list.length === 0) return;
    this.#list = [];
    for (const w of list) w();
  }
}

/**
 * How long `PeerSocket.close()` keeps answering connections that linger by default: the peer's
 * first three retransmissions of its FIN (0.2, 0.6 and 1.4 s after the first copy, at the minimum
 * RTO): at 10% loss each way it is left waiting only when our ACK and three answers in a row are
 * lost, about once in 800 closes.
 */
export const CLOSE_LINGER_MS = 1500;

/** An LRP2P connection. */
export class LrpConnection {
  /** The 64-bit connection id. */
  readonly connId: bigint;
  /** The peer's UDP address. */
  readonly remoteAddr: string;
  /** The peer's static public key (32 bytes). */
  readonly remoteStatic: Uint8Array;
  readonly #socket: PeerSocket;
  readonly #readers = new Waiters();
  readonly #writers = new Waiters();
  #readTimeoutMs: number | undefined;
  #closed = false;
  #finished = false;
  #error: string | undefined;
  #closedWaiters = new Waiters();
  #readable?: ReadableStream<Uint8Array>;
  #writable?: WritableStream<Uint8Array>;

  /** @internal */
  constructor(socket: PeerSocket, connId: bigint, remoteAddr: string, remoteStatic: Uint8Array) {
    this.#socket = socket;
    this.connId = connId;
    this.remoteAddr = remoteAddr;
    this.remoteStatic = remoteStatic;
  }

  /** Whether the connection ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why it ended, if it ended with an error. */
  get error(): string | undefined {
    return this.#error;
  }

  /** A read that waits longer than `ms` rejects with a `TimeoutError` (`Deno.errors.TimedOut`). */
  setReadTimeout(ms: number | undefined): void {
    this.#readTimeoutMs = ms;
  }

  /**
   * Reads into `buf`: the number of bytes, or `null` at the end of the stream (the peer closed).
   *
   * @throws {Deno.errors.TimedOut} After the read timeout.
   * @throws {Error} When the connection failed (the reason in the message).
   */
  async read(buf: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<number | null> {
    for (;;) {
      const r = this.#socket._endpoint.readInto(this.connId, buf);
      this.#socket._pump();
      if (r === null) {
        if (this.#error) throw new Error(this.#error);
        return null;
      }
      if (r !== undefined) return r;
      if (this.#closed) {
        if (this.#error) throw new Error(this.#error);
        return null;
      }
      const how = await this.#readers.wait(options.signal, this.#readTimeoutMs);
      if (how === "timeout") throw new Deno.errors.TimedOut("read timed out");
    }
  }

  /** Writes all of `data`, waiting while the send buffer is full; resolves with its length. */
  async write(data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<number> {
    let at = 0;
    while (at < data.length || data.length === 0) {
      if (this.#closed) throw new Error(this.#error ?? "the connection is closed");
      const n = this.#socket._endpoint.write(this.connId, data.subarray(at), performance.now());
      this.#socket._pump();
      at += n;
      if (data.length === 0) break;
      if (at < data.length) await this.#writers.wait(options.signal);
    }
    return data.length;
  }

  /**
   * Graceful close of our side (§7): sends what is queued, then a FIN, and resolves once the peer
   * has acknowledged all of it, or the connection has ended. The peer's bytes can still be read
   * until its own end of stream; the connection ends when both sides are closed.
   */
  async close(): Promise<void> {
    if (this.#closed || this.#finished) return;
    this.#socket._endpoint.close(this.connId, performance.now());
    this.#socket._pump();
    while (!this.#closed && !this.#finished) await this.#closedWaiters.wait();
  }

  /** Resolves once the connection has ended (both sides closed, or a failure). */
  async ended(): Promise<void> {
    while (!this.#closed) await this.#closedWaiters.wait();
  }

  /** The bytes from the peer as a stream. */
  get readable(): ReadableStream<Uint8Array> {
    this.#readable ??= new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const buf = new Uint8Array(64 * 1024);
        const n = await this.read(buf);
        if (n === null) controller.close();
        else controller.enqueue(buf.subarray(0, n));
      },
      cancel: () => this.close(),
    });
    return this.#readable;
  }

  /** A stream to the peer; closing it closes the connection gracefully. */
  get writable(): WritableStream<Uint8Array> {
    this.#writable ??= new WritableStream<Uint8Array>({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: () => this.close(),
      abort: () => {
        this.#socket._endpoint.abort(this.connId, performance.now(), "aborted by the application");
        this.#socket._pump();
      },
    });
    return this.#writable;
  }

  /** @internal */
  _event(e: LrpEvent): void {
    if (e.type === "readable") this.#readers.wakeAll();
    else if (e.type === "writable") this.#writers.wakeAll();
    else if (e.type === "finished") {
      this.#finished = true;
      this.#closedWaiters.wakeAll();
    } else if (e.type === "closed") {
      this.#closed = true;
      this.#error = e.error;
      this.#readers.wakeAll();
      this.#writers.wakeAll();
      this.#closedWaiters.wakeAll();
    }
  }
}

/** A bound LRP2P socket: accepts and opens connections. */
export class PeerSocket {
  /** @internal */
  readonly _endpoint: LrpEndpoint;
  readonly #driver: UdpDriver;
  readonly #conns = new Map<bigint, LrpConnection>();
  readonly #connecting = new Map<
    bigint,
    { resolve: (c: LrpConnection) => void; reject: (e: Error) => void; remote: string }
  >();
  readonly #accepting = new Waiters();
  readonly #errors: Error[] = [];
  #closed = false;

  /** @internal */
  constructor(socket: Deno.DatagramConn, options: SocketOptions) {
    const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    this._endpoint = new LrpEndpoint({
      ...options.endpoint,
      aead: sodiumAead,
      staticKey: options.staticKey ?? generateKeyPair(random),
      random,
      verifyRemote: options.verifyRemote,
      backlog: options.acceptBacklog ?? options.endpoint?.backlog,
      acceptIncoming: options.acceptIncoming,
      now: performance.now(),
    });
    this.#driver = new UdpDriver({
      socket,
      core: this._endpoint,
      onProgress: () => this.#drain(),
      lendReads: true, // the endpoint copies what it keeps of a datagram
      readDropRate: options.dropRate,
      writeDropRate: options.dropRate,
      signal: options.signal,
    });
    options.signal?.addEventListener("abort", () => this.close(), { once: true });
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#driver.addr;
  }

  /** This socket's static public key. */
  get publicKey(): Uint8Array {
    return this._endpoint.publicKey;
  }

  /** Counters: datagrams dropped by reason, and the driver's. */
  get stats(): { drops: LrpEndpoint["drops"]; driver: UdpDriver["stats"]; connections: number } {
    return {
      drops: this._endpoint.drops,
      driver: this.#driver.stats,
      connections: this._endpoint.size,
    };
  }

  /**
   * Opens a connection to `host:port` (an IP address).
   *
   * @throws {Error} When the handshake fails or times out (about 31 s by default), or the peer's
   * key is refused.
   */
  connectTo(
    host: string,
    port: number,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<LrpConnection> {
    if (this.#closed) return Promise.reject(new Error("the socket is closed"));
    const remote = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const id = this._endpoint.connect(remote, performance.now());
    const p = new Promise<LrpConnection>((resolve, reject) => {
      this.#connecting.set(id, { resolve, reject, remote });
    });
    this._pump();
    const cancel = (why: Error) => {
      const w = this.#connecting.get(id);
      if (!w) return;
      this.#connecting.delete(id);
      this._endpoint.abort(id, performance.now(), why.message);
      this._pump();
      w.reject(why);
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(
        () => cancel(new Deno.errors.TimedOut(`no connection to ${remote}`)),
        options.timeoutMs,
      );
    }
    const onAbort = () =>
      cancel(options.signal!.reason ?? new DOMException("Aborted", "AbortError"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    return p.finally(() => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    });
  }

  /** Waits for the next incoming connection (each is returned once). */
  async accept(options: { signal?: AbortSignal } = {}): Promise<LrpConnection> {
    for (;;) {
      if (this.#closed) throw new Error("the socket is closed");
      const id = this._endpoint.accept();
      if (id !== undefined) {
        const c = this._endpoint.conn(id)!;
        const conn = new LrpConnection(this, id, c.remote, c.remoteStatic!);
        this.#conns.set(id, conn);
        return conn;
      }
      await this.#accepting.wait(options.signal);
    }
  }

  /** Incoming connections, as an async iterator. */
  async *[Symbol.asyncIterator](): AsyncIterator<LrpConnection> {
    while (!this.#closed) yield await this.accept();
  }

  /** Errors reported by the socket (send failures), as they come. */
  get errors(): readonly Error[] {
    return this.#errors;
  }

  /**
   * Closes every open connection at once, then the socket: after at most `lingerMs` (default
   * {@linkcode CLOSE_LINGER_MS}) for the connections that finished both ways and linger (§8.4).
   * One of those only answers the peer's retransmissions: if our ACK of its FIN was lost, without
   * that answer the peer would wait for it until it gives up (about 50 s) and report an error
   * after a transfer that succeeded.
   */
  async close(options: { lingerMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of this.#conns.keys()) {
      this._endpoint.abort(id, performance.now(), "the socket closed");
    }
    this._pump();
    const until = performance.now() + (options.lingerMs ?? CLOSE_LINGER_MS);
    while (this._endpoint.lingering > 0 && !this.#driver.closed && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#drain(); // the driver may be closed already (its signal): deliver the closed events here
    this.#driver.close();
    for (const [, w] of this.#connecting) w.reject(new Error("the socket closed"));
    this.#connecting.clear();
    this.#accepting.wakeAll();
    await this.#driver.done;
  }

  /** @internal Sends what the endpoint has and re-arms its timer. */
  _pump(): void {
    this.#driver.pump();
  }

  #drain(): void {
    for (let e = this._endpoint.pollEvent(); e; e = this._endpoint.pollEvent()) {
      if (e.type === "open") {
        if (e.initiator) {
          const w = this.#connecting.get(e.connId);
          if (w) {
            this.#connecting.delete(e.connId);
            const c = this._endpoint.conn(e.connId)!;
            const conn = new LrpConnection(this, e.connId, w.remote, c.remoteStatic!);
            this.#conns.set(e.connId, conn);
            w.resolve(conn);
          }
        } else this.#accepting.wakeAll();
        continue;
      }
      if (e.type === "closed") {
        const w = this.#connecting.get(e.connId);
        if (w) {
          this.#connecting.delete(e.connId);
          w.reject(new Error(e.error ?? "the connection closed during the handshake"));
        }
      }
      const conn = this.#conns.get(e.connId);
      conn?._event(e);
      if (e.type === "closed") this.#conns.delete(e.connId);
    }
  }
}

/**
 * Binds a UDP socket on `host:port` (`""` or `0.0.0.0`: every IPv4 interface; port 0: any) and
 * starts an LRP2P socket on it.
 *
 * @throws {Deno.errors.AddrInUse} When the port is taken (L15: an error, not a crash).
 * @example
 * ```ts ignore
 * const server = await socketListen("127.0.0.1", 0);
 * const client = await socketListen("127.0.0.1", 0);
 * const [a, b] = await Promise.all([server.accept(), client.connectTo("127.0.0.1", server.addr.port)]);
 * await b.write(new TextEncoder().encode("hi"));
 * ```
 */
// async: a bind error (a port in use, L15) rejects the promise instead of throwing at the call
// deno-lint-ignore require-await
export async function socketListen(
  host: string,
  port: number,
  options: SocketOptions = {},
): Promise<PeerSocket> {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: host === "" ? "0.0.0.0" : host,
    port,
  });
  return new PeerSocket(socket, options);
}
