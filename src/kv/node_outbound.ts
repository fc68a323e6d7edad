/**
 * The node's outgoing connections (§6.4, §6.6, §6.7): heartbeats to every member on its
 * schedule, pushes of changed entries to alive members (a bounded set of keys per member, at most
 * `pushParallel` connections at once, one `Sync` per connection), and `SyncAll` pulls from our
 * own nodes. Each connection has a deadline; whatever happens, it ends and is reported once.
 *
 * @module
 */

import type { ConnId, Millis } from "../core/mod.ts";
import { decodeMessage, encodeMessage, encodePlain } from "./codec.ts";
import type { Member } from "./members.ts";
import type { KvContext } from "./node_context.ts";
import { MessageReader } from "./reader.ts";
import type { VersionedEntry } from "./types.ts";

type OutKind = "probe" | "push" | "pull";

interface OutConn {
  readonly id: ConnId;
  readonly kind: OutKind;
  readonly memberId: string;
  phase: "connecting" | "open";
  deadline: Millis;
  reader?: MessageReader;
  /** A pull's unparsed tail and bytes so far. */
  tail?: Uint8Array[];
  pulled?: number;
  /** A push's key. */
  key?: string;
}

const HEARTBEAT = encodeMessage({ type: "Heartbeat" });
const SYNC_ALL = encodeMessage({ type: "SyncAll" });
const NEWLINE = 0x0a;
/** After a failed push, the pause before pushing to that member again. */
const PUSH_RETRY_MS = 1000;
/** Pulls under way at once. */
const PULLS_MAX = 4;

/** Applies entries pulled from a peer (the node decides what wins, persists and forwards). */
export type ApplyPulled = (entries: VersionedEntry[], from: Member) => void;

/** Reports a member's heartbeat result. */
export type ProbeResult = (memberId: string, ok: boolean) => void;

/**
 * Outgoing connections of a node.
 */
export class Outbound {
  readonly #ctx: KvContext;
  readonly #conns = new Map<ConnId, OutConn>();
  /** Keys waiting to be pushed, per member id. */
  readonly #pending = new Map<string, Set<string>>();
  readonly #onProbe: ProbeResult;
  readonly #applyPulled: ApplyPulled;
  /** Members whose last push failed: no push to them before this time. */
  readonly #retryAt = new Map<string, Millis>();
  #pushing = 0;
  #probing = 0;
  #pulling = 0;

  constructor(ctx: KvContext, onProbe: ProbeResult, applyPulled: ApplyPulled) {
    this.#ctx = ctx;
    this.#onProbe = onProbe;
    this.#applyPulled = applyPulled;
  }

  /** Whether `conn` is one of ours. */
  owns(conn: ConnId): boolean {
    return this.#conns.has(conn);
  }

  /** Outgoing connections held. */
  get size(): number {
    return this.#conns.size;
  }

