/**
 * One live BitClone peer: listens on TCP, loads the saved address book, builds the node core
 * ({@linkcode PeerNode}) with the real clock and OS entropy, and drives it with
 * {@linkcode drivePeerNode} until its signal aborts. Both `bitclone peer` and the node's `peer`
 * service start peers through {@linkcode startPeerNode}.
 *
 * @module
 */
import { listenTcp } from "../node/listen.ts";
import { prngFromEntropy } from "../util/entropy.ts";
import { type Logger, serviceLogger } from "../util/log.ts";
import type { Prng } from "../util/prng.ts";
import { PeerNode, type PeerNodeOptions } from "./peer_node.ts";
import type { PeerNodeStatus } from "./peer_node_types.ts";
import { loadPeersFile, peersFileSaver } from "./peers_store.ts";
import { drivePeerNode, type PeerDriverStats } from "./tcp_adapter.ts";

/** The BitClone peer's default TCP port. */
export const DEFAULT_PEER_PORT = 8333;
/** The default address book file, in the working directory. */
export const DEFAULT_PEERS_FILE = "peers.json";

/**
 * Options of {@linkcode startPeerNode}: where to listen and the address book file, the adapter's
 * limits, and every option of {@linkcode PeerNode} except those the runner supplies (`now`,
 * `listenPort`, `savedPeers`, `unixMillisOffset`; `prng` is optional here).
 */
export interface StartPeerNodeOptions
  extends Omit<PeerNodeOptions, "prng" | "now" | "listenPort" | "savedPeers" | "unixMillisOffset"> {
  /**
   * The address to bind.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * The TCP port (0: any free port; the one chosen is advertised).
   *
   * @default {8333}
   */
  port?: number;
  /**
   * The address book file, read at start and written atomically; `null`: none.
   *
   * @default {"peers.json"}
   */
  peersFile?: string | null;
  /**
   * Abort to stop: connections closed, the book saved, within `stopTimeoutMs`.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The logger for the node's lines.
   *
   * @default {serviceLogger("peer")}
   */
  log?: Logger;
  /**
   * The name in start errors (`peer: cannot listen on …`).
   *
   * @default {"peer"}
   */
  serviceName?: string;
  /**
   * Randomness for the core (nonces, the book's key, peer choice).
   *
   * @default {prngFromEntropy()}
   */
  prng?: Prng;
  /**
   * Sockets the adapter holds at once (see {@linkcode drivePeerNode}).
   *
   * @default {1024}
   */
  maxSockets?: number;
  /**
   * How long a stop may take.
   *
   * @default {1500}
   */
  stopTimeoutMs?: number;
}

/** A running peer. */
export interface RunningPeerNode {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** The node core (read its state; the adapter alone drives it). */
  readonly core: PeerNode;
  /** Resolves once the peer stopped after its signal aborted. Never rejects. */
  readonly done: Promise<void>;
  /** Connection and address counts. */
  status(): PeerNodeStatus;
  /** The adapter's counters. */
  stats(): PeerDriverStats;
}

/**
 * Starts a peer.
 *
 * @param options Where to listen, the address book file, the core's options.
 * @returns The running peer once it listens.
 * @throws {ServiceStartError} When the port cannot be bound (in use, not permitted).
 * @throws {RangeError} When an option is out of range (from the core or the adapter).
 *
 * @example A peer on a free port that dials one manual peer
 * ```ts ignore
 * import { startPeerNode } from "./node_runner.ts";
 * const controller = new AbortController();
 * const peer = await startPeerNode({
 *   hostname: "127.0.0.1", port: 0, peersFile: null, manualPeers: ["127.0.0.1:8333"],
 *   signal: controller.signal,
 * });
 * console.log(`listening on ${peer.port}`, peer.status());
 * controller.abort();
 * await peer.done;
 * ```
 */
export async function startPeerNode(options: StartPeerNodeOptions = {}): Promise<RunningPeerNode> {
  const {
    hostname = "0.0.0.0",
    port = DEFAULT_PEER_PORT,
    peersFile = DEFAULT_PEERS_FILE,
    signal,
    log = serviceLogger("peer"),
    serviceName = "peer",
    prng = prngFromEntropy(),
    maxSockets,
    stopTimeoutMs,
    ...nodeOptions
  } = options;
  const listener = listenTcp(serviceName, { hostname, port });
  try {
    let savedPeers: PeerNodeOptions["savedPeers"] = [];
    let save:
      | ((peers: Parameters<ReturnType<typeof peersFileSaver>>[0]) => Promise<void>)
      | undefined;
    if (peersFile !== null) {
      const loaded = await loadPeersFile(peersFile);
      for (const warning of loaded.warnings) log.warn("{warning}", { warning });
      savedPeers = loaded.peers;
      save = peersFileSaver(peersFile, loaded.missing ? undefined : loaded.text);
    }
    const now = performance.now();
    const core = new PeerNode({
      ...nodeOptions,
      prng,
      now,
      listenPort: listener.addr.port,
      savedPeers,
      unixMillisOffset: Date.now() - now,
    });
    const driver = drivePeerNode(core, {
      listener,
      signal,
      log,
      save,
      maxSockets,
      stopTimeoutMs,
    });
    return {
      hostname,
      port: listener.addr.port,
      core,
      done: driver.done,
      status: () => core.status(),
      stats: () => driver.stats(),
    };
  } catch (err) {
    listener.close();
    throw err;
  }
}
