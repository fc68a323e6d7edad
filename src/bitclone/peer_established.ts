/**
 * The established state of one BitClone connection (spec §A.5, §A.7, Part C): `getaddr` and
 * `addr` both ways, `ping`/`pong` with round trips, the periodic `advertiseDue`, inactivity,
 * diagnostic `message` lines, unknown commands and the penalties of undecodable lines. Lines are
 * dispatched through the `established` row of the transition table (`peer_conn_states.ts`).
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import { AddrIntake, screenAddrEntries } from "./addr_intake.ts";
import { addressScope } from "./address.ts";
import {
  type AddrEntry,
  type AddrMessage,
  type BitcloneMessage,
  type DecodeError,
  type DecodeResult,
  encodeMessage,
  MAX_ADDR_ENTRIES,
  randomNonce,
} from "./messages.ts";
import { allowRate, type PeerConnContext } from "./peer_conn_context.ts";
import { type PeerConnConfig, unixSeconds } from "./peer_conn_options.ts";
import { DECODE_ERROR_ANSWERS, lineRule } from "./peer_conn_states.ts";
import type { Millis, PeerInfo } from "./peer_conn_types.ts";

const MESSAGES_PER_MINUTE = 10;
const PONGS_PER_SECOND = 2;
const PINGS_REMEMBERED = 4;
const UNKNOWN_COMMANDS_ANSWERED = 10;
/** The most entries one sendAddr() call may carry (split into lines of ≤ 1000). */
const SEND_ADDR_MAX = 10_000;

/**
 * An established connection: its timers, pings, `getaddr`/`addr` bookkeeping and limits.
 *
 * @example A ping is answered with a pong, an unknown word with one reject
 * ```ts
 * import { PeerConnContext } from "./peer_conn_context.ts";
 * import { resolvePeerConnOptions } from "./peer_conn_options.ts";
 * import { PeerEstablished } from "./peer_established.ts";
 * import { decodeMessage } from "./messages.ts";
 * import type { PeerInfo } from "./peer_conn_types.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
 * const config = resolvePeerConnOptions({ role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a });
 * const ctx = new PeerConnContext(config.maxQueuedBytes);
 * ctx.moveTo("established");
 * const state = new PeerEstablished(config, ctx, { listenAddress: a } as PeerInfo, 0);
 * state.handleLine(decodeMessage("ping|42"), 10);
 * assert.equal(new TextDecoder().decode(ctx.pollTransmit()), "pong|42\r\n");
 * state.handleLine(decodeMessage("block|1|2"), 20);
 * assert.equal(new TextDecoder().decode(ctx.pollTransmit()), "reject|400|unknown command|block\r\n");
 * assert.equal(state.nextTimeout(), 30_000);
 * ```
 */
export class PeerEstablished {
  readonly #config: PeerConnConfig;
  readonly #ctx: PeerConnContext;
  readonly #peer: PeerInfo;
  #lastLineAt: Millis;
  #nextPingAt: Millis;
  #nextAdvertiseAt: Millis;
  #pings: { nonce: string; at: Millis }[] = [];
  #pongTimes: Millis[] = [];
  #lastRttMs: number | undefined;
  #getaddrSent = false;
  #getaddrAnswered = false;
  #awaitingAddrAnswer = false;
  #unknownSeen = new Set<string>();
  readonly #intake: AddrIntake;
  #messageTimes: Millis[] = [];

  /** Established at `now` with `peer`: the ping and advertisement timers start. */
  constructor(config: PeerConnConfig, ctx: PeerConnContext, peer: PeerInfo, now: Millis) {
    this.#config = config;
    this.#ctx = ctx;
    this.#peer = peer;
    this.#lastLineAt = now;
    this.#nextPingAt = now + config.pingIntervalMs;
    this.#nextAdvertiseAt = now + config.advertiseIntervalMs;
    // The bucket fills from the opening of the connection (nothing takes tokens before).
    this.#intake = new AddrIntake(config.openedAt);
  }

  /** The last measured round trip in ms, if any. */
  get lastRttMs(): number | undefined {
    return this.#lastRttMs;
  }

  /** The soonest of inactivity, ping and advertisement. */
  nextTimeout(): Millis {
    const at = Math.min(
      this.#lastLineAt + this.#config.inactivityTimeoutMs,
      this.#nextPingAt,
      this.#nextAdvertiseAt,
    );
    assert(Number.isFinite(at), "an established connection has no timer");
    return at;
  }

