/**
 * Text-line opcodes read by Python 2's rules (issue 9 item 4; spec §5.4). The original trackers
 * and peer are Python 2.7 programs using the pure-Python `pickle` module, and they serve items by
 * the number they read, so our decoder must read INT, LONG, FLOAT, PUT/GET lines and STOP as
 * Python 2.7 does: `load_int` is `'00\n'`/`'01\n'` → False/True, else `int(data)` with
 * `long(data)` as fallback; `load_long` is `long(line, 0)`; `load_float` is `float(line)`;
 * `load_put`/`load_get` key the memo by the line itself (BINPUT/BINGET by `repr(index)`,
 * LONG_BINPUT/LONG_BINGET by `repr` of a signed i32); `load_stop` is `self.stack.pop()`.
 *
 * Python 2 is not installed here, so the `py2` column is what CPython 2.7 gives, worked out from
 * its source (Lib/pickle.py; Objects/longobject.c `PyLong_FromString`, which skips whitespace
 * before and after the sign, detects `0x`/`0o`/`0b`/old-style octal `0` in base 0 and allows one
 * trailing `L`/`l`; Objects/intobject.c `PyInt_FromString` and Python/mystrtoul.c, which accept a
 * subset of that with the same values; `long()`/`int()` refuse a NUL byte). `"mark"` is Python 2's
 * private mark object, which `load_stop` returns when a MARK is on top; we refuse that.
 *
 * The `py3` column is what CPython 3's `pickle.loads` (the C unpickler) gives; a test runs
 * python3 on every row and checks it, so the rows where the two differ are marked by fact, not by
 * belief. Rows with `py3: undefined` are not run (Python 3 would allocate a 4-GiB memo).
 */
import assert from "node:assert/strict";
import { decodePickle, describePyValue } from "../../src/tracker/pickle/mod.ts";

/** One case: the pickle (bytes as Latin-1 text), Python 2.7's result, Python 3's result. */
interface Row {
  readonly input: string;
  /** `int N`, `long N`, `bool True|False`, `float R`, `error Class` or `mark`. */
  readonly py2: string;
  /** The same notation (Python 3 has no long), or undefined when not run. */
  readonly py3: string | undefined;
}

const ROWS: readonly Row[] = [
  // INT: int(data), then long(data); data keeps its '\n'
  { input: "I5\n.", py2: "int 5", py3: "int 5" },
  { input: "I 5\n.", py2: "int 5", py3: "int 5" },
  { input: "I+3\n.", py2: "int 3", py3: "int 3" },
  { input: "I-3\n.", py2: "int -3", py3: "int -3" },
  { input: "I5\r\n.", py2: "int 5", py3: "int 5" },
  { input: "I 5 \t\n.", py2: "int 5", py3: "int 5" },
  { input: "I\x0b5\x0c\n.", py2: "int 5", py3: "int 5" },
  { input: "I00\n.", py2: "bool False", py3: "bool False" },
  { input: "I01\n.", py2: "bool True", py3: "bool True" },
  { input: "I 01\n.", py2: "int 1", py3: "int 1" },
  { input: "I 1\n.", py2: "int 1", py3: "bool True" }, // py3: a 3-byte line holding 0 or 1
  { input: "I01\r\n.", py2: "int 1", py3: "error ValueError" }, // py3: "01" is no base-0 int
  { input: "I0\n.", py2: "int 0", py3: "int 0" },
  { input: "I-0\n.", py2: "int 0", py3: "bool False" },
  { input: "I010\n.", py2: "int 10", py3: "int 8" }, // py3: C strtol base 0
  { input: "I0x3\n.", py2: "error ValueError", py3: "int 3" },
  { input: "I0b11\n.", py2: "error ValueError", py3: "int 3" },
  { input: "I5L\n.", py2: "long 5", py3: "error ValueError" }, // int() fails, long() takes it
  { input: "I5l\n.", py2: "long 5", py3: "error ValueError" },
  { input: "I- 5\n.", py2: "int -5", py3: "error ValueError" },
  { input: "I 5 L \n.", py2: "error ValueError", py3: "error ValueError" },
  {
    input: "I999999999999999999999\n.",
    py2: "long 999999999999999999999",
    py3: "int 999999999999999999999",
  },
  {
    input: "I-9223372036854775808\n.",
    py2: "int -9223372036854775808",
    py3: "int -9223372036854775808",
  },
  { input: "I1_000\n.", py2: "error ValueError", py3: "int 1000" },
  { input: "I5\x00\n.", py2: "error ValueError", py3: "int 5" }, // py2: NUL byte in int()/long()
  { input: "I\n.", py2: "error ValueError", py3: "error UnpicklingError" },
  { input: "I \n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "I+\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "I--1\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "I+-1\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "I5 5\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "I5.0\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "I\xa05\n.", py2: "error ValueError", py3: "error ValueError" }, // C locale: no NBSP
  // LONG: long(line[:-1], 0)
  { input: "L010\n.", py2: "long 8", py3: "error ValueError" },
  { input: "L-010L\n.", py2: "long -8", py3: "error ValueError" },
  { input: "L0x3\n.", py2: "long 3", py3: "int 3" },
  { input: "L0X1F\n.", py2: "long 31", py3: "int 31" },
  { input: "L-0x1f\n.", py2: "long -31", py3: "int -31" },
  { input: "L0b11\n.", py2: "long 3", py3: "int 3" },
  { input: "L0o17\n.", py2: "long 15", py3: "int 15" },
  { input: "L10L\n.", py2: "long 10", py3: "int 10" },
  { input: "L10\n.", py2: "long 10", py3: "int 10" },
  { input: "L10l\n.", py2: "long 10", py3: "error ValueError" },
  { input: "L 5\n.", py2: "long 5", py3: "int 5" },
  { input: "L+5L\n.", py2: "long 5", py3: "int 5" },
  { input: "L- 5\n.", py2: "long -5", py3: "error ValueError" },
  { input: "L5L \n.", py2: "long 5", py3: "error ValueError" },
  { input: "L0\n.", py2: "long 0", py3: "int 0" },
  { input: "L00\n.", py2: "long 0", py3: "int 0" },
  { input: "L0L\n.", py2: "long 0", py3: "int 0" },
  { input: "L2147483648L\n.", py2: "long 2147483648", py3: "int 2147483648" },
  { input: "L09\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "L0x\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "L0b2\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "L10LL\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "L1_0\n.", py2: "error ValueError", py3: "int 10" },
  { input: "L5\x00\n.", py2: "error ValueError", py3: "int 5" },
  { input: "L\n.", py2: "error ValueError", py3: "error UnpicklingError" },
  // STOP: self.stack.pop(), whatever lies below
  { input: "NI5\n.", py2: "int 5", py3: "int 5" },
  { input: "I1\nI2\n(I3\n.", py2: "int 3", py3: "int 3" },
  { input: "(I5\n.", py2: "int 5", py3: "int 5" },
  { input: "I5\n(.", py2: "mark", py3: "error UnpicklingError" },
  { input: ".", py2: "error IndexError", py3: "error UnpicklingError" },
  // PUT/GET: the memo key is the line itself
  { input: "I3\np0\n0g0\n.", py2: "int 3", py3: "int 3" },
  { input: "I3\np0\n0h\x00.", py2: "int 3", py3: "int 3" },
  { input: "I3\nq\x000g0\n.", py2: "int 3", py3: "int 3" },
  { input: "I3\np00\n0g0\n.", py2: "error KeyError", py3: "int 3" },
  { input: "I3\np 0\n0g0\n.", py2: "error KeyError", py3: "int 3" },
  { input: "I3\npabc\n0gabc\n.", py2: "int 3", py3: "error ValueError" },
  { input: "I3\np-1\n0g-1\n.", py2: "int 3", py3: "error ValueError" },
  { input: "I3\nr\xff\xff\xff\xff0g-1\n.", py2: "int 3", py3: undefined }, // signed i32 key
  { input: "I3\np\n0g\n.", py2: "int 3", py3: "error UnpicklingError" },
  { input: "g0\n.", py2: "error KeyError", py3: "error UnpicklingError" },
  // FLOAT: float(line[:-1])
  { input: "F1.5\n.", py2: "float 1.5", py3: "float 1.5" },
  { input: "F 1.5 \t\n.", py2: "float 1.5", py3: "error ValueError" }, // py3: C strtod, no strip
  { input: "F-Infinity\n.", py2: "float -inf", py3: "float -inf" },
  { input: "F1_0\n.", py2: "error ValueError", py3: "error ValueError" },
  { input: "F0x10\n.", py2: "error ValueError", py3: "error ValueError" },
];

