/**
 * A reusable simulator harness for BitClone `PeerNode`s (not a test file): each node runs on the
 * simulator's stream host (`SimStreamHost`, the simulated counterpart of the one TCP driver), which
 * carries out its `connect` (with its timeout), `write` and `close` actions, feeds accepted
 * connections, bytes, end of stream and errors back in, and keeps one timer armed at
 * `nextTimeout()`; the harness keeps its `save` and `log` actions. Nodes can be started, crashed (silently cut off: their links stall, new
 * connects time out), stopped cleanly (shutdown, final save) and restarted from their last save.
 *
 * @module
 */

import {
  formatPeerAddress,
  parsePeerAddress,
  type PeerAddress,
} from "../../src/bitclone/address.ts";
import {
  PeerNode,
  type PeerNodeConnection,
  type PeerNodeOptions,
} from "../../src/bitclone/peer_node.ts";
import type { PeerNodeOwnAction, SavedPeer } from "../../src/bitclone/peer_node_types.ts";
import { type LinkOptions, SimNet, SimStreamHost } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";

/** Unix ms at virtual time 0. */
export const SIM_UNIX_MS_AT_ZERO = 1_700_000_000_000;

/**
 * `n` listening addresses for a lab-like network: IPv4 `10.x.0.1`/`10.x.0.2` (two hosts per /16
 * network group) and every fifth host on IPv6 (`[fd00:i::1]`, its own /32), all on port 8333.
 * Spread over many groups on purpose (diversity for the keyed buckets of spec §C.7);
 * `sim_lab_test.ts` covers networks on a single range.
 */
export function simPeerAddresses(n: number): string[] {
  return Array.from(
    { length: n },
    (
      _,
      i,
    ) => (i % 5 === 4 ? `[fd00:${i.toString(16)}::1]:8333` : `10.${i >> 1}.0.${1 + (i & 1)}:8333`),
  );
}

/** How many of `addresses` (other than its own) a host's address book holds. */
export function knownCount(host: SimPeerHost, addresses: readonly string[]): number {
  return addresses.filter((a) => a !== host.address && host.node.addressBook.get(a) !== undefined)
    .length;
}

/** Options for {@linkcode SimPeers}. */
export interface SimPeersOptions {
  /** The run's seed: network faults, node keys, nonces and choices all derive from it. */
  seed: number;
  /** Link options for every stream (delay, chunking). Default: 1–40 ms, chunks ≤ 512 bytes. */
  links?: LinkOptions;
  /** Options every node gets (each `start()` may override). */
  nodeDefaults?: Partial<PeerNodeOptions>;
  /** Log lines kept per node (the most recent). Default 400. */
  logLimit?: number;
}

/** One simulated host: its node on the simulator's stream host, and what it saved and logged. */
export class SimPeerHost {
  /** The listening address (canonical `ip:port`). */
  readonly address: string;
  /** The parsed listening address. */
  readonly listen: PeerAddress;
  /** The node core. */
  readonly node: PeerNode;
  /** The `peers` of the last `save` action, if any. */
  lastSave: SavedPeer[] | undefined;
  /** How many `save` actions were emitted. */
  saves = 0;
  /** Recent log lines: `<ms> <level> <message>`. */
  readonly logs: string[] = [];
  /** The `dropped …` log lines (connections dropped, with the reason), the last 2000. */
  readonly drops: string[] = [];
  /** Every log message of level info or above, counted by its first two words. */
  readonly logCounts = new Map<string, number>();
  readonly #net: SimNet;
  readonly #host: SimStreamHost<PeerNodeOwnAction>;
  readonly #logLimit: number;

