/** Unit tests of decodePickle(): values, refusals, limits, structural rules, streaming. */
import assert from "node:assert/strict";
import {
  decodePickle,
  type DecodePickleOptions,
  type DecodePickleResult,
  describePyValue,
  encodePickle,
  Op,
  type PickleError,
  Py2Str,
  PyByteArray,
  PyDict,
  PyFloat,
  PySet,
  PyTuple,
  type PyValue,
  UNSAFE_OPCODES,
} from "../../src/tracker/pickle/mod.ts";

/** Builds bytes from text (code points up to 0xFF become bytes) and byte values. */
function b(...parts: (string | number | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === "number") out.push(part);
    else if (typeof part === "string") { for (const c of part) out.push(c.charCodeAt(0)); }
    else out.push(...part);
  }
  return Uint8Array.from(out);
}

function ok(bytes: Uint8Array, options?: DecodePickleOptions): PyValue {
  const r = decodePickle(bytes, options);
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  return r.value;
}

function fail(bytes: Uint8Array, options?: DecodePickleOptions): PickleError {
  const r = decodePickle(bytes, options);
  assert.ok(!r.ok, `decoded to ${r.ok ? JSON.stringify(describePyValue(r.value)) : ""}`);
  return r.error;
}

function malformed(bytes: Uint8Array, options?: DecodePickleOptions): PickleError {
  const error = fail(bytes, options);
  assert.equal(error.kind, "malformed", error.message);
  return error;
}

function limit(bytes: Uint8Array, name: string, options?: DecodePickleOptions): void {
  const error = fail(bytes, options);
  assert.equal(error.kind, "limit", error.message);
  assert.ok(error.kind === "limit" && error.limit === name, error.message);
}

