/**
 * The deterministic simulator shared by every protocol's tests: a virtual clock with timers, a
 * datagram network with per-link loss, duplication, delay/reordering, corruption, MTU, partitions
 * and a middlebox, TCP-like stream links that re-chunk bytes and can be cut, a bounded packet trace,
 * seed handling (`SIM_SEED`, `SIM_RUNS`) and a stream checker. One seed always gives the same run.
 *
 * It runs cores that implement the contracts of `src/core/` (`DatagramCore` on the datagram
 * network, `StreamCore` on `SimStreamHost`); production code never imports from here, tests do.
 *
 * @example A core through a lossy network, seed by seed
 * ```ts
 * import { SimNet, simSeeds, replayHint, type DatagramCore, type Transmit } from "./mod.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 *
 * // A client that sends "ping" every 100ms until any reply arrives.
 * class Pinger implements DatagramCore {
 *   #out: Transmit[] = [];
 *   #next: number;
 *   done = false;
 *   constructor(readonly server: string, now: number) { this.#next = now; }
 *   handleDatagram(): void { this.done = true; }
 *   handleTick(now: number): void {
 *     if (this.done || now < this.#next) return;
 *     this.#out.push({ to: this.server, bytes: new TextEncoder().encode("ping") });
 *     this.#next = now + 100;
 *   }
 *   pollTransmit(): Transmit | undefined { return this.#out.shift(); }
 *   nextTimeout(): number | undefined { return this.done ? undefined : this.#next; }
 * }
 *
 * for (const seed of simSeeds([1, 2, 3])) {
 *   const root = Prng.seeded(seed);
 *   const net = new SimNet({ prng: root.fork(), defaults: { dropRate: 0.5, delayMs: [1, 40] } });
 *   const server = net.bind("10.0.0.1:9000", (from, bytes) => server.send(from, bytes));
 *   const client = net.add("10.0.0.2:5000", new Pinger("10.0.0.1:9000", net.now));
 *   const stop = net.runWhile(() => !client.done, { maxTime: 60_000 });
 *   assert.ok(stop === "done", `${replayHint(seed)}\n${net.formatTrace({ last: 30 })}`);
 * }
 * ```
 *
 * @module
 */

export type { Addr, DatagramCore, Millis, Transmit } from "../core/mod.ts";
export {
  type TimerCallback,
  type TimerId,
  VirtualClock,
  type VirtualClockOptions,
} from "./clock.ts";
export type { LinkOptions, ResolvedLinkOptions } from "./links.ts";
export {
  type DatagramHandler,
  type DatagramSocket,
  type Middlebox,
  type MiddleboxPacket,
  type RunOptions,
  type RunStop,
  SimNet,
  type SimNetOptions,
} from "./net.ts";
export type { StreamEnd, StreamEvent, StreamListener, StreamState } from "./stream.ts";
export { type SimHostState, SimStreamHost, type SimStreamHostOptions } from "./stream_host.ts";
export {
  type DatagramTraceKind,
  formatRecord,
  formatTrace,
  type FormatTraceOptions,
  type PacketListener,
  type StreamTraceKind,
  type TraceKind,
  type TraceRecord,
  type TraceStats,
} from "./trace.ts";
export {
  type EnvReader,
  readEnv,
  replayHint,
  simSeeds,
  type SwarmLimits,
  swarmLinkOptions,
} from "./harness_deno.ts";
export {
  type CheckedMessage,
  type CheckOptions,
  preview,
  StreamChecker,
  type StreamCheckerOptions,
} from "./checkers.ts";
