/**
 * The LSP client API over a real UDP socket: `connect()` returns an {@linkcode LspClient} with
 * `read()`, `write()` and `close()`, the TypeScript shape of the Go reference's `Client`.
 *
 * @module
 */
import { addrKey, resolveHostPort } from "../net/mod.ts";
import { UdpDriver } from "../net/mod.ts";
import { prngFromEntropy } from "../util/mod.ts";
import { LspEndpoint } from "./endpoint.ts";
import { LspConnectError, LspConnectionError } from "./errors.ts";
import { DEFAULT_MAX_INFLIGHT_BYTES, type LspParams, lspParams } from "./params.ts";
import { defaultReadQueueMax, ReadQueue } from "./_reader.ts";

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** The initial sequence number. @default {a random integer in 0..2^31-1} */
  isn?: number;
  /** LSP parameters; missing fields take the reference defaults. */
  params?: Partial<LspParams>;
  /** Abort to give up connecting, or to drop an open connection at once (no draining). */
  signal?: AbortSignal;
  /** Percentage (0..100) of received datagrams this client drops (fault injection, `-rdrop`). @default {0} */
  readDropPercent?: number;
  /** Percentage (0..100) of datagrams this client drops instead of sending (`-wdrop`). @default {0} */
  writeDropPercent?: number;
  /**
   * How many received messages may wait unread before the client stops acknowledging new Data
   * (push-back: the server retransmits it later, as under loss). A positive integer or
   * `Infinity`. @default {the larger of 1024 and 4 × windowSize}
   */
  readQueueMax?: number;
  /**
   * Most bytes of Data datagrams sent and not yet acknowledged: a local limit below the window
   * and max-unacked that keeps a window of large messages within the server's socket receive
   * buffer (see {@linkcode DEFAULT_MAX_INFLIGHT_BYTES}). A positive integer, or `Infinity` for
   * the window and max-unacked alone. @default {DEFAULT_MAX_INFLIGHT_BYTES (32 KiB)}
   */
  maxInflightBytes?: number;
}

/**
 * Connects to an LSP server and resolves once the server has answered the Connect.
 *
 * @param hostport The server, `host:port` (names are resolved once, IPv4 first).
 * @param options ISN, parameters, cancellation and fault injection.
 * @returns The connected client.
 * @throws {LspConnectError} When no answer came within EpochLimit epochs.
 * @throws {TypeError} When `hostport` is not `host:port`.
 *
 * @example Echo one message
 * ```ts ignore
 * import { connect } from "./client_deno.ts";
 * const client = await connect("localhost:9999", { isn: 0 });
 * client.write(new TextEncoder().encode("hello"));
 * console.log(new TextDecoder().decode(await client.read()));
 * await client.close();
 * ```
 */
export async function connect(hostport: string, options: ConnectOptions = {}): Promise<LspClient> {
  const { signal } = options;
  signal?.throwIfAborted();
  const params = lspParams(options.params ?? {});
  const serverAddr = await resolveHostPort(hostport);
  signal?.throwIfAborted(); // aborted while resolving: the listener below would never fire
  const v6 = serverAddr.startsWith("[");
  const prng = prngFromEntropy();
  // The core first: it validates the ISN, and a refused ISN must not leave a socket open.
  const core = LspEndpoint.client(serverAddr, params, prng, performance.now(), {
    isn: options.isn,
    readQueueMax: options.readQueueMax ?? defaultReadQueueMax(params),
    maxInflightBytes: options.maxInflightBytes ?? DEFAULT_MAX_INFLIGHT_BYTES,
  });
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: v6 ? "::" : "0.0.0.0",
    port: 0,
  });
  return await new Promise<LspClient>((resolve, reject) => {
    let client: LspClient | undefined;
    const driver = new UdpDriver({
      socket,
      core,
      readDropRate: (options.readDropPercent ?? 0) / 100,
      writeDropRate: (options.writeDropPercent ?? 0) / 100,
      random: () => prng.float(),
      onProgress: () => {
        for (let e = core.pollEvent(); e; e = core.pollEvent()) {
          if (client) {
            client._event(e);
            continue;
          }
          if (e.type === "connected") {
            signal?.removeEventListener("abort", onAbort);
            client = new LspClient(core, driver, e.connId, params, signal);
            resolve(client);
          } else if (e.type === "connectFailed" || e.type === "closed" || e.type === "lost") {
            signal?.removeEventListener("abort", onAbort);
            driver.close();
            reject(new LspConnectError(hostport, params.epochLimit));
          }
        }
      },
    });
    const onAbort = () => {
      driver.close();
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    driver.pump(); // send the Connect, arm the epoch timer
  });
}