  constructor(
    net: SimNet,
    listen: PeerAddress,
    node: PeerNode,
    logLimit: number,
    nextEphemeral: () => number,
  ) {
    this.#net = net;
    this.listen = listen;
    this.address = formatPeerAddress(listen);
    this.node = node;
    this.#logLimit = logLimit;
    this.#host = new SimStreamHost<PeerNodeOwnAction>(net, node, {
      listen: this.address,
      ephemeralPort: nextEphemeral,
      onAction: (a) => {
        if (a.type === "save") {
          this.lastSave = a.peers.map((p) => ({ ...p }));
          this.saves++;
        } else this.#logLine(`${net.now} ${a.level} ${a.message}`, a.level, a.message);
      },
    });
  }

  /** Whether the host runs (not crashed or stopped). */
  get running(): boolean {
    return this.#host.state === "up";
  }

  /** Every address this host used (listening and ephemeral): what a crash isolates. */
  get usedAddresses(): string[] {
    return this.#host.addresses;
  }

  /** The node's established connections. */
  established(): PeerNodeConnection[] {
    return this.node.connections().filter((c) => c.state === "established");
  }

  /** The identities (`ip:port`) of the established peers. */
  peers(): string[] {
    return this.established().flatMap((c) => (c.address === undefined ? [] : [c.address]));
  }

  /** Cuts the host off without a word: links stall, its timers stop, it reacts to nothing. */
  crash(): void {
    if (!this.running) return;
    this.#host.freeze();
    for (const a of this.#host.addresses) this.#net.isolate(a);
  }

  /** A clean stop: `shutdown()` (final save, every connection closed), then halt. */
  stop(): void {
    if (!this.running) return;
    this.node.shutdown(this.#net.now);
    this.#host.pump();
    this.#host.freeze();
  }

  /** Frees the listening address and heals this host's isolation (before a restart). */
  release(): void {
    this.#host.unlisten();
    this.#net.heal(this.#host.addresses);
  }

  /** Drains the node's actions and re-arms the timer (call after driving the node by hand). */
  pump(): void {
    this.#host.pump();
  }

  #logLine(line: string, level: string, message: string): void {
    if (this.logs.length >= this.#logLimit) this.logs.shift();
    this.logs.push(line);
    if (message.startsWith("dropped ")) {
      if (this.drops.length >= 2000) this.drops.shift();
      this.drops.push(line);
    }
    if (level !== "debug") {
      const head = message.split(" ").slice(0, 2).join(" ");
      this.logCounts.set(head, (this.logCounts.get(head) ?? 0) + 1);
    }
  }
}

/**
 * A network of simulated BitClone nodes on one SimNet.
 *
 * @example Two nodes
 * ```ts ignore
 * const sim = new SimPeers({ seed: 1 });
 * const a = sim.start("10.0.0.1:8333");
 * sim.start("10.1.0.1:8333", { manualPeers: [a.address] });
 * sim.run(5_000);
 * ```
 */
export class SimPeers {
  /** The network. */
  readonly net: SimNet;
  /** Hosts by listening address (restarted hosts replace their predecessor). */
  readonly hosts = new Map<string, SimPeerHost>();
  readonly #prng: Prng;
  readonly #defaults: Partial<PeerNodeOptions>;
  readonly #logLimit: number;
  readonly #ephemeral = new Map<string, number>();

  constructor(options: SimPeersOptions) {
    const { seed, links = {}, nodeDefaults = {}, logLimit = 400 } = options;
    const root = Prng.seeded(seed);
    this.net = new SimNet({
      prng: root.fork(),
      defaults: { delayMs: [1, 40], chunkBytesMax: 512, ...links },
      traceLimit: 0,
    });
    this.#prng = root.fork();
    this.#defaults = nodeDefaults;
    this.#logLimit = logLimit;
  }

  /** The current virtual time. */
  get now(): number {
    return this.net.now;
  }

  /** Hosts that run. */
  live(): SimPeerHost[] {
    return [...this.hosts.values()].filter((h) => h.running);
  }

  /** The host at `address` (any spelling). */
  host(address: string): SimPeerHost {
    const a = parsePeerAddress(address);
    const h = a === undefined ? undefined : this.hosts.get(formatPeerAddress(a));
    if (h === undefined) throw new TypeError(`Cannot find host ${address}`);
    return h;
  }

  /** Starts a node listening at `address` now. A crashed or stopped host there is replaced. */
  start(address: string, options: Partial<PeerNodeOptions> = {}): SimPeerHost {
    const listen = parsePeerAddress(address);
    if (listen === undefined) throw new TypeError(`Cannot start a node at ${address}`);
    const text = formatPeerAddress(listen);
    const old = this.hosts.get(text);
    if (old !== undefined) {
      if (old.running) throw new TypeError(`Cannot start ${text}: it runs`);
      old.release();
    }
    const node = new PeerNode({
      prng: this.#prng.fork(),
      now: this.net.now,
      listenPort: listen.port,
      unixMillisOffset: SIM_UNIX_MS_AT_ZERO,
      userAgent: `sim-${text}`,
      ...this.#defaults,
      ...options,
    });
    const ipKey = listen.ip;
    const host = new SimPeerHost(this.net, listen, node, this.#logLimit, () => {
      const next = (this.#ephemeral.get(ipKey) ?? 40_000) + 1;
      this.#ephemeral.set(ipKey, next > 65_535 ? 40_001 : next);
      return next;
    });
    this.hosts.set(text, host);
    return host;
  }

  /** Schedules `start()` at virtual time `at`. */
  startAt(at: number, address: string, options: Partial<PeerNodeOptions> = {}): void {
    this.net.clock.setTimer(Math.max(at, this.net.now), () => this.start(address, options));
  }

  /** Restarts a crashed or stopped host from its last save (or the given options). */
  restart(address: string, options: Partial<PeerNodeOptions> = {}): SimPeerHost {
    const old = this.host(address);
    return this.start(old.address, { savedPeers: old.lastSave ?? [], ...options });
  }

  /** Runs the network for `ms` of virtual time. */
  run(ms: number): void {
    this.net.runUntil(this.net.now + ms);
  }

  /**
   * Runs until `predicate()` holds, checking every `stepMs`, for at most `maxMs`.
   *
   * @returns The virtual time when it held, or `undefined`.
   */
  runUntil(predicate: () => boolean, maxMs: number, stepMs = 1000): number | undefined {
    const end = this.net.now + maxMs;
    for (;;) {
      if (predicate()) return this.net.now;
      if (this.net.now >= end) return undefined;
      this.net.runUntil(Math.min(end, this.net.now + stepMs));
    }
  }
}
