/**
 * The shared test vectors (spec §6, copied to tests/fixtures/pickle.jsonl): every safe vector
 * decodes to its `python` value, every unsafe one is refused, the §5.9 extension decodes exactly
 * the `_codecs.encode` vectors, and the encoders reproduce every protocol-0/2 vector byte for byte.
 */
import assert from "node:assert/strict";
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

interface Vector {
  name: string;
  python: string;
  protocol: number;
  hex: string;
  safe: boolean;
}

const VECTORS: Vector[] = Deno.readTextFileSync(
  new URL("../fixtures/pickle.jsonl", import.meta.url),
).split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));

const fromHex = (hex: string): Uint8Array =>
  Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (bytes: Uint8Array): string =>
  [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** Vectors whose only call is `_codecs.encode(text, 'latin1')` (spec §5.9). */
const CODECS_VECTORS = new Set(
  ["tuple_int_bytes", "bytes_long300", "bytes_high"].flatMap((n) =>
    [0, 1, 2].map((p) => `py3.${n}.p${p}`)
  ),
);

const LARGE = { maxInputBytes: 65536 };

// ---------------------------------------------------------------------------------------------
// A small evaluator for the `python` column: literals, tuples, lists, dicts, sets, unary minus,
// `+ - * **` on ints, string repetition, frozenset(), bytearray(), and the few expressions below.

const SPECIAL: Record<string, () => PyValue> = {
  "(lambda x: (x, x))([1, 2])": () => {
    const x = [1, 2];
    return PyTuple.of(x, x);
  },
  "(lambda l: (l.append(l), l)[1])([])": () => {
    const l: PyValue[] = [];
    l.push(l);
    return l;
  },
  "list(range(1001))": () => Array.from({ length: 1001 }, (_, i) => i),
  "{i: i for i in range(1001)}": () =>
    new PyDict(Array.from({ length: 1001 }, (_, i) => [i, i] as const)),
};

type Parsed = PyValue | { int: bigint };

function evalPython(src: string, dialect: "py2" | "py3"): PyValue {
  const special = SPECIAL[src];
  if (special) return special();
  let i = 0;
  const ws = () => {
    while (src[i] === " ") i++;
  };
  const eat = (s: string): boolean => {
    ws();
    if (src.startsWith(s, i)) {
      i += s.length;
      return true;
    }
    return false;
  };
  const expect = (s: string) => assert.ok(eat(s), `expected ${s} at ${i} in ${src}`);
  const norm = (v: Parsed): PyValue => {
    if (v !== null && typeof v === "object" && "int" in v) {
      const n = v.int;
      return n >= -(2n ** 53n) + 1n && n <= 2n ** 53n - 1n ? Number(n) : n;
    }
    return v as PyValue;
  };
  const int = (v: Parsed): bigint => {
    assert.ok(v !== null && typeof v === "object" && "int" in v, `not an int in ${src}`);
    return (v as { int: bigint }).int;
  };
  const str = (quote: string, prefix: string): PyValue => {
    let out = "";
    while (src[i] !== quote) {
      let c = src[i++];
      if (c === "\\") {
        const e = src[i++];
        const simple: Record<string, string> = {
          "\\": "\\",
          "'": "'",
          '"': '"',
          n: "\n",
          t: "\t",
          r: "\r",
          "0": "\0",
        };
        if (e in simple) c = simple[e];
        else if (e === "x" || e === "u" || e === "U") {
          const n = e === "x" ? 2 : e === "u" ? 4 : 8;
          c = String.fromCodePoint(parseInt(src.slice(i, i + n), 16));
          i += n;
        } else throw new Error(`escape \\${e} in ${src}`);
      }
      out += c;
    }
    i++;
    if (prefix === "b") return Py2Str.fromText(out).bytes;
    if (prefix === "u" || dialect === "py3") return out;
    return Py2Str.fromText(out);
  };
  const seq = (close: string): Parsed[] => {
    const items: Parsed[] = [];
    while (!eat(close)) {
      items.push(expr());
      if (!eat(",")) {
        expect(close);
        break;
      }
    }
    return items;
  };
  const atom = (): Parsed => {
    ws();
    const m = /^([ub]?)(['"])/.exec(src.slice(i));
    if (m) {
      i += m[0].length;
      return str(m[2], m[1]);
    }
    const num = /^(\d+\.\d+|\d+)(L?)/.exec(src.slice(i));
    if (num) {
      i += num[0].length;
      return num[1].includes(".") ? new PyFloat(Number(num[1])) : { int: BigInt(num[1]) };
    }
    for (const [word, value] of [["None", null], ["True", true], ["False", false]] as const) {
      if (eat(word)) return value;
    }
    if (eat("frozenset(")) {
      const inner = expr() as PySet;
      expect(")");
      return new PySet(inner, { frozen: true });
    }
    if (eat("bytearray(")) {
      const inner = expr() as Uint8Array;
      expect(")");
      return new PyByteArray(inner);
    }
    if (eat("(")) {
      const start = i;
      const items = seq(")");
      const trailingComma = /,\s*\)$/.test(src.slice(start, i));
      if (items.length === 1 && !trailingComma) return items[0];
      return new PyTuple(items.map(norm));
    }
    if (eat("[")) return seq("]").map(norm);
    if (eat("{")) {
      if (eat("}")) return new PyDict();
      const first = expr();
      if (eat(":")) {
        const entries: [PyValue, PyValue][] = [[norm(first), norm(expr())]];
        while (eat(",")) {
          if (eat("}")) return new PyDict(entries);
          const k = expr();
          expect(":");
          entries.push([norm(k), norm(expr())]);
        }
        expect("}");
        return new PyDict(entries);
      }
      const members = [norm(first)];
      while (eat(",")) {
        if (eat("}")) return new PySet(members);
        members.push(norm(expr()));
      }
      expect("}");
      return new PySet(members);
    }
    throw new Error(`cannot parse ${src} at ${i}`);
  };
  const power = (): Parsed => {
    const base = atom();
    if (eat("**")) return { int: int(base) ** int(unary()) };
    return base;
  };
  const unary = (): Parsed => {
    if (eat("-")) {
      const v = unary();
      if (v instanceof PyFloat) return new PyFloat(-v.value);
      return { int: -int(v) };
    }
    return power();
  };
  const term = (): Parsed => {
    let v = unary();
    while (eat("*")) {
      const n = Number(int(unary()));
      if (typeof v === "string") v = v.repeat(n);
      else if (v instanceof Uint8Array) {
        const one: Uint8Array = v;
        v = Uint8Array.from({ length: one.length * n }, (_, k) => one[k % one.length]);
      } else throw new Error(`cannot multiply in ${src}`);
    }
    return v;
  };
  const expr = (): Parsed => {
    let v = term();
    for (;;) {
      if (eat("+")) v = { int: int(v) + int(term()) };
      else if (eat("-")) v = { int: int(v) - int(term()) };
      else return v;
    }
  };
  const value = norm(expr());
  ws();
  assert.equal(i, src.length, `trailing text in ${src}`);
  return value;
}

function expected(v: Vector): PyValue {
  return evalPython(v.python, v.name.startsWith("py2.") ? "py2" : "py3");
}

// ---------------------------------------------------------------------------------------------

Deno.test("tests/fixtures/pickle.jsonl holds the spec's vectors", () => {
  assert.ok(VECTORS.length >= 350);
  assert.ok(VECTORS.some((v) => v.name.startsWith("hand.")));
  assert.ok(VECTORS.some((v) => v.name === "py2.p2.reg_init.duplicate_handle"));
});

Deno.test("decodePickle() decodes every safe vector to its python value", () => {
  let checked = 0;
  for (const v of VECTORS.filter((v) => v.safe)) {
    const bytes = fromHex(v.hex);
    const r = decodePickle(bytes, LARGE);
    assert.ok(r.ok, `${v.name}: ${r.ok ? "" : r.error.message}`);
    assert.equal(r.consumed, bytes.length, v.name);
    assert.deepEqual(describePyValue(r.value), describePyValue(expected(v)), v.name);
    checked++;
  }
  assert.ok(checked > 280);
});

Deno.test("decodePickle() reports the protocol each safe vector needs", () => {
  for (const v of VECTORS.filter((v) => v.safe)) {
    const r = decodePickle(fromHex(v.hex), LARGE);
    assert.ok(r.ok);
    // Python 3 writes protocol-1 style opcodes at protocol 1 only; higher PROTO headers win.
    if (v.name.startsWith("py3.") && v.protocol !== 1) assert.equal(r.protocol, v.protocol, v.name);
    assert.ok(r.protocol <= Math.max(v.protocol, 2), v.name);
  }
});

Deno.test("decodePickle() refuses every unsafe vector with unsafe-opcode", () => {
  let checked = 0;
  for (const v of VECTORS.filter((v) => !v.safe)) {
    const r = decodePickle(fromHex(v.hex), LARGE);
    assert.ok(!r.ok, v.name);
    assert.equal(r.error.kind, "unsafe-opcode", `${v.name}: ${r.error.message}`);
    checked++;
  }
  assert.ok(checked >= 39);
});

Deno.test("decodePickle() names the refused opcode of each hand-made vector", () => {
  const want: Record<string, string> = {
    "hand.os_system.global_reduce": "GLOBAL",
    "hand.os_system.global_reduce_binary": "GLOBAL",
    "hand.os_system.stack_global": "STACK_GLOBAL",
    "hand.os_system.inst": "INST",
    "hand.os_system.obj": "GLOBAL",
    "hand.builtin_len_index": "GLOBAL",
    "hand.newobj": "GLOBAL",
    "hand.ext1": "EXT1",
    "hand.persid": "PERSID",
    "hand.binpersid": "BINPERSID",
    "hand.next_buffer": "NEXT_BUFFER",
    "hand.readonly_buffer": "NEXT_BUFFER",
    "hand.codecs_encode_not_latin1": "GLOBAL",
    "hand.codecs_encode_three_args": "GLOBAL",
  };
  for (const v of VECTORS.filter((v) => v.name.startsWith("hand."))) {
    const r = decodePickle(fromHex(v.hex));
    assert.ok(!r.ok && r.error.kind === "unsafe-opcode", v.name);
    assert.equal(r.error.opcode, want[v.name], v.name);
    assert.match(r.error.message, new RegExp(want[v.name]));
  }
});

Deno.test("decodePickle() with allowCodecsEncode decodes exactly the _codecs.encode vectors", () => {
  const options = { ...LARGE, allowCodecsEncode: true };
  for (const v of VECTORS.filter((v) => !v.safe)) {
    const r = decodePickle(fromHex(v.hex), options);
    if (CODECS_VECTORS.has(v.name)) {
      assert.ok(r.ok, `${v.name}: ${r.ok ? "" : r.error.message}`);
      assert.deepEqual(describePyValue(r.value), describePyValue(expected(v)), v.name);
    } else {
      assert.ok(!r.ok, v.name);
      assert.equal(r.error.kind, "unsafe-opcode", `${v.name}: ${r.error.message}`);
    }
  }
});

Deno.test("decodePickle() keeps shared and recursive references of the vectors", () => {
  for (const p of [0, 1, 2, 3, 4, 5]) {
    const shared = decodePickle(
      fromHex(VECTORS.find((v) => v.name === `py3.shared_ref.p${p}`)!.hex),
    );
    assert.ok(shared.ok && shared.value instanceof PyTuple);
    assert.equal(shared.value.items[0], shared.value.items[1]);
    const rec = decodePickle(
      fromHex(VECTORS.find((v) => v.name === `py3.recursive_list.p${p}`)!.hex),
    );
    assert.ok(rec.ok && Array.isArray(rec.value));
    assert.equal(rec.value[0], rec.value);
  }
});

Deno.test("decodePickle() keeps py2 str and text apart in the Part 2 vectors", () => {
  const find = (name: string) => decodePickle(fromHex(VECTORS.find((v) => v.name === name)!.hex));
  const str = find("py2.p2.reg_init.str_handle");
  const uni = find("py2.p2.reg_init.unicode_handle");
  assert.ok(str.ok && uni.ok);
  assert.ok((str.value as PyTuple).items[1] instanceof Py2Str);
  assert.equal((uni.value as PyTuple).items[1], "alice");
});

Deno.test("encodePickle() reproduces every protocol 0 and 2 vector byte for byte", () => {
  let exact = 0, refused = 0;
  for (const v of VECTORS) {
    if (v.name.startsWith("hand.") || (v.protocol !== 0 && v.protocol !== 2)) continue;
    if (v.python.includes("5L")) continue; // the model has no separate py2 long type
    const value = expected(v);
    const protocol = v.protocol as 0 | 2;
    const type = describePyValue(value)[0];
    const needsCall = JSON.stringify(describePyValue(value)).match(
      /"(bytes|bytearray|set|frozenset)"/,
    );
    if (needsCall) {
      assert.throws(() => encodePickle(value, { protocol }), TypeError, `${v.name} (${type})`);
      refused++;
      continue;
    }
    assert.equal(toHex(encodePickle(value, { protocol })), v.hex, v.name);
    exact++;
  }
  assert.ok(exact >= 120, `only ${exact} vectors compared`);
  assert.ok(refused >= 10);
});

Deno.test("encodePickle() of each decoded safe vector decodes to the same value", () => {
  for (const v of VECTORS.filter((v) => v.safe)) {
    const r = decodePickle(fromHex(v.hex), LARGE);
    assert.ok(r.ok);
    const text = JSON.stringify(describePyValue(r.value));
    if (/"(bytes|bytearray|set|frozenset)"/.test(text)) continue;
    for (const protocol of [0, 2] as const) {
      const again = decodePickle(encodePickle(r.value, { protocol }), LARGE);
      assert.ok(again.ok, v.name);
      assert.equal(JSON.stringify(describePyValue(again.value)), text, `${v.name} p${protocol}`);
    }
  }
});
