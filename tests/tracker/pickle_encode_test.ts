/** Unit tests of encodePickle(): the spec's exact bytes, Python's pickler rules, misuse. */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodePickle,
  describePyValue,
  encodePickle,
  Py2Str,
  PyByteArray,
  PyDict,
  PyFloat,
  PySet,
  PyTuple,
  type PyValue,
} from "../../src/tracker/pickle/mod.ts";

const s = Py2Str.fromText;
const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes);
const p0 = (v: PyValue) => latin1(encodePickle(v));
const p2 = (v: PyValue) => latin1(encodePickle(v, { protocol: 2 }));
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("encodePickle() writes the Part 1 replies of spec §2 byte for byte", () => {
  assert.equal(hex(encodePickle(16)), "4931360a2e");
  assert.equal(p0(PyTuple.of(12, s("of"))), "(I12\nS'of'\np0\ntp1\n.");
  assert.equal(hex(encodePickle(s("Bad request"))), "53274261642072657175657374270a70300a2e");
});

Deno.test("encodePickle() writes the Part 2 messages of spec §3.3 byte for byte", () => {
  const w = s("and");
  assert.equal(p0(PyTuple.of(s("ECHO"), s("alice"))), "(S'ECHO'\np0\nS'alice'\np1\ntp2\n.");
  assert.equal(
    p0(PyTuple.of(s("[Tracker]"), "Hi alice, Welcome to the network. Register to get started.")),
    "(S'[Tracker]'\np0\nVHi alice, Welcome to the network. Register to get started.\np1\ntp2\n.",
  );
  assert.equal(
    p0(PyTuple.of(s("REGISTER"), s("p2"), 9202)),
    "(S'REGISTER'\np0\nS'p2'\np1\nI9202\ntp2\n.",
  );
  assert.equal(
    p0(PyTuple.of(s("REG_INIT"), s("p1"), s("127.0.0.1"), 9201, 5, PyTuple.of(2, w))),
    "(S'REG_INIT'\np0\nS'p1'\np1\nS'127.0.0.1'\np2\nI9201\nI5\n(I2\nS'and'\np3\ntp4\ntp5\n.",
  );
  assert.equal(
    p0(PyTuple.of(s("REG_INIT"), null, null, null, 5, PyTuple.of(2, w))),
    "(S'REG_INIT'\np0\nNNNI5\n(I2\nS'and'\np1\ntp2\ntp3\n.",
  );
  assert.equal(
    p0(PyTuple.of(s("UPDATE_NBR"), "bob", s("127.0.0.1"), 9102)),
    "(S'UPDATE_NBR'\np0\nVbob\np1\nS'127.0.0.1'\np2\nI9102\ntp3\n.",
  );
  assert.equal(
    p0(PyTuple.of(s("PING"), s("Sun Nov 22 01:24:25 2026"))),
    "(S'PING'\np0\nS'Sun Nov 22 01:24:25 2026'\np1\ntp2\n.",
  );
  assert.equal(p0(PyTuple.of(s("QUERY"), 1)), "(S'QUERY'\np0\nI1\ntp1\n.");
  assert.equal(
    p0(PyTuple.of(s("QUERY_RESULT"), PyTuple.of(null, null))),
    "(S'QUERY_RESULT'\np0\n(NNtp1\ntp2\n.",
  );
  assert.equal(
    p0(PyTuple.of(s("[Tracker]"), s("Bad request"))),
    "(S'[Tracker]'\np0\nS'Bad request'\np1\ntp2\n.",
  );
  assert.equal(
    hex(encodePickle(PyTuple.of("REGISTER", "alice", 9101), { protocol: 2 })),
    "80025808000000524547495354455271005805000000616c69636571014d8d238771022e",
  );
});

