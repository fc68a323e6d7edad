/**
 * The gossip key-value node as one sans-I/O core (spec `kv.md` §6): it is a
 * {@linkcode DatagramCore} for discovery on UDP (Handshakes and Greetings) and a
 * {@linkcode StreamCore} for requests, heartbeats, pushes and pulls on TCP. The one UDP driver and
 * the one TCP driver run it side by side live (`kv_deno.ts`); the simulator runs it on `SimNet`
 * and `SimStreamHost`.
 *
 * What it does, in short:
 * - announces itself (a Handshake with `kv_ext` and `boot`) at start and every `announceMs`
 *   (every `legacyAnnounceMs` once a legacy node is known and `legacyQuietAfterMs` have passed);
 * - on a Handshake from a new identity: a Greeting and our Handshake by unicast, heartbeats, a
 *   full push, and a `SyncAll` pull from our own nodes;
 * - keeps versions (§6.5), persists every change through its own `persist` action before a
 *   `Setvalue` is answered or the change is pushed, and pushes winners to alive members;
 * - every `antiEntropyMs`, a full push and a pull with one random alive node of ours.
 *
 * @module
 */

import type {
  Addr,
  ConnId,
  DatagramCore,
  EventSource,
  Millis,
  StreamAction,
  StreamCore,
  Transmit,
} from "../core/mod.ts";
import { TimeKeeper } from "../core/mod.ts";
import { decodeMessage, encodeMessage } from "./codec.ts";
import { type Member, Membership } from "./members.ts";
import { type KvNodeOptions, nodeConfig } from "./node_options.ts";
import {
  ipOf,
  type KvContext,
  type KvEvent,
  type KvStats,
  newQueue,
  newStats,
  type PersistAction,
} from "./node_context.ts";
import { Outbound } from "./node_outbound.ts";
import { Requests } from "./node_requests.ts";
import { VersionedStore } from "./store.ts";
import type { KvMessage, MemberInfo, VersionedEntry } from "./types.ts";

export type { KvEvent, KvNodeOptions, KvStats, PersistAction };

/** Why a write is refused once the Lamport clock reached 2^53 − 1. */
const CLOCK_SPENT = "the Lamport clock is spent";
/**
 * The most a received version's clock may lead ours by (2^40: a trillion writes); beyond it the
 * Sync is refused.
 */
export const CLOCK_JUMP_MAX = 2 ** 40;

/**
 * The key-value node.
 *
 * @example A Setvalue is answered once persisted, then Getvalue reads it
 * ```ts
 * import { KvNode } from "./node_core.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const te = new TextEncoder(), td = new TextDecoder();
 * const node = new KvNode({ name: "ts-a", advertise: "10.0.0.1:9000", boot: 1, prng: Prng.seeded(1) });
 * const c = node.handleAccept("10.0.0.9:5000", "10.0.0.1:9000", 0);
 * node.handleData(c, te.encode('{"Setvalue":{"key":"a","value":"1"}}'), 1);
 * const persist = node.pollAction();
 * assert.ok(persist?.type === "persist");
 * node.handlePersisted(persist.id, true, 2);
 * const reply = node.pollAction();
 * assert.ok(reply?.type === "write");
 * assert.equal(td.decode(reply.bytes), '{"ValueResponse":{"value":"Value set successful"}}');
 * assert.equal(node.get("a")?.value, "1");
 * ```
 */
export class KvNode implements DatagramCore, StreamCore<PersistAction>, EventSource<KvEvent> {
  readonly #ctx: KvContext;
  readonly #time: TimeKeeper;
  readonly #requests: Requests;
  readonly #outbound: Outbound;
  readonly #started: Millis;
  readonly #pending = new Map<
    number,
    { entries: VersionedEntry[]; then: ((ok: boolean) => void)[] }
  >();
  #nextConn = 1;
  #nextPersist = 1;
  #announceAt: Millis;
  #antiEntropyAt: Millis;
  #stopped = false;

