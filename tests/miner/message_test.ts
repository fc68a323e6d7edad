import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeMessage,
  encodeMessage,
  joinMessage,
  MAX_DECODE_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_UINT64,
  type MinerMessage,
  progressMessage,
  readMessage,
  requestFits,
  requestMessage,
  resultMessage,
} from "../../src/miner/message.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const enc = (s: string) => te.encode(s);
const text = (m: MinerMessage) => td.decode(encodeMessage(m));

/** The reason readMessage() gives for `s`, or "ok". */
function reason(s: string | Uint8Array): string {
  const r = readMessage(typeof s === "string" ? enc(s) : s);
  return r.ok ? "ok" : r.reason;
}

// Spec miner.md §2.1, byte for byte.
const SPEC_LINES: [MinerMessage, string][] = [
  [joinMessage(), '{"Type":0,"Data":"","Lower":0,"Upper":0,"Hash":0,"Nonce":0}'],
  [
    requestMessage("bradfitz", 0n, 9999n),
    '{"Type":1,"Data":"bradfitz","Lower":0,"Upper":9999,"Hash":0,"Nonce":0}',
  ],
  [
    requestMessage("bradfitz", 10000n, 19999n),
    '{"Type":1,"Data":"bradfitz","Lower":10000,"Upper":19999,"Hash":0,"Nonce":0}',
  ],
  [
    resultMessage(1419516646206828n, 9898n),
    '{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":1419516646206828,"Nonce":9898}',
  ],
  [
    resultMessage(18446744073709551615n, 42n),
    '{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":18446744073709551615,"Nonce":42}',
  ],
];

Deno.test("encodeMessage() writes the spec's example messages byte for byte", () => {
  for (const [message, line] of SPEC_LINES) assert.equal(text(message), line);
});

Deno.test("decodeMessage() reads the spec's example messages back exactly", () => {
  for (const [message, line] of SPEC_LINES) assert.deepEqual(decodeMessage(enc(line)), message);
});

const EDGES = [0n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, MAX_UINT64];

Deno.test("encodeMessage() and decodeMessage() keep uint64 edge values exact in every field", () => {
  for (const v of EDGES) {
    const r = resultMessage(v, v);
    assert.equal(text(r), `{"Type":2,"Data":"","Lower":0,"Upper":0,"Hash":${v},"Nonce":${v}}`);
    assert.deepEqual(decodeMessage(encodeMessage(r)), r);
    const q = requestMessage("x", v, v);
    assert.equal(text(q), `{"Type":1,"Data":"x","Lower":${v},"Upper":${v},"Hash":0,"Nonce":0}`);
    assert.deepEqual(decodeMessage(encodeMessage(q)), q);
  }
  // The number JSON.parse would round 2^53 + 1 to, and the one 2^64 − 1 prints as.
  assert.equal(
    (decodeMessage(enc('{"Type":2,"Hash":9007199254740993}')) as { hash: bigint }).hash,
    9007199254740993n,
  );
  assert.equal(reason('{"Type":2,"Hash":18446744073709552000}'), "badField");
});

Deno.test("readMessage() rejects integers Go's ParseUint rejects", () => {
  const bad = [
    "1e3",
    "1E3",
    "1.0",
    "1.5",
    "-1",
    "-0",
    "18446744073709551616",
    "99999999999999999999999",
    "1.8446744073709552e+19",
    '"5"',
    "true",
    "[]",
    "{}",
  ];
  for (const field of ["Lower", "Upper", "Hash", "Nonce"]) {
    for (const v of bad) {
      assert.equal(reason(`{"Type":2,"${field}":${v}}`), "badField", `${field}: ${v}`);
    }
  }
});

