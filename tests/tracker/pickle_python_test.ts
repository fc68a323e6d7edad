/**
 * The codec against the real thing, CPython 3 (`python3` on PATH; Python 2 is not available, so
 * protocol-0 byte parity with Python 2 is checked against the spec's vectors in
 * pickle_vectors_test.ts). One Python process per test:
 *
 * - decoding: Python builds random nested values from a fixed seed, pickles each at protocols 0
 *   to 5 and describes what `pickle.loads` gives back; our decoder must agree on every safe
 *   pickle, refuse every pickle with a call in it, and (with the §5.9 extension) decode exactly
 *   the `_codecs.encode` ones;
 * - encoding: we encode random values at protocols 0 and 2; `pickle.loads` must give the source
 *   value back, and `pickle.dumps` of that, at the same protocol, must give our exact bytes back
 *   (whenever Python can rebuild the same object graph: no py2 str, no one-character strings).
 */
import assert from "node:assert/strict";
import {
  decodePickle,
  type DecodePickleOptions,
  describePyValue,
  encodePickle,
  Py2Str,
  PyDict,
  PyFloat,
  PyTuple,
  type PyValue,
} from "../../src/tracker/pickle/mod.ts";
import { Prng } from "../../src/util/prng.ts";

/** Python's version of `describePyValue` (same tags, same reference numbering). */
const PY_DESCRIBE = String.raw`
import sys, json, base64, pickle, pickletools, random, struct

def describe(v, seen):
    t = type(v)
    if v is None: return ["none"]
    if t is bool: return ["bool", v]
    if t is int: return ["int", str(v)]
    if t is float: return ["float", repr(v)]
    if t is str: return ["str", v]
    if t is bytes: return ["bytes", v.hex()]
    if t is tuple: return ["tuple", [describe(x, seen) for x in v]]
    if t is frozenset: return ["frozenset", [describe(x, seen) for x in v]]
    if id(v) in seen: return ["ref", seen[id(v)]]
    seen[id(v)] = len(seen)
    if t is list: return ["list", [describe(x, seen) for x in v]]
    if t is dict: return ["dict", [[describe(k, seen), describe(x, seen)] for k, x in v.items()]]
    if t is set: return ["set", [describe(x, seen) for x in v]]
    if t is bytearray: return ["bytearray", bytes(v).hex()]
    raise TypeError(t)
`;

