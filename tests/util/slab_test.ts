import assert from "node:assert/strict";
import fc from "fast-check";
import { Slab } from "../../src/util/mod.ts";

Deno.test("Slab: pieces are zero-filled, of the asked length, and never overlap (writing one leaves every other as written)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 64, max: 8192 }),
      fc.array(fc.nat(3000), { maxLength: 200 }),
      (slabBytes, sizes) => {
        const slab = new Slab({ slabBytes });
        const pieces = sizes.map((n) => slab.alloc(n));
        pieces.forEach((p, i) => {
          assert.equal(p.length, sizes[i]);
          assert.ok(p.every((b) => b === 0), "zero-filled");
          p.fill(i & 0xff);
        });
        pieces.forEach((p, i) => assert.ok(p.every((b) => b === (i & 0xff)), `piece ${i} intact`));
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("Slab: small and large pieces get buffers of their own; the rest share, 8-byte aligned", () => {
  const slab = new Slab({ slabBytes: 4096, maxPiece: 1500 });
  const small = slab.alloc(64);
  assert.equal(small.buffer.byteLength, 64); // V8 keeps those on its heap: no slab
  const large = slab.alloc(1501);
  assert.equal(large.buffer.byteLength, 1501);
  const a = slab.alloc(65), b = slab.alloc(1000), c = slab.alloc(1500), d = slab.alloc(1500);
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.buffer, d.buffer);
  assert.equal(b.byteOffset, 72); // 65 rounded up to 8
  assert.equal(d.byteOffset, 72 + 1000 + 1504); // 1500 rounded up to 8
  const e = slab.alloc(100);
  assert.notEqual(e.buffer, c.buffer); // 4080 + 100 > 4096: a new slab
  assert.equal(e.byteOffset, 0);
  assert.deepEqual(slab.copy(Uint8Array.of(1, 2, 3)), Uint8Array.of(1, 2, 3));
  assert.throws(() => new Slab({ slabBytes: 0 }), RangeError);
});
