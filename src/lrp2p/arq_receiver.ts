/**
 * The receiving half of LRP2P's selective-repeat ARQ for ONE direction (spec §6.2 with the fix of
 * flaw L9, and the FIN extension of §8.4). Pure: the connection feeds it decoded data segments and
 * sends the ACK each call returns.
 *
 * - A segment with `seq ≥ nextExpected` is stored if it fits: `seq − nextExpected < windowSegments`
 *   and the stored plus unread bytes stay within `bufferBytes` (minus one `maxPayload` kept free for
 *   the segment at `nextExpected` when the segment is out of order, so that acknowledged
 *   out-of-order data can never block the stream). A new segment that does not fit is
 *   dropped WITHOUT an ACK (L9), so the sender keeps it and resends it.
 * - Every stored segment and every duplicate of a stored or delivered one is acknowledged, with
 *   `lastInOrder = nextExpected − 1` computed BEFORE delivery (0 while `nextExpected` is 0): the
 *   lagging rule, byte-identical to a Go receiver.
 * - The window field is 65535 toward Go peers (`goPeer`), else the free slots (never 65535).
 * - Segments are delivered in order; a FIN (flag 0x04) ends the stream after every earlier byte.
 *
 * @module
 */

const FIN = 0x04;

/** Tuning of {@linkcode ArqReceiver}. */
export interface ReceiverOptions {
  /** Slots: how far beyond `nextExpected` a segment may be stored (default 4096). */
  windowSegments?: number;
  /** Bound of stored plus unread payload bytes (default 4 MiB, at least `maxPayload`). */
  bufferBytes?: number;
  /** The peer is a Go peer: the window field is always 65535 (as Go writes it). */
  goPeer?: boolean;
  /** The payload size that counts as one free slot of the byte budget (default 1330). */
  maxPayload?: number;
}

/** An ACK to send: lastInOrder, window and ackedSeq of the 14-byte ACK segment. */
export interface AckToSend {
  lastInOrder: number;
  window: number;
  ackedSeq: number;
}

/**
 * The receiver of one direction.
 *
 * @example In order, out of order, duplicates
 * ```ts
 * import { ArqReceiver } from "./arq_receiver.ts";
 * import assert from "node:assert/strict";
 * const r = new ArqReceiver({ goPeer: true });
 * const seg = (seq: number, text: string) => ({ flags: 0, seq, payload: new TextEncoder().encode(text) });
 * assert.deepEqual(r.onData(seg(0, "he")).ack, { lastInOrder: 0, window: 65535, ackedSeq: 0 });
 * assert.deepEqual(r.onData(seg(2, "o")).ack, { lastInOrder: 0, window: 65535, ackedSeq: 2 });
 * assert.deepEqual(r.onData(seg(1, "ll")).ack, { lastInOrder: 0, window: 65535, ackedSeq: 1 });
 * assert.deepEqual(r.onData(seg(1, "ll")).ack, { lastInOrder: 2, window: 65535, ackedSeq: 1 });
 * assert.equal(new TextDecoder().decode(r.read()!), "hello");
 * r.onData({ flags: 0x04, seq: 3, payload: new Uint8Array(0) });
 * assert.equal(r.read(), null);            // end of stream
 * ```
 */
export class ArqReceiver {
  readonly #slots: number;
  readonly #bufferBytes: number;
  readonly #goPeer: boolean;
  readonly #slotBytes: number;
  #nextExpected = 0;
  #stored = new Map<number, { flags: number; payload: Uint8Array }>();
  #storedBytes = 0;
  #ready: Uint8Array[] = [];
  #readyHead = 0;
  #readable = 0;
  #finSeq: number | undefined;
  #finReceived = false;

  /** An empty receiver expecting seq 0. */
  constructor(opts: ReceiverOptions = {}) {
    this.#slots = Math.max(1, opts.windowSegments ?? 4096);
    this.#goPeer = opts.goPeer ?? false;
    this.#slotBytes = Math.max(1, opts.maxPayload ?? 1330);
    this.#bufferBytes = Math.max(opts.bufferBytes ?? 4 << 20, this.#slotBytes);
  }

  /** Bytes ready to `read`. */
  get readable(): number {
    return this.#readable;
  }

  /** True once the FIN has been delivered in order (every earlier byte is readable or read). */
  get finReceived(): boolean {
    return this.#finReceived;
  }

  /** The next in-order seq it waits for. */
  get nextExpected(): number {
    return this.#nextExpected;
  }