/** Random nested values, pickled at every protocol; prints one JSON object per line. */
const PY_CORPUS = PY_DESCRIBE + String.raw`
R = random.Random(457)
EDGE_INTS = [0, 1, 255, 256, 65535, 65536, -1, -256, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
             2**53, 2**53 + 1, -2**53 - 1, 2**63 - 1, 2**63, -2**63, 2**64, -2**64]
EDGE_FLOATS = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e16, 1e15, 1e-5, 1e-4,
               0.1, 5e-324, 1.7976931348623157e308, 123456789012345678.0, 3.25]
ALPHABETS = ["abcxyz", "AB 09", "\\\n\r\t\x00\x1a'\"", "\xe9\xff\x80\xa0", "\u20ac\u4e2d\ufeff\u0100",
             "\U0001f600\U0010ffff"]

def rand_int():
    k = R.random()
    if k < 0.3: return R.randint(-300, 70000)
    if k < 0.5: return R.choice(EDGE_INTS)
    if k < 0.8: return R.randint(-2**64, 2**64)
    v = R.getrandbits(R.randint(1, 500))
    return -v if R.random() < 0.5 else v

def rand_float():
    k = R.random()
    if k < 0.3: return R.choice(EDGE_FLOATS)
    if k < 0.7: return R.uniform(-1e6, 1e6)
    return struct.unpack("<d", R.getrandbits(64).to_bytes(8, "little"))[0]

def rand_str():
    if R.random() < 0.05: return "x" * R.choice([255, 256, 300])
    if R.random() < 0.05: return "\xe9" * 200
    alphabet = "".join(R.sample(ALPHABETS, R.randint(1, 3)))
    return "".join(R.choice(alphabet) for _ in range(R.randint(0, 12)))

def rand_bytes():
    n = R.choice([0, 1, 2, 5, 20, 255, 256, 300]) if R.random() < 0.3 else R.randint(0, 10)
    return R.randbytes(n)

def rand_hashable(depth):
    k = R.random()
    if depth > 0 and k < 0.15: return tuple(rand_hashable(depth - 1) for _ in range(R.randint(0, 3)))
    if depth > 0 and k < 0.2: return frozenset(rand_hashable(depth - 1) for _ in range(R.randint(0, 3)))
    return R.choice([rand_int, rand_float, rand_str, rand_bytes, lambda: None, lambda: R.random() < 0.5])()

def rand_value(depth, pool):
    k = R.random()
    if depth <= 0 or k < 0.35: return rand_hashable(1)
    n = R.randint(0, 6)
    if k < 0.45:
        v = [rand_value(depth - 1, pool) for _ in range(n)]
        if R.random() < 0.1: v.append(v)                       # a cycle
        pool.append(v)
        return v
    if k < 0.55: return tuple(rand_value(depth - 1, pool) for _ in range(n))
    if k < 0.65:
        v = {rand_hashable(2): rand_value(depth - 1, pool) for _ in range(n)}
        if R.random() < 0.1: v["self"] = v
        pool.append(v)
        return v
    if k < 0.7: return set(rand_hashable(2) for _ in range(n))
    if k < 0.73: return frozenset(rand_hashable(2) for _ in range(n))
    if k < 0.76: return bytearray(rand_bytes())
    if k < 0.86 and pool: return R.choice(pool)                 # a shared reference
    if k < 0.875: return list(range(R.choice([999, 1000, 1001, 2005])))
    if k < 0.88: return {i: str(i) for i in range(1001)}
    return rand_value(depth - 1, pool)

UNSAFE = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX",
          "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER", "READONLY_BUFFER"}
# Python pickles these with a call below the protocol given (spec 5.6, 6).
NEEDS = {"bytes": 3, "emptybytes": 3, "set": 4, "frozenset": 4, "bytearray": 5}

def kinds(v, seen, out):
    if id(v) in seen: return out
    seen.add(id(v))
    out.add("emptybytes" if v == b"" and type(v) is bytes else type(v).__name__)
    if type(v) is dict:
        for k, x in v.items(): kinds(k, seen, out); kinds(x, seen, out)
    elif type(v) in (list, tuple, set, frozenset):
        for x in v: kinds(x, seen, out)
    return out

def calls_by_genops(data):
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    names = {name for name, _ in ops if name in UNSAFE}
    codecs_only = bool(names) and names <= {"GLOBAL", "REDUCE"} and all(
        arg == "_codecs encode" for name, arg in ops if name == "GLOBAL")
    return bool(names), codecs_only

for i in range(int(sys.argv[1])):
    value = rand_value(5, [])
    present = kinds(value, set(), set())
    for proto in range(6):
        data = pickle.dumps(value, protocol=proto)
        offending = {k for k in present if NEEDS.get(k, 0) > proto}
        unsafe, codecs_only = bool(offending), offending == {"bytes"}
        if len(data) < 4096:  # check the prediction against the opcodes (genops is slow)
            assert (unsafe, codecs_only) == calls_by_genops(data), (value, proto)
        loaded = pickle.loads(data)
        print(json.dumps({"id": i, "proto": proto, "b64": base64.b64encode(data).decode(),
                          "unsafe": unsafe, "codecsOnly": codecs_only,
                          "desc": describe(loaded, {})}))
`;

/** Loads each pickle it is given and describes the value; also re-pickles it. */
const PY_LOAD = PY_DESCRIBE + String.raw`
out = []
for item in json.load(sys.stdin):
    value = pickle.loads(base64.b64decode(item["b64"]), encoding=item["encoding"])
    out.append({"desc": describe(value, {}), "redump": pickle.dumps(value, item["proto"]).hex()})
sys.stdout.write(json.dumps(out))
`;

