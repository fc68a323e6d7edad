/**
 * A simulated LAN of key-value nodes for the deterministic tests (not a test file): each of our
 * nodes (`KvNode`) runs on `SimNet` with UDP `10.0.0.i:8888` and TCP `10.0.0.i:9000`, its
 * broadcast simulated as the list of every node's UDP address, and a simulated disk (a persist
 * becomes durable after a small random delay, in order; a crash loses what is not durable yet; a
 * restart builds a new node from the durable entries, same name, new boot). Legacy models
 * (`legacy_model.ts`) can join at `10.0.0.(n+j)`. Clients speak raw streams from `10.0.1.i`.
 *
 * It records the history a checker needs: every version made durable anywhere, and every
 * acknowledged `Setvalue` with the version its node gave it.
 *
 * @module
 */

import {
  type LinkOptions,
  readEnv,
  SimNet,
  simSeeds,
  SimStreamHost,
  type StreamEnd,
} from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";
import { KvNode, type KvNodeOptions, type PersistAction } from "../../src/kv/node_core.ts";
import { decodeMessage, encodeMessage } from "../../src/kv/codec.ts";
import { compareVersions } from "../../src/kv/version.ts";
import type { KvMessage, Version, VersionedEntry } from "../../src/kv/types.ts";
import { LegacyNode } from "./legacy_model.ts";

/**
 * The seeds a kv simulation test runs: `KV_SIM_SEED` alone (replay), or `KV_SIM_RUNS` random
 * ones; else `SIM_SEED` / `SIM_RUNS` as every simulation test; else `defaults`.
 */
export function kvSeeds(defaults: readonly number[]): number[] {
  const kv = simSeeds([], (name) => readEnv(`KV_${name}`));
  return kv.length > 0 ? kv : simSeeds(defaults);
}

/** `count` seeds from `from` on. */
export function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** Ports of the outgoing streams of one IP: a small fixed pool, so a partition can name them. */
const EPHEMERAL_POOL = 6;
const UDP_PORT = 8888;
const TCP_PORT = 9000;

/** Node timings short enough for many seeds, long enough for the simulated delays. */
export const FAST_TIMINGS: Partial<KvNodeOptions> = {
  announceMs: 700,
  antiEntropyMs: 1000,
  probeIntervalMs: 800,
  deadProbeIntervalMs: 1500,
  suspectAfter: 2,
  deadAfter: 4,
  legacyAnnounceMs: 5000,
  legacyQuietAfterMs: 3000,
};

/** Options of {@linkcode KvSim}. */
export interface KvSimOptions {
  /** The seed everything is drawn from. */
  seed: number;
  /** How many of our nodes. */
  nodes: number;
  /** How many legacy models. @default {0} */
  legacy?: number;
  /** Link faults. */
  link?: LinkOptions;
  /** Options for every node (timings, capacity). */
  node?: Partial<KvNodeOptions>;
  /** Delay before a persist is durable, ms. @default {[0, 30]} */
  diskDelayMs?: readonly [number, number];
  /** What legacy models advertise (default: the original's hard-coded address). */
  legacyAdvertise?: (ip: string) => string | undefined;
  /**
   * A broken disk for checking the checker: the node is told a persist is done at once, while it
   * reaches the disk only after the delay. @default {false}
   */
  ackBeforeDurable?: boolean;
  /** Trace records kept. @default {400} */
  traceLimit?: number;
}

/** A client request's outcome. */
export type ClientReply =
  | { readonly ok: true; readonly message: KvMessage }
  | { readonly ok: false; readonly reason: string };

/** An acknowledged Setvalue and the version its node gave it. */
export interface AckedWrite {
  readonly node: string;
  readonly key: string;
  readonly value: string;
  readonly version: Version;
  readonly at: number;
}

/** One of our nodes with its simulated disk. */
export class SimKvNode {
  readonly ip: string;
  readonly udp: string;
  readonly tcp: string;
  readonly name: string;
  /** Entries on disk, in write order. */
  readonly disk: VersionedEntry[] = [];
  node!: KvNode;
  host!: SimStreamHost<PersistAction>;
  up = false;
  boots = 0;
  readonly #sim: KvSim;
  #socket: ReturnType<SimNet["bind"]> | undefined;
  #generation = 0;
  #lastDurableAt = 0;
  #port = 0;

  constructor(sim: KvSim, index: number) {
    this.#sim = sim;
    this.ip = `10.0.0.${index + 1}`;
    this.udp = `${this.ip}:${UDP_PORT}`;
    this.tcp = `${this.ip}:${TCP_PORT}`;
    this.name = `ts-${index + 1}`;
  }

