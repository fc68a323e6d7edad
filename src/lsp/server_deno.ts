/**
 * The LSP server API over a real UDP socket: `listen()` returns an {@linkcode LspServer} with
 * `read()`, `write()`, `closeConn()` and `close()`, the TypeScript shape of the Go reference's
 * `Server`.
 *
 * @module
 */
import { listenUdp } from "../node/mod.ts";
import { UdpDriver } from "../net/mod.ts";
import { prngFromEntropy } from "../util/mod.ts";
import { LspEndpoint } from "./endpoint.ts";
import { LspConnectionError } from "./errors.ts";
import { DEFAULT_MAX_INFLIGHT_BYTES, type LspParams, lspParams } from "./params.ts";
import { defaultReadQueueMax, ReadQueue } from "./_reader.ts";

/** Options for {@linkcode listen}. */
export interface ListenOptions {
  /** LSP parameters; missing fields take the reference defaults. */
  params?: Partial<LspParams>;
  /** The address to bind. @default {"0.0.0.0"} */
  hostname?: string;
  /** Size of the connection table (Connects beyond it are dropped). @default {1024} */
  maxConnections?: number;
  /**
   * Per connection, how many received messages may wait unread before the server stops
   * acknowledging new Data from that client (push-back: the client retransmits it later, as
   * under loss), so a server that does not call `read()` holds bounded memory. A positive
   * integer or `Infinity`. @default {the larger of 1024 and 4 × windowSize}
   */
  readQueueMax?: number;
  /**
   * Per connection, most bytes of Data datagrams sent and not yet acknowledged: a local limit
   * below the window and max-unacked that keeps a window of large messages within the client's
   * socket receive buffer (see {@linkcode DEFAULT_MAX_INFLIGHT_BYTES}). A positive integer, or
   * `Infinity` for the window and max-unacked alone. @default {DEFAULT_MAX_INFLIGHT_BYTES (32 KiB)}
   */
  maxInflightBytes?: number;
  /** Abort to drop every connection and close the socket at once (no draining). */
  signal?: AbortSignal;
  /** Percentage (0..100) of received datagrams dropped (fault injection, `-rdrop`). @default {0} */
  readDropPercent?: number;
  /** Percentage (0..100) of datagrams dropped instead of sent (`-wdrop`). @default {0} */
  writeDropPercent?: number;
  /** Name used in bind errors. @default {"lsp"} */
  serviceName?: string;
}

/** One message read from a client. */
export interface LspServerMessage {
  connId: number;
  payload: Uint8Array;
  /**
   * Present (true) when the Data message said `"Payload":null` (`payload` is then empty): write
   * `null` to echo it the same way, as the reference does.
   */
  payloadNull?: true;
}

/**
 * Starts an LSP server on `port` (0 picks a free port; see `server.port`).
 *
 * @throws {ServiceStartError} When the port cannot be bound.
 *
 * @example An echo server
 * ```ts ignore
 * import { listen } from "./server_deno.ts";
 * const server = listen(9999);
 * for await (const item of server) {
 *   if ("payload" in item) server.write(item.connId, item.payload);
 * }
 * ```
 */
export function listen(port: number, options: ListenOptions = {}): LspServer {
  const params = lspParams(options.params ?? {});
  const prng = prngFromEntropy();
  // The core first: it validates the options, and a refused option must not leave a socket open.
  const core = LspEndpoint.server(params, prng, {
    maxConnections: options.maxConnections,
    readQueueMax: options.readQueueMax ?? defaultReadQueueMax(params),
    maxInflightBytes: options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES,
  });
  const socket = listenUdp(options.serviceName ?? "lsp", {
    hostname: options.hostname ?? "0.0.0.0",
    port,
  });
  return new LspServer(core, socket, params, prng, options);
}

/**
 * A running LSP server.
 */
export class LspServer implements AsyncIterable<LspServerMessage | LspConnectionError> {
  /** The parameters in use. */
  readonly params: LspParams;
  readonly #core: LspEndpoint;
  readonly #driver: UdpDriver;
  readonly #reads = new ReadQueue<LspServerMessage>((m) => this.#core.markRead(m.connId, 1));
  /** Connections closed with closeConn(): their data is no longer delivered. */
  readonly #closedLocally = new Set<number>();
  #closing: Promise<void> | undefined;
  #settleClose: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #lostWhileClosing: number[] = [];
  #stopped = false;
  readonly #signal?: AbortSignal;
  readonly #onAbort = () => this.#stop();