  /** Keys waiting to be pushed, over all members. */
  get pendingPushes(): number {
    let n = 0;
    for (const s of this.#pending.values()) n += s.size;
    return n;
  }

  /** Queues `key` for every alive member but `except`. */
  pushKey(key: string, except?: string): void {
    for (const m of this.#ctx.members.alive()) {
      if (m.id !== except) this.#queue(m.id, key);
    }
  }

  /** Queues every stored key for member `m` (the full push of §6.6). */
  fullPush(m: Member): void {
    for (const e of this.#ctx.store.savedEntries()) this.#queue(m.id, e.key);
  }

  /** Opens a `SyncAll` pull from member `m` (ours only). */
  pull(m: Member): void {
    if (!m.ext || this.#pulling >= PULLS_MAX) return; // anti-entropy comes back to it later
    for (const c of this.#conns.values()) if (c.kind === "pull" && c.memberId === m.id) return;
    this.#pulling++;
    this.#ctx.stats.pulls++;
    this.#open("pull", m, this.#ctx.cfg.pullTimeoutMs);
  }

  /** Forgets what was queued for member `id` (it died or left). */
  forget(id: string): void {
    this.#pending.delete(id);
  }

  /** Starts the heartbeats that are due and the pushes there is room for. */
  run(now: Millis): void {
    const { members, cfg } = this.#ctx;
    for (const m of members.takeDue(now)) {
      if (this.#probing >= cfg.probeParallel) {
        members.postpone(m.id, now + 1000); // no room now: not a miss
        continue;
      }
      this.#ctx.stats.heartbeatsOut++;
      this.#probing++;
      this.#open("probe", m, cfg.connectTimeoutMs + cfg.replyTimeoutMs);
    }
    // a retry time that has passed is no deadline any more (pushes may wait for room)
    for (const [id, t] of this.#retryAt) if (t <= now) this.#retryAt.delete(id);
    if (this.#pending.size === 0) return;
    for (const [id, keys] of this.#pending) {
      if (this.#pushing >= cfg.pushParallel) return;
      const m = members.get(id);
      if (m === undefined || m.state !== "alive") {
        this.#pending.delete(id);
        continue;
      }
      const retry = this.#retryAt.get(id);
      if (retry !== undefined && retry > now) continue;
      this.#retryAt.delete(id);
      for (const key of keys) {
        if (this.#pushing >= cfg.pushParallel) return;
        keys.delete(key);
        this.#push(m, key);
      }
      if (keys.size === 0) this.#pending.delete(id);
    }
  }

  /** The earliest connection deadline, or push retry too with `retries` (false once stopped). */
  nextDeadline(retries = true): Millis | undefined {
    let at: number | undefined;
    for (const c of this.#conns.values()) if (at === undefined || c.deadline < at) at = c.deadline;
    if (!retries) return at;
    for (const [id, t] of this.#retryAt) {
      if (!this.#pending.has(id)) this.#retryAt.delete(id);
      else if (at === undefined || t < at) at = t;
    }
    return at;
  }

  /** Ends the connections whose deadline passed. */
  expire(now: Millis): void {
    for (const c of [...this.#conns.values()]) {
      if (c.deadline <= now) this.#end(c, false, "timeout", true);
    }
  }

  /** An outgoing connection is up. */
  connected(id: ConnId, now: Millis): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    c.phase = "open";
    const { cfg, actions, store, members, stats } = this.#ctx;
    const m = members.get(c.memberId);
    if (c.kind === "probe") {
      c.deadline = now + cfg.replyTimeoutMs;
      c.reader = new MessageReader({ cap: cfg.extMessageMax });
      actions.push({ type: "write", conn: id, bytes: HEARTBEAT });
      return;
    }
    if (c.kind === "pull") {
      c.deadline = now + cfg.pullTimeoutMs;
      c.tail = [];
      c.pulled = 0;
      actions.push({ type: "write", conn: id, bytes: SYNC_ALL });
      return;
    }
    const entry = c.key === undefined ? undefined : store.saved(c.key);
    if (entry === undefined || m === undefined) return this.#end(c, true, "", true);
    const bytes = syncBytes(entry, m.ext, cfg.legacyMessageMax);
    if (bytes === undefined) {
      this.#ctx.events.push({
        type: "skipped",
        to: m.contact,
        reason: `Sync of ${entry.key} too long for a legacy node`,
      });
      return this.#end(c, true, "", true);
    }
    stats.syncsOut++;
    actions.push({ type: "write", conn: id, bytes });
    this.#end(c, true, "", true);
  }

  /** Bytes on an outgoing connection. */
  data(id: ConnId, bytes: Uint8Array, now: Millis): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    if (c.kind === "probe" && c.reader) {
      const out = c.reader.push(bytes);
      if (out.kind === "more") return;
      const ok = out.kind === "message" && out.message.type === "HeartbeatResponse";
      return this.#end(c, ok, "bad reply", true);
    }
    if (c.kind === "pull" && c.tail) {
      c.pulled = (c.pulled ?? 0) + bytes.length;
      if (c.pulled > this.#ctx.cfg.pullBytesMax) return this.#end(c, false, "pull too long", true);
      c.deadline = now + this.#ctx.cfg.pullTimeoutMs;
      this.#takeLines(c, bytes);
    }
  }

  /** The peer ended its side. */
  eof(id: ConnId): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    if (c.kind === "probe" && c.reader) {
      const out = c.reader.end();
      const ok = out.kind === "message" && out.message.type === "HeartbeatResponse";
      return this.#end(c, ok, "no reply", true);
    }
    if (c.kind === "pull" && c.tail) this.#takeLines(c, new Uint8Array([NEWLINE]));
    this.#end(c, true, "", true);
  }

  /** The connection failed (the driver closed it). */
  error(id: ConnId, reason: string): void {
    const c = this.#conns.get(id);
    if (c !== undefined) this.#end(c, false, reason, false);
  }

  #queue(memberId: string, key: string): void {
    let keys = this.#pending.get(memberId);
    if (keys === undefined) this.#pending.set(memberId, keys = new Set());
    if (keys.size < this.#ctx.cfg.pendingPushMax) keys.add(key);
  }

  #push(m: Member, key: string): void {
    this.#pushing++;
    const c = this.#open("push", m, this.#ctx.cfg.connectTimeoutMs);
    c.key = key;
  }

  #open(kind: OutKind, m: Member, budget: number): OutConn {
    const id = this.#ctx.nextConn();
    const c: OutConn = {
      id,
      kind,
      memberId: m.id,
      phase: "connecting",
      deadline: this.#ctx.now + budget,
    };
    this.#conns.set(id, c);
    this.#ctx.actions.push({
      type: "connect",
      conn: id,
      to: m.contact,
      timeoutMs: this.#ctx.cfg.connectTimeoutMs,
    });
    return c;
  }

  #takeLines(c: OutConn, bytes: Uint8Array): void {
    const tail = c.tail!;
    let start = 0;
    const entries: VersionedEntry[] = [];
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== NEWLINE) continue;
      tail.push(bytes.subarray(start, i));
      start = i + 1;
      const line = concat(tail);
      tail.length = 0;
      const entry = line.length === 0 ? undefined : decodeVersionedSync(line);
      if (entry !== undefined) entries.push(entry);
    }
    if (start < bytes.length) tail.push(bytes.slice(start));
    const m = this.#ctx.members.get(c.memberId);
    if (entries.length > 0 && m !== undefined) this.#applyPulled(entries, m);
  }

