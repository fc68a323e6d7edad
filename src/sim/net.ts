/**
 * `SimNet`: a deterministic network for protocol tests. Named endpoints exchange datagrams over
 * links with loss, duplication, delay (and so reordering), corruption, MTU, partitions and a
 * middlebox; TCP-like streams share the same clock and links. Everything is driven by one seeded
 * PRNG and a virtual clock, and every packet is traced.
 *
 * @module
 */

import { drawDelay } from "./links.ts";
import { SimFabric, type SimNetOptions } from "./fabric.ts";
import type { Addr, DatagramCore, Millis } from "../core/mod.ts";

export type { SimNetOptions };

/**
 * Receives a datagram on a callback-style endpoint.
 */
export type DatagramHandler = (from: Addr, bytes: Uint8Array, now: Millis) => void;

/**
 * A callback-style endpoint made by {@linkcode SimNet.bind}.
 *
 * @example Sending
 * ```ts
 * import { SimNet } from "./net.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const net = new SimNet({ prng: Prng.seeded(1) });
 * const a = net.bind("10.0.0.1:1", () => {});
 * a.send("10.0.0.2:2", new Uint8Array([1]));
 * a.close();
 * assert.equal(net.stats.send, 1);
 * ```
 */
export interface DatagramSocket {
  /** The bound address. */
  readonly addr: Addr;
  /**
   * Sends a datagram (the bytes are copied).
   *
   * @throws {TypeError} After `close()`.
   */
  send(to: Addr, bytes: Uint8Array): void;
  /** Unbinds the address; later arrivals are dropped (`unbound-drop`). Idempotent. */
  close(): void;
}

/**
 * A datagram as the middlebox sees it, at send time.
 */
export interface MiddleboxPacket {
  /** The datagram id (as in the trace). */
  readonly id: number;
  /** Send time in ms. */
  readonly time: Millis;
  /** Sender. */
  readonly from: Addr;
  /** Destination. */
  readonly to: Addr;
  /** The datagram (a private copy; the middlebox may read it). */
  readonly bytes: Uint8Array;
}

/**
 * Decides a datagram's fate at send time: `"drop"`, new bytes (rewrite), or `undefined` (pass).
 */
export type Middlebox = (packet: MiddleboxPacket) => "drop" | Uint8Array | undefined;

/**
 * Why {@linkcode SimNet.runWhile} stopped: the predicate turned false (`done`), nothing was left
 * to do (`idle`), or a bound was hit.
 */
export type RunStop = "done" | "idle" | "max-steps" | "max-time";

/**
 * Bounds for {@linkcode SimNet.runWhile} and {@linkcode SimNet.runUntil}.
 */
export interface RunOptions {
  /**
   * The most steps to take.
   *
   * @default {1_000_000}
   */
  maxSteps?: number;
  /**
   * An absolute virtual time (ms, like `now`) not to run past (`runWhile` only).
   *
   * @default {Infinity}
   */
  maxTime?: number;
}

type Endpoint =
  | { readonly kind: "socket"; readonly handler: DatagramHandler }
  | { readonly kind: "core"; readonly core: DatagramCore };

/** The most datagrams one drain of one core may yield (a guard against runaway cores). */
const DRAIN_MAX = 100_000;
/** How many times a core may be ticked at one instant before it counts as stuck. */
const TICK_ROUNDS_MAX = 16;

/**
 * A simulated network. Attach nodes as callback sockets ({@linkcode SimNet.bind}) or as sans-I/O
 * cores ({@linkcode SimNet.add}); then drive time with {@linkcode SimNet.step},
 * {@linkcode SimNet.runUntil} or {@linkcode SimNet.runWhile}. The clock, the link options and
 * partitions, the trace and the streams come from its base, {@linkcode SimFabric} (`fabric.ts`).
 *
 * Each datagram, at send time: is traced `send`; goes through the middlebox; is dropped if the ends
 * are partitioned, if it exceeds the MTU, or at random (`dropRate`); may be duplicated
 * (`dupRate`); each copy may be corrupted (`corruptRate`) and gets its own delay from `delayMs`.
 * On arrival it goes to whatever is bound at the destination then, or is traced `unbound-drop`.
 *
 * Driving cores: `step()` first drains every core's `pollTransmit()` (so a test may call a command
 * such as `core.write()` between steps without anything else), then jumps the clock to the next
 * event (arrival, clock timer or core `nextTimeout()`), delivers the arrivals and fires the timers
 * due then, draining each core right after each datagram it handles, and finally ticks every core
 * whose `nextTimeout()` has come, draining it after each tick.
 *
 * @example Two sockets through a lossy link
 * ```ts
 * import { SimNet } from "./net.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const net = new SimNet({ prng: Prng.seeded(7), defaults: { dropRate: 0.5, delayMs: [5, 50] } });
 * let got = 0;
 * net.bind("10.0.0.1:9000", () => got++);
 * const client = net.bind("10.0.0.2:5000", () => {});
 * for (let i = 0; i < 100; i++) client.send("10.0.0.1:9000", Uint8Array.of(i));
 * net.runUntil(1000);
 * assert.ok(got > 20);
 * assert.ok(got < 80);
 * assert.equal(got, net.stats.deliver);
 * ```
 */