const u32 = (n: number) => b(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
const u64 = (n: number) => b(u32(n % 2 ** 32), u32(Math.floor(n / 2 ** 32)));
const desc = (v: PyValue) => JSON.stringify(describePyValue(v));

// ---------------------------------------------------------------------------------------------
// Values

Deno.test("decodePickle() decodes ints of every encoding, normalising safe ones to number", () => {
  assert.equal(ok(b("I16\n.")), 16);
  assert.equal(ok(b("I-1\n.")), -1);
  assert.equal(ok(b("I-0\n.")), 0);
  assert.ok(Object.is(ok(b("I-0\n.")), 0));
  assert.equal(ok(b("I2147483648\n.")), 2147483648);
  assert.equal(ok(b("I9007199254740991\n.")), 9007199254740991);
  assert.equal(ok(b("I9007199254740992\n.")), 9007199254740992n);
  assert.equal(ok(b("L5L\n.")), 5);
  assert.equal(ok(b("L5\n.")), 5);
  assert.equal(ok(b("L-18446744073709551616L\n.")), -18446744073709551616n);
  assert.equal(ok(b("J", 0xff, 0xff, 0xff, 0xff, ".")), -1);
  assert.equal(ok(b("J", 0, 0, 0, 0x80, ".")), -2147483648);
  assert.equal(ok(b("K", 0xff, ".")), 255);
  assert.equal(ok(b("M", 0xff, 0xff, ".")), 65535);
  assert.equal(ok(b(0x8a, 0, ".")), 0);
  assert.equal(ok(b(0x8a, 1, 0x80, ".")), -128);
  assert.equal(ok(b(0x8a, 2, 0xff, 0x00, ".")), 255);
  assert.equal(ok(b(0x8a, 5, 0, 0, 0, 0x80, 0, ".")), 2147483648);
  assert.equal(ok(b(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x80, ".")), -(2n ** 63n));
  assert.equal(ok(b(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, ".")), 2n ** 64n);
  assert.equal(ok(b(0x8b, u32(2), 0x01, 0xff, ".")), -255);
});

Deno.test("decodePickle() reads I01 and I00 as booleans, and NEWTRUE/NEWFALSE", () => {
  assert.equal(ok(b("I01\n.")), true);
  assert.equal(ok(b("I00\n.")), false);
  assert.equal(ok(b("I1\n.")), 1);
  assert.equal(ok(b("I001\n.")), 1);
  assert.equal(ok(b(0x80, 2, 0x88, ".")), true);
  assert.equal(ok(b(0x80, 2, 0x89, ".")), false);
  assert.equal(ok(b("N.")), null);
});

Deno.test("decodePickle() decodes FLOAT lines and big-endian BINFLOAT as PyFloat", () => {
  const f = (bytes: Uint8Array) => {
    const v = ok(bytes);
    assert.ok(v instanceof PyFloat);
    return v.value;
  };
  assert.equal(f(b("F3.25\n.")), 3.25);
  assert.ok(Object.is(f(b("F-0.0\n.")), -0));
  assert.equal(f(b("F1e+100\n.")), 1e100);
  assert.equal(f(b("F1e-05\n.")), 1e-5);
  assert.equal(f(b("Finf\n.")), Infinity);
  assert.equal(f(b("F-inf\n.")), -Infinity);
  assert.ok(Number.isNaN(f(b("Fnan\n."))));
  assert.equal(f(b("F0.1\n.")), 0.1);
  assert.equal(f(b("F3\n.")), 3);
  assert.equal(f(b("G", 0x40, 0x0a, 0, 0, 0, 0, 0, 0, ".")), 3.25);
  assert.ok(Object.is(f(b("G", 0x80, 0, 0, 0, 0, 0, 0, 0, ".")), -0));
  assert.equal(f(b("F 1\t\n.")), 1); // Python 2's float() strips whitespace
  for (const bad of ["F\n.", "Fabc\n.", "F1.0x\n.", "F1 0\n.", "F1_0\n.", "F0x10\n."]) {
    malformed(b(bad));
  }
});

Deno.test("decodePickle() decodes STRING lines with Python's escape rules (spec §5.4 examples)", () => {
  const s = (bytes: Uint8Array) => {
    const v = ok(bytes);
    assert.ok(v instanceof Py2Str);
    return [...v.bytes];
  };
  assert.deepEqual(s(b(`S"it's"\n.`)), [...b("it's")]);
  assert.deepEqual(s(b(`S'a\\'b"c'\n.`)), [...b(`a'b"c`)]);
  assert.deepEqual(s(b(`S'a\\x00\\xff\\t'\n.`)), [0x61, 0x00, 0xff, 0x09]);
  assert.deepEqual(s(b(`S'\\a\\b\\f\\n\\r\\t\\v\\\\\\"'\n.`)), [
    7,
    8,
    12,
    10,
    13,
    9,
    11,
    0x5c,
    0x22,
  ]);
  assert.deepEqual(s(b(`S'\\0\\12a\\101\\777'\n.`)), [0, 10, 0x61, 0x41, 0xff]);
  assert.deepEqual(s(b(`S'\\q\\xAb'\n.`)), [0x5c, 0x71, 0xab]);
  assert.deepEqual(s(b(`S''\n.`)), []);
  assert.deepEqual(s(b(`S'caf`, 0xe9, `'\n.`)), [0x63, 0x61, 0x66, 0xe9]);
  assert.deepEqual(s(b("U", 2, "hi.")), [...b("hi")]);
  assert.deepEqual(s(b("T", u32(3), "a", 0, 0xff, ".")), [0x61, 0, 0xff]);
});

Deno.test("decodePickle() refuses STRING lines Python refuses", () => {
  for (
    const bad of [
      `S'abc\n.`,
      `Sabc\n.`,
      `S'abc"\n.`,
      `S'\n.`,
      `S\n.`,
      `S'\\x4'\n.`,
      `S'\\xzz'\n.`,
      `S'a\\'\n.`,
    ]
  ) {
    const error = malformed(b(bad));
    assert.equal(error.offset, 0);
  }
  malformed(b("T", 0xff, 0xff, 0xff, 0xff, "."), {});
});

Deno.test("decodePickle() decodes UNICODE lines as raw-unicode-escape (spec §5.4 example)", () => {
  assert.equal(ok(b("Va\\u005cb\\u000ac\\u20ac\\U0001f600\n.")), "a\\b\nc\u20ac\u{1f600}");
  assert.equal(ok(b("V", 0xe9, 0xff, "\n.")), "\xe9\xff");
  assert.equal(ok(b("V\\\\u0041\n.")), "\\\\u0041"); // even run: no escape
  assert.equal(ok(b("V\\\\\\u0041\n.")), "\\\\A"); // odd run: the last backslash escapes
  assert.equal(ok(b("Va\\x\\\n.")), "a\\x\\"); // other escapes stay
  assert.equal(ok(b("V\\ud83d\\ude00\n.")), "\u{1f600}"); // a narrow Python 2 build's pair
  assert.equal(ok(b("V\n.")), "");
  for (
    const bad of ["V\\u12\n.", "V\\u12g4\n.", "V\\U00110000\n.", "V\\ud800\n.", "V\\U0000dc00x\n."]
  ) {
    malformed(b(bad));
  }
});

Deno.test("decodePickle() decodes UTF-8 text strictly and keeps a leading BOM", () => {
  assert.equal(ok(b("X", u32(3), 0xef, 0xbb, 0xbf, ".")), "\ufeff");
  assert.equal(ok(b(0x8c, 4, 0xf0, 0x9f, 0x98, 0x80, ".")), "\u{1f600}");
  assert.equal(ok(b(0x8d, u64(2), "hi.")), "hi");
  for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0x80]]) {
    malformed(b("X", u32(bad.length), ...bad, "."));
  }
});

