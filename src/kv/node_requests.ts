/**
 * The node's request server (§3.2, §6.5, §6.7): each accepted connection carries one message,
 * read until it is complete (or EOF, the size cap, or the read timeout), then acted on, answered
 * when the message has an answer, and closed. A `Setvalue` is answered only once its entry is on
 * disk. Legacy heartbeat connections cost one small write.
 *
 * @module
 */

import type { Addr, ConnId, Millis } from "../core/mod.ts";
import { encodeMessage, encodePlain } from "./codec.ts";
import type { KvContext } from "./node_context.ts";
import { ipOf } from "./node_context.ts";
import { MessageReader } from "./reader.ts";
import type { KvMessage, MemberInfo, VersionedEntry } from "./types.ts";

/** The reply of a `Setvalue` that was stored. */
export const SET_OK = "Value set successful";

/** The node's decisions a request needs (the node implements them). */
export interface RequestHandlers {
  /**
   * A client's write: store, persist, then `done(true)`; `done(false, reason?)` if it could not be
   * stored or saved.
   */
  write(key: string, value: string, from: Addr, done: (ok: boolean, reason?: string) => void): void;
  /** A Sync from `from`. */
  sync(message: Extract<KvMessage, { type: "Sync" }>, from: Addr): void;
  /** The member list (the `Members` extension). */
  members(): MemberInfo[];
}

interface InConn {
  readonly id: ConnId;
  readonly remote: Addr;
  readonly reader: MessageReader;
  /** The size cap of its message. */
  readonly cap: number;
  /** Its first bytes (to tell what an over-long message was). */
  head?: Uint8Array;
  deadline: Millis;
  /** Acted on: waiting for a write to be saved, or closed. */
  acted: boolean;
}

const HEARTBEAT_RESPONSE = encodeMessage({ type: "HeartbeatResponse" });
const NEWLINE = Uint8Array.of(0x0a);
const td = new TextDecoder();

/** Accepted connections and what is done with their message. */
export class Requests {
  readonly #ctx: KvContext;
  readonly #handlers: RequestHandlers;
  readonly #conns = new Map<ConnId, InConn>();

  constructor(ctx: KvContext, handlers: RequestHandlers) {
    this.#ctx = ctx;
    this.#handlers = handlers;
  }

  /** Connections held. */
  get size(): number {
    return this.#conns.size;
  }

  /** Whether `conn` is an accepted one. */
  owns(conn: ConnId): boolean {
    return this.#conns.has(conn);
  }

