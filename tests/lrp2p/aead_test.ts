/** libsodium's and OpenSSL's ChaCha20-Poly1305 give @noble's bytes exactly, and refuse what @noble refuses. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { opensslAead, sodiumAead } from "../../src/lrp2p/aead_deno.ts";
import { nobleAead } from "../../src/lrp2p/transport.ts";

Deno.test("aead: libsodium, OpenSSL and @noble seal alike and open each other's datagrams", () => {
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
        assert.deepEqual(sodiumAead.seal(key, nonce, plain), a);
        assert.deepEqual(sodiumAead.open(key, nonce, a), plain);
      },
    ),
    { numRuns: 200 },
  );
});

for (const [name, aead] of [["OpenSSL", opensslAead], ["libsodium", sodiumAead]] as const) {
  Deno.test(`aead: ${name}: a changed byte, a short input or another key fails to open, without a throw`, () => {
    const key = new Uint8Array(32).fill(3), nonce = new Uint8Array(12).fill(9);
    const sealed = aead.seal(key, nonce, new Uint8Array(100).fill(1));
    for (let i = 0; i < sealed.length; i += 7) {
      const bad = sealed.slice();
      bad[i] ^= 0x40;
      assert.equal(aead.open(key, nonce, bad), undefined, `byte ${i}`);
    }
    for (let n = 0; n < 16; n++) {
      assert.equal(aead.open(key, nonce, sealed.subarray(0, n)), undefined);
    }
    assert.equal(aead.open(new Uint8Array(32), nonce, sealed), undefined);
  });
}
