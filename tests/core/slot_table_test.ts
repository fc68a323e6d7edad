import assert from "node:assert/strict";
import fc from "fast-check";
import { SlotTable } from "../../src/core/mod.ts";

Deno.test("SlotTable behaves as a Map under any set/delete/clear sequence", () => {
  const op = fc.oneof(
    fc.record({
      set: fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constantFrom(-0, 0.5, 2 ** 40, -1e300)),
      value: fc.string(),
    }),
    fc.record({
      delete: fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constantFrom(-0, 0.5, 2 ** 40, -1e300)),
    }),
    fc.constant({ clear: true }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const table = new SlotTable<{ v: string }>();
      const model = new Map<number, { v: string }>();
      for (const o of ops) {
        if ("set" in o) {
          const value = { v: o.value };
          assert.equal(table.set(o.set, value), table);
          model.set(o.set, value);
        } else if ("delete" in o) {
          assert.equal(table.delete(o.delete), model.delete(o.delete));
        } else {
          table.clear();
          model.clear();
        }
        assert.equal(table.size, model.size);
        assert.deepEqual([...table.values()], [...model.values()]);
        for (const id of [...Array.from({ length: 44 }, (_, i) => i - 3), 0.5, 2 ** 40, -1e300]) {
          assert.equal(table.has(id), model.has(id));
          assert.equal(table.get(id), model.get(id));
        }
      }
    }),
  );
});

Deno.test("SlotTable: values() is a copy: deleting while going through it visits every value", () => {
  const table = new SlotTable<number>();
  for (let id = 0; id < 2000; id++) table.set(id, id * 10);
  const seen: number[] = [];
  for (const v of table.values()) {
    seen.push(v);
    table.delete(v / 10); // the last delete empties a table of more than 1024 slots: it resets
  }
  assert.equal(seen.length, 2000);
  assert.deepEqual(seen.slice(0, 3), [0, 10, 20]);
  assert.equal(table.size, 0);
  table.set(5, 50);
  assert.deepEqual([...table.values()], [50]);
});

Deno.test("SlotTable matches a Map over 50,000 random changes of up to 3,000 ids", () => {
  let seed = 12345;
  const rnd = (n: number) => { // a fixed LCG: the same sequence every run
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const table = new SlotTable<number>();
  const model = new Map<number, number>();
  for (let i = 0; i < 50_000; i++) {
    const id = rnd(3000) * (rnd(2) ? 1 : 65_537); // crowded and spread ids alike
    if (rnd(3) === 0) assert.equal(table.delete(id), model.delete(id));
    else {
      table.set(id, i);
      model.set(id, i);
    }
    assert.equal(table.get(id), model.get(id));
  }
  assert.equal(table.size, model.size);
  assert.deepEqual(table.values(), [...model.values()]);
  for (const id of model.keys()) assert.equal(table.get(id), model.get(id));
});
