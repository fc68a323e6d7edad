/**
 * One LRP2P connection as a sans-I/O state machine: the Noise XX handshake with the timers and
 * retransmissions of spec §8.1, then the encrypted selective-repeat ARQ streams (one
 * {@linkcode ArqSender}, one {@linkcode ArqReceiver}), keepalive, idle timeout and the FIN close of
 * §8.4. The endpoint (`endpoint.ts`) owns the socket and the map of connections; a connection
 * hands it whole datagrams to send.
 *
 * ```
 * initiator: hello ─msg2─▶ open ─close/FIN─▶ closing ─both FINs acked─▶ lingering ─▶ closed
 * responder: waiting ─msg3 (or data after it)─▶ open …
 * ```
 *
 * @module
 */

import type { Addr, Millis } from "../core/mod.ts";
import { ArqReceiver } from "./arq_receiver.ts";
import { ArqSender } from "./arq_sender.ts";
import { type HandshakeResult, type KeyPair, XXInitiator, XXResponder } from "./noise.ts";
import { TransportCipher } from "./transport.ts";
import { decodeSegment, encodeAck, encodeData, FLAG_RTO, writeConnId } from "./wire.ts";

/** A connection's state. */
export type ConnState = "hello" | "waiting" | "open" | "closing" | "lingering" | "closed";

/** Timers and limits of a connection (spec §8.1, §8.4). */
export interface ConnTimings {
  /** First resend of message 1 or 2. @default {1000} */
  handshakeRetryMs: number;
  /** Sends of message 1 before `connect` fails. @default {5} */
  hello1Sends: number;
  /** A half-open responder is dropped after this. @default {30000} */
  halfOpenMs: number;
  /** Gap before the second copy of message 3. @default {5} */
  message3RepeatMs: number;
  /** Wait after message 3 before the first data. @default {20} */
  firstDataDelayMs: number;
  /** Keepalive after this long without sending. @default {15000} */
  keepaliveMs: number;
  /** Close with an error after this long without an authenticated datagram. @default {60000} */
  idleMs: number;
  /** Give up a graceful close after this. @default {10000} */
  closeMs: number;
  /** After the close, keep acknowledging a retransmitted FIN this long. @default {2000} */
  lingerMs: number;
}

/** The defaults of {@linkcode ConnTimings}. */
export const DEFAULT_TIMINGS: ConnTimings = {
  handshakeRetryMs: 1000,
  hello1Sends: 5,
  halfOpenMs: 30_000,
  message3RepeatMs: 5,
  firstDataDelayMs: 20,
  keepaliveMs: 15_000,
  idleMs: 60_000,
  closeMs: 10_000,
  lingerMs: 2000,
};

/** Options of a connection. */
export interface ConnOptions {
  connId: bigint;
  remote: Addr;
  staticKey: KeyPair;
  ephemeralKey: KeyPair;
  now: Millis;
  timings: ConnTimings;
  /** Decides whether the peer's static key is accepted (undefined: any). */
  verifyRemote?: (remoteStatic: Uint8Array) => boolean;
  /** Bytes the send buffer holds. */
  sendBufferBytes?: number;
  /** Bytes the receive buffer holds. */
  receiveBufferBytes?: number;
}

/** Why a connection ended (undefined: a clean close). */
export type CloseReason = string | undefined;

const HS_MSG1 = 40;
const HS_MSG3 = 72;
/** Datagrams kept while waiting for message 3 (§8.1). */
const EARLY_MAX = 16;
/** A resent message 2 answers a repeated message 1 at most this often (§8.1). */
const MSG2_REPEATS_MAX = 3;

/**
 * One connection. The endpoint feeds it datagrams and ticks, and takes datagrams with
 * {@linkcode LrpConn.pollDatagram}.
 */
export class LrpConn {
  readonly connId: bigint;
  readonly remote: Addr;
  readonly initiator: boolean;
  #state: ConnState;
  #t: ConnTimings;
  #verify?: (k: Uint8Array) => boolean;
  #init?: XXInitiator;
  #resp?: XXResponder;
  #hello?: Uint8Array; // message 1 (initiator: ours; responder: theirs) as a datagram
  #reply?: Uint8Array; // message 2 datagram (responder) or message 3 datagram (initiator)
  #sends = 0;
  #retryAt = Infinity;
  #giveUpAt = Infinity;
  #msg2Repeats = 0;
  #early: Uint8Array[] = [];
  #confirmed = false; // initiator: an authenticated datagram came from the responder
  #cipher?: TransportCipher;
  #sender?: ArqSender;
  #receiver?: ArqReceiver;
  #result?: HandshakeResult;
  /** Data may not go out before this (the initiator's pause after message 3). */
  #dataAt = -Infinity;
  #repeat3At = Infinity;
  #lastHeardAt: Millis;
  /** The latest time seen. */
  #lastNow: Millis;
  #closeBy = Infinity;
  #lingerUntil = Infinity;
  #reason: CloseReason;
  #closing = false;
  /** The window field of the last ACK sent. */
  #advertised = Infinity;
  readonly #out: Uint8Array[] = [];
  readonly #opts: ConnOptions;
  /** Set when the connection became open (the endpoint reports it once). */
  opened = false;
  /** Set when readable bytes arrived since the endpoint last looked. */
  readableChanged = false;
  /** Counters. */
  readonly stats = { datagramsIn: 0, datagramsOut: 0, authFailed: 0, badSegments: 0 };