  /** Every address of this machine (for partitions). */
  get addresses(): string[] {
    return machineAddresses(this.ip);
  }

  /** Starts (or restarts) the process from what is on disk. */
  start(): void {
    const sim = this.#sim, net = sim.net;
    const generation = ++this.#generation;
    this.boots++;
    let clock = 0;
    for (const e of this.disk) clock = Math.max(clock, e.clock);
    const node = new KvNode({
      ...sim.nodeOptions,
      name: this.name,
      advertise: this.tcp,
      boot: 1_000_000 * this.boots + (sim.seed % 1000),
      broadcast: sim.broadcast,
      prng: sim.prng.fork(),
      entries: this.disk,
      clock,
      now: net.now,
    });
    this.node = node;
    const drain = () => {
      if (generation !== this.#generation) return;
      for (let t = node.pollTransmit(); t !== undefined; t = node.pollTransmit()) {
        this.#socket?.send(t.to, t.bytes);
      }
      for (let e = node.pollEvent(); e !== undefined; e = node.pollEvent()) sim.events++;
    };
    this.#socket = net.bind(this.udp, (from, bytes, now) => {
      node.handleDatagram(from, bytes, now);
      this.host.pump();
    });
    this.up = true;
    this.host = new SimStreamHost<PersistAction>(net, node, {
      listen: this.tcp,
      onAction: (a) => this.#persist(a, generation),
      onProgress: drain,
      ephemeralPort: () => 40_000 + (this.#port++ % EPHEMERAL_POOL),
    });
  }

  /** The process dies: what is not on disk yet is lost. */
  crash(): void {
    if (!this.up) return;
    this.up = false;
    this.#generation++;
    this.host.crash();
    this.#socket?.close();
    this.#socket = undefined;
  }

  #persist(a: PersistAction, generation: number): void {
    const sim = this.#sim, net = sim.net;
    for (const e of a.entries) sim.noteWritten(this.name, e);
    const [lo, hi] = sim.diskDelayMs;
    const at = Math.max(this.#lastDurableAt, net.now + lo + sim.prng.float() * (hi - lo));
    this.#lastDurableAt = at;
    const node = this.node;
    if (sim.ackBeforeDurable) {
      net.clock.setTimer(net.now, () => {
        if (generation !== this.#generation) return;
        node.handlePersisted(a.id, true, net.now);
        this.host.pump();
      });
    }
    net.clock.setTimer(at, () => {
      if (generation !== this.#generation) return; // crashed before it reached the disk
      for (const e of a.entries) {
        this.disk.push(e);
        sim.noteDurable(e);
      }
      if (sim.ackBeforeDurable) return;
      node.handlePersisted(a.id, true, net.now);
      this.host.pump();
    });
  }
}

/** A legacy model on its own machine. */
export class SimLegacyNode {
  readonly ip: string;
  readonly udp: string;
  readonly tcp: string;
  readonly node: LegacyNode;
  readonly host: SimStreamHost;
  readonly #socket: ReturnType<SimNet["bind"]>;

  constructor(sim: KvSim, index: number, advertise: string | undefined) {
    this.ip = `10.0.0.${index + 1}`;
    this.udp = `${this.ip}:${UDP_PORT}`;
    this.tcp = `${this.ip}:${TCP_PORT}`;
    const node = new LegacyNode({ broadcast: sim.broadcast, advertise, now: sim.net.now });
    this.node = node;
    const drain = () => {
      if (node.exited !== undefined) return this.#stop();
      for (let t = node.pollTransmit(); t !== undefined; t = node.pollTransmit()) {
        this.#socket.send(t.to, t.bytes);
      }
    };
    this.#socket = sim.net.bind(this.udp, (from, bytes, now) => {
      node.handleDatagram(from, bytes, now);
      this.host.pump();
    });
    let port = 0;
    this.host = new SimStreamHost<never>(sim.net, node, {
      listen: this.tcp,
      onProgress: drain,
      ephemeralPort: () => 40_000 + (port++ % EPHEMERAL_POOL),
    });
  }

  /** Every address of this machine (for partitions). */
  get addresses(): string[] {
    return machineAddresses(this.ip);
  }

  #stop(): void {
    if (this.host.state !== "up") return;
    this.host.crash();
    this.#socket.close();
  }
}

function machineAddresses(ip: string): string[] {
  const out = [`${ip}:${UDP_PORT}`, `${ip}:${TCP_PORT}`];
  for (let p = 0; p < EPHEMERAL_POOL; p++) out.push(`${ip}:${40_000 + p}`);
  return out;
}

