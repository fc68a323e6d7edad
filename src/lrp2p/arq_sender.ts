/**
 * The sending half of LRP2P's selective-repeat ARQ for ONE direction of a connection (spec §4,
 * §6.1 for what Go receivers expect, §8.3 and §8.4 for what this sender does). No crypto and no
 * clock: the connection passes `now` (ms) in, calls {@linkcode ArqSender.poll} until it returns
 * `undefined` after every event, seals what it returns, and arms one timer at
 * {@linkcode ArqSender.nextTimeout}.
 *
 * - Bytes are a stream: `write` copies them into a bounded buffer and `poll` cuts segments of up to
 *   `maxPayload` bytes when they can be sent, so small writes are coalesced only while the window
 *   is closed (Go receivers deliver a byte stream, §1, so boundaries never matter).
 * - Sequence numbers start at `firstSeq` (0); the first segment carries SYN, every retransmission
 *   RTO (kept on later copies); FIN is an empty segment with flag 0x04 after all data; a keepalive
 *   an empty segment without flags.
 * - RTO: RFC 6298 with Karn's rule and backoff ({@linkcode RtoEstimator}); on expiry every
 *   in-flight segment counts as lost, the oldest is resent at once and ACKs clock out the rest.
 * - Loss detection (RFC 8985, RACK-TLP, on per-segment ACKs): a segment is lost once 3 segments
 *   sent after its last transmission have been acknowledged, or once any segment sent after it has
 *   been acknowledged and `rtt + reordering window` has passed since it was sent (a timer waits
 *   for that); it is resent at once. A tail loss probe, 2·SRTT after the last progress, resends
 *   the oldest in-flight segment so that a loss at the end of a burst (too few segments after it
 *   for any of those rules) costs about two round trips instead of an RTO.
 * - Congestion control: {@linkcode Cubic}; flow control: the peer's window field (free slots)
 *   unless it is 65535 (Go) or `goPeer` is set; with a zero window one segment stays in flight as
 *   a probe (resent once per RTO).
 * - `seq − oldestUnacked ≤ maxSpan` (65533, the Go ring) always; no sequence number beyond
 *   2^32 − 2 (the FIN's last possible seq; data stops at 2^32 − 3, flaw L14).
 *
 * @module
 */

import { FlightList, type Outstanding, outstanding, SeqTable } from "./arq_tables.ts";
import { Cubic } from "./cubic.ts";
import { RtoEstimator } from "./rto.ts";

const SYN = 0x02, FIN = 0x04, RTO = 0x08;
/** Largest seq a data (or keepalive) segment may use; the FIN may use one more (L14). */
export const ARQ_LAST_DATA_SEQ = 0xffff_fffd;
/** Window value Go peers always advertise; it is ignored. */
const GO_WINDOW = 65535;

/** Tuning of {@linkcode ArqSender}. */
export interface SenderOptions {
  /** Largest payload per segment (default and maximum toward Go: 1330). */
  maxPayload?: number;
  /** Bound of unsent plus unacknowledged bytes (default 1 MiB). */
  sendBufferBytes?: number;
  /** The peer is a Go peer: its window field is ignored entirely. */
  goPeer?: boolean;
  /** Largest `seq − oldestUnacked` (default 65533, what a Go receive ring holds; always applied). */
  maxSpan?: number;
  /** Sequence number of the first segment (default 0; tests use it to reach the L14 limit). */
  firstSeq?: number;
  /** Consecutive RTO expiries without any progress after which the sender fails (default 8). */
  maxTimeouts?: number;
  /** Initial congestion window in segments (default 10). */
  initialCwnd?: number;
  /** Initial RTO before any sample (ms, default 1000) and its clamps (200 ms, 60 s). */
  initialRto?: number;
  /** Lower RTO clamp in ms (default 200). */
  minRto?: number;
  /** Upper RTO clamp in ms (default 60 000). */
  maxRto?: number;
}

