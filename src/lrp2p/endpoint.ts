/**
 * An LRP2P socket as one sans-I/O {@linkcode DatagramCore}: many connections multiplexed on one
 * UDP socket by their 64-bit connection id (spec §5), with the responder's admission rules of
 * §8.1 (a rate limit per source IP and in total, a backlog of handshakes not yet accepted) and
 * every datagram length-checked before use (L7, L16). Run live by the one UDP driver
 * (`socket_deno.ts`) and in tests by `SimNet`.
 *
 * @module
 */

import type { Addr, DatagramCore, EventSource, Millis, Transmit } from "../core/mod.ts";
import { OutputQueue, TimeKeeper } from "../core/mod.ts";
import { Slab } from "../util/mod.ts";
import { type ConnTimings, DEFAULT_TIMINGS, LrpConn } from "./conn.ts";
import { generateKeyPair, type KeyPair } from "./noise.ts";
import type { Aead } from "./transport.ts";
import { readConnId } from "./wire.ts";

/** What the endpoint reports. */
export type LrpEvent =
  | {
    readonly type: "open";
    readonly connId: bigint;
    readonly remote: Addr;
    readonly initiator: boolean;
  }
  | { readonly type: "readable"; readonly connId: bigint }
  | { readonly type: "writable"; readonly connId: bigint }
  /** Our FIN and everything before it were acknowledged: our side is closed (the peer may still send). */
  | { readonly type: "finished"; readonly connId: bigint }
  | { readonly type: "closed"; readonly connId: bigint; readonly error?: string };

/** Options of {@linkcode LrpEndpoint}. */
export interface LrpEndpointOptions {
  /** This socket's static key (one identity for every connection). */
  staticKey: KeyPair;
  /** Random bytes (connection ids, ephemeral keys). */
  random: (n: number) => Uint8Array;
  /** Accepts or refuses a peer's static key (undefined: any key, as with Go peers). */
  verifyRemote?: (remoteStatic: Uint8Array) => boolean;
  /** Whether new connections from peers are admitted. @default {true} */
  acceptIncoming?: boolean;
  /** Incoming connections open or opening but not yet taken by `accept`. @default {16} */
  backlog?: number;
  /** Connections held at once. @default {4096} */
  maxConnections?: number;
  /** New handshakes admitted per second from one IP. @default {20} */
  handshakesPerIp?: number;
  /** New handshakes admitted per second in total. @default {200} */
  handshakesTotal?: number;
  /** Timers (tests shorten them). */
  timings?: Partial<ConnTimings>;
  /** Send buffer of each connection, bytes. @default {1 MiB} */
  sendBufferBytes?: number;
  /** Receive buffer of each connection, bytes. @default {4 MiB} */
  receiveBufferBytes?: number;
  /** The ChaCha20-Poly1305 implementation. @default {nobleAead} */
  aead?: Aead;
  /** The time at start. @default {0} */
  now?: Millis;
}

/** Why datagrams were dropped, counted. */
export interface LrpDrops {
  short: number;
  unknownConn: number;
  badHello: number;
  rateLimited: number;
  backlogFull: number;
  tableFull: number;
  authFailed: number;
  badSegment: number;
}

