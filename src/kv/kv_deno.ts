/**
 * Runs a key-value node ({@linkcode KvNode}) live: the one UDP driver on the discovery socket and
 * the one TCP driver on the request listener, both on the same core, and the durable log
 * (`durable_log_deno.ts`) behind its `persist` actions. On abort it stops announcing, waits for
 * the writes under way to reach the disk, and closes.
 *
 * @module
 */

import { TcpDriver, UdpDriver } from "../net/mod.ts";
import { type Logger, prngFromEntropy } from "../util/mod.ts";
import { kvEventLogger } from "./describe.ts";
import { KvLog, readOrCreateName } from "./durable_log_deno.ts";
import { type KvEvent, KvNode, type PersistAction } from "./node_core.ts";
import type { RecoveryEvent } from "./types.ts";

export type { RecoveryEvent };

/** Connections held at once, accepted and outgoing (the core bounds its own kinds below it). */
const CONNECTIONS_MAX = 2048;

/** Options of {@linkcode serveKv}. */
export interface ServeKvOptions {
  /** Address both sockets bind. @default {"0.0.0.0"} */
  hostname?: string;
  /** TCP request port (0: any). @default {9000} */
  tcpPort?: number;
  /** UDP discovery port (0: any). @default {8888} */
  udpPort?: number;
  /** The IP (or `ip:port`) to advertise. @default {the first non-internal IPv4 address} */
  advertise?: string;
  /** Our `node_name`. @default {the one saved in the data directory, else `ts-` + 16 hex digits} */
  name?: string;
  /** Where the log lives; required unless `memory`. */
  dataDir?: string;
  /** Keep nothing on disk (as the original). @default {false} */
  memory?: boolean;
  /** UDP addresses that get our Handshake by unicast too. */
  seeds?: readonly string[];
  /** Where Handshakes are broadcast. @default {the interface's directed broadcast, port `udpPort`} */
  broadcast?: readonly string[];
  /** Let other processes bind the same UDP port (several nodes on one host). @default {false} */
  reuseUdpPort?: boolean;
  /** fsync each commit. @default {true} */
  fsync?: boolean;
  /** Announcement period. @default {5000} */
  announceMs?: number;
  /** Abort to stop. */
  signal?: AbortSignal;
  /** Receives the node's events (joins, deaths, drops) and recovery notes. */
  onEvent?: (event: KvEvent | RecoveryEvent) => void;
}

/** A running node. */
export interface KvServer {
  readonly node: KvNode;
  readonly name: string;
  readonly advertise: string;
  readonly tcpPort: number;
  readonly udpPort: number;
  /** Resolves once stopped (writes under way saved, sockets closed). */
  readonly done: Promise<void>;
}

/**
 * Starts a node: recovers the log, listens on TCP then UDP, and announces.
 *
 * @example
 * ```ts ignore
 * const ac = new AbortController();
 * const kv = await serveKv({ tcpPort: 0, udpPort: 0, memory: true, signal: ac.signal });
 * ac.abort();
 * await kv.done;
 * ```
 */