/** The simulated LAN. */
export class KvSim {
  readonly seed: number;
  readonly net: SimNet;
  /** The scenario's randomness (the network has its own fork). */
  readonly prng: Prng;
  readonly nodes: SimKvNode[] = [];
  readonly legacy: SimLegacyNode[] = [];
  readonly broadcast: string[] = [];
  readonly nodeOptions: Partial<KvNodeOptions>;
  readonly diskDelayMs: readonly [number, number];
  readonly ackBeforeDurable: boolean;
  /** Every acknowledged Setvalue. */
  readonly acked: AckedWrite[] = [];
  /** Per key, the greatest version made durable on any disk. */
  readonly durableMax = new Map<string, VersionedEntry>();
  /** Broken properties seen while running (each is a failure). */
  readonly violations: string[] = [];
  /** Client requests sent, and how many got no reply. */
  requests = 0;
  failedRequests = 0;
  /** Node events seen (all are drained). */
  events = 0;
  /** `origin \0 value` → the version a local write got (values are unique per Setvalue). */
  readonly #written = new Map<string, Version>();
  #clientPort = 0;

  /** Randomness for a scenario's setup, apart from the run's own (for link options, say). */
  static setupPrng(seed: number): Prng {
    const root = Prng.seeded(seed);
    root.fork();
    root.fork();
    return root.fork();
  }

  constructor(options: KvSimOptions) {
    this.seed = options.seed;
    const root = Prng.seeded(options.seed);
    this.prng = root.fork();
    this.net = new SimNet({
      prng: root.fork(),
      defaults: options.link ?? {},
      traceLimit: options.traceLimit ?? 400,
    });
    this.nodeOptions = options.node ?? {};
    this.diskDelayMs = options.diskDelayMs ?? [0, 30];
    this.ackBeforeDurable = options.ackBeforeDurable ?? false;
    const legacy = options.legacy ?? 0;
    for (let i = 0; i < options.nodes + legacy; i++) this.broadcast.push(`10.0.0.${i + 1}:8888`);
    for (let i = 0; i < options.nodes; i++) this.nodes.push(new SimKvNode(this, i));
    for (const n of this.nodes) n.start();
    for (let j = 0; j < legacy; j++) {
      const ip = `10.0.0.${options.nodes + j + 1}`;
      this.legacy.push(new SimLegacyNode(this, options.nodes + j, options.legacyAdvertise?.(ip)));
    }
  }

  /** Runs the network until virtual time `t`. */
  runUntil(t: number): void {
    this.net.runUntil(t, { maxSteps: 10_000_000 });
  }

  /** Cuts every link between the machines of group `a` and those of group `b`. */
  partition(a: readonly { addresses: string[] }[], b: readonly { addresses: string[] }[]): void {
    this.net.partition(a.flatMap((m) => m.addresses), b.flatMap((m) => m.addresses));
  }

  /** Heals every partition. */
  heal(): void {
    this.net.heal();
  }

  /**
   * A client at `10.0.1.x` sends `message` to `to` (a TCP address) on a fresh connection and
   * reports the reply (the bytes up to the node's EOF), or why there is none.
   */
  request(to: string, message: KvMessage, done: (r: ClientReply) => void): void {
    this.request_(to, encodeMessage(message), done);
  }

  /** As {@linkcode KvSim.request}, with raw bytes (written in one write). */
  request_(to: string, bytes: Uint8Array, done: (r: ClientReply) => void): void {
    const net = this.net;
    this.requests++;
    const host = 1 + (this.#clientPort % 200);
    const from = `10.0.1.${host}:${50_000 + (this.#clientPort++ % 10_000)}`;
    const end: StreamEnd = net.connect(from, to);
    const chunks: Uint8Array[] = [];
    let finished = false;
    const finish = (r: ClientReply) => {
      if (finished) return;
      finished = true;
      if (!r.ok) this.failedRequests++;
      done(r);
    };
    end.write(bytes);
    const timer = net.clock.setTimeout(15_000, () => {
      end.cut();
      finish({ ok: false, reason: "timeout" });
    });
    end.onEvent((e) => {
      if (e.type === "data") chunks.push(e.bytes);
      else if (e.type === "error") {
        net.clock.cancel(timer);
        finish({ ok: false, reason: e.reason });
      } else if (e.type === "eof") {
        net.clock.cancel(timer);
        end.end();
        const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.length;
        }
        if (all.length === 0) return finish({ ok: false, reason: "closed without a reply" });
        const r = decodeMessage(all, { extensions: true });
        finish(r.ok ? r : { ok: false, reason: `bad reply: ${r.error.detail}` });
      }
    });
  }