/** A token bucket refilled at `rate` per second up to `rate`. */
class Bucket {
  tokens: number;
  at: Millis;
  constructor(readonly rate: number, now: Millis) {
    this.tokens = rate;
    this.at = now;
  }
  take(now: Millis): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

const PER_IP_BUCKETS_MAX = 4096;
/** Unread bytes kept for the application after its connections ended, in total. */
const LEFTOVER_BYTES_MAX = 64 << 20;
const HELLO_BYTES = 40;

/**
 * The socket core.
 */
export class LrpEndpoint implements DatagramCore, EventSource<LrpEvent> {
  readonly #o: LrpEndpointOptions;
  readonly #timings: ConnTimings;
  readonly #time: TimeKeeper;
  readonly #conns = new Map<bigint, LrpConn>();
  /** Incoming connections not yet taken by `accept`, oldest first. */
  readonly #unaccepted = new Set<bigint>();
  readonly #acceptable: bigint[] = [];
  readonly #out = new OutputQueue<Transmit>({ capacity: 1 << 20 });
  readonly #events = new OutputQueue<LrpEvent>({ capacity: 1 << 20 });
  readonly #ipBuckets = new Map<string, Bucket>();
  readonly #total: Bucket;
  readonly #dirty = new Set<LrpConn>();
  /** The connection the last datagram was for, with its id's halves. */
  #last: { high: number; low: number; conn: LrpConn } | undefined;
  /** Bytes that ended connections still held, unread, for the application (`read` serves them). */
  readonly #leftovers = new Map<bigint, Uint8Array[]>();
  #leftoverBytes = 0;
  /**
   * Where sealed datagrams are made: they are sent and dropped at once, so a shared buffer per 47
   * of them costs one allocation instead of 47 (`src/util/slab.ts` tells why that matters).
   */
  readonly #datagrams = new Slab({ slabBytes: 64 * 1024, maxPiece: 2048 });
  readonly #alloc = (n: number) => this.#datagrams.alloc(n);
  /** Counters of dropped datagrams. */
  readonly drops: LrpDrops = {
    short: 0,
    unknownConn: 0,
    badHello: 0,
    rateLimited: 0,
    backlogFull: 0,
    tableFull: 0,
    authFailed: 0,
    badSegment: 0,
  };

  constructor(options: LrpEndpointOptions) {
    this.#o = options;
    this.#timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.#time = new TimeKeeper(options.now ?? 0);
    this.#total = new Bucket(options.handshakesTotal ?? 200, this.#time.now);
  }

  /** The static public key of this socket. */
  get publicKey(): Uint8Array {
    return this.#o.staticKey.publicKey;
  }

  /** Connections held. */
  get size(): number {
    return this.#conns.size;
  }

