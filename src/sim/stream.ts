/**
 * TCP-like stream links for the simulator: ordered, exactly-once bytes, re-chunked at random
 * points, with a random delay per chunk that never reorders. Links can be half-closed (EOF) and cut
 * (both ends reset). Use them through `SimNet.listen()`, `SimNet.connect()` and
 * `SimNet.cutStreams()`.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import { assert, unreachable } from "../util/mod.ts";
import type { VirtualClock } from "./clock.ts";
import { drawDelay, type LinkTable } from "./links.ts";
import type { Tracer } from "./trace.ts";
import type { Addr } from "../core/mod.ts";

/**
 * What one end of a stream observes, in order:
 * - `open`: (client end only) the connection was accepted;
 * - `data`: bytes from the peer, a fresh buffer the receiver owns;
 * - `eof`: the peer called `end()`; no more data will come;
 * - `error`: `refused` (nobody listened) or `reset` (the link was cut); nothing follows.
 */
export type StreamEvent =
  | { readonly type: "open" }
  | { readonly type: "data"; readonly bytes: Uint8Array }
  | { readonly type: "eof" }
  | { readonly type: "error"; readonly reason: "refused" | "reset" };

/**
 * The state of one end: `connecting` until the client sees `open`; `closed` after an error, or
 * once this end has called `end()` and seen the peer's `eof`.
 */
export type StreamState = "connecting" | "open" | "closed";

/**
 * One end of a simulated stream. Events are buffered for `pollEvent()` unless a handler is set
 * with `onEvent()`.
 *
 * @example Talking over a stream
 * ```ts
 * import { SimNet } from "./net.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const net = new SimNet({ prng: Prng.seeded(1) });
 * const got: number[] = [];
 * net.listen("10.0.0.1:80", (server) => {
 *   server.onEvent((e) => { if (e.type === "data") got.push(...e.bytes); });
 * });
 * const client = net.connect("10.0.0.2:4000", "10.0.0.1:80");
 * client.write(new Uint8Array([1, 2, 3]));
 * net.runUntil(100);
 * assert.equal(got.join(), "1,2,3");
 * assert.equal(client.pollEvent()?.type, "open");
 * ```
 */
export interface StreamEnd {
  /** The stream's id (as in the trace). */
  readonly id: number;
  /** This end's address. */
  readonly local: Addr;
  /** The peer's address. */
  readonly remote: Addr;
  /** See {@linkcode StreamState}. */
  readonly state: StreamState;
  /**
   * Queues bytes for the peer (copied). Returns `false`, discarding them, when the stream was
   * refused or reset. Throws `TypeError` after `end()`.
   */
  write(bytes: Uint8Array): boolean;
  /** Half-closes: the peer sees `eof` after all written bytes. Idempotent. */
  end(): void;
  /** Cuts the link: both ends see `error: reset` now, bytes in flight are lost. */
  cut(): void;
  /** Takes the next buffered event, or `undefined`. */
  pollEvent(): StreamEvent | undefined;
  /** Sets (or removes) a handler that receives events as they happen, buffered ones first. */
  onEvent(handler: ((event: StreamEvent) => void) | undefined): void;
}

/**
 * A listening address; `close()` stops accepting (later connects are refused; accepted streams
 * live on).
 *
 * @example Closing a listener
 * ```ts
 * import { SimNet } from "./net.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const net = new SimNet({ prng: Prng.seeded(1) });
 * net.listen("10.0.0.1:80", () => {}).close();
 * const client = net.connect("10.0.0.2:4000", "10.0.0.1:80");
 * net.runUntil(100);
 * const e = client.pollEvent();
 * assert.equal(e?.type, "error");
 * assert.equal(e.reason, "refused");
 * ```
 */
export interface StreamListener {
  /** The listening address. */
  readonly addr: Addr;
  /** Stops accepting connections. Idempotent. */
  close(): void;
}

/** The most events an end buffers for `pollEvent()` before the simulation fails. */
const INBOX_MAX = 100_000;

interface Segment {
  readonly at: number;
  readonly kind: "syn" | "synack" | "rst" | "data" | "fin";
  readonly bytes: Uint8Array | undefined;
}

/** One direction of a link: segments in arrival order (arrival times never decrease). */
class Direction {
  readonly from: Addr;
  readonly to: Addr;
  segments: Segment[] = [];
  head = 0;
  lastAt = -Infinity;
  lastTimerAt = -Infinity;
  stalled = false;
  /** Set when the connection was refused: nothing more travels this way. */
  dead = false;

  constructor(from: Addr, to: Addr) {
    this.from = from;
    this.to = to;
  }
}

