/**
 * ChaCha20-Poly1305 from OpenSSL through `node:crypto`: synchronous, like @noble's, and about
 * 2.5 times faster on a full 1,336-byte segment (see `bench/lrp2p_crypto_bench.ts`), so the live
 * socket uses it. Its output is byte for byte @noble's (`tests/lrp2p/aead_test.ts`).
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import type { Aead } from "./transport.ts";

/**
 * OpenSSL's ChaCha20-Poly1305 as an {@linkcode Aead}.
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
