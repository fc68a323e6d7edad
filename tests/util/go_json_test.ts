import assert from "node:assert/strict";
import fc from "fast-check";
import {
  endOfJsonString,
  endOfJsonValue,
  GO_MAX_NESTING_DEPTH,
  goFieldMatcher,
  goFoldName,
  goKeyEquals,
  isJsonSpace,
  jsonStringText,
  scanGoObject,
  skipJsonSpace,
} from "../../src/util/go_json.ts";

/** The members scanGoObject() visits in `text`, as [key, raw value] pairs; undefined on false. */
function pairs(text: string, maxDepth = GO_MAX_NESTING_DEPTH): [string, string][] | undefined {
  const seen: [string, string][] = [];
  const ok = scanGoObject(text, maxDepth, (key, valueStart, valueEnd) => {
    seen.push([key, text.slice(valueStart, valueEnd)]);
  });
  return ok ? seen : undefined;
}

/** `levels` nested arrays, e.g. `[[]]` for 2. */
const nested = (levels: number) => "[".repeat(levels) + "]".repeat(levels);

// ---------------------------------------------------------------------------------------------
// Character-level helpers

Deno.test("isJsonSpace() is true for exactly space, tab, line feed and carriage return", () => {
  const spaces: number[] = [];
  for (let c = 0; c <= 0xffff; c++) if (isJsonSpace(c)) spaces.push(c);
  assert.deepEqual(spaces, [0x09, 0x0a, 0x0d, 0x20]);
});

Deno.test("skipJsonSpace() stops at the first non-space, or at the end of the text", () => {
  assert.equal(skipJsonSpace(" \t\r\n x", 0), 5);
  assert.equal(skipJsonSpace("x  ", 0), 0);
  assert.equal(skipJsonSpace("x  ", 1), 3);
  assert.equal(skipJsonSpace("a\u00a0", 1), 1); // a no-break space is not JSON whitespace
});

Deno.test("endOfJsonString() skips escapes and returns -1 when the string is unterminated", () => {
  assert.equal(endOfJsonString('"abc",', 0), 5);
  assert.equal(endOfJsonString('x"a\\"b"', 1), 7);
  assert.equal(endOfJsonString('"a\\\\"b', 0), 5); // an escaped backslash, then the closing quote
  assert.equal(endOfJsonString('"a\\"', 0), -1);
  assert.equal(endOfJsonString('"', 0), -1);
});

Deno.test("endOfJsonValue() finds the end of strings, containers and literals", () => {
  assert.equal(endOfJsonValue('"a,b"}', 0, 1), 5);
  assert.equal(endOfJsonValue('{"a":"}]"},1', 0, 1), 10);
  assert.equal(endOfJsonValue("[1,[2,{}]] ,", 0, 1), 10);
  for (const stop of [",", "}", "]", " ", "\t", "\n", "\r"]) {
    assert.equal(endOfJsonValue(`-12.5e3${stop}x`, 0, 1), 7, JSON.stringify(stop));
  }
  assert.equal(endOfJsonValue("true", 0, 1), 4);
  assert.equal(endOfJsonValue(",", 0, 1), 0); // an empty literal
});

Deno.test("endOfJsonValue() returns -1 when a string or container is unterminated", () => {
  assert.equal(endOfJsonValue('"abc', 0, 1), -1);
  assert.equal(endOfJsonValue("[1,2", 0, 1), -1);
  assert.equal(endOfJsonValue('{"a":"]}', 0, 1), -1);
});

Deno.test("endOfJsonValue() returns -1 when enclosing depth plus nesting exceeds maxDepth", () => {
  assert.equal(endOfJsonValue(nested(3), 0, 2, 5), 6);
  assert.equal(endOfJsonValue(nested(4), 0, 2, 5), -1);
  assert.equal(endOfJsonValue('["[[[[", []]', 0, 2, 4), 12); // brackets in strings do not count
  assert.equal(endOfJsonValue(nested(GO_MAX_NESTING_DEPTH - 1), 0, 1), 2 * 9999);
  assert.equal(endOfJsonValue(nested(GO_MAX_NESTING_DEPTH), 0, 1), -1);
  assert.equal(endOfJsonValue(nested(GO_MAX_NESTING_DEPTH), 0, 1, Infinity), 2 * 10000);
});