/** A data segment to send (seal it as is). */
export interface OutSegment {
  flags: number;
  seq: number;
  payload: Uint8Array;
}

/** An ACK segment's fields. */
export interface AckFields {
  lastInOrder: number;
  window: number;
  ackedSeq: number;
}

/**
 * The sender of one direction.
 *
 * @example Write, send, acknowledge
 * ```ts
 * import { ArqSender } from "./arq_sender.ts";
 * import assert from "node:assert/strict";
 * const s = new ArqSender(0);
 * assert.equal(s.write(new Uint8Array(2000), 0), 2000);
 * const a = s.poll(0)!, b = s.poll(0)!;
 * assert.deepEqual([a.flags, a.seq, a.payload.length], [0x02, 0, 1330]); // SYN on the first
 * assert.deepEqual([b.flags, b.seq, b.payload.length], [0x00, 1, 670]);
 * assert.equal(s.poll(0), undefined);
 * s.onAck({ lastInOrder: 0, window: 65535, ackedSeq: 0 }, 50);
 * s.onAck({ lastInOrder: 0, window: 65535, ackedSeq: 1 }, 50);
 * assert.equal(s.allAcked, true);
 * assert.equal(s.stats.srtt, 50);
 * ```
 */
export class ArqSender {
  readonly #maxPayload: number;
  readonly #bufferLimit: number;
  readonly #goPeer: boolean;
  readonly #maxSpan: number;
  readonly #maxTimeouts: number;
  readonly #rto: RtoEstimator;
  readonly #cc: Cubic;

  // Unsent bytes, as copies of the written chunks; #head is the offset into #queue[0].
  #queue: Uint8Array[] = [];
  #head = 0;
  #unsent = 0;
  #kaQueued = false;
  #finQueued = false;
  #finSeq: number | undefined;
  #finAcked = false;

  #nextSeq: number;
  #firstSeq: number;
  #oldest: number; // lowest seq not yet acknowledged (== #nextSeq when none)
  #unacked = new SeqTable(); // by seq
  #inflight = new FlightList(); // in order of last transmission
  #lost: number[] = []; // seqs to resend, ascending from #lostAt; stale entries skipped lazily
  #lostAt = 0;
  #unackedBytes = 0;
  #txId = 0;
  #ackedTx = [0, 0, 0]; // the 3 largest txIds acknowledged, descending
  #rackRtt = 0; // RTT of the most recently sent segment acknowledged (RACK.rtt)
  #minRtt = Infinity;
  #rackAt = Infinity; // when the oldest unresolved in-flight segment counts as lost by time
  #ptoAt = Infinity; // the tail loss probe's deadline
  #probed = false; // a tail loss probe went out since the last progress
  #probes = 0;
  #expiries = 0;
  #urgent = false; // the next retransmission bypasses the window (fast retransmit, RTO)
  #peerWindow = Infinity;
  #timeouts = 0;
  #failed = false;
  #lastSendAt: number;
  #sent = 0;
  #retransmits = 0;

