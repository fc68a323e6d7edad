/**
 * The ChaCha20-Poly1305 implementations the live socket can use, all synchronous:
 *
 * - {@linkcode sodiumAead}, libsodium's (npm `libsodium-wrappers`, WebAssembly): the one the
 *   socket uses. One call into the module per seal or open and no object per nonce, so it is the
 *   cheapest on the 14-byte ACK segments (about 1.1 µs against 2.7 µs for OpenSSL's, through the
 *   wrappers) and on full segments (about 3.8 µs against 4.6 µs), and it makes far less garbage:
 *   a transfer on loopback ran about 1.6 times faster with it (`bench/lrp2p_crypto_bench.ts`
 *   measures the primitives).
 * - {@linkcode opensslAead}, OpenSSL's through `node:crypto`: a cipher object (a Node stream) per
 *   nonce.
 *
 * Both give @noble's bytes exactly (`tests/lrp2p/aead_test.ts`).
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import sodium from "libsodium-wrappers";
import type { Aead } from "./transport.ts";

await sodium.ready;

/** libsodium's WebAssembly module underneath the wrappers: its heap and its C functions. */
interface SodiumModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  // (c, clen_p, m, mlen low, mlen high, ad, adlen low, adlen high, nsec, npub, k): 0 on success
  _crypto_aead_chacha20poly1305_ietf_encrypt(...args: number[]): number;
  // (m, mlen_p, nsec, c, clen low, clen high, ad, adlen low, adlen high, npub, k): 0 if authentic
  _crypto_aead_chacha20poly1305_ietf_decrypt(...args: number[]): number;
}

const raw = (sodium as unknown as { libsodium: SodiumModule }).libsodium;
/** The largest message sealed or opened in the module's heap (longer ones: the wrappers). */
const HEAP_MESSAGE_MAX = 65_536;
const KEY = raw._malloc(32);
const NONCE = raw._malloc(12);
const IN = raw._malloc(HEAP_MESSAGE_MAX + 16);
const OUT = raw._malloc(HEAP_MESSAGE_MAX + 16);

/**
 * Puts the key, nonce and input (`input || tail`) in their slots (the heap is read afresh: it may
 * grow).
 */
function load(
  key: Uint8Array,
  nonce: Uint8Array,
  input: Uint8Array,
  tail?: Uint8Array,
): Uint8Array {
  if (key.length !== 32 || nonce.length !== 12) throw new RangeError("key 32 bytes, nonce 12");
  const heap = raw.HEAPU8;
  heap.set(key, KEY);
  heap.set(nonce, NONCE);
  heap.set(input, IN);
  if (tail !== undefined && tail.length > 0) heap.set(tail, IN + input.length);
  return heap;
}

/** Wipes the key slot (and the rest) after use. */
function wipe(heap: Uint8Array, length: number): void {
  heap.fill(0, KEY, KEY + 32);
  heap.fill(0, IN, IN + length);
  heap.fill(0, OUT, OUT + length);
}

/** Seals `plaintext || tail` into the OUT slot. */
function sealInHeap(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  tail?: Uint8Array,
): Uint8Array {
  const heap = load(key, nonce, plaintext, tail);
  raw._crypto_aead_chacha20poly1305_ietf_encrypt(
    OUT,
    0,
    IN,
    plaintext.length + (tail?.length ?? 0),
    0,
    0,
    0,
    0,
    0,
    NONCE,
    KEY,
  );
  return heap;
}

/**
 * libsodium's IETF ChaCha20-Poly1305 (the cipher of Noise's ChaChaPoly) as an {@linkcode Aead}.
 * Messages up to 64 KiB are sealed and opened in fixed slots of libsodium's WebAssembly heap (its
 * C functions called directly): no allocation in the module, and `sealInto` writes straight into
 * the caller's datagram. Longer ones go through the wrappers' API.
 *
 * @example
 * ```ts
 * import { sodiumAead } from "./aead_deno.ts";
 * import assert from "node:assert/strict";
 * const key = new Uint8Array(32), nonce = new Uint8Array(12);
 * const sealed = sodiumAead.seal(key, nonce, Uint8Array.of(1, 2, 3));
 * assert.equal(sealed.length, 3 + 16);
 * assert.deepEqual(sodiumAead.open(key, nonce, sealed), Uint8Array.of(1, 2, 3));
 * const datagram = new Uint8Array(2 + 3 + 16);
 * sodiumAead.sealInto!(key, nonce, Uint8Array.of(1, 2, 3), datagram, 2);
 * assert.deepEqual(datagram.subarray(2), sealed);
 * sealed[4] ^= 1;
 * assert.equal(sodiumAead.open(key, nonce, sealed), undefined);
 * ```
 */
