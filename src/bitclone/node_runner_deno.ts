/**
 * One live BitClone peer: listens on TCP, loads the saved address book, builds the node core
 * ({@linkcode PeerNode}) with the real clock and OS entropy, and runs it on the one TCP driver
 * through {@linkcode drivePeerNode} until its signal aborts. Both `bitclone peer` and the node's `peer`
 * service start peers through {@linkcode startPeerNode}.
 *
 * @module
 */
import { checkWritable } from "../node/mod.ts";
import { resolveHostPort } from "../net/mod.ts";
import { listenTcp } from "../node/mod.ts";
import { prngFromEntropy } from "../util/mod.ts";
import { type Logger, serviceLogger } from "../util/mod.ts";
import type { Prng } from "../util/mod.ts";
import { formatPeerAddress, parsePeerAddress } from "./address.ts";
import { PeerNode, type PeerNodeOptions } from "./peer_node.ts";
import type { PeerNodeStatus, SavedPeer } from "./peer_node_types.ts";
import { loadPeersFile, peersFileSaver } from "./peers_store_deno.ts";
import { drivePeerNode, type PeerDriverStats } from "./tcp_adapter_deno.ts";

/** The BitClone peer's default TCP port. */
export const DEFAULT_PEER_PORT = 8333;
/** The default data directory, in the working directory (ignored by git). */
export const DEFAULT_DATA_DIR = "data";
/** The name of the address book file in a data directory. */
export const PEERS_FILE_NAME = "peers.json";
/** The default address book file: `peers.json` in the default data directory. */
export const DEFAULT_PEERS_FILE = `${DEFAULT_DATA_DIR}/${PEERS_FILE_NAME}`;
/** The default seed list, in the working directory: the committed `peers.json`, only ever read. */
export const DEFAULT_SEEDS_FILE = "peers.json";

/**
 * The address book file in data directory `dir`.
 *
 * @example
 * ```ts
 * import { peersFileIn } from "./node_runner_deno.ts";
 * import assert from "node:assert/strict";
 * assert.equal(peersFileIn("/var/lib/bitclone/"), "/var/lib/bitclone/peers.json");
 * ```
 */
export function peersFileIn(dir: string): string {
  return `${dir.replace(/(?<=.)\/+$/, "")}/${PEERS_FILE_NAME}`.replace(/^\/\//, "/");
}

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
   * The address book file, read at start and written atomically (its directory is created at
   * start; a warning says at once when it cannot be written); `null`: none.
   *
   * @default {"data/peers.json"}
   */
  peersFile?: string | null;
  /**
   * A seed list in the same format, read at start (never written): its addresses join the book.
   * A missing file is no seeds; a damaged one is reported and not used. `null`: none.
   *
   * @default {null}
   */
  seedsFile?: string | null;
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
  /**
   * Turns a manual peer's `name:port` into `ip:port` (see {@linkcode resolveManualPeers}).
   *
   * @default {resolveHostPort}
   */
  resolveHost?: (hostPort: string) => Promise<string>;
}

/** A DNS host name and a port (labels of letters, digits and inner hyphens). */
const HOST_NAME_PORT =
  /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?):(\d{1,5})$/;

/**
 * Resolves the host names among command-line peers, once, before the node core (which takes IP
 * addresses only) starts: `name:port` becomes `ip:port` (IPv4 first; `localhost` is 127.0.0.1
 * without asking DNS) and is logged at info; a name that does not resolve is logged at warn and
 * left out. IP literals and anything else pass through unchanged (the core skips unusable text
 * with a warning).
 *
 * @param peers The command-line peers.
 * @param log Where to log.
 * @param resolve `host:port` → `ip:port`; throws when the name has no address.
 * @returns The peers to give the core.
 * @example A name resolved by a stand-in resolver
 * ```ts
 * import { resolveManualPeers } from "./node_runner_deno.ts";
 * import assert from "node:assert/strict";
 * const log = { info() {}, warn() {} } as unknown as import("../util/log_deno.ts").Logger;
 * const peers = await resolveManualPeers(["lab7:8333", "10.0.0.5:8333"], log, async () => "10.0.0.7:8333");
 * assert.equal(peers.join(" "), "10.0.0.7:8333 10.0.0.5:8333");
 * ```
 */
export async function resolveManualPeers(
  peers: readonly string[],
  log: Logger,
  resolve: (hostPort: string) => Promise<string> = resolveHostPort,
): Promise<string[]> {
  const out: string[] = [];
  for (const raw of peers) {
    if (typeof raw !== "string" || parsePeerAddress(raw) !== undefined) {
      out.push(raw);
      continue;
    }
    const m = HOST_NAME_PORT.exec(raw);
    if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      out.push(raw);
      continue;
    }
    let address;
    let why = "no address";
    try {
      address = parsePeerAddress(await resolve(raw));
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    if (address === undefined) {
      log.warn("manual peer {peer} skipped: cannot resolve {name} ({reason})", {
        peer: raw,
        name: m[1],
        reason: why,
      });
      continue;
    }
    const text = formatPeerAddress(address);
    log.info("manual peer {peer} resolved to {address}", { peer: raw, address: text });
    out.push(text);
  }
  return out;
}

/** A running peer. */
export interface RunningPeerNode {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  /** The node core (read its state; the adapter alone drives it). */
  readonly core: PeerNode;
  /**
   * Resolves once the peer stopped after its signal aborted, its last save done and logged
   * (`address book saved to FILE` only once the rename succeeded). Never rejects.
   */
  readonly done: Promise<void>;
  /** Why the last save of the address book failed, or `undefined` (after `done`: saved at exit). */
  saveError(): unknown;
  /** Connection and address counts. */
  status(): PeerNodeStatus;
  /** The adapter's counters. */
  stats(): PeerDriverStats;
  /** What the status service shows: counts, every connection, the adapter's counters. */
  snapshot(): PeerServiceStatus;
}