  /** Free slots: what the window field says between TS peers (at most 65534). */
  get freeSlots(): number {
    const bySlots = this.#slots - this.#stored.size;
    const byBytes = Math.floor(
      (this.#bufferBytes - this.#storedBytes - this.#readable) / this.#slotBytes,
    );
    return Math.max(0, Math.min(bySlots, byBytes, 65534));
  }

  /**
   * One decoded data segment (any flags but ACK). Returns the ACK to send now, or no ACK when a
   * new segment had to be dropped for lack of space (L9) or lies beyond a received FIN. The
   * receiver keeps `payload` without copying it (the caller must not reuse that buffer), or, with
   * `keep`, what `keep` returns for it, called only when the segment is stored (`inOrder`: it is
   * the next one expected, so it will be read soon).
   *
   * @example A segment that does not fit is not acknowledged
   * ```ts
   * import { ArqReceiver } from "./arq_receiver.ts";
   * import assert from "node:assert/strict";
   * const r = new ArqReceiver({ windowSegments: 2 });
   * const seg = (seq: number) => ({ flags: 0, seq, payload: new Uint8Array([seq]) });
   * assert.equal(r.onData(seg(2)).ack, undefined);            // seq - nextExpected >= 2 slots
   * assert.deepEqual(r.onData(seg(1)).ack, { lastInOrder: 0, window: 1, ackedSeq: 1 });
   * ```
   */
  onData(
    seg: { flags: number; seq: number; payload: Uint8Array },
    keep?: (payload: Uint8Array, inOrder: boolean) => Uint8Array,
  ): { ack?: AckToSend } {
    const s = seg.seq;
    const lastInOrder = this.#nextExpected === 0 ? 0 : this.#nextExpected - 1;
    if (s >= this.#nextExpected && !this.#stored.has(s)) {
      // Out-of-order segments leave room for one full segment beyond them, so the one at
      // nextExpected always fits once the application has read: stored out-of-order data was
      // acknowledged and can never be evicted, so it must not be able to block the stream.
      const reserve = s === this.#nextExpected ? 0 : this.#slotBytes;
      const fits = s - this.#nextExpected < this.#slots &&
        this.#storedBytes + this.#readable + seg.payload.length + reserve <= this.#bufferBytes &&
        (this.#finSeq === undefined || s < this.#finSeq);
      if (!fits) return {};
      const inOrder = s === this.#nextExpected;
      const payload = keep ? keep(seg.payload, inOrder) : seg.payload;
      if ((seg.flags & FIN) !== 0) this.#finSeq = s;
      if (inOrder) {
        // straight to the reader (no entry in #stored: a Map that gains and loses an entry per
        // segment keeps the lost ones reachable from its old tables, and they outlive young GCs)
        if (payload.length > 0) {
          this.#ready.push(payload);
          this.#readable += payload.length;
        }
        this.#nextExpected++;
        if ((seg.flags & FIN) !== 0) this.#endAtFin();
        else if (this.#stored.size > 0) this.#deliver();
      } else {
        this.#stored.set(s, { flags: seg.flags, payload });
        this.#storedBytes += seg.payload.length;
      }
    }
    return {
      ack: { lastInOrder, window: this.#goPeer ? 65535 : this.freeSlots, ackedSeq: s },
    };
  }

  /**
   * Up to `max` bytes in order (all ready bytes without `max`); `null` once the stream ended (FIN
   * delivered and every byte read); `undefined` when nothing is ready yet.
   *
   * @example
   * ```ts
   * import { ArqReceiver } from "./arq_receiver.ts";
   * import assert from "node:assert/strict";
   * const r = new ArqReceiver();
   * assert.equal(r.read(), undefined);
   * r.onData({ flags: 0x02, seq: 0, payload: new Uint8Array([1, 2, 3]) });
   * assert.deepEqual(r.read(2), new Uint8Array([1, 2]));
   * assert.equal(r.readable, 1);
   * ```
   */
  read(max?: number): Uint8Array | null | undefined {
    if (this.#readable === 0) return this.#finReceived ? null : undefined;
    const n = Math.min(this.#readable, max ?? Infinity);
    if (n <= 0) return new Uint8Array(0);
    const first = this.#ready[0];
    if (first.length - this.#readyHead >= n) {
      const out = first.subarray(this.#readyHead, this.#readyHead + n);
      this.#readyHead += n;
      if (this.#readyHead === first.length) {
        this.#ready.shift();
        this.#readyHead = 0;
      }
      this.#readable -= n;
      return out;
    }
    const out = new Uint8Array(n); // spans chunks: a copy
    this.readInto(out);
    return out;
  }

  /**
   * Like {@linkcode ArqReceiver.read}, but copies up to `out.length` bytes into `out`: their count,
   * `null` once the stream ended, `undefined` when nothing is ready yet.
   *
   * @example
   * ```ts
   * import { ArqReceiver } from "./arq_receiver.ts";
   * import assert from "node:assert/strict";
   * const r = new ArqReceiver();
   * r.onData({ flags: 0, seq: 0, payload: new Uint8Array([1, 2]) });
   * r.onData({ flags: 0x04, seq: 2, payload: new Uint8Array(0) }); // FIN, not yet in order
   * r.onData({ flags: 0, seq: 1, payload: new Uint8Array([3]) });
   * const out = new Uint8Array(8);
   * assert.equal(r.readInto(out), 3);
   * assert.deepEqual(out.subarray(0, 3), new Uint8Array([1, 2, 3]));
   * assert.equal(r.readInto(out), null);
   * ```
   */
  readInto(out: Uint8Array): number | null | undefined {
    if (this.#readable === 0) return this.#finReceived ? null : undefined;
    const n = Math.min(this.#readable, out.length);
    if (n <= 0) return 0;
    let at = 0;
    while (at < n) {
      const c = this.#ready[0];
      const take = Math.min(c.length - this.#readyHead, n - at);
      out.set(
        take === c.length ? c : c.subarray(this.#readyHead, this.#readyHead + take),
        at,
      );
      at += take;
      this.#readyHead += take;
      if (this.#readyHead === c.length) {
        this.#ready.shift();
        this.#readyHead = 0;
      }
    }
    this.#readable -= n;
    return n;
  }

  #endAtFin(): void {
    this.#finReceived = true;
    // Anything stored beyond the FIN is discarded: the stream has ended.
    this.#stored.clear();
    this.#storedBytes = 0;
  }

  #deliver(): void {
    for (;;) {
      const seg = this.#stored.get(this.#nextExpected);
      if (seg === undefined) return;
      this.#stored.delete(this.#nextExpected);
      this.#storedBytes -= seg.payload.length;
      this.#nextExpected++;
      if (seg.payload.length > 0) {
        this.#ready.push(seg.payload);
        this.#readable += seg.payload.length;
      }
      if ((seg.flags & FIN) !== 0) return this.#endAtFin();
    }
  }
}
