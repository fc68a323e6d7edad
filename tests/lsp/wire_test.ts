import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ackMessage,
  cackMessage,
  connectMessage,
  dataMessage,
  decodeBase64,
  decodeMessage,
  encodeBase64,
  encodedLength,
  encodeMessage,
  heartbeatMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MAX_PAYLOAD_BYTES,
  MsgType,
  shortestDataMessageLength,
} from "../../src/lsp/wire.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const enc = (s: string): Uint8Array => te.encode(s);
const dec = (s: string): LspMessage | undefined => decodeMessage(enc(s));
const text = (m: LspMessage): string => td.decode(encodeMessage(m));

function msg(
  type: MsgType,
  connId: number,
  seqNum: number,
  size = 0,
  checksum = 0,
  payload: Uint8Array | null = null,
): LspMessage {
  return { type, connId, seqNum, size, checksum, payload };
}

const HELLO = enc("hello");

/** The canonical examples of spec §3.2, with the message each one encodes. */
const SPEC_EXAMPLES: [string, LspMessage][] = [
  ['{"Type":0,"ConnID":0,"SeqNum":100,"Size":0,"Checksum":0,"Payload":null}', connectMessage(100)],
  ['{"Type":2,"ConnID":1,"SeqNum":100,"Size":0,"Checksum":0,"Payload":null}', ackMessage(1, 100)],
  [
    '{"Type":1,"ConnID":1,"SeqNum":101,"Size":5,"Checksum":11601,"Payload":"aGVsbG8="}',
    dataMessage(1, 101, HELLO),
  ],
  ['{"Type":2,"ConnID":1,"SeqNum":101,"Size":0,"Checksum":0,"Payload":null}', ackMessage(1, 101)],
  ['{"Type":3,"ConnID":1,"SeqNum":105,"Size":0,"Checksum":0,"Payload":null}', cackMessage(1, 105)],
  ['{"Type":2,"ConnID":1,"SeqNum":0,"Size":0,"Checksum":0,"Payload":null}', heartbeatMessage(1)],
  ['{"Type":0,"ConnID":0,"SeqNum":0,"Size":0,"Checksum":0,"Payload":null}', connectMessage(0)],
];

// ---------------------------------------------------------------------------------------------
// Encoding

Deno.test("encodeMessage() writes the spec's canonical examples byte for byte", () => {
  for (const [line, m] of SPEC_EXAMPLES) assert.equal(text(m), line);
});

Deno.test("encodeMessage() writes an empty Data payload as an empty string", () => {
  assert.equal(
    text(dataMessage(0, 0, new Uint8Array(0))),
    '{"Type":1,"ConnID":0,"SeqNum":0,"Size":0,"Checksum":65535,"Payload":""}',
  );
});

Deno.test("encodeMessage() writes negative numbers and -0 like Go", () => {
  assert.equal(
    text(msg(MsgType.Ack, -1, -0, -5)),
    '{"Type":2,"ConnID":-1,"SeqNum":0,"Size":-5,"Checksum":0,"Payload":null}',
  );
});

Deno.test("encodeMessage() throws RangeError on unsafe integers, bad Type or Checksum", () => {
  assert.throws(() => encodeMessage(msg(MsgType.Ack, 2 ** 53, 0)), RangeError);
  assert.throws(() => encodeMessage(msg(MsgType.Ack, 1, 0.5)), RangeError);
  assert.throws(() => encodeMessage(msg(MsgType.Ack, 1, NaN)), RangeError);
  assert.throws(() => encodeMessage(msg(4 as MsgType, 1, 0)), RangeError);
  assert.throws(() => encodeMessage(msg(MsgType.Data, 1, 0, 0, 65536)), RangeError);
  assert.throws(() => encodeMessage(msg(MsgType.Data, 1, 0, 0, -1)), RangeError);
});

Deno.test("encodeMessage() throws TypeError on fields of the wrong type", () => {
  assert.throws(
    () => encodeMessage({ ...ackMessage(1, 1), seqNum: "1" as unknown as number }),
    TypeError,
  );
  assert.throws(
    () => encodeMessage({ ...ackMessage(1, 1), payload: [1] as unknown as Uint8Array }),
    TypeError,
  );
});

