/**
 * LRP2P transport encryption (spec lrp2p.md §3.5) with the sliding replay window of §8.2:
 * `BE64 connId || BE64 n || ChaCha20-Poly1305(k, 00000000 || LE64(n), AD empty, segment)`.
 * Unlike the Go peer (flaw L3), the window is consulted before decryption but updated only after
 * a datagram authenticates, so forged datagrams cannot burn future counters.
 *
 * @module
 */
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { TRANSPORT_OVERHEAD } from "./wire.ts";
import { noiseNonce as nonce } from "./noise.ts";

const EMPTY = new Uint8Array(0);
/** Where {@linkcode TransportCipher.openView} puts plaintexts (the largest UDP payload fits). */
const OPENED = new Uint8Array(65536);

/** Largest u64: Noise reserves it, so a sender stops before its counter reaches it (L14). */
export const NONCE_LIMIT = 0xffffffffffffffffn;
/** Largest counter handled as a number (2^53 - 1). */
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const TWO_32 = 2 ** 32;
/** Counters whose high 32 bits are below this are below 2^53. */
const SAFE_HIGH = 2 ** 21;

/**
 * Sliding anti-replay window of §8.2 over 64-bit counters: remembers the highest accepted counter
 * and which of the `size` counters below it were seen.
 *
 * @example
 * ```ts
 * import { ReplayWindow } from "./transport.ts";
 * import assert from "node:assert/strict";
 * const w = new ReplayWindow(64);
 * assert.ok(w.check(5n));
 * w.commit(5n);
 * assert.ok(!w.check(5n)); // replay
 * assert.ok(w.check(3n)); // late, but inside the window
 * w.commit(100n);
 * assert.ok(!w.check(36n)); // 36 + 64 <= 100: too old
 * assert.ok(w.check(37n));
 * ```
 */
export class ReplayWindow {
  readonly size: number;
  #bits: Uint32Array;
  /** The highest committed counter while it is below 2^53 (-1 before the first). */
  #high = -1;
  /** The highest committed counter once it is 2^53 or more (then `#high` is unused). */
  #highBig: bigint | undefined;

