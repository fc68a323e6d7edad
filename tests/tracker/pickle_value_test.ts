/** Unit tests of the value model: Py2Str, PyTuple, PyDict, PySet, KeyInterner, pyTypeOf, pyText, describePyValue. */
import assert from "node:assert/strict";
import {
  describePyValue,
  KeyInterner,
  Py2Str,
  PyByteArray,
  PyDict,
  PyFloat,
  PySet,
  pyText,
  PyTuple,
  pyTypeOf,
  type PyValue,
} from "../../src/tracker/pickle/mod.ts";

Deno.test("Py2Str keeps raw bytes and reads them as Latin-1", () => {
  const s = new Py2Str(Uint8Array.of(0x63, 0x61, 0x66, 0xe9));
  assert.equal(s.text, "caf\xe9");
  assert.equal(String(s), "caf\xe9");
  assert.equal(s.isAscii, false);
  assert.equal(Py2Str.fromText("REG_INIT").isAscii, true);
  assert.deepEqual(Py2Str.fromText("\xff\x00").bytes, Uint8Array.of(0xff, 0));
  assert.throws(() => Py2Str.fromText("\u20ac"), RangeError);
  assert.throws(() => new Py2Str("x" as unknown as Uint8Array), TypeError);
  const big = new Py2Str(new Uint8Array(100_000).fill(0x41));
  assert.equal(big.text.length, 100_000);
});

Deno.test("PyTuple freezes a copy of its items", () => {
  const items: PyValue[] = [1, 2];
  const t = new PyTuple(items);
  items.push(3);
  assert.equal(t.length, 2);
  assert.ok(Object.isFrozen(t.items));
  assert.deepEqual([...t], [1, 2]);
  assert.deepEqual(PyTuple.of(1, "a").items, [1, "a"]);
  assert.equal(new PyTuple(new Set<PyValue>([5])).items[0], 5);
});

Deno.test("pyTypeOf() names every kind of the model and rejects the rest", () => {
  const cases: [PyValue, string][] = [
    [null, "none"],
    [true, "bool"],
    [5, "int"],
    [2n ** 70n, "int"],
    [new PyFloat(1), "float"],
    ["x", "str"],
    [Py2Str.fromText("x"), "py2str"],
    [Uint8Array.of(1), "bytes"],
    [new PyByteArray(Uint8Array.of(1)), "bytearray"],
    [PyTuple.of(), "tuple"],
    [[], "list"],
    [new PyDict(), "dict"],
    [new PySet(), "set"],
    [new PySet([], { frozen: true }), "frozenset"],
  ];
  for (const [value, name] of cases) assert.equal(pyTypeOf(value), name);
  assert.throws(() => pyTypeOf(1.5), TypeError);
  assert.throws(() => pyTypeOf(undefined as unknown as PyValue), TypeError);
  assert.throws(() => pyTypeOf({} as unknown as PyValue), TypeError);
});

Deno.test("pyText() reads text and py2 strs, and nothing else", () => {
  assert.equal(pyText("QUERY"), "QUERY");
  assert.equal(pyText(Py2Str.fromText("QUERY")), "QUERY");
  assert.equal(pyText(Uint8Array.of(0x41)), undefined);
  assert.equal(pyText(null), undefined);
});

Deno.test("KeyInterner follows Python's equality for hashable values", () => {
  const k = new KeyInterner();
  assert.equal(k.intern(1), k.intern(true));
  assert.equal(k.intern(1), k.intern(new PyFloat(1)));
  assert.equal(k.intern(1), k.intern(1n));
  assert.equal(k.intern(0), k.intern(new PyFloat(-0)));
  assert.equal(k.intern(2n ** 60n), k.intern(new PyFloat(2 ** 60)));
  assert.notEqual(k.intern(2n ** 60n + 1n), k.intern(new PyFloat(2 ** 60)));
  assert.notEqual(k.intern(new PyFloat(0.5)), k.intern(new PyFloat(0.25)));
  assert.equal(k.intern(new PyFloat(0.5)), k.intern(new PyFloat(0.5)));
  const nan = new PyFloat(NaN);
  assert.equal(k.intern(nan), k.intern(nan)); // the same object is the same key
  assert.notEqual(k.intern(nan), k.intern(new PyFloat(NaN))); // another NaN is not
  assert.equal(k.intern("a"), k.intern(Py2Str.fromText("a")));
  assert.notEqual(k.intern("\xe9"), k.intern(Py2Str.fromText("\xe9")));
  assert.notEqual(k.intern("a"), k.intern(Uint8Array.of(0x61)));
  assert.notEqual(k.intern(Py2Str.fromText("a")), k.intern(Uint8Array.of(0x61)));
  assert.equal(k.intern(Uint8Array.of(1, 2)), k.intern(Uint8Array.of(1, 2)));
  assert.equal(k.intern(PyTuple.of(1, "a")), k.intern(PyTuple.of(true, Py2Str.fromText("a"))));
  assert.notEqual(k.intern(PyTuple.of(1, 2)), k.intern(PyTuple.of(2, 1)));
  assert.equal(
    k.intern(new PySet([1, 2], { frozen: true })),
    k.intern(new PySet([2, 1], { frozen: true })),
  );
  assert.notEqual(k.intern(PyTuple.of()), k.intern(new PySet([], { frozen: true })));
  assert.equal(k.intern(null), k.intern(null));
  for (
    const unhashable of [
      [],
      new PyDict(),
      new PySet(),
      new PyByteArray(Uint8Array.of()),
      PyTuple.of([]),
    ]
  ) {
    assert.equal(k.intern(unhashable as PyValue), undefined);
  }
  assert.equal(k.find("never interned"), undefined);
  assert.equal(k.find(PyTuple.of("never", "interned")), undefined);
  let deep: PyValue = 1;
  for (let i = 0; i < 1001; i++) deep = PyTuple.of(deep);
  assert.throws(() => k.intern(deep), RangeError);
});