  /**
   * Connections that finished both ways and linger (§8.4): they only answer the peer's
   * retransmissions, for when it did not get the ACK of its FIN.
   */
  get lingering(): number {
    let n = 0;
    for (const c of this.#conns.values()) if (c.state === "lingering") n++;
    return n;
  }

  /** The connection `connId`, if held. */
  conn(connId: bigint): LrpConn | undefined {
    return this.#conns.get(connId);
  }

  /** Opens a connection to `remote`; its `open` or `closed` event tells how it went. */
  connect(remote: Addr, now: Millis): bigint {
    now = this.#time.advance(now);
    let connId: bigint;
    do connId = toBigInt(this.#o.random(8)); while (this.#conns.has(connId));
    const c = LrpConn.connect({ ...this.#connOptions(connId, remote, now) });
    this.#conns.set(connId, c);
    this.#after(c, now);
    return connId;
  }

  /** Takes the oldest open incoming connection not yet accepted. */
  accept(): bigint | undefined {
    for (;;) {
      const id = this.#acceptable.shift();
      if (id === undefined) return undefined;
      if (!this.#unaccepted.delete(id)) continue;
      if (this.#conns.has(id)) return id;
    }
  }

  /** Queues bytes on a connection; returns how many were taken. */
  write(connId: bigint, bytes: Uint8Array, now: Millis): number {
    now = this.#time.advance(now);
    const c = this.#conns.get(connId);
    if (!c) return 0;
    const n = c.write(bytes, now);
    this.#after(c, now);
    return n;
  }

  /** Reads from a connection (`null`: end of stream; `undefined`: nothing now). */
  read(connId: bigint, max?: number): Uint8Array | null | undefined {
    const c = this.#conns.get(connId);
    if (!c) return this.#readLeftover(connId, max);
    const r = c.read(max);
    if (r !== undefined) this.#after(c, this.#time.now); // room in the receive buffer
    return r;
  }

  /**
   * Copies bytes of a connection into `out` (`null`: end of stream; `undefined`: nothing now).
   */
  readInto(connId: bigint, out: Uint8Array): number | null | undefined {
    const c = this.#conns.get(connId);
    if (!c) {
      if (out.length === 0) return this.#leftovers.has(connId) ? 0 : null;
      const r = this.#readLeftover(connId, out.length);
      if (r === null) return null;
      out.set(r);
      return r.length;
    }
    const r = c.readInto(out);
    if (r !== undefined) this.#after(c, this.#time.now); // room in the receive buffer
    return r;
  }

  /** Closes a connection gracefully (FIN). */
  close(connId: bigint, now: Millis): void {
    now = this.#time.advance(now);
    const c = this.#conns.get(connId);
    if (!c) return;
    c.close(now);
    this.#after(c, now);
  }

  /** Ends a connection at once. */
  abort(connId: bigint, now: Millis, reason = "aborted"): void {
    now = this.#time.advance(now);
    const c = this.#conns.get(connId);
    if (!c) return this.#dropLeftover(connId);
    c.abort(now, reason);
    this.#after(c, now);
  }

  /**
   * A datagram from `from`. Whatever is kept of it (a message 1, datagrams that came before
   * message 3, a payload) is copied before this returns, so the caller may reuse `bytes`.
   */
  handleDatagram(from: Addr, bytes: Uint8Array, now: Millis): void {
    now = this.#time.advance(now);
    if (bytes.length < 16) {
      this.drops.short++; // L7, L16
      return;
    }
    // The connection of the last datagram, compared by halves: a flow's datagrams come in a row,
    // and this spares a BigInt and a hash lookup per datagram.
    const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
    const high = view.getUint32(0), low = view.getUint32(4);
    const last = this.#last;
    let c: LrpConn | undefined;
    let connId: bigint;
    if (last !== undefined && last.high === high && last.low === low) {
      c = last.conn;
      connId = c.connId;
    } else {
      connId = readConnId(bytes)!;
      c = this.#conns.get(connId);
      if (c) this.#last = { high, low, conn: c };
    }
    if (c) {
      const fails = c.stats.authFailed;
      c.handleDatagram(bytes, now);
      if (c.stats.authFailed > fails) this.drops.authFailed++;
      return this.#after(c, now);
    }
    if (bytes.length !== HELLO_BYTES) {
      this.drops.unknownConn++;
      return;
    }
    this.#admit(connId, from, bytes, now);
  }

  /** Runs the timers due at `now`. */
  handleTick(now: Millis): void {
    now = this.#time.advance(now);
    for (const c of [...this.#conns.values()]) {
      const at = c.nextTimeout();
      if (at !== undefined && at <= now) {
        c.handleTick(now);
        this.#after(c, now);
      }
    }
  }

  /** The next datagram to send. */
  pollTransmit(): Transmit | undefined {
    return this.#out.shift();
  }

  /** The next timer. */
  nextTimeout(): Millis | undefined {
    let at = Infinity;
    for (const c of this.#conns.values()) at = Math.min(at, c.nextTimeout() ?? Infinity);
    return at === Infinity ? undefined : at;
  }

  /** The next event. */
  pollEvent(): LrpEvent | undefined {
    return this.#events.shift();
  }

  #connOptions(connId: bigint, remote: Addr, now: Millis) {
    return {
      connId,
      remote,
      staticKey: this.#o.staticKey,
      ephemeralKey: generateKeyPair(this.#o.random),
      random: this.#o.random,
      aead: this.#o.aead,
      alloc: this.#alloc,
      now,
      timings: this.#timings,
      verifyRemote: this.#o.verifyRemote,
      sendBufferBytes: this.#o.sendBufferBytes,
      receiveBufferBytes: this.#o.receiveBufferBytes,
    };
  }

  #admit(connId: bigint, from: Addr, bytes: Uint8Array, now: Millis): void {
    if (this.#o.acceptIncoming === false) {
      this.drops.unknownConn++;
      return;
    }
    if (this.#conns.size >= (this.#o.maxConnections ?? 4096)) {
      this.drops.tableFull++;
      return;
    }
    if (this.#unaccepted.size >= (this.#o.backlog ?? 16)) {
      this.drops.backlogFull++;
      return;
    }
    const ip = from.slice(0, from.lastIndexOf(":"));
    let bucket = this.#ipBuckets.get(ip);
    if (!bucket) {
      if (this.#ipBuckets.size >= PER_IP_BUCKETS_MAX) this.#ipBuckets.clear();
      bucket = new Bucket(this.#o.handshakesPerIp ?? 20, now);
      this.#ipBuckets.set(ip, bucket);
    }
    if (!bucket.take(now) || !this.#total.take(now)) {
      this.drops.rateLimited++;
      return;
    }
    const c = LrpConn.accept(this.#connOptions(connId, from, now), bytes);
    if (c instanceof Error) {
      this.drops.badHello++;
      return;
    }
    this.#conns.set(connId, c);
    this.#unaccepted.add(connId);
    this.#after(c, now);
  }

  /** Sends what `c` has, and reports what changed. */
  #after(c: LrpConn, _now: Millis): void {
    for (let d = c.pollDatagram(); d; d = c.pollDatagram()) {
      this.#out.push({ to: c.remote, bytes: d });
    }
    const id = c.connId;
    if (c.opened) {
      c.opened = false;
      if (!c.initiator) this.#acceptable.push(id);
      this.#events.push({ type: "open", connId: id, remote: c.remote, initiator: c.initiator });
    }
    if (c.finishedChanged) {
      c.finishedChanged = false;
      this.#events.push({ type: "finished", connId: id });
    }
    if (c.readableChanged) {
      c.readableChanged = false;
      if (c.state !== "closed") this.#events.push({ type: "readable", connId: id });
    }
    if (c.blocked) {
      if (c.writableAgain) {
        c.blocked = false;
        this.#events.push({ type: "writable", connId: id });
      }
    } else if (!c.writable) c.blocked = true;
    if (c.state === "closed" || c.state === "lingering") {
      if (c.state === "closed") {
        // the application may still be reading: what the peer sent before the end stays readable
        if (c.initiator || !this.#unaccepted.has(id)) this.#keepLeftover(c);
        this.#conns.delete(id);
        if (this.#last?.conn === c) this.#last = undefined;
      }
      if (!this.#dirty.has(c)) {
        this.#dirty.add(c); // reported once
        const wasPending = this.#unaccepted.delete(id);
        if (!wasPending || c.remoteStatic !== undefined) {
          this.#events.push({ type: "closed", connId: id, error: c.reason });
        }
      }
      if (c.state === "closed") this.#dirty.delete(c);
    }
  }

  #keepLeftover(c: LrpConn): void {
    const rest: Uint8Array[] = [];
    let bytes = 0;
    for (let r = c.read(); r; r = c.read()) {
      rest.push(r);
      bytes += r.length;
    }
    if (bytes === 0 || this.#leftoverBytes + bytes > LEFTOVER_BYTES_MAX) return;
    this.#leftovers.set(c.connId, rest);
    this.#leftoverBytes += bytes;
  }

  #readLeftover(connId: bigint, max?: number): Uint8Array | null {
    const rest = this.#leftovers.get(connId);
    if (!rest) return null;
    let r = rest[0];
    if (max !== undefined && max > 0 && r.length > max) {
      rest[0] = r.subarray(max);
      r = r.subarray(0, max);
    } else rest.shift();
    if (rest.length === 0) this.#leftovers.delete(connId);
    this.#leftoverBytes -= r.length;
    return r;
  }

  #dropLeftover(connId: bigint): void {
    for (const r of this.#leftovers.get(connId) ?? []) this.#leftoverBytes -= r.length;
    this.#leftovers.delete(connId);
  }
}

function toBigInt(b: Uint8Array): bigint {
  let x = 0n;
  for (let i = 0; i < 8; i++) x = (x << 8n) | BigInt(b[i]);
  return x;
}

export type { ConnTimings };
