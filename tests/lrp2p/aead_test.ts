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

Deno.test("aead: libsodium's sealInto writes seal's bytes at the offset, and over 64 KiB the wrappers agree", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 1400 }),
      fc.nat(40),
      (key, nonce, plain, offset) => {
        const out = new Uint8Array(offset + plain.length + 16 + 3).fill(0xee);
        sodiumAead.sealInto!(key, nonce, plain, out, offset);
        assert.deepEqual(
          out.subarray(offset, offset + plain.length + 16),
          nobleAead.seal(key, nonce, plain),
        );
        assert.ok(out.subarray(0, offset).every((b) => b === 0xee), "before the offset untouched");
        assert.ok(
          out.subarray(offset + plain.length + 16).every((b) => b === 0xee),
          "after untouched",
        );
      },
    ),
    { numRuns: 200 },
  );
  const key = new Uint8Array(32).fill(5), nonce = new Uint8Array(12).fill(6);
  for (const size of [65_535, 65_536, 65_537, 70_000]) {
    const plain = new Uint8Array(size).map((_, i) => i * 7);
    const sealed = sodiumAead.seal(key, nonce, plain);
    assert.deepEqual(sealed, opensslAead.seal(key, nonce, plain), `seal ${size}`);
    assert.deepEqual(sodiumAead.open(key, nonce, sealed), plain, `open ${size}`);
    sealed[size] ^= 1;
    assert.equal(sodiumAead.open(key, nonce, sealed), undefined, `forged ${size}`);
  }
});

Deno.test("aead: libsodium's sealInto with a tail seals plaintext || tail, also past 64 KiB", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 16 }),
      fc.uint8Array({ maxLength: 1400 }),
      fc.nat(20),
      (key, nonce, head, tail, offset) => {
        const length = head.length + tail.length + 16;
        const out = new Uint8Array(offset + length + 2).fill(0xee);
        sodiumAead.sealInto!(key, nonce, head, out, offset, tail);
        const joined = new Uint8Array([...head, ...tail]);
        assert.deepEqual(out.subarray(offset, offset + length), nobleAead.seal(key, nonce, joined));
        assert.ok(out.subarray(0, offset).every((b) => b === 0xee), "before the offset untouched");
        assert.ok(out.subarray(offset + length).every((b) => b === 0xee), "after untouched");
      },
    ),
    { numRuns: 200 },
  );
  const key = new Uint8Array(32).fill(5), nonce = new Uint8Array(12).fill(6);
  const head = Uint8Array.of(6, 0, 0, 0, 0, 1), tail = new Uint8Array(70_000).map((_, i) => i);
  const out = new Uint8Array(6 + 70_000 + 16);
  sodiumAead.sealInto!(key, nonce, head, out, 0, tail);
  assert.deepEqual(out, opensslAead.seal(key, nonce, new Uint8Array([...head, ...tail])));
});