/** Our decoder's result in the table's notation (Python 2 long and int are one kind here). */
function ours(input: string): string {
  const bytes = Uint8Array.from(input, (c) => c.charCodeAt(0));
  const r = decodePickle(bytes);
  if (!r.ok) return `refused ${r.error.kind}`;
  const [kind, detail] = describePyValue(r.value) as [string, unknown];
  if (kind === "bool") return `bool ${detail ? "True" : "False"}`;
  return `${kind} ${detail}`;
}

/** The Python 2 result our decoder must give: errors and the mark object are refusals. */
function expected(py2: string): string {
  if (py2.startsWith("error ") || py2 === "mark") return "refused malformed";
  return py2.replace(/^long /, "int ");
}

Deno.test("decodePickle() reads every text-line case of the table as Python 2.7 does", () => {
  const wrong = ROWS.filter((row) => ours(row.input) !== expected(row.py2))
    .map((row) => `${JSON.stringify(row.input)}: ours ${ours(row.input)}, Python 2 ${row.py2}`);
  assert.deepEqual(wrong, []);
});

Deno.test("the table's Python 3 column is what python3's pickle.loads gives", async () => {
  const rows = ROWS.filter((row) => row.py3 !== undefined);
  const script = String.raw`
import pickle, sys
for line in sys.stdin.read().split():
    data = bytes.fromhex(line)
    try:
        v = pickle.loads(data)
        t = type(v).__name__
        print(t, repr(v) if t != "int" else v)
    except Exception as e:
        print("error", type(e).__name__)
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const hex = (s: string) =>
    [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(rows.map((r) => hex(r.input)).join("\n")));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  assert.equal(lines.length, rows.length);
  const wrong = rows.filter((row, i) => lines[i] !== row.py3)
    .map((row) =>
      `${JSON.stringify(row.input)}: python3 ${lines[rows.indexOf(row)]}, table ${row.py3}`
    );
  assert.deepEqual(wrong, []);
  // The rows where Python 3 reads differently are exactly the ones a Python 3 model gets wrong.
  const differing = rows.filter((row) => row.py3 !== row.py2.replace(/^long /, "int "));
  assert.ok(differing.length >= 20, `${differing.length} rows differ`);
});