/** What an end asks of the stream layer. */
interface EndOps {
  write(link: Link, end: End, bytes: Uint8Array): void;
  end(link: Link, end: End): void;
  cut(link: Link): void;
}

class Link {
  readonly id: number;
  readonly up: Direction;
  readonly down: Direction;
  readonly client: End;
  server: End | undefined;
  done = false;

  constructor(ops: EndOps, id: number, from: Addr, to: Addr) {
    this.id = id;
    this.up = new Direction(from, to);
    this.down = new Direction(to, from);
    this.client = new End(ops, this, from, to, "connecting");
  }
}

class End implements StreamEnd {
  readonly local: Addr;
  readonly remote: Addr;
  state: StreamState;
  ended = false;
  eofSeen = false;
  #inbox: StreamEvent[] = [];
  #handler: ((event: StreamEvent) => void) | undefined;
  readonly #ops: EndOps;
  readonly #link: Link;

  constructor(ops: EndOps, link: Link, local: Addr, remote: Addr, state: StreamState) {
    this.#ops = ops;
    this.#link = link;
    this.local = local;
    this.remote = remote;
    this.state = state;
  }

  get id(): number {
    return this.#link.id;
  }

  write(bytes: Uint8Array): boolean {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Cannot write: bytes is not a Uint8Array");
    }
    if (this.ended) throw new TypeError(`Cannot write: stream#${this.id} was ended`);
    if (this.state === "closed") return false;
    this.#ops.write(this.#link, this, bytes);
    return true;
  }

  end(): void {
    if (this.ended || this.state === "closed") return;
    this.ended = true;
    this.#ops.end(this.#link, this);
  }

  cut(): void {
    this.#ops.cut(this.#link);
  }

  pollEvent(): StreamEvent | undefined {
    return this.#inbox.shift();
  }

  onEvent(handler: ((event: StreamEvent) => void) | undefined): void {
    this.#handler = handler;
    while (this.#handler !== undefined && this.#inbox.length > 0) {
      this.#handler(this.#inbox.shift()!);
    }
  }

  emit(event: StreamEvent): void {
    if (this.#handler !== undefined) {
      this.#handler(event);
      return;
    }
    if (this.#inbox.length >= INBOX_MAX) {
      throw new Error(
        `Cannot buffer a stream event: ${INBOX_MAX} events wait on stream#${this.id} at ${this.local}`,
      );
    }
    this.#inbox.push(event);
  }
}

/**
 * The stream half of `SimNet` (internal: tests use `SimNet.listen()`/`connect()`). It shares the
 * net's clock, link table and trace, and draws delays and split points from its own PRNG.
 *
 * @example Through SimNet
 * ```ts
 * import { SimNet } from "./net.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const net = new SimNet({ prng: Prng.seeded(2) });
 * net.listen("10.0.0.1:80", () => {});
 * net.connect("10.0.0.2:4000", "10.0.0.1:80");
 * net.runUntil(10);
 * assert.equal(net.stats.accept, 1);
 * ```
 */
