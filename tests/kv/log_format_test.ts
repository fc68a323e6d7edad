/**
 * The durable log's formats (`src/kv/log_format.ts`) and the version order (`src/kv/version.ts`):
 * round trips, torn tails at every byte, corruption in the middle, snapshots, LWW merging.
 */
import assert from "node:assert/strict";
import { crc32 as zlibCrc32 } from "node:zlib";
import fc from "fast-check";
import {
  crc32,
  encodeRecord,
  encodeRecords,
  encodeSnapshot,
  mergeEntries,
  parseLog,
  parseSnapshot,
} from "../../src/kv/log_format.ts";
import { compareUtf8, compareVersions, isNewer } from "../../src/kv/version.ts";
import type { VersionedEntry } from "../../src/kv/types.ts";

const enc = new TextEncoder();
const THREE: VersionedEntry[] = [
  { key: "color", value: "green", clock: 1, origin: "ts-a" },
  {
    key: "line\nbreak",
    value: 'quote " and \\ and \u{1F600} and \udc00',
    clock: 2,
    origin: "ts-b",
  },
  { key: "", value: "", clock: Number.MAX_SAFE_INTEGER, origin: "é" },
];

function compareBytes(a: string, b: string): number {
  const x = enc.encode(a), y = enc.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

const entryArb: fc.Arbitrary<VersionedEntry> = fc.record({
  key: fc.string({ unit: "grapheme", maxLength: 12 }),
  value: fc.string({ unit: "binary", maxLength: 30 }),
  clock: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  origin: fc.string({ minLength: 1, maxLength: 8 }),
}, { noNullPrototype: true });

Deno.test("crc32 matches zlib's (node:zlib) on random bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => crc32(b) === zlibCrc32(b)),
    { numRuns: 500 },
  );
});

Deno.test("records round-trip, including newlines, quotes, astral and lone surrogates", () => {
  const bytes = encodeRecords(THREE);
  const p = parseLog(bytes);
  assert.deepEqual(p.entries, THREE);
  assert.equal(p.goodBytes, bytes.length);
  assert.equal(p.droppedBytes, 0);
  assert.deepEqual(p.problems, []);
  assert.deepEqual(parseLog(new Uint8Array(0)).entries, []);
});

Deno.test("a torn tail at every byte offset keeps exactly the complete records", () => {
  const bytes = encodeRecords(THREE);
  const ends = THREE.map((_, i) => encodeRecords(THREE.slice(0, i + 1)).length);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const p = parseLog(bytes.subarray(0, cut));
    const complete = ends.filter((e) => e <= cut).length;
    const good = complete === 0 ? 0 : ends[complete - 1];
    assert.deepEqual(p.entries, THREE.slice(0, complete), `cut at ${cut}`);
    assert.equal(p.goodBytes, good, `cut at ${cut}`);
    assert.equal(p.droppedBytes, cut - good, `cut at ${cut}`);
    assert.equal(p.droppedRecords, cut === good ? 0 : 1, `cut at ${cut}`);
    assert.equal(p.problems.length, cut === good ? 0 : 1, `cut at ${cut}`);
  }
});

Deno.test("a corrupted byte in the middle drops from its record on, and says so", () => {
  const bytes = encodeRecords(THREE);
  const first = encodeRecord(THREE[0]).length;
  const second = first + encodeRecord(THREE[1]).length;
  for (let at = first; at < second; at++) {
    const bad = bytes.slice();
    bad[at] ^= 0x01;
    const p = parseLog(bad);
    if (at === second - 1) {
      // the newline of record 2 became another byte: records 2 and 3 read as one torn line
      assert.deepEqual(p.entries, THREE.slice(0, 1));
      assert.equal(p.droppedRecords, 1);
    } else {
      assert.deepEqual(p.entries, THREE.slice(0, 1), `flip at ${at}`);
      assert.equal(p.goodBytes, first);
      assert.equal(p.droppedBytes, bytes.length - first);
      assert.equal(p.droppedRecords, 2);
      assert.match(p.problems.join(" | "), /1 intact log record\(s\) after the bad one/);
    }
  }
});

Deno.test("records that are not valid entries are corrupt", () => {
  const line = (json: string) =>
    enc.encode(`${crc32(enc.encode(json)).toString(16).padStart(8, "0")} ${json}\n`);
  for (
    const json of [
      '{"k":"a","v":"b","c":0,"o":"n"}',
      '{"k":"a","v":"b","c":1.5,"o":"n"}',
      '{"k":"a","v":"b","c":1,"o":""}',
      '{"k":1,"v":"b","c":1,"o":"n"}',
      '["a"]',
      "null",
      "{",
    ]
  ) {
    const p = parseLog(line(json));
    assert.deepEqual(p.entries, [], json);
    assert.equal(p.droppedRecords, 1, json);
  }
  assert.equal(parseLog(line('{"k":"a","v":"b","c":1,"o":"n"}')).entries.length, 1);
  assert.equal(parseLog(enc.encode("\n")).droppedRecords, 1);
  assert.equal(parseLog(enc.encode("ABCDEF01 {}\n")).problems[0].includes("checksum"), true);
});

Deno.test("encoding an invalid entry throws instead of writing a record that reads as corrupt", () => {
  assert.throws(() => encodeRecord({ key: "a", value: "b", clock: 0, origin: "n" }), RangeError);
  assert.throws(() => encodeRecords([{ key: "a", value: "b", clock: 1, origin: "" }]), RangeError);
});