Deno.test("encodeMessage() stays within 1500 bytes for a 1044-byte payload and extreme numbers", () => {
  const payload = new Uint8Array(1044).fill(0xff);
  for (const n of [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]) {
    const bytes = encodeMessage(dataMessage(n, n, payload));
    assert.ok(bytes.length <= MAX_DATAGRAM_BYTES, `${bytes.length} bytes`);
  }
  const longest = dataMessage(-Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, payload);
  assert.equal(encodeMessage({ ...longest, checksum: 65535 }).length, 1498);
  const more = { ...longest, payload: new Uint8Array(1045), size: 1045, checksum: 65535 };
  assert.equal(encodeMessage(more).length, 1502); // one byte more may not fit
});

Deno.test("MAX_PAYLOAD_BYTES is the largest payload any Data message holds in 1500 bytes", () => {
  assert.equal(MAX_PAYLOAD_BYTES, 1071);
  const fits = dataMessage(1, 1, new Uint8Array(MAX_PAYLOAD_BYTES).fill(0x0a)); // checksum 202
  assert.equal(fits.checksum, 202);
  assert.equal(encodeMessage(fits).length, MAX_DATAGRAM_BYTES);
  const tight = {
    ...fits,
    checksum: 0,
    payload: new Uint8Array(MAX_PAYLOAD_BYTES + 1),
    size: 1072,
  };
  assert.equal(encodeMessage(tight).length, 1502); // every field at its shortest: still too long
  assert.equal(shortestDataMessageLength(1072), 1502);
  assert.equal(shortestDataMessageLength(MAX_PAYLOAD_BYTES), 1498);
  assert.equal(shortestDataMessageLength(0), 67); // {"Type":1,"ConnID":1,...,"Payload":""}
  // With a five-digit checksum, 1068 bytes is the edge (the spec's "about 1,068").
  const five = dataMessage(1, 1, new Uint8Array(1068));
  assert.equal(five.checksum, 64465);
  assert.equal(encodeMessage(five).length, 1498);
  assert.equal(encodeMessage(dataMessage(1, 1, new Uint8Array(1069))).length, 1502);
});

Deno.test("encodedLength() is the length of encodeMessage() for every kind of message", () => {
  const int = fc.oneof(
    fc.integer({ min: -1000, max: 1000 }),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.maxSafeInteger().map((n) => -n),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3 }),
      int,
      int,
      int,
      fc.integer({ min: 0, max: 65535 }),
      fc.option(fc.uint8Array({ maxLength: 1200 })),
      (type, connId, seqNum, size, sum, payload) => {
        const m = { type: type as MsgType, connId, seqNum, size, checksum: sum, payload };
        assert.equal(encodedLength(m), encodeMessage(m).length);
      },
    ),
    { numRuns: 2000 },
  );
  const d = dataMessage(1, 1, null);
  assert.deepEqual(d, { ...dataMessage(1, 1, new Uint8Array(0)), payload: null });
  assert.equal(encodedLength(d), encodeMessage(d).length);
});

// ---------------------------------------------------------------------------------------------
// Base64

Deno.test("encodeBase64() matches btoa for every length 0..64", () => {
  for (let n = 0; n <= 64; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
    assert.equal(encodeBase64(bytes), btoa(String.fromCharCode(...bytes)));
  }
});

Deno.test("decodeBase64() inverts encodeBase64() for every length 0..64", () => {
  for (let n = 0; n <= 64; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 91 + 7) & 0xff);
    assert.deepEqual(decodeBase64(encodeBase64(bytes)), bytes);
  }
});

Deno.test("decodeBase64() rejects what Go's StdEncoding rejects", () => {
  for (
    const bad of [
      "aGVsbG8", // unpadded
      "aGVsbG8==", // too much padding
      "aGV sbG8=", // a space
      "-_8=", // URL-safe alphabet
      "aGVs=G8=", // padding in the middle
      "aG==aGVs", // data after padding
      "a===",
      "====",
      "aGVsbG8\u00e9",
    ]
  ) {
    assert.equal(decodeBase64(bad), undefined, bad);
  }
});

Deno.test("decodeBase64() ignores \\r and \\n anywhere, like Go", () => {
  assert.deepEqual(decodeBase64("aGVs\r\nbG8\n="), HELLO);
});

Deno.test("decodeBase64() accepts non-zero unused trailing bits, like Go's non-strict mode", () => {
  assert.deepEqual(decodeBase64("aGVsbG9="), HELLO);
});