Deno.test("jsonStringText() reads plain and escaped literals, and undefined for bad escapes", () => {
  assert.equal(jsonStringText('"Type"'), "Type");
  assert.equal(jsonStringText('""'), "");
  assert.equal(jsonStringText('"\\u0054y\\"pe\\n"'), 'Ty"pe\n');
  assert.equal(jsonStringText('"\\ud800"'), "\ud800"); // a lone surrogate, as JSON.parse reads it
  assert.equal(jsonStringText('"\uFFFD"'), "\uFFFD");
  assert.equal(jsonStringText('"\\x"'), undefined);
  assert.equal(jsonStringText('"\\u12"'), undefined);
});

// ---------------------------------------------------------------------------------------------
// scanGoObject()

Deno.test("scanGoObject() visits members in text order, duplicates and nulls included", () => {
  assert.deepEqual(pairs(' {"a":1, "b" : {"c":[1,"}"]} ,"a":null,"d":"x"}\n\t'), [
    ["a", "1"],
    ["b", '{"c":[1,"}"]}'],
    ["a", "null"],
    ["d", '"x"'],
  ]);
});

Deno.test("scanGoObject() visits nothing and returns true when the object is empty", () => {
  assert.deepEqual(pairs("{}"), []);
  assert.deepEqual(pairs(" \n{ \t} \r\n"), []);
});

Deno.test("scanGoObject() decodes escaped keys and leaves values raw", () => {
  assert.deepEqual(pairs('{"\\u0054ype":"\\u0041","a\\"b":[ 1 ]}'), [
    ["Type", '"\\u0041"'],
    ['a"b', "[ 1 ]"],
  ]);
});

Deno.test("scanGoObject() returns false when the text is not a single object", () => {
  for (
    const text of [
      "",
      " ",
      "[]",
      '"{}"',
      "null",
      "{",
      '{"a":1',
      '{"a":1}x',
      '{"a":1}{}',
      "{} ,",
      '{"a":1,}',
      '{"a" 1}',
      '{"a":1 "b":2}',
      '{"a":}',
      '{"a":,"b":1}',
      "{a:1}",
      "{1:1}",
      '{"a',
      '{"a":"1}',
      '{"a":[1}',
      '{"\\x":1}',
      "\uFEFF{}",
    ]
  ) {
    assert.equal(pairs(text), undefined, JSON.stringify(text));
  }
});

Deno.test("scanGoObject() rejects nesting deeper than maxDepth, counting the object as 1", () => {
  const text = (levels: number) => `{"a":1,"x":${nested(levels)},"b":2}`;
  assert.equal(pairs(text(GO_MAX_NESTING_DEPTH - 1))?.length, 3); // 1 + 9999 levels
  assert.equal(pairs(text(GO_MAX_NESTING_DEPTH)), undefined);
  assert.equal(pairs(text(GO_MAX_NESTING_DEPTH), Infinity)?.length, 3);
  assert.deepEqual(pairs('{"a":[]}', 2), [["a", "[]"]]);
  assert.equal(pairs('{"a":[]}', 1), undefined);
  assert.deepEqual(pairs('{"a":1}', 1), [["a", "1"]]);
});

Deno.test("scanGoObject() throws RangeError when maxDepth is below 1 or not a number", () => {
  for (const maxDepth of [0, -1, 0.5, NaN]) {
    assert.throws(() => scanGoObject("{}", maxDepth, () => {}), RangeError, String(maxDepth));
  }
});

/**
 * A JSON object text with random members (duplicate keys likely) and random whitespace, with the
 * exact text written for each key and value. Expectations come from these texts, not from
 * JSON.parse's object: V8's JSON.parse can misread escaped keys (nodejs/node#63785).
 */