export class SimNet extends SimFabric {
  readonly #endpoints = new Map<Addr, Endpoint>();
  #cores: { readonly addr: Addr; readonly core: DatagramCore }[] = [];
  #middlebox: Middlebox | undefined;
  #nextPacketId = 1;

  // ---- endpoints -------------------------------------------------------------------------------

  /**
   * Binds `addr` to a callback that receives every datagram delivered there.
   *
   * @throws {TypeError} When `addr` is already bound.
   * @example A responder
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * const server = net.bind("10.0.0.1:9000", (from, bytes) => server.send(from, bytes));
   * let echoed = false;
   * net.bind("10.0.0.2:5000", () => echoed = true).send("10.0.0.1:9000", Uint8Array.of(1));
   * net.runUntil(10);
   * assert.ok(echoed);
   * ```
   */
  bind(addr: Addr, handler: DatagramHandler): DatagramSocket {
    if (typeof handler !== "function") throw new TypeError(`Cannot bind ${addr}: no handler`);
    const endpoint: Endpoint = { kind: "socket", handler };
    this.#claim(addr, endpoint);
    const endpoints = this.#endpoints;
    let open = true;
    return {
      addr,
      send: (to, bytes) => {
        if (!open) throw new TypeError(`Cannot send from ${addr}: the socket is closed`);
        this.send(addr, to, bytes);
      },
      close: () => {
        open = false;
        if (endpoints.get(addr) === endpoint) endpoints.delete(addr);
      },
    };
  }

  /**
   * Attaches a sans-I/O core at `addr` and returns it (so tests can keep using it to issue commands
   * and poll events). Its transmits are drained at the next `step()` or `flush()`.
   *
   * @throws {TypeError} When `addr` is already bound.
   * @example Adding a core
   * ```ts
   * import { SimNet } from "./net.ts";
   * import type { DatagramCore } from "../core/mod.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const idle: DatagramCore = {
   *   handleDatagram() {}, handleTick() {}, pollTransmit: () => undefined, nextTimeout: () => undefined,
   * };
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * assert.equal(net.add("10.0.0.1:9000", idle), idle);
   * assert.equal(net.step(), false);
   * ```
   */
  add<C extends DatagramCore>(addr: Addr, core: C): C {
    this.#claim(addr, { kind: "core", core });
    this.#cores.push({ addr, core });
    return core;
  }

  /**
   * Detaches whatever is bound at `addr` (core or socket), e.g. to simulate a crash.
   *
   * @returns Whether something was bound.
   * @example Removing a core
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * assert.equal(net.remove("10.0.0.1:9000"), false);
   * ```
   */
  remove(addr: Addr): boolean {
    const endpoint = this.#endpoints.get(addr);
    if (endpoint === undefined) return false;
    this.#endpoints.delete(addr);
    if (endpoint.kind === "core") this.#cores = this.#cores.filter((c) => c.addr !== addr);
    return true;
  }

