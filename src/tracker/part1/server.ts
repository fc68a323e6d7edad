/**
 * The Part 1 tracker over real TCP: {@linkcode serveTrackerPart1} binds, accepts, and runs one
 * {@linkcode Part1ServerConn} per connection; it only moves bytes and time.
 *
 * Where the original breaks (spec §4), this adapter does not:
 * - every connection is isolated: a reset, a failed write or any other error ends that
 *   connection only, never the listener (F1); accept errors (e.g. out of file descriptors) are
 *   counted and retried after a short pause;
 * - the listener reuses its address (Deno sets `SO_REUSEADDR` on Unix), so a restart binds the
 *   same port at once even with connections in TIME_WAIT (F2);
 * - connections are served concurrently, up to `maxConnections` at a time (more wait in the
 *   kernel's backlog); a request must be complete within `requestTimeoutMs`, and a connection
 *   lives at most `requestTimeoutMs + lingerMs + 1 s` whatever the client does (F5, F7);
 * - requests are read incrementally up to the size cap and decoded by the safe decoder (F3, F5).
 *
 * After the reply the tracker ends its side (FIN) and waits up to `lingerMs` for the client to
 * close, reading and dropping what it still sends, so that unread bytes never turn the close into
 * a reset that could destroy the reply in flight.
 *
 * @module
 */

import { listenTcp } from "../../node/listen.ts";
import { formatHostPort } from "../../net/hostport.ts";
import { DEFAULT_DB } from "../default_db.ts";
import { answerRequest } from "./answer.ts";
import type { Part1Db } from "./db.ts";
import { MAX_DB_FILE_BYTES, parseDbFile } from "./db_file.ts";
import type { Part1InvalidReason, Part1Request } from "./framing.ts";
import { Part1ServerConn, type Part1ServerConnOptions } from "./server_conn.ts";
import type { Part1Reply } from "./wire.ts";
import { CANCELLED, FAILED, readOrFail, sleep, TIMER, writeAll } from "./_io.ts";
import { checkInt as checkIntIn } from "../../util/checks.ts";

/**
 * Options of {@linkcode serveTrackerPart1}.
 *
 * @example Emulating Python 2's protocol limit on a free port
 * ```ts
 * import type { ServeTrackerPart1Options } from "./server.ts";
 * const options: ServeTrackerPart1Options = { hostname: "127.0.0.1", port: 0, maxProtocol: 2 };
 * console.assert(options.port === 0);
 * ```
 */
export interface ServeTrackerPart1Options extends Part1ServerConnOptions {
  /**
   * The address to bind (the original binds `localhost`).
   *
   * @default "127.0.0.1"
   */
  hostname?: string;
  /**
   * The TCP port (0 picks a free one: read {@linkcode TrackerPart1Server.port}).
   *
   * @default 7777
   */
  port?: number;
  /**
   * The database.
   *
   * @default DEFAULT_DB (`src/tracker/default_db.ts`)
   */
  db?: Part1Db;
  /**
   * Connections served at the same time (1 to 65536); further clients wait in the backlog.
   *
   * @default 256
   */
  maxConnections?: number;
  /**
   * After the reply, how long to wait for the client to close before closing anyway (0 to 60000).
   *
   * @default 1000
   */
  lingerMs?: number;
  /** Abort to stop: the listener and every open connection close at once. */
  signal?: AbortSignal;
  /**
   * The name in bind errors.
   *
   * @default "tracker"
   */
  serviceName?: string;
  /** Called after each reply is written (or failed to be), for logs. Must not throw. */
  onExchange?: (exchange: Part1Exchange) => void;
}

/**
 * One finished exchange, as reported to {@linkcode ServeTrackerPart1Options.onExchange}.
 *
 * @example A size request answered
 * ```ts
 * import type { Part1Exchange } from "./server.ts";
 * const e: Part1Exchange = {
 *   remote: "127.0.0.1:50000",
 *   request: { type: "size" },
 *   reply: { type: "size", count: 16 },
 *   written: true,
 *   ms: 0.4,
 * };
 * console.assert(e.written);
 * ```
 */