/**
 * A connected LSP client. Reads give payloads in order, exactly once; writes never block.
 *
 * @example Reading with async iteration
 * ```ts ignore
 * import { connect } from "./client_deno.ts";
 * const client = await connect("127.0.0.1:9999");
 * client.write(new TextEncoder().encode("ping"));
 * for await (const payload of client) {
 *   console.log(payload.length);
 *   break;
 * }
 * await client.close();
 * ```
 */
export class LspClient implements AsyncIterable<Uint8Array> {
  /** The ConnID the server gave this connection. */
  readonly connId: number;
  /** The parameters in use. */
  readonly params: LspParams;
  readonly #core: LspEndpoint;
  readonly #driver: UdpDriver;
  readonly #reads = new ReadQueue<Uint8Array>(() => this.#core.markRead(this.connId, 1));
  #state: "open" | "closing" | "closed" | "lost" = "open";
  #closing: Promise<void> | undefined;
  #settleClose: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly #signal?: AbortSignal;
  readonly #onAbort = () => this.#hardStop();

  /** @internal Made by {@linkcode connect}. */
  constructor(
    core: LspEndpoint,
    driver: UdpDriver,
    connId: number,
    params: LspParams,
    signal?: AbortSignal,
  ) {
    this.#core = core;
    this.#driver = driver;
    this.connId = connId;
    this.params = params;
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The local UDP address. */
  get localAddr(): string {
    return addrKey(this.#driver.addr);
  }

  /** Datagram counters of the socket and of the protocol core. */
  stats(): { socket: UdpDriver["stats"]; lsp: ReturnType<LspEndpoint["stats"]> } {
    return { socket: { ...this.#driver.stats }, lsp: this.#core.stats() };
  }

  /**
   * The next payload from the server, in order.
   *
   * @throws {LspConnectionError} `reason: "lost"` once the connection is lost and everything
   * received was read; `reason: "closed"` after `close()`.
   */
  read(): Promise<Uint8Array> {
    return this.#reads.read();
  }

  /**
   * Queues one payload (copied). Never blocks. `null` sends an empty message as
   * `"Payload":null`.
   *
   * @throws {LspConnectionError} When the connection is lost or closing.
   * @throws {LspPayloadTooLargeError} When the Data message would be over 1500 bytes (1068
   * bytes always fit with small ConnIDs and SeqNums; nothing is sent).
   */
  write(payload: Uint8Array | null): void {
    if (this.#state !== "open") {
      throw new LspConnectionError("write", this.connId, this.#state);
    }
    this.#core.write(this.connId, payload, performance.now()); // the core copies it
    this.#driver.pump();
  }

  /**
   * Stops writing and reading, waits until everything written is acknowledged or the connection
   * is lost, then closes the socket. After a loss or an abort it resolves at once.
   *
   * @throws {LspConnectionError} `reason: "lost"` when data was discarded because the connection
   * was lost; `reason: "closed"` on a second call.
   */
  close(): Promise<void> {
    if (this.#closing) {
      return Promise.reject(new LspConnectionError("close", this.connId, "closed"));
    }
    this.#reads.end(new LspConnectionError("read", this.connId, "closed"), true);
    // Lost, or stopped by the abort signal: the socket is gone and there is nothing to wait for.
    if (this.#state === "lost" || this.#state === "closed") {
      this.#closing = Promise.resolve();
      this.#finish();
      return this.#closing;
    }
    this.#state = "closing";
    this.#closing = new Promise<void>((resolve, reject) => {
      this.#settleClose = { resolve, reject };
    });
    this.#core.close(this.connId, performance.now());
    this.#driver.pump();
    return this.#closing;
  }

  /** Yields payloads until the connection is closed locally; throws when it is lost. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      try {
        yield await this.read();
      } catch (err) {
        if (err instanceof LspConnectionError && err.reason === "closed") return;
        throw err;
      }
    }
  }

  /** @internal Events from the core, in order. */
  _event(e: ReturnType<LspEndpoint["pollEvent"]> & object): void {
    switch (e.type) {
      case "message":
        this.#reads.push({ value: e.payload });
        break;
      case "lost": {
        const wasClosing = this.#state === "closing";
        this.#state = "lost";
        this.#reads.end(new LspConnectionError("read", this.connId, "lost"));
        if (wasClosing) {
          this.#settleClose?.reject(new LspConnectionError("close", this.connId, "lost"));
        }
        this.#finish();
        break;
      }
      case "closed":
        this.#state = "closed";
        this.#settleClose?.resolve();
        this.#finish();
        break;
      default:
        break;
    }
  }

  #finish(): void {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#driver.close();
  }

  #hardStop(): void {
    if (this.#state === "closed") return;
    const wasOpen = this.#state;
    this.#state = "closed";
    this.#reads.end(new LspConnectionError("read", this.connId, "closed"), true);
    if (wasOpen === "closing") this.#settleClose?.resolve();
    this.#finish();
  }

  /** Resolves when the socket is closed (after close(), loss or abort). */
  get done(): Promise<void> {
    return this.#driver.done;
  }
}