Deno.test("property: a log cut anywhere recovers a prefix of what was written", () => {
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 8 }), fc.nat(), (entries, n) => {
      const bytes = encodeRecords(entries);
      const cut = n % (bytes.length + 1);
      const p = parseLog(bytes.subarray(0, cut));
      assert.deepEqual(p.entries, entries.slice(0, p.entries.length));
      assert.equal(p.goodBytes + p.droppedBytes, cut);
      assert.equal(p.goodBytes, encodeRecords(p.entries).length);
      assert.equal(p.droppedBytes === 0, p.problems.length === 0);
    }),
    { numRuns: 500 },
  );
});

Deno.test("property: random garbage never throws and yields a consistent split", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const p = parseLog(b);
      assert.equal(p.goodBytes + p.droppedBytes, b.length);
      const s = parseSnapshot(b);
      assert.equal(s.complete, false);
    }),
    { numRuns: 500 },
  );
});

Deno.test("snapshots round-trip and any damage makes them incomplete", () => {
  const bytes = encodeSnapshot(THREE);
  const s = parseSnapshot(bytes);
  assert.equal(s.complete, true);
  assert.deepEqual(s.entries, THREE);
  assert.deepEqual(parseSnapshot(encodeSnapshot([])).entries, []);
  assert.equal(parseSnapshot(encodeSnapshot([])).complete, true);
  for (let cut = 0; cut < bytes.length; cut++) {
    const t = parseSnapshot(bytes.subarray(0, cut));
    assert.equal(t.complete, false, `cut at ${cut}`);
    assert.ok(t.problems.length > 0);
    assert.deepEqual(t.entries, THREE.slice(0, t.entries.length));
  }
  for (let at = 0; at < bytes.length; at++) {
    const bad = bytes.slice();
    bad[at] ^= 0x20;
    assert.equal(parseSnapshot(bad).complete, false, `flip at ${at}`);
  }
});

Deno.test("compareUtf8 is the byte order of the UTF-8 encodings", () => {
  const samples = [
    "",
    "a",
    "b",
    "ab",
    "é",
    "\uFF61",
    "\u{1F600}",
    "\u{10000}",
    "\ud800",
    "\udc00",
    "a\ud83d",
    "a\ud83d\ude00",
  ];
  for (const a of samples) {
    for (const b of samples) {
      assert.equal(Math.sign(compareUtf8(a, b)), Math.sign(compareBytes(a, b)), `${a} vs ${b}`);
    }
  }
  fc.assert(
    fc.property(
      fc.string({ unit: "binary" }),
      fc.string({ unit: "binary" }),
      (a, b) => Math.sign(compareUtf8(a, b)) === Math.sign(compareBytes(a, b)),
    ),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(
      fc.string({ unit: "binary" }),
      fc.string({ unit: "binary" }),
      fc.string({ unit: "binary" }),
      (p, a, b) => Math.sign(compareUtf8(p + a, p + b)) === Math.sign(compareBytes(p + a, p + b)),
    ),
    { numRuns: 2000 },
  );
});

Deno.test("compareVersions: clock first, then origin; isNewer is strict", () => {
  assert.equal(compareVersions({ clock: 10, origin: "a" }, { clock: 9, origin: "z" }), 1);
  assert.equal(
    compareVersions({ clock: 2, origin: "\u{1F600}" }, { clock: 2, origin: "\uFF61" }),
    1,
  );
  assert.equal(
    compareVersions({ clock: 2, origin: "\uFF61" }, { clock: 2, origin: "\u{1F600}" }),
    -1,
  );
  assert.equal(isNewer({ clock: 2, origin: "b" }, { clock: 2, origin: "b" }), false);
  fc.assert(
    fc.property(entryArb, entryArb, (a, b) => {
      assert.equal(Math.sign(compareVersions(a, b)), -Math.sign(compareVersions(b, a)));
      assert.equal(compareVersions(a, b) === 0, a.clock === b.clock && a.origin === b.origin);
    }),
  );
});

Deno.test("property: merging in any order gives the same map and the max clock", () => {
  const keyed = fc.array(
    fc.record({
      key: fc.constantFrom("a", "b", "c"),
      value: fc.string({ maxLength: 3 }),
      clock: fc.integer({ min: 1, max: 5 }),
      origin: fc.constantFrom("n1", "n2", "\u{1F600}", "\uFF61"),
    }),
    { maxLength: 12 },
  );
  fc.assert(
    fc.property(keyed, fc.func(fc.integer()), (entries, f) => {
      // equal versions must carry equal values (a version names one write)
      const byVersion = new Map<string, string>();
      const fixed = entries.map((e) => {
        const id = `${e.key}|${e.clock}|${e.origin}`;
        if (!byVersion.has(id)) byVersion.set(id, e.value);
        return { ...e, value: byVersion.get(id)! };
      });
      const shuffled = [...fixed].sort((x, y) => f(x) - f(y));
      const m1 = new Map(), m2 = new Map();
      const c1 = mergeEntries(m1, fixed), c2 = mergeEntries(m2, shuffled);
      assert.deepEqual([...m1.entries()].sort(), [...m2.entries()].sort());
      assert.equal(c1, c2);
      assert.equal(c1, Math.max(0, ...fixed.map((e) => e.clock)));
      for (const e of fixed) assert.ok(compareVersions(m1.get(e.key), e) >= 0);
    }),
    { numRuns: 500 },
  );
});