export interface Part1Exchange {
  /** The client's address, `host:port`. */
  readonly remote: string;
  /** The request as framed (invalid ones carry the reason). */
  readonly request: Part1Request;
  /** The pickle protocol of an item request. */
  readonly protocol?: number;
  /** The reply sent. */
  readonly reply: Part1Reply;
  /** False when writing the reply failed (the client was gone). */
  readonly written: boolean;
  /** Milliseconds from accept until the reply was written. */
  readonly ms: number;
}

/**
 * One log line for an exchange: `127.0.0.1:50000: item 3 (protocol 2) -> item`.
 *
 * @example
 * ```ts
 * import { describeExchange } from "./server.ts";
 * const line = describeExchange({
 *   remote: "127.0.0.1:50000",
 *   request: { type: "size" },
 *   reply: { type: "size", count: 16 },
 *   written: true,
 *   ms: 0.4,
 * });
 * console.assert(line === "127.0.0.1:50000: REGISTER -> size");
 * ```
 */
export function describeExchange(e: Part1Exchange): string {
  const request = e.request.type === "invalid"
    ? `invalid (${e.request.reason}: ${e.request.detail})`
    : e.request.type === "item"
    ? `item ${e.request.index} (protocol ${e.protocol})`
    : "REGISTER";
  return `${e.remote}: ${request} -> ${e.reply.type}${e.written ? "" : " (not delivered)"}`;
}

/**
 * Counters of a running tracker.
 *
 * @example No replies yet
 * ```ts
 * import type { Part1ServerStats } from "./server.ts";
 * const zero: Part1ServerStats["replies"] = { size: 0, item: 0, error: 0 };
 * console.assert(zero.item === 0);
 * ```
 */
export interface Part1ServerStats {
  /** Connections accepted. */
  readonly accepted: number;
  /** Connections open now. */
  readonly active: number;
  /** Replies written, by type. */
  readonly replies: { readonly size: number; readonly item: number; readonly error: number };
  /** Invalid requests, by reason (all answered with the error reply). */
  readonly invalid: Readonly<Record<Part1InvalidReason, number>>;
  /** Connections that failed before a reply could be written (reset, write error). */
  readonly failed: number;
  /** Errors of `accept()` (the listener stays open). */
  readonly acceptErrors: number;
}

/**
 * A running Part 1 tracker.
 *
 * @example Start and stop
 * ```ts ignore
 * import { serveTrackerPart1 } from "./server.ts";
 * const server = serveTrackerPart1({ port: 0 });
 * console.log(`listening on ${server.port}`);
 * await server.close();
 * ```
 */
export interface TrackerPart1Server {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** The bound port. */
  readonly port: number;
  /** Resolves once the listener and every connection are closed (after close or abort). */
  readonly done: Promise<void>;
  /** Stops accepting and closes every open connection; resolves like `done`. Idempotent. */
  close(): Promise<void>;
  /** A snapshot of the counters. */
  stats(): Part1ServerStats;
}

/** Bytes asked for per read. */
const READ_CHUNK = 4096;
/** The most bytes read and dropped while lingering after the reply. */
const LINGER_MAX_BYTES = 65536;
/** Margin of the hard per-connection deadline over request timeout + linger. */
const HARD_MARGIN_MS = 1000;
/** Pause after a failed accept (for example out of file descriptors). */
const ACCEPT_RETRY_MS = 50;
/** Bound on reads and timer wake-ups per connection (a guard; the deadlines end it earlier). */
const MAX_ROUNDS = 100_000;

function checkInt(name: string, value: number, min: number, max: number): number {
  return checkIntIn(name, value, min, max, "serve the tracker");
}