  #end(c: OutConn, ok: boolean, _reason: string, close: boolean): void {
    if (!this.#conns.delete(c.id)) return;
    if (close) this.#ctx.actions.push({ type: "close", conn: c.id });
    if (c.kind === "probe") {
      this.#probing--;
      if (!ok) this.#ctx.stats.heartbeatsFailed++;
      this.#onProbe(c.memberId, ok);
    } else if (c.kind === "pull") {
      this.#pulling--;
    } else if (c.kind === "push") {
      this.#pushing--;
      if (!ok && c.key !== undefined) {
        this.#ctx.stats.pushFailures++;
        const m = this.#ctx.members.get(c.memberId);
        // retried while the member stays alive; its heartbeats decide when to stop
        if (m?.state === "alive") {
          this.#queue(m.id, c.key);
          this.#retryAt.set(m.id, this.#ctx.now + PUSH_RETRY_MS);
        }
      }
    }
  }
}

/** The `Sync` sent for `entry`: versioned to our nodes, plain (and only if it fits) to legacy ones. */
export function syncBytes(
  entry: VersionedEntry,
  ext: boolean,
  legacyMax: number,
): Uint8Array | undefined {
  const { key, value, clock, origin } = entry;
  if (ext) return encodeMessage({ type: "Sync", key, value, clock, origin });
  const plain = encodePlain({ type: "Sync", key, value });
  return plain.length <= legacyMax ? plain : undefined;
}

/** A versioned Sync's entry, or undefined for anything else. */
export function decodeVersionedSync(bytes: Uint8Array): VersionedEntry | undefined {
  const r = decodeMessage(bytes, { extensions: true });
  if (!r.ok || r.message.type !== "Sync") return undefined;
  const { key, value, clock, origin } = r.message;
  if (clock === undefined || origin === undefined) return undefined;
  return { key, value, clock, origin };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
