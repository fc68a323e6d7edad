/**
 * Package-private: the connection table shared by the ring cores. Every TCP connection of the
 * ring carries one exchange (spec §1): one pickled request, at most one reply, then close.
 *
 * - Inbound (accepted) connections are read until the request's pickle is complete (it is
 *   self-delimiting: STOP at the outermost level), up to `maxMessageBytes` and `readTimeoutMs`.
 *   The core then gets a `request` (or a `bad-request` when the bytes are invalid, too long, cut
 *   short by EOF, or late) and answers with `reply()` or `close()`.
 * - Outbound exchanges connect (`connectTimeoutMs`), write the request in one write, then either
 *   succeed on the first byte or EOF (`reply: "any"`: PING, and UPDATE_NBR, which waits for the
 *   peer to close) or read a pickled reply (`reply: "pickle"`), within `replyTimeoutMs`. The core
 *   gets one `ok` or `failed`.
 *
 * Capacity: at most `maxConnections` open at once; an accepted connection over it is closed at
 * once, an outbound exchange waits in a queue of at most `maxQueued` (then fails as `busy`).
 *
 * @module
 */

import { assert } from "../../util/mod.ts";
import { decodePickle, type PyValue } from "../pickle/mod.ts";
import { type ConnId, OutputQueue, type StreamAction } from "../../core/mod.ts";
import { formatHostPort } from "../../net/mod.ts";

/** Why an outbound exchange failed. */
export type ExchangeFailure = "refused" | "reset" | "timeout" | "invalid" | "eof" | "busy";

/** What an outbound exchange is. */
export interface OutboundSpec<T> {
  readonly host: string;
  readonly port: number;
  readonly request: Uint8Array;
  readonly reply: "any" | "pickle";
  readonly connectTimeoutMs: number;
  readonly replyTimeoutMs: number;
  /** The core's label, handed back in the outcome. */
  readonly tag: T;
}

/** What the table reports to its core. */
export type Completion<T> =
  | {
    readonly type: "request";
    readonly conn: ConnId;
    readonly remoteHost: string;
    readonly value: PyValue;
  }
  | {
    readonly type: "bad-request";
    readonly conn: ConnId;
    readonly remoteHost: string;
    readonly reason: string;
  }
  | { readonly type: "ok"; readonly tag: T; readonly reply: PyValue | undefined }
  | { readonly type: "failed"; readonly tag: T; readonly reason: ExchangeFailure };

/** Limits and timeouts of the table. */
export interface ExchangeTableOptions {
  readonly maxMessageBytes: number;
  readonly readTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxQueued: number;
}

interface Inbound {
  readonly dir: "in";
  readonly id: ConnId;
  readonly remoteHost: string;
  phase: "reading" | "handling";
  buf: Uint8Array;
  len: number;
  deadline: number | undefined;
}

interface Outbound<T> {
  readonly dir: "out";
  readonly id: ConnId;
  readonly spec: OutboundSpec<T>;
  phase: "connecting" | "reading";
  buf: Uint8Array;
  len: number;
  deadline: number | undefined;
}

type Conn<T> = Inbound | Outbound<T>;

/** The most actions or completions that may wait to be drained (a runaway guard). */
const QUEUE_MAX = 100_000;

/** The connection table; see the module documentation. */
export class ExchangeTable<T> {
  readonly #o: ExchangeTableOptions;
  readonly #conns = new Map<ConnId, Conn<T>>();
  readonly #queued = new OutputQueue<OutboundSpec<T>>({ capacity: QUEUE_MAX });
  readonly #actions = new OutputQueue<StreamAction>({ capacity: QUEUE_MAX });
  #done: Completion<T>[] = [];
  #nextId = 1;

  constructor(options: ExchangeTableOptions) {
    this.#o = options;
  }

  /** Open connections (inbound and outbound). */
  get size(): number {
    return this.#conns.size;
  }

  /** Outbound exchanges waiting for a free slot. */
  get queued(): number {
    return this.#queued.length;
  }

  pollAction(): StreamAction | undefined {
    return this.#actions.shift();
  }

