/**
 * `SimFabric`: what every node of a {@linkcode SimNet} (`net.ts`) shares — the virtual clock, the
 * links with their faults and partitions, the trace, and the TCP-like streams that run over those
 * links. `SimNet` adds datagram endpoints, sans-I/O cores and the run loop on top of it.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import { VirtualClock } from "./clock.ts";
import { type LinkOptions, LinkTable } from "./links.ts";
import { SimStreams, type StreamEnd, type StreamListener } from "./stream.ts";
import {
  formatTrace,
  type FormatTraceOptions,
  type PacketListener,
  Tracer,
  type TraceRecord,
  type TraceStats,
} from "./trace.ts";
import type { Addr, Millis } from "../core/mod.ts";

/**
 * Options for {@linkcode SimNet}.
 *
 * @example A shared clock
 * ```ts
 * import { SimNet, type SimNetOptions } from "./net.ts";
 * import { VirtualClock } from "./clock.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const clock = new VirtualClock();
 * const options: SimNetOptions = { prng: Prng.seeded(1), clock, defaults: { dropRate: 0.1 } };
 * assert.equal(new SimNet(options).clock, clock);
 * ```
 */
export interface SimNetOptions {
  /** The network's randomness (loss, delays, corruption, stream chunking). Give it a fork. */
  prng: Prng;
  /**
   * The clock to run on; share one to schedule test actions with `clock.setTimeout()`.
   *
   * @default {new VirtualClock()}
   */
  clock?: VirtualClock;
  /**
   * Link options for every direction without an override.
   *
   * @default {{ dropRate: 0, dupRate: 0, delayMs: [1, 1], corruptRate: 0, mtu: Infinity, chunkBytesMax: 1460 }}
   */
  defaults?: LinkOptions;
  /**
   * How many of the most recent trace records to keep (0 keeps none; `stats` and listeners still
   * see everything).
   *
   * @default {10_000}
   */
  traceLimit?: number;
}

/**
 * The shared part of a simulated network: its clock, link table (defaults, per-direction
 * overrides, partitions), tracer and streams. It is the base of {@linkcode SimNet}, which is
 * what tests make; the examples therefore use `SimNet`.
 *
 * @example Links, partitions and the trace, seen through a SimNet
 * ```ts
 * import { SimNet } from "./net.ts";
 * import { SimFabric } from "./fabric.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const net = new SimNet({ prng: Prng.seeded(1) });
 * assert.ok(net instanceof SimFabric);
 * net.isolate("10.0.0.1:9000");
 * net.send("10.0.0.2:5000", "10.0.0.1:9000", Uint8Array.of(1));
 * assert.equal(net.stats.partition, 1);
 * ```
 */
export class SimFabric {
  /**
   * The virtual clock; schedule test actions on it with `net.clock.setTimeout()`.
   *
   * @example Scheduling a partition
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.clock.setTimeout(500, () => net.isolate("10.0.0.1:9000"));
   * net.runUntil(1000);
   * assert.equal(net.now, 1000);
   * ```
   */
  readonly clock: VirtualClock;
  /** The network's randomness (loss, delays, corruption). */
  protected readonly prng: Prng;
  /** Link options and partitions. */
  protected readonly links: LinkTable;
  /** The trace and its counters. */
  protected readonly tracer: Tracer;
  readonly #streams: SimStreams;

  /**
   * Makes a network with no endpoints.
   *
   * @throws {RangeError} When a link option or `traceLimit` is out of range.
   * @example A network with defaults
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1), defaults: { delayMs: [1, 40] } });
   * assert.equal(net.now, 0);
   * ```
   */
  constructor(options: SimNetOptions) {
    const { prng, clock = new VirtualClock(), defaults = {}, traceLimit = 10_000 } = options;
    if (prng === undefined) throw new TypeError("Cannot create the network: prng is missing");
    this.clock = clock;
    this.prng = prng;
    this.links = new LinkTable(defaults);
    this.tracer = new Tracer(traceLimit);
    this.#streams = new SimStreams(clock, prng.fork(), this.links, this.tracer);
  }

  /**
   * The current virtual time in ms.
   *
   * @example Time after running
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.runUntil(250);
   * assert.equal(net.now, 250);
   * ```
   */
  get now(): Millis {
    return this.clock.now;
  }

  // ---- links and faults ------------------------------------------------------------------------

  /**
   * Changes the default link options (merged into the current ones), e.g. to end a lossy phase.
   *
   * @throws {RangeError} When an option is out of range.
   * @example Healing the network's loss
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1), defaults: { dropRate: 0.3 } });
   * net.setDefaults({ dropRate: 0 });
   * assert.equal(net.linkOptions("a:1", "b:2").dropRate, 0);
   * ```
   */
  setDefaults(options: LinkOptions): void {
    this.links.setDefaults(options);
  }

  /**
   * Overrides link options for one direction `from → to` (merged into earlier overrides; other
   * fields follow the defaults). Call twice for both directions.
   *
   * @throws {RangeError} When an option is out of range.
   * @example A one-way blackhole
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.setLink("10.0.0.2:5000", "10.0.0.1:9000", { dropRate: 1 });
   * assert.equal(net.linkOptions("10.0.0.1:9000", "10.0.0.2:5000").dropRate, 0);
   * ```
   */
  setLink(from: Addr, to: Addr, options: LinkOptions): void {
    this.links.setLink(from, to, options);
  }

  /**
   * The link options in force for `from → to`.
   *
   * @example Reading the defaults
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * assert.equal(net.linkOptions("a:1", "b:2").delayMs[1], 1);
   * ```
   */
  linkOptions(from: Addr, to: Addr): Readonly<Required<LinkOptions>> {
    return this.links.get(from, to);
  }