  /** Closes after inactivity; sends a due ping; reports a due advertisement. */
  handleTick(now: Millis): void {
    const ctx = this.#ctx, config = this.#config;
    if (now >= this.#lastLineAt + config.inactivityTimeoutMs) {
      ctx.finish({ kind: "inactivity", silentMs: now - this.#lastLineAt });
      return;
    }
    if (now >= this.#nextPingAt) {
      this.#nextPingAt = nextPeriod(this.#nextPingAt, config.pingIntervalMs, now);
      const nonce = randomNonce(config.prng);
      this.#pings.push({ nonce, at: now });
      if (this.#pings.length > PINGS_REMEMBERED) this.#pings.shift();
      ctx.send({ type: "ping", nonce });
    }
    if (ctx.state === "established" && now >= this.#nextAdvertiseAt) {
      this.#nextAdvertiseAt = nextPeriod(this.#nextAdvertiseAt, config.advertiseIntervalMs, now);
      ctx.emit({ type: "advertiseDue" });
    }
  }

  /** Handles one received line (decoded or not). */
  handleLine(result: DecodeResult, now: Millis): void {
    this.#lastLineAt = now;
    if (result.ok) this.#handleMessage(result.message, now);
    else this.#handleError(result.error, now);
  }

  #handleMessage(m: BitcloneMessage, now: Millis): void {
    const ctx = this.#ctx;
    switch (lineRule("established", m.type)) {
      case "redundant":
        ctx.emit({ type: "ignored", command: m.type, why: `redundant ${m.type}` });
        return;
      case "unknown":
        this.#unknownCommand(m.type === "blockLayer" ? m.command : m.type, now);
        return;
      case "report":
        if (m.type === "reject") {
          ctx.emit({ type: "rejectReceived", code: m.code, reason: m.reason, details: m.details });
        } else if (m.type === "message") {
          ctx.reportMessage(m);
        }
        return;
      case "serve":
        this.#serve(m, now);
        return;
      default:
        assert(false, `no established rule for ${m.type}`);
    }
  }

  #serve(m: BitcloneMessage, now: Millis): void {
    const ctx = this.#ctx;
    switch (m.type) {
      case "getaddr":
        if (this.#getaddrAnswered) {
          ctx.emit({ type: "ignored", command: "getaddr", why: "repeated getaddr" });
          return;
        }
        this.#getaddrAnswered = true;
        ctx.emit({ type: "getaddrReceived" });
        return;
      case "addr":
        this.#onAddr(m, now);
        return;
      case "ping":
        if (!allowRate(this.#pongTimes, now, 1000, PONGS_PER_SECOND)) {
          ctx.stats.pingsDropped++;
          return;
        }
        ctx.send({ type: "pong", nonce: m.nonce });
        return;
      case "pong": {
        const i = m.nonce === undefined ? -1 : this.#pings.findIndex((p) => p.nonce === m.nonce);
        if (i < 0) {
          ctx.emit({ type: "ignored", command: "pong", why: "unknown nonce" });
          return;
        }
        const { nonce, at } = this.#pings[i];
        this.#pings.splice(i, 1);
        this.#lastRttMs = now - at;
        ctx.emit({ type: "pingRtt", rttMs: now - at, nonce });
        return;
      }
      default:
        assert(false, `${m.type} is not served`);
    }
  }

  #handleError(error: DecodeError, now: Millis): void {
    const answer = DECODE_ERROR_ANSWERS[error.kind];
    if (answer === "unknown") {
      this.#unknownCommand(error.command, now);
      return;
    }
    this.#ctx.reject(answer.code, answer.reason, error.detail, now);
    this.#ctx.addPoints(answer.points, error.detail, now);
  }

  /** Spec §C.11: one reject per distinct command word (10 words at most), never penalised. */
  #unknownCommand(command: string, now: Millis): void {
    if (this.#unknownSeen.has(command) || this.#unknownSeen.size >= UNKNOWN_COMMANDS_ANSWERED) {
      this.#ctx.emit({ type: "ignored", command, why: "unknown command" });
      return;
    }
    this.#unknownSeen.add(command);
    this.#ctx.reject(400, "unknown command", command, now);
  }