  /**
   * Sends a datagram `from → to` through the link's faults. `from` need not be bound, so tests can
   * inject spoofed or garbage datagrams. The bytes are copied.
   *
   * @example Injecting garbage
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * let got = 0;
   * net.bind("10.0.0.1:9000", () => got++);
   * net.send("6.6.6.6:666", "10.0.0.1:9000", new Uint8Array([0xff]));
   * net.runUntil(10);
   * assert.equal(got, 1);
   * ```
   */
  send(from: Addr, to: Addr, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`Cannot send from ${from}: bytes is not a Uint8Array`);
    }
    const id = this.#nextPacketId++;
    const now = this.clock.now;
    let data = bytes.slice();
    this.#trace("send", from, to, data.length, id, undefined, data);
    if (this.#middlebox !== undefined) {
      const verdict = this.#middlebox({ id, time: now, from, to, bytes: data });
      if (verdict === "drop") {
        this.#trace("middlebox-drop", from, to, data.length, id, undefined, data);
        return;
      }
      if (verdict instanceof Uint8Array) {
        data = verdict.slice();
        this.#trace("rewrite", from, to, data.length, id, undefined, data);
      } else if (verdict !== undefined) {
        throw new TypeError(`Cannot apply the middlebox verdict: ${String(verdict)}`);
      }
    }
    if (this.links.isCut(from, to)) {
      this.#trace("partition", from, to, data.length, id, undefined, data);
      return;
    }
    const link = this.links.get(from, to);
    if (data.length > link.mtu) {
      this.#trace("mtu-drop", from, to, data.length, id, `mtu ${link.mtu}`, data);
      return;
    }
    if (this.prng.chance(link.dropRate)) {
      this.#trace("drop", from, to, data.length, id, undefined, data);
      return;
    }
    const copies = this.prng.chance(link.dupRate) ? 2 : 1;
    if (copies === 2) this.#trace("dup", from, to, data.length, id, undefined, data);
    for (let c = 0; c < copies; c++) {
      let copy = c === 0 ? data : data.slice();
      if (copy.length > 0 && this.prng.chance(link.corruptRate)) {
        copy = c === 0 ? copy.slice() : copy; // never alter bytes the trace listeners saw as sent
        const note = this.#corrupt(copy);
        this.#trace("corrupt", from, to, copy.length, id, note, copy);
      }
      const at = now + drawDelay(this.prng, link.delayMs);
      const arriving = copy;
      this.clock.setTimer(at, () => this.#arrive(from, to, arriving, id));
    }
  }

  /**
   * Drains `pollTransmit()` of the core at `addr` (or of every core) into the network now.
   * `step()` does this first anyway; call it to see a command's datagrams in the trace at once.
   *
   * @example Flushing after a command
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.flush();
   * assert.equal(net.stats.send, 0);
   * ```
   */
  flush(addr?: Addr): void {
    for (const { addr: a, core } of this.#cores) {
      if (addr === undefined || a === addr) this.#drain(a, core);
    }
  }

  // ---- driving time ----------------------------------------------------------------------------

  /**
   * Runs one instant: drains every core, jumps to the next event time, delivers arrivals and fires
   * timers due then, and ticks due cores (see the class doc for the order).
   *
   * @returns `false` when nothing at all is pending (idle); the clock did not move.
   * @throws {Error} When a core's `nextTimeout()` stays at or before `now` after repeated ticks.
   * @example Stepping to idle
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.bind("10.0.0.1:9000", () => {});
   * net.send("10.0.0.2:5000", "10.0.0.1:9000", Uint8Array.of(1));
   * assert.ok(net.step());
   * assert.equal(net.now, 1);
   * assert.equal(net.step(), false);
   * ```
   */
  step(): boolean {
    this.flush();
    const t = this.#nextEventAt();
    if (t === undefined) return false;
    this.clock.advanceTo(Math.max(t, this.clock.now));
    this.#tickDueCores();
    return true;
  }

  /**
   * Steps through every event due by `t`, then leaves the clock at `t`.
   *
   * @throws {RangeError} When `t` is before `now`.
   * @throws {Error} When more than `options.maxSteps` steps would be needed (a livelock).
   * @example Running for a second
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.runUntil(1000);
   * assert.equal(net.now, 1000);
   * ```
   */
  runUntil(t: Millis, options: Omit<RunOptions, "maxTime"> = {}): void {
    const { maxSteps = 1_000_000 } = options;
    if (!(t >= this.clock.now)) {
      throw new RangeError(`Cannot run until ${t}ms: it is not after now (${this.clock.now}ms)`);
    }
    for (let steps = 0;; steps++) {
      this.flush();
      const next = this.#nextEventAt();
      if (next === undefined || next > t) break;
      if (steps >= maxSteps) {
        throw new Error(
          `Cannot run until ${t}ms: over ${maxSteps} steps, stuck at ${this.clock.now}ms`,
        );
      }
      this.step();
    }
    this.clock.advanceTo(t);
  }

  /**
   * Steps while `predicate()` holds, within bounds.
   *
   * @returns Why it stopped: `done` (predicate false), `idle`, `max-steps`, or `max-time` (the next
   * event lies after `options.maxTime`; the clock is left at `maxTime`).
   * @example Waiting for a delivery
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1), defaults: { delayMs: [10, 10] } });
   * let got = false;
   * net.bind("10.0.0.1:9000", () => got = true);
   * net.send("10.0.0.2:5000", "10.0.0.1:9000", Uint8Array.of(1));
   * assert.equal(net.runWhile(() => !got, { maxTime: 60_000 }), "done");
   * assert.equal(net.now, 10);
   * ```
   */
  runWhile(predicate: () => boolean, options: RunOptions = {}): RunStop {
    const { maxSteps = 1_000_000, maxTime = Infinity } = options;
    for (let steps = 0;; steps++) {
      if (!predicate()) return "done";
      if (steps >= maxSteps) return "max-steps";
      this.flush();
      const next = this.#nextEventAt();
      if (next === undefined) return "idle";
      if (next > maxTime) {
        if (maxTime > this.clock.now) this.clock.advanceTo(maxTime);
        return "max-time";
      }
      this.step();
    }
  }

  /**
   * Installs (or removes, with `undefined`) the middlebox, called at send time for every datagram
   * (before partitions and random faults).
   *
   * @example Rewriting the first byte
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * let first = -1;
   * net.bind("10.0.0.1:9000", (_from, bytes) => first = bytes[0]);
   * net.setMiddlebox((p) => Uint8Array.of(42, ...p.bytes.subarray(1)));
   * net.send("10.0.0.2:5000", "10.0.0.1:9000", Uint8Array.of(1, 2));
   * net.runUntil(10);
   * assert.equal(first, 42);
   * assert.equal(net.stats.rewrite, 1);
   * ```
   */
  setMiddlebox(middlebox: Middlebox | undefined): void {
    this.#middlebox = middlebox;
  }

  // ---- internals -------------------------------------------------------------------------------

  #claim(addr: Addr, endpoint: Endpoint): void {
    if (typeof addr !== "string" || addr.length === 0) {
      throw new TypeError(`Cannot bind: address ${String(addr)} is not a non-empty string`);
    }
    if (this.#endpoints.has(addr)) {
      throw new TypeError(`Cannot bind ${addr}: the address is in use`);
    }
    this.#endpoints.set(addr, endpoint);
  }

  #trace(
    kind:
      | "send"
      | "middlebox-drop"
      | "rewrite"
      | "partition"
      | "mtu-drop"
      | "drop"
      | "dup"
      | "corrupt"
      | "deliver"
      | "unbound-drop",
    from: Addr,
    to: Addr,
    size: number,
    id: number,
    note: string | undefined,
    bytes: Uint8Array | undefined,
  ): void {
    this.tracer.record(this.clock.now, kind, "datagram", from, to, size, id, note, bytes);
  }

  /** Changes 1 to 3 distinct bytes of `bytes` (non-empty) in place; returns a trace note. */
  #corrupt(bytes: Uint8Array): string {
    const count = this.prng.int(1, Math.min(3, bytes.length));
    const positions: number[] = [];
    while (positions.length < count) {
      const p = this.prng.int(0, bytes.length - 1);
      if (!positions.includes(p)) positions.push(p);
    }
    positions.sort((a, b) => a - b);
    for (const p of positions) bytes[p] ^= this.prng.int(1, 255);
    return `flipped ${count}B at ${positions.join(",")}`;
  }

  #arrive(from: Addr, to: Addr, bytes: Uint8Array, id: number): void {
    const endpoint = this.#endpoints.get(to);
    if (endpoint === undefined) {
      this.#trace("unbound-drop", from, to, bytes.length, id, undefined, bytes);
      return;
    }
    this.#trace("deliver", from, to, bytes.length, id, undefined, bytes);
    const now = this.clock.now;
    if (endpoint.kind === "socket") {
      endpoint.handler(from, bytes, now);
    } else {
      endpoint.core.handleDatagram(from, bytes, now);
      this.#drain(to, endpoint.core);
    }
  }

  #drain(addr: Addr, core: DatagramCore): void {
    for (let i = 0; i < DRAIN_MAX; i++) {
      const t = core.pollTransmit();
      if (t === undefined) return;
      this.send(addr, t.to, t.bytes);
    }
    throw new Error(`Cannot drain the core at ${addr}: over ${DRAIN_MAX} datagrams at once`);
  }

  #nextEventAt(): Millis | undefined {
    let t = this.clock.nextDeadline();
    for (const { core } of this.#cores) {
      const at = core.nextTimeout();
      if (at !== undefined && (t === undefined || at < t)) t = at;
    }
    return t;
  }

  #tickDueCores(): void {
    for (let round = 0; round < TICK_ROUNDS_MAX; round++) {
      const now = this.clock.now;
      let ticked = false;
      for (const { addr, core } of this.#cores) {
        const at = core.nextTimeout();
        if (at === undefined || at > now) continue;
        ticked = true;
        core.handleTick(now);
        this.#drain(addr, core);
      }
      if (!ticked) return;
    }
    const stuck = this.#cores.find(({ core }) =>
      (core.nextTimeout() ?? Infinity) <= this.clock.now
    );
    throw new Error(
      `Cannot step the simulation: handleTick() does not move nextTimeout() of ${stuck?.addr} past ${this.clock.now}ms`,
    );
  }
}
