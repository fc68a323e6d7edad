/**
 * Small byte arrays carved out of larger shared ones. A `new Uint8Array(n)` of more than 64 bytes
 * gets its own backing store outside V8's heap: a `calloc` now and a `free` when the collector
 * finds it dead, both taking glibc's allocator lock that the collector's threads contend for. On
 * a datagram path that is two or three such arrays per datagram, and `perf` put a fifth to a
 * third of an LRP2P transfer's CPU time in `malloc`, `free` and the page faults and lock waits
 * behind them. A {@linkcode Slab}
 * makes one backing store per `slabBytes` instead, and hands out views of it.
 *
 * The price is retention: a view keeps its whole slab alive. Use it for arrays that die young
 * and in roughly the order they were made (datagrams on their way to the socket, bytes on their
 * way to a reader), not for ones kept for a long time among others that are not.
 *
 * @module
 */

/** Options of {@linkcode Slab}. */
export interface SlabOptions {
  /** Bytes per shared backing store. @default {65536} */
  slabBytes?: number;
  /** Arrays longer than this get a backing store of their own. @default {slabBytes / 8} */
  maxPiece?: number;
  /**
   * Arrays of at most this many bytes are made with `new Uint8Array`: V8 keeps typed arrays of up
   * to 64 bytes on its own heap, which is cheaper than a slab. @default {64}
   */
  minPiece?: number;
}

/**
 * A bump allocator of `Uint8Array`s: each is a fresh, zero-filled view of a shared `ArrayBuffer`
 * that no other view overlaps. Nothing is ever reused: a slab is freed by the garbage collector
 * once none of its views is reachable.
 *
 * @example Views of one buffer, never overlapping
 * ```ts
 * import { Slab } from "./slab.ts";
 * import assert from "node:assert/strict";
 * const slab = new Slab({ slabBytes: 4096, maxPiece: 2048 });
 * assert.equal(slab.alloc(64).byteLength, slab.alloc(64).buffer.byteLength); // small: its own
 * const a = slab.alloc(1000), b = slab.alloc(1000);
 * assert.equal(a.length, 1000);
 * assert.equal(a.buffer, b.buffer);
 * assert.equal(b.byteOffset, a.byteOffset + 1000);
 * a.fill(7);
 * assert.equal(b[0], 0);
 * assert.notEqual(slab.alloc(3000).buffer, a.buffer); // longer than maxPiece: its own buffer
 * ```
 */
export class Slab {
  readonly #slabBytes: number;
  readonly #maxPiece: number;
  readonly #minPiece: number;
  #buffer: ArrayBuffer;
  #at = 0;

  constructor(options: SlabOptions = {}) {
    const slabBytes = options.slabBytes ?? 65536;
    if (!Number.isInteger(slabBytes) || slabBytes < 1) {
      throw new RangeError(`Cannot make a slab of ${slabBytes} bytes`);
    }
    this.#slabBytes = slabBytes;
    this.#maxPiece = Math.min(options.maxPiece ?? Math.floor(slabBytes / 8), slabBytes);
    this.#minPiece = options.minPiece ?? 64;
    this.#buffer = new ArrayBuffer(0);
  }

  /** A new zero-filled array of `n` bytes. */
  alloc(n: number): Uint8Array {
    if (n > this.#maxPiece || n <= this.#minPiece) return new Uint8Array(n);
    if (this.#at + n > this.#buffer.byteLength) {
      this.#buffer = new ArrayBuffer(this.#slabBytes);
      this.#at = 0;
    }
    const piece = new Uint8Array(this.#buffer, this.#at, n);
    // 8-byte aligned, so that a DataView or a wider typed array over a piece stays fast
    this.#at += (n + 7) & ~7;
    return piece;
  }

  /** A copy of `bytes` in a new array. */
  copy(bytes: Uint8Array): Uint8Array {
    const piece = this.alloc(bytes.length);
    piece.set(bytes);
    return piece;
  }
}
