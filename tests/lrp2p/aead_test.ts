/** OpenSSL's ChaCha20-Poly1305 (node:crypto) gives @noble's bytes exactly, and refuses what @noble refuses. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { opensslAead } from "../../src/lrp2p/aead_deno.ts";
import { nobleAead } from "../../src/lrp2p/transport.ts";

Deno.test("aead: OpenSSL and @noble seal alike and open each other's datagrams", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 1400 }),
      (key, nonce, plain) => {
        const a = opensslAead.seal(key, nonce, plain);
        assert.deepEqual(a, nobleAead.seal(key, nonce, plain));
        assert.deepEqual(nobleAead.open(key, nonce, a), plain);
        assert.deepEqual(opensslAead.open(key, nonce, a), plain);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("aead: a changed byte, a short input or another key fails to open, without a throw", () => {
  const key = new Uint8Array(32).fill(3), nonce = new Uint8Array(12).fill(9);
  const sealed = opensslAead.seal(key, nonce, new Uint8Array(100).fill(1));
  for (let i = 0; i < sealed.length; i += 7) {
    const bad = sealed.slice();
    bad[i] ^= 0x40;
    assert.equal(opensslAead.open(key, nonce, bad), undefined, `byte ${i}`);
  }
  for (let n = 0; n < 16; n++) {
    assert.equal(opensslAead.open(key, nonce, sealed.subarray(0, n)), undefined);
  }
  assert.equal(opensslAead.open(new Uint8Array(32), nonce, sealed), undefined);
});