Deno.test("decodePickle() decodes bytes and bytearray opcodes", () => {
  assert.deepEqual(ok(b("C", 2, "hi.")), b("hi"));
  assert.deepEqual(ok(b("B", u32(1), 0xff, ".")), b(0xff));
  assert.deepEqual(ok(b(0x8e, u64(0), ".")), new Uint8Array(0));
  const ba = ok(b(0x96, u64(2), "ab."));
  assert.ok(ba instanceof PyByteArray);
  assert.deepEqual(ba.bytes, b("ab"));
});

Deno.test("decodePickle() copies payloads out of the input buffer", () => {
  const input = b("C", 2, "hi.");
  const v = ok(input) as Uint8Array;
  input[2] = 0x58;
  assert.deepEqual(v, b("hi"));
});

Deno.test("decodePickle() builds tuples, lists and dicts with every opcode form", () => {
  assert.equal(desc(ok(b("(t."))), '["tuple",[]]');
  assert.equal(desc(ok(b(").", ""))), '["tuple",[]]');
  assert.equal(desc(ok(b("K", 1, 0x85, "."))), '["tuple",[["int","1"]]]');
  assert.equal(desc(ok(b("K", 1, "K", 2, 0x86, "."))), '["tuple",[["int","1"],["int","2"]]]');
  assert.equal(desc(ok(b("NNN", 0x87, "."))), '["tuple",[["none"],["none"],["none"]]]');
  assert.equal(desc(ok(b("(I1\nI2\nl."))), '["list",[["int","1"],["int","2"]]]');
  assert.equal(desc(ok(b("(lI1\naI2\na."))), '["list",[["int","1"],["int","2"]]]');
  assert.equal(
    desc(ok(b("](K", 1, "K", 2, "eK", 3, "a."))),
    '["list",[["int","1"],["int","2"],["int","3"]]]',
  );
  assert.equal(desc(ok(b("](e."))), '["list",[]]');
  assert.equal(desc(ok(b("(I1\nI2\nd."))), '["dict",[[["int","1"],["int","2"]]]]');
  assert.equal(desc(ok(b("(dI1\nI2\ns."))), '["dict",[[["int","1"],["int","2"]]]]');
  assert.equal(
    desc(ok(b("}(K", 1, "K", 2, "uK", 3, "K", 4, "s."))),
    '["dict",[[["int","1"],["int","2"]],[["int","3"],["int","4"]]]]',
  );
});

Deno.test("decodePickle() gives a dict Python's key equality: 1, 1.0 and True are one key", () => {
  const d = ok(
    b("}(K", 1, "K", 10, 0x88, "K", 20, "G", 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, "K", 30, "u."),
  );
  assert.ok(d instanceof PyDict);
  assert.equal(d.size, 1);
  assert.equal(d.get(1), 30);
  assert.equal([...d.keys()][0], 1); // the first key object stays
  const texts = ok(b("}(U", 1, "aK", 1, "X", u32(1), "aK", 2, "u."));
  assert.ok(texts instanceof PyDict);
  assert.equal(texts.size, 1); // ASCII py2 str 'a' == u'a'
  assert.equal(texts.get("a"), 2);
  const tuples = ok(b("}(K", 1, "K", 2, 0x86, "N", "K", 1, "K", 2, 0x86, "I1\nu."));
  assert.ok(tuples instanceof PyDict);
  assert.equal(tuples.get(PyTuple.of(1, 2)), 1);
});

