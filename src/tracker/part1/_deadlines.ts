/**
 * Package-private: the tracker's timer queue. Every deadline of one kind is its start time plus a
 * fixed delay (a request timeout, a linger time, a hard deadline), and start times never go back,
 * so deadlines of one kind arrive in order: a FIFO per kind finds the next one in O(1) amortized,
 * instead of a scan of every connection at each input. A connection that moved on is not removed
 * from the queue; its entry is skipped when it reaches the head ("stale"), and dropped in bulk
 * when stale entries outnumber the live ones.
 *
 * @module
 */

/** Deadlines of one kind, each with a connection id, in the order they were set. */
export class DeadlineQueue {
  #at: number[] = [];
  #ids: number[] = [];
  #head = 0;

  /**
   * Adds a deadline, never earlier than the last one added.
   *
   * @throws {RangeError} When `at` is earlier than the last deadline added.
   */
  push(at: number, id: number): void {
    const last = this.#at.length > this.#head ? this.#at[this.#at.length - 1] : -Infinity;
    if (at < last) throw new RangeError(`Cannot queue deadline ${at}: earlier than ${last}`);
    this.#at.push(at);
    this.#ids.push(id);
  }

  /** Entries held, stale ones included. */
  get length(): number {
    return this.#at.length - this.#head;
  }

  /**
   * The earliest deadline whose id is not `stale` (stale heads are dropped), or `Infinity`.
   *
   * @param stale Whether an id no longer has this deadline (its connection moved on or closed).
   */
  next(stale: (id: number) => boolean): number {
    while (this.#head < this.#at.length && stale(this.#ids[this.#head])) this.#head++;
    this.#compact();
    return this.#head < this.#at.length ? this.#at[this.#head] : Infinity;
  }

  /** Removes every entry due at `now` (stale ones too) and appends its id to `out`. */
  popDue(now: number, out: number[]): void {
    while (this.#head < this.#at.length && this.#at[this.#head] <= now) {
      out.push(this.#ids[this.#head++]);
    }
    this.#compact();
  }

  /**
   * Drops every stale entry when the queue holds more than `4 * live + 64` entries (live: the
   * connections that may still be in it), so that its memory stays proportional to them.
   */
  prune(live: number, stale: (id: number) => boolean): void {
    if (this.length <= 4 * live + 64) return;
    const at: number[] = [];
    const ids: number[] = [];
    for (let i = this.#head; i < this.#at.length; i++) {
      if (stale(this.#ids[i])) continue;
      at.push(this.#at[i]);
      ids.push(this.#ids[i]);
    }
    this.#at = at;
    this.#ids = ids;
    this.#head = 0;
  }

  #compact(): void {
    if (this.#head === this.#at.length) {
      this.#at.length = 0;
      this.#ids.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#at.length) {
      this.#at = this.#at.slice(this.#head);
      this.#ids = this.#ids.slice(this.#head);
      this.#head = 0;
    }
  }
}
