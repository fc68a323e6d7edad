/**
 * The two tables of {@linkcode ArqSender}'s segments, built so that a segment's entry costs no
 * allocation and leaves nothing behind: a `Map` that gains and loses an entry per segment keeps
 * the lost ones reachable from its replaced hash tables until a full collection, so every segment
 * (and the chunk of written bytes its payload views) outlived young-generation collections.
 *
 * - {@linkcode SeqTable}: the unacknowledged segments by sequence number, a ring of slots over the
 *   span from the oldest unacknowledged seq to the next one;
 * - {@linkcode FlightList}: the segments in flight in order of their last transmission, a list
 *   threaded through the segments themselves.
 *
 * @module
 */

/** A segment sent and not yet acknowledged. */
export interface Outstanding {
  seq: number;
  flags: number;
  payload: Uint8Array;
  sentAt: number;
  txCount: number;
  txId: number;
  lost: boolean;
  /** Neighbours in the {@linkcode FlightList}, when in it. */
  prev: Outstanding | undefined;
  next: Outstanding | undefined;
  inFlight: boolean;
}

/** A new {@linkcode Outstanding} sent at `now` (not yet in either table). */
export function outstanding(
  seq: number,
  flags: number,
  payload: Uint8Array,
  now: number,
): Outstanding {
  return {
    seq,
    flags,
    payload,
    sentAt: now,
    txCount: 0,
    txId: 0,
    lost: false,
    prev: undefined,
    next: undefined,
    inFlight: false,
  };
}

/**
 * Segments by sequence number, for keys within a span smaller than the table's capacity (the
 * caller gives the lowest key that may still be held when it adds one; the capacity doubles to
 * fit the span).
 *
 * @example
 * ```ts
 * import { outstanding, SeqTable } from "./arq_tables.ts";
 * import assert from "node:assert/strict";
 * const t = new SeqTable();
 * for (let seq = 0; seq < 100; seq++) t.add(outstanding(seq, 0, new Uint8Array(0), 0), 0);
 * t.delete(5);
 * assert.equal(t.size, 99);
 * assert.equal(t.get(5), undefined);
 * assert.equal(t.get(99)?.seq, 99);
 * assert.equal(t.get(100), undefined);
 * ```
 */
export class SeqTable {
  #slots: (Outstanding | undefined)[] = new Array(16).fill(undefined);
  #mask = 15;
  #size = 0;

  /** Segments held. */
  get size(): number {
    return this.#size;
  }

  /** The segment `seq`, if held. */
  get(seq: number): Outstanding | undefined {
    const s = this.#slots[seq & this.#mask];
    return s !== undefined && s.seq === seq ? s : undefined;
  }

  /** Adds `s`; every segment held has a seq from `lowest` on (and below `s.seq` + capacity). */
  add(s: Outstanding, lowest: number): void {
    while (s.seq - lowest >= this.#slots.length) this.#grow();
    const i = s.seq & this.#mask;
    if (this.#slots[i] === undefined) this.#size++;
    this.#slots[i] = s;
  }

  /** Removes the segment `seq`, if held. */
  delete(seq: number): void {
    const i = seq & this.#mask;
    const s = this.#slots[i];
    if (s !== undefined && s.seq === seq) {
      this.#slots[i] = undefined;
      this.#size--;
    }
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Array(old.length * 2).fill(undefined);
    this.#mask = this.#slots.length - 1;
    for (const s of old) if (s !== undefined) this.#slots[s.seq & this.#mask] = s;
  }
}

/**
 * Segments in the order they were last sent: appending one already in the list moves it to the
 * end. Iterate with `for (let s = list.first; s; s = s.next)` (take `s.next` before removing `s`).
 *
 * @example
 * ```ts
 * import { FlightList, outstanding } from "./arq_tables.ts";
 * import assert from "node:assert/strict";
 * const [a, b, c] = [0, 1, 2].map((seq) => outstanding(seq, 0, new Uint8Array(0), 0));
 * const l = new FlightList();
 * l.append(a), l.append(b), l.append(c), l.append(a); // a resent: now last
 * l.remove(b);
 * const order = [];
 * for (let s = l.first; s; s = s.next) order.push(s.seq);
 * assert.deepEqual(order, [2, 0]);
 * assert.equal(l.size, 2);
 * ```
 */
export class FlightList {
  #first: Outstanding | undefined;
  #last: Outstanding | undefined;
  #size = 0;

  /** The segment sent longest ago. */
  get first(): Outstanding | undefined {
    return this.#first;
  }

  /** Segments in the list. */
  get size(): number {
    return this.#size;
  }

  /** Puts `s` at the end (taking it out of its place first if it is in the list). */
  append(s: Outstanding): void {
    if (s.inFlight) this.remove(s);
    s.prev = this.#last;
    s.next = undefined;
    if (this.#last !== undefined) this.#last.next = s;
    else this.#first = s;
    this.#last = s;
    s.inFlight = true;
    this.#size++;
  }

  /** Takes `s` out, if it is in the list. */
  remove(s: Outstanding): void {
    if (!s.inFlight) return;
    if (s.prev !== undefined) s.prev.next = s.next;
    else this.#first = s.next;
    if (s.next !== undefined) s.next.prev = s.prev;
    else this.#last = s.prev;
    s.prev = s.next = undefined;
    s.inFlight = false;
    this.#size--;
  }

  /** Empties the list. */
  clear(): void {
    for (let s = this.#first; s !== undefined;) {
      const next = s.next;
      s.prev = s.next = undefined;
      s.inFlight = false;
      s = next;
    }
    this.#first = this.#last = undefined;
    this.#size = 0;
  }
}