// ---------------------------------------------------------------------------------------------
// Decoding: what the reference accepts

Deno.test("decodeMessage() reads the spec's canonical examples back", () => {
  for (const [line, m] of SPEC_EXAMPLES) assert.deepEqual(dec(line), m, line);
});

Deno.test("decodeMessage() accepts keys in any order, whitespace and a trailing newline", () => {
  const m = dec(
    ' \r\n\t{ "Payload" : "aGVsbG8=" ,\n "Checksum":11601, "Size":5,"SeqNum":101,"ConnID":1,"Type":1 }\n',
  );
  assert.deepEqual(m, dataMessage(1, 101, HELLO));
});

Deno.test("decodeMessage() matches key names case-insensitively like Go", () => {
  assert.deepEqual(
    dec('{"type":1,"CONNID":1,"seqnum":101,"sIzE":5,"checksum":11601,"PAYLOAD":"aGVsbG8="}'),
    dataMessage(1, 101, HELLO),
  );
  // Go folds the long s (U+017F) with "s" and the Kelvin sign (U+212A) with "k".
  assert.deepEqual(
    dec('{"Type":1,"ConnID":1,"ſeqNum":101,"ſize":5,"Chec\u212Aſum":11601,"Payload":"aGVsbG8="}'),
    dataMessage(1, 101, HELLO),
  );
  // Escaped key names are unescaped first.
  assert.equal(dec('{"\\u0054ype":2,"ConnID":1,"SeqNum":3}')?.type, MsgType.Ack);
});

Deno.test("decodeMessage() does not match keys that only look similar", () => {
  // Not a fold of "Type"/"SeqNum": these are unknown keys, so the fields stay 0.
  const m = dec('{"Type ":2,"Seq_Num":9,"İd":1,"SeqNumber":4,"Type":3}');
  assert.deepEqual(m, msg(MsgType.CAck, 0, 0));
});

Deno.test("decodeMessage() ignores unknown keys whatever their values", () => {
  const m = dec(
    '{"Type":2,"Extra":{"a":[1,2,{"b":"}]\\""}],"c":null},"More":[[[]]],"X":"\\"","ConnID":4,"SeqNum":8,"Y":1e999}',
  );
  assert.deepEqual(m, ackMessage(4, 8));
});

Deno.test("decodeMessage() treats missing keys as 0 and null", () => {
  assert.deepEqual(dec("{}"), connectMessage(0));
  assert.deepEqual(dec('{"Type":2,"ConnID":3}'), heartbeatMessage(3));
});

Deno.test("decodeMessage() lets the last duplicate key win, and a null keep the earlier value", () => {
  assert.equal(dec('{"Type":1,"type":2,"Type":3}')?.type, MsgType.CAck);
  assert.equal(dec('{"SeqNum":5,"SeqNum":null}')?.seqNum, 5);
  assert.equal(dec('{"SeqNum":5,"seqnum":null,"SEQNUM":7}')?.seqNum, 7);
  assert.equal(dec('{"Payload":"aGVsbG8=","Payload":null}')?.payload, null);
});

Deno.test("decodeMessage() drops a message when an earlier duplicate has the wrong type", () => {
  assert.equal(dec('{"Type":"2","Type":2}'), undefined);
  assert.equal(dec('{"SeqNum":1.5,"seqnum":1}'), undefined);
});

Deno.test("decodeMessage() treats integer nulls as untouched zero fields", () => {
  assert.deepEqual(
    dec('{"Type":null,"ConnID":null,"SeqNum":null,"Size":null,"Checksum":null,"Payload":null}'),
    connectMessage(0),
  );
});

Deno.test("decodeMessage() reads Payload as null, empty string, base64 or an array of bytes", () => {
  assert.equal(dec('{"Type":1,"Payload":null}')?.payload, null);
  assert.deepEqual(dec('{"Type":1,"Payload":""}')?.payload, new Uint8Array(0));
  assert.deepEqual(dec('{"Type":1,"Payload":"aGVsbG8="}')?.payload, HELLO);
  assert.deepEqual(dec('{"Type":1,"Payload":[104, 101,108,108 ,111]}')?.payload, HELLO);
  assert.deepEqual(dec('{"Type":1,"Payload":[]}')?.payload, new Uint8Array(0));
  assert.deepEqual(dec('{"Type":1,"Payload":[null,5]}')?.payload, Uint8Array.of(0, 5));
});