  /** A connection was accepted from `remote`. */
  accept(remote: Addr, now: Millis): ConnId {
    const { cfg, members } = this.#ctx;
    const id = this.#ctx.nextConn();
    if (this.#conns.size >= cfg.inboundMax) {
      this.#ctx.stats.refused++;
      this.#ctx.actions.push({ type: "close", conn: id });
      return id;
    }
    const ext = members.extPeerAt(ipOf(remote)) !== undefined;
    const cap = ext ? cfg.extMessageMax : cfg.legacyMessageMax;
    const reader = new MessageReader({ cap, extensions: true });
    this.#conns.set(id, {
      id,
      remote,
      reader,
      cap,
      deadline: now + cfg.requestTimeoutMs,
      acted: false,
    });
    return id;
  }

  /** Bytes arrived. */
  data(id: ConnId, bytes: Uint8Array): void {
    const c = this.#conns.get(id);
    if (c === undefined || c.acted) return;
    c.head ??= bytes.slice(0, 64);
    const out = c.reader.push(bytes);
    if (out.kind === "message") this.#act(c, out.message);
    else if (out.kind === "invalid" && c.reader.size > c.cap) this.#tooLong(c, bytes);
    else if (out.kind === "invalid") this.#drop(c, out.reason);
  }

  /**
   * A message over the size cap: a `Setvalue` gets a refusal its client can read, a `Getvalue`
   * the absent value (no key that long is stored); anything else is dropped.
   */
  #tooLong(c: InConn, last: Uint8Array): void {
    const head = c.head ?? last;
    const variant = /^\s*\{\s*"(Setvalue|Getvalue)"/.exec(td.decode(head.subarray(0, 64)))?.[1];
    this.#ctx.stats.requestsDropped++;
    this.#ctx.events.push({
      type: "dropped",
      what: "request",
      from: c.remote,
      reason: `longer than ${c.cap} bytes`,
    });
    c.acted = true;
    if (variant === "Setvalue") {
      this.#ctx.stats.refused++;
      const value = `Value not set: the message is longer than ${c.cap} bytes`;
      return this.#reply(c, encodeMessage({ type: "ValueResponse", value }));
    }
    if (variant === "Getvalue") {
      return this.#reply(c, encodeMessage({ type: "ValueResponse", value: null }));
    }
    this.#close(c);
  }

  /** The client ended its side. */
  eof(id: ConnId): void {
    const c = this.#conns.get(id);
    if (c === undefined || c.acted) return;
    const out = c.reader.end();
    if (out.kind === "message") this.#act(c, out.message);
    else this.#drop(c, out.kind === "invalid" ? out.reason : "closed without a message");
  }

  /** The connection failed (the driver closed it). */
  error(id: ConnId): void {
    this.#conns.delete(id);
  }

  /** The earliest read deadline. */
  nextDeadline(): Millis | undefined {
    let at: number | undefined;
    for (const c of this.#conns.values()) {
      if (!c.acted && (at === undefined || c.deadline < at)) at = c.deadline;
    }
    return at;
  }

  /** Drops the connections whose message did not come in time. */
  expire(now: Millis): void {
    for (const c of [...this.#conns.values()]) {
      if (!c.acted && c.deadline <= now) {
        this.#drop(c, `no complete message within ${this.#ctx.cfg.requestTimeoutMs} ms`);
      }
    }
  }

  #act(c: InConn, m: KvMessage): void {
    c.acted = true;
    const { stats, store } = this.#ctx;
    stats.requests++;
    switch (m.type) {
      case "Heartbeat":
        return this.#reply(c, HEARTBEAT_RESPONSE);
      case "Getvalue": {
        stats.gets++;
        const e = store.get(m.key);
        return this.#reply(c, valueReply(e, this.#ctx.cfg.legacyMessageMax));
      }
      case "Setvalue": {
        stats.sets++;
        const refused = entryTooLong(m.key, m.value, this.#ctx.cfg.legacyMessageMax);
        if (refused !== undefined) {
          stats.refused++;
          this.#ctx.events.push({ type: "refused", from: c.remote, reason: refused });
          return this.#reply(
            c,
            encodeMessage({ type: "ValueResponse", value: `Value not set: ${refused}` }),
          );
        }
        return this.#handlers.write(m.key, m.value, c.remote, (ok, reason) => {
          if (!this.#conns.has(c.id)) return; // the client went away; the write still stands
          const value = ok ? SET_OK : `Value not set: ${reason ?? "storage error"}`;
          this.#reply(c, encodeMessage({ type: "ValueResponse", value }));
        });
      }
      case "Sync": {
        stats.syncsIn++;
        if (entryTooLong(m.key, m.value, this.#ctx.cfg.legacyMessageMax) === undefined) {
          this.#handlers.sync(m, c.remote);
        } else {
          stats.refused++;
          this.#ctx.events.push({
            type: "refused",
            from: c.remote,
            reason: `Sync of a key ${m.key.length} characters long too long`,
          });
        }
        return this.#close(c);
      }
      case "SyncAll":
        return this.#syncAll(c);
      case "Members":
        return this.#reply(
          c,
          encodeMessage({ type: "MembersResponse", members: this.#handlers.members() }),
        );
      default:
        return this.#close(c); // Handshake, Greeting, HeartbeatResponse, ValueResponse: ignored
    }
  }

  #syncAll(c: InConn): void {
    const { store, actions } = this.#ctx;
    const parts: Uint8Array[] = [];
    let size = 0;
    const flush = () => {
      if (parts.length === 0) return;
      const out = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      actions.push({ type: "write", conn: c.id, bytes: out });
      parts.length = 0;
      size = 0;
    };
    for (const { key, value, clock, origin } of store.savedEntries()) {
      const line = encodeMessage({ type: "Sync", key, value, clock, origin });
      parts.push(line, NEWLINE);
      size += line.length + 1;
      if (size >= 1 << 16) flush();
    }
    flush();
    this.#close(c);
  }

  #reply(c: InConn, bytes: Uint8Array): void {
    this.#ctx.actions.push({ type: "write", conn: c.id, bytes });
    this.#close(c);
  }

  #close(c: InConn): void {
    this.#conns.delete(c.id);
    this.#ctx.actions.push({ type: "close", conn: c.id });
  }

  #drop(c: InConn, reason: string): void {
    c.acted = true;
    this.#ctx.stats.requestsDropped++;
    this.#ctx.events.push({ type: "dropped", what: "request", from: c.remote, reason });
    this.#close(c);
  }
}

/** The reply to a `Getvalue`: with its version when it fits a legacy client's 1,024 bytes. */
export function valueReply(e: VersionedEntry | undefined, max: number): Uint8Array {
  if (e === undefined) return encodeMessage({ type: "ValueResponse", value: null });
  const full = encodeMessage({
    type: "ValueResponse",
    value: e.value,
    clock: e.clock,
    origin: e.origin,
  });
  return full.length <= max ? full : encodePlain({ type: "ValueResponse", value: e.value });
}

/**
 * Why a key and value cannot be stored (their `Sync` would not fit a legacy node's 1,024 bytes,
 * so it could not be replicated everywhere), or undefined when they can.
 */
export function entryTooLong(key: string, value: string, max: number): string | undefined {
  const size = encodePlain({ type: "Sync", key, value }).length;
  return size <= max
    ? undefined
    : `key and value too long (${size} bytes as a Sync, at most ${max})`;
}
