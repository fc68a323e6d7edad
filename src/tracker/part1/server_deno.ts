/**
 * The Part 1 tracker over real TCP: {@linkcode serveTrackerPart1} binds, then runs one
 * {@linkcode Part1ServerCore} (a table of `Part1ServerConn`s, see `server_core.ts`)
 * through the one TCP driver (`src/net/tcp_driver.ts`); it only moves bytes and time.
 *
 * Where the original breaks (spec §4), this adapter does not:
 * - every connection is isolated: a reset, a failed write or any other error ends that
 *   connection only, never the listener (F1); accept errors (e.g. out of file descriptors) are
 *   counted and retried after a short pause;
 * - the listener reuses its address (Deno sets `SO_REUSEADDR` on Unix), so a restart binds the
 *   same port at once even with connections in TIME_WAIT (F2);
 * - connections are served concurrently, up to `maxConnections` at a time (up to `maxWaiting`
 *   more wait for a slot, unread; further ones are closed at once); a request must be complete
 *   within `requestTimeoutMs`, and a connection lives at most `requestTimeoutMs + lingerMs + 1 s`
 *   from the start of its service whatever the client does (F5, F7);
 * - requests are read incrementally up to the size cap and decoded by the safe decoder (F3, F5).
 *
 * After the reply to a request that came alone the tracker closes at once, as the original does.
 * After one followed by more bytes, or an invalid one, it ends its side (FIN) and waits up to
 * `lingerMs` for the client to close, reading and dropping what it still sends, so that unread
 * bytes never turn the close into a reset that could destroy the reply in flight.
 *
 * @module
 */

import { listenTcp } from "../../node/mod.ts";
import { TcpDriver } from "../../net/mod.ts";
import type { Part1Db } from "./db.ts";
import { MAX_DB_FILE_BYTES, parseDbFile } from "./db_file.ts";
import {
  type Part1Exchange,
  Part1ServerCore,
  type Part1ServerCoreOptions,
  type Part1ServerStats,
} from "./server_core.ts";
import { checkInt } from "../../util/mod.ts";

export { describeExchange, type Part1Exchange, type Part1ServerStats } from "./server_core.ts";

/**
 * Options of {@linkcode serveTrackerPart1}: where to listen, plus the core's options (database,
 * `maxConnections`, `maxWaiting`, `lingerMs`, framing and request timeout).
 */
export interface ServeTrackerPart1Options extends Part1ServerCoreOptions {
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
  /** Abort to stop: the listener and every open connection close at once. */
  signal?: AbortSignal;
  /**
   * The name in bind errors.
   *
   * @default "tracker"
   */
  serviceName?: string;
  /**
   * Called once per exchange when its connection ends (see {@linkcode Part1Exchange.written}),
   * for logs. Must not throw.
   */
  onExchange?: (exchange: Part1Exchange) => void;
}

/**
 * A running Part 1 tracker.
 *
 * @example Start and stop
 * ```ts ignore
 * import { serveTrackerPart1 } from "./server_deno.ts";
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
 * import { serveTrackerPart1 } from "./server_deno.ts";
 * import { exchangePart1 } from "./client_deno.ts";
 * import assert from "node:assert/strict";
 * const server = serveTrackerPart1({ port: 0 });
 * const reply = await exchangePart1(`127.0.0.1:${server.port}`, { type: "size" });
 * assert.deepEqual(reply, { type: "size", count: 16 });
 * await server.close();
 * ```
 */
export function serveTrackerPart1(
  options: ServeTrackerPart1Options = {},
): TrackerPart1Server {
  const {
    hostname = "127.0.0.1",
    port = 7777,
    signal,
    serviceName = "tracker",
    onExchange,
    ...coreOptions
  } = options;
  checkInt("port", port, 0, 65535, "serve the tracker");
  const core = new Part1ServerCore(coreOptions); // validates the options before binding
  const listener = listenTcp(serviceName, { hostname, port });
  const addr = listener.addr;
  const report = () => {
    for (let e = core.pollEvent(); e; e = core.pollEvent()) {
      try {
        onExchange?.(e);
      } catch {
        // a logging callback must not take the tracker down
      }
    }
  };
  // The core is stopped first, so that lingering exchanges are reported before the driver
  // closes their sockets; this listener is added before the driver's own.
  let stopped = false;
  const stopCore = () => {
    if (stopped) return;
    stopped = true;
    core.stop(performance.now());
    report();
  };
  signal?.addEventListener("abort", stopCore, { once: true });
  if (signal?.aborted) stopCore();
  const driver = new TcpDriver({
    core,
    listener,
    signal,
    readBytes: READ_CHUNK,
    lendReads: true, // the core copies what it keeps of a read (Part1ServerConn.receive)
    onProgress: report,
  });
  const done = driver.done.finally(() => signal?.removeEventListener("abort", stopCore));
  return {
    addr,
    port: addr.port,
    done,
    close() {
      stopCore();
      driver.close();
      return done;
    },
    stats: () => ({ ...core.stats(), acceptErrors: driver.stats.acceptErrors }),
  };
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
 * import { readPart1DbFile } from "./server_deno.ts";
 * const db = await readPart1DbFile("tracker-db.txt");
 * console.log(db.message);
 * ```
 */
export async function readPart1DbFile(path: string): Promise<Part1Db> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("not a regular file");
    if (info.size > MAX_DB_FILE_BYTES) {
      throw new Error(`larger than ${MAX_DB_FILE_BYTES} bytes`);
    }
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(
      `Cannot read the db file ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return parseDbFile(bytes, path);
}