export const sodiumAead: Aead = {
  seal(key, nonce, plaintext) {
    if (plaintext.length > HEAP_MESSAGE_MAX) {
      return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, null, null, nonce, key);
    }
    const heap = sealInHeap(key, nonce, plaintext);
    const sealed = heap.slice(OUT, OUT + plaintext.length + 16);
    wipe(heap, plaintext.length + 16);
    return sealed;
  },
  sealInto(key, nonce, plaintext, out, offset, tail) {
    const length = plaintext.length + (tail?.length ?? 0);
    if (length > HEAP_MESSAGE_MAX) {
      let whole = plaintext;
      if (tail !== undefined && tail.length > 0) {
        whole = new Uint8Array(length);
        whole.set(plaintext);
        whole.set(tail, plaintext.length);
      }
      out.set(this.seal(key, nonce, whole), offset);
      return;
    }
    const heap = sealInHeap(key, nonce, plaintext, tail);
    out.set(heap.subarray(OUT, OUT + length + 16), offset);
    wipe(heap, length + 16);
  },
  open(key, nonce, sealed) {
    if (sealed.length < 16) return undefined;
    if (sealed.length > HEAP_MESSAGE_MAX + 16) {
      try {
        return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, null, nonce, key);
      } catch {
        return undefined; // the wrappers throw when the tag does not verify
      }
    }
    const heap = openInHeap(key, nonce, sealed);
    const plain = heap ? heap.slice(OUT, OUT + sealed.length - 16) : undefined;
    wipe(raw.HEAPU8, sealed.length);
    return plain;
  },
  openInto(key, nonce, sealed, out) {
    if (sealed.length < 16) return -1;
    if (sealed.length > HEAP_MESSAGE_MAX + 16) {
      const plain = this.open(key, nonce, sealed);
      if (plain === undefined) return -1;
      out.set(plain);
      return plain.length;
    }
    const heap = openInHeap(key, nonce, sealed);
    const length = sealed.length - 16;
    if (heap) out.set(heap.subarray(OUT, OUT + length));
    wipe(raw.HEAPU8, sealed.length);
    return heap ? length : -1;
  },
};

/** Opens `sealed` (at most HEAP_MESSAGE_MAX + 16 bytes) into the OUT slot: the heap, or undefined. */
function openInHeap(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  const heap = load(key, nonce, sealed);
  const ok = raw._crypto_aead_chacha20poly1305_ietf_decrypt(
    OUT,
    0,
    0,
    IN,
    sealed.length,
    0,
    0,
    0,
    0,
    NONCE,
    KEY,
  ) === 0;
  return ok ? heap : undefined;
}

/**
 * OpenSSL's ChaCha20-Poly1305 (through `node:crypto`) as an {@linkcode Aead}.
 *
 * @example
 * ```ts
 * import { opensslAead } from "./aead_deno.ts";
 * import assert from "node:assert/strict";
 * const key = new Uint8Array(32), nonce = new Uint8Array(12);
 * const sealed = opensslAead.seal(key, nonce, Uint8Array.of(1, 2, 3));
 * assert.deepEqual(opensslAead.open(key, nonce, sealed), Uint8Array.of(1, 2, 3));
 * sealed[4] ^= 1;
 * assert.equal(opensslAead.open(key, nonce, sealed), undefined);
 * ```
 */
export const opensslAead: Aead = {
  seal(key, nonce, plaintext) {
    const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
    const body = c.update(plaintext);
    c.final();
    const out = new Uint8Array(body.length + 16);
    out.set(body);
    out.set(c.getAuthTag(), body.length);
    return out;
  },
  open(key, nonce, sealed) {
    if (sealed.length < 16) return undefined;
    try {
      const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      const body = d.update(sealed.subarray(0, sealed.length - 16));
      d.final();
      return new Uint8Array(body.buffer, body.byteOffset, body.length);
    } catch {
      return undefined;
    }
  },
};
