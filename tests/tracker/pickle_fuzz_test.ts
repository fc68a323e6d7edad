/**
 * Fuzzing decodePickle(): 100,000 mutated pickles from a seeded Prng (bit flips, byte and opcode
 * writes, inserted opcodes, truncations, splices, repeated ranges, huge length fields) must never
 * throw, never take long, and never produce more than the limits allow; a decoded result must be
 * a well-formed value (it re-encodes and decodes to itself) whose every proper prefix is
 * `truncated`. Plus fast-check properties over raw and opcode-shaped bytes.
 *
 * Other seeds: PICKLE_FUZZ_SEED=<n> with --allow-env (the default seed is fixed).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodePickle,
  type DecodePickleOptions,
  type DecodePickleResult,
  describePyValue,
  encodePickle,
  Op,
  Py2Str,
  PyDict,
  PyFloat,
  PySet,
  PyTuple,
  type PyValue,
} from "../../src/tracker/pickle/mod.ts";
import { Prng } from "../../src/util/prng.ts";

const fromHex = (hex: string): Uint8Array =>
  Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (bytes: Uint8Array): string =>
  [...bytes].map((x) => x.toString(16).padStart(2, "0")).join("");

const VECTOR_PICKLES: Uint8Array[] = Deno.readTextFileSync(
  new URL("../fixtures/pickle.jsonl", import.meta.url),
).split("\n").filter((l) => l.trim() !== "").map((l) => fromHex(JSON.parse(l).hex));

const OPCODES: number[] = Object.values(Op);
/** Opcodes followed by a length field: offset of the field and its width in bytes. */
const LENGTH_FIELDS: Record<number, number> = {
  [Op.BINSTRING]: 4,
  [Op.SHORT_BINSTRING]: 1,
  [Op.BINUNICODE]: 4,
  [Op.SHORT_BINUNICODE]: 1,
  [Op.BINUNICODE8]: 8,
  [Op.SHORT_BINBYTES]: 1,
  [Op.BINBYTES]: 4,
  [Op.BINBYTES8]: 8,
  [Op.BYTEARRAY8]: 8,
  [Op.LONG1]: 1,
  [Op.LONG4]: 4,
  [Op.FRAME]: 8,
  [Op.LONG_BINPUT]: 4,
  [Op.LONG_BINGET]: 4,
};
const HUGE_FIELDS = [
  [0xff],
  [0xff, 0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0x7f],
  [0x00, 0x00, 0x00, 0x80],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40],
  [0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
];

/** Some valid pickles of our own, at both protocols, to mutate alongside the vectors. */
function ownPickles(prng: Prng): Uint8Array[] {
  const s = Py2Str.fromText;
  const shared = [1, "x"];
  const cyclic: PyValue[] = [];
  cyclic.push(PyTuple.of(cyclic, 2));
  const values: PyValue[] = [
    PyTuple.of(s("REG_INIT"), "alice", s("127.0.0.1"), 9101, 5, PyTuple.of(2, s("and"))),
    PyTuple.of(s("QUERY_RESULT"), PyTuple.of(null, null)),
    [shared, shared, new PyDict([[PyTuple.of(1, s("k")), shared], [new PyFloat(2.5), cyclic]])],
    [2n ** 100n, -(2n ** 64n), new PyFloat(-0), "\u20ac\u{1f600}\\\n", s("a'b\"c\x00\xff")],
    Array.from({ length: 1200 }, (_, i) => i * 977),
  ];
  const out = values.flatMap((v) => [encodePickle(v), encodePickle(v, { protocol: 2 })]);
  for (let i = 0; i < 20; i++) {
    out.push(
      encodePickle(
        prng.bytes(prng.int(0, 40)).reduce<PyValue[]>((l, x) => [...l, x % 3 ? x : [x]], []),
      ),
    );
  }
  return out;
}

/** Picks a seed, mostly a small one (big ones are slow to copy and decode, and few). */
function pickSeed(prng: Prng, seeds: readonly Uint8Array[]): Uint8Array {
  for (;;) {
    const seed = prng.pick(seeds);
    if (seed.length <= 512 || prng.chance(0.1)) return seed;
  }
}

