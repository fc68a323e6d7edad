/**
 * The Part 2 ring tracker as a sans-I/O core (spec §3.4, with the fixes of §3.7 and §4): it
 * answers ECHO and REGISTER byte for byte like the original, keeps the ordered peer list (each
 * peer's neighbour is its predecessor, the first one's is the last), tells peers about neighbour
 * changes with UPDATE_NBR, PINGs every peer on a fixed period and drops the ones that fail,
 * repairing the ring.
 *
 * Fixes over the original, all wire-compatible: every connection is isolated and every bad input
 * gets `('[Tracker]', 'Bad request')` (F1, F3, F5, F6: the safe decoder reads protocols 0–5
 * incrementally); duplicate handles follow the §3.7 policy instead of a `None` neighbour (F4);
 * PINGs and UPDATE_NBRs run concurrently with timeouts (F7); a peer left alone is told it is its
 * own neighbour (F8); a new peer gets the item held by the fewest live peers (F9); a peer is
 * dropped after `dropAfterFailures` failed rounds in a row (1 reproduces the original). UPDATE_NBR
 * goes to every peer whose neighbour changed, one at a time per peer (the next waits until the
 * peer has closed the previous connection, so updates are never taken out of order), and is
 * retried after each PING round until one reaches it.
 *
 * @module
 */

import { assert } from "../../util/mod.ts";
import type { PyValue } from "../pickle/mod.ts";
import { type Completion, ExchangeTable } from "./_exchanges.ts";
import {
  asctime,
  DEFAULT_RING_ITEMS,
  echoReply,
  encodeMessage,
  handleKey,
  type Neighbour,
  parseTrackerRequest,
  pingRequest,
  regInit,
  type RingItem,
  type RingString,
  ringText,
  trackerNotice,
  updateNbr,
} from "./messages.ts";
import {
  type Addr,
  type ConnId,
  type EventSource,
  OutputQueue,
  type StreamAction,
  type StreamCore,
} from "../../core/mod.ts";
import { parseHostPort } from "../../net/mod.ts";

/**
 * Options of {@linkcode RingTracker}. Times are in milliseconds.
 */
export interface RingTrackerOptions {
  /**
   * The table, in stored order: the k-th new peer gets the entry held by the fewest live peers
   * (ties: lowest position), which is entry `k mod n` while nobody has left. Seqs must be
   * 0..n-1 in any order (1 ≤ n ≤ 64); values at most 64 characters.
   *
   * @default {DEFAULT_RING_ITEMS} (the original's five words)
   */
  items?: readonly RingItem[];
  /**
   * The pause between the end of one PING round and the start of the next (the first round
   * starts this long after the tracker).
   *
   * @default {20000}
   */
  pingIntervalMs?: number;
  /**
   * How long a PING may take to connect.
   *
   * @default {5000}
   */
  pingConnectTimeoutMs?: number;
  /**
   * How long a pinged peer may take to answer or close.
   *
   * @default {5000}
   */
  pingReplyTimeoutMs?: number;
  /**
   * How long an UPDATE_NBR may take to connect, and then for the peer to close the connection.
   *
   * @default {2000}
   */
  updateConnectTimeoutMs?: number;
  /**
   * How long a client may take to send its whole request.
   *
   * @default {5000}
   */
  readTimeoutMs?: number;
  /**
   * Failed PING rounds in a row after which a peer is dropped (1 is the original's behaviour).
   *
   * @default {2}
   */
  dropAfterFailures?: number;
  /**
   * The most registered peers; REGISTERs beyond get `('[Tracker]', 'Tracker full')`.
   *
   * @default {1024}
   */
  maxPeers?: number;
  /**
   * The most connections open at once (inbound and outbound).
   *
   * @default {256}
   */
  maxConnections?: number;
  /**
   * The largest request read, in bytes (the originals read 1024).
   *
   * @default {1024}
   */
  maxMessageBytes?: number;
  /**
   * The longest handle accepted, in characters (py2 str: bytes).
   *
   * @default {64}
   */
  maxHandleChars?: number;
  /**
   * Added to `now` to get Unix-epoch milliseconds for the PING time string (the adapter passes
   * `Date.now() - performance.now()`).
   *
   * @default {0}
   */
  epochOffsetMs?: number;
}

/**
 * A registered peer as {@linkcode RingTracker.peers} lists it.
 */
