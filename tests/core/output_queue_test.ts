import assert from "node:assert/strict";
import fc from "fast-check";
import { OutputQueue, TimeKeeper } from "../../src/core/mod.ts";

Deno.test("OutputQueue behaves as a bounded array queue under any push/shift sequence", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.oneof(fc.integer(), fc.constant(null)), { maxLength: 200 }),
      (capacity, ops) => {
        const q = new OutputQueue<number>({ capacity });
        const model: number[] = [];
        let refused = 0;
        for (const op of ops) {
          if (op === null) assert.equal(q.shift(), model.shift());
          else if (model.length < capacity) {
            assert.equal(q.push(op), true);
            model.push(op);
          } else {
            assert.equal(q.push(op), false);
            refused++;
          }
          assert.equal(q.length, model.length);
          assert.equal(q.peek(), model[0]);
        }
        assert.equal(q.refused, refused);
      },
    ),
  );
});

Deno.test("TimeKeeper refuses NaN and negative time and never goes backwards", () => {
  const t = new TimeKeeper();
  assert.throws(() => t.advance(Number.NaN), RangeError);
  assert.throws(() => t.advance(-1), RangeError);
  assert.equal(t.advance(10), 10);
  assert.equal(t.advance(5), 10);
  assert.equal(t.advance(11), 11);
});