  /** `size` counters are remembered below the highest one (default 4096). */
  constructor(size = 4096) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`invalid window size ${size}`);
    this.size = size;
    this.#bits = new Uint32Array(Math.ceil(size / 32));
  }

  /** Highest committed counter, -1n before the first. */
  get highest(): bigint {
    return this.#highBig ?? BigInt(this.#high);
  }

  /** Whether counter `n` may be accepted: not too old and not seen. Does not change the window. */
  check(n: bigint): boolean {
    if (n < 0n || n > NONCE_LIMIT) return false;
    if (this.#highBig === undefined && n <= SAFE_MAX) return this.#checkSafe(Number(n));
    const highest = this.highest, size = BigInt(this.size);
    if (n > highest) return true;
    if (n + size <= highest) return false;
    return !this.#seen(Number(n % size));
  }

  /**
   * {@linkcode ReplayWindow.check} of a counter given as a number, an integer from 0 to 2^53 - 1
   * (every counter a connection reaches in practice): no BigInt arithmetic.
   */
  checkSafe(n: number): boolean {
    if (this.#highBig !== undefined) return this.check(BigInt(n));
    return this.#checkSafe(n);
  }

  /** Records `n` as received (call only after the datagram authenticated). */
  commit(n: bigint): void {
    if (!this.check(n)) return;
    if (this.#highBig === undefined && n <= SAFE_MAX) return this.#commitSafe(Number(n));
    const highest = this.highest, size = BigInt(this.size);
    if (n > highest) {
      if (n - highest >= size) this.#bits.fill(0);
      else for (let k = highest + 1n; k < n; k++) this.#clear(Number(k % size));
      this.#highBig = n;
    }
    this.#mark(Number(n % size));
  }

  /** {@linkcode ReplayWindow.commit} of a counter given as a number (see `checkSafe`). */
  commitSafe(n: number): void {
    if (this.#highBig !== undefined) return this.commit(BigInt(n));
    if (this.#checkSafe(n)) this.#commitSafe(n);
  }

  #checkSafe(n: number): boolean {
    if (n > this.#high) return true;
    if (n + this.size <= this.#high) return false;
    return !this.#seen(n % this.size);
  }

  #commitSafe(n: number): void {
    if (n > this.#high) {
      if (n - this.#high >= this.size) this.#bits.fill(0);
      else for (let k = this.#high + 1; k < n; k++) this.#clear(k % this.size);
      this.#high = n;
    }
    this.#mark(n % this.size);
  }

  #seen(i: number): boolean {
    return (this.#bits[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  #mark(i: number): void {
    this.#bits[i >>> 5] |= 1 << (i & 31);
  }

  #clear(i: number): void {
    this.#bits[i >>> 5] &= ~(1 << (i & 31));
  }
}

/**
 * A ChaCha20-Poly1305 implementation (RFC 8439, 12-byte nonce, 16-byte tag, empty associated
 * data). The default is @noble's; the live socket passes libsodium's (`aead_deno.ts`), which is
 * faster.
 */
export interface Aead {
  /** `ciphertext || tag`. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /**
   * Optional: `ciphertext || tag` written into `out` at `offset` (room for `plaintext.length + 16`
   * bytes, or `+ tail.length` more, is the caller's duty), saving the copy and the allocation of
   * `seal`'s result. With `tail`, the plaintext sealed is `plaintext || tail` (a header and a
   * payload sealed as one without first joining them).
   */
  sealInto?(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
    tail?: Uint8Array,
  ): void;
  /** The plaintext, or `undefined` when authentication fails. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /**
   * Optional: the plaintext written into `out` from index 0 (room for `sealed.length - 16` bytes is
   * the caller's duty); its length, or -1 when authentication fails (then `out` holds no
   * plaintext). Saves the allocation of `open`'s result.
   */
  openInto?(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, out: Uint8Array): number;
}

/**
 * @noble/ciphers' ChaCha20-Poly1305 as an {@linkcode Aead}.
 *
 * @example
 * ```ts
 * import { nobleAead } from "./transport.ts";
 * import assert from "node:assert/strict";
 * const key = new Uint8Array(32), nonce = new Uint8Array(12);
 * const sealed = nobleAead.seal(key, nonce, Uint8Array.of(1, 2, 3));
 * assert.equal(sealed.length, 3 + 16);
 * assert.deepEqual(nobleAead.open(key, nonce, sealed), Uint8Array.of(1, 2, 3));
 * sealed[0] ^= 1;
 * assert.equal(nobleAead.open(key, nonce, sealed), undefined);
 * ```
 */
export const nobleAead: Aead = {
  seal: (key, n, plaintext) => chacha20poly1305(key, n).encrypt(plaintext),
  open: (key, n, sealed) => {
    try {
      return chacha20poly1305(key, n).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
};

/**
 * Seals and opens transport datagrams of one connection with explicit counters.
 *
 * @example Initiator and responder of one connection
 * ```ts
 * import { TransportCipher } from "./transport.ts";
 * import assert from "node:assert/strict";
 * const c1 = new Uint8Array(32).fill(1), c2 = new Uint8Array(32).fill(2);
 * const i = new TransportCipher({ connId: 7n, sendKey: c1, recvKey: c2 });
 * const r = new TransportCipher({ connId: 7n, sendKey: c2, recvKey: c1 });
 * const d = i.seal(new Uint8Array([6, 0, 0, 0, 0, 0]));
 * assert.equal(d.length, 32 + 6);
 * assert.equal(i.sendCounter, 1n);
 * assert.deepEqual(r.open(d), new Uint8Array([6, 0, 0, 0, 0, 0]));
 * assert.equal(r.open(d), undefined); // replay
 * ```
 */
export class TransportCipher {
  readonly connId: bigint;
  readonly #aead: Aead;
  readonly #alloc: (n: number) => Uint8Array;
  readonly #connIdBytes = new Uint8Array(8);
  readonly #connIdHigh: number;
  readonly #connIdLow: number;
  #sendKey: Uint8Array;
  #recvKey: Uint8Array;
  /** The next send counter while below 2^53 ... */
  #sendSafe = 0;
  /** ... and from 2^53 on (then `#sendSafe` is unused). */
  #sendBig: bigint | undefined;
  /** The nonce of the current seal or open, filled for each (the cipher copies it at once). */
  readonly #nonce = new Uint8Array(12);
  #window: ReplayWindow;

  /**
   * `sendCounter` (default 0n) and `windowSize` (default 4096) are for tests and special cases;
   * the protocol starts every direction at 0.
   */
  constructor(opts: {
    connId: bigint;
    sendKey: Uint8Array;
    recvKey: Uint8Array;
    sendCounter?: bigint;
    windowSize?: number;
    /** The cipher implementation. @default {nobleAead} */
    aead?: Aead;
    /** Where sealed datagrams are made (for example a `Slab`'s `alloc`, from `src/util/`). @default {new Uint8Array} */
    alloc?: (n: number) => Uint8Array;
  }) {
    if (opts.sendKey.length !== 32 || opts.recvKey.length !== 32) {
      throw new RangeError("transport keys must be 32 bytes");
    }
    if (opts.connId < 0n || opts.connId > NONCE_LIMIT) {
      throw new RangeError(`invalid connId ${opts.connId}`);
    }
    this.connId = opts.connId;
    this.#connIdHigh = Number(opts.connId >> 32n);
    this.#connIdLow = Number(opts.connId & 0xffffffffn);
    new DataView(this.#connIdBytes.buffer).setBigUint64(0, opts.connId);
    this.#alloc = opts.alloc ?? ((n) => new Uint8Array(n));
    this.#aead = opts.aead ?? nobleAead;
    this.#sendKey = opts.sendKey.slice();
    this.#recvKey = opts.recvKey.slice();
    const first = opts.sendCounter ?? 0n;
    if (first <= SAFE_MAX) this.#sendSafe = Number(first);
    else this.#sendBig = first;
    if (first < 0n || first > NONCE_LIMIT) {
      throw new RangeError(`invalid sendCounter ${first}`);
    }
    this.#window = new ReplayWindow(opts.windowSize ?? 4096);
  }

  /** The counter the next sealed datagram will carry. */
  get sendCounter(): bigint {
    return this.#sendBig ?? BigInt(this.#sendSafe);
  }

  /** True once the send counter reached 2^64-1: `seal` refuses, the connection must close (L14). */
  get exhausted(): boolean {
    return this.#sendBig !== undefined && this.#sendBig >= NONCE_LIMIT;
  }

  /** The receive replay window (read-only use: inspection in tests). */
  get window(): ReplayWindow {
    return this.#window;
  }

  /**
   * Encrypts one segment into a datagram `BE64 connId || BE64 n || ct || tag` with
   * n = sendCounter++. Throws when {@linkcode exhausted}.
   */
  seal(segment: Uint8Array): Uint8Array {
    return this.sealParts(segment, EMPTY);
  }

  /**
   * {@linkcode TransportCipher.seal} of the segment `head || body`, without joining them first (a
   * segment header and its payload). The datagram comes from the `alloc` option.
   */
  sealParts(head: Uint8Array, body: Uint8Array): Uint8Array {
    if (this.exhausted) throw new Error("transport send counter exhausted");
    const length = head.length + body.length;
    const out = this.#alloc(16 + length + 16);
    out.set(this.#connIdBytes, 0);
    const view = new DataView(out.buffer, out.byteOffset, 16);
    let n: Uint8Array;
    if (this.#sendBig === undefined) {
      const c = this.#sendSafe++;
      if (this.#sendSafe > Number.MAX_SAFE_INTEGER) this.#sendBig = BigInt(this.#sendSafe);
      const high = Math.floor(c / TWO_32), low = c >>> 0;
      view.setUint32(8, high);
      view.setUint32(12, low);
      n = this.#nonceOf(high, low);
    } else {
      const c = this.#sendBig++;
      view.setBigUint64(8, c);
      n = nonce(c);
    }
    const aead = this.#aead;
    if (aead.sealInto) aead.sealInto(this.#sendKey, n, head, out, 16, body);
    else if (body.length === 0) out.set(aead.seal(this.#sendKey, n, head), 16);
    else {
      const joined = new Uint8Array(length);
      joined.set(head);
      joined.set(body, head.length);
      out.set(aead.seal(this.#sendKey, n, joined), 16);
    }
    return out;
  }

  /**
   * Decrypts a datagram of this connection; `undefined` (never a throw) when it is shorter than 32
   * bytes, carries another connId, is a replay or too old, or fails authentication. The replay
   * window is checked before and updated only after successful authentication.
   */
  open(datagram: Uint8Array): Uint8Array | undefined {
    const plain = this.openView(datagram);
    return plain === undefined ? undefined : plain.slice();
  }

  /**
   * {@linkcode TransportCipher.open}, but the plaintext is a view of a buffer shared by every
   * cipher, valid until the next `openView` (or `open`) of any of them: copy what must be kept.
   * Saves an allocation per datagram on the receive path.
   */
  openView(datagram: Uint8Array): Uint8Array | undefined {
    if (datagram.length < TRANSPORT_OVERHEAD) return undefined;
    const view = new DataView(datagram.buffer, datagram.byteOffset, 16);
    if (view.getUint32(0) !== this.#connIdHigh || view.getUint32(4) !== this.#connIdLow) {
      return undefined;
    }
    const high = view.getUint32(8), low = view.getUint32(12);
    // (below 2^53, as every counter is in practice, without BigInt arithmetic)
    const safe = high < SAFE_HIGH;
    const counter = safe ? high * TWO_32 + low : view.getBigUint64(8);
    const w = this.#window;
    if (!(safe ? w.checkSafe(counter as number) : w.check(counter as bigint))) return undefined;
    const n = safe ? this.#nonceOf(high, low) : nonce(counter as bigint);
    const sealed = datagram.subarray(16);
    let plain: Uint8Array | undefined;
    const aead = this.#aead;
    if (aead.openInto && sealed.length - 16 <= OPENED.length) {
      const length = aead.openInto(this.#recvKey, n, sealed, OPENED);
      if (length >= 0) plain = OPENED.subarray(0, length);
    } else plain = aead.open(this.#recvKey, n, sealed);
    if (plain === undefined) return undefined;
    if (safe) w.commitSafe(counter as number);
    else w.commit(counter as bigint);
    return plain;
  }

  /** The nonce of the counter `high * 2^32 + low` (4 zero bytes, then LE64), in `#nonce`. */
  #nonceOf(high: number, low: number): Uint8Array {
    const b = this.#nonce;
    b[4] = low & 0xff;
    b[5] = (low >>> 8) & 0xff;
    b[6] = (low >>> 16) & 0xff;
    b[7] = low >>> 24;
    b[8] = high & 0xff;
    b[9] = (high >>> 8) & 0xff;
    b[10] = (high >>> 16) & 0xff;
    b[11] = high >>> 24;
    return b;
  }
}