  /**
   * A client writes `key` = `value` (unique) on node `n`; an acknowledged write is recorded with
   * the version the node gave it.
   */
  set(n: SimKvNode, key: string, value: string, done?: (acked: boolean) => void): void {
    this.request(n.tcp, { type: "Setvalue", key, value }, (r) => {
      const acked = r.ok && r.message.type === "ValueResponse" &&
        r.message.value === "Value set successful";
      if (acked) {
        const version = this.#written.get(`${n.name}\u0000${value}`);
        if (version === undefined) {
          throw new Error(`${n.name} acknowledged ${key}=${value} that it never persisted`);
        }
        this.acked.push({ node: n.name, key, value, version, at: this.net.now });
        const onDisk = n.disk.some((e) =>
          e.key === key && e.value === value && compareVersions(e, version) === 0
        );
        if (!onDisk) {
          this.violations.push(
            `${n.name} acknowledged ${key}=${value}@${version.clock} before it was on its disk`,
          );
        }
      }
      done?.(acked);
    });
  }

  /** A node is persisting `e` (called by the simulated disk). */
  noteWritten(node: string, e: VersionedEntry): void {
    const k = `${e.origin}\u0000${e.value}`;
    if (e.origin === node && !this.#written.has(k)) {
      this.#written.set(k, { clock: e.clock, origin: e.origin });
    }
  }

  /** `e` reached a disk. */
  noteDurable(e: VersionedEntry): void {
    const max = this.durableMax.get(e.key);
    if (max === undefined || compareVersions(e, max) > 0) this.durableMax.set(e.key, e);
  }

  /** Whether every node is up and holds exactly {@linkcode KvSim.durableMax}. */
  converged(): boolean {
    for (const n of this.nodes) {
      if (!n.up || n.node.size !== this.durableMax.size) return false;
      for (const [key, want] of this.durableMax) {
        const got = n.node.get(key);
        if (got === undefined || compareVersions(got, want) !== 0 || got.value !== want.value) {
          return false;
        }
      }
    }
    return true;
  }

  /**
   * Runs until {@linkcode KvSim.converged} holds and still holds `stableMs` later (a state that
   * only passes through agreement does not count), checking every `stepMs`, at most `maxMs` of
   * virtual time; returns whether it converged.
   */
  settle(maxMs: number, stepMs = 250, stableMs = 2500): boolean {
    const end = this.net.now + maxMs;
    while (this.net.now < end) {
      if (this.converged()) {
        const at = this.net.now;
        while (this.net.now < at + stableMs && this.converged()) {
          this.runUntil(this.net.now + stepMs);
        }
        if (this.converged()) return true;
      }
      this.runUntil(this.net.now + stepMs);
    }
    return false;
  }

  /** Why the state is wrong (every mismatch, at most `max` lines), or "" when it is right. */
  explain(max = 12): string {
    const lines: string[] = [...this.violations];
    const show = (e: VersionedEntry | undefined) =>
      e === undefined ? "absent" : `${JSON.stringify(e.value)}@${e.clock}/${e.origin}`;
    for (const a of this.acked) {
      const want = this.durableMax.get(a.key);
      if (want === undefined || compareVersions(want, a.version) < 0) {
        lines.push(
          `acknowledged ${a.key}=${a.value}@${a.version.clock}/${a.version.origin} ` +
            `by ${a.node} at ${a.at.toFixed(0)}ms is not on any disk (max ${show(want)})`,
        );
      }
    }
    for (const n of this.nodes) {
      if (!n.up) lines.push(`${n.name} is down`);
      for (const [key, want] of this.durableMax) {
        const got = n.up ? n.node.get(key) : undefined;
        if (show(got) !== show(want)) {
          lines.push(`${n.name} holds ${key}=${show(got)}, the greatest durable is ${show(want)}`);
        }
      }
      if (n.up && n.node.size > this.durableMax.size) {
        lines.push(`${n.name} holds ${n.node.size} keys, only ${this.durableMax.size} are durable`);
      }
    }
    if (lines.length > max) lines.splice(max, lines.length - max, `... (${lines.length} lines)`);
    return lines.join("\n");
  }

  /**
   * A failure message: what is wrong, the seed, how to replay it (`replay`: the command line, or
   * the test command to prefix with `KV_SIM_SEED=<seed>`), and the trace tail.
   */
  failure(what: string, replay: string): string {
    const line = replay.includes("SIM_SEED=") ? replay : `KV_SIM_SEED=${this.seed} ${replay}`;
    return `${what} (seed ${this.seed})\n${this.explain()}\nreplay: ${line}\n` +
      `--- last trace lines ---\n${this.net.formatTrace({ last: 30 })}`;
  }
}