async function python(script: string, args: string[], input?: string): Promise<string> {
  const child = new Deno.Command("python3", {
    args: ["-c", script, ...args],
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const errText = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `python3 failed: ${errText}`);
  return new TextDecoder().decode(stdout);
}

function fromB64(b64: string): Uint8Array {
  const text = atob(b64);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
const toB64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const toHex = (bytes: Uint8Array): string =>
  [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Sorts set members the way `describePyValue` does (Python iterates sets in hash order). */
// deno-lint-ignore no-explicit-any
function normalizeSets(d: any): any {
  if (!Array.isArray(d)) return d;
  const [tag, body] = d;
  if (tag === "set" || tag === "frozenset") {
    return [
      tag,
      body.map(normalizeSets).map((x: unknown) => [JSON.stringify(x), x] as const)
        .sort(([a]: [string], [b]: [string]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, x]: [string, unknown]) => x),
    ];
  }
  if (tag === "tuple" || tag === "list") return [tag, body.map(normalizeSets)];
  if (tag === "dict") {
    return [tag, body.map(([k, v]: unknown[]) => [normalizeSets(k), normalizeSets(v)])];
  }
  return d;
}

const GENEROUS: DecodePickleOptions = {
  maxInputBytes: 1 << 22,
  maxStringBytes: 1 << 22,
  maxDepth: 64,
  maxStackHeight: 1 << 16,
  maxMemoEntries: 1 << 16,
  maxContainerItems: 1 << 16,
  maxTotalItems: 1 << 20,
  maxLongBytes: 1024,
  maxIntDigits: 4300,
};

Deno.test("decodePickle() agrees with Python's pickle.loads on a random corpus of protocols 0-5", async () => {
  const lines = (await python(PY_CORPUS, ["160"])).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 160 * 6);
  const counts = { safe: 0, unsafe: 0, codecs: 0 };
  const protocols = new Set<number>();
  for (const entry of lines) {
    const what = `value ${entry.id} at protocol ${entry.proto}`;
    const bytes = fromB64(entry.b64);
    const want = JSON.stringify(normalizeSets(entry.desc));
    const r = decodePickle(bytes, GENEROUS);
    if (entry.unsafe) {
      assert.ok(!r.ok, `${what} decoded despite a call`);
      assert.equal(r.error.kind, "unsafe-opcode", `${what}: ${r.error.message}`);
      counts.unsafe++;
    } else {
      assert.ok(r.ok, `${what}: ${r.ok ? "" : r.error.message}`);
      assert.equal(r.consumed, bytes.length, what);
      assert.equal(JSON.stringify(describePyValue(r.value)), want, what);
      if (entry.proto >= 2) assert.equal(r.protocol, entry.proto, what);
      protocols.add(entry.proto);
      counts.safe++;
    }
    if (entry.codecsOnly) {
      const c = decodePickle(bytes, { ...GENEROUS, allowCodecsEncode: true });
      assert.ok(c.ok, `${what} with allowCodecsEncode: ${c.ok ? "" : c.error.message}`);
      assert.equal(JSON.stringify(describePyValue(c.value)), want, what);
      counts.codecs++;
    }
  }
  assert.deepEqual([...protocols].sort(), [0, 1, 2, 3, 4, 5]);
  assert.ok(counts.safe > 500 && counts.unsafe > 200 && counts.codecs > 20, JSON.stringify(counts));
});

// ---------------------------------------------------------------------------------------------
// Random values of the encodable model

const ALPHABETS = [
  "abcxyz",
  "AB 09",
  "\\\n\r\t\0\x1a'\"",
  "\xe9\xff\x80",
  "\u20ac\u4e2d\ufeff",
  "\u{1f600}\u{10ffff}",
];
const EDGE_INTS: (number | bigint)[] = [
  0,
  1,
  255,
  256,
  65535,
  65536,
  -1,
  -256,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  -(2 ** 31) - 1,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  2n ** 53n,
  2n ** 63n,
  -(2n ** 63n),
  2n ** 64n,
  -(2n ** 64n) - 1n,
  2n ** 2040n,
  -(2n ** 2047n) - 12345n,
];
const EDGE_FLOATS = [
  0,
  -0,
  Infinity,
  -Infinity,
  NaN,
  1e16,
  1e15,
  1e-5,
  1e-4,
  0.1,
  5e-324,
  3.25,
  1e22,
  2 ** 60,
];

class Gen {
  readonly shared: PyValue[] = [];
  constructor(readonly prng: Prng) {}

  int(): number | bigint {
    const p = this.prng, k = p.float();
    if (k < 0.4) return p.int(-1000, 100000);
    if (k < 0.7) return p.pick(EDGE_INTS);
    const n = BigInt("0x" + toHex(p.bytes(p.int(1, 40)))) * (p.chance(0.5) ? -1n : 1n);
    return n >= -(2n ** 53n) + 1n && n <= 2n ** 53n - 1n ? Number(n) : n;
  }

  float(): PyFloat {
    const p = this.prng;
    if (p.chance(0.3)) return new PyFloat(p.pick(EDGE_FLOATS));
    if (p.chance(0.5)) return new PyFloat((p.float() - 0.5) * 2e6);
    return new PyFloat(new DataView(p.bytes(8).buffer).getFloat64(0));
  }

  text(minLength = 0): string {
    const p = this.prng;
    if (p.chance(0.05)) return "y".repeat(p.pick([255, 256, 300]));
    const alphabet = [...p.shuffle([...ALPHABETS]).slice(0, p.int(1, 3)).join("")];
    let out = "";
    for (let n = p.int(minLength, 10); n > 0; n--) out += p.pick(alphabet);
    return out;
  }

  py2str(): Py2Str {
    const p = this.prng;
    return new Py2Str(p.bytes(p.chance(0.05) ? 300 : p.int(0, 10)));
  }

  hashable(depth: number, minText: number): PyValue {
    const p = this.prng, k = p.float();
    if (depth > 0 && k < 0.15) {
      return new PyTuple(
        Array.from({ length: p.int(0, 3) }, () => this.hashable(depth - 1, minText)),
      );
    }
    const kinds = [
      () => this.int(),
      () => this.float(),
      () => this.text(minText),
      () => this.py2str(),
      () => null,
      () => p.chance(0.5),
    ];
    return p.pick(kinds)();
  }

  value(depth: number, minText: number): PyValue {
    const p = this.prng, k = p.float();
    if (depth <= 0 || k < 0.35) return this.hashable(1, minText);
    const n = p.int(0, 6);
    const items = () => Array.from({ length: n }, () => this.value(depth - 1, minText));
    if (k < 0.5) {
      const list = items();
      if (p.chance(0.1)) list.push(list); // a cycle
      this.shared.push(list);
      if (p.chance(0.1)) {
        const tuple = PyTuple.of(list, 7); // a cycle through a tuple
        list.push(tuple);
        if (p.chance(0.5)) return tuple; // met before the list: Python's POP/GET dance
      }
      return list;
    }
    if (k < 0.65) {
      const tuple = new PyTuple(items());
      this.shared.push(tuple);
      return tuple;
    }
    if (k < 0.78) {
      const dict = new PyDict();
      for (let i = 0; i < n; i++) {
        dict.set(this.hashable(2, minText), this.value(depth - 1, minText));
      }
      if (p.chance(0.1)) dict.set("self", dict);
      this.shared.push(dict);
      return dict;
    }
    if (k < 0.9 && this.shared.length > 0) return p.pick(this.shared); // a shared reference
    if (k < 0.93) return Array.from({ length: p.pick([999, 1000, 1001, 2005]) }, (_, i) => i);
    if (k < 0.95) {
      return new PyDict(Array.from({ length: 1001 }, (_, i) => [i, String(i)] as const));
    }
    return this.value(depth - 1, minText);
  }
}

/** Python can rebuild the same graph (and so re-pickle to the same bytes) when these hold. */
function comparable(value: PyValue, protocol: 0 | 2): boolean {
  const text = JSON.stringify(describePyValue(value));
  if (text.includes('["py2str",')) return false; // loads as bytes, which re-pickles differently
  if (protocol === 0 && /\\u0000|\\r|\\u001a/.test(text)) return false; // Python 3 escapes them
  // CPython shares one object for "" and each 1-character string: they re-pickle as memo GETs.
  return !/\["str","(?:[^"\\]|\\u[0-9a-f]{4}|\\.|[\ud800-\udbff][\udc00-\udfff])?"\]/.test(text);
}

