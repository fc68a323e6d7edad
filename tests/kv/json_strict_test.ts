import assert from "node:assert/strict";
import fc from "fast-check";
import { findDuplicateKey, jsonUint, parseJson } from "../../src/kv/json_strict.ts";
import type { JsonValue } from "../../src/kv/json_strict.ts";

const enc = new TextEncoder();
const errorKind = (s: string | Uint8Array, strictStrings = true) => {
  const r = parseJson(typeof s === "string" ? enc.encode(s) : s, { strictStrings });
  return r.ok ? "ok" : r.error.kind;
};

/** A parsed value back as a plain JS value (what JSON.parse gives). */
function plain(v: JsonValue): unknown {
  switch (v.kind) {
    case "null":
      return null;
    case "bool":
      return v.value;
    case "number":
      return Number(v.text);
    case "string":
      return v.value;
    case "array":
      return v.items.map(plain);
    case "object":
      return Object.fromEntries(v.entries.map((e) => [e.key.value, plain(e.value)]));
  }
}

Deno.test("parseJson(): grammar table", () => {
  const cases: [string, string][] = [
    ['{"a":[1,-0.5e+3,true,false,null,"\\u00e9\\/"]}', "ok"],
    [" \t\r\n1 \t\r\n", "ok"],
    ["\f1", "json"],
    ["01", "json"],
    ["1.", "json"],
    [".5", "json"],
    ["+1", "json"],
    ["1e", "json"],
    ["[1,]", "json"],
    ['{"a":1,}', "json"],
    ["{a:1}", "json"],
    ['"\\x"', "json"],
    ['"\\u12"', "json"],
    ['"a\nb"', "json"],
    ["nul", "json"],
    ["[1] [2]", "trailing"],
    ['"\\ud800"', "surrogate"],
    ['"\\udc00\\ud800"', "surrogate"],
    ['"\\ud800\\u0041"', "surrogate"],
    ['"\\ud83d\\ude00"', "ok"],
  ];
  for (const [text, kind] of cases) assert.equal(errorKind(text), kind, text);
  assert.equal(errorKind(new Uint8Array([0x22, 0xff, 0x22])), "utf8");
  assert.equal(errorKind(new Uint8Array([0x22, 0xff, 0x22]), false), "ok");
  assert.equal(errorKind('"\\ud800"', false), "ok");
  const lone = parseJson(enc.encode('["\\ud800\\u0041"]'), { strictStrings: false });
  assert.ok(lone.ok && lone.value.kind === "array");
  assert.deepEqual(lone.value.items[0], { kind: "string", value: "\ud800A", problem: "surrogate" });
});

Deno.test("parseJson(): length and depth bounds", () => {
  assert.equal(errorKind("[".repeat(512) + "]".repeat(512)), "ok");
  assert.equal(errorKind("[".repeat(513) + "]".repeat(513)), "depth");
  const r = parseJson(enc.encode("[[1]]"), { maxDepth: 1 });
  assert.equal(!r.ok && r.error.kind, "depth");
  const t = parseJson(enc.encode("12345"), { maxLength: 4 });
  assert.equal(!t.ok && t.error.kind, "too-long");
});

Deno.test("findDuplicateKey() and jsonUint()", () => {
  const r = parseJson(enc.encode('{"k":1,"x":2,"x":3,"k":4}'));
  assert.ok(r.ok && r.value.kind === "object");
  assert.equal(findDuplicateKey(r.value.entries), "x");
  assert.equal(findDuplicateKey(r.value.entries, ["k"]), "k");
  assert.equal(findDuplicateKey(r.value.entries, ["y"]), null);
  const n = (text: string) => ({ kind: "number" as const, text });
  assert.equal(jsonUint(n("0"), 0), 0);
  assert.equal(jsonUint(n("0"), 1), null);
  assert.equal(jsonUint(n("9007199254740991"), 1), 9007199254740991);
  assert.equal(jsonUint(n("9007199254740992"), 1), null);
  assert.equal(jsonUint(n("18446744073709551616"), 1), null);
  assert.equal(jsonUint(n("-1"), 0), null);
  assert.equal(jsonUint(n("1e3"), 0), null);
  assert.equal(jsonUint(n("5"), 0, 4), null);
});

Deno.test("property: parseJson() agrees with JSON.parse on valid JSON and never throws", () => {
  fc.assert(
    fc.property(fc.json(), (json) => {
      const r = parseJson(enc.encode(json));
      assert.ok(r.ok, json);
      assert.deepEqual(plain(r.value), JSON.parse(json));
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), (s) => {
      let ok = true;
      try {
        JSON.parse(s);
      } catch {
        ok = false;
      }
      // JSON.parse accepts lone surrogates (escaped or raw); strict mode does not
      if (!/\\u[dD][89a-fA-F]|\p{Cs}/u.test(s)) assert.equal(parseJson(enc.encode(s)).ok, ok, s);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      assert.equal(typeof parseJson(b, { strictStrings: false }).ok, "boolean");
    }),
    { numRuns: 1000 },
  );
});
