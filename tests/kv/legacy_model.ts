/**
 * A model of the ORIGINAL Rust node (spec `kv.md` §1, §3, §4) as a sans-I/O core, to run beside
 * our nodes on the simulator. It keeps the original's defects on purpose: an empty name (D2), a
 * hard-coded advertised address (D1, configurable here), exit on an undecodable datagram (D3) or
 * on a failed heartbeat connect (D4), a new heartbeat task per received Handshake (D6), one-hop
 * sequential Sync pushes without timeouts (D7, D9), unconditional Syncs (D8) and a 1,024-byte
 * read (D10). It records why it exited instead of exiting; the host then stops it.
 *
 * The simulator re-chunks stream bytes at random, which real TCP does not do to one small write on
 * a LAN, so a request is read until the bytes so far hold one complete JSON value (or EOF, or
 * 1,024 bytes); only its first 1,024 bytes are parsed, as the original's single read does.
 *
 * @module
 */

import type {
  Addr,
  ConnId,
  DatagramCore,
  Millis,
  StreamAction,
  StreamCore,
  Transmit,
} from "../../src/core/mod.ts";
import { decodeLegacyBuffer, encodePlain } from "../../src/kv/codec.ts";
import { JsonValueScanner } from "../../src/kv/scanner.ts";
import type { KvMessage } from "../../src/kv/types.ts";

/** The original's hard-coded advertised address (D1). */
export const LEGACY_ADVERTISE = "192.168.177.20:9000";
/** The original's announcement and heartbeat period. */
const PERIOD_MS = 5000;
/** No connect timeout in the original: the operating system gives up after about 130 s. */
const OS_CONNECT_TIMEOUT_MS = 130_000;
const READ_MAX = 1024;
const SET_OK = "Value set successful";

/** Options of {@linkcode LegacyNode}. */
export interface LegacyNodeOptions {
  /** What the Handshake advertises. @default {LEGACY_ADVERTISE} */
  advertise?: Addr;
  /** Where the Handshake goes (the broadcast, simulated as a list of UDP addresses). */
  broadcast: readonly Addr[];
  /** The driver's time at start. @default {0} */
  now?: Millis;
}

interface HeartbeatTask {
  readonly to: Addr;
  nextAt: Millis;
  conn?: ConnId;
}

type Conn =
  | {
    kind: "request";
    scanner: JsonValueScanner;
    chunks: Uint8Array[];
    size: number;
    busy: boolean;
  }
  | { kind: "heartbeat"; task: HeartbeatTask }
  | { kind: "push"; job: PushJob };

interface PushJob {
  readonly client: ConnId;
  readonly sync: Uint8Array;
  readonly to: Addr[];
  next: number;
}

/**
 * The original node. Use it as both a {@linkcode DatagramCore} (UDP 8888) and a
 * {@linkcode StreamCore} (TCP 9000); stop its host when {@linkcode LegacyNode.exited} is set.
 *
 * @example It exits on a datagram that is not a message
 * ```ts
 * import { LegacyNode } from "./legacy_model.ts";
 * import assert from "node:assert/strict";
 * const node = new LegacyNode({ broadcast: ["10.0.0.9:8888"] });
 * node.handleDatagram("10.0.0.2:8888", new TextEncoder().encode("not json"), 1);
 * assert.match(node.exited ?? "", /^bad datagram/);
 * ```
 */
export class LegacyNode implements DatagramCore, StreamCore {
  /** Why the process exited, once it did. */
  exited: string | undefined;
  /** Request tasks that panicked on an unparseable message (the process survives those). */
  panics = 0;
  /** The store: no versions, last arrival wins. */
  readonly store = new Map<string, string>();
  /** The peer table: node name → advertised TCP address (never expires). */
  readonly peers = new Map<string, Addr>();
  /** Heartbeat tasks started (one per foreign Handshake received). */
  readonly tasks: HeartbeatTask[] = [];
  readonly #advertise: Addr;
  readonly #broadcast: readonly Addr[];
  readonly #transmits: Transmit[] = [];
  readonly #actions: StreamAction[] = [];
  readonly #conns = new Map<ConnId, Conn>();
  #announceAt: Millis;
  #nextConn = 1;

  constructor(options: LegacyNodeOptions) {
    this.#advertise = options.advertise ?? LEGACY_ADVERTISE;
    this.#broadcast = options.broadcast;
    this.#announceAt = options.now ?? 0;
  }

  // ---- UDP ------------------------------------------------------------------------------------

  /** A datagram on UDP 8888: anything undecodable ends the process (D3). */
  handleDatagram(from: Addr, bytes: Uint8Array, now: Millis): void {
    if (this.exited !== undefined) return;
    const r = decodeLegacyBuffer(bytes);
    if (!r.ok) return this.#exit(`bad datagram from ${from}: ${r.error.kind}: ${r.error.detail}`);
    const m = r.message;
    if (m.type !== "Handshake" || m.nodeName === "") return; // its own name is "" (D2)
    this.peers.set(m.nodeName, m.tcpAddress);
    this.#transmits.push({ to: from, bytes: encodePlain({ type: "Greeting" }) });
    this.tasks.push({ to: m.tcpAddress, nextAt: now + PERIOD_MS }); // one more per Handshake (D6)
    this.handleTick(now);
  }

  /** The next datagram to send. */
  pollTransmit(): Transmit | undefined {
    return this.#transmits.shift();
  }

  // ---- TCP ------------------------------------------------------------------------------------