export async function serveKv(options: ServeKvOptions): Promise<KvServer> {
  const hostname = options.hostname ?? "0.0.0.0";
  const memory = options.memory ?? false;
  if (!memory && options.dataDir === undefined) {
    throw new TypeError("Cannot start the key-value store: no data directory (or --memory)");
  }
  const prng = prngFromEntropy();
  let log: KvLog | undefined;
  let recovered: RecoveryEvent | undefined;
  let entries: Parameters<typeof KvLog.prototype.append>[0] = [];
  let clock = 0;
  let unlock = async () => {};
  if (!memory) {
    unlock = await lockDataDir(options.dataDir!);
    const opened = await KvLog.open(options.dataDir!, { fsync: options.fsync ?? true })
      .catch(async (err) => {
        await unlock();
        throw err;
      });
    log = opened.log;
    const r = opened.recovered;
    entries = r.entries;
    clock = r.maxClock;
    recovered = {
      type: "recovered",
      keys: r.entries.length,
      clock,
      droppedRecords: r.droppedRecords,
      droppedBytes: r.droppedBytes,
      problems: r.problems,
    };
  }
  const makeName = () =>
    `ts-${[...prng.bytes(8)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  const name = options.name ??
    (memory ? makeName() : await readOrCreateName(options.dataDir!, makeName));

  const listener = Deno.listen({ hostname, port: options.tcpPort ?? 9000, transport: "tcp" });
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram(
      {
        transport: "udp",
        hostname,
        port: options.udpPort ?? 8888,
        reuseAddress: options.reuseUdpPort ?? false,
      } as Deno.UdpListenOptions & { transport: "udp" },
    );
  } catch (err) {
    listener.close();
    await log?.close();
    await unlock();
    throw err;
  }
  const tcpPort = (listener.addr as Deno.NetAddr).port;
  const udpPort = (socket.addr as Deno.NetAddr).port;
  // bound to one IPv4 address: that is the one to advertise, unless told otherwise
  const bound = /^\d+\.\d+\.\d+\.\d+$/.test(hostname) && hostname !== "0.0.0.0"
    ? hostname
    : undefined;
  const iface = pickInterface(options.advertise ?? bound);
  const advertise = options.advertise?.includes(":")
    ? options.advertise
    : `${iface.address}:${tcpPort}`;
  const broadcast = options.broadcast ?? [`${iface.broadcast}:${udpPort}`];

  const start = performance.now();
  const node = new KvNode({
    name,
    advertise,
    boot: Date.now(),
    broadcast,
    seeds: options.seeds,
    prng,
    entries,
    clock,
    durable: !memory,
    now: start,
    epochOffsetMs: Date.now() - start,
    announceMs: options.announceMs,
  });
  if (recovered) options.onEvent?.(recovered);

  let pumping = false;
  const drivers: { udp?: UdpDriver; tcp?: TcpDriver<PersistAction> } = {};
  const progress = () => {
    for (let e = node.pollEvent(); e; e = node.pollEvent()) options.onEvent?.(e);
    if (pumping) return;
    pumping = true;
    try {
      drivers.udp?.pump();
      drivers.tcp?.pump();
    } finally {
      pumping = false;
    }
  };
  const inFlight = new Set<Promise<void>>();
  const persist = (a: PersistAction) => {
    const p = log!.append(a.entries).then(
      () => node.handlePersisted(a.id, true, performance.now()),
      () => node.handlePersisted(a.id, false, performance.now()),
    ).finally(() => {
      inFlight.delete(p);
      progress();
    });
    inFlight.add(p);
  };
  const tcp = new TcpDriver<PersistAction>({
    core: node,
    listener,
    onAction: persist,
    onProgress: progress,
    connectionsMax: CONNECTIONS_MAX,
  });
  const udp = new UdpDriver({ socket, core: node, onProgress: progress });
  drivers.tcp = tcp;
  drivers.udp = udp;
  udp.pump();

  const done = new Promise<void>((resolve) => {
    const stop = async () => {
      node.stop();
      for (let i = 0; i < 100 && inFlight.size > 0; i++) await Promise.allSettled([...inFlight]);
      await tcp.flushed();
      tcp.close();
      udp.close();
      await Promise.allSettled([tcp.done, udp.done]);
      await log?.close();
      await unlock();
      resolve();
    };
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener("abort", stop, { once: true });
  });
  return { node, name, advertise, tcpPort, udpPort, done };
}

/** The interface to advertise and broadcast on: the one holding `advertise`, or the first non-internal IPv4. */
function pickInterface(advertise: string | undefined): { address: string; broadcast: string } {
  const ip = advertise === undefined ? undefined : advertise.replace(/:\d+$/, "");
  let list: Deno.NetworkInterfaceInfo[] = [];
  if (canListInterfaces()) {
    try {
      list = Deno.networkInterfaces().filter((i) => i.family === "IPv4");
    } catch {
      // not supported here: loopback only
    }
  }
  const found = ip === undefined
    ? list.find((i) => !i.address.startsWith("127."))
    : list.find((i) => i.address === ip);
  if (found === undefined) {
    const address = ip ?? "127.0.0.1";
    return {
      address,
      broadcast: address.startsWith("127.") ? "127.255.255.255" : "255.255.255.255",
    };
  }
  return { address: found.address, broadcast: directedBroadcast(found.address, found.netmask) };
}

/**
 * Whether `Deno.networkInterfaces()` is allowed (`--allow-sys=networkInterfaces`); asked without a
 * prompt. Without it a node cannot find its address or its broadcast address: it advertises
 * `127.0.0.1` and announces to this host only, unless given `--advertise`.
 */
function canListInterfaces(): boolean {
  return Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" }).state === "granted";
}

/** `10.0.0.5` with `255.255.255.0` gives `10.0.0.255`. */
export function directedBroadcast(address: string, netmask: string): string {
  const a = address.split(".").map(Number);
  const m = netmask.split(".").map(Number);
  return a.map((x, i) => (x | (~m[i] & 255)) & 255).join(".");
}

/**
 * Claims `dir` for this process with an exclusive lock on its `kv.lock` file (which also holds the
 * pid, for people), so that two nodes never write one log. The operating system releases the lock
 * when the process ends, however it ends (`kill -9` included).
 *
 * @returns A function that releases the lock.
 * @throws {Error} When another process holds it.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/kv.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } catch (err) {
    file.close();
    throw err;
  }
  if (!locked) {
    const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
    file.close();
    throw new Error(
      `the data directory ${dir} is in use by another process${holder ? ` (pid ${holder})` : ""}`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return async () => {
    try {
      await file.unlock();
    } finally {
      file.close();
    }
  };
}

/**
 * The node's events and its recovery report as lines of `log` (member changes always; dropped
 * messages throttled).
 *
 * @example
 * ```ts ignore
 * const kv = await serveKv({ memory: true, onEvent: kvEventLog(log) });
 * ```
 */
export function kvEventLog(log: Logger): (event: KvEvent | RecoveryEvent) => void {
  return kvEventLogger((level, text) => log[level]("{text}", { text }), () => performance.now());
}
