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
import type { ConnOptions, ConnTimings } from "./conn_options.ts";
import { ArqReceiver } from "./arq_receiver.ts";
import { ArqSender } from "./arq_sender.ts";
import { type HandshakeResult, XXInitiator, XXResponder } from "./noise.ts";
import { TransportCipher } from "./transport.ts";
import { Slab } from "../util/mod.ts";
import {
  DATA_HEADER,
  decodeSegment,
  encodeAck,
  FLAG_RTO,
  writeConnId,
  writeDataHeader,
} from "./wire.ts";

export { type ConnOptions, type ConnTimings, DEFAULT_TIMINGS } from "./conn_options.ts";

/** A connection's state. */
export type ConnState = "hello" | "waiting" | "open" | "closing" | "lingering" | "closed";

/** Why a connection ended (undefined: a clean close). */
export type CloseReason = string | undefined;

const HS_MSG1 = 40;
const HS_MSG3 = 72;
/** Datagrams kept while waiting for message 3 (§8.1). */
const EARLY_MAX = 16;
/** A resent message 2 answers a repeated message 1 at most this often (§8.1). */
const MSG2_REPEATS_MAX = 3;
/** Different message 1s for one connId a responder answers besides the first (§8.1, L10). */
const ALT_HELLOS_MAX = 3;
/**
 * Bytes per shared buffer of a connection's received payloads (about 12 full segments each):
 * payloads in order are read in order, so a buffer is freed soon after its last one is read.
 */
