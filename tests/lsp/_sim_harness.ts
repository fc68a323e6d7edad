/**
 * Shared harness of the LSP simulator tests (`sim_*_test.ts`); not a test file.
 *
 * A {@linkcode World} is one {@linkcode SimNet} holding one server {@linkcode LspEndpoint} and N
 * client endpoints, with:
 * - the spec's §15.1 fault-injection knobs ({@linkcode Faults}): read-drop and write-drop per
 *   role, delay (hold 500 ms), shorten, lengthen, corrupt and a decoded-message middlebox, all
 *   built once on the simulator's middlebox, in the spec's write-path order;
 * - a {@linkcode Sniffer} with the spec's counters (Data/Ack sent/dropped) and message logs;
 * - event bookkeeping with invariants checked on every event (no message after the end of a
 *   connection, one `connected` and at most one end per connection);
 * - lock-step echo drivers ({@linkcode EchoRun});
 * - failure reports carrying the seed to replay, the tail of the packet trace annotated with the
 *   decoded messages, and the last application events.
 *
 * Tests register through {@linkcode simTest}, which runs a body once per seed (`SIM_SEED`
 * replays one).
 *
 * @module
 */

import assert from "node:assert/strict";
import { LspEndpoint, type LspEvent, type LspServerOptions } from "../../src/lsp/endpoint.ts";
import { type LspParams, lspParams } from "../../src/lsp/params.ts";
import { decodeMessage, encodeMessage, type LspMessage, MsgType } from "../../src/lsp/wire.ts";
import {
  type Addr,
  type DatagramCore,
  formatRecord,
  type LinkOptions,
  type MiddleboxPacket,
  replayHint,
  SimNet,
  simSeeds,
  type Transmit,
} from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";

/** The server's address in every world. */
export const SERVER: Addr = "10.0.0.1:9999";

/** How long the delay knob holds a datagram (spec §15.1). */
export const DELAY_HOLD_MS = 500;

const te = new TextEncoder();
const td = new TextDecoder();

/**
 * The address of client number `index` (0-based).
 *
 * @example The first client
 * ```ts
 * import { clientAddr } from "./_sim_harness.ts";
 * console.assert(clientAddr(0) === "10.0.1.1:40000");
 * ```
 */
export function clientAddr(index: number): Addr {
  return `10.0.${1 + Math.floor(index / 250)}.${1 + (index % 250)}:${40000 + index}`;
}

/**
 * Which side of the protocol an address plays.
 *
 * @example Roles
 * ```ts
 * import type { Role } from "./_sim_harness.ts";
 * const role: Role = "server";
 * console.assert(role === "server");
 * ```
 */
export type Role = "client" | "server";

/**
 * Parameters from a spec tuple `(K, δ, ω, B, M)`.
 *
 * @example ExpBackOff's tuple
 * ```ts
 * import { specParams } from "./_sim_harness.ts";
 * console.assert(specParams(100, 2000, 5, 4, 5).maxBackOffInterval === 4);
 * ```
 */
export function specParams(
  K: number,
  delta: number,
  omega: number,
  B: number,
  M: number,
): LspParams {
  return lspParams({
    epochLimit: K,
    epochMillis: delta,
    windowSize: omega,
    maxBackOffInterval: B,
    maxUnackedMessages: M,
  });
}

/**
 * Text bytes.
 *
 * @example Encoding
 * ```ts
 * import { bytes } from "./_sim_harness.ts";
 * console.assert(bytes("ab").length === 2);
 * ```
 */
export function bytes(text: string): Uint8Array {
  return te.encode(text);
}

/**
 * Bytes as text (for assertions on the JSON-integer payloads the spec's tests use).
 *
 * @example Decoding
 * ```ts
 * import { bytes, text } from "./_sim_harness.ts";
 * console.assert(text(bytes("42")) === "42");
 * ```
 */
export function text(payload: Uint8Array): string {
  return td.decode(payload);
}

/**
 * A one-line description of a datagram: `Data c3 sn101 5B "hello"`, `Ack c3 sn101`, `HB c3`,
 * `CAck c3 sn105`, `Connect isn100`, or `garbage`.
 *
 * @example A heartbeat
 * ```ts
 * import { describeDatagram } from "./_sim_harness.ts";
 * import { encodeMessage, heartbeatMessage } from "../../src/lsp/wire.ts";
 * console.assert(describeDatagram(encodeMessage(heartbeatMessage(3))) === "HB c3");
 * ```
 */
export function describeDatagram(datagram: Uint8Array): string {
  const msg = decodeMessage(datagram);
  return msg === undefined ? "garbage" : describeMessage(msg);
}

/**
 * A one-line description of a decoded message (see {@linkcode describeDatagram}).
 *
 * @example A Connect
 * ```ts
 * import { describeMessage } from "./_sim_harness.ts";
 * import { connectMessage } from "../../src/lsp/wire.ts";
 * console.assert(describeMessage(connectMessage(7)) === "Connect isn7");
 * ```
 */