Deno.test("PyDict is a Map with Python key equality that keeps the first key object", () => {
  const d = new PyDict([[1, "a"], [PyTuple.of(1, 2), "t"]]);
  assert.ok(d instanceof Map);
  d.set(true, "b");
  d.set(new PyFloat(1), "c");
  assert.equal(d.size, 2);
  assert.deepEqual([...d.keys()], [1, [...d.keys()][1]]);
  assert.equal(d.get(1), "c");
  assert.equal(d.get(true), "c");
  assert.equal(d.get(PyTuple.of(1, 2)), "t");
  assert.equal(d.has(PyTuple.of(1, 3)), false);
  assert.equal(d.get([] as PyValue), undefined);
  const ascii = new PyDict([[Py2Str.fromText("k"), 1]]);
  assert.equal(ascii.get("k"), 1);
  assert.equal(ascii.delete("k"), true);
  assert.equal(ascii.size, 0);
  assert.equal(ascii.delete("k"), false);
  d.clear();
  assert.equal(d.size, 0);
  assert.equal(d.get(1), undefined);
  d.set(1, "again");
  assert.equal(d.get(true), "again");
  assert.throws(() => d.set([], 1), TypeError);
  assert.throws(() => new PyDict([[new PyDict(), 1]]), TypeError);
});

Deno.test("PyDict containers can share a KeyInterner", () => {
  const keys = new KeyInterner();
  const key = PyTuple.of(1, 2);
  const a = new PyDict([[key, "a"]], { keys });
  const b = new PyDict([[PyTuple.of(1, 2), "b"]], { keys });
  assert.equal(a.get(PyTuple.of(1, 2)), "a");
  assert.equal(b.get(key), "b");
});

Deno.test("PySet deduplicates by Python equality and freezes on request", () => {
  const s = new PySet([1, true, new PyFloat(1), "a", Py2Str.fromText("a"), PyTuple.of()]);
  assert.ok(s instanceof Set);
  assert.equal(s.size, 3);
  assert.ok(s.has(1) && s.has(true) && s.has("a") && s.has(PyTuple.of()));
  assert.equal(s.delete(true), true);
  assert.equal(s.has(1), false);
  assert.throws(() => s.add([]), TypeError);
  s.clear();
  assert.equal(s.size, 0);
  const f = new PySet([1, 2], { frozen: true });
  assert.ok(f.frozen && f.has(2));
  assert.throws(() => f.add(3), TypeError);
  assert.throws(() => f.delete(1), TypeError);
  assert.throws(() => f.clear(), TypeError);
  assert.equal(f.size, 2);
});

Deno.test("describePyValue() tags every kind and numbers shared mutable containers", () => {
  const shared = [1];
  const l: PyValue[] = [shared, shared];
  l.push(l);
  const d = describePyValue(PyTuple.of(
    null,
    false,
    -5,
    2n ** 64n,
    new PyFloat(1e16),
    "\u20ac",
    Py2Str.fromText("\xff"),
    Uint8Array.of(1),
    new PyByteArray(Uint8Array.of(2)),
    l,
    new PyDict([["k", PyTuple.of()]]),
    new PySet([2, 1]),
    new PySet(["b", "a"], { frozen: true }),
  ));
  assert.deepEqual(d, [
    "tuple",
    [
      ["none"],
      ["bool", false],
      ["int", "-5"],
      ["int", "18446744073709551616"],
      ["float", "1e+16"],
      ["str", "\u20ac"],
      ["py2str", "ff"],
      ["bytes", "01"],
      ["bytearray", "02"],
      ["list", [["list", [["int", "1"]]], ["ref", 2], ["ref", 1]]],
      ["dict", [[["str", "k"], ["tuple", []]]]],
      ["set", [["int", "1"], ["int", "2"]]],
      ["frozenset", [["str", "a"], ["str", "b"]]],
    ],
  ]);
});

Deno.test("describePyValue() enforces its node and depth budgets", () => {
  let t: PyValue = 0;
  for (let i = 0; i < 16; i++) t = PyTuple.of(t, t); // 2^16 leaves, 17 objects
  assert.throws(() => describePyValue(t), RangeError);
  assert.throws(() => describePyValue(t, { maxNodes: 131_000 }), RangeError);
  assert.ok(describePyValue(t, { maxNodes: 131_071 }));
  let deep: PyValue = 0;
  for (let i = 0; i < 50; i++) deep = [deep];
  assert.throws(() => describePyValue(deep, { maxDepth: 40 }), RangeError);
  assert.throws(() => describePyValue(1.5), TypeError);
});