/**
 * Starts the Part 1 tracker: binds now (synchronously), serves until closed or aborted.
 *
 * @param options Address, database, limits, callbacks.
 * @returns The running tracker.
 * @throws {ServiceStartError} When the port cannot be bound (in use, permission, address).
 * @throws {RangeError} When an option is out of range (before anything is bound).
 *
 * @example Serve on a free port and fetch the size
 * ```ts ignore
 * import { serveTrackerPart1 } from "./server.ts";
 * import { exchangePart1 } from "./client.ts";
 * const server = serveTrackerPart1({ port: 0 });
 * const reply = await exchangePart1(`127.0.0.1:${server.port}`, { type: "size" });
 * console.assert(reply.type === "size" && reply.count === 16);
 * await server.close();
 * ```
 */
export function serveTrackerPart1(options: ServeTrackerPart1Options = {}): TrackerPart1Server {
  const {
    hostname = "127.0.0.1",
    port = 7777,
    db = DEFAULT_DB,
    maxConnections = 256,
    lingerMs = 1000,
    signal,
    serviceName = "tracker",
    onExchange,
    ...connOptions
  } = options;
  checkInt("maxConnections", maxConnections, 1, 65536);
  checkInt("lingerMs", lingerMs, 0, 60_000);
  checkInt("port", port, 0, 65535);
  new Part1ServerConn(0, connOptions); // validates the connection options before binding
  const requestTimeoutMs = connOptions.requestTimeoutMs ?? 5000;
  const listener = listenTcp(serviceName, { hostname, port });
  return new Server(listener, {
    db,
    maxConnections,
    lingerMs,
    hardMs: requestTimeoutMs + lingerMs + HARD_MARGIN_MS,
    connOptions,
    signal,
    onExchange,
  });
}

interface ServerConfig {
  db: Part1Db;
  maxConnections: number;
  lingerMs: number;
  hardMs: number;
  connOptions: Part1ServerConnOptions;
  signal: AbortSignal | undefined;
  onExchange: ((exchange: Part1Exchange) => void) | undefined;
}