const spacedObject = fc.tuple(
  fc.array(
    fc.tuple(
      fc.constantFrom("a", "B", "a", "\u00e9", '"', "\\", "__proto__", "1", "", "\n"),
      fc.jsonValue(),
    ),
    { maxLength: 8 },
  ),
  fc.array(fc.constantFrom(" ", "\t", "\n", "\r"), { minLength: 10, maxLength: 10 }),
).map(([entries, ws]) => {
  const w = (i: number) => ws[i % ws.length].repeat(i % 3);
  const members: [string, string][] = [];
  entries.forEach(([k, v], i) => members.push([k, JSON.stringify(v, null, w(i + 3))]));
  const body = members.map(([k, v], i) =>
    `${w(i)}${JSON.stringify(k)}${w(i + 1)}:${w(i + 2)}${v}${w(i)}`
  );
  return { members, text: `${w(1)}{${body.join(",")}}${w(2)}` };
});

Deno.test("scanGoObject() finds every member's key and exact value text in any JSON object", () => {
  fc.assert(
    fc.property(spacedObject, ({ members, text }) => {
      assert.deepEqual(pairs(text), members, text);
    }),
  );
});

Deno.test("scanGoObject() reads escaped keys right where JSON.parse's object misreads them", () => {
  // V8's key cache bug (nodejs/node#63785): after a `\` key, `"\""` reads back as `\`.
  JSON.parse('{"h":[],"\\\\":0}');
  const text = '{"h":1,"\\"":2}';
  assert.deepEqual(pairs(text), [["h", "1"], ['"', "2"]]);
  assert.equal(jsonStringText('"\\""'), '"');
});

Deno.test("scanGoObject() returns false for any JSON value that is not an object", () => {
  fc.assert(
    fc.property(fc.json(), (text) => {
      const value: unknown = JSON.parse(text);
      const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
      assert.equal(pairs(text) !== undefined, isObject, text);
    }),
  );
});

Deno.test("scanGoObject() never throws and visits in-range, ordered offsets on arbitrary text", () => {
  const jsonish = fc.array(
    fc.constantFrom("{", "}", "[", "]", '"', "\\", ":", ",", " ", "a", "1", "null", '"k"'),
    { maxLength: 40 },
  ).map((parts) => parts.join(""));
  fc.assert(
    fc.property(fc.oneof(fc.string(), jsonish), (text) => {
      let last = 0;
      scanGoObject(text, GO_MAX_NESTING_DEPTH, (_key, valueStart, valueEnd) => {
        assert.ok(last < valueStart && valueStart < valueEnd && valueEnd <= text.length);
        last = valueEnd;
      });
    }),
    { numRuns: 2000 },
  );
});

Deno.test("scanGoObject() stops and returns false when the visitor returns false", () => {
  const seen: string[] = [];
  const ok = scanGoObject('{"a":1,"b":2,"c":3}', GO_MAX_NESTING_DEPTH, (key) => {
    seen.push(key);
    return key !== "b";
  });
  assert.equal(ok, false);
  assert.deepEqual(seen, ["a", "b"]);
  assert.equal(scanGoObject('{"a":1}', GO_MAX_NESTING_DEPTH, () => true), true);
});

Deno.test("scanGoObject() visits the members before a syntax problem, then returns false", () => {
  const seen: string[] = [];
  const ok = scanGoObject('{"a":1,"b":2 "c":3}', GO_MAX_NESTING_DEPTH, (key) => {
    seen.push(key);
  });
  assert.equal(ok, false);
  assert.deepEqual(seen, ["a", "b"]);
});

// ---------------------------------------------------------------------------------------------
// Key folding and matching