Deno.test("decodeMessage() accepts an escaped line break inside base64, like Go", () => {
  assert.deepEqual(dec('{"Type":1,"Payload":"aGVs\\nbG8="}')?.payload, HELLO);
  assert.deepEqual(dec('{"Type":1,"Payload":"\\u0061GVsbG8="}')?.payload, HELLO);
});

Deno.test("decodeMessage() accepts invalid UTF-8 inside strings and rejects it outside", () => {
  const bytes = Uint8Array.of(...enc('{"x'), 0xff, 0xfe, ...enc('":1,"Type":2,"ConnID":1}'));
  assert.deepEqual(decodeMessage(bytes), heartbeatMessage(1));
  const outside = Uint8Array.of(...enc('{"Type":2,'), 0xff, ...enc('"ConnID":1}'));
  assert.equal(decodeMessage(outside), undefined);
});

Deno.test("decodeMessage() keeps integers exact up to ±(2^53 − 1)", () => {
  const max = Number.MAX_SAFE_INTEGER;
  const m = dec(`{"Type":2,"ConnID":-${max},"SeqNum":${max},"Size":-0}`);
  assert.deepEqual(m, msg(MsgType.Ack, -max, max, 0));
  assert.ok(Object.is(m?.size, 0), "-0 decodes as 0");
  assert.equal(dec('{"SeqNum":1234567890123456}')?.seqNum, 1234567890123456);
});

// ---------------------------------------------------------------------------------------------
// Decoding: what is dropped

Deno.test("decodeMessage() drops integers beyond ±(2^53 − 1) instead of rounding them", () => {
  for (
    const v of [
      "9007199254740992",
      "9007199254740993",
      "-9007199254740992",
      "12345678901234567",
      "9223372036854775807",
      "9223372036854775808",
      "1" + "0".repeat(400),
    ]
  ) {
    assert.equal(dec(`{"Type":2,"SeqNum":${v}}`), undefined, v);
  }
});

Deno.test("decodeMessage() drops numbers written with a fraction or an exponent", () => {
  for (const v of ["41.0", "1e2", "1E2", "41.5", "-0.0", "0e0", "1e400", "-1e-7"]) {
    assert.equal(dec(`{"Type":2,"ConnID":1,"SeqNum":${v}}`), undefined, v);
  }
});

Deno.test("decodeMessage() drops strings, booleans, objects and arrays where an integer belongs", () => {
  for (const v of ['"1"', "true", "false", "{}", "[]", "[1]", '""']) {
    for (const key of ["Type", "ConnID", "SeqNum", "Size", "Checksum"]) {
      assert.equal(dec(`{"${key}":${v}}`), undefined, `${key}: ${v}`);
    }
  }
});

Deno.test("decodeMessage() drops a Checksum outside 0..65535, even -0", () => {
  assert.equal(dec('{"Type":1,"Checksum":65535}')?.checksum, 65535);
  assert.equal(dec('{"Type":1,"Checksum":65536}'), undefined);
  assert.equal(dec('{"Type":1,"Checksum":-1}'), undefined);
  assert.equal(dec('{"Type":1,"Checksum":-0}'), undefined);
});

Deno.test("decodeMessage() drops a Type outside 0..3", () => {
  for (const t of [-1, 4, 255]) assert.equal(dec(`{"Type":${t},"ConnID":1}`), undefined, `${t}`);
  assert.equal(dec('{"Type":3,"ConnID":1}')?.type, MsgType.CAck);
});

Deno.test("decodeMessage() drops a Payload that is not null, valid base64 or a byte array", () => {
  for (
    const p of [
      '"aGVsbG8"',
      '"aGVs bG8="',
      '"-_8="',
      "5",
      "true",
      "{}",
      "[256]",
      "[-1]",
      "[1.0]",
      '["a"]',
      "[[1]]",
      "[true]",
    ]
  ) {
    assert.equal(dec(`{"Type":1,"Size":0,"Payload":${p}}`), undefined, p);
  }
});