  /** A sender created at `now` (ms). */
  constructor(now: number, opts: SenderOptions = {}) {
    this.#maxPayload = Math.max(1, Math.min(opts.maxPayload ?? 1330, 1330));
    this.#bufferLimit = opts.sendBufferBytes ?? 1 << 20;
    this.#goPeer = opts.goPeer ?? false;
    this.#maxSpan = opts.maxSpan ?? 65533;
    this.#maxTimeouts = opts.maxTimeouts ?? 8;
    this.#rto = new RtoEstimator({
      initialRto: opts.initialRto,
      minRto: opts.minRto,
      maxRto: opts.maxRto,
    });
    this.#cc = new Cubic({ initialCwnd: opts.initialCwnd, maxCwnd: this.#maxSpan + 1 });
    this.#firstSeq = this.#nextSeq = this.#oldest = opts.firstSeq ?? 0;
    this.#lastSendAt = now;
  }

  /** Unsent plus unacknowledged payload bytes. */
  get bufferedBytes(): number {
    return this.#unsent + this.#unackedBytes;
  }

  /** True while `write` would accept at least one byte. */
  get writable(): boolean {
    return this.#room() > 0;
  }

  /** Bytes `write` would accept now. */
  get room(): number {
    return this.#room();
  }

  /** The bound of unsent plus unacknowledged bytes (the `sendBufferBytes` option). */
  get bufferLimit(): number {
    return this.#bufferLimit;
  }

  /** True once the FIN has been acknowledged. */
  get finAcked(): boolean {
    return this.#finAcked;
  }

  /** True when nothing is queued, unsent or unacknowledged. */
  get allAcked(): boolean {
    return this.#unsent === 0 && !this.#kaQueued && this.#unacked.size === 0 &&
      (!this.#finQueued || this.#finSeq !== undefined);
  }

  /** When `poll` last returned a segment (ms; the creation time before that). */
  get lastSendAt(): number {
    return this.#lastSendAt;
  }

  /** True after `maxTimeouts` consecutive RTO expiries without progress; the sender is dead. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Counters and the current estimates (srtt 0 before the first sample). */
  get stats(): {
    sent: number;
    retransmits: number;
    probes: number;
    /** Retransmission timeouts that expired. */
    expiries: number;
    cwnd: number;
    srtt: number;
    rto: number;
  } {
    return {
      sent: this.#sent,
      retransmits: this.#retransmits,
      probes: this.#probes,
      expiries: this.#expiries,
      cwnd: this.#cc.cwnd,
      srtt: this.#rto.srtt ?? 0,
      rto: this.#rto.rto,
    };
  }

  /** The peer's last honoured window (free slots), `Infinity` when unknown or ignored. */
  get peerWindow(): number {
    return this.#peerWindow;
  }

  /** The next sequence number a new segment gets. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Bytes `write` would accept now. */
  #room(): number {
    if (this.#failed || this.#finQueued) return 0;
    const segmentsLeft = ARQ_LAST_DATA_SEQ + 1 - this.#nextSeq - (this.#kaQueued ? 1 : 0);
    const bySeq = segmentsLeft * this.#maxPayload - this.#unsent;
    return Math.max(0, Math.min(this.#bufferLimit - this.bufferedBytes, bySeq));
  }

  /**
   * Queues as many bytes of `bytes` as fit (copied) and returns that count: 0 when the buffer is
   * full (backpressure), after `finish`, near the sequence limit or once failed. Empty writes are
   * ignored.
   *
   * @example Backpressure
   * ```ts
   * import { ArqSender } from "./arq_sender.ts";
   * import assert from "node:assert/strict";
   * const s = new ArqSender(0, { sendBufferBytes: 3000 });
   * assert.equal(s.write(new Uint8Array(2000), 0), 2000);
   * assert.equal(s.write(new Uint8Array(2000), 0), 1000);
   * assert.equal(s.writable, false);
   * assert.equal(s.write(new Uint8Array(1), 0), 0);
   * ```
   */
  write(bytes: Uint8Array, _now: number): number {
    const n = Math.min(bytes.length, this.#room());
    if (n <= 0) return 0;
    this.#queue.push(bytes.slice(0, n));
    this.#unsent += n;
    return n;
  }

  /** Queues the FIN (an empty segment with flag 0x04) after everything queued; idempotent. */
  finish(_now: number): void {
    if (this.#failed) return;
    this.#finQueued = true;
  }

  /**
   * Queues one empty data segment without flags, unless something is already queued (that will be
   * sent anyway), the FIN is queued, or the sequence space is exhausted.
   */
  keepalive(_now: number): void {
    if (this.#failed || this.#finQueued || this.#kaQueued || this.#unsent > 0) return;
    if (this.#nextSeq > ARQ_LAST_DATA_SEQ) return;
    this.#kaQueued = true;
  }

  /**
   * A liveness probe that needs no room in the window: the oldest unacknowledged segment again
   * (flagged RTO), or, when everything is acknowledged after the FIN, the FIN again. The peer
   * acknowledges either (duplicates are always acknowledged), so a connection whose retransmission
   * timer has backed off, or that has closed its side and waits for the peer's data, still hears
   * from a live peer. Timers are untouched and the copy gives no RTT sample (Karn).
   *
   * @returns The segment to send, or `undefined` when there is nothing to probe with (then queue
   * a {@linkcode ArqSender.keepalive}).
   */
  probe(now: number): OutSegment | undefined {
    if (this.#failed) return undefined;
    const s = this.#unacked.get(this.#oldest); // the oldest unacknowledged
    if (s !== undefined) {
      s.flags |= RTO;
      s.txCount++;
      this.#lastSendAt = now;
      this.#sent++;
      return { flags: s.flags, seq: s.seq, payload: s.payload };
    }
    if (this.#finSeq === undefined || !this.#finAcked) return undefined;
    this.#lastSendAt = now;
    this.#sent++;
    return { flags: FIN | RTO, seq: this.#finSeq, payload: new Uint8Array(0) };
  }

  /**
   * One ACK from the peer at `now`. Unknown or already acknowledged `ackedSeq`s are ignored (but
   * their window counts); `lastInOrder` > 0 also acknowledges every seq up to it (advisory, safe:
   * the receiver delivered them all).
   */
  onAck(ack: AckFields, now: number): void {
    if (!this.#goPeer && ack.window !== GO_WINDOW) this.#peerWindow = ack.window;
    let progress = false;
    const seg = this.#unacked.get(ack.ackedSeq);
    if (seg !== undefined) {
      if (seg.txCount === 1) this.#rto.sample(now - seg.sentAt); // Karn's rule
      else if (this.#rto.backoffs > 0 && now - seg.sentAt < this.#rto.baseRto) {
        this.#rto.endBackoff(); // no sample, but no compounding backoff across segments either
      }
      this.#acknowledge(seg, now);
      progress = true;
    }
    if (ack.lastInOrder > 0) {
      while (this.#oldest <= ack.lastInOrder && this.#oldest < this.#nextSeq) {
        const s = this.#unacked.get(this.#oldest);
        if (s !== undefined) {
          this.#acknowledge(s, now);
          progress = true;
        } else this.#oldest++;
      }
    }
    this.#advanceOldest();
    if (!progress) return;
    this.#timeouts = 0;
    this.#probed = false;
    this.#armPto(now);
    if (this.#detectLosses(now)) return;
    if (
      // Grow only when the window was (about) used, not for an application-limited flow, and not
      // in congestion avoidance while lost segments await their retransmission (fast recovery).
      2 * (this.#inflight.size + 1) >= this.#cc.cwnd &&
      (this.#cc.cwnd < this.#cc.ssthresh || this.#lostAt === this.#lost.length)
    ) {
      this.#cc.onAck(1, now, this.#rttForCc());
    }
  }

  /**
   * The next segment to send at `now`, or `undefined`: first an RTO expiry's retransmission, then
   * lost segments (oldest first), then new data, keepalive or FIN, within min(cwnd, peer window)
   * segments in flight, the span limit and the sequence limit.
   */
  poll(now: number): OutSegment | undefined {
    if (this.#failed) return undefined;
    this.#checkExpiry(now);
    if (this.#failed) return undefined;
    if (now >= this.#rackAt) this.#detectLosses(now);
    if (now >= this.#ptoAt) {
      this.#ptoAt = Infinity;
      this.#probed = true; // one probe until the next progress
      const s = this.#inflight.first;
      if (s !== undefined && this.#lostAt === this.#lost.length) {
        s.flags |= RTO;
        this.#retransmits++;
        this.#probes++;
        return this.#transmit(s, now);
      }
    }
    const open = this.#urgent || this.#inflight.size < this.#window();
    if (!open) return undefined;
    // Retransmission of the oldest lost segment.
    while (this.#lostAt < this.#lost.length) {
      const s = this.#unacked.get(this.#lost[this.#lostAt++]);
      if (s === undefined || !s.lost) continue;
      this.#urgent = false;
      s.lost = false;
      s.flags |= RTO;
      this.#retransmits++;
      return this.#transmit(s, now);
    }
    this.#urgent = false;
    if (this.#inflight.size >= this.#window()) return undefined;
    const seq = this.#nextSeq;
    if (seq - this.#oldest > this.#maxSpan) return undefined;
    let payload: Uint8Array;
    let flags = 0;
    if (this.#kaQueued) {
      this.#kaQueued = false;
      payload = new Uint8Array(0);
    } else if (this.#unsent > 0) {
      if (seq > ARQ_LAST_DATA_SEQ) return undefined; // unreachable: write() accounts for it
      payload = this.#cut(Math.min(this.#unsent, this.#maxPayload));
    } else if (this.#finQueued && this.#finSeq === undefined) {
      if (seq > ARQ_LAST_DATA_SEQ + 1) return undefined;
      this.#finSeq = seq;
      flags = FIN;
      payload = new Uint8Array(0);
    } else return undefined;
    if (seq === this.#firstSeq) flags |= SYN;
    this.#nextSeq++;
    const s = outstanding(seq, flags, payload, now);
    this.#unacked.add(s, this.#oldest);
    this.#unackedBytes += payload.length;
    return this.#transmit(s, now);
  }

  /** When `poll` must next be called if nothing else happens (ms), or `undefined`. */
  nextTimeout(): number | undefined {
    if (this.#failed) return undefined;
    const s = this.#inflight.first;
    if (s === undefined) return undefined;
    return Math.min(s.sentAt + this.#rto.rto, this.#rackAt, this.#ptoAt);
  }

  /**
   * Marks lost the in-flight segments that RACK finds lost at `now` (spec'd above) and arms the
   * time-based check for the first one that is not yet; true when it marked any.
   */
  #detectLosses(now: number): boolean {
    this.#rackAt = Infinity;
    const newest = this.#ackedTx[0], third = this.#ackedTx[2];
    const wait = this.#rackRtt + this.#reorderWindow();
    const marked: number[] = [];
    for (let s = this.#inflight.first, next; s !== undefined; s = next) {
      next = s.next;
      if (s.txId >= newest) break; // nothing sent after it has been acknowledged
      if (s.txId >= third && now < s.sentAt + wait) {
        this.#rackAt = s.sentAt + wait; // later ones were sent later: this is the earliest
        break;
      }
      this.#inflight.remove(s);
      s.lost = true;
      marked.push(s.seq);
    }
    if (marked.length === 0) return false;
    this.#addLost(marked);
    this.#cc.onLoss(now, this.#rttForCc());
    this.#urgent = true;
    return true;
  }

  /** RFC 8985 §6.2: a quarter of the minimum RTT, at least 1 ms (the timers' granularity). */
  #reorderWindow(): number {
    return Math.max(1, this.#minRtt === Infinity ? 0 : this.#minRtt / 4);
  }

  /** Arms the tail loss probe 2·SRTT (at least 4 ms, at most the RTO) from `now`, once sampled. */
  #armPto(now: number): void {
    const srtt = this.#rto.srtt;
    this.#ptoAt = srtt === undefined || this.#inflight.size === 0
      ? Infinity
      : now + Math.min(Math.max(2 * srtt, 4), this.#rto.rto);
  }

  #window(): number {
    const w = Math.min(Math.floor(this.#cc.cwnd), this.#peerWindow);
    return Math.max(1, w);
  }

  #rttForCc(): number {
    return this.#rto.srtt ?? this.#rto.rto;
  }

  #checkExpiry(now: number): void {
    const first = this.#inflight.first;
    if (first === undefined || now < first.sentAt + this.#rto.rto) return;
    this.#rto.backoff();
    this.#expiries++;
    this.#ptoAt = Infinity;
    if (this.#peerWindow !== 0) {
      // A zero-window probe that is not acknowledged is flow control, not congestion or death.
      this.#cc.onTimeout(now, this.#rttForCc());
      if (++this.#timeouts >= this.#maxTimeouts) {
        this.#failed = true;
        return;
      }
    }
    const marked: number[] = [];
    for (let s = this.#inflight.first; s !== undefined; s = s.next) {
      s.lost = true;
      marked.push(s.seq);
    }
    this.#inflight.clear();
    this.#addLost(marked);
    this.#urgent = true;
  }

  #addLost(seqs: number[]): void {
    seqs.sort((a, b) => a - b);
    const pending = this.#lost.length - this.#lostAt;
    if (pending === 0 || seqs[0] > this.#lost[this.#lost.length - 1]) {
      // The usual case: losses are found in ascending order; append (compacting now and then).
      if (this.#lostAt > 64 && 2 * this.#lostAt > this.#lost.length) {
        this.#lost = this.#lost.slice(this.#lostAt);
        this.#lostAt = 0;
      }
      for (const q of seqs) this.#lost.push(q);
      return;
    }
    const rest = this.#lost.slice(this.#lostAt).filter((q) => this.#unacked.get(q)?.lost === true);
    this.#lost = rest.concat(seqs).sort((a, b) => a - b);
    this.#lostAt = 0;
  }

  #transmit(s: Outstanding, now: number): OutSegment {
    s.sentAt = now;
    s.txCount++;
    s.txId = ++this.#txId;
    this.#inflight.append(s); // moves it to the end: #inflight is in transmission order
    if (s.txCount === 1 && !this.#probed) this.#armPto(now);
    this.#lastSendAt = now;
    this.#sent++;
    return { flags: s.flags, seq: s.seq, payload: s.payload };
  }

  #acknowledge(s: Outstanding, now: number): void {
    this.#unacked.delete(s.seq);
    this.#inflight.remove(s);
    s.lost = false;
    this.#unackedBytes -= s.payload.length;
    if (s.seq === this.#finSeq) this.#finAcked = true;
    const rtt = now - s.sentAt;
    if (s.txCount === 1) this.#minRtt = Math.min(this.#minRtt, rtt);
    // A retransmission acknowledged sooner than any real round trip: the ACK is for an earlier copy,
    // so it says nothing of what was sent before this copy (RFC 8985 §6.2 step 2).
    else if (rtt < this.#minRtt) return;
    const t = this.#ackedTx;
    if (s.txId > t[0]) this.#rackRtt = rtt;
    if (s.txId > t[2]) {
      if (s.txId > t[0]) this.#ackedTx = [s.txId, t[0], t[1]];
      else if (s.txId > t[1]) this.#ackedTx = [t[0], s.txId, t[1]];
      else this.#ackedTx = [t[0], t[1], s.txId];
    }
  }

  #advanceOldest(): void {
    while (this.#oldest < this.#nextSeq && this.#unacked.get(this.#oldest) === undefined) {
      this.#oldest++;
    }
  }

  #cut(n: number): Uint8Array {
    this.#unsent -= n;
    const first = this.#queue[0];
    if (first.length - this.#head >= n) {
      const out = first.subarray(this.#head, this.#head + n);
      this.#head += n;
      if (this.#head === first.length) {
        this.#queue.shift();
        this.#head = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.#queue[0];
      const take = Math.min(c.length - this.#head, n - at);
      out.set(c.subarray(this.#head, this.#head + take), at);
      at += take;
      this.#head += take;
      if (this.#head === c.length) {
        this.#queue.shift();
        this.#head = 0;
      }
    }
    return out;
  }
}