/** One connection in {@linkcode PeerServiceStatus}. */
export type PeerConnectionStatus = {
  /** Who dialed. */
  direction: "inbound" | "outbound";
  /** `dialing`, `handshaking` or `established`. */
  state: "dialing" | "handshaking" | "established";
  /** The peer's identity (`ip:port` it listens on), when known. */
  address: string | null;
  /** The socket's remote end, when known. */
  remote: string | null;
  /** The peer's user agent, once established. */
  userAgent: string | null;
  /** The peer's protocol version, once established. */
  version: number | null;
  /** A manual (command-line or config) peer. */
  manual: boolean;
  /** Seconds since the connection was accepted or dialed. */
  ageSec: number;
};

/** The peer service's snapshot for the status service (`peer` in `/status.json`). */
export type PeerServiceStatus = {
  /** The TCP port it listens on. */
  port: number;
  /** Established inbound connections. */
  inbound: number;
  /** Established outbound connections. */
  outbound: number;
  /** Dials and handshakes under way. */
  pending: number;
  /** Addresses in the address book. */
  known: number;
  /** Of those, addresses in the tried table. */
  tried: number;
  /** Every connection, oldest first. */
  connections: PeerConnectionStatus[];
  /** The adapter's counters (bytes, accepts, dials, saves). */
  counters: PeerDriverStats;
};

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
 * import { startPeerNode } from "./node_runner_deno.ts";
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
    seedsFile = null,
    signal,
    log = serviceLogger("peer"),
    serviceName = "peer",
    prng = prngFromEntropy(),
    maxSockets,
    stopTimeoutMs,
    resolveHost,
    ...nodeOptions
  } = options;
  const listener = listenTcp(serviceName, { hostname, port });
  let lastSaveError: unknown;
  let savedAtStop: number | undefined;
  try {
    let savedPeers: NonNullable<PeerNodeOptions["savedPeers"]> = [];
    let save: ((peers: readonly SavedPeer[]) => Promise<void>) | undefined;
    if (peersFile !== null) {
      const loaded = await loadPeersFile(peersFile);
      for (const warning of loaded.warnings) log.warn("{warning}", { warning });
      savedPeers = loaded.peers;
      const why = await checkWritable(peersFile);
      if (why !== undefined) {
        log.warn("the address book {file} cannot be saved: {why}", { file: peersFile, why });
      }
      const write = peersFileSaver(peersFile, loaded.missing ? undefined : loaded.text);
      save = async (peers) => {
        try {
          const wrote = await write(peers);
          lastSaveError = undefined;
          if (wrote) {
            if (signal?.aborted) savedAtStop = peers.length;
            log.debug("address book written to {file} ({n} addresses)", {
              file: peersFile,
              n: peers.length,
            });
          }
        } catch (err) {
          lastSaveError = err ?? new Error("save failed");
          throw err;
        }
      };
    }
    if (seedsFile !== null && !samePath(seedsFile, peersFile)) {
      const seeds = await loadPeersFile(seedsFile, { readOnly: true });
      for (const warning of seeds.warnings) log.warn("{warning}", { warning });
      const known = new Set(savedPeers.map((p) => p.address));
      const fresh = seeds.peers.filter((p) => !known.has(p.address));
      savedPeers = [...savedPeers, ...fresh];
      if (fresh.length > 0) {
        log.info("{n} seed addresses from {file}", { n: fresh.length, file: seedsFile });
      }
    }
    const manualPeers = Array.isArray(nodeOptions.manualPeers)
      ? await resolveManualPeers(nodeOptions.manualPeers, log, resolveHost)
      : nodeOptions.manualPeers;
    const now = performance.now();
    const core = new PeerNode({
      ...nodeOptions,
      manualPeers,
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
      done: driver.done.then(() => {
        if (save === undefined) return;
        if (lastSaveError !== undefined) {
          log.error("address book NOT saved to {file}: {error}", {
            file: peersFile,
            error: lastSaveError instanceof Error ? lastSaveError.message : String(lastSaveError),
          });
        } else if (savedAtStop !== undefined) {
          log.info("address book saved to {file} ({n} addresses)", {
            file: peersFile,
            n: savedAtStop,
          });
        } else log.info("address book {file} unchanged", { file: peersFile });
      }),
      saveError: () => lastSaveError,
      status: () => core.status(),
      stats: () => driver.stats(),
      snapshot: () => peerSnapshot(core, listener.addr.port, driver.stats(), performance.now()),
    };
  } catch (err) {
    listener.close();
    throw err;
  }
}

function peerSnapshot(
  core: PeerNode,
  port: number,
  counters: PeerDriverStats,
  now: number,
): PeerServiceStatus {
  const connections = core.connections()
    .sort((a, b) => a.since - b.since)
    .map((c): PeerConnectionStatus => ({
      direction: c.direction,
      state: c.state,
      address: c.address ?? null,
      remote: c.remote ?? null,
      userAgent: c.userAgent ?? null,
      version: c.version ?? null,
      manual: c.manual,
      ageSec: Math.max(0, Math.round((now - c.since) / 100) / 10),
    }));
  return { port, ...core.status(), connections, counters };
}

/** Whether two paths name the same file, as far as their spelling tells (`./a` is `a`). */
function samePath(a: string, b: string | null): boolean {
  if (b === null) return false;
  const norm = (p: string) => p.replace(/^(?:\.\/)+/, "").replace(/\/{2,}/g, "/");
  return norm(a) === norm(b);
}