  /** Takes every completion reported since the last call. */
  takeCompletions(): Completion<T>[] {
    const done = this.#done;
    this.#done = [];
    return done;
  }

  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const c of this.#conns.values()) {
      if (c.deadline !== undefined && (min === undefined || c.deadline < min)) min = c.deadline;
    }
    return min;
  }

  accept(remoteHost: string, now: number): ConnId {
    const id = this.#nextId++;
    if (this.#conns.size >= this.#o.maxConnections) {
      this.#act({ type: "close", conn: id });
      return id;
    }
    this.#conns.set(id, {
      dir: "in",
      id,
      remoteHost,
      phase: "reading",
      buf: new Uint8Array(64),
      len: 0,
      deadline: now + this.#o.readTimeoutMs,
    });
    return id;
  }

  /** Starts an outbound exchange now, or queues it while the table is full. */
  open(spec: OutboundSpec<T>, now: number): void {
    if (this.#conns.size < this.#o.maxConnections) return this.#start(spec, now);
    if (this.queued >= this.#o.maxQueued) {
      this.#complete({ type: "failed", tag: spec.tag, reason: "busy" });
      return;
    }
    this.#queued.push(spec);
  }

  connected(id: ConnId, now: number): void {
    const c = this.#conns.get(id);
    if (c === undefined || c.dir !== "out" || c.phase !== "connecting") return;
    this.#act({ type: "write", conn: id, bytes: c.spec.request });
    c.phase = "reading";
    c.deadline = now + c.spec.replyTimeoutMs;
  }

  data(id: ConnId, bytes: Uint8Array, now: number): void {
    const c = this.#conns.get(id);
    if (c === undefined || bytes.length === 0) return;
    if (c.dir === "in") {
      if (c.phase !== "reading") return; // bytes after the request: ignored, like the originals
      this.#append(c, bytes);
      const r = decodePickle(c.buf.subarray(0, c.len), { maxInputBytes: this.#o.maxMessageBytes });
      if (r.ok) {
        c.phase = "handling";
        c.deadline = undefined;
        this.#complete({ type: "request", conn: id, remoteHost: c.remoteHost, value: r.value });
      } else if (r.error.kind !== "truncated" || c.len >= this.#o.maxMessageBytes) {
        const reason = r.error.kind === "truncated" ? "too long" : r.error.message;
        this.#badRequest(c, reason);
      }
      return;
    }
    if (c.phase !== "reading") return; // data before the connection is reported: impossible
    if (c.spec.reply === "any") {
      this.#finish(c, { type: "ok", tag: c.spec.tag, reply: undefined }, now);
      return;
    }
    this.#append(c, bytes);
    const r = decodePickle(c.buf.subarray(0, c.len), { maxInputBytes: this.#o.maxMessageBytes });
    if (r.ok) {
      this.#finish(c, { type: "ok", tag: c.spec.tag, reply: r.value }, now);
    } else if (r.error.kind !== "truncated" || c.len >= this.#o.maxMessageBytes) {
      this.#finish(c, { type: "failed", tag: c.spec.tag, reason: "invalid" }, now);
    }
  }

  eof(id: ConnId, now: number): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    if (c.dir === "in") {
      if (c.phase === "reading") this.#badRequest(c, c.len === 0 ? "empty" : "cut short");
      return;
    }
    if (c.phase === "connecting") {
      this.#finish(c, { type: "failed", tag: c.spec.tag, reason: "reset" }, now);
    } else if (c.spec.reply === "any") {
      this.#finish(c, { type: "ok", tag: c.spec.tag, reply: undefined }, now);
    } else {
      const reason = c.len === 0 ? "eof" : "invalid";
      this.#finish(c, { type: "failed", tag: c.spec.tag, reason }, now);
    }
  }

  error(id: ConnId, now: number): void {
    const c = this.#conns.get(id);
    if (c === undefined) return;
    if (c.dir === "in") {
      this.#drop(c, now); // the requester is gone: nobody to answer
      return;
    }
    const reason = c.phase === "connecting" ? "refused" : "reset";
    this.#finish(c, { type: "failed", tag: c.spec.tag, reason }, now);
  }

  timeout(now: number): void {
    for (const c of [...this.#conns.values()]) {
      if (c.deadline === undefined || c.deadline > now) continue;
      if (c.dir === "in") this.#badRequest(c, "read timeout");
      else this.#finish(c, { type: "failed", tag: c.spec.tag, reason: "timeout" }, now);
    }
  }

  /** Answers an inbound request and closes; a no-op when the connection is gone. */
  reply(id: ConnId, bytes: Uint8Array, now: number): void {
    const c = this.#conns.get(id);
    if (c === undefined || c.dir !== "in") return;
    this.#act({ type: "write", conn: id, bytes });
    this.#drop(c, now);
  }

  /** Closes an inbound connection without an answer; a no-op when it is gone. */
  close(id: ConnId, now: number): void {
    const c = this.#conns.get(id);
    if (c === undefined || c.dir !== "in") return;
    this.#drop(c, now);
  }

  #start(spec: OutboundSpec<T>, now: number): void {
    const id = this.#nextId++;
    this.#conns.set(id, {
      dir: "out",
      id,
      spec,
      phase: "connecting",
      buf: new Uint8Array(spec.reply === "pickle" ? 64 : 0),
      len: 0,
      deadline: now + spec.connectTimeoutMs,
    });
    this.#act({
      type: "connect",
      conn: id,
      to: formatHostPort(spec.host, spec.port),
      timeoutMs: spec.connectTimeoutMs,
    });
  }

  #badRequest(c: Inbound, reason: string): void {
    c.phase = "handling";
    c.deadline = undefined;
    this.#complete({ type: "bad-request", conn: c.id, remoteHost: c.remoteHost, reason });
  }

  #finish(c: Outbound<T>, completion: Completion<T>, now: number): void {
    this.#complete(completion);
    this.#drop(c, now);
  }

  #drop(c: Conn<T>, now: number): void {
    const removed = this.#conns.delete(c.id);
    assert(removed, "a dropped connection must be in the table");
    this.#act({ type: "close", conn: c.id });
    while (this.#conns.size < this.#o.maxConnections && this.queued > 0) {
      this.#start(this.#queued.shift()!, now);
    }
  }

  /** Appends up to the message cap (bytes beyond it are never read, like the originals). */
  #append(c: { buf: Uint8Array; len: number }, bytes: Uint8Array): void {
    const room = this.#o.maxMessageBytes - c.len;
    const take = bytes.length <= room ? bytes : bytes.subarray(0, Math.max(0, room));
    if (c.len + take.length > c.buf.length) {
      const grown = new Uint8Array(
        Math.min(this.#o.maxMessageBytes, Math.max(c.buf.length * 2, c.len + take.length)),
      );
      grown.set(c.buf.subarray(0, c.len));
      c.buf = grown;
    }
    c.buf.set(take, c.len);
    c.len += take.length;
  }

  #act(action: StreamAction): void {
    const queued = this.#actions.push(action);
    assert(queued, "actions must be drained");
  }

  #complete(completion: Completion<T>): void {
    assert(this.#done.length < QUEUE_MAX, "completions must be taken");
    this.#done.push(completion);
  }
}