  /** @internal Made by {@linkcode listen}. */
  constructor(
    core: LspEndpoint,
    socket: Deno.DatagramConn,
    params: LspParams,
    prng: { float(): number },
    options: ListenOptions,
  ) {
    this.#core = core;
    this.params = params;
    this.#signal = options.signal;
    this.#driver = new UdpDriver({
      socket,
      core,
      readDropRate: (options.readDropPercent ?? 0) / 100,
      writeDropRate: (options.writeDropPercent ?? 0) / 100,
      random: () => prng.float(),
      onProgress: () => this.#drainEvents(),
    });
    if (this.#signal?.aborted) this.#stop();
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The bound port. */
  get port(): number {
    return this.#driver.addr.port;
  }

  /** Live connections (including closing ones). */
  get connectionCount(): number {
    return this.#core.connectionCount;
  }

  /**
   * Messages of a connection received but not yet read (at most `readQueueMax`); 0 for an
   * unknown connection.
   */
  unreadCount(connId: number): number {
    return this.#core.unreadCount(connId);
  }

  /** Datagram counters of the socket and of the protocol core. */
  stats(): { socket: UdpDriver["stats"]; lsp: ReturnType<LspEndpoint["stats"]> } {
    return { socket: { ...this.#driver.stats }, lsp: this.#core.stats() };
  }

  /**
   * The next message from any client (per client in order), or rejects with a
   * {@linkcode LspConnectionError} carrying the ConnID of a connection that was lost (after its
   * received data) or closed with `closeConn()`. After `close()`, rejects with ConnID 0.
   */
  read(): Promise<LspServerMessage> {
    return this.#reads.read();
  }

  /**
   * Queues a payload (copied) to a client. Never blocks. `null` sends an empty message as
   * `"Payload":null`.
   *
   * @throws {LspConnectionError} Unknown, lost or closed connection, or the server is closing.
   * @throws {LspPayloadTooLargeError} When the Data message would be over 1500 bytes (1068
   * bytes always fit with small ConnIDs and SeqNums).
   */
  write(connId: number, payload: Uint8Array | null): void {
    if (this.#closing || this.#driver.closed) {
      throw new LspConnectionError("write", connId, "closing");
    }
    if (this.#closedLocally.has(connId)) throw new LspConnectionError("write", connId, "closed");
    this.#core.write(connId, payload, performance.now()); // the core copies it
    this.#driver.pump();
  }

  /**
   * Closes one connection without blocking: no more writes to it, its unread data is discarded
   * and `read()` reports one error for it; what was written is still delivered.
   *
   * @throws {LspConnectionError} Unknown or already closed connection.
   */
  closeConn(connId: number): void {
    if (this.#closedLocally.has(connId)) {
      throw new LspConnectionError("closeConn", connId, "closed");
    }
    this.#core.close(connId, performance.now());
    this.#closedLocally.add(connId);
    this.#reads.discard((i) => "value" in i && i.value.connId === connId);
    this.#reads.push({ error: new LspConnectionError("read", connId, "closed") });
    this.#driver.pump();
  }

  /**
   * Stops accepting connections, waits until every connection's written data is acknowledged or
   * the connection is lost, then closes the socket. After `closeNow()` or an abort it resolves
   * at once.
   *
   * @throws {LspConnectionError} When some connection was lost while draining (its ConnID), or on
   * a second call.
   */
  close(): Promise<void> {
    if (this.#closing) return Promise.reject(new LspConnectionError("close", 0, "closed"));
    if (this.#stopped) {
      // Stopped by closeNow() or the abort signal: the socket is gone, nothing can drain.
      this.#closing = Promise.resolve();
      return this.#closing;
    }
    this.#closing = new Promise<void>((resolve, reject) => {
      this.#settleClose = { resolve, reject };
    });
    this.#core.closeAll(performance.now());
    this.#driver.pump();
    this.#checkFinished();
    return this.#closing;
  }

  /**
   * Stops at once without draining: the socket is closed, pending data is dropped, reads fail
   * with ConnID 0, and a pending `close()` settles. Idempotent.
   */
  closeNow(): void {
    this.#stop();
  }

  /** Yields messages and per-connection errors until the server is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<LspServerMessage | LspConnectionError> {
    for (;;) {
      try {
        yield await this.read();
      } catch (err) {
        if (!(err instanceof LspConnectionError)) throw err;
        if (err.connId === 0) return;
        yield err;
      }
    }
  }

  /** Resolves when the socket is closed. */
  get done(): Promise<void> {
    return this.#driver.done;
  }

  #drainEvents(): void {
    for (let e = this.#core.pollEvent(); e; e = this.#core.pollEvent()) {
      switch (e.type) {
        case "message":
          if (!this.#closedLocally.has(e.connId) && !this.#closing) {
            this.#reads.push({
              value: e.payloadNull
                ? { connId: e.connId, payload: e.payload, payloadNull: true }
                : { connId: e.connId, payload: e.payload },
            });
          }
          break;
        case "lost":
          if (this.#closing) this.#lostWhileClosing.push(e.connId);
          if (!this.#closedLocally.has(e.connId)) {
            this.#reads.push({ error: new LspConnectionError("read", e.connId, "lost") });
          }
          this.#closedLocally.delete(e.connId);
          break;
        case "closed":
          this.#closedLocally.delete(e.connId);
          break;
        default:
          break;
      }
    }
    this.#checkFinished();
  }

  #checkFinished(): void {
    if (!this.#closing || !this.#core.isFinished || this.#driver.closed) return;
    this.#stop();
  }

  #stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#driver.close();
    this.#reads.end(new LspConnectionError("read", 0, "closed"), true);
    if (this.#settleClose) {
      const lost = this.#lostWhileClosing;
      if (lost.length) this.#settleClose.reject(new LspConnectionError("close", lost[0], "lost"));
      else this.#settleClose.resolve();
    }
  }
}