Deno.test("readMessage() rejects a bad Type, a non-string Data and non-objects", () => {
  for (const t of ['"1"', "1.0", "true", "[1]", "9223372036854775808"]) {
    assert.equal(reason(`{"Type":${t}}`), "badField", t);
  }
  for (const t of ["4", "-1", "9223372036854775807", "-9223372036854775808"]) {
    assert.equal(reason(`{"Type":${t}}`), "unknownType", t);
  }
  for (const d of ["5", "true", "[]", '{"a":1}']) {
    assert.equal(reason(`{"Type":1,"Data":${d},"Upper":5}`), "badField", d);
  }
  for (const t of ["null", "[]", "5", '"Join"', "true"]) assert.equal(reason(t), "notObject", t);
  for (const t of ["", "{", '{"Type":0}x', '{"Type":0}{}', "\ufeff{}", "{'Type':0}", "{Type:0}"]) {
    assert.equal(reason(t), "notJson", JSON.stringify(t));
  }
  assert.equal(reason(new Uint8Array(MAX_DECODE_BYTES + 1).fill(0x20)), "tooLarge");
  assert.equal(reason(new Uint8Array([0xff, 0xfe])), "notJson");
  assert.equal(readMessage("{}" as unknown as Uint8Array).ok, false);
  assert.equal(readMessage(undefined as unknown as Uint8Array).ok, false);
});

Deno.test("readMessage() rejects Lower > Upper in a Request and keeps the Request for the miner", () => {
  const r = readMessage(enc('{"Type":1,"Data":"msg","Lower":10,"Upper":9}'));
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.equal(r.reason, "lowerAboveUpper");
  assert.equal(r.wireType, 1);
  assert.deepEqual(r.request, {
    type: "request",
    data: "msg",
    lower: 10n,
    upper: 9n,
    wantProgress: false,
  });
  assert.equal(decodeMessage(enc('{"Type":1,"Lower":1}')), undefined);
  // Equal bounds are a one-nonce search.
  assert.equal(reason('{"Type":1,"Lower":7,"Upper":7}'), "ok");
});

Deno.test("readMessage() accepts what Go accepts: case, order, spaces, unknown and missing keys", () => {
  const cases: [string, MinerMessage][] = [
    ["{}", joinMessage()],
    ['{"Type":null,"Data":null}', joinMessage()],
    ['{"Type":-0}', joinMessage()],
    [' \n{ "type" : 2 ,\t"HASH":5, "nOnCe":6 }\r\n', resultMessage(5n, 6n)],
    ['{"Nonce":6,"Hash":5,"Type":2}', resultMessage(5n, 6n)],
    ['{"Type":2,"Ha\u017fh":5}', resultMessage(5n, 0n)], // ſ folds with s, as in Go
    ['{"\\u0054ype":2,"\\u0048ash":5}', resultMessage(5n, 0n)],
    [
      '{"Type":2,"Hash":5,"Lower":1,"Upper":2,"Extra":[1,{"a":[null]}],"Data":"x","n":1e99}',
      resultMessage(5n, 0n),
    ],
    ['{"Type":1,"Upper":3}', requestMessage("", 0n, 3n)],
    ['{"Type":2,"Hash":5,"Hash":7}', resultMessage(7n, 0n)],
    ['{"Type":2,"Hash":5,"hash":null}', resultMessage(5n, 0n)], // null leaves the field alone
    ['{"Type":2,"hash":5,"HASH":7,"Hash":9}', resultMessage(9n, 0n)],
    ['{"Type":1,"Data":"a","data":"b","Upper":1}', requestMessage("b", 0n, 1n)],
    ['{"Type":2,"Searched":"not ours to check","Hash":1}', resultMessage(1n, 0n)],
  ];
  for (const [input, expected] of cases) {
    assert.deepEqual(decodeMessage(enc(input)), expected, input);
  }
});

Deno.test("readMessage() keeps the first bad value even when a later duplicate is fine", () => {
  assert.equal(reason('{"Type":2,"Hash":"x","Hash":5}'), "badField");
  assert.equal(reason('{"Type":2,"Hash":5,"Hash":-5}'), "badField");
});

Deno.test("readMessage() decodes Data escapes, and invalid UTF-8 as U+FFFD like Go", () => {
  const m = decodeMessage(
    enc('{"Type":1,"Data":"a\\u003cb\\n\\"\\u00e9\\ud83d\\ude80","Upper":1}'),
  );
  assert.equal(m?.type === "request" && m.data, 'a<b\n"é🚀');
  const raw = new Uint8Array([...enc('{"Type":1,"Data":"a'), 0xff, ...enc('b","Upper":1}')]);
  const n = decodeMessage(raw);
  assert.equal(n?.type === "request" && n.data, "a\ufffdb");
});