  /** A request connection. */
  handleAccept(_remote: Addr, _local: Addr, _now: Millis): ConnId {
    const id = this.#nextConn++;
    if (this.exited !== undefined) {
      this.#actions.push({ type: "close", conn: id });
      return id;
    }
    this.#conns.set(id, {
      kind: "request",
      scanner: new JsonValueScanner(),
      chunks: [],
      size: 0,
      busy: false,
    });
    return id;
  }

  /** An outgoing connection is up: a heartbeat or a Sync push is written, then dropped. */
  handleConnected(conn: ConnId, now: Millis): void {
    const c = this.#conns.get(conn);
    if (c === undefined || this.exited !== undefined) return;
    this.#conns.delete(conn);
    if (c.kind === "heartbeat") {
      this.#actions.push({ type: "write", conn, bytes: encodePlain({ type: "Heartbeat" }) });
      this.#actions.push({ type: "close", conn }); // the reply is never read (D5)
      c.task.conn = undefined;
      c.task.nextAt = now + PERIOD_MS;
    } else if (c.kind === "push") {
      this.#actions.push({ type: "write", conn, bytes: c.job.sync });
      this.#actions.push({ type: "close", conn });
      this.#pushNext(c.job);
    }
  }

  /** Bytes on a request connection. */
  handleData(conn: ConnId, bytes: Uint8Array, _now: Millis): void {
    const c = this.#conns.get(conn);
    if (c?.kind !== "request" || c.busy || this.exited !== undefined) return;
    c.chunks.push(bytes);
    c.size += bytes.length;
    const s = c.scanner.push(bytes).state;
    if (s !== "incomplete" || c.size >= READ_MAX) this.#request(conn, c);
  }

  /** The peer ended its side. */
  handleEof(conn: ConnId, _now: Millis): void {
    const c = this.#conns.get(conn);
    if (c?.kind === "request" && !c.busy && this.exited === undefined) this.#request(conn, c);
  }

  /** A connection failed: a failed heartbeat connect ends the process (D4). */
  handleError(conn: ConnId, reason: string, _now: Millis): void {
    const c = this.#conns.get(conn);
    this.#conns.delete(conn);
    if (c === undefined || this.exited !== undefined) return;
    if (c.kind === "heartbeat") return this.#exit(`heartbeat to ${c.task.to} failed: ${reason}`);
    if (c.kind === "push") this.#pushNext(c.job); // a refused peer is skipped
  }

  /** The next TCP action. */
  pollAction(): StreamAction | undefined {
    return this.#actions.shift();
  }

  // ---- both -----------------------------------------------------------------------------------

  /** Announces and starts the heartbeats that are due. */
  handleTick(now: Millis): void {
    if (this.exited !== undefined) return;
    if (this.#announceAt <= now) {
      const bytes = encodePlain({ type: "Handshake", nodeName: "", tcpAddress: this.#advertise });
      for (const to of this.#broadcast) this.#transmits.push({ to, bytes });
      this.#announceAt = now + PERIOD_MS;
    }
    for (const t of this.tasks) {
      if (t.conn !== undefined || t.nextAt > now) continue;
      const conn = this.#nextConn++;
      t.conn = conn;
      this.#conns.set(conn, { kind: "heartbeat", task: t });
      this.#actions.push({ type: "connect", conn, to: t.to, timeoutMs: OS_CONNECT_TIMEOUT_MS });
    }
  }

  /** When a tick is next due. */
  nextTimeout(): Millis | undefined {
    if (this.exited !== undefined) return undefined;
    let at = this.#announceAt;
    for (const t of this.tasks) if (t.conn === undefined && t.nextAt < at) at = t.nextAt;
    return at;
  }

  // ---- inside ---------------------------------------------------------------------------------

  #exit(reason: string): void {
    this.exited = reason;
    this.#transmits.length = 0;
    this.#actions.length = 0;
    this.#conns.clear();
  }

  #request(conn: ConnId, c: Extract<Conn, { kind: "request" }>): void {
    c.busy = true;
    const all = new Uint8Array(c.size);
    let at = 0;
    for (const p of c.chunks) {
      all.set(p, at);
      at += p.length;
    }
    const r = decodeLegacyBuffer(all.subarray(0, READ_MAX));
    if (!r.ok) {
      this.panics++; // the task panics; the process survives (D10)
      return this.#close(conn);
    }
    const m: KvMessage = r.message;
    switch (m.type) {
      case "Heartbeat":
        return this.#reply(conn, encodePlain({ type: "HeartbeatResponse" }));
      case "Getvalue":
        return this.#reply(
          conn,
          encodePlain({ type: "ValueResponse", value: this.store.get(m.key) ?? null }),
        );
      case "Sync":
        this.store.set(m.key, m.value); // unconditionally (D8), no forwarding (D7)
        return this.#close(conn);
      case "Setvalue": {
        this.store.set(m.key, m.value);
        const sync = encodePlain({ type: "Sync", key: m.key, value: m.value });
        return this.#pushNext({ client: conn, sync, to: [...this.peers.values()], next: 0 });
      }
      default:
        return this.#close(conn);
    }
  }

  /** One peer after another (D9); the client is answered after the last. */
  #pushNext(job: PushJob): void {
    if (this.exited !== undefined) return;
    if (job.next >= job.to.length) {
      return this.#reply(job.client, encodePlain({ type: "ValueResponse", value: SET_OK }));
    }
    const to = job.to[job.next++];
    const conn = this.#nextConn++;
    this.#conns.set(conn, { kind: "push", job });
    this.#actions.push({ type: "connect", conn, to, timeoutMs: OS_CONNECT_TIMEOUT_MS });
  }

  #reply(conn: ConnId, bytes: Uint8Array): void {
    this.#actions.push({ type: "write", conn, bytes });
    this.#close(conn);
  }

  #close(conn: ConnId): void {
    this.#conns.delete(conn);
    this.#actions.push({ type: "close", conn });
  }
}