Deno.test("decodePickle() refuses unhashable dict keys and set members", () => {
  malformed(b("}]Ns."));
  malformed(b("}(]K", 1, "u."));
  malformed(b("}]", 0x85, "Ns.")); // a tuple holding a list
  malformed(b("(]NNd."));
  malformed(b(0x8f, "(]", 0x90, "."));
  malformed(b("(}", 0x91, "."));
});

Deno.test("decodePickle() decodes sets and frozensets, deduplicating by Python equality", () => {
  const s = ok(b(0x8f, "(K", 1, 0x88, "K", 2, 0x90, "."));
  assert.ok(s instanceof PySet && !s.frozen);
  assert.equal(s.size, 2);
  const f = ok(b("(K", 1, "K", 1, 0x91, "."));
  assert.ok(f instanceof PySet && f.frozen);
  assert.equal(f.size, 1);
  const nested = ok(b(0x8f, "((K", 1, 0x91, 0x90, "."));
  assert.ok(nested instanceof PySet);
  assert.equal(desc(nested), '["set",[["frozenset",[["int","1"]]]]]');
  malformed(b("(K", 1, 0x91, "(K", 2, 0x90, ".")); // ADDITEMS to a frozenset
});

Deno.test("decodePickle() keeps memo values shared, including a list inside itself", () => {
  const shared = ok(b("((lp0\nI1\nag0\ntp1\n."));
  assert.ok(shared instanceof PyTuple);
  assert.ok(Array.isArray(shared.items[0]));
  assert.equal(shared.items[0], shared.items[1]);
  const rec = ok(b("(lp0\ng0\na."));
  assert.ok(Array.isArray(rec) && rec[0] === rec);
  const memoize = ok(b(0x80, 4, "]", 0x94, "h", 0, "a."));
  assert.ok(Array.isArray(memoize) && memoize[0] === memoize);
  const long = ok(b("]r", u32(70000), "j", u32(70000), "a."));
  assert.ok(Array.isArray(long) && long[0] === long);
});

Deno.test("decodePickle() runs POP, POP_MARK and DUP like Python", () => {
  assert.equal(ok(b("K", 1, "K", 2, "0.")), 1);
  assert.equal(ok(b("K", 1, "(0.")), 1); // POP of a mark drops the mark
  assert.equal(ok(b("K", 1, "(K", 2, "K", 3, "1.")), 1);
  assert.equal(desc(ok(b("K", 1, "2", 0x86, "."))), '["tuple",[["int","1"],["int","1"]]]');
  // Python's recursive-tuple form: POP_MARK then GET of the tuple the items built.
  const t = ok(b(0x80, 2, "(]q", 0, "(h", 0, "K", 7, "tq", 1, "aK", 7, "1h", 1, "."));
  assert.ok(t instanceof PyTuple && Array.isArray(t.items[0]));
  assert.equal(t.items[0][0], t);
});

Deno.test("decodePickle() skips FRAME and checks only that it fits in the input", () => {
  assert.equal(ok(b(0x80, 4, 0x95, u64(3), "K", 5, ".")), 5);
  assert.equal(ok(b(0x80, 4, 0x95, u64(0), 0x95, u64(3), "K", 5, ".")), 5);
  assert.equal(fail(b(0x80, 4, 0x95, u64(10), "K", 5, ".")).kind, "truncated");
  limit(b(0x80, 4, 0x95, u64(2 ** 62), "K", 5, "."), "maxInputBytes");
});

Deno.test("decodePickle() ignores bytes after STOP and reports consumed", () => {
  const r = decodePickle(b("I5\n.garbage\xff"));
  assert.ok(r.ok);
  assert.equal(r.consumed, 4);
  assert.equal(r.value, 5);
});