  /**
   * Drops every datagram sent between `groupA` and `groupB`, both ways, until healed (datagrams
   * already in flight still arrive); streams between them stall (bytes wait, nothing is lost) and
   * resume on heal.
   *
   * @example A split
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.partition(["10.0.0.1:9000"], ["10.0.0.2:5000"]);
   * net.send("10.0.0.2:5000", "10.0.0.1:9000", Uint8Array.of(1));
   * assert.equal(net.stats.partition, 1);
   * ```
   */
  partition(groupA: readonly Addr[], groupB: readonly Addr[]): void {
    this.links.partition(groupA, groupB);
  }

  /**
   * Cuts `addr` off from every other address until healed.
   *
   * @example Isolating a node
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.isolate("10.0.0.1:9000");
   * net.send("10.0.0.3:1", "10.0.0.1:9000", Uint8Array.of(1));
   * assert.equal(net.stats.partition, 1);
   * ```
   */
  isolate(addr: Addr): void {
    this.links.isolate(addr);
  }

  /**
   * Heals partitions: all (no argument), every one involving a member of `groupA`, or the pairs
   * between `groupA` and `groupB`. Stalled streams resume.
   *
   * @example Healing
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.isolate("10.0.0.1:9000");
   * net.heal();
   * net.send("10.0.0.3:1", "10.0.0.1:9000", Uint8Array.of(1));
   * assert.equal(net.stats.partition, 0);
   * ```
   */
  heal(groupA?: readonly Addr[], groupB?: readonly Addr[]): void {
    this.links.heal(groupA, groupB);
    this.#streams.resume();
  }

  // ---- trace -----------------------------------------------------------------------------------

  /**
   * Calls `listener` for every trace record (datagrams and streams) with the bytes involved.
   *
   * @returns A function that removes the listener.
   * @example Sniffing
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * const sizes: number[] = [];
   * const off = net.onPacket((r, bytes) => { if (r.kind === "send") sizes.push(bytes!.length); });
   * net.send("a:1", "b:2", new Uint8Array(5));
   * off();
   * assert.equal(sizes[0], 5);
   * ```
   */
  onPacket(listener: PacketListener): () => void {
    return this.tracer.listen(listener);
  }

  /**
   * The most recent trace records, oldest first (a copy; at most `traceLimit`).
   *
   * @example Reading the trace
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.send("a:1", "b:2", new Uint8Array(5));
   * assert.equal(net.trace[0].kind, "send");
   * assert.equal(net.trace[0].size, 5);
   * ```
   */
  get trace(): TraceRecord[] {
    return this.tracer.records;
  }

  /**
   * How many records fell out of the trace buffer (see `traceLimit`).
   *
   * @example Nothing lost
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new SimNet({ prng: Prng.seeded(1) }).traceDropped, 0);
   * ```
   */
  get traceDropped(): number {
    return this.tracer.dropped;
  }

  /**
   * Event counts per trace kind over the whole run (complete even when the trace buffer is not).
   *
   * @example Counting sends
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.send("a:1", "b:2", new Uint8Array(1));
   * assert.equal(net.stats.send, 1);
   * ```
   */
  get stats(): TraceStats {
    return this.tracer.stats;
  }

  /**
   * The trace, one line per event, for printing when a test fails.
   *
   * @example Printing the last lines
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.send("10.0.0.2:5000", "10.0.0.1:9000", new Uint8Array(64));
   * assert.ok(net.formatTrace({ last: 20 }).includes("10.0.0.2:5000 -> 10.0.0.1:9000 send 64B"));
   * ```
   */
  formatTrace(options: Omit<FormatTraceOptions, "dropped"> = {}): string {
    return formatTrace(this.tracer.records, { ...options, dropped: this.tracer.dropped });
  }

  // ---- streams ---------------------------------------------------------------------------------

  /**
   * Accepts streams at `addr`; `onAccept` gets each server end before any of its data arrives.
   * Stream addresses are separate from datagram bindings (like TCP and UDP ports).
   *
   * @throws {TypeError} When something already listens on `addr`.
   * @example Accepting
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * let accepted = 0;
   * net.listen("10.0.0.1:80", () => accepted++);
   * net.connect("10.0.0.2:4000", "10.0.0.1:80");
   * net.runUntil(10);
   * assert.equal(accepted, 1);
   * ```
   */
  listen(addr: Addr, onAccept: (end: StreamEnd) => void): StreamListener {
    return this.#streams.listen(addr, onAccept);
  }

  /**
   * Opens a stream `from → to`. The client end sees `open` once accepted, or `error: refused`
   * when nobody listens; it may be written at once.
   *
   * @example Refused
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * const end = net.connect("10.0.0.2:4000", "10.0.0.1:80");
   * net.runUntil(10);
   * assert.equal(end.state, "closed");
   * assert.equal(net.stats.refused, 1);
   * ```
   */
  connect(from: Addr, to: Addr): StreamEnd {
    return this.#streams.connect(from, to);
  }

  /**
   * Cuts (resets) every open stream with an end at `addr`, or every open stream.
   *
   * @returns How many streams were cut.
   * @example Crashing a server's connections
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.connect("10.0.0.2:4000", "10.0.0.1:80");
   * assert.equal(net.cutStreams("10.0.0.1:80"), 1);
   * ```
   */
  cutStreams(addr?: Addr): number {
    return this.#streams.cutAll(addr);
  }

  /**
   * How many streams are neither finished nor cut.
   *
   * @example Counting
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.connect("10.0.0.2:4000", "10.0.0.1:80");
   * assert.equal(net.openStreams, 1);
   * ```
   */
  get openStreams(): number {
    return this.#streams.openCount;
  }
}