Deno.test("goFoldName() upper-cases ASCII letters and folds ſ and the Kelvin sign like Go", () => {
  assert.equal(goFoldName("connId"), "CONNID");
  assert.equal(goFoldName("\u017feqNum"), "SEQNUM");
  assert.equal(goFoldName("chec\u212asum"), "CHECKSUM");
  assert.equal(goFoldName("Conn_ID-9"), "CONN_ID-9");
  assert.equal(goFoldName("\u00e9\u0131\u0130\u00df"), "\u00e9\u0131\u0130\u00df"); // é ı İ ß kept
});

Deno.test("goFoldName() folds into A-Z only a-z, A-Z, ſ and the Kelvin sign (Go's fold orbits)", () => {
  const into = new Map<string, string[]>();
  for (let c = 0; c <= 0xffff; c++) {
    const folded = goFoldName(String.fromCharCode(c));
    if (/^[A-Z]$/.test(folded)) {
      into.set(folded, [...into.get(folded) ?? [], String.fromCharCode(c)]);
    }
  }
  assert.equal(into.size, 26);
  for (const [letter, chars] of into) {
    const expected = [letter, letter.toLowerCase()];
    if (letter === "S") expected.push("\u017f");
    if (letter === "K") expected.push("\u212a");
    assert.deepEqual(chars, expected, letter);
  }
});

Deno.test("goKeyEquals() matches ASCII keys case-insensitively and nothing else", () => {
  assert.ok(goKeyEquals("CONNID", "ConnID"));
  assert.ok(goKeyEquals("\u017fize", "Size"));
  assert.ok(!goKeyEquals("ConnID ", "ConnID"));
  assert.ok(!goKeyEquals("Conn", "ConnID"));
  assert.ok(!goKeyEquals("T\u0131pe", "Tipe")); // dotless i
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom("a", "A", "b", "B", "s", "S", "_", "1"), maxLength: 4 }),
      fc.string({ unit: fc.constantFrom("a", "A", "b", "B", "s", "S", "_", "1"), maxLength: 4 }),
      (key, name) => {
        assert.equal(goKeyEquals(key, name), key.toUpperCase() === name.toUpperCase());
      },
    ),
  );
});

const LSP_FIELDS = ["Type", "ConnID", "SeqNum", "Size", "Checksum", "Payload"];

Deno.test("goFieldMatcher() returns the field's index for a matching key and -1 otherwise", () => {
  const fieldOf = goFieldMatcher(LSP_FIELDS);
  assert.equal(fieldOf("Type"), 0);
  assert.equal(fieldOf("connid"), 1);
  assert.equal(fieldOf("\u017fEQNUM"), 2);
  assert.equal(fieldOf("size"), 3);
  assert.equal(fieldOf("Chec\u212asum"), 4);
  assert.equal(fieldOf("PAYLOAD"), 5);
  for (const key of ["", "Typ", "Types", "Conn_ID", "Checksums", "X", "T\u0131pe", " Type"]) {
    assert.equal(fieldOf(key), -1, key);
  }
});

Deno.test("goFieldMatcher() agrees with goKeyEquals() against each name", () => {
  const fieldOf = goFieldMatcher(LSP_FIELDS);
  const unit = fc.constantFrom(..."TtYyPpEeSsIiZz\u017f\u212aKkCcHhUuMmAaLlOoDdNnQq_".split(""));
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit, minLength: 3, maxLength: 9 }), fc.constantFrom(...LSP_FIELDS)),
      (key) => {
        assert.equal(fieldOf(key), LSP_FIELDS.findIndex((name) => goKeyEquals(key, name)));
      },
    ),
  );
});

Deno.test("goFieldMatcher() throws TypeError when a name is empty or not printable ASCII", () => {
  for (const bad of ["", "Na me", "N\u00e4me", "\u017fize", 1 as unknown as string]) {
    assert.throws(() => goFieldMatcher(["Type", bad]), TypeError, String(bad));
  }
});

Deno.test("goFieldMatcher() throws RangeError when two names fold alike", () => {
  assert.throws(() => goFieldMatcher(["Type", "Size", "TYPE"]), RangeError);
  assert.doesNotThrow(() => goFieldMatcher([]));
});