Deno.test("encodePickle() writes ints as INT or LONG at protocol 0 and minimal forms at protocol 2", () => {
  assert.equal(p0(0), "I0\n.");
  assert.equal(p0(-1), "I-1\n.");
  assert.equal(p0(2 ** 31 - 1), "I2147483647\n.");
  assert.equal(p0(-(2 ** 31)), "I-2147483648\n.");
  assert.equal(p0(2 ** 31), "L2147483648L\n.");
  assert.equal(p0(-(2 ** 31) - 1), "L-2147483649L\n.");
  assert.equal(p0(2n ** 64n), "L18446744073709551616L\n.");
  assert.equal(p0(5n), "I5\n.");
  assert.equal(p0(true), "I01\n.");
  assert.equal(p0(false), "I00\n.");
  assert.equal(hex(encodePickle(127, { protocol: 2 })), "80024b7f2e");
  assert.equal(hex(encodePickle(255, { protocol: 2 })), "80024bff2e");
  assert.equal(hex(encodePickle(256, { protocol: 2 })), "80024d00012e");
  assert.equal(hex(encodePickle(65536, { protocol: 2 })), "80024a000001002e");
  assert.equal(hex(encodePickle(-129, { protocol: 2 })), "80024a7fffffff2e");
  assert.equal(hex(encodePickle(2 ** 31, { protocol: 2 })), "80028a0500000080002e");
  assert.equal(hex(encodePickle(-(2 ** 31) - 1, { protocol: 2 })), "80028a05ffffff7fff2e");
  assert.equal(hex(encodePickle(2n ** 63n, { protocol: 2 })), "80028a090000000000000080002e");
  assert.equal(hex(encodePickle(-(2n ** 63n), { protocol: 2 })), "80028a0800000000000000802e");
  const big = encodePickle(2n ** 2040n, { protocol: 2 });
  assert.equal(hex(big.subarray(0, 7)), "80028b00010000"); // LONG4, 256 bytes
  assert.equal(big.length, 2 + 5 + 256 + 1);
  assert.equal(hex(encodePickle(true, { protocol: 2 })), "8002882e");
  assert.equal(hex(encodePickle(null, { protocol: 2 })), "80024e2e");
});