export class SimStreams {
  readonly #clock: VirtualClock;
  readonly #prng: Prng;
  readonly #links: LinkTable;
  readonly #tracer: Tracer;
  readonly #listeners = new Map<Addr, (end: StreamEnd) => void>();
  readonly #open = new Map<number, Link>();
  readonly #stalled = new Map<Direction, Link>();
  #nextId = 1;
  readonly #ops: EndOps = {
    write: (link, end, bytes) => this.#write(link, end, bytes),
    end: (link, end) => this.#end(link, end),
    cut: (link) => this.#cut(link),
  };

  /**
   * Makes the stream layer over shared simulator parts.
   *
   * @example Construction (SimNet does this)
   * ```ts
   * import { SimStreams } from "./stream.ts";
   * import { VirtualClock } from "./clock.ts";
   * import { LinkTable } from "./links.ts";
   * import { Tracer } from "./trace.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const s = new SimStreams(new VirtualClock(), Prng.seeded(1), new LinkTable(), new Tracer(10));
   * assert.equal(s.openCount, 0);
   * ```
   */
  constructor(clock: VirtualClock, prng: Prng, links: LinkTable, tracer: Tracer) {
    this.#clock = clock;
    this.#prng = prng;
    this.#links = links;
    this.#tracer = tracer;
  }

  /**
   * How many streams are neither closed nor cut.
   *
   * @example No streams
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new SimNet({ prng: Prng.seeded(1) }).openStreams, 0);
   * ```
   */
  get openCount(): number {
    return this.#open.size;
  }

  /**
   * Listens on `addr`; `onAccept` receives the server end of each new stream, before any of its
   * data arrives.
   *
   * @throws {TypeError} When something already listens on `addr`.
   * @example See {@linkcode StreamEnd}.
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * assert.equal(net.listen("10.0.0.1:80", () => {}).addr, "10.0.0.1:80");
   * ```
   */
  listen(addr: Addr, onAccept: (end: StreamEnd) => void): StreamListener {
    if (this.#listeners.has(addr)) {
      throw new TypeError(`Cannot listen on ${addr}: the address is in use`);
    }
    this.#listeners.set(addr, onAccept);
    const listeners = this.#listeners;
    return {
      addr,
      close() {
        if (listeners.get(addr) === onAccept) listeners.delete(addr);
      },
    };
  }

  /**
   * Opens a stream from `from` to `to`; the returned client end can be written at once (bytes wait
   * behind the handshake). It sees `open`, or `error: refused` when nobody listens at `to`.
   *
   * @example See {@linkcode StreamEnd}.
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * assert.equal(net.connect("10.0.0.2:4000", "10.0.0.1:80").state, "connecting");
   * ```
   */
  connect(from: Addr, to: Addr): StreamEnd {
    const link = new Link(this.#ops, this.#nextId++, from, to);
    this.#open.set(link.id, link);
    this.#trace("connect", from, to, 0, link.id, undefined, undefined);
    this.#enqueue(link, link.up, "syn", undefined);
    return link.client;
  }

  /**
   * Cuts every open stream with an end at `addr`, or every open stream when `addr` is left out
   * (e.g. to simulate a crash).
   *
   * @returns How many streams were cut.
   * @example Cutting everything
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.connect("10.0.0.2:4000", "10.0.0.1:80");
   * assert.equal(net.cutStreams(), 1);
   * ```
   */
  cutAll(addr?: Addr): number {
    let n = 0;
    for (const link of [...this.#open.values()]) {
      if (addr === undefined || link.up.from === addr || link.up.to === addr) {
        this.#cut(link);
        n++;
      }
    }
    return n;
  }

  /**
   * Resumes delivery on stalled directions that are no longer partitioned (after a heal).
   *
   * @example After heal (SimNet calls this)
   * ```ts
   * import { SimNet } from "./net.ts";
   * import { Prng } from "../util/prng.ts";
   * import assert from "node:assert/strict";
   * const net = new SimNet({ prng: Prng.seeded(1) });
   * net.heal();
   * assert.equal(net.openStreams, 0);
   * ```
   */
  resume(): void {
    for (const [dir, link] of [...this.#stalled]) {
      if (this.#links.isCut(dir.from, dir.to)) continue;
      this.#stalled.delete(dir);
      dir.stalled = false;
      const delay = drawDelay(this.#prng, this.#links.get(dir.from, dir.to).delayMs);
      this.#clock.setTimer(this.#clock.now + delay, () => this.#deliver(link, dir));
    }
  }

  /** Splits and queues bytes written by `end`. */
  #write(link: Link, end: End, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const dir = end === link.client ? link.up : link.down;
    this.#trace("write", dir.from, dir.to, bytes.length, link.id, undefined, bytes);
    const chunkMax = this.#links.get(dir.from, dir.to).chunkBytesMax;
    for (let offset = 0; offset < bytes.length;) {
      const size = this.#prng.int(1, Math.min(chunkMax, bytes.length - offset));
      this.#enqueue(link, dir, "data", bytes.slice(offset, offset + size));
      offset += size;
    }
  }

  /** Queues the end of `end`'s direction. */
  #end(link: Link, end: End): void {
    const dir = end === link.client ? link.up : link.down;
    this.#trace("end", dir.from, dir.to, 0, link.id, undefined, undefined);
    this.#enqueue(link, dir, "fin", undefined);
    this.#closeIfFinished(link);
  }

  /** Resets both ends of `link` now. */
  #cut(link: Link): void {
    if (link.done) return;
    this.#finish(link);
    this.#trace("cut", link.up.from, link.up.to, 0, link.id, undefined, undefined);
    for (const end of [link.client, link.server]) {
      if (end === undefined) continue;
      end.state = "closed";
      end.emit({ type: "error", reason: "reset" });
    }
  }

  #trace(
    kind: "connect" | "accept" | "refused" | "write" | "data" | "end" | "eof" | "stall" | "cut",
    from: Addr,
    to: Addr,
    size: number,
    id: number,
    note: string | undefined,
    bytes: Uint8Array | undefined,
  ): void {
    this.#tracer.record(this.#clock.now, kind, "stream", from, to, size, id, note, bytes);
  }

  /** Stamps a segment's arrival (never before the previous one) and arms a delivery timer. */
  #enqueue(link: Link, dir: Direction, kind: Segment["kind"], bytes: Uint8Array | undefined): void {
    if (dir.dead) return;
    const delay = drawDelay(this.#prng, this.#links.get(dir.from, dir.to).delayMs);
    const at = Math.max(dir.lastAt, this.#clock.now + delay);
    dir.lastAt = at;
    dir.segments.push({ at, kind, bytes });
    if (at > dir.lastTimerAt) {
      dir.lastTimerAt = at;
      this.#clock.setTimer(at, () => this.#deliver(link, dir));
    }
  }

  /** Delivers every segment due by now, coalescing adjacent data up to `chunkBytesMax`. */
  #deliver(link: Link, dir: Direction): void {
    if (link.done) return;
    const now = this.#clock.now;
    if (dir.head >= dir.segments.length || dir.segments[dir.head].at > now) return;
    if (this.#links.isCut(dir.from, dir.to)) {
      if (!dir.stalled) {
        dir.stalled = true;
        this.#stalled.set(dir, link);
        this.#trace("stall", dir.from, dir.to, 0, link.id, "partitioned", undefined);
      }
      return;
    }
    const chunkMax = this.#links.get(dir.from, dir.to).chunkBytesMax;
    let pending: Uint8Array[] = [];
    let pendingSize = 0;
    const flush = () => {
      if (pendingSize === 0) return;
      const bytes = concat(pending, pendingSize);
      pending = [];
      pendingSize = 0;
      const receiver = dir === link.up ? link.server : link.client;
      assert(receiver !== undefined, "stream data before the handshake");
      this.#trace("data", dir.from, dir.to, bytes.length, link.id, undefined, bytes);
      receiver.emit({ type: "data", bytes });
    };
    while (!link.done && dir.head < dir.segments.length && dir.segments[dir.head].at <= now) {
      const seg = dir.segments[dir.head++];
      if (seg.kind === "data") {
        assert(seg.bytes !== undefined, "data segment without bytes");
        if (pendingSize > 0 && pendingSize + seg.bytes.length > chunkMax) flush();
        pending.push(seg.bytes);
        pendingSize += seg.bytes.length;
        continue;
      }
      flush();
      if (!link.done) this.#control(link, dir, seg.kind);
    }
    if (!link.done) flush();
    if (dir.head === dir.segments.length) {
      dir.segments = [];
      dir.head = 0;
    } else if (dir.head > 1024 && dir.head * 2 > dir.segments.length) {
      dir.segments = dir.segments.slice(dir.head);
      dir.head = 0;
    }
  }

  #control(link: Link, dir: Direction, kind: "syn" | "synack" | "rst" | "fin"): void {
    switch (kind) {
      case "syn": {
        const onAccept = this.#listeners.get(dir.to);
        if (onAccept === undefined) {
          this.#trace("refused", dir.from, dir.to, 0, link.id, undefined, undefined);
          dir.dead = true; // the client's bytes, sent or still to come, die with the connection
          dir.segments = [];
          dir.head = 0;
          this.#enqueue(link, link.down, "rst", undefined);
          return;
        }
        this.#trace("accept", dir.from, dir.to, 0, link.id, undefined, undefined);
        const server = new End(this.#ops, link, dir.to, dir.from, "open");
        link.server = server;
        this.#enqueue(link, link.down, "synack", undefined);
        onAccept(server);
        return;
      }
      case "synack":
        if (link.client.state === "connecting") link.client.state = "open";
        link.client.emit({ type: "open" });
        return;
      case "rst":
        this.#finish(link);
        link.client.state = "closed";
        link.client.emit({ type: "error", reason: "refused" });
        return;
      case "fin": {
        const receiver = dir === link.up ? link.server : link.client;
        assert(receiver !== undefined, "stream end before the handshake");
        this.#trace("eof", dir.from, dir.to, 0, link.id, undefined, undefined);
        receiver.eofSeen = true;
        receiver.emit({ type: "eof" });
        this.#closeIfFinished(link);
        return;
      }
      default:
        unreachable(kind);
    }
  }

  /** Marks ends closed once each has ended and seen the other's EOF. */
  #closeIfFinished(link: Link): void {
    const { client, server } = link;
    if (client.ended && client.eofSeen) client.state = "closed";
    if (server === undefined) return;
    if (server.ended && server.eofSeen) server.state = "closed";
    if (client.state === "closed" && server.state === "closed") this.#finish(link);
  }

  #finish(link: Link): void {
    link.done = true;
    this.#open.delete(link.id);
    for (const dir of [link.up, link.down]) {
      dir.segments = [];
      dir.head = 0;
      this.#stalled.delete(dir);
    }
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