Deno.test("decodeMessage() drops empty, non-JSON and non-object datagrams", () => {
  for (
    const s of [
      "",
      " ",
      "null",
      "[]",
      "1",
      '"x"',
      "true",
      "{",
      '{"Type":1,}',
      '{"Type":1} {}',
      "{'Type':1}",
      '{"Type":01}',
      "\uFEFF{}", // a byte-order mark is not JSON whitespace for Go either
      '{"Type":1}\u0000',
    ]
  ) {
    assert.equal(dec(s), undefined, JSON.stringify(s));
  }
});

Deno.test("decodeMessage() drops nesting deeper than Go's 10000 levels", () => {
  const nested = (levels: number) =>
    `{"Type":2,"X":${"[".repeat(levels)}${"]".repeat(levels)},"ConnID":1}`;
  assert.deepEqual(dec(nested(9999)), heartbeatMessage(1)); // 1 + 9999 levels: accepted
  assert.equal(dec(nested(10000)), undefined);
});

Deno.test("decodeMessage() returns undefined for a value that is not a Uint8Array", () => {
  assert.equal(decodeMessage(undefined as unknown as Uint8Array), undefined);
  assert.equal(decodeMessage("{}" as unknown as Uint8Array), undefined);
});

// ---------------------------------------------------------------------------------------------
// Properties

const safeInt = fc.maxSafeInteger().map((n) => (n === 0 ? 0 : n)); // no -0
const arbMessage: fc.Arbitrary<LspMessage> = fc.record({
  type: fc.constantFrom(0, 1, 2, 3) as fc.Arbitrary<MsgType>,
  connId: safeInt,
  seqNum: safeInt,
  size: safeInt,
  checksum: fc.integer({ min: 0, max: 0xffff }),
  payload: fc.option(fc.uint8Array({ maxLength: 1200 }), { nil: null }),
}).map((m) => ({ ...m })); // a plain object, like the decoder's

Deno.test("decodeMessage() never throws on arbitrary bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
      decodeMessage(bytes);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("decodeMessage() never throws on arbitrary JSON and returns only valid fields", () => {
  const keys = fc.constantFrom(
    "Type",
    "ConnID",
    "SeqNum",
    "Size",
    "Checksum",
    "Payload",
    "type",
    "x",
  );
  const jsonish = fc.oneof(
    fc.json(),
    fc.dictionary(keys, fc.jsonValue()).map((o) => JSON.stringify(o)),
  );
  fc.assert(
    fc.property(jsonish, (s) => {
      const m = decodeMessage(enc(s));
      if (m === undefined) return;
      assert.ok(m.type >= 0 && m.type <= 3);
      for (const v of [m.connId, m.seqNum, m.size, m.checksum]) assert.ok(Number.isSafeInteger(v));
      assert.ok(m.checksum >= 0 && m.checksum <= 0xffff);
      assert.ok(m.payload === null || m.payload instanceof Uint8Array);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("decodeMessage() inverts encodeMessage() for arbitrary messages", () => {
  fc.assert(
    fc.property(arbMessage, (m) => {
      const bytes = encodeMessage(m);
      const back = decodeMessage(bytes);
      assert.deepEqual(back, m);
      assert.deepEqual(encodeMessage(back!), bytes);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("decodeMessage() reads shuffled, re-cased, spaced variants of a message alike", () => {
  const recase = (key: string, flips: boolean[]) =>
    [...key].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c.toLowerCase())).join("");
  fc.assert(
    fc.property(
      arbMessage,
      fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
      fc.constantFrom("", " ", "\n", "\t", "\r\n "),
      fc.infiniteStream(fc.integer()),
      (m, flips, space, order) => {
        const fields: [string, string][] = [
          ["Type", `${m.type}`],
          ["ConnID", `${m.connId}`],
          ["SeqNum", `${m.seqNum}`],
          ["Size", `${m.size}`],
          ["Checksum", `${m.checksum}`],
          ["Payload", m.payload === null ? "null" : `"${encodeBase64(m.payload)}"`],
        ];
        const it = order[Symbol.iterator]();
        fields.sort(() => (it.next().value as number) % 3 - 1);
        const body = fields
          .map(([k, v]) => `${space}"${recase(k, flips)}"${space}:${space}${v}${space}`)
          .join(",");
        assert.deepEqual(decodeMessage(enc(`${space}{${body}}${space}`)), m);
      },
    ),
    { numRuns: 500 },
  );
});