  private constructor(o: ConnOptions, initiator: boolean) {
    this.#opts = o;
    this.connId = o.connId;
    this.remote = o.remote;
    this.initiator = initiator;
    this.#t = o.timings;
    this.#verify = o.verifyRemote;
    this.#lastHeardAt = o.now;
    this.#lastNow = o.now;
    this.#state = initiator ? "hello" : "waiting";
  }

  /** Opens a connection to `o.remote`: message 1 goes out at once. */
  static connect(o: ConnOptions): LrpConn {
    const c = new LrpConn(o, true);
    c.#init = new XXInitiator({ staticKey: o.staticKey, ephemeralKey: o.ephemeralKey });
    c.#hello = writeConnId(o.connId, c.#init.writeMessage1());
    c.#sendHello(o.now);
    c.#giveUpAt = Infinity;
    return c;
  }

  /**
   * Answers a message 1 datagram from `o.remote` with message 2, or returns why it cannot (the
   * message is malformed or the key is of low order).
   */
  static accept(o: ConnOptions, datagram: Uint8Array): LrpConn | Error {
    const c = new LrpConn(o, false);
    const resp = new XXResponder({ staticKey: o.staticKey, ephemeralKey: o.ephemeralKey });
    const r = resp.readMessage1(datagram.subarray(8));
    if (r !== true) return r;
    c.#resp = resp;
    c.#hello = datagram.slice();
    c.#reply = writeConnId(o.connId, resp.writeMessage2());
    c.#out.push(c.#reply);
    c.#retryAt = o.now + o.timings.handshakeRetryMs;
    c.#giveUpAt = o.now + o.timings.halfOpenMs;
    return c;
  }

  /** The state. */
  get state(): ConnState {
    return this.#state;
  }

  /** The peer's static key, once the handshake is done. */
  get remoteStatic(): Uint8Array | undefined {
    return this.#result?.remoteStatic;
  }

  /** Why it closed (undefined while open or after a clean close). */
  get reason(): CloseReason {
    return this.#reason;
  }

  /** Whether the application may write now (room in the send buffer). */
  get writable(): boolean {
    return this.#state === "open" && !this.#closing && (this.#sender?.writable ?? false);
  }

  /** Bytes waiting to be read. */
  get readable(): number {
    return this.#receiver?.readable ?? 0;
  }

  /** ARQ counters, once open. */
  get arq(): ArqSender["stats"] | undefined {
    return this.#sender?.stats;
  }

  /** Takes the next datagram to send. */
  pollDatagram(): Uint8Array | undefined {
    const d = this.#out.shift();
    if (d) this.stats.datagramsOut++;
    return d;
  }

