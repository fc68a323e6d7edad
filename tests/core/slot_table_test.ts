import assert from "node:assert/strict";
import fc from "fast-check";
import { SlotTable } from "../../src/core/mod.ts";

Deno.test("SlotTable behaves as a Map under any set/delete/clear sequence", () => {
  const op = fc.oneof(
    fc.record({ set: fc.integer({ min: -3, max: 40 }), value: fc.string() }),
    fc.record({ delete: fc.integer({ min: -3, max: 40 }) }),
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
        for (let id = -3; id <= 40; id++) {
          assert.equal(table.has(id), model.has(id));
          assert.equal(table.get(id), model.get(id));
        }
      }
    }),
  );
});

Deno.test("SlotTable: deleting during values() visits the rest, as a Map does", () => {
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
