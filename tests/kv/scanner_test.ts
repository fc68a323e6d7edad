import assert from "node:assert/strict";
import fc from "fast-check";
import { JsonValueScanner } from "../../src/kv/scanner.ts";
import type { ScanState } from "../../src/kv/scanner.ts";
import { encodeMessage } from "../../src/kv/codec.ts";

const enc = new TextEncoder();

/** Scans `text` in one push, then signals EOF. */
function scan(text: string, eof = false): ScanState {
  const s = new JsonValueScanner();
  const r = s.push(enc.encode(text));
  return eof ? s.end() : r;
}

const TABLE: [string, ScanState][] = [
  ["", { state: "incomplete" }],
  ["   \n", { state: "incomplete" }],
  ['"Heartbeat"', { state: "complete", end: 11 }],
  ['  "Heart\\"beat"  ', { state: "complete", end: 15 }],
  ['"Heartbeat', { state: "incomplete" }],
  ['"a\\', { state: "incomplete" }],
  ['{"Getvalue":{"key":"a"}}', { state: "complete", end: 24 }],
  ['{"Getvalue":{"key":"a"}}{"Getvalue":{"key":"a"}}', { state: "complete", end: 24 }],
  ['{"Getvalue":{"key":"}]"}', { state: "incomplete" }],
  ['{"Getvalue":{"key":"\\"}"}', { state: "incomplete" }],
  ['{"Getvalue":{"key":"\\\\"}}', { state: "complete", end: 25 }],
  ['{"Setvalue":["k","v"]}', { state: "complete", end: 22 }],
  ["[[]", { state: "incomplete" }],
  ["[}", { state: "invalid", at: 1, reason: "closing bracket does not match" }],
  ['{"a":[1}', { state: "invalid", at: 7, reason: "closing bracket does not match" }],
  ["}", { state: "invalid", at: 0, reason: "byte 0x7d cannot start a value" }],
  ["not json", { state: "invalid", at: 1, reason: "not the literal null" }],
  ["truex", { state: "invalid", at: 4, reason: "a letter or digit cannot follow the value" }],
  ["12a", { state: "invalid", at: 2, reason: "a letter or digit cannot follow the value" }],
  ["nul", { state: "incomplete" }],
  ["x", { state: "invalid", at: 0, reason: "byte 0x78 cannot start a value" }],
  ["\ufeff{}", { state: "invalid", at: 0, reason: "byte 0xef cannot start a value" }],
  ["42", { state: "incomplete" }],
  ["42 ", { state: "complete", end: 2 }],
  ["-1.5e+3\n", { state: "complete", end: 7 }],
  ["null,", { state: "complete", end: 4 }],
  ["true", { state: "incomplete" }],
];

Deno.test("JsonValueScanner: table of complete, incomplete and invalid inputs", () => {
  for (const [text, expected] of TABLE) assert.deepEqual(scan(text), expected, text);
});

Deno.test("JsonValueScanner.end() completes a top-level number or literal only", () => {
  assert.deepEqual(scan("42", true), { state: "complete", end: 2 });
  assert.deepEqual(scan(" true", true), { state: "complete", end: 5 });
  assert.deepEqual(scan('{"a":1', true), { state: "incomplete" });
  assert.deepEqual(scan('"a', true), { state: "incomplete" });
  assert.deepEqual(scan("", true), { state: "incomplete" });
  assert.deepEqual(scan("fals", true), { state: "incomplete" });
});

Deno.test("JsonValueScanner: once complete or invalid, more bytes change nothing; depth is bounded", () => {
  const s = new JsonValueScanner();
  assert.deepEqual(s.push(enc.encode('"a" ')), { state: "complete", end: 3 });
  assert.deepEqual(s.push(enc.encode("}}}")), { state: "complete", end: 3 });
  assert.deepEqual(s.state, { state: "complete", end: 3 });
  const d = new JsonValueScanner(3);
  assert.equal(d.push(enc.encode("[[[")).state, "incomplete");
  assert.deepEqual(d.push(enc.encode("[")), {
    state: "invalid",
    at: 3,
    reason: "nesting deeper than 3",
  });
});

/** Cuts `bytes` at the given positions (any order, duplicates allowed). */
function chunks(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out;
}

/** Feeds chunks one at a time; returns the offset at which the scanner first said complete. */
function firstComplete(parts: Uint8Array[]): { pushedBefore: number; state: ScanState } | null {
  const s = new JsonValueScanner();
  let pushed = 0;
  for (const p of parts) {
    const r = s.push(p);
    if (r.state !== "incomplete") return { pushedBefore: pushed, state: r };
    pushed += p.length;
  }
  return null;
}

const arbText = fc.string({ unit: "grapheme", maxLength: 10 });
const arbMessageBytes = fc.oneof(
  fc.record({ key: arbText, value: arbText }).map((r) => encodeMessage({ type: "Setvalue", ...r })),
  arbText.map((key) => encodeMessage({ type: "Getvalue", key })),
  fc.constantFrom("Heartbeat", "Greeting", "HeartbeatResponse").map((t) =>
    encodeMessage({ type: t as "Heartbeat" })
  ),
  fc.record({ key: arbText, value: arbText, origin: arbText.filter((o) => o !== "") }).map((r) =>
    encodeMessage({ type: "Sync", clock: 9, ...r })
  ),
);

Deno.test("property: any encoded message in arbitrary chunks is complete exactly at its end", () => {
  fc.assert(
    fc.property(
      arbMessageBytes,
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.string({ unit: "binary", maxLength: 5 }),
      (
        bytes,
        cuts,
        trailer,
      ) => {
        const all = new Uint8Array([...bytes, ...enc.encode(trailer)]);
        const r = firstComplete(chunks(all, cuts));
        assert.ok(r !== null && r.state.state === "complete");
        assert.equal(r.state.end, bytes.length);
        // it said so with the chunk holding the last byte, not before or after
        assert.ok(r.pushedBefore < bytes.length);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("property: multi-byte UTF-8 split across chunks does not matter", () => {
  const wide = fc.string({
    unit: fc.constantFrom("é", "€", "😀", '"', "\\", "}", "]", "{"),
    maxLength: 12,
  });
  fc.assert(
    fc.property(wide, fc.array(fc.nat(), { maxLength: 12 }), (key, cuts) => {
      const bytes = encodeMessage({ type: "Getvalue", key });
      const parts = chunks(bytes, cuts);
      const r = firstComplete(parts);
      assert.deepEqual(r?.state, { state: "complete", end: bytes.length });
      // every strict prefix is incomplete
      const s = new JsonValueScanner();
      for (const b of bytes.subarray(0, bytes.length - 1)) {
        assert.equal(s.push(new Uint8Array([b])).state, "incomplete");
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("property: the scanner never throws and agrees with JSON.parse on complete values", () => {
  fc.assert(
    fc.property(fc.json(), (json) => {
      const bytes = enc.encode(json);
      const s = new JsonValueScanner();
      s.push(bytes);
      const r = s.end();
      assert.deepEqual(r, { state: "complete", end: bytes.length }, json);
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const r = new JsonValueScanner().push(bytes);
      assert.ok(["incomplete", "complete", "invalid"].includes(r.state));
    }),
    { numRuns: 1000 },
  );
});