  /** Queues `bytes`; returns how many were taken (0 when the send buffer is full). */
  write(bytes: Uint8Array, now: Millis): number {
    this.#lastNow = Math.max(this.#lastNow, now);
    if (this.#state !== "open" || this.#closing || !this.#sender) return 0;
    const n = this.#sender.write(bytes, now);
    this.#pump(now);
    return n;
  }

  /** Takes bytes in order: `null` at the end of the stream, `undefined` when none wait. */
  read(max?: number): Uint8Array | null | undefined {
    if (!this.#receiver) return this.#state === "closed" ? null : undefined;
    const r = this.#receiver.read(max);
    if (r === undefined && this.#state === "closed") return null;
    if (r) this.#windowUpdate();
    return r;
  }

  /** Graceful close: a FIN after the queued data; the connection ends when both FINs are acknowledged. */
  close(now: Millis): void {
    if (this.#closing || this.#state === "closed" || this.#state === "lingering") return;
    if (this.#state !== "open") return this.#end(now, undefined);
    this.#closing = true;
    this.#sender!.finish(now);
    this.#state = "closing";
    this.#pump(now);
  }

  /** Ends it at once, with `reason`. */
  abort(now: Millis, reason: string): void {
    this.#end(now, reason);
  }

  /** A datagram for this connection id. */
  handleDatagram(d: Uint8Array, now: Millis): void {
    this.#lastNow = Math.max(this.#lastNow, now);
    this.stats.datagramsIn++;
    switch (this.#state) {
      case "hello":
        return this.#onMessage2(d, now);
      case "waiting":
        return this.#onWhileWaiting(d, now);
      case "closed":
        return;
      default:
        return this.#onTransport(d, now);
    }
  }

  /** Timer work due at `now`. */
  handleTick(now: Millis): void {
    this.#lastNow = Math.max(this.#lastNow, now);
    if (this.#state === "closed") return;
    if (this.#state === "lingering") {
      if (now >= this.#lingerUntil) this.#state = "closed";
      return;
    }
    if (now >= this.#giveUpAt) {
      return this.#end(
        now,
        this.initiator ? "no answer to the handshake" : "handshake not completed",
      );
    }
    if (now >= this.#retryAt) {
      if (this.#state === "hello") this.#sendHello(now);
      else if (this.#state === "waiting" && this.#reply) {
        this.#out.push(this.#reply);
        this.#sends++;
        this.#retryAt = this.#sends >= 2 ? Infinity : now + 2 * this.#t.handshakeRetryMs;
      }
    }
    if (now >= this.#repeat3At && this.#reply) {
      this.#out.push(this.#reply);
      this.#repeat3At = Infinity;
    }
    if (this.#state === "open" || this.#state === "closing") {
      if (now - this.#lastHeardAt >= this.#t.idleMs) return this.#end(now, "idle timeout");
      if (now >= this.#closeBy) {
        // our FIN was acknowledged but none came back (a Go peer never sends one): a clean end
        const s = this.#sender!;
        return this.#end(now, s.finAcked && s.allAcked ? undefined : "close timed out");
      }
      if (this.#sender!.failed) return this.#end(now, "peer unreachable");
      if (
        !this.#closing && this.#sender!.allAcked &&
        now - this.#sender!.lastSendAt >= this.#t.keepaliveMs
      ) {
        this.#sender!.keepalive(now);
      }
      this.#pump(now);
    }
  }

  /** When {@linkcode LrpConn.handleTick} is next due. */
  nextTimeout(): Millis | undefined {
    let at = Math.min(this.#retryAt, this.#giveUpAt, this.#repeat3At);
    if (this.#state === "lingering") at = Math.min(at, this.#lingerUntil);
    if ((this.#state === "open" || this.#state === "closing") && this.#sender) {
      at = Math.min(
        at,
        this.#sender.nextTimeout() ?? Infinity,
        this.#lastHeardAt + this.#t.idleMs,
        this.#closeBy,
        // a keepalive only when nothing is queued or in flight (else the RTO timer runs, and a
        // keepalive could not be sent anyway: its deadline would stay in the past)
        this.#closing || !this.#sender.allAcked
          ? Infinity
          : this.#sender.lastSendAt + this.#t.keepaliveMs,
        this.#dataAt > this.#lastNow ? this.#dataAt : Infinity,
      );
    }
    return at === Infinity ? undefined : at;
  }

  // ---- handshake ------------------------------------------------------------------------------

  #sendHello(now: Millis): void {
    this.#out.push(this.#hello!);
    this.#sends++;
    if (this.#sends >= this.#t.hello1Sends) {
      // the last resend: wait as long again, then fail
      this.#retryAt = Infinity;
      this.#giveUpAt = now + this.#t.handshakeRetryMs * 2 ** (this.#sends - 1);
    } else {
      this.#retryAt = now + this.#t.handshakeRetryMs * 2 ** (this.#sends - 1);
    }
  }

  #onMessage2(d: Uint8Array, now: Millis): void {
    if (d.length < 8 + 96) return; // L16: never a message 2
    const r = this.#init!.readMessage2(d.subarray(8));
    if (r !== true) return; // the state is unchanged: keep waiting
    const { message, result } = this.#init!.writeMessage3();
    if (this.#verify && !this.#verify(result.remoteStatic)) {
      return this.#end(now, "the peer's key is not accepted");
    }
    this.#reply = writeConnId(this.connId, message);
    this.#out.push(this.#reply);
    this.#repeat3At = now + this.#t.message3RepeatMs;
    this.#dataAt = now + this.#t.firstDataDelayMs;
    this.#open(result, now);
  }

  #onWhileWaiting(d: Uint8Array, now: Millis): void {
    if (d.length === HS_MSG1 && this.#hello && equal(d, this.#hello)) {
      if (this.#msg2Repeats++ < MSG2_REPEATS_MAX) this.#out.push(this.#reply!);
      return;
    }
    if (d.length >= HS_MSG3) {
      const r = this.#resp!.readMessage3(d.subarray(8));
      if (!(r instanceof Error)) {
        if (this.#verify && !this.#verify(r.remoteStatic)) {
          return this.#end(now, "the peer's key is not accepted");
        }
        this.#open(r, now);
        const early = this.#early;
        this.#early = [];
        for (const e of early) this.#onTransport(e, now);
        return;
      }
    }
    if (d.length >= 16 + 16 + 6 && this.#early.length < EARLY_MAX) this.#early.push(d.slice());
  }

  #open(result: HandshakeResult, now: Millis): void {
    this.#result = result;
    this.#state = "open";
    this.opened = true;
    this.#retryAt = Infinity;
    this.#giveUpAt = Infinity;
    this.#lastHeardAt = now;
    this.#cipher = new TransportCipher({
      connId: this.connId,
      sendKey: result.sendKey,
      recvKey: result.recvKey,
    });
    // the peer's window is honoured; a Go peer's constant 65535 is ignored by the sender itself
    this.#sender = new ArqSender(now, { sendBufferBytes: this.#opts.sendBufferBytes });
    this.#receiver = new ArqReceiver({ bufferBytes: this.#opts.receiveBufferBytes });
    if (!this.initiator) this.#confirmed = true;
  }

  // ---- transport ------------------------------------------------------------------------------

  #onTransport(d: Uint8Array, now: Millis): void {
    if (this.initiator && this.#reply && d.length === HS_MSG3 && equal(d, this.#reply)) return;
    const plain = this.#cipher!.open(d);
    if (plain === undefined) {
      this.stats.authFailed++;
      return;
    }
    this.#lastHeardAt = now;
    if (!this.#confirmed) {
      this.#confirmed = true;
      this.#repeat3At = Infinity;
    }
    const seg = decodeSegment(plain);
    if (seg.kind === "invalid") {
      this.stats.badSegments++;
      return;
    }
    if (seg.kind === "ack") {
      this.#sender!.onAck(seg, now);
    } else {
      const before = this.#receiver!.readable;
      const { ack } = this.#receiver!.onData(seg);
      if (this.#closeBy !== Infinity) this.#closeBy = now + this.#t.closeMs;
      if (ack) {
        this.#advertised = ack.window;
        this.#seal(encodeAck(ack.lastInOrder, ack.window, ack.ackedSeq));
      }
      if (this.#receiver!.readable !== before || this.#receiver!.finReceived) {
        this.readableChanged = true;
      }
    }
    if (this.#state === "lingering") return;
    this.#pump(now);
  }

  #pump(now: Millis): void {
    const s = this.#sender;
    if (!s || (this.#state !== "open" && this.#state !== "closing")) return;
    if (now >= this.#dataAt) {
      for (let seg = s.poll(now); seg; seg = s.poll(now)) {
        // until the responder is heard from, message 3 rides along with every retransmission
        if (!this.#confirmed && (seg.flags & FLAG_RTO) !== 0 && this.#reply) {
          this.#out.push(this.#reply);
        }
        this.#seal(encodeData(seg.flags, seg.seq, seg.payload));
      }
    }
    // once our FIN is acknowledged, the peer has closeMs (renewed while it still sends) to send its own
    // (every segment up to the FIN acknowledged, not just the FIN: a FIN may be acked out of order)
    const done = s.finAcked && s.allAcked;
    if (this.#closing && done && this.#closeBy === Infinity) this.#closeBy = now + this.#t.closeMs;
    if (this.#closing && done && this.#receiver!.finReceived) {
      this.#state = "lingering";
      this.#lingerUntil = now + this.#t.lingerMs;
      this.#closeBy = Infinity;
    }
  }

  /**
   * After a read freed room in a receive buffer whose last advertised window was small, repeat the
   * ACK of the last in-order segment with the new window, so that a sender held back by flow
   * control resumes now rather than at its next (backed-off) probe.
   */
  #windowUpdate(): void {
    const r = this.#receiver!;
    if (this.#state !== "open" && this.#state !== "closing") return;
    if (r.nextExpected === 0 || r.finReceived) return;
    const free = r.freeSlots;
    if (free <= 2 * this.#advertised) return;
    this.#advertised = free;
    const last = r.nextExpected - 1;
    this.#seal(encodeAck(last, free, last));
  }

  #seal(segment: Uint8Array): void {
    const c = this.#cipher!;
    if (c.exhausted) return this.#end(0, "nonce space exhausted");
    this.#out.push(c.seal(segment));
  }

  #end(_now: Millis, reason: CloseReason): void {
    if (this.#state === "closed") return;
    this.#reason = reason;
    this.#state = "closed";
    this.readableChanged = true;
    this.#retryAt =
      this.#giveUpAt =
      this.#repeat3At =
      this.#closeBy =
      this.#lingerUntil =
        Infinity;
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