  constructor(options: KvNodeOptions) {
    const now = options.now ?? 0;
    this.#time = new TimeKeeper(now);
    this.#started = now;
    const cfg = nodeConfig(options);
    const ctx: KvContext = {
      cfg,
      prng: options.prng,
      store: new VersionedStore(cfg.name, options.entries ?? [], options.clock ?? 0),
      members: new Membership(options),
      actions: newQueue<StreamAction | PersistAction>(),
      transmits: newQueue<Transmit>(),
      events: newQueue<KvEvent>(),
      stats: newStats(),
      nextConn: () => this.#nextConn++,
      now,
    };
    this.#ctx = ctx;
    this.#requests = new Requests(ctx, {
      write: (key, value, _from, done) => this.#localWrite(key, value, done),
      sync: (m, from) => this.#sync(m, from),
      members: () => this.members(),
    });
    this.#outbound = new Outbound(ctx, (id, ok) => this.#probed(id, ok), (entries, from) => {
      for (const e of entries) this.#applyRemote(e, from.id);
    });
    this.#announceAt = now;
    this.#antiEntropyAt = now + cfg.antiEntropyMs;
  }

  /** Our `node_name`. */
  get name(): string {
    return this.#ctx.cfg.name;
  }

  /** Counters. */
  get stats(): Readonly<KvStats> {
    return this.#ctx.stats;
  }

  /** The number of keys. */
  get size(): number {
    return this.#ctx.store.size;
  }

  /** The Lamport clock. */
  get clock(): number {
    return this.#ctx.store.clock;
  }

  /** Connections held (accepted and outgoing). */
  get connections(): number {
    return this.#requests.size + this.#outbound.size;
  }

  /** Keys queued for pushes, over all members. */
  get pendingPushes(): number {
    return this.#outbound.pendingPushes;
  }

  /** The entry of `key`. */
  get(key: string): VersionedEntry | undefined {
    return this.#ctx.store.get(key);
  }

  /** Every entry. */
  entries(): VersionedEntry[] {
    return [...this.#ctx.store.entries()];
  }

  /** The members, as the `Members` extension reports them. */
  members(): MemberInfo[] {
    const off = this.#ctx.cfg.epochOffsetMs;
    return this.#ctx.members.all().map((m) => ({
      name: m.name,
      address: m.contact,
      state: m.state,
      lastSeen: m.lastSeen < 0 ? 0 : Math.round(m.lastSeen + off),
      ext: m.ext,
    }));
  }

  /** Stops announcing, probing and pushing (connections under way end as they will). */
  stop(): void {
    this.#stopped = true;
  }

  // ---- DatagramCore ---------------------------------------------------------------------------

  /** A datagram on the discovery socket. */
  handleDatagram(from: Addr, bytes: Uint8Array, now: Millis): void {
    this.#at(now);
    const { stats, cfg, events } = this.#ctx;
    stats.datagramsIn++;
    if (bytes.length > cfg.legacyMessageMax) {
      stats.datagramsDropped++;
      events.push({
        type: "dropped",
        what: "datagram",
        from,
        reason: `${bytes.length} bytes, over ${cfg.legacyMessageMax}`,
      });
      return;
    }
    const r = decodeMessage(bytes);
    if (!r.ok) {
      stats.datagramsDropped++;
      events.push({
        type: "dropped",
        what: "datagram",
        from,
        reason: `${r.error.kind}: ${r.error.detail}`,
      });
      return;
    }
    if (r.message.type === "Handshake") this.#handshake(r.message, from);
    // Greeting and everything else: no answer (a Greeting is only a courtesy)
    this.#run();
  }

  /** Takes the next datagram to send. */
  pollTransmit(): Transmit | undefined {
    return this.#ctx.transmits.shift();
  }

  // ---- StreamCore -----------------------------------------------------------------------------

  /** A connection was accepted. */
  handleAccept(remote: Addr, _local: Addr, now: Millis): ConnId {
    this.#at(now);
    return this.#requests.accept(remote, now);
  }

  /** An outgoing connection is up. */
  handleConnected(conn: ConnId, now: Millis): void {
    this.#at(now);
    this.#outbound.connected(conn, now);
    this.#run();
  }

  /** Bytes arrived. */
  handleData(conn: ConnId, bytes: Uint8Array, now: Millis): void {
    this.#at(now);
    if (this.#requests.owns(conn)) this.#requests.data(conn, bytes);
    else this.#outbound.data(conn, bytes, now);
    this.#run();
  }

  /** The peer ended its side. */
  handleEof(conn: ConnId, now: Millis): void {
    this.#at(now);
    if (this.#requests.owns(conn)) this.#requests.eof(conn);
    else this.#outbound.eof(conn);
    this.#run();
  }

  /** The connection failed. */
  handleError(conn: ConnId, _reason: string, now: Millis): void {
    this.#at(now);
    if (this.#requests.owns(conn)) this.#requests.error(conn);
    else this.#outbound.error(conn, _reason);
    this.#run();
  }

  /** The next action for the TCP driver (or a `persist` for the adapter). */
  pollAction(): StreamAction | PersistAction | undefined {
    return this.#ctx.actions.shift();
  }

  /** The adapter wrote persist batch `id` (`ok`) or failed to. */
  handlePersisted(id: number, ok: boolean, now: Millis): void {
    this.#at(now);
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    if (!ok) this.#ctx.stats.persistFailures++;
    for (const then of p.then) then(ok);
    this.#run();
  }

  // ---- both -----------------------------------------------------------------------------------

  /** Runs what is due at `now`. */
  handleTick(now: Millis): void {
    this.#at(now);
    this.#requests.expire(now);
    this.#outbound.expire(now);
    this.#run();
  }

  /** When `handleTick` is next due. */
  nextTimeout(): Millis | undefined {
    let at = Math.min(
      this.#requests.nextDeadline() ?? Infinity,
      this.#outbound.nextDeadline(!this.#stopped) ?? Infinity, // stopped: no push retries
    );
    if (!this.#stopped) {
      at = Math.min(
        at,
        this.#announceAt,
        this.#antiEntropyAt,
        this.#ctx.members.nextProbeAt() ?? Infinity,
      );
    }
    return at === Infinity ? undefined : at;
  }

  /** Takes the next event. */
  pollEvent(): KvEvent | undefined {
    return this.#ctx.events.shift();
  }

  // ---- inside ---------------------------------------------------------------------------------

  #at(now: Millis): void {
    this.#ctx.now = this.#time.advance(now);
  }

  #run(): void {
    if (this.#stopped) return;
    const now = this.#ctx.now;
    if (this.#announceAt <= now) this.#announce(now);
    if (this.#antiEntropyAt <= now) this.#antiEntropy(now);
    this.#outbound.run(now);
  }

  #handshakeBytes(): Uint8Array {
    const { name, advertise, boot } = this.#ctx.cfg;
    return encodeMessage({
      type: "Handshake",
      nodeName: name,
      tcpAddress: advertise,
      kvExt: 1,
      boot,
    });
  }

  #announce(now: Millis): void {
    const { cfg, members, transmits } = this.#ctx;
    const bytes = this.#handshakeBytes();
    for (const to of [...cfg.broadcast, ...cfg.seeds]) transmits.push({ to, bytes });
    const quiet = members.hasLegacy() && now - this.#started >= cfg.legacyQuietAfterMs;
    this.#announceAt = now + (quiet ? cfg.legacyAnnounceMs : cfg.announceMs);
  }

  #antiEntropy(now: Millis): void {
    this.#antiEntropyAt = now + this.#ctx.cfg.antiEntropyMs;
    const ours = this.#ctx.members.alive().filter((m) => m.ext);
    if (ours.length === 0) return;
    const m = this.#ctx.prng.pick(ours);
    this.#outbound.fullPush(m);
    this.#outbound.pull(m);
  }

  #handshake(m: Extract<KvMessage, { type: "Handshake" }>, from: Addr): void {
    const { cfg, members, transmits, events } = this.#ctx;
    if (m.nodeName === cfg.name) return; // our own broadcast
    const ip = ipOf(from);
    const out = members.onHandshake(m, ip, this.#ctx.now);
    if (out.kind === "full") {
      events.push({ type: "table-full", from });
      return;
    }
    const member = out.member;
    const legacy = !member.ext;
    if (out.kind === "new") {
      transmits.push({ to: from, bytes: encodeMessage({ type: "Greeting" }) });
      transmits.push({ to: from, bytes: this.#handshakeBytes() });
      events.push({
        type: "member",
        change: "joined",
        name: member.name,
        address: member.contact,
        legacy,
      });
      this.#catchUp(member);
    } else if (out.kind === "returned" || out.kind === "rebooted") {
      const change = out.kind === "returned" ? "returned" : "rebooted";
      transmits.push({ to: from, bytes: this.#handshakeBytes() }); // it may not know us any more
      events.push({ type: "member", change, name: member.name, address: member.contact, legacy });
      this.#catchUp(member);
    }
  }

  /** A full push to `m`, and a pull from it when it is one of ours. */
  #catchUp(m: Member): void {
    this.#outbound.fullPush(m);
    this.#outbound.pull(m);
  }

  #probed(id: string, ok: boolean): void {
    const t = this.#ctx.members.onProbe(id, ok, this.#ctx.now);
    if (t === undefined) return;
    const { member, to } = t;
    const change = to === "alive" ? "returned" : to;
    this.#ctx.events.push({
      type: "member",
      change,
      name: member.name,
      address: member.contact,
      legacy: !member.ext,
    });
    if (to === "alive") this.#catchUp(member);
    else this.#outbound.forget(member.id);
  }

  #localWrite(key: string, value: string, done: (ok: boolean, reason?: string) => void): void {
    const entry = this.#ctx.store.write(key, value);
    if (entry === undefined) return done(false, CLOCK_SPENT);
    this.#persist(entry, undefined, done);
  }

  #sync(m: Extract<KvMessage, { type: "Sync" }>, from: Addr): void {
    const source = this.#sourceOf(from);
    if (m.clock !== undefined && m.origin !== undefined) {
      const e = { key: m.key, value: m.value, clock: m.clock, origin: m.origin };
      this.#applyRemote(e, source, from);
    } else {
      const entry = this.#ctx.store.write(m.key, m.value); // a legacy write: ours now
      if (entry !== undefined) this.#persist(entry, source);
      else {this.#ctx.events.push({
          type: "refused",
          from,
          reason: `Sync of ${m.key}: ${CLOCK_SPENT}`,
        });}
    }
  }

  #applyRemote(e: VersionedEntry, source: string | undefined, from = source ?? "a peer"): void {
    // A clock far beyond ours is no honest write (clocks grow by one per write): taking it would
    // let one forged Sync spend the clock and end every later write of this node.
    if (e.clock > this.#ctx.store.clock + CLOCK_JUMP_MAX) {
      this.#ctx.stats.refused++;
      this.#ctx.events.push({
        type: "refused",
        from,
        reason:
          `Sync of ${e.key}: clock ${e.clock} is too far ahead of ours (${this.#ctx.store.clock})`,
      });
      return;
    }
    if (!this.#ctx.store.apply(e)) return;
    this.#ctx.stats.syncsApplied++;
    this.#persist(e, source);
  }

  /** The member a connection from `from` belongs to (by IP), if known. */
  #sourceOf(from: Addr): string | undefined {
    const ip = ipOf(from);
    for (const m of this.#ctx.members.all()) if (ipOf(m.contact) === ip) return m.id;
    return undefined;
  }

  /**
   * Saves `entry` (through a `persist` action unless memory-only), then pushes it to alive
   * members but `source`, then calls `done`. Nothing is pushed before it is saved: a version of
   * ours that others hold is always on our disk, so a restart never reuses its clock.
   */
  #persist(entry: VersionedEntry, source: string | undefined, done?: (ok: boolean) => void): void {
    const after = (ok: boolean) => {
      if (ok) this.#outbound.pushKey(entry.key, source);
      done?.(ok);
    };
    if (!this.#ctx.cfg.durable) {
      this.#ctx.store.markSaved(entry);
      return after(true);
    }
    const id = this.#nextPersist++;
    this.#pending.set(id, {
      entries: [entry],
      then: [(ok) => {
        if (ok) this.#ctx.store.markSaved(entry);
        after(ok);
      }],
    });
    this.#ctx.stats.persistBatches++;
    this.#ctx.actions.push({ type: "persist", id, entries: [entry] });
  }
}