Deno.test("encodePickle() output loads in Python as the source value, and re-pickles to the same bytes", async () => {
  const root = Prng.seeded(457);
  const cases: { value: PyValue; protocol: 0 | 2; bytes: Uint8Array }[] = [];
  for (let i = 0; i < 300; i++) {
    const gen = new Gen(root.fork());
    const value = gen.value(5, i % 2 === 0 ? 0 : 2);
    for (const protocol of [0, 2] as const) {
      cases.push({ value, protocol, bytes: encodePickle(value, { protocol }) });
    }
  }
  const request = cases.map((c) => ({ b64: toB64(c.bytes), proto: c.protocol, encoding: "bytes" }));
  const answers = JSON.parse(await python(PY_LOAD, [], JSON.stringify(request)));
  assert.equal(answers.length, cases.length);
  let exact = 0;
  cases.forEach((c, i) => {
    const what = `case ${i >> 1} at protocol ${c.protocol}`;
    const ours = JSON.stringify(describePyValue(c.value)).replaceAll('["py2str",', '["bytes",');
    assert.equal(JSON.stringify(normalizeSets(answers[i].desc)), ours, what);
    if (comparable(c.value, c.protocol)) {
      assert.equal(answers[i].redump, toHex(c.bytes), what);
      exact++;
    }
  });
  assert.ok(exact > 150, `only ${exact} byte-exact comparisons`);
});