class Server implements TrackerPart1Server {
  readonly addr: Deno.NetAddr;
  readonly done: Promise<void>;
  readonly #listener: Deno.TcpListener;
  readonly #config: ServerConfig;
  /** Closers of the open connections. */
  readonly #open = new Set<() => void>();
  #closing = false;
  #wakeAcceptor: () => void = () => {};
  #accepted = 0;
  #failed = 0;
  #acceptErrors = 0;
  #replies = { size: 0, item: 0, error: 0 };
  #invalid: Record<Part1InvalidReason, number> = {
    raw: 0,
    pickle: 0,
    type: 0,
    truncated: 0,
    "too-large": 0,
    timeout: 0,
  };

  constructor(listener: Deno.TcpListener, config: ServerConfig) {
    this.#listener = listener;
    this.#config = config;
    this.addr = listener.addr;
    const onAbort = () => void this.close();
    config.signal?.addEventListener("abort", onAbort, { once: true });
    if (config.signal?.aborted) this.#stop();
    this.done = this.#acceptLoop().finally(() =>
      config.signal?.removeEventListener("abort", onAbort)
    );
  }

  get port(): number {
    return this.addr.port;
  }

  close(): Promise<void> {
    this.#stop();
    return this.done;
  }

  stats(): Part1ServerStats {
    return {
      accepted: this.#accepted,
      active: this.#open.size,
      replies: { ...this.#replies },
      invalid: { ...this.#invalid },
      failed: this.#failed,
      acceptErrors: this.#acceptErrors,
    };
  }

  #stop(): void {
    if (this.#closing) return;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const close of this.#open) close();
    this.#wakeAcceptor();
  }

  async #acceptLoop(): Promise<void> {
    const running = new Set<Promise<void>>();
    while (!this.#closing) {
      if (this.#open.size >= this.#config.maxConnections) {
        await new Promise<void>((resolve) => this.#wakeAcceptor = resolve);
        continue;
      }
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closing || err instanceof Deno.errors.BadResource) break;
        this.#acceptErrors++;
        const pause = sleep(ACCEPT_RETRY_MS);
        this.#wakeAcceptor = pause.cancel;
        await pause.promise;
        pause.cancel();
        continue;
      }
      if (this.#closing) {
        conn.close();
        break;
      }
      this.#accepted++;
      const task = this.#serve(conn).finally(() => {
        running.delete(task);
        this.#wakeAcceptor();
      });
      running.add(task);
    }
    await Promise.all(running);
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const { db, hardMs, lingerMs, connOptions, onExchange } = this.#config;
    const started = performance.now();
    const remote = formatHostPort(conn.remoteAddr.hostname, conn.remoteAddr.port);
    let closed = false;
    const closeConn = () => {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch {
        // already closed
      }
    };
    this.#open.add(closeConn);
    const hard = setTimeout(closeConn, hardMs);
    const buf = new Uint8Array(READ_CHUNK);
    let read: Promise<number | null | typeof FAILED> | undefined;
    const nextRead = () => read ??= readOrFail(conn, buf);
    try {
      const core = new Part1ServerConn(started, connOptions);
      let event;
      for (let round = 0;; round++) {
        const e = core.nextEvent();
        if (e !== "needData") {
          event = e;
          break;
        }
        if (round >= MAX_ROUNDS || closed) {
          this.#failed++;
          return;
        }
        const timer = sleep(core.nextTimeout()! - performance.now());
        const got = await Promise.race([nextRead(), timer.promise]);
        timer.cancel();
        const now = performance.now();
        if (got === TIMER || got === CANCELLED) {
          core.handleTimeout(now);
          continue;
        }
        read = undefined;
        if (got === FAILED) { // reset by the client, or closed by us: no reply possible
          this.#failed++;
          return;
        }
        if (got === null) core.receiveEof(now);
        else core.receiveData(buf.subarray(0, got), now);
      }
      if (event === "paused") {
        this.#failed++;
        return;
      }
      const reply = answerRequest(db, event.request);
      const bytes = core.send(reply);
      let written = true;
      try {
        await writeAll(conn, bytes);
      } catch {
        written = false;
      }
      if (written) this.#replies[reply.type]++;
      else this.#failed++;
      if (event.request.type === "invalid") this.#invalid[event.request.reason]++;
      try {
        onExchange?.({
          remote,
          request: event.request,
          ...(event.protocol === undefined ? {} : { protocol: event.protocol }),
          reply,
          written,
          ms: performance.now() - started,
        });
      } catch {
        // a logging callback must not take the connection down
      }
      if (written && !closed) await this.#linger(conn, nextRead, () => read = undefined, lingerMs);
    } catch {
      this.#failed++; // never reaches the listener (F1)
    } finally {
      clearTimeout(hard);
      closeConn();
      if (read) await read;
      this.#open.delete(closeConn);
    }
  }

  /** Ends our side, then drops what the client still sends until it closes or time is up. */
  async #linger(
    conn: Deno.TcpConn,
    nextRead: () => Promise<number | null | typeof FAILED>,
    readDone: () => void,
    lingerMs: number,
  ): Promise<void> {
    try {
      await conn.closeWrite();
    } catch {
      return;
    }
    const deadline = performance.now() + lingerMs;
    let drained = 0;
    while (drained <= LINGER_MAX_BYTES) {
      const timer = sleep(deadline - performance.now());
      const got = await Promise.race([nextRead(), timer.promise]);
      timer.cancel();
      if (got === TIMER || got === CANCELLED) return;
      readDone();
      if (got === null || got === FAILED) return;
      drained += got;
    }
  }
}

/**
 * Reads and parses a database file (format: `db_file.ts`).
 *
 * @param path The file's path.
 * @returns The database.
 * @throws {SyntaxError} When the file breaks the format (the message names the line).
 * @throws {Error} When the file cannot be read or is larger than 1 MiB; the message names it.
 *
 * @example Load a database file
 * ```ts ignore
 * import { readPart1DbFile } from "./server.ts";
 * const db = await readPart1DbFile("tracker-db.txt");
 * console.log(db.message);
 * ```
 */
export async function readPart1DbFile(path: string): Promise<Part1Db> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("not a regular file");
    if (info.size > MAX_DB_FILE_BYTES) throw new Error(`larger than ${MAX_DB_FILE_BYTES} bytes`);
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(`Cannot read the db file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseDbFile(bytes, path);
}