/** Concatenates byte arrays and byte values. */
function cat(...parts: (Uint8Array | number[])[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function mutate(prng: Prng, seeds: readonly Uint8Array[]): Uint8Array {
  let bytes: Uint8Array = pickSeed(prng, seeds).slice();
  const at = (extra = 0) => prng.int(0, Math.max(0, bytes.length - 1 + extra));
  for (let n = prng.int(1, 4); n > 0; n--) {
    switch (prng.int(0, 10)) {
      case 0: // flip a bit
        if (bytes.length) bytes[at()] ^= 1 << prng.int(0, 7);
        break;
      case 1: // write a random byte
        if (bytes.length) bytes[at()] = prng.int(0, 255);
        break;
      case 2: // write an opcode
        if (bytes.length) bytes[at()] = prng.pick(OPCODES);
        break;
      case 3: { // insert opcodes with random argument bytes
        const i = at(1);
        const ops = Array.from({ length: prng.int(1, 4) }, () => prng.pick(OPCODES));
        bytes = cat(bytes.subarray(0, i), ops, prng.bytes(prng.int(0, 3)), bytes.subarray(i));
        break;
      }
      case 4: // truncate
        bytes = bytes.slice(0, at(1));
        break;
      case 5: { // delete a range
        const i = at();
        bytes = cat(bytes.subarray(0, i), bytes.subarray(i + prng.int(1, 8)));
        break;
      }
      case 6: { // splice two pickles
        const other = pickSeed(prng, seeds);
        bytes = cat(bytes.subarray(0, at(1)), other.subarray(prng.int(0, other.length)));
        break;
      }
      case 7: { // repeat a range (deep nesting, tall stacks, many memo writes)
        const i = at(), chunk = bytes.slice(i, i + prng.int(1, 6));
        const times = prng.int(2, 300);
        bytes = cat(
          bytes.subarray(0, i),
          ...Array<Uint8Array>(times).fill(chunk),
          bytes.subarray(i),
        );
        break;
      }
      case 8: { // set a length field huge
        const spots: number[] = [];
        for (let i = 0; i < bytes.length; i++) if (bytes[i] in LENGTH_FIELDS) spots.push(i);
        if (spots.length === 0) break;
        const i = prng.pick(spots), width = LENGTH_FIELDS[bytes[i]];
        const huge = prng.pick(HUGE_FIELDS);
        for (let k = 0; k < width && i + 1 + k < bytes.length; k++) bytes[i + 1 + k] = huge[k] ?? 0;
        break;
      }
      case 9: { // a run of MARKs or GETs
        const i = at(1), count = prng.int(1, 100);
        const run = prng.chance(0.5)
          ? Array(count).fill(Op.MARK)
          : Array(count).fill([Op.BINGET, 0]).flat();
        bytes = cat(bytes.subarray(0, i), run, bytes.subarray(i));
        break;
      }
      default: // prepend a PROTO
        bytes = cat([Op.PROTO, prng.int(0, 6)], bytes);
    }
  }
  return bytes.length > 70000 ? bytes.slice(0, 70000) : bytes;
}

const KINDS = new Set(["truncated", "unsafe-opcode", "unknown-opcode", "limit", "malformed"]);
const ROOMY: DecodePickleOptions = {
  maxInputBytes: 1 << 24,
  maxStringBytes: 1 << 24,
  maxStackHeight: 1 << 20,
  maxMemoEntries: 1 << 20,
  maxContainerItems: 1 << 20,
  maxTotalItems: 1 << 22,
  maxDepth: 1000,
  maxLongBytes: 1 << 20,
  maxIntDigits: 4300,
};

/** Counts the distinct containers and the edges of a result graph (a visited set, no budget). */
function graphSize(root: PyValue): { nodes: number; edges: number } {
  const seen = new Set<object>();
  const todo: PyValue[] = [root];
  let edges = 0;
  for (let v = todo.pop(); v !== undefined; v = todo.pop()) {
    if (typeof v !== "object" || v === null || seen.has(v)) continue;
    seen.add(v);
    const kids = Array.isArray(v)
      ? v
      : v instanceof PyTuple
      ? v.items
      : v instanceof PyDict
      ? [...v].flat()
      : v instanceof PySet
      ? [...v]
      : [];
    edges += v instanceof PyDict ? kids.length / 2 : kids.length;
    todo.push(...kids);
  }
  return { nodes: seen.size, edges };
}

/** Checks one decode: the result's shape, its bounds, and that an accepted value is sound. */
function check(input: Uint8Array, options: DecodePickleOptions, prng: Prng): DecodePickleResult {
  let r: DecodePickleResult;
  try {
    r = decodePickle(input, options);
  } catch (e) {
    throw new Error(`decodePickle threw on ${toHex(input)}: ${e}`);
  }
  const expect: (condition: boolean) => asserts condition = (condition) => {
    if (!condition) assert.fail(`input ${toHex(input).slice(0, 400)}`); // built only on failure
  };
  if (!r.ok) {
    expect(KINDS.has(r.error.kind));
    expect(r.error.offset >= 0 && r.error.offset <= input.length);
    expect(r.error.message.startsWith("Cannot decode the pickle: "));
    return r;
  }
  expect(r.consumed >= 1 && r.consumed <= input.length);
  expect(input[r.consumed - 1] === Op.STOP);
  const { edges, nodes } = graphSize(r.value);
  expect(edges <= (options.maxTotalItems ?? 16384));
  expect(nodes <= r.consumed);
  // A proper prefix needs more bytes.
  const cut = decodePickle(input.subarray(0, prng.int(0, r.consumed - 1)), options);
  expect(!cut.ok && cut.error.kind === "truncated");
  // The value is well-formed: it re-encodes, when the protocols allow, and decodes to itself.
  if (!prng.chance(0.2)) return r; // (a sample: this is the slow part)
  let text: string;
  try {
    text = JSON.stringify(describePyValue(r.value, { maxNodes: 20000 }));
  } catch (e) {
    expect(e instanceof RangeError); // a shared DAG can describe a huge tree
    return r;
  }
  if (/"(bytes|bytearray|set|frozenset)"/.test(text)) return r;
  const again = decodePickle(encodePickle(r.value, { protocol: prng.chance(0.5) ? 0 : 2 }), ROOMY);
  expect(again.ok);
  expect(JSON.stringify(describePyValue(again.value, { maxNodes: 20000 })) === text);
  return r;
}

/**
 * Milliseconds one decode takes: the fastest of a few runs when the first is slow, so that a
 * garbage collection or a busy machine does not count as a slow input.
 */
function timeDecode(input: Uint8Array, options: DecodePickleOptions): number {
  let best = Infinity;
  for (let run = 0; run < 3 && best > 20; run++) {
    const t0 = performance.now();
    decodePickle(input, options);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const SEED_VAR = { name: "env", variable: "PICKLE_FUZZ_SEED" } as const;
const envSeed = Deno.permissions.querySync(SEED_VAR).state === "granted"
  ? Deno.env.get(SEED_VAR.variable)
  : undefined;

Deno.test("decodePickle() survives 100,000 mutated pickles: no throw, no hang, bounded output", () => {
  const root = Prng.seeded(envSeed ? Number(envSeed) : 0x457);
  const seeds = [...VECTOR_PICKLES, ...ownPickles(root.fork())];
  const prng = root.fork();
  const tally: Record<string, number> = { ok: 0 };
  let slowest = 0;
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) {
    const input = mutate(prng, seeds);
    const options: DecodePickleOptions = i % 4 === 0 ? { maxInputBytes: 1024, maxProtocol: 2 } : {};
    const r = check(input, options, prng);
    slowest = Math.max(slowest, timeDecode(input, options));
    const key = r.ok ? "ok" : r.error.kind === "limit" ? `limit:${r.error.limit}` : r.error.kind;
    tally[key] = (tally[key] ?? 0) + 1;
  }
  const elapsed = performance.now() - started;
  // Every outcome happens, and no single input is slow.
  for (const kind of ["ok", "truncated", "unsafe-opcode", "unknown-opcode", "malformed"]) {
    assert.ok((tally[kind] ?? 0) > 100, `${kind}: ${JSON.stringify(tally)}`);
  }
  for (const name of ["maxInputBytes", "maxStringBytes", "maxDepth", "maxLongBytes"]) {
    assert.ok((tally[`limit:${name}`] ?? 0) > 10, `${name}: ${JSON.stringify(tally)}`);
  }
  assert.ok(slowest < 100, `slowest decode took ${slowest.toFixed(1)} ms`);
  assert.ok(elapsed < 60_000, `100,000 decodes took ${elapsed.toFixed(0)} ms`);
});

Deno.test("decodePickle() never throws on arbitrary bytes (fast-check)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const r = decodePickle(bytes);
      return r.ok ? r.consumed <= bytes.length : KINDS.has(r.error.kind);
    }),
    { numRuns: 3000, seed: 457 },
  );
});