Deno.test("encodePickle() py2 strs load in Python 3 as str when ASCII, like the tracker's replies", async () => {
  const s = Py2Str.fromText;
  const values: PyValue[] = [
    PyTuple.of(s("REG_INIT"), "alice", s("127.0.0.1"), 9101, 5, PyTuple.of(2, s("and"))),
    PyTuple.of(s("[Tracker]"), s("Bad request")),
    PyTuple.of(s("QUERY_RESULT"), PyTuple.of(null, null)),
    s("Bad request"),
    PyTuple.of(s("PING"), s("Sun Nov 22 01:24:25 2026")),
    PyTuple.of(s("it's"), s("a'b\"c"), s("tab\there\n"), s("back\\slash")),
  ];
  const cases = values.flatMap((value) => [0, 2].map((protocol) => ({ value, protocol })));
  const request = cases.map((c) => ({
    b64: toB64(encodePickle(c.value, { protocol: c.protocol as 0 | 2 })),
    proto: c.protocol,
    encoding: "ASCII",
  }));
  const answers = JSON.parse(await python(PY_LOAD, [], JSON.stringify(request)));
  cases.forEach((c, i) => {
    const ours = JSON.stringify(describePyValue(c.value)).replace(
      /\["py2str","([0-9a-f]*)"\]/g,
      (_, hex: string) =>
        JSON.stringify([
          "str",
          String.fromCharCode(...(hex.match(/../g) ?? []).map((h) => parseInt(h, 16))),
        ]),
    );
    assert.equal(
      JSON.stringify(answers[i].desc),
      ours,
      `value ${i >> 1} at protocol ${c.protocol}`,
    );
  });
});