Deno.test("encodeMessage() escapes Data exactly as Go's encoder does", () => {
  const cases: [string, string][] = [
    ["plain text 123", '"plain text 123"'],
    ["<a href='x'>&</a>", "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\""],
    ['q"b\\s/', '"q\\"b\\\\s/"'],
    ["\b\f\n\r\t\x00\x1f\x7f", '"\\b\\f\\n\\r\\t\\u0000\\u001f\x7f"'],
    ["\u2028\u2029", '"\\u2028\\u2029"'],
    ["héllo wörld ✓ 日本 🚀", '"héllo wörld ✓ 日本 🚀"'],
    ["lone \ud800 and \udc00 end\ud83d", '"lone \\ufffd and \\ufffd end\\ufffd"'],
    ["\\ud800", '"\\\\ud800"'],
  ];
  for (const [data, json] of cases) {
    const line = text(requestMessage(data, 0n, 1n));
    assert.equal(line, `{"Type":1,"Data":${json},"Lower":0,"Upper":1,"Hash":0,"Nonce":0}`, data);
    const back = decodeMessage(enc(line));
    const expected = data.replace(
      /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
      "\ufffd",
    );
    assert.equal(back?.type === "request" && back.data, expected, data);
  }
});

Deno.test("encodeMessage() adds the progress key only when a Request asks", () => {
  assert.equal(
    text(requestMessage("msg", 0n, 2n, { wantProgress: true })),
    '{"Type":1,"Data":"msg","Lower":0,"Upper":2,"Hash":0,"Nonce":0,"Progress":true}',
  );
  assert.equal(
    text(requestMessage("msg", 0n, 2n, { wantProgress: false })),
    '{"Type":1,"Data":"msg","Lower":0,"Upper":2,"Hash":0,"Nonce":0}',
  );
});

Deno.test("readMessage() reads only a literal true as asking for progress, never failing", () => {
  const want = (v: string) => {
    const m = decodeMessage(enc(`{"Type":1,"Upper":2,"Progress":${v}}`));
    assert.equal(m?.type, "request", v);
    return m?.type === "request" && m.wantProgress;
  };
  assert.equal(want("true"), true);
  for (const v of ["false", "1", '"true"', "null", "[true]", '{"a":true}']) {
    assert.equal(want(v), false, v);
  }
  assert.equal(
    (decodeMessage(enc('{"Type":1,"Upper":2,"pRoGrEsS":true}')) as { wantProgress: boolean })
      .wantProgress,
    true,
  );
  assert.equal(
    (decodeMessage(enc('{"Type":1,"Upper":2,"Progress":true,"Progress":null}')) as {
      wantProgress: boolean;
    }).wantProgress,
    true,
  );
});

Deno.test("encodeMessage() and readMessage() carry Progress messages with Searched exactly", () => {
  const p = progressMessage({
    lower: 0n,
    upper: MAX_UINT64,
    hash: 2n ** 60n,
    nonce: 2n ** 53n + 1n,
    searched: MAX_UINT64,
  });
  const line = text(p);
  assert.equal(
    line,
    `{"Type":3,"Data":"","Lower":0,"Upper":${MAX_UINT64},"Hash":${2n ** 60n},` +
      `"Nonce":${2n ** 53n + 1n},"Searched":${MAX_UINT64}}`,
  );
  assert.deepEqual(decodeMessage(enc(line)), p);
  assert.equal(reason('{"Type":3,"Upper":9,"Searched":1.5}'), "badField");
  assert.equal(reason('{"Type":3,"Upper":9,"Searched":11}'), "badField");
  assert.equal(reason('{"Type":3,"Upper":9,"Searched":10}'), "ok");
  assert.equal(reason('{"Type":3,"Lower":9,"Upper":8}'), "lowerAboveUpper");
});