Deno.test("decodePickle() reports the protocol a pickle needs", () => {
  const proto = (bytes: Uint8Array) => {
    const r = decodePickle(bytes);
    assert.ok(r.ok);
    return r.protocol;
  };
  assert.equal(proto(b("I5\n.")), 0);
  assert.equal(proto(b("K", 5, ".")), 1);
  assert.equal(proto(b(0x80, 2, "K", 5, ".")), 2);
  assert.equal(proto(b(0x80, 5, "K", 5, ".")), 5);
  assert.equal(proto(b(0x8c, 1, "a.")), 4);
  assert.equal(proto(b("C", 1, "a.")), 3);
});

// ---------------------------------------------------------------------------------------------
// Refusals

Deno.test("decodePickle() refuses every unsafe opcode before reading its argument", () => {
  for (const name of UNSAFE_OPCODES) {
    const error = fail(b(Op[name]));
    assert.equal(error.kind, "unsafe-opcode", name);
    assert.ok(error.kind === "unsafe-opcode" && error.opcode === name);
    assert.equal(error.offset, 0);
    const later = fail(b("(I1\n", Op[name], "garbage"));
    assert.ok(later.kind === "unsafe-opcode" && later.offset === 4, name);
  }
});

Deno.test("decodePickle() refuses every byte that is no opcode", () => {
  const known = new Set<number>(Object.values(Op));
  let unknown = 0;
  for (let byte = 0; byte < 256; byte++) {
    if (known.has(byte)) continue;
    const error = fail(b(byte, "."));
    assert.ok(error.kind === "unknown-opcode" && error.byte === byte, error.message);
    unknown++;
  }
  assert.equal(unknown, 256 - 68);
  const error = fail(b("I1\n", 0xff));
  assert.equal(error.offset, 3);
});

Deno.test("decodePickle() with maxProtocol 2 refuses what Python 2 cannot load", () => {
  const p2 = { maxProtocol: 2 };
  assert.equal(ok(b(0x80, 2, "K", 5, "."), p2), 5);
  malformed(b(0x80, 3, "K", 5, "."), p2);
  malformed(b(0x80, 4, "K", 5, "."), p2);
  const error = fail(b(0x8c, 1, "a."), p2);
  assert.ok(error.kind === "unknown-opcode" && error.byte === 0x8c);
  assert.equal(fail(b("C", 1, "a."), p2).kind, "unknown-opcode");
  malformed(b(0x80, 6, "K", 5, "."));
});

Deno.test("decodePickle() refuses structural errors as malformed", () => {
  malformed(b("."), {}); // STOP on an empty stack
  malformed(b("N(.")); // STOP on a mark
  malformed(b("Na.")); // APPEND without a list
  malformed(b(")Na.")); // APPEND to a tuple
  malformed(b("]NNs.")); // SETITEM on a list
  malformed(b("}N(e.")); // APPENDS to a dict
  malformed(b("}(Nu.")); // odd SETITEMS
  malformed(b("(NNNd.")); // odd DICT
  malformed(b("t.")); // no mark
  malformed(b("1.")); // POP_MARK without a mark
  malformed(b("0.")); // POP of nothing
  malformed(b("2.")); // DUP of nothing
  malformed(b("N(2.")); // DUP below the mark
  malformed(b("N(", 0x85, ".")); // TUPLE1 below the mark
  malformed(b("](Na.")); // APPEND's list below the mark
  malformed(b("p0\nN.")); // PUT of nothing
  malformed(b("g0\n.")); // GET of a missing entry
  malformed(b("h", 3, "."));
  malformed(b("j", 0xff, 0xff, 0xff, 0xff, "."));
  malformed(b("Np0\ng00\n.")); // Python 2 keys the memo by the line: "0" is not "00"
  malformed(b("N", 0x80, 2, ".")); // PROTO not first
  malformed(b(0x80, 2, 0x80, 2, "N."));
  malformed(b(0x8b, 0xff, 0xff, 0xff, 0xff, ".")); // negative LONG4 length
  malformed(b("T", 0xff, 0xff, 0xff, 0xff, ".")); // negative BINSTRING length
});

