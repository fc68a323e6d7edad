/**
 * Package-private: a receive buffer that keeps at most `limit` bytes and counts the rest, so that
 * no peer can make a connection hold more than its cap.
 *
 * @module
 */

/** Bytes received so far, kept up to a limit; what comes beyond it is counted and dropped. */
export class BoundedBuffer {
  readonly limit: number;
  #buf: Uint8Array;
  #len = 0;
  #dropped = 0;

  constructor(limit: number) {
    this.limit = limit;
    this.#buf = new Uint8Array(Math.min(limit, 64)); // V8 keeps arrays of up to 64 bytes on its heap
  }

  /** Appends what fits; returns how many bytes were kept. */
  append(bytes: Uint8Array): number {
    const keep = Math.min(bytes.length, this.limit - this.#len);
    if (keep > 0) {
      if (this.#len + keep > this.#buf.length) {
        let size = this.#buf.length * 2;
        while (size < this.#len + keep) size *= 2;
        const next = new Uint8Array(Math.min(size, this.limit));
        next.set(this.#buf.subarray(0, this.#len));
        this.#buf = next;
      }
      this.#buf.set(bytes.subarray(0, keep), this.#len);
      this.#len += keep;
    }
    this.#dropped += bytes.length - keep;
    return keep;
  }

  /** The kept bytes (a view: valid until the next append). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** Bytes kept. */
  get length(): number {
    return this.#len;
  }

  /** Bytes received beyond the limit and dropped. */
  get dropped(): number {
    return this.#dropped;
  }
}