Deno.test("encodePickle() writes floats with Python's repr at protocol 0 and BINFLOAT at protocol 2", () => {
  const cases: [number, string][] = [
    [3.25, "3.25"],
    [1e16, "1e+16"],
    [1e15, "1000000000000000.0"],
    [1e-5, "1e-05"],
    [1e-4, "0.0001"],
    [0.1, "0.1"],
    [-0, "-0.0"],
    [0, "0.0"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
    [NaN, "nan"],
    [1e22, "1e+22"],
    [5e-324, "5e-324"],
    [123456789.125, "123456789.125"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [-2.5e-7, "-2.5e-07"],
    [100, "100.0"],
  ];
  for (const [x, repr] of cases) assert.equal(p0(new PyFloat(x)), `F${repr}\n.`, repr);
  assert.equal(hex(encodePickle(new PyFloat(3.25), { protocol: 2 })), "800247400a0000000000002e");
});

Deno.test("encodePickle() writes py2 strs as Python 2's repr at protocol 0 (spec §5.4 examples)", () => {
  assert.equal(p0(s("it's")), `S"it's"\np0\n.`);
  assert.equal(p0(s(`a'b"c`)), `S'a\\'b"c'\np0\n.`);
  assert.equal(p0(new Py2Str(Uint8Array.of(0x61, 0x00, 0xff, 0x09))), `S'a\\x00\\xff\\t'\np0\n.`);
  assert.equal(p0(s('say "hi"')), `S'say "hi"'\np0\n.`);
  assert.equal(p0(s("\\\n\r\x7f\x1f~ ")), `S'\\\\\\n\\r\\x7f\\x1f~ '\np0\n.`);
  assert.equal(p0(s("")), "S''\np0\n.");
});

Deno.test("encodePickle() writes text as Python 2's raw-unicode-escape at protocol 0", () => {
  assert.equal(p0("a\\b\nc\u20ac\u{1f600}"), "Va\\u005cb\\u000ac\\u20ac\\U0001f600\np0\n.");
  assert.equal(p0("\0\r\x1a\xe9\xff"), "V\0\r\x1a\xe9\xff\np0\n."); // Python 2 leaves these raw
  assert.equal(p0("\u0100\uffff"), "V\\u0100\\uffff\np0\n.");
  assert.equal(p0(""), "V\np0\n.");
});

Deno.test("encodePickle() picks short or long string opcodes at protocol 2", () => {
  assert.equal(p2(s("hi")), "\x80\x02U\x02hiq\x00.");
  const long = p2(new Py2Str(new Uint8Array(256).fill(0x61)));
  assert.equal(long.slice(0, 7), "\x80\x02T\x00\x01\x00\x00");
  assert.equal(p2("h\xe9"), "\x80\x02X\x03\x00\x00\x00h\xc3\xa9q\x00.");
  assert.equal(p2("x".repeat(300)).slice(0, 7), "\x80\x02X\x2c\x01\x00\x00");
});

Deno.test("encodePickle() writes empty and short tuples like Python", () => {
  assert.equal(p0(PyTuple.of()), "(t.");
  assert.equal(p2(PyTuple.of()), "\x80\x02).");
  assert.equal(p2(PyTuple.of(1)), "\x80\x02K\x01\x85q\x00.");
  assert.equal(p2(PyTuple.of(1, 2, 3)), "\x80\x02K\x01K\x02K\x03\x87q\x00.");
  assert.equal(p2(PyTuple.of(1, 2, 3, 4)), "\x80\x02(K\x01K\x02K\x03K\x04tq\x00.");
  const empty = PyTuple.of();
  assert.equal(p0(PyTuple.of(empty, empty)), "((t(ttp0\n."); // () is never memoized
});

Deno.test("encodePickle() writes a repeated object as a memo GET, like Python", () => {
  const x = [1];
  assert.equal(p0(PyTuple.of(x, x)), "((lp0\nI1\nag0\ntp1\n.");
  assert.equal(p2(PyTuple.of(x, x)), "\x80\x02]q\x00K\x01ah\x00\x86q\x01.");
  const word = s("w");
  assert.equal(p0(PyTuple.of(word, word)), "(S'w'\np0\ng0\ntp1\n.");
  assert.equal(p0(PyTuple.of("w", "w")), "(Vw\np0\nVw\np1\ntp2\n."); // strings have no identity
  const many = Array.from({ length: 300 }, (_, i) => [i]);
  const bytes = encodePickle([...many, many[0], many[299]], { protocol: 2 });
  assert.ok(latin1(bytes).includes("r\x2c\x01\x00\x00")); // LONG_BINPUT 300
  assert.ok(latin1(bytes).includes("j\x2c\x01\x00\x00")); // LONG_BINGET 300
  const back = decodePickle(bytes);
  assert.ok(back.ok && Array.isArray(back.value));
  assert.equal(back.value[300], back.value[0]);
});

Deno.test("encodePickle() writes cycles the way Python does", () => {
  const l: PyValue[] = [];
  l.push(l);
  assert.equal(p0(l), "(lp0\ng0\na.");
  const d = new PyDict();
  d.set("me", d);
  assert.equal(p2(d), "\x80\x02}q\x00X\x02\x00\x00\x00meq\x01h\x00s.");
  // A tuple met again through its own items: Python pops what it wrote and GETs the tuple.
  const inner: PyValue[] = [];
  const t = PyTuple.of(inner, 7);
  inner.push(t);
  assert.equal(p0(t), "((lp0\n(g0\nI7\ntp1\naI7\n000g1\n.");
  assert.equal(p2(t), "\x80\x02]q\x00h\x00K\x07\x86q\x01aK\x0700h\x01.");
  const inner4: PyValue[] = [];
  const t4 = PyTuple.of(inner4, 7, 8, 9);
  inner4.push(t4);
  assert.equal(p0(t4), "((lp0\n(g0\nI7\nI8\nI9\ntp1\naI7\nI8\nI9\n00000g1\n.");
  assert.equal(p2(t4), "\x80\x02(]q\x00(h\x00K\x07K\x08K\ttq\x01aK\x07K\x08K\t1h\x01.");
  for (const v of [l, d, t, t4]) {
    for (const protocol of [0, 2] as const) {
      const r = decodePickle(encodePickle(v, { protocol }));
      assert.ok(r.ok);
      assert.deepEqual(describePyValue(r.value), describePyValue(v));
    }
  }
});

Deno.test("encodePickle() batches lists and dicts at protocol 2 like Python's C pickler", () => {
  const list = (n: number) =>
    latin1(encodePickle(Array.from({ length: n }, () => null), { protocol: 2 }));
  assert.equal(list(0), "\x80\x02]q\x00.");
  assert.equal(list(1), "\x80\x02]q\x00Na.");
  assert.equal(list(2), "\x80\x02]q\x00(NNe.");
  assert.equal(list(1000), "\x80\x02]q\x00(" + "N".repeat(1000) + "e.");
  assert.equal(list(1001), "\x80\x02]q\x00(" + "N".repeat(1000) + "e(Ne.");
  assert.equal(p0([null, null]), "(lp0\nNaNa.");
  const dict = (n: number) =>
    latin1(
      encodePickle(new PyDict(Array.from({ length: n }, (_, i) => [i, null] as const)), {
        protocol: 2,
      }),
    );
  assert.equal(dict(1), "\x80\x02}q\x00K\x00Ns.");
  assert.ok(dict(1001).endsWith("(M\xe8\x03Nu."));
  assert.equal(p0(new PyDict([[1, 2], [3, 4]])), "(dp0\nI1\nI2\nsI3\nI4\ns.");
});

Deno.test("encodePickle() output uses only opcodes of its protocol", () => {
  const value = PyTuple.of(
    s("REG_INIT"),
    [1, 2n ** 80n, new PyFloat(0.5), true, null, "\u20ac"],
    new PyDict([[PyTuple.of(1, 2), "x"]]),
  );
  const r0 = decodePickle(encodePickle(value), { maxProtocol: 0 });
  assert.ok(r0.ok && r0.protocol === 0);
  const r2 = decodePickle(encodePickle(value, { protocol: 2 }), { maxProtocol: 2 });
  assert.ok(r2.ok && r2.protocol === 2);
});

Deno.test("encodePickle() throws TypeError for values Python 2 cannot take without a call", () => {
  for (const protocol of [0, 2] as const) {
    assert.throws(() => encodePickle(Uint8Array.of(1), { protocol }), TypeError);
    assert.throws(() => encodePickle(new PyByteArray(Uint8Array.of(1)), { protocol }), TypeError);
    assert.throws(() => encodePickle(new PySet([1]), { protocol }), TypeError);
    assert.throws(() => encodePickle(new PySet([1], { frozen: true }), { protocol }), TypeError);
    assert.throws(() => encodePickle(1.5, { protocol }), TypeError);
    assert.throws(() => encodePickle(NaN, { protocol }), TypeError);
    assert.throws(() => encodePickle(2 ** 60, { protocol }), TypeError);
    assert.throws(() => encodePickle("\ud800", { protocol }), TypeError);
    assert.throws(() => encodePickle(undefined as unknown as PyValue, { protocol }), TypeError);
    assert.throws(() => encodePickle({} as unknown as PyValue, { protocol }), TypeError);
    assert.throws(() => encodePickle([[Uint8Array.of()]], { protocol }), TypeError);
  }
});

Deno.test("encodePickle() throws RangeError for a bad option or nesting beyond maxDepth", () => {
  assert.throws(() => encodePickle(1, { protocol: 1 as 0 }), RangeError);
  assert.throws(() => encodePickle(1, { protocol: 3 as 0 }), RangeError);
  assert.throws(() => encodePickle(1, { maxDepth: 2001 }), RangeError);
  let deep: PyValue = 1;
  for (let i = 0; i < 10; i++) deep = [deep];
  assert.ok(encodePickle(deep, { maxDepth: 10 }).length > 0);
  assert.throws(() => encodePickle(deep, { maxDepth: 9 }), RangeError);
  let deeper: PyValue = 1;
  for (let i = 0; i < 5000; i++) deeper = PyTuple.of(deeper);
  assert.throws(() => encodePickle(deeper), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Properties

/** Arbitrary values of the encodable model, with shared and cyclic lists. */
const valueArb: fc.Arbitrary<PyValue> = fc.letrec<{ value: PyValue; key: PyValue }>((tie) => ({
  key: fc.oneof(
    { depthSize: "small" },
    fc.integer(),
    fc.bigInt({ min: -(2n ** 600n), max: 2n ** 600n }),
    fc.string({ unit: "binary" }),
    fc.uint8Array({ maxLength: 20 }).map((b) => new Py2Str(b)),
    fc.double().map((x) => new PyFloat(x)),
    fc.constantFrom(null, true, false),
    fc.array(tie("key"), { maxLength: 3 }).map((items) => new PyTuple(items)),
  ),
  value: fc.oneof(
    { depthSize: "small" },
    tie("key"),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.array(tie("value"), { maxLength: 5 }).map((items) => new PyTuple(items)),
    fc.array(fc.tuple(tie("key"), tie("value")), { maxLength: 4 }).map((e) => new PyDict(e)),
    fc.array(tie("value"), { minLength: 1, maxLength: 3 }).map((items) => {
      const l: PyValue[] = [...items];
      l.push(l, PyTuple.of(l), items[0]); // a cycle, a tuple cycle, a shared item
      return l;
    }),
  ),
})).value;

Deno.test("decodePickle() of encodePickle() gives the value back at protocols 0 and 2 (fast-check)", () => {
  fc.assert(
    fc.property(valueArb, fc.constantFrom(0 as const, 2 as const), (value, protocol) => {
      const bytes = encodePickle(value, { protocol });
      const r = decodePickle(bytes, {
        maxInputBytes: 1 << 22,
        maxStringBytes: 1 << 22,
        maxLongBytes: 1024,
        maxIntDigits: 4300,
      });
      assert.ok(r.ok, r.ok ? "" : r.error.message);
      assert.equal(r.consumed, bytes.length);
      assert.deepEqual(describePyValue(r.value), describePyValue(value));
      assert.deepEqual(encodePickle(r.value, { protocol }), bytes); // and encodes the same again
    }),
    { numRuns: 1500, seed: 457 },
  );
});