Deno.test("decodePickle() refuses INT and LONG lines Python 2's int() and long() refuse", () => {
  for (
    const bad of [
      "I\n.",
      "I0x10\n.",
      "I1_000\n.",
      "I5LL\n.",
      "L\n.",
      "LL\n.",
      "L5LL\n.",
      "L08\n.",
      "I--1\n.",
    ]
  ) {
    malformed(b(bad));
  }
  // More cases, with Python 2's and Python 3's readings, in pickle_py2_text_test.ts.
});

Deno.test("decodePickle() STOP returns the top of the stack like Python 2, and PUT/GET keys are lines", () => {
  assert.equal(ok(b("NN.")), null);
  assert.equal(ok(b("(NI7\n.")), 7);
  assert.equal(ok(b("Np-1\n0g-1\n.")), null);
  assert.equal(ok(b("Np\n.")), null);
  assert.equal(ok(b("Np99999999999\n.")), null);
  assert.equal(ok(b("I4\nr", 0, 0, 0, 0x80, "0g-2147483648\n.")), 4);
});

// ---------------------------------------------------------------------------------------------
// Limits

Deno.test("decodePickle() stops at maxInputBytes, before and after the end of the input", () => {
  assert.equal(ok(b("I5\n."), { maxInputBytes: 4 }), 5);
  limit(b("I5\n."), "maxInputBytes", { maxInputBytes: 3 });
  limit(b("I5\n"), "maxInputBytes", { maxInputBytes: 3 }); // full to the cap: more cannot help
  assert.equal(fail(b("I5\n"), { maxInputBytes: 4 }).kind, "truncated");
  limit(b("I55555"), "maxInputBytes", { maxInputBytes: 6 });
  assert.equal(ok(b("I5\n.", "x".repeat(2000)), { maxInputBytes: 1024 }), 5);
  limit(b("X", u32(2000), "y".repeat(2000), "."), "maxInputBytes", { maxInputBytes: 1024 });
});