Deno.test("decodePickle() never throws on opcode-shaped bytes, and accepted values re-encode (fast-check)", () => {
  const piece = fc.oneof(
    fc.constantFrom(...OPCODES).map((op) => [op]),
    fc.constantFrom(
      "I1\n",
      "L-5L\n",
      "S'a'\n",
      "Vb\n",
      "F1.5\n",
      "p0\n",
      "g0\n",
      "(",
      ")",
      "t",
      "l",
      "d",
      "a",
      "s",
      "u",
      "e",
      "]",
      "}",
      "N",
      ".",
    )
      .map((t) => [...t].map((c) => c.charCodeAt(0))),
    fc.tuple(
      fc.constantFrom(
        Op.BINPUT,
        Op.BINGET,
        Op.BININT1,
        Op.SHORT_BINUNICODE,
        Op.SHORT_BINBYTES,
        Op.LONG1,
      ),
      fc.integer({ min: 0, max: 4 }),
    )
      .map(([op, n]) => [op, n, ...Array(n).fill(0x61)]),
    fc.uint8Array({ maxLength: 3 }).map((a) => [...a]),
  );
  const prng = Prng.seeded(7);
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
      const input = Uint8Array.from(pieces.flat());
      check(input, {}, prng);
    }),
    { numRuns: 5000, seed: 457 },
  );
});