Deno.test("encodeMessage() throws TypeError or RangeError on local misuse", () => {
  assert.throws(() => resultMessage(1 as unknown as bigint, 0n), TypeError);
  assert.throws(() => resultMessage(-1n, 0n), RangeError);
  assert.throws(() => resultMessage(0n, MAX_UINT64 + 1n), RangeError);
  assert.throws(() => requestMessage(5 as unknown as string, 0n, 1n), TypeError);
  assert.throws(() => requestMessage("x", 2n, 1n), RangeError);
  assert.throws(
    () => encodeMessage(requestMessage("x".repeat(MAX_MESSAGE_BYTES), 0n, 1n)),
    RangeError,
  );
  assert.throws(
    () => encodeMessage({ type: "request", data: "x", lower: 2n, upper: 1n, wantProgress: false }),
    RangeError,
  );
  assert.throws(
    () => encodeMessage({ type: "result", hash: 1, nonce: 2 } as unknown as MinerMessage),
    TypeError,
  );
  assert.throws(() => encodeMessage({ type: "nope" } as unknown as MinerMessage), TypeError);
  assert.throws(() => encodeMessage(null as unknown as MinerMessage), TypeError);
  assert.throws(
    () => progressMessage({ lower: 0n, upper: 9n, hash: 0n, nonce: 0n, searched: 11n }),
    RangeError,
  );
  // Within the limit it works, and encoded lengths never pass it.
  const longest = "x".repeat(MAX_MESSAGE_BYTES - 59);
  assert.equal(encodeMessage(requestMessage(longest, 0n, 1n)).length, MAX_MESSAGE_BYTES);
  assert.throws(() => encodeMessage(requestMessage(longest + "x", 0n, 1n)), RangeError);
});

Deno.test("requestFits() matches what encodeMessage() can encode for the request's bounds", () => {
  for (const upper of [0n, 9999n, 2n ** 53n, MAX_UINT64]) {
    let n = 0;
    while (requestFits("é".repeat(n + 1), upper)) n++;
    assert.doesNotThrow(() => encodeMessage(requestMessage("é".repeat(n), upper, upper)));
    assert.throws(() => encodeMessage(requestMessage("é".repeat(n + 1), upper, upper)), RangeError);
  }
  assert.equal(requestFits("<".repeat(150)), true);
  assert.equal(requestFits("<".repeat(160)), false); // each "<" takes 6 bytes as \u003c
});

const uint64 = fc.bigInt({ min: 0n, max: MAX_UINT64 });
const anyMessage: fc.Arbitrary<MinerMessage> = fc.oneof(
  fc.constant(joinMessage()),
  fc.tuple(fc.string({ maxLength: 40, unit: "grapheme" }), uint64, uint64, fc.boolean()).map((
    [d, a, b, p],
  ) => requestMessage(d, a < b ? a : b, a < b ? b : a, { wantProgress: p })),
  fc.tuple(uint64, uint64).map(([h, n]) => resultMessage(h, n)),
  fc.tuple(uint64, uint64, uint64, uint64).map(([a, b, h, n]) => {
    const [lo, hi] = a < b ? [a, b] : [b, a];
    return progressMessage({ lower: lo, upper: hi, hash: h, nonce: n, searched: (hi - lo) / 2n });
  }),
);

Deno.test("decodeMessage() inverts encodeMessage() for any valid message", () => {
  fc.assert(
    fc.property(anyMessage, (m) => {
      assert.deepEqual(decodeMessage(encodeMessage(m)), m);
    }),
    { numRuns: 500 },
  );
});

Deno.test("readMessage() never throws on arbitrary bytes or JSON-ish text", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      readMessage(bytes);
    }),
    { numRuns: 500 },
  );
  const jsonish = fc.json({ maxDepth: 3 }).map((j) => enc(j));
  fc.assert(
    fc.property(jsonish, (bytes) => {
      const r = readMessage(bytes);
      assert.equal(typeof r.ok, "boolean");
    }),
    { numRuns: 500 },
  );
  // Mutations of valid lines decode, or fail with a reason; never throw.
  fc.assert(
    fc.property(anyMessage, fc.nat(200), fc.integer({ min: 0, max: 255 }), (m, at, byte) => {
      const bytes = encodeMessage(m).slice();
      bytes[at % bytes.length] = byte;
      const r = readMessage(bytes);
      assert.ok(r.ok || typeof r.reason === "string");
    }),
    { numRuns: 500 },
  );
});