Deno.test("decodePickle() checks length fields before reading or allocating", () => {
  limit(b("X", 0xff, 0xff, 0xff, 0xff), "maxStringBytes");
  limit(b(0x8d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "maxStringBytes");
  limit(b(0x8e, u64(2 ** 40)), "maxStringBytes");
  limit(b(0x96, u64(2 ** 53 + 2)), "maxStringBytes");
  limit(b("B", u32(1 << 30), "x"), "maxInputBytes", { maxStringBytes: 1 << 30 });
  limit(b("C", 10, "hi"), "maxStringBytes", { maxStringBytes: 5 });
  assert.equal(fail(b("C", 10, "hi")).kind, "truncated");
  limit(b(0x8b, u32(0x7fffffff)), "maxLongBytes");
  limit(b(0x8a, 65, "x"), "maxLongBytes");
  assert.equal(fail(b(0x8a, 64, "x")).kind, "truncated");
  limit(b(`S'${"a".repeat(20)}'\n.`), "maxStringBytes", { maxStringBytes: 10 });
  limit(b(`V${"a".repeat(20)}\n.`), "maxStringBytes", { maxStringBytes: 10 });
  assert.equal(ok(b(`V${"a".repeat(10)}\n.`), { maxStringBytes: 10 }), "a".repeat(10));
});

Deno.test("decodePickle() limits the digits of INT and LONG lines", () => {
  const digits = "9".repeat(160);
  assert.equal(ok(b(`I${digits}\n.`)), BigInt(digits));
  assert.equal(ok(b(`L-${digits}L\n.`)), -BigInt(digits));
  limit(b(`I${digits}9\n.`), "maxIntDigits");
  limit(b(`L${digits}9L\n.`), "maxIntDigits");
  limit(b(`I${digits}99999`), "maxIntDigits"); // no newline needed to know
  assert.equal(fail(b(`I${digits}`)).kind, "truncated");
});

Deno.test("decodePickle() limits nesting depth with marks, containers and aliasing", () => {
  assert.equal(fail(b("(".repeat(32))).kind, "truncated");
  limit(b("(".repeat(33)), "maxDepth");
  const chain = (n: number) => b("N", ...Array(n).fill(0x85), ".");
  assert.ok(ok(chain(32)) instanceof PyTuple);
  limit(chain(33), "maxDepth");
  limit(chain(11), "maxDepth", { maxDepth: 10 });
  const lists = (n: number) => b("]".repeat(n), ...Array(n - 1).fill(0x61), ".");
  assert.ok(Array.isArray(ok(lists(32))));
  limit(lists(33), "maxDepth");
  // Fill lists after storing them: heights seen while decoding stay at 2; the result is 40 deep.
  const parts: (string | number)[] = ["]q", 0, "]q", 1, "a"];
  for (let i = 1; i < 40; i++) parts.push("h", i, "]q", i + 1, "a0");
  parts.push(".");
  limit(b(...parts), "maxDepth");
  const deep = ok(b(...parts), { maxDepth: 41 });
  assert.throws(() => describePyValue(deep, { maxDepth: 30 }), RangeError);
});

Deno.test("decodePickle() limits stack height, memo entries, container and total items", () => {
  limit(b("N".repeat(4097)), "maxStackHeight");
  assert.equal(fail(b("N".repeat(4096))).kind, "truncated");
  const puts = (n: number) =>
    b("N", ...Array.from({ length: n }, (_, i) => ["r", u32(i)]).flat(), ".");
  assert.equal(ok(puts(4096)), null);
  limit(puts(4097), "maxMemoEntries");
  assert.equal(ok(b("N", ..."q\x05".repeat(5000), ".")), null); // same index again: one entry
  const appends = (n: number) => b("]", ..."Na".repeat(n), ".");
  assert.equal((ok(appends(4096)) as PyValue[]).length, 4096);
  limit(appends(4097), "maxContainerItems");
  limit(b("]", "(", "N".repeat(4097), "e."), "maxContainerItems", { maxStackHeight: 5000 });
  // Shared lists repeated through GET still count once per insertion.
  const many = b("]q", 0, "(", "h\x00".repeat(3000), "e(", "h\x00".repeat(3000), "e.");
  const roomy = { maxContainerItems: 10000, maxStackHeight: 10000 };
  assert.equal((ok(many, roomy) as PyValue[]).length, 6000);
  limit(many, "maxTotalItems", { ...roomy, maxTotalItems: 5000 });
});

Deno.test("decodePickle() decodes a doubling DAG as a small graph and describePyValue() bounds its tree", () => {
  // t1 = (x, x), t2 = (t1, t1), ... 30 levels: a tiny graph for a 2^30-leaf tree.
  const parts: (string | number)[] = ["N"];
  for (let i = 0; i < 30; i++) parts.push("q", i, "h", i, 0x86);
  parts.push(".");
  const v = ok(b(...parts), { maxDepth: 40 });
  assert.ok(v instanceof PyTuple);
  assert.throws(() => describePyValue(v), RangeError);
});

Deno.test("decodePickle() throws only on misuse: bad options or input that is not bytes", () => {
  assert.throws(() => decodePickle("I5\n." as unknown as Uint8Array), TypeError);
  assert.throws(() => decodePickle(b("N."), { maxDepth: -1 }), RangeError);
  assert.throws(() => decodePickle(b("N."), { maxDepth: 1001 }), RangeError);
  assert.throws(() => decodePickle(b("N."), { maxInputBytes: 1.5 }), RangeError);
  assert.throws(() => decodePickle(b("N."), { maxIntDigits: 5000 }), RangeError);
  assert.throws(() => decodePickle(b("N."), { maxProtocol: 6 }), RangeError);
  assert.equal(fail(new Uint8Array(0)).kind, "truncated");
});

// ---------------------------------------------------------------------------------------------
// The §5.9 extension

Deno.test("decodePickle() with allowCodecsEncode accepts only _codecs.encode(latin-1 text, 'latin1')", () => {
  const on = { allowCodecsEncode: true };
  const x = (s: string) => b("X", u32(s.length), s);
  assert.deepEqual(ok(b("c_codecs\nencode\n", x(""), x("latin1"), 0x86, "R."), on), b());
  assert.deepEqual(
    ok(b("c_codecs\nencode\nq\x00(Vh\xffi\nVlatin1\ntR."), on),
    b("h", 0xff, "i"),
  );
  assert.deepEqual(
    ok(
      b(0x80, 4, 0x8c, 7, "_codecs", 0x8c, 6, "encode", 0x93, x("hi"), x("latin1"), 0x86, "R."),
      on,
    ),
    b("hi"),
  );
  assert.deepEqual(ok(b("c_codecs\nencode\np0\n0g0\n(Vhi\nVlatin1\ntR."), on), b("hi")); // via the memo
  const refused = (bytes: Uint8Array, opcode: string) => {
    const e = fail(bytes, on);
    assert.ok(e.kind === "unsafe-opcode" && e.opcode === opcode, e.message);
  };
  refused(b("cos\nsystem\n(S'echo'\ntR."), "GLOBAL");
  refused(b("c_codecs\ndecode\n."), "GLOBAL");
  refused(b("c_codecsX\nencode\n."), "GLOBAL");
  refused(b("c_codecs\nencode\n(V\\u20ac\nVlatin1\ntR."), "REDUCE"); // beyond latin-1
  refused(b("c_codecs\nencode\n", x("hi"), x("latin-1"), 0x86, "R."), "REDUCE");
  refused(b("c_codecs\nencode\n", "U", 2, "hi", x("latin1"), 0x86, "R."), "REDUCE"); // py2 str
  refused(b("c_codecs\nencode\n", x("hi"), x("latin1"), x("strict"), 0x87, "R."), "REDUCE");
  refused(b("c_codecs\nencode\n", x("hi"), "R."), "REDUCE");
  refused(b("N", x("hi"), x("latin1"), 0x86, "R."), "REDUCE");
  refused(b(x("os"), x("system"), 0x93, "."), "STACK_GLOBAL");
  refused(b("c_codecs\nencode\n", x("hi"), x("latin1"), 0x86, "b."), "BUILD");
  malformed(b("c_codecs\nencode\n."), on); // the marker as the result
  malformed(b("]c_codecs\nencode\na."), on); // stored in a list
  malformed(b("c_codecs\nencode\n", 0x85, "."), on); // stored in a tuple
  malformed(b("}c_codecs\nencode\nNs."), on); // as a dict key
  assert.equal(fail(b("c_codecs\nencode\n.")).kind, "unsafe-opcode"); // off by default
});

// ---------------------------------------------------------------------------------------------
// Streaming

Deno.test("decodePickle() says truncated for every proper prefix of a valid pickle", () => {
  const s = Py2Str.fromText;
  const values: PyValue[] = [
    PyTuple.of(s("REG_INIT"), "alice", s("127.0.0.1"), 9101, 5, PyTuple.of(2, s("and"))),
    [1, "two", new PyFloat(3.5), 2n ** 70n, null, true, new PyDict([["k", [PyTuple.of()]]])],
  ];
  const pickles = values.flatMap((v) => [encodePickle(v), encodePickle(v, { protocol: 2 })]);
  // deno-fmt-ignore
  pickles.push(b(0x80, 4, 0x95, u64(24), 0x8c, 3, "abc", 0x94, 0x8f, "(K", 1, 0x90, 0x96, u64(1), "z", 0x87, 0x94, "."));
  for (const bytes of pickles) {
    assert.ok(decodePickle(bytes).ok);
    for (let n = 0; n < bytes.length; n++) {
      const r: DecodePickleResult = decodePickle(bytes.subarray(0, n));
      assert.ok(
        !r.ok && r.error.kind === "truncated",
        `prefix ${n}: ${r.ok ? "ok" : r.error.message}`,
      );
    }
  }
});

Deno.test("decodePickle() decodes a request arriving byte by byte once STOP arrives", () => {
  const request = b("(S'REGISTER'\np0\nS'p2'\np1\nI9202\ntp2\n.");
  let received: Uint8Array = new Uint8Array(0);
  let result: DecodePickleResult | undefined;
  for (const byte of request) {
    received = b(received, byte);
    result = decodePickle(received, { maxInputBytes: 1024 });
    if (result.ok) break;
    assert.equal(result.error.kind, "truncated");
  }
  assert.ok(result?.ok && received.length === request.length);
  assert.equal(
    desc(result.value),
    desc(PyTuple.of(Py2Str.fromText("REGISTER"), Py2Str.fromText("p2"), 9202)),
  );
});