const PAYLOAD_SLAB_BYTES = 16 * 1024;
/** Free send buffer after which an application waiting to write is woken (at most). */
const WRITABLE_AGAIN_BYTES = 64 * 1024;
/** A data segment's header, filled for each seal (sealing copies it at once). */
const DATA_HEAD = new Uint8Array(DATA_HEADER);

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
  /** Other message 1s seen for this connId while waiting (responder), each answered. */
  #alts: { resp: XXResponder; hello: Uint8Array; reply: Uint8Array; repeats: number }[] = [];
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
  /** When the last keepalive probe went out. */
  #lastProbeAt = -Infinity;
  #closeBy = Infinity;
  #lingerUntil = Infinity;
  #reason: CloseReason;
  #closing = false;
  readonly #out: Uint8Array[] = [];
  readonly #opts: ConnOptions;
  /** Where received payloads are copied to (made with the first one). */
  #payloads?: Slab;
  /** Copies a received payload out of the shared plaintext buffer when the receiver stores it. */
  readonly #keep = (payload: Uint8Array, inOrder: boolean): Uint8Array => {
    // Out of order, a payload may wait long among ones read at once: its own buffer, so that it
    // does not keep a shared one alive.
    if (!inOrder) return payload.slice();
    this.#payloads ??= new Slab({ slabBytes: PAYLOAD_SLAB_BYTES });
    return this.#payloads.copy(payload);
  };
  /** Set when the connection became open (the endpoint reports it once). */
  opened = false;
  /** Set when readable bytes arrived since the endpoint last looked. */
  readableChanged = false;
  /** Our FIN and every byte before it are acknowledged (the peer may still send). */
  finished = false;
  /** Set when `finished` became true since the endpoint last looked. */
  finishedChanged = false;
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

  /**
   * Whether the application, once told the send buffer was full, should be told it may write
   * again: a quarter of the buffer (at most 64 KiB) is free. Telling it at the first free byte
   * would wake it for every acknowledged segment, to write one segment's worth each time.
   */
  get writableAgain(): boolean {
    if (!this.writable) return false;
    const s = this.#sender!;
    // (or all is acknowledged: near the sequence limit the room may never grow that large)
    return s.room >= Math.min(WRITABLE_AGAIN_BYTES, s.bufferLimit / 4) || s.bufferedBytes === 0;
  }

  /** Set by the endpoint when it reported the send buffer full (a `writable` event is owed). */
  blocked = false;

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

  /** Copies bytes in order into `out`: their count, `null` at the end, `undefined` when none wait. */
  readInto(out: Uint8Array): number | null | undefined {
    if (!this.#receiver) return this.#state === "closed" ? null : undefined;
    const r = this.#receiver.readInto(out);
    if (r === undefined && this.#state === "closed") return null;
    return r;
  }

  /** Takes bytes in order: `null` at the end of the stream, `undefined` when none wait. */
  read(max?: number): Uint8Array | null | undefined {
    if (!this.#receiver) return this.#state === "closed" ? null : undefined;
    const r = this.#receiver.read(max);
    if (r === undefined && this.#state === "closed") return null;
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
      // (compared as nextTimeout() computes it: `now - at >= ms` can miss by a rounding error and
      // leave the timer due forever)
      if (now >= this.#lastHeardAt + this.#t.idleMs) return this.#end(now, "idle timeout");
      if (now >= this.#closeBy) {
        // Our FIN was acknowledged and the peer has sent nothing for closeMs. A Go peer never
        // sends a FIN: that is its end (a clean one). One of ours (told by the real window in its
        // ACKs) always sends one, so it is waited for: only the idle timeout ends that wait.
        // (Also when the peer's FIN is in and all our data acknowledged: only the ACK of our FIN is
        // missing, and the peer may have stopped lingering.)
        if (this.#sender!.peerWindow === Infinity || this.#bothStreamsDone()) {
          return this.#end(now, undefined);
        }
        this.#closeBy = Infinity;
      }
      if (this.#sender!.failed) return this.#end(now, "peer unreachable");
      if (this.#probeDue(now)) {
        this.#lastProbeAt = now;
        const probe = this.#sender!.probe(now);
        if (probe) this.#sealData(probe.flags, probe.seq, probe.payload);
        else if (!this.#closing) this.#sender!.keepalive(now);
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
        this.#nextProbeAt(),
        this.#dataAt > this.#lastNow ? this.#dataAt : Infinity,
      );
    }
    return at === Infinity ? undefined : at;
  }

  /**
   * Keepalive (§8.4): after `keepaliveMs` without sending anything; and, while the peer has been
   * silent for a third of that, every third of that (so a lossy link whose timers backed off is
   * probed often enough that the idle timeout only ends connections to peers that are gone).
   */
  #nextProbeAt(): Millis {
    const s = this.#sender!;
    const quiet = this.#t.keepaliveMs / 3;
    const bySending = s.lastSendAt + this.#t.keepaliveMs;
    const bySilence = this.#lastHeardAt + quiet <= this.#lastNow
      ? Math.max(this.#lastProbeAt, s.lastSendAt, this.#lastHeardAt) + quiet
      : this.#lastHeardAt + quiet;
    return Math.min(bySending, bySilence);
  }

  #probeDue(now: Millis): boolean {
    return now >= this.#nextProbeAt();
  }

  // ---- handshake ------------------------------------------------------------------------------

  #sendHello(now: Millis): void {
    this.#out.push(this.#hello!);
    this.#sends++;
    // 1, 2, 4, 8, 16 s, each drawn from ±25 % so that clients that started together (and were
    // turned away together by a full backlog) do not come back together
    const u = this.#opts.random ? this.#opts.random(1)[0] / 255 : 0.5;
    const wait = this.#t.handshakeRetryMs * 2 ** (this.#sends - 1) * (0.75 + 0.5 * u);
    if (this.#sends >= this.#t.hello1Sends) {
      // the last resend: wait as long again, then fail
      this.#retryAt = Infinity;
      this.#giveUpAt = now + wait;
    } else {
      this.#retryAt = now + wait;
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
    if (d.length === HS_MSG1) {
      // Another message 1 for this connId: the first may have been corrupted on the way (message 1
      // is not authenticated), and then the initiator's real one would never be answered. Answer a
      // few alternatives too; message 3 decides which one was real.
      const alt = this.#alts.find((a) => equal(d, a.hello));
      if (alt) {
        if (alt.repeats++ < MSG2_REPEATS_MAX) this.#out.push(alt.reply);
      } else if (this.#alts.length < ALT_HELLOS_MAX) {
        const resp = new XXResponder({
          staticKey: this.#opts.staticKey,
          ephemeralKey: this.#opts.ephemeralKey,
        });
        if (resp.readMessage1(d.subarray(8)) === true) {
          const reply = writeConnId(this.connId, resp.writeMessage2());
          this.#alts.push({ resp, hello: d.slice(), reply, repeats: 0 });
          this.#out.push(reply);
        }
      }
    }
    if (d.length >= HS_MSG3) {
      for (const resp of [this.#resp!, ...this.#alts.map((a) => a.resp)]) {
        const r = resp.readMessage3(d.subarray(8));
        if (r instanceof Error) continue;
        this.#alts = [];
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
      aead: this.#opts.aead,
      alloc: this.#opts.alloc,
      connId: this.connId,
      sendKey: result.sendKey,
      recvKey: result.recvKey,
    });
    // A window below 65535 in the peer's ACKs is honoured (only our peers send one; Go's is
    // always 65535, which the sender ignores).
    this.#sender = new ArqSender(now, { sendBufferBytes: this.#opts.sendBufferBytes });
    this.#receiver = new ArqReceiver({ bufferBytes: this.#opts.receiveBufferBytes });
    if (!this.initiator) this.#confirmed = true;
  }

  // ---- transport ------------------------------------------------------------------------------

  #onTransport(d: Uint8Array, now: Millis): void {
    if (this.initiator && this.#reply && d.length === HS_MSG3 && equal(d, this.#reply)) return;
    const plain = this.#cipher!.openView(d); // valid until the next openView: copied if kept
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
      const { ack } = this.#receiver!.onData(seg, this.#keep);
      if (this.#closeBy !== Infinity) this.#closeBy = now + this.#t.closeMs;
      if (ack) this.#seal(encodeAck(ack.lastInOrder, ack.window, ack.ackedSeq));
      if (this.#receiver!.readable !== before || this.#receiver!.finReceived) {
        this.readableChanged = true;
      }
    }
    if (this.#state === "lingering") {
      // the peer still retransmits (our ACKs were lost): keep answering it a while longer
      this.#lingerUntil = now + this.#t.lingerMs;
      return;
    }
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
        this.#sealData(seg.flags, seg.seq, seg.payload);
      }
    }
    // once our FIN is acknowledged, a Go peer (which never sends a FIN) has closeMs (renewed while it
    // still sends) to finish; a TS peer's FIN is awaited (it may be in RTO backoff; the idle timeout
    // bounds the wait), else the stream would end "cleanly" with its tail missing
    // (every segment up to the FIN acknowledged, not just the FIN: a FIN may be acked out of order)
    // Once the peer's FIN is in and all our data is acknowledged, only the ACK of our FIN is missing:
    // the peer may have stopped lingering (its ACKs lost), so closeMs of silence also ends it cleanly.
    const done = s.finAcked && s.allAcked;
    if (this.#closing && done && !this.finished) {
      this.finished = true; // our side is closed and acknowledged: `close()` resolves (§7)
      this.finishedChanged = true;
    }
    if (
      this.#closing && this.#closeBy === Infinity &&
      ((done && s.peerWindow === Infinity) || this.#bothStreamsDone())
    ) {
      this.#closeBy = now + this.#t.closeMs;
    }
    if (this.#closing && done && this.#receiver!.finReceived) {
      this.#state = "lingering";
      this.#lingerUntil = now + this.#t.lingerMs;
      this.#closeBy = Infinity;
    }
  }

  /** The peer's stream ended (its FIN came) and every byte we wrote is acknowledged. */
  #bothStreamsDone(): boolean {
    return this.#receiver!.finReceived && this.#sender!.bufferedBytes === 0;
  }

  #seal(segment: Uint8Array): void {
    const c = this.#cipher!;
    if (c.exhausted) return this.#end(0, "nonce space exhausted");
    this.#out.push(c.seal(segment));
  }

  /** Seals a data segment, its header and payload sealed as one without being joined first. */
  #sealData(flags: number, seq: number, payload: Uint8Array): void {
    const c = this.#cipher!;
    if (c.exhausted) return this.#end(0, "nonce space exhausted");
    this.#out.push(c.sealParts(writeDataHeader(DATA_HEAD, flags, seq, payload.length), payload));
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