export interface RingTrackerPeer {
  /** The handle as text. */
  readonly handle: string;
  /** The IP address its REGISTER came from. */
  readonly ip: string;
  /** The port it registered. */
  readonly port: number;
  /** The seq of the item it was given. */
  readonly seq: number;
  /** Failed PING rounds in a row. */
  readonly failures: number;
}

/**
 * What the tracker reports, for logs and tests (handles as text).
 *
 * - `echo`: answered an ECHO;
 * - `registered`: a REG_INIT went out: `how` is `new`, `again` (same handle from the same
 *   endpoint) or `replaced` (same handle, the old endpoint was dead);
 * - `refused`: the handle is taken by a live peer, or the tracker is full;
 * - `bad-request`: a request that got `('[Tracker]', 'Bad request')`;
 * - `dropped`: a peer failed its PINGs and left the ring;
 * - `neighbour-sent`: an UPDATE_NBR was delivered (`ok`) or could not be;
 * - `ping-round`: a PING round ended.
 */
export type RingTrackerEvent =
  | { readonly type: "echo"; readonly handle: string; readonly from: string }
  | {
    readonly type: "registered";
    readonly handle: string;
    readonly ip: string;
    readonly port: number;
    readonly seq: number;
    readonly neighbour: string;
    readonly how: "new" | "again" | "replaced";
  }
  | {
    readonly type: "refused";
    readonly handle: string;
    readonly ip: string;
    readonly port: number;
    readonly reason: "taken" | "full";
  }
  | { readonly type: "bad-request"; readonly from: string; readonly reason: string }
  | {
    readonly type: "dropped";
    readonly handle: string;
    readonly ip: string;
    readonly port: number;
  }
  | {
    readonly type: "neighbour-sent";
    readonly handle: string;
    readonly neighbour: string;
    readonly ok: boolean;
  }
  | {
    readonly type: "ping-round";
    readonly alive: number;
    readonly failed: number;
    readonly peers: number;
  };

interface Entry {
  readonly id: number;
  handle: RingString;
  readonly key: string;
  ip: string;
  port: number;
  readonly item: number;
  failures: number;
  /** The neighbour (see `snapshot()`) this peer was last told about successfully. */
  told: string | undefined;
  /** The UPDATE_NBR in flight to this peer. */
  updating: UpdateTag | undefined;
  /** A duplicate REGISTER is checking whether this peer is still alive. */
  checking: boolean;
}

interface PingTag {
  readonly kind: "ping";
  readonly entryId: number;
  readonly ip: string;
  readonly port: number;
}
interface UpdateTag {
  readonly kind: "update";
  readonly entryId: number;
  readonly ip: string;
  readonly port: number;
  readonly sent: string;
  readonly neighbour: string;
}
interface TakeoverTag {
  readonly kind: "takeover";
  readonly entryId: number;
  readonly conn: ConnId;
  readonly handle: RingString;
  readonly ip: string;
  readonly port: number;
}
type Tag = PingTag | UpdateTag | TakeoverTag;

interface Round {
  pending: number;
  readonly results: { readonly tag: PingTag; readonly ok: boolean }[];
}

/** How many rounds of completions one input may cause (a runaway guard). */
const DRAIN_ROUNDS_MAX = 10_000;
/** The most events that may wait to be drained. */
const EVENTS_MAX = 100_000;

function intOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot create the ring tracker: ${name} must be ${min}..${max}`);
  }
  return value;
}

function checkItems(items: readonly RingItem[]): readonly RingItem[] {
  if (!Array.isArray(items) || items.length < 1 || items.length > 64) {
    throw new RangeError("Cannot create the ring tracker: items must hold 1..64 entries");
  }
  const seen = new Set<number>();
  for (const item of items) {
    const { seq, value } = item;
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= items.length || seen.has(seq)) {
      throw new RangeError("Cannot create the ring tracker: item seqs must be 0..n-1, each once");
    }
    seen.add(seq);
    const length = typeof value === "string" ? value.length : value?.bytes?.length;
    if (typeof length !== "number" || length > 64) {
      throw new RangeError("Cannot create the ring tracker: item values must be strings of <= 64");
    }
  }
  return items.slice();
}

/**
 * The ring tracker core; see the module documentation, and `StreamCore` (`src/core/`) for the I/O contract.
 *
 * @example A peer registers; the reply is the original's REG_INIT
 * ```ts
 * import { RingTracker } from "./tracker.ts";
 * import assert from "node:assert/strict";
 * const tracker = new RingTracker(0);
 * const conn = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
 * tracker.handleData(conn, new TextEncoder().encode("(S'REGISTER'\np0\nS'p1'\np1\nI9201\ntp2\n."), 1);
 * const write = tracker.pollAction();
 * assert.equal(write?.type, "write");
 * assert.equal(new TextDecoder().decode(write.bytes), "(S'REG_INIT'\np0\nS'p1'\np1\nS'127.0.0.1'\np2\nI9201\nI5\n(I4\nS'peaks'\np3\ntp4\ntp5\n.");
 * assert.equal(tracker.pollAction()?.type, "close");
 * assert.equal(tracker.peers.length, 1);
 * assert.equal(tracker.nextTimeout(), 20_000);
 * ```
 */
export class RingTracker implements StreamCore, EventSource<RingTrackerEvent> {
  readonly #items: readonly RingItem[];
  readonly #pingIntervalMs: number;
  readonly #pingConnectTimeoutMs: number;
  readonly #pingReplyTimeoutMs: number;
  readonly #updateConnectTimeoutMs: number;
  readonly #dropAfterFailures: number;
  readonly #maxPeers: number;
  readonly #maxHandleChars: number;
  readonly #epochOffsetMs: number;
  readonly #table: ExchangeTable<Tag>;
  #peers: Entry[] = [];
  #nextEntryId = 1;
  #round: Round | undefined;
  #nextRoundAt: number;
  readonly #events = new OutputQueue<RingTrackerEvent>({ capacity: EVENTS_MAX });
  #now: number;

  /**
   * Makes a tracker with no peers; the first PING round is due at `now + pingIntervalMs`.
   *
   * @param now The current time.
   * @param options Table, timers and limits.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(now: number, options: RingTrackerOptions = {}) {
    const {
      items = DEFAULT_RING_ITEMS,
      pingIntervalMs = 20_000,
      pingConnectTimeoutMs = 5_000,
      pingReplyTimeoutMs = 5_000,
      updateConnectTimeoutMs = 2_000,
      readTimeoutMs = 5_000,
      dropAfterFailures = 2,
      maxPeers = 1024,
      maxConnections = 256,
      maxMessageBytes = 1024,
      maxHandleChars = 64,
      epochOffsetMs = 0,
    } = options;
    if (!Number.isFinite(now)) throw new RangeError("Cannot create the ring tracker: bad now");
    const DAY = 86_400_000;
    this.#items = checkItems(items);
    this.#pingIntervalMs = intOption("pingIntervalMs", pingIntervalMs, 1, DAY);
    this.#pingConnectTimeoutMs = intOption("pingConnectTimeoutMs", pingConnectTimeoutMs, 1, DAY);
    this.#pingReplyTimeoutMs = intOption("pingReplyTimeoutMs", pingReplyTimeoutMs, 1, DAY);
    this.#updateConnectTimeoutMs = intOption(
      "updateConnectTimeoutMs",
      updateConnectTimeoutMs,
      1,
      DAY,
    );
    this.#dropAfterFailures = intOption("dropAfterFailures", dropAfterFailures, 1, 1000);
    this.#maxPeers = intOption("maxPeers", maxPeers, 1, 1 << 16);
    this.#maxHandleChars = intOption("maxHandleChars", maxHandleChars, 1, 256);
    if (!Number.isFinite(epochOffsetMs)) {
      throw new RangeError("Cannot create the ring tracker: epochOffsetMs must be finite");
    }
    this.#epochOffsetMs = epochOffsetMs;
    this.#table = new ExchangeTable<Tag>({
      maxMessageBytes: intOption("maxMessageBytes", maxMessageBytes, 64, 65536),
      readTimeoutMs: intOption("readTimeoutMs", readTimeoutMs, 1, DAY),
      maxConnections: intOption("maxConnections", maxConnections, 1, 1 << 16),
      maxQueued: 4 * this.#maxPeers + 16,
    });
    this.#now = now;
    this.#nextRoundAt = now + this.#pingIntervalMs;
  }

  /**
   * The registered peers in ring order (each one's neighbour is the one before it).
   *
   * @example
   * ```ts
   * import { RingTracker } from "./tracker.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new RingTracker(0).peers.length, 0);
   * ```
   */
  get peers(): readonly RingTrackerPeer[] {
    return this.#peers.map((e) => ({
      handle: ringText(e.handle),
      ip: e.ip,
      port: e.port,
      seq: this.#items[e.item].seq,
      failures: e.failures,
    }));
  }

  /**
   * Open connections (for tests and metrics).
   *
   * @example
   * ```ts
   * import { RingTracker } from "./tracker.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new RingTracker(0).openConnections, 0);
   * ```
   */
  get openConnections(): number {
    return this.#table.size;
  }

  /** {@inheritDoc StreamCore.handleAccept} */
  handleAccept(remote: Addr, _local: Addr, now: number): ConnId {
    const remoteHost = parseHostPort(remote)?.hostname ?? remote;
    this.#advance(now);
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; peers expect a.b.c.d.
    const host = String(remoteHost).replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
    return this.#table.accept(host, now);
  }

  /** {@inheritDoc StreamCore.handleConnected} */
  handleConnected(conn: ConnId, now: number): void {
    this.#advance(now);
    this.#table.connected(conn, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleData} */
  handleData(conn: ConnId, bytes: Uint8Array, now: number): void {
    this.#advance(now);
    this.#table.data(conn, bytes, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleEof} */
  handleEof(conn: ConnId, now: number): void {
    this.#advance(now);
    this.#table.eof(conn, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleError} */
  handleError(conn: ConnId, _reason: string, now: number): void {
    this.#advance(now);
    this.#table.error(conn, now);
    this.#drain(now);
  }

  /** {@inheritDoc StreamCore.handleTick} */
  handleTick(now: number): void {
    this.#advance(now);
    this.#table.timeout(now);
    this.#drain(now);
    if (this.#round === undefined && now >= this.#nextRoundAt) {
      this.#startRound(now);
      this.#drain(now);
    }
  }

  /** {@inheritDoc StreamCore.pollAction} */
  pollAction(): StreamAction | undefined {
    return this.#table.pollAction();
  }

  /** {@inheritDoc EventSource.pollEvent} */
  pollEvent(): RingTrackerEvent | undefined {
    return this.#events.shift();
  }

  /** {@inheritDoc StreamCore.nextTimeout} */
  nextTimeout(): number | undefined {
    const deadline = this.#table.nextDeadline();
    if (this.#round !== undefined) return deadline;
    return deadline === undefined ? this.#nextRoundAt : Math.min(deadline, this.#nextRoundAt);
  }

  // ---- internals -------------------------------------------------------------------------------

  #advance(now: number): void {
    if (!(now >= this.#now)) {
      throw new RangeError(`Cannot go back in time: ${now} is before ${this.#now}`);
    }
    this.#now = now;
  }

  #emit(event: RingTrackerEvent): void {
    const queued = this.#events.push(event);
    assert(queued, "events must be drained");
  }

  #drain(now: number): void {
    for (let round = 0; round < DRAIN_ROUNDS_MAX; round++) {
      const done = this.#table.takeCompletions();
      if (done.length === 0) return;
      for (const c of done) this.#complete(c, now);
    }
    assert(false, "completions must settle");
  }

  #complete(c: Completion<Tag>, now: number): void {
    switch (c.type) {
      case "request":
        return this.#request(c.conn, c.remoteHost, c.value, now);
      case "bad-request":
        return this.#badRequest(c.conn, c.remoteHost, c.reason, now);
      case "ok":
      case "failed": {
        const ok = c.type === "ok";
        const tag = c.tag;
        if (tag.kind === "ping") return this.#pinged(tag, ok, now);
        if (tag.kind === "update") return this.#updated(tag, ok, now);
        return this.#takeoverChecked(tag, ok, now);
      }
    }
  }

  #reply(conn: ConnId, message: ReturnType<typeof trackerNotice>, now: number): void {
    this.#table.reply(conn, encodeMessage(message), now);
  }

  #badRequest(conn: ConnId, from: string, reason: string, now: number): void {
    this.#reply(conn, trackerNotice("Bad request"), now);
    this.#emit({ type: "bad-request", from, reason });
  }

  #handleFits(handle: RingString, min: number): boolean {
    const length = typeof handle === "string" ? handle.length : handle.bytes.length;
    return length >= min && length <= this.#maxHandleChars;
  }

  #request(conn: ConnId, from: string, value: PyValue, now: number): void {
    const r = parseTrackerRequest(value);
    switch (r.type) {
      case "bad":
        return this.#badRequest(conn, from, r.reason, now);
      case "echo":
        if (!this.#handleFits(r.handle, 0)) {
          return this.#badRequest(conn, from, "handle too long", now);
        }
        this.#reply(conn, echoReply(r.handle), now);
        this.#emit({ type: "echo", handle: ringText(r.handle), from });
        return;
      case "register":
        if (!this.#handleFits(r.handle, 1)) {
          return this.#badRequest(conn, from, "handle empty or too long", now);
        }
        return this.#register(conn, r.handle, from, r.port, now);
    }
  }

  #register(conn: ConnId, handle: RingString, ip: string, port: number, now: number): void {
    const key = handleKey(handle);
    const existing = this.#peers.find((e) => e.key === key);
    if (existing === undefined) {
      if (this.#peers.length >= this.#maxPeers) {
        this.#reply(conn, trackerNotice("Tracker full"), now);
        this.#emit({ type: "refused", handle: ringText(handle), ip, port, reason: "full" });
        return;
      }
      const entry: Entry = {
        id: this.#nextEntryId++,
        handle,
        key,
        ip,
        port,
        item: this.#leastHeldItem(),
        failures: 0,
        told: undefined,
        updating: undefined,
        checking: false,
      };
      this.#peers.push(entry);
      this.#sendRegInit(conn, entry, "new", now);
      this.#sync(now);
      return;
    }
    if (existing.ip === ip && existing.port === port) {
      this.#sendRegInit(conn, existing, "again", now);
      return;
    }
    if (existing.checking) return this.#refuseTaken(conn, handle, ip, port, now);
    existing.checking = true;
    this.#table.open({
      host: existing.ip,
      port: existing.port,
      request: encodeMessage(pingRequest(asctime(now + this.#epochOffsetMs))),
      reply: "any",
      connectTimeoutMs: this.#pingConnectTimeoutMs,
      replyTimeoutMs: this.#pingReplyTimeoutMs,
      tag: { kind: "takeover", entryId: existing.id, conn, handle, ip, port },
    }, now);
  }

  #refuseTaken(conn: ConnId, handle: RingString, ip: string, port: number, now: number): void {
    this.#reply(conn, trackerNotice("Handle already registered"), now);
    this.#emit({ type: "refused", handle: ringText(handle), ip, port, reason: "taken" });
  }

  #takeoverChecked(tag: TakeoverTag, alive: boolean, now: number): void {
    const entry = this.#peers.find((e) => e.id === tag.entryId);
    if (entry === undefined) {
      // Dropped while we checked: the handle may be free now.
      return this.#register(tag.conn, tag.handle, tag.ip, tag.port, now);
    }
    entry.checking = false;
    if (alive) return this.#refuseTaken(tag.conn, tag.handle, tag.ip, tag.port, now);
    entry.handle = tag.handle;
    entry.ip = tag.ip;
    entry.port = tag.port;
    entry.failures = 0;
    entry.told = undefined;
    this.#sendRegInit(tag.conn, entry, "replaced", now);
    this.#sync(now);
  }

  /** The db position held by the fewest peers (ties: the lowest position). */
  #leastHeldItem(): number {
    const counts = new Array<number>(this.#items.length).fill(0);
    for (const e of this.#peers) counts[e.item]++;
    let best = 0;
    for (let i = 1; i < counts.length; i++) if (counts[i] < counts[best]) best = i;
    return best;
  }

  #predecessor(entry: Entry): Entry {
    const n = this.#peers.length, i = this.#peers.indexOf(entry);
    assert(i >= 0, "a peer's predecessor is asked only while it is registered");
    return this.#peers[(i - 1 + n) % n];
  }

  #sendRegInit(conn: ConnId, entry: Entry, how: "new" | "again" | "replaced", now: number): void {
    const pred = this.#predecessor(entry);
    const item = this.#items[entry.item];
    this.#reply(conn, regInit(neighbourOf(pred), this.#items.length, item), now);
    entry.told = snapshot(pred);
    this.#emit({
      type: "registered",
      handle: ringText(entry.handle),
      ip: entry.ip,
      port: entry.port,
      seq: item.seq,
      neighbour: ringText(pred.handle),
      how,
    });
  }

  /** Sends UPDATE_NBR to every peer whose neighbour differs from what it was last told. */
  #sync(now: number): void {
    const n = this.#peers.length;
    for (let i = 0; i < n; i++) {
      const entry = this.#peers[i], pred = this.#peers[(i - 1 + n) % n];
      const want = snapshot(pred);
      if (entry.told === want || entry.updating !== undefined) continue;
      const tag: UpdateTag = {
        kind: "update",
        entryId: entry.id,
        ip: entry.ip,
        port: entry.port,
        sent: want,
        neighbour: ringText(pred.handle),
      };
      entry.updating = tag;
      this.#table.open({
        host: entry.ip,
        port: entry.port,
        request: encodeMessage(updateNbr(neighbourOf(pred))),
        // Nothing is read, but the exchange ends when the peer closes (both the reference peer
        // and ours close once they have taken the update): the next UPDATE_NBR to the same peer
        // waits for that, so two updates can never be taken in the wrong order.
        reply: "any",
        connectTimeoutMs: this.#updateConnectTimeoutMs,
        replyTimeoutMs: this.#updateConnectTimeoutMs,
        tag,
      }, now);
    }
  }

  #updated(tag: UpdateTag, ok: boolean, now: number): void {
    const entry = this.#peers.find((e) => e.id === tag.entryId);
    if (entry === undefined) return;
    if (entry.updating === tag) entry.updating = undefined;
    const same = entry.ip === tag.ip && entry.port === tag.port;
    if (same) {
      this.#emit({
        type: "neighbour-sent",
        handle: ringText(entry.handle),
        neighbour: tag.neighbour,
        ok,
      });
    }
    if (same && ok) entry.told = tag.sent;
    // A failed UPDATE_NBR is retried after the next PING round, not at once.
    if (ok || !same) this.#sync(now);
  }

  #startRound(now: number): void {
    if (this.#peers.length === 0) {
      this.#nextRoundAt = now + this.#pingIntervalMs;
      return;
    }
    const round: Round = { pending: this.#peers.length, results: [] };
    this.#round = round;
    const request = encodeMessage(pingRequest(asctime(now + this.#epochOffsetMs)));
    for (const entry of [...this.#peers]) {
      this.#table.open({
        host: entry.ip,
        port: entry.port,
        request,
        reply: "any",
        connectTimeoutMs: this.#pingConnectTimeoutMs,
        replyTimeoutMs: this.#pingReplyTimeoutMs,
        tag: { kind: "ping", entryId: entry.id, ip: entry.ip, port: entry.port },
      }, now);
    }
  }

  #pinged(tag: PingTag, ok: boolean, now: number): void {
    const round = this.#round;
    assert(round !== undefined && round.pending > 0, "a PING result belongs to a round");
    round.results.push({ tag, ok });
    if (--round.pending > 0) return;
    this.#round = undefined;
    let alive = 0, failed = 0;
    for (const { tag, ok } of round.results) {
      const entry = this.#peers.find((e) => e.id === tag.entryId);
      if (entry === undefined || entry.ip !== tag.ip || entry.port !== tag.port) continue;
      entry.failures = ok ? 0 : entry.failures + 1;
      if (ok) alive++;
      else failed++;
    }
    const dropped = this.#peers.filter((e) => e.failures >= this.#dropAfterFailures);
    if (dropped.length > 0) {
      this.#peers = this.#peers.filter((e) => e.failures < this.#dropAfterFailures);
      for (const e of dropped) {
        this.#emit({ type: "dropped", handle: ringText(e.handle), ip: e.ip, port: e.port });
      }
    }
    this.#emit({ type: "ping-round", alive, failed, peers: this.#peers.length });
    this.#sync(now); // repairs the ring, and retries UPDATE_NBRs that failed
    this.#nextRoundAt = now + this.#pingIntervalMs;
  }
}

function neighbourOf(entry: Entry): Neighbour {
  return { handle: entry.handle, ip: entry.ip, port: entry.port };
}

/** What a peer was told about its neighbour: who, and where. */
function snapshot(entry: Entry): string {
  return `${entry.id}|${entry.ip}|${entry.port}`;
}