  #onAddr(m: AddrMessage, now: Millis): void {
    const ctx = this.#ctx;
    const present = m.entries.length + m.invalidEntries;
    if (m.count !== present) {
      const detail = `addr: count ${m.count}, ${present} entries present`;
      ctx.reject(400, "addr count mismatch", detail, now);
      ctx.addPoints(10, detail, now);
      if (ctx.state === "closed") return;
    }
    if (present === 1) {
      const verdict = this.#intake.singleEntryLine(now);
      if (verdict !== "free") {
        if (verdict === "reject") {
          ctx.reject(400, "addr not batched", "addr: repeated single-entry lines", now);
        }
        ctx.addPoints(20, "addr not batched", now);
        if (ctx.state === "closed") return;
      }
    }
    const solicited = this.#awaitingAddrAnswer;
    this.#awaitingAddrAnswer = false;
    const { accepted, filtered, rateLimited } = screenAddrEntries(m.entries, {
      remote: this.#config.remote,
      local: this.#config.local,
      listen: this.#peer.listenAddress,
      nowSec: unixSeconds(this.#config, now),
      takeToken: () => this.#intake.takeToken(now),
    });
    ctx.stats.addrFiltered += filtered;
    ctx.stats.addrRateLimited += rateLimited;
    if (accepted.length > 0) {
      ctx.emit({ type: "addrReceived", entries: accepted, solicited, lineEntries: present });
    }
  }

  /** Sends `getaddr` once; its answer may be large (1000 more tokens). */
  sendGetaddr(): void {
    if (this.#getaddrSent) {
      throw new TypeError("Cannot send getaddr: it was already sent on this connection");
    }
    this.#getaddrSent = true;
    this.#awaitingAddrAnswer = true;
    this.#intake.grant();
    this.#ctx.send({ type: "getaddr" });
  }

  /** Sends the entries this peer may get, in as few lines as possible; returns how many. */
  sendAddr(entries: readonly AddrEntry[]): number {
    if (!Array.isArray(entries)) throw new TypeError("Cannot send addr: entries is not an array");
    if (entries.length > SEND_ADDR_MAX) {
      throw new RangeError(`Cannot send addr: ${entries.length} entries (max ${SEND_ADDR_MAX})`);
    }
    const loopbackPeer = addressScope(this.#config.remote) === "loopback";
    const keep = entries.filter((e) => {
      const scope = addressScope(e.address);
      return scope !== "unusable" && (scope !== "loopback" || loopbackPeer);
    });
    if (keep.length === 0) return 0;
    const lines = Math.ceil(keep.length / MAX_ADDR_ENTRIES);
    const messages: AddrMessage[] = [];
    for (let i = 0, from = 0; i < lines; i++) {
      const size = Math.floor(keep.length / lines) + (i < keep.length % lines ? 1 : 0);
      const batch = keep.slice(from, from + size);
      from += size;
      messages.push({ type: "addr", count: batch.length, entries: batch, invalidEntries: 0 });
    }
    const encoded = messages.map((m) => encodeMessage(m)); // all or nothing
    for (const bytes of encoded) this.#ctx.queue(bytes);
    return keep.length;
  }

  /** Sends a `message` line unless 10 went out in the last minute; returns whether it did. */
  sendMessage(code: number, summary: string, details: string, now: Millis): boolean {
    const bytes = encodeMessage({ type: "message", code, summary, details });
    if (!allowRate(this.#messageTimes, now, 60_000, MESSAGES_PER_MINUTE)) return false;
    this.#ctx.queue(bytes);
    return this.#ctx.state !== "closed";
  }
}

/**
 * The first period boundary after `now` (missed periods are skipped, not replayed).
 *
 * @example A tick 70 s late skips the missed pings
 * ```ts
 * import { nextPeriod } from "./peer_established.ts";
 * import assert from "node:assert/strict";
 * assert.equal(nextPeriod(30_000, 30_000, 30_000), 60_000);
 * assert.equal(nextPeriod(30_000, 30_000, 100_000), 130_000);
 * assert.equal(nextPeriod(30_000, Infinity, 30_000), Infinity);
 * ```
 */
export function nextPeriod(at: Millis, period: number, now: Millis): Millis {
  if (!Number.isFinite(period)) return Infinity;
  const next = at + period;
  return next > now ? next : now + period;
}