export function describeMessage(msg: LspMessage): string {
  switch (msg.type) {
    case MsgType.Connect:
      return `Connect isn${msg.seqNum}`;
    case MsgType.Ack:
      return msg.seqNum === 0 ? `HB c${msg.connId}` : `Ack c${msg.connId} sn${msg.seqNum}`;
    case MsgType.CAck:
      return `CAck c${msg.connId} sn${msg.seqNum}`;
    default: {
      const p = msg.payload ?? new Uint8Array(0);
      const shown = p.length <= 16 ? JSON.stringify(td.decode(p)) : `${p.length}B`;
      return `Data c${msg.connId} sn${msg.seqNum} size${msg.size} ${shown}`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds and test registration

let current: World | undefined;
let currentCommand = "deno test -A tests/lsp/";

/**
 * Options of {@linkcode simTest}.
 *
 * @example Eight seeds
 * ```ts
 * import type { SimTestOptions } from "./_sim_harness.ts";
 * const options: SimTestOptions = { seeds: 8 };
 * console.assert(options.seeds === 8);
 * ```
 */
export interface SimTestOptions {
  /**
   * How many seeds to run (1, 2, …, n) when `SIM_SEED` is not set.
   *
   * @default 5
   */
  seeds?: number;
  /**
   * The first seed.
   *
   * @default 1
   */
  firstSeed?: number;
}

/**
 * Registers a Deno test that runs `body(seed)` for each seed. A failure names the seed and the
 * command replaying it (`SIM_SEED=<seed> deno test -A <file> --filter "<name>"`); errors that do
 * not come from {@linkcode World.fail} get the trace tail of the last world too.
 *
 * @param fileUrl `import.meta.url` of the test file (for the replay command).
 * @param name The test name.
 * @param options Seeds.
 * @param body The scenario for one seed.
 *
 * @example Registering a scenario
 * ```ts
 * import { simTest, World } from "./_sim_harness.ts";
 * // At the top level of a test file:
 * const register = () =>
 *   simTest(import.meta.url, "World.connectAll() connects one client", { seeds: 2 }, (seed) => {
 *     const world = new World({ seed, params: {}, clients: 1 });
 *     world.connectAll(1000);
 *   });
 * console.assert(typeof register === "function");
 * ```
 */
export function simTest(
  fileUrl: string,
  name: string,
  options: SimTestOptions,
  body: (seed: number) => void,
): void {
  const { seeds = 5, firstSeed = 1 } = options;
  const path = new URL(fileUrl).pathname;
  const at = path.lastIndexOf("/tests/");
  const file = at >= 0 ? path.slice(at + 1) : path;
  const command = `deno test -A ${file} --filter ${JSON.stringify(name)}`;
  Deno.test(name, () => {
    const list = simSeeds(Array.from({ length: seeds }, (_, i) => firstSeed + i));
    for (const seed of list) {
      currentCommand = command;
      current = undefined;
      try {
        body(seed);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (message.includes("replay: SIM_SEED=")) throw err;
        const world = current as World | undefined; // set by the body's World, if any
        const context = world?.report() ?? "";
        assert.fail(`seed ${seed}: ${message}\n${replayHint(seed, command)}\n${context}`);
      }
    }
  });
}

/**
 * A PRNG for drawing a scenario's shape (parameters, sizes) before its {@linkcode World} exists,
 * independent of every stream the world draws from the same seed.
 *
 * @example Drawing parameters
 * ```ts
 * import { scenarioPrng } from "./_sim_harness.ts";
 * const K = scenarioPrng(5).int(2, 6);
 * console.assert(K === scenarioPrng(5).int(2, 6));
 * ```
 */
export function scenarioPrng(seed: number): Prng {
  return Prng.seeded(-1 - seed); // seeds are non-negative: never the seed of a world
}

// ---------------------------------------------------------------------------------------------
// Knobs and sniffer

/**
 * A middlebox on decoded messages (spec §15.1): it sees every outgoing datagram that survived
 * the write-drop and returns `"drop"`, a replacement message (re-encoded canonically), or
 * `undefined` to pass it unchanged.
 *
 * @example Turning an Ack into a CAck
 * ```ts
 * import type { SpecMiddlebox } from "./_sim_harness.ts";
 * import { MsgType } from "../../src/lsp/wire.ts";
 * const mb: SpecMiddlebox = (m) => m.type === MsgType.Ack ? { ...m, type: MsgType.CAck } : undefined;
 * console.assert(typeof mb === "function");
 * ```
 */
export type SpecMiddlebox = (
  msg: LspMessage,
  packet: { readonly from: Addr; readonly to: Addr; readonly fromRole: Role },
) => "drop" | LspMessage | undefined;

/**
 * The spec's §15.1 fault-injection knobs, consulted on every datagram. Rates are probabilities
 * (0..1), drawn independently per datagram from the world's fault PRNG. Write path: delay
 * decision (hold 500 ms, then the rest of the path) → write-drop of the sender's role (sniffed
 * as dropped) → sniffed as sent → middlebox if installed, else at most one Data mutation
 * (shorten, else lengthen, else corrupt, else a random byte flip) → read-drop of the receiver's
 * role → the link.
 *
 * @example The network switch of §15.10
 * ```ts
 * import { Faults } from "./_sim_harness.ts";
 * const faults = new Faults();
 * faults.networkOff();
 * console.assert(faults.writeDropRate.client === 1 && faults.writeDropRate.server === 1);
 * ```
 */
export class Faults {
  /** Read-drop per receiving role. */
  readonly readDropRate: Record<Role, number> = { client: 0, server: 0 };
  /** Write-drop per sending role. */
  readonly writeDropRate: Record<Role, number> = { client: 0, server: 0 };
  /** Probability that a datagram is held for 500 ms (reordering). */
  delayRate = 0;
  /** Probability that an outgoing Data has its payload cut to ⌊len/2⌋ bytes. */
  shortenRate = 0;
  /** Probability that an outgoing Data gets `02 03 04` appended. */
  lengthenRate = 0;
  /** Whether every outgoing Data has its first payload byte inverted. */
  corrupt = false;
  /**
   * Ours: probability that an outgoing non-empty Data has one random payload byte XORed with a
   * random non-zero value (Size and Checksum unchanged). The checksum always detects a one-byte
   * change, unlike random damage to the header (a Data turned into an unchecked Ack).
   */
  corruptRate = 0;
  /** The decoded-message middlebox, if installed. */
  middlebox: SpecMiddlebox | undefined;

  /** Sets the read-drop rate of one role or both. */
  setReadDrop(role: Role | "both", rate: number): void {
    for (const r of role === "both" ? (["client", "server"] as const) : [role]) {
      this.readDropRate[r] = rate;
    }
  }

  /** Sets the write-drop rate of one role or both. */
  setWriteDrop(role: Role | "both", rate: number): void {
    for (const r of role === "both" ? (["client", "server"] as const) : [role]) {
      this.writeDropRate[r] = rate;
    }
  }

  /** Write-drop 100 % for both roles (§15.10 "network off"). */
  networkOff(): void {
    this.setWriteDrop("both", 1);
  }

  /** Write-drop 0 % for both roles (§15.10 "network on"). */
  networkOn(): void {
    this.setWriteDrop("both", 0);
  }

  /** Resets every knob to 0 / off and removes the middlebox. */
  reset(): void {
    this.setReadDrop("both", 0);
    this.setWriteDrop("both", 0);
    this.delayRate = 0;
    this.shortenRate = 0;
    this.lengthenRate = 0;
    this.corrupt = false;
    this.corruptRate = 0;
    this.middlebox = undefined;
  }

  /** Whether anything needs the decoded message. */
  get mutates(): boolean {
    return this.middlebox !== undefined || this.shortenRate > 0 || this.lengthenRate > 0 ||
      this.corrupt || this.corruptRate > 0;
  }
}

/**
 * One outgoing message as the sniffer saw it.
 *
 * @example An entry
 * ```ts
 * import type { SniffEntry } from "./_sim_harness.ts";
 * import { heartbeatMessage } from "../../src/lsp/wire.ts";
 * const e: SniffEntry = { at: 0, from: "a", to: "b", msg: heartbeatMessage(1), dropped: false };
 * console.assert(!e.dropped);
 * ```
 */
export interface SniffEntry {
  /** When it went through the write path (after any 500 ms hold). */
  readonly at: number;
  /** Sender. */
  readonly from: Addr;
  /** Destination. */
  readonly to: Addr;
  /** The message as the sender encoded it. */
  readonly msg: LspMessage;
  /** Whether the write-drop knob dropped it. */
  readonly dropped: boolean;
}

/**
 * The spec's sniffer (§15.1): while running, counts Data and Ack (type 2, heartbeats included)
 * datagrams sent and write-dropped, and logs every outgoing message in order.
 *
 * @example Counting
 * ```ts
 * import { Sniffer } from "./_sim_harness.ts";
 * import { heartbeatMessage } from "../../src/lsp/wire.ts";
 * const sniffer = new Sniffer();
 * sniffer.start();
 * sniffer.record(0, "a", "b", heartbeatMessage(1), false);
 * console.assert(sniffer.ackSent === 1 && sniffer.sent().length === 1);
 * ```
 */
export class Sniffer {
  /** Data messages that went out. */
  dataSent = 0;
  /** Data messages the write-drop knob dropped. */
  dataDropped = 0;
  /** Acks (heartbeats included) that went out. */
  ackSent = 0;
  /** Acks the write-drop knob dropped. */
  ackDropped = 0;
  /** Every outgoing message since start(), dropped or not. */
  readonly log: SniffEntry[] = [];
  #running = false;

  /** Whether the sniffer is running. */
  get running(): boolean {
    return this.#running;
  }

  /** Clears counters and logs and starts sniffing. */
  start(): void {
    this.dataSent =
      this.dataDropped =
      this.ackSent =
      this.ackDropped =
        0;
    this.log.length = 0;
    this.#running = true;
  }

  /** Stops sniffing (counters and logs stay). */
  stop(): void {
    this.#running = false;
  }

  /** Records one outgoing message (no-op when stopped). */
  record(at: number, from: Addr, to: Addr, msg: LspMessage, dropped: boolean): void {
    if (!this.#running) return;
    this.log.push({ at, from, to, msg, dropped });
    if (msg.type === MsgType.Data) {
      if (dropped) this.dataDropped++;
      else this.dataSent++;
    } else if (msg.type === MsgType.Ack) {
      if (dropped) this.ackDropped++;
      else this.ackSent++;
    }
  }

  /** The messages that actually went out, in order. */
  sent(): SniffEntry[] {
    return this.log.filter((e) => !e.dropped);
  }
}

// ---------------------------------------------------------------------------------------------
// The world

/**
 * An event with the virtual time it was polled at.
 *
 * @example A timed event
 * ```ts
 * import type { Timed } from "./_sim_harness.ts";
 * const t: Timed = { at: 5, event: { type: "lost", connId: 1 } };
 * console.assert(t.at === 5);
 * ```
 */
export interface Timed {
  /** Virtual time in ms. */
  readonly at: number;
  /** The event. */
  readonly event: LspEvent;
}

/**
 * How a connection ended, as its endpoint reported it.
 *
 * @example An end
 * ```ts
 * import type { ConnEnd } from "./_sim_harness.ts";
 * const ends: ConnEnd[] = ["lost", "closed", "connectFailed"];
 * console.assert(ends.length === 3);
 * ```
 */
export type ConnEnd = "lost" | "closed" | "connectFailed";

/**
 * One client endpoint of a world and what its application saw.
 *
 * @example Reading a client's inbox
 * ```ts
 * import { World } from "./_sim_harness.ts";
 * const world = new World({ seed: 1, params: {}, clients: 1 });
 * console.assert(world.clients[0].inbox.length === 0);
 * ```
 */
export interface ClientSide {
  /** 0-based index. */
  readonly index: number;
  /** Its address. */
  readonly addr: Addr;
  /** Its ISN. */
  readonly isn: number;
  /** When the endpoint is created and starts connecting. */
  readonly startAt: number;
  /** The endpoint. */
  readonly endpoint: LspEndpoint;
  /** ConnID once connected, else 0. */
  connId: number;
  /** When `connected` was reported. */
  connectedAt: number | undefined;
  /** How the connection ended, if it did. */
  end: ConnEnd | undefined;
  /** When it ended. */
  endedAt: number | undefined;
  /** Payloads of `message` events, in order. */
  readonly inbox: Uint8Array[];
  /** When each inbox entry arrived. */
  readonly inboxAt: number[];
  /** Every event. */
  readonly events: Timed[];
}

/**
 * One connection as the server's application saw it.
 *
 * @example Looking a connection up
 * ```ts
 * import { World } from "./_sim_harness.ts";
 * const world = new World({ seed: 1, params: {}, clients: 1 });
 * world.connectAll(1000);
 * console.assert(world.serverConnOf(world.clients[0]).inbox.length === 0);
 * ```
 */
export interface ServerConn {
  /** The ConnID. */
  readonly connId: number;
  /** The client's address. */
  readonly addr: Addr;
  /** The client at that address, if it is one of the world's. */
  readonly client: ClientSide | undefined;
  /** When `connected` was reported. */
  readonly connectedAt: number;
  /** How it ended, if it did. */
  end: "lost" | "closed" | undefined;
  /** When it ended. */
  endedAt: number | undefined;
  /** Payloads of `message` events, in order. */
  readonly inbox: Uint8Array[];
  /** When each inbox entry arrived. */
  readonly inboxAt: number[];
}

/**
 * Options of {@linkcode World}.
 *
 * @example Three clients with ISN 0
 * ```ts
 * import type { WorldOptions } from "./_sim_harness.ts";
 * const options: WorldOptions = { seed: 1, params: {}, clients: 3, isn: 0 };
 * console.assert(options.clients === 3);
 * ```
 */
export interface WorldOptions {
  /** The seed everything is drawn from. */
  seed: number;
  /** LSP parameters of every endpoint. */
  params: Partial<LspParams>;
  /** How many clients. */
  clients: number;
  /**
   * Client ISNs: a number for all, `"random"` for 1..256 each (the spec's tests), or a function.
   *
   * @default "random"
   */
  isn?: number | "random" | ((index: number, prng: Prng) => number);
  /**
   * Link defaults of the simulator (its own faults come on top of the knobs).
   *
   * @default { delayMs: [0.2, 1] } (loopback-like, slight jitter)
   */
  link?: LinkOptions;
  /**
   * When the server endpoint joins the network, in ms (§15.8 slow start).
   *
   * @default 0
   */
  serverStartAt?: number;
  /**
   * Clients start at random times in `[0, clientStaggerMs]`.
   *
   * @default 2
   */
  clientStaggerMs?: number;
  /**
   * Server options.
   *
   * @default {}
   */
  server?: LspServerOptions;
  /**
   * Records kept by the simulator's trace buffer.
   *
   * @default 4000
   */
  traceLimit?: number;
}

/** Wraps an endpoint to record the times of its epoch ticks. */
class TickProbe implements DatagramCore {
  readonly ticks = new Set<number>();
  constructor(readonly endpoint: LspEndpoint) {}
  handleDatagram(from: Addr, bytes: Uint8Array, now: number): void {
    this.endpoint.handleDatagram(from, bytes, now);
  }
  handleTick(now: number): void {
    const due = this.endpoint.nextTimeout();
    if (due !== undefined && now >= due) this.ticks.add(now);
    this.endpoint.handleTick(now);
  }
  pollTransmit(): Transmit | undefined {
    return this.endpoint.pollTransmit();
  }
  nextTimeout(): number | undefined {
    return this.endpoint.nextTimeout();
  }
}

/** A datagram as an endpoint emitted it, before any knob or link fault. */
interface Emitted {
  readonly at: number;
  readonly from: Addr;
  readonly to: Addr;
  readonly bytes: Uint8Array;
}

const RING = 4096;

/**
 * One server and N clients in a simulated network, with the §15.1 knobs, a sniffer, event
 * bookkeeping and failure reports. Time only moves inside the `run*`/`waitFor`/`connectAll`
 * methods; between them a test issues commands (`endpoint.write(connId, payload, world.now)`).
 *
 * @example Connecting and exchanging one message
 * ```ts
 * import { bytes, World } from "./_sim_harness.ts";
 * const world = new World({ seed: 1, params: {}, clients: 1 });
 * world.connectAll(1000);
 * const c = world.clients[0];
 * c.endpoint.write(c.connId, bytes("hi"), world.now);
 * world.waitFor(() => world.serverConnOf(c).inbox.length === 1, 100, "delivery");
 * ```
 */
export class World {
  /** The seed. */
  readonly seed: number;
  /** The validated parameters. */
  readonly params: LspParams;
  /** The simulated network. */
  readonly net: SimNet;
  /** Randomness for test decisions (payloads, sleeps, schedules). */
  readonly prng: Prng;
  /** The server endpoint (joins the network at `serverStartAt`). */
  readonly server: LspEndpoint;
  /** The clients. */
  readonly clients: ClientSide[] = [];
  /** The server's connections by ConnID, in `connected` order. */
  readonly serverConns = new Map<number, ServerConn>();
  /** Every server event. */
  readonly serverEvents: Timed[] = [];
  /** The §15.1 knobs. */
  readonly faults = new Faults();
  /** The §15.1 sniffer. */
  readonly sniffer = new Sniffer();
  /**
   * Every datagram sent into the network, in order, before knobs and link faults: what the
   * endpoints emitted, plus anything a test injected with `net.send()`.
   */
  readonly emitted: Emitted[] = [];

  readonly #faultPrng: Prng;
  readonly #probes = new Map<Addr, TickProbe>();
  readonly #clientByAddr = new Map<Addr, ClientSide>();
  readonly #serverHooks: ((event: LspEvent, conn: ServerConn | undefined) => void)[] = [];
  readonly #clientHooks: ((client: ClientSide, event: LspEvent) => void)[] = [];
  readonly #packetBytes = new Map<number, Uint8Array>();
  readonly #packetNotes = new Map<number, string>();
  readonly #appLog: string[] = [];
  readonly #lastHeard = new Map<string, number>();
  readonly #emittedData: (LspMessage | null)[] = []; // decoded `emitted` Data, by index
  #releasing = false;

  /**
   * Builds the world: the network, the server (added at `serverStartAt`) and the clients (each
   * starting to connect at a random time within the stagger).
   *
   * @param options The setup.
   */
  constructor(options: WorldOptions) {
    const {
      seed,
      params,
      clients,
      isn = "random",
      link = { delayMs: [0.2, 1] },
      serverStartAt = 0,
      clientStaggerMs = 2,
      server = {},
      traceLimit = 4000,
    } = options;
    current = this;
    this.seed = seed;
    this.params = lspParams(params);
    const root = Prng.seeded(seed);
    this.prng = root.fork();
    this.#faultPrng = root.fork();
    const setup = root.fork();
    this.net = new SimNet({ prng: root.fork(), defaults: link, traceLimit });
    this.net.setMiddlebox((p) => this.#writePath(p));
    this.net.onPacket((record, data) => {
      if (record.transport !== "datagram") return;
      if (record.kind === "deliver") {
        this.#lastHeard.set(`${record.from}>${record.to}`, record.time);
      }
      if (record.kind !== "send" || data === undefined) return;
      this.#packetBytes.set(record.id, data);
      if (this.#packetBytes.size > RING) {
        this.#packetBytes.delete(this.#packetBytes.keys().next().value!);
      }
    });
    this.server = LspEndpoint.server(this.params, root.fork(), server);
    const addServer = () => this.#addCore(SERVER, this.server);
    if (serverStartAt > 0) this.net.clock.setTimeout(serverStartAt, addServer);
    else addServer();
    for (let i = 0; i < clients; i++) {
      const addr = clientAddr(i);
      const clientIsn = typeof isn === "number"
        ? isn
        : isn === "random"
        ? setup.int(1, 256)
        : isn(i, setup);
      const startAt = clientStaggerMs > 0 ? setup.float() * clientStaggerMs : 0;
      const endpoint = LspEndpoint.client(SERVER, this.params, root.fork(), startAt, {
        isn: clientIsn,
      });
      const side: ClientSide = {
        index: i,
        addr,
        isn: clientIsn,
        startAt,
        endpoint,
        connId: 0,
        connectedAt: undefined,
        end: undefined,
        endedAt: undefined,
        inbox: [],
        inboxAt: [],
        events: [],
      };
      this.clients.push(side);
      this.#clientByAddr.set(addr, side);
      if (startAt > 0) this.net.clock.setTimer(startAt, () => this.#addCore(addr, endpoint));
      else this.#addCore(addr, endpoint);
    }
  }

  /** The current virtual time in ms. */
  get now(): number {
    return this.net.now;
  }

  /** The role of an address. */
  roleOf(addr: Addr): Role {
    return addr === SERVER ? "server" : "client";
  }

  /** The client at an address, if any. */
  clientAt(addr: Addr): ClientSide | undefined {
    return this.#clientByAddr.get(addr);
  }

  /**
   * The server's connection for a client (by the client's ConnID).
   *
   * @throws When the client is not connected or the server never reported that connection.
   */
  serverConnOf(client: ClientSide): ServerConn {
    const conn = this.serverConns.get(client.connId);
    if (client.connId === 0 || conn === undefined || conn.addr !== client.addr) {
      this.fail(`client ${client.index} (ConnID ${client.connId}) has no server connection`);
    }
    return conn;
  }

  /** Times of the epoch ticks an endpoint ran so far, in order. */
  tickTimes(addr: Addr): ReadonlySet<number> {
    return this.#probes.get(addr)?.ticks ?? new Set();
  }

  /** When a datagram from `from` last reached `to` (any datagram, even one `to` drops). */
  lastHeard(from: Addr, to: Addr): number | undefined {
    return this.#lastHeard.get(`${from}>${to}`);
  }

  /**
   * Checks the liveness rule of §11.4: an endpoint at `at` declared its peer `from` lost between
   * (K−1)·δ and K·δ after the last datagram from it arrived.
   */
  checkLossTiming(what: string, from: Addr, at: Addr, lostAt: number | undefined): void {
    const { epochLimit: K, epochMillis: delta } = this.params;
    const last = this.lastHeard(from, at) ?? 0;
    const silence = (lostAt ?? NaN) - last;
    this.check(
      silence >= (K - 1) * delta - 1e-6 && silence <= K * delta + 1e-6,
      () =>
        `${what}: lost ${silence}ms after the last datagram (${last}ms), not in ` +
        `[(K−1)·δ, K·δ] = [${(K - 1) * delta}, ${K * delta}]`,
    );
  }

  /** Checks that `addr` emitted no datagram after time `t`. */
  checkSilentAfter(what: string, addr: Addr, t: number): void {
    this.net.flush();
    const late = this.emitted.filter((e) => e.from === addr && e.at > t);
    this.check(
      late.length === 0,
      () =>
        `${what}: ${addr} sent ${late.length} datagram(s) after ${t}ms, first at ` +
        `${late[0].at}ms: ${describeDatagram(late[0].bytes)}`,
    );
  }

  /** Calls `hook` for every server event (after bookkeeping). */
  onServer(hook: (event: LspEvent, conn: ServerConn | undefined) => void): void {
    this.#serverHooks.push(hook);
  }

  /** Calls `hook` for every client event (after bookkeeping). */
  onClient(hook: (client: ClientSide, event: LspEvent) => void): void {
    this.#clientHooks.push(hook);
  }

  /** Adds a line to the application log printed on failure. */
  note(line: string): void {
    this.#appLog.push(`${this.now.toFixed(3).padStart(12)}ms ${line}`);
    if (this.#appLog.length > 200) this.#appLog.splice(0, this.#appLog.length - 100);
  }

  // ---- running ---------------------------------------------------------------------------------

  /** Polls every endpoint's events, records them, checks the invariants and runs the hooks. */
  pump(): void {
    for (let e = this.server.pollEvent(); e !== undefined; e = this.server.pollEvent()) {
      this.#serverEvent(e);
    }
    for (const c of this.clients) {
      for (let e = c.endpoint.pollEvent(); e !== undefined; e = c.endpoint.pollEvent()) {
        this.#clientEvent(c, e);
      }
    }
  }

  /**
   * Runs until `done()` holds, pumping events between steps.
   *
   * @returns How long it took (ms).
   * @throws A failure report when `within` ms pass first.
   */
  waitFor(done: () => boolean, within: number, what: string): number {
    const start = this.now;
    if (this.#runWhile(() => !done(), start + within)) return this.now - start;
    this.fail(`${what}: not done within ${within}ms`);
  }

  /** Runs for `ms` of virtual time, pumping events between steps. */
  runFor(ms: number): void {
    this.runTo(this.now + ms);
  }

  /** Runs until the absolute virtual time `t`. */
  runTo(t: number): void {
    this.#runWhile(() => true, t);
    if (this.now < t) this.net.clock.advanceTo(t);
  }

  /**
   * Runs while `cond()` holds, at most until absolute time `t`.
   *
   * @returns Whether `cond()` turned false.
   */
  runWhile(cond: () => boolean, t: number): boolean {
    return this.#runWhile(cond, t);
  }

  /**
   * Runs until every client is connected (and the server reported each connection).
   *
   * @returns The time it took.
   */
  connectAll(within: number): number {
    return this.waitFor(
      () =>
        this.clients.every((c) =>
          c.connId !== 0 && this.serverConns.get(c.connId)?.addr === c.addr
        ),
      within,
      "connecting every client",
    );
  }

  /**
   * `n` payloads that are JSON integers as text (like the spec's tests), consecutive from a
   * random start so that every payload of a script is distinct.
   */
  script(n: number): Uint8Array[] {
    const start = this.prng.int(0, 999_999);
    return Array.from({ length: n }, (_, i) => bytes(String(start + i)));
  }

  // ---- checks ----------------------------------------------------------------------------------

  /** Fails unless `got` holds exactly the payloads `want`, in order. */
  expectMessages(what: string, got: readonly Uint8Array[], want: readonly Uint8Array[]): void {
    const g = got.map(text), w = want.map(text);
    let i = 0;
    while (i < g.length && i < w.length && g[i] === w[i]) i++;
    if (i === g.length && i === w.length) return;
    this.fail(
      `${what}: got ${g.length} messages, expected ${w.length}; first difference at #${i}: ` +
        `got ${g[i] ?? "nothing"}, expected ${w[i] ?? "nothing"}`,
    );
  }

  /**
   * Throws an assertion error with the seed, the replay command, the trace tail and the
   * application log.
   */
  fail(message: string): never {
    assert.fail(`seed ${this.seed} at ${this.now}ms: ${message}\n${this.report()}`);
  }

  /** Fails with `message` (a string, or a function making it) unless `cond`. */
  check(cond: boolean, message: string | (() => string)): void {
    this.#ensure(cond, message);
  }

  /** Runs node:assert style checks, turning their failure into a report. */
  verify(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The failure context: replay command, annotated trace tail, application log tail. */
  report(lines = 60): string {
    const records = this.net.trace.slice(-lines);
    const trace = records.map((r) => {
      let line = formatRecord(r);
      const data = r.transport === "datagram" ? this.#packetBytes.get(r.id) : undefined;
      if (data !== undefined && (r.kind === "send" || r.kind === "deliver")) {
        line += `  ${describeDatagram(data)}`;
      }
      const note = this.#packetNotes.get(r.id);
      if (note !== undefined && (r.kind === "middlebox-drop" || r.kind === "rewrite")) {
        line += `  [${note}]`;
      }
      return line;
    });
    return [
      replayHint(this.seed, currentCommand),
      `--- last ${records.length} trace records ---`,
      ...trace,
      "--- last application events ---",
      ...this.#appLog.slice(-30),
    ].join("\n");
  }

  /**
   * The Data messages an endpoint emitted (before any fault), decoded, in order. Flushes the
   * endpoints' queued datagrams into the network first.
   *
   * @param from The sender's address, or every sender.
   */
  dataEmitted(from?: Addr): { at: number; from: Addr; msg: LspMessage }[] {
    this.net.flush(); // what the endpoints queued since the last step goes out now, as it would
    const out: { at: number; from: Addr; msg: LspMessage }[] = [];
    const cache = this.#emittedData;
    for (let i = cache.length; i < this.emitted.length; i++) {
      const e = this.emitted[i];
      const msg = e.bytes[8] === 0x31 ? decodeMessage(e.bytes) : undefined; // {"Type":1
      cache.push(msg?.type === MsgType.Data ? msg : null);
    }
    for (let i = 0; i < cache.length; i++) {
      const msg = cache[i], e = this.emitted[i];
      if (msg === null || (from !== undefined && e.from !== from)) continue;
      out.push({ at: e.at, from: e.from, msg });
    }
    return out;
  }

  /**
   * Checks that every Data message was transmitted either for the first time or on an epoch tick
   * of its sender (§9.2, §17: no fast retransmit, nothing outside the epoch schedule).
   */
  checkEpochDiscipline(): void {
    const seen = new Set<string>();
    for (const { at, from, msg } of this.dataEmitted()) {
      const key = `${from} ${msg.connId} ${msg.seqNum}`;
      if (!seen.has(key)) {
        seen.add(key);
        continue;
      }
      this.#ensure(
        this.tickTimes(from).has(at),
        () => `${from} retransmitted Data c${msg.connId} sn${msg.seqNum} at ${at}ms, not on a tick`,
      );
    }
  }

  // ---- internals -------------------------------------------------------------------------------

  #ensure(cond: boolean, message: string | (() => string)): asserts cond {
    if (!cond) this.fail(typeof message === "string" ? message : message());
  }

  #addCore(addr: Addr, endpoint: LspEndpoint): void {
    const probe = new TickProbe(endpoint);
    this.#probes.set(addr, probe);
    this.net.add(addr, probe);
  }

  #runWhile(cond: () => boolean, t: number): boolean {
    this.pump();
    this.net.runWhile(() => {
      this.pump();
      return cond();
    }, { maxTime: t, maxSteps: 5_000_000 });
    this.pump();
    return !cond();
  }

  #serverEvent(e: LspEvent): void {
    this.serverEvents.push({ at: this.now, event: e });
    let conn = this.serverConns.get(e.connId);
    switch (e.type) {
      case "connected": {
        this.#ensure(conn === undefined, `server reported ConnID ${e.connId} connected twice`);
        conn = {
          connId: e.connId,
          addr: e.addr,
          client: this.#clientByAddr.get(e.addr),
          connectedAt: this.now,
          end: undefined,
          endedAt: undefined,
          inbox: [],
          inboxAt: [],
        };
        this.serverConns.set(e.connId, conn);
        this.note(`server: c${e.connId} connected from ${e.addr}`);
        break;
      }
      case "message":
        this.#ensure(conn !== undefined, `server: message on unknown ConnID ${e.connId}`);
        this.#ensure(conn.end === undefined, `server: message on c${e.connId} after ${conn.end}`);
        conn.inbox.push(e.payload);
        conn.inboxAt.push(this.now);
        this.note(`server: c${e.connId} message #${conn.inbox.length - 1} ${describePayload(e)}`);
        break;
      case "lost":
      case "closed":
        this.#ensure(conn !== undefined, `server: ${e.type} on unknown ConnID ${e.connId}`);
        this.#ensure(conn.end === undefined, `server: c${e.connId} ${e.type} after ${conn.end}`);
        conn.end = e.type;
        conn.endedAt = this.now;
        this.note(`server: c${e.connId} ${e.type}`);
        break;
      case "connectFailed":
        this.fail("server reported connectFailed");
    }
    for (const hook of this.#serverHooks) hook(e, conn);
  }

  #clientEvent(c: ClientSide, e: LspEvent): void {
    c.events.push({ at: this.now, event: e });
    const who = `client ${c.index} (c${c.connId})`;
    switch (e.type) {
      case "connected":
        this.#ensure(c.connId === 0, `${who} connected twice`);
        this.#ensure(c.end === undefined, `${who} connected after ${c.end}`);
        c.connId = e.connId;
        c.connectedAt = this.now;
        this.note(`client ${c.index}: connected as c${e.connId}`);
        break;
      case "message":
        this.#ensure(c.connId !== 0 && e.connId === c.connId, `${who}: message before connected`);
        this.#ensure(c.end === undefined, `${who}: message after ${c.end}`);
        c.inbox.push(e.payload);
        c.inboxAt.push(this.now);
        this.note(`client ${c.index}: message #${c.inbox.length - 1} ${describePayload(e)}`);
        break;
      case "lost":
      case "closed":
      case "connectFailed":
        this.#ensure(c.end === undefined, `${who}: ${e.type} after ${c.end}`);
        c.end = e.type;
        c.endedAt = this.now;
        this.note(`client ${c.index}: ${e.type}`);
        break;
    }
    for (const hook of this.#clientHooks) hook(c, e);
  }

  /** The §15.1 write path, run by the simulator for every datagram at send time. */
  #writePath(p: MiddleboxPacket): "drop" | Uint8Array | undefined {
    const f = this.faults;
    const prng = this.#faultPrng;
    const fromRole = this.roleOf(p.from);
    if (!this.#releasing) {
      this.emitted.push({ at: p.time, from: p.from, to: p.to, bytes: p.bytes });
      if (f.delayRate > 0 && prng.chance(f.delayRate)) {
        this.#annotate(p.id, `held ${DELAY_HOLD_MS}ms`);
        this.net.clock.setTimeout(DELAY_HOLD_MS, () => {
          this.#releasing = true;
          try {
            this.net.send(p.from, p.to, p.bytes);
          } finally {
            this.#releasing = false;
          }
        });
        return "drop";
      }
    }
    const needMsg = this.sniffer.running || f.mutates;
    const msg = needMsg ? decodeMessage(p.bytes) : undefined;
    const writeDrop = f.writeDropRate[fromRole];
    if (writeDrop > 0 && prng.chance(writeDrop)) {
      if (msg !== undefined) this.sniffer.record(p.time, p.from, p.to, msg, true);
      this.#annotate(p.id, `${fromRole} write-drop`);
      return "drop";
    }
    if (msg !== undefined) this.sniffer.record(p.time, p.from, p.to, msg, false);
    let out: Uint8Array | undefined;
    if (msg !== undefined && f.middlebox !== undefined) {
      const verdict = f.middlebox(msg, { from: p.from, to: p.to, fromRole });
      if (verdict === "drop") {
        this.#annotate(p.id, "middlebox drop");
        return "drop";
      }
      if (verdict !== undefined) {
        out = encodeMessage(verdict);
        this.#annotate(p.id, `middlebox: ${describeMessage(verdict)}`);
      }
    } else if (msg !== undefined && msg.type === MsgType.Data) {
      const payload = msg.payload ?? new Uint8Array(0);
      let mutated: Uint8Array | undefined;
      let how = "";
      if (f.shortenRate > 0 && prng.chance(f.shortenRate)) {
        mutated = payload.slice(0, Math.floor(payload.length / 2));
        how = "shortened";
      } else if (f.lengthenRate > 0 && prng.chance(f.lengthenRate)) {
        mutated = new Uint8Array([...payload, 2, 3, 4]);
        how = "lengthened";
      } else if (f.corrupt) {
        mutated = payload.length === 0 ? Uint8Array.of(0xff) : payload.slice();
        if (payload.length > 0) mutated[0] ^= 0xff;
        how = "corrupted";
      } else if (payload.length > 0 && f.corruptRate > 0 && prng.chance(f.corruptRate)) {
        mutated = payload.slice();
        mutated[prng.int(0, payload.length - 1)] ^= prng.int(1, 255);
        how = "byte flipped";
      }
      if (mutated !== undefined) {
        const changed = { ...msg, payload: mutated };
        out = encodeMessage(changed);
        this.#annotate(p.id, `${how}: ${describeMessage(changed)}`);
      }
    }
    const readDrop = f.readDropRate[this.roleOf(p.to)];
    if (readDrop > 0 && prng.chance(readDrop)) {
      this.#annotate(p.id, `${this.roleOf(p.to)} read-drop`);
      return "drop";
    }
    return out;
  }

  #annotate(id: number, note: string): void {
    this.#packetNotes.set(id, note);
    if (this.#packetNotes.size > RING) {
      this.#packetNotes.delete(this.#packetNotes.keys().next().value!);
    }
  }
}

function describePayload(e: LspEvent): string {
  if (e.type !== "message") return "";
  return e.payload.length <= 16 ? JSON.stringify(td.decode(e.payload)) : `${e.payload.length}B`;
}

// ---------------------------------------------------------------------------------------------
// Drivers

/**
 * Options of {@linkcode EchoRun}.
 *
 * @example Ten messages with a sleepy server
 * ```ts
 * import type { EchoOptions } from "./_sim_harness.ts";
 * const options: EchoOptions = { messages: 10, sleepMsMax: 100 };
 * console.assert(options.messages === 10);
 * ```
 */
export interface EchoOptions {
  /** Messages per client. */
  messages: number;
  /**
   * The server sleeps a random 0..sleepMsMax ms before each echo, one echo at a time.
   *
   * @default 0
   */
  sleepMsMax?: number;
}

/**
 * The spec's echo family drivers (§15.2): the server writes every payload back to its sender
 * (optionally after a random sleep, serving one echo at a time like a single read loop); each
 * client runs lock-step: write a small JSON integer as text, wait for the reply, check it is
 * identical, repeat. Wrong or unexpected replies fail the world at once.
 *
 * @example Three lock-step echoes
 * ```ts
 * import { EchoRun, World } from "./_sim_harness.ts";
 * const world = new World({ seed: 1, params: {}, clients: 1 });
 * const echo = new EchoRun(world, { messages: 3 });
 * world.connectAll(1000);
 * echo.start();
 * world.waitFor(() => echo.done, 2000, "echoes");
 * ```
 */
export class EchoRun {
  /** Per client: the payloads it writes, in order. */
  readonly scripts: Uint8Array[][];
  /** Per client: how many replies it has checked. */
  readonly replies: number[];
  /** When the last client finished (undefined until then). */
  finishedAt: number | undefined;
  readonly #world: World;
  readonly #sleepMsMax: number;
  readonly #backlog: { connId: number; payload: Uint8Array }[] = [];
  #serverBusy = false;
  #started = false;
  #detached = false;

  /** Installs the drivers on `world` (call before running it). */
  constructor(world: World, options: EchoOptions) {
    const { messages, sleepMsMax = 0 } = options;
    this.#world = world;
    this.#sleepMsMax = sleepMsMax;
    this.scripts = world.clients.map(() =>
      Array.from({ length: messages }, () => bytes(String(world.prng.int(0, 999_999))))
    );
    this.replies = world.clients.map(() => 0);
    world.onServer((e) => {
      if (e.type !== "message" || this.#detached) return;
      this.#backlog.push({ connId: e.connId, payload: e.payload });
      this.#serve();
    });
    world.onClient((c, e) => {
      if (e.type !== "message" || this.#detached) return;
      const script = this.scripts[c.index];
      const i = this.replies[c.index];
      world.check(this.#started && i < script.length, `client ${c.index}: unexpected reply`);
      world.check(
        text(e.payload) === text(script[i]),
        () => `client ${c.index}: reply #${i} is ${text(e.payload)}, expected ${text(script[i])}`,
      );
      this.replies[c.index] = i + 1;
      if (i + 1 < script.length) c.endpoint.write(c.connId, script[i + 1], world.now);
      else if (this.done) this.finishedAt = world.now;
    });
  }

  /** Every client writes its first message (all must be connected). */
  start(): void {
    this.#started = true;
    for (const c of this.#world.clients) {
      this.#world.check(c.connId !== 0, `client ${c.index} is not connected`);
      if (this.scripts[c.index].length > 0) {
        c.endpoint.write(c.connId, this.scripts[c.index][0], this.#world.now);
      }
    }
    if (this.done) this.finishedAt = this.#world.now;
  }

  /** Stops driving: later messages are left to the test (no echo, no check). */
  detach(): void {
    this.#detached = true;
  }

  /** Whether every client has checked every reply. */
  get done(): boolean {
    return this.replies.every((n, i) => n === this.scripts[i].length);
  }

  #serve(): void {
    const world = this.#world;
    if (this.#serverBusy) return;
    const next = this.#backlog.shift();
    if (next === undefined) return;
    const reply = () => {
      world.server.write(next.connId, next.payload, world.now);
      this.#serverBusy = false;
      this.#serve();
    };
    if (this.#sleepMsMax <= 0) {
      reply();
      return;
    }
    this.#serverBusy = true;
    world.net.clock.setTimeout(world.prng.int(0, this.#sleepMsMax), reply);
  }
}
