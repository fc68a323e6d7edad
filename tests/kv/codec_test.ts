import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeLegacyBuffer,
  decodeMessage,
  encodeMessage,
  encodePlain,
  isWellFormedString,
  LEGACY_MESSAGE_MAX,
} from "../../src/kv/codec.ts";
import type { KvDecodeError } from "../../src/kv/codec.ts";
import type { KvMessage } from "../../src/kv/types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const decode = (s: string, extensions = false) => decodeMessage(enc.encode(s), { extensions });
const text = (m: KvMessage) => dec.decode(encodeMessage(m));

// ---------------------------------------------------------------------------------------------
// Byte-exact encodings: §2.1, §6.1, §6.5, §8 (every one also decodes back to the same message)

const EXACT: [string, KvMessage][] = [
  ['{"Handshake":{"node_name":"n1","tcp_address":"10.0.0.5:9000"}}', {
    type: "Handshake",
    nodeName: "n1",
    tcpAddress: "10.0.0.5:9000",
  }],
  ['{"Handshake":{"node_name":"","tcp_address":"192.168.177.20:9000"}}', {
    type: "Handshake",
    nodeName: "",
    tcpAddress: "192.168.177.20:9000",
  }],
  ['"Greeting"', { type: "Greeting" }],
  ['"Heartbeat"', { type: "Heartbeat" }],
  ['"HeartbeatResponse"', { type: "HeartbeatResponse" }],
  ['{"Setvalue":{"key":"k","value":"v"}}', { type: "Setvalue", key: "k", value: "v" }],
  ['{"Getvalue":{"key":"k"}}', { type: "Getvalue", key: "k" }],
  ['{"ValueResponse":{"value":"v"}}', { type: "ValueResponse", value: "v" }],
  ['{"ValueResponse":{"value":null}}', { type: "ValueResponse", value: null }],
  ['{"Sync":{"key":"k","value":"v"}}', { type: "Sync", key: "k", value: "v" }],
  [
    '{"Handshake":{"node_name":"ts-4f1c9a0b2d3e5f60","tcp_address":"192.168.1.23:9000","kv_ext":1,"boot":1732240000123}}',
    {
      type: "Handshake",
      nodeName: "ts-4f1c9a0b2d3e5f60",
      tcpAddress: "192.168.1.23:9000",
      kvExt: 1,
      boot: 1732240000123,
    },
  ],
  ['{"Sync":{"key":"color","value":"green","clock":42,"origin":"ts-4f1c9a0b2d3e5f60"}}', {
    type: "Sync",
    key: "color",
    value: "green",
    clock: 42,
    origin: "ts-4f1c9a0b2d3e5f60",
  }],
  ['{"ValueResponse":{"value":"green","clock":42,"origin":"ts-4f1c9a0b2d3e5f60"}}', {
    type: "ValueResponse",
    value: "green",
    clock: 42,
    origin: "ts-4f1c9a0b2d3e5f60",
  }],
  ['{"ValueResponse":{"value":"Value set successful"}}', {
    type: "ValueResponse",
    value: "Value set successful",
  }],
  ['{"Getvalue":{"key":"a"}}', { type: "Getvalue", key: "a" }],
  ['{"Setvalue":{"key":"a","value":"1"}}', { type: "Setvalue", key: "a", value: "1" }],
  ['{"Sync":{"key":"b","value":"2","clock":7,"origin":"ts-x"}}', {
    type: "Sync",
    key: "b",
    value: "2",
    clock: 7,
    origin: "ts-x",
  }],
  ['{"Handshake":{"node_name":"ts-x","tcp_address":"10.1.2.3:9000","kv_ext":1,"boot":1}}', {
    type: "Handshake",
    nodeName: "ts-x",
    tcpAddress: "10.1.2.3:9000",
    kvExt: 1,
    boot: 1,
  }],
  // §2.2 escaping: short escapes, \u00xx lowercase, raw '/', U+007F and non-ASCII
  ['{"Getvalue":{"key":"\\"\\\\\\b\\t\\n\\f\\r\\u0000\\u001f/\u007fé😀"}}', {
    type: "Getvalue",
    key: '"\\\b\t\n\f\r\u0000\u001f/\u007fé😀',
  }],
];

Deno.test("encodeMessage() writes the exact bytes of §2.1, §6.1, §6.5 and §8, and they decode back", () => {
  for (const [bytes, message] of EXACT) {
    assert.equal(text(message), bytes);
    assert.deepEqual(decode(bytes), { ok: true, message }, bytes);
  }
  assert.equal(enc.encode(EXACT[1][0]).length, 66); // the announcement of §2.1
});

Deno.test("encodeMessage() writes the extension variants; decodeMessage() needs extensions for them", () => {
  const members: KvMessage = {
    type: "MembersResponse",
    members: [{ name: "n", address: "1.2.3.4:9000", state: "alive", lastSeen: 123, ext: true }],
  };
  const cases: [string, KvMessage][] = [
    ['{"SyncAll":{}}', { type: "SyncAll" }],
    ['{"Members":{}}', { type: "Members" }],
    [
      '{"MembersResponse":{"members":[{"name":"n","address":"1.2.3.4:9000","state":"alive","last_seen":123,"ext":true}]}}',
      members,
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.equal(text(message), bytes);
    assert.deepEqual(decode(bytes, true), { ok: true, message });
    assert.equal(kind(bytes), "unknown-variant");
    assert.throws(() => encodePlain(message), TypeError);
  }
});

Deno.test("encodePlain() drops every extension field", () => {
  assert.equal(
    dec.decode(encodePlain(EXACT[10][1])),
    '{"Handshake":{"node_name":"ts-4f1c9a0b2d3e5f60","tcp_address":"192.168.1.23:9000"}}',
  );
  assert.equal(dec.decode(encodePlain(EXACT[11][1])), '{"Sync":{"key":"color","value":"green"}}');
  assert.equal(dec.decode(encodePlain(EXACT[12][1])), '{"ValueResponse":{"value":"green"}}');
  assert.equal(LEGACY_MESSAGE_MAX, 1024);
});

Deno.test("encodeMessage() refuses what a legacy peer would die on", () => {
  assert.throws(() => encodeMessage({ type: "Setvalue", key: "a\udc00", value: "v" }), TypeError);
  assert.throws(
    () => encodeMessage({ type: "Sync", key: "k", value: "v", origin: "\ud800" }),
    TypeError,
  );
  assert.throws(
    () => encodeMessage({ type: "Handshake", nodeName: "n", tcpAddress: "localhost:9000" }),
    TypeError,
  );
  assert.throws(
    () => encodeMessage({ type: "Sync", key: "k", value: "v", clock: 0, origin: "o" }),
    TypeError,
  );
  assert.throws(
    () => encodeMessage({ type: "Handshake", nodeName: "n", tcpAddress: "1.2.3.4:1", boot: 1.5 }),
    TypeError,
  );
  assert.equal(isWellFormedString("\ud83d\ude00"), true);
  assert.equal(isWellFormedString("\ude00\ud83d"), false);
});

// ---------------------------------------------------------------------------------------------
// §2.3 accepted input

const ACCEPTED: [string, KvMessage][] = [
  [' { "Getvalue" : { "key" : "a", "extra": 5 } } ', { type: "Getvalue", key: "a" }],
  ['\t\r\n"Heartbeat"\n', { type: "Heartbeat" }],
  ['{"Setvalue":{"value":"v","key":"k"}}', { type: "Setvalue", key: "k", value: "v" }],
  ['{"Setvalue":["k","v"]}', { type: "Setvalue", key: "k", value: "v" }],
  ['{"Getvalue":["k"]}', { type: "Getvalue", key: "k" }],
  ['{"Sync":[ "k" , "v" ]}', { type: "Sync", key: "k", value: "v" }],
  ['{"ValueResponse":[null]}', { type: "ValueResponse", value: null }],
  ['{"Handshake":["n","1.2.3.4:9000"]}', {
    type: "Handshake",
    nodeName: "n",
    tcpAddress: "1.2.3.4:9000",
  }],
  ['{"Heartbeat":null}', { type: "Heartbeat" }],
  ['{"Greeting" : null }', { type: "Greeting" }],
  ['{"ValueResponse":{}}', { type: "ValueResponse", value: null }],
  ['{"Getvalue":{"key":"\\ud83d\\ude00"}}', { type: "Getvalue", key: "😀" }],
  ['{"Getvalue":{"k\\u0065y":"a"}}', { type: "Getvalue", key: "a" }], // escaped field name
  ['"\\u0048eartbeat"', { type: "Heartbeat" }], // escaped variant name
  // unknown fields: any valid JSON, even duplicated, even with strings serde never checks
  ['{"Getvalue":{"x":1,"x":[{"y":null}],"key":"a"}}', { type: "Getvalue", key: "a" }],
  ['{"Getvalue":{"key":"a","x":"\\ud800"}}', { type: "Getvalue", key: "a" }],
  ['{"Getvalue":{"key":"a","x":{"\\udc00":1e-7}}}', { type: "Getvalue", key: "a" }],
  // malformed extension fields are ignored, the message stays valid
  ['{"Sync":{"key":"k","value":"v","clock":"7","origin":"o"}}', {
    type: "Sync",
    key: "k",
    value: "v",
  }],
  ['{"Sync":{"key":"k","value":"v","clock":0,"origin":"o"}}', {
    type: "Sync",
    key: "k",
    value: "v",
  }],
  ['{"Sync":{"key":"k","value":"v","clock":7}}', { type: "Sync", key: "k", value: "v" }],
  ['{"Sync":{"key":"k","value":"v","clock":7,"origin":""}}', {
    type: "Sync",
    key: "k",
    value: "v",
  }],
  ['{"Sync":{"key":"k","value":"v","clock":7.0,"origin":"o"}}', {
    type: "Sync",
    key: "k",
    value: "v",
  }],
  ['{"Sync":{"key":"k","value":"v","clock":9007199254740992,"origin":"o"}}', {
    type: "Sync",
    key: "k",
    value: "v",
  }],
  ['{"Sync":{"key":"k","value":"v","clock":18446744073709551615,"origin":"o"}}', {
    type: "Sync",
    key: "k",
    value: "v",
  }],
  ['{"Sync":{"key":"k","value":"v","clock":9007199254740991,"origin":"o"}}', {
    type: "Sync",
    key: "k",
    value: "v",
    clock: 9007199254740991,
    origin: "o",
  }],
  ['{"Sync":{"key":"k","value":"v","clock":1,"clock":2,"origin":"o"}}', {
    type: "Sync",
    key: "k",
    value: "v",
  }],
  ['{"ValueResponse":{"clock":3,"origin":"o"}}', {
    type: "ValueResponse",
    value: null,
    clock: 3,
    origin: "o",
  }],
  ['{"Handshake":{"node_name":"a","tcp_address":"1.2.3.4:9","kv_ext":-1,"boot":0}}', {
    type: "Handshake",
    nodeName: "a",
    tcpAddress: "1.2.3.4:9",
    boot: 0,
  }],
  // Rust's SocketAddr: zero-prefixed port, IPv6 with scope
  ['{"Handshake":{"node_name":"a","tcp_address":"1.2.3.4:09000"}}', {
    type: "Handshake",
    nodeName: "a",
    tcpAddress: "1.2.3.4:09000",
  }],
  ['{"Handshake":{"node_name":"a","tcp_address":"[fe80::1%3]:9000"}}', {
    type: "Handshake",
    nodeName: "a",
    tcpAddress: "[fe80::1%3]:9000",
  }],
];

Deno.test("decodeMessage() accepts every accepted form of §2.3", () => {
  for (const [input, message] of ACCEPTED) {
    assert.deepEqual(decode(input), { ok: true, message }, input);
  }
});

// ---------------------------------------------------------------------------------------------
// §2.3 rejected input

function kind(input: string | Uint8Array, extensions = false): KvDecodeError["kind"] | "ok" {
  const r = decodeMessage(typeof input === "string" ? enc.encode(input) : input, { extensions });
  return r.ok ? "ok" : r.error.kind;
}

const REJECTED: [string, KvDecodeError["kind"]][] = [
  ['"heartbeat"', "unknown-variant"],
  ['{"SetValue":{"key":"k","value":"v"}}', "unknown-variant"],
  ['{"getvalue":{"key":"a"}}', "unknown-variant"],
  ['"SyncAll"', "unknown-variant"],
  ['"Setvalue"', "shape"],
  ['{"Setvalue":"x"}', "shape"],
  ['{"Setvalue":null}', "shape"],
  ['{"Greeting":{}}', "shape"],
  ['{"Heartbeat":[]}', "shape"],
  ['{"Getvalue":{}}', "field"],
  ['{"Setvalue":{"key":"k"}}', "field"],
  ['{"Getvalue":{"key":"a","key":"b"}}', "field"],
  ['{"ValueResponse":{"value":null,"value":"x"}}', "field"],
  ['{"Getvalue":{"key":null}}', "field"],
  ['{"Getvalue":{"key":1}}', "field"],
  ['{"Setvalue":["k"]}', "field"],
  ['{"Setvalue":["k","v","w"]}', "field"],
  ['{"Getvalue":[]}', "field"],
  ['{"ValueResponse":[]}', "field"],
  ['{"Getvalue":{"key":"a"},"x":1}', "shape"],
  ["{}", "shape"],
  ["null", "shape"],
  ["42", "shape"],
  ['["Heartbeat"]', "shape"],
  ['{"Getvalue":{"key":"a"}}{"Getvalue":{"key":"a"}}', "trailing"],
  ['"Heartbeat" x', "trailing"],
  ['{"Handshake":{"node_name":"a","tcp_address":"localhost:9100"}}', "address"],
  ['{"Handshake":{"node_name":"a","tcp_address":"1.2.3.4:65536"}}', "address"],
  ['{"Handshake":{"node_name":"a","tcp_address":"01.2.3.4:9000"}}', "address"],
  ['{"Handshake":{"node_name":"a","tcp_address":"1.2.3.4"}}', "address"],
  ['{"Handshake":{"node_name":"a","tcp_address":" 1.2.3.4:9000"}}', "address"],
  ['{"Handshake":{"node_name":"a","tcp_address":"[fe80::1%eth0]:9000"}}', "address"],
  ['{"Getvalue":{"key":"\\ud800"}}', "surrogate"],
  ['{"Getvalue":{"key":"\\udc00\\ud800"}}', "surrogate"],
  ['{"Getvalue":{"key":"a","\\ud800":1}}', "surrogate"], // field names are read, so checked
  ['{"Getvalue":{"key":"a",}}', "json"],
  ['{"Setvalue":["k","v",]}', "json"],
  ['{"Getvalue":{"key":"a"}', "json"],
  ["", "json"],
  ["not json", "json"],
  ['{"Getvalue":{"key":"a","x":01}}', "json"],
  ['{"Getvalue":{"key":"a","x":"\u0001"}}', "json"],
  ['\u00a0"Heartbeat"', "json"],
  ['\ufeff"Heartbeat"', "json"],
];

Deno.test("decodeMessage() rejects every rejected form of §2.3, with its kind", () => {
  for (const [input, expected] of REJECTED) assert.equal(kind(input), expected, input);
});

Deno.test("decodeMessage() rejects invalid UTF-8 where serde reads it, and not in ignored values", () => {
  const withBytes = (pre: string, bad: number[], post: string) =>
    new Uint8Array([...enc.encode(pre), ...bad, ...enc.encode(post)]);
  for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
    assert.equal(kind(withBytes('{"Getvalue":{"key":"', bad, '"}}')), "utf8");
    assert.equal(kind(withBytes('{"Getvalue":{"key":"a","', bad, '":1}}')), "utf8");
    // serde_json's from_slice skips an ignored field's string without checking it
    assert.equal(kind(withBytes('{"Getvalue":{"key":"a","x":"', bad, '"}}')), "ok");
    assert.equal(kind(withBytes('{"Getvalue":{"key":"a"}}', bad, "")), "trailing");
  }
});

Deno.test("decodeMessage() bounds the input length and nesting", () => {
  const deep = `{"Getvalue":{"key":"a","x":${"[".repeat(500)}${"]".repeat(500)}}}`;
  assert.equal(kind(deep), "ok"); // as serde (1024 bytes cannot nest deeper than our bound)
  const deeper = `{"Getvalue":{"key":"a","x":${"[".repeat(600)}${"]".repeat(600)}}}`;
  assert.equal(kind(deeper), "depth");
  const big = `{"Getvalue":{"key":"${"a".repeat(70000)}"}}`;
  assert.equal(kind(big), "too-long");
  assert.equal(decodeMessage(enc.encode(big), { maxLength: 100000 }).ok, true);
});

Deno.test("decodeLegacyBuffer() parses only the first 1024 bytes (§3.1)", () => {
  const hs = '{"Handshake":{"node_name":"a","tcp_address":"1.2.3.4:9000"}}';
  assert.equal(decodeLegacyBuffer(enc.encode(hs.padEnd(1100, " "))).ok, true);
  assert.equal(decodeLegacyBuffer(enc.encode(hs.padEnd(1024, " ") + "garbage")).ok, true);
  assert.equal(decodeLegacyBuffer(enc.encode(hs.padEnd(1023, " ") + "garbage")).ok, false);
  const long = `{"Setvalue":{"key":"k","value":"${"v".repeat(1000)}"}}`;
  assert.equal(decodeMessage(enc.encode(long)).ok, true);
  assert.equal(decodeLegacyBuffer(enc.encode(long)).ok, false);
  assert.equal(decodeLegacyBuffer(enc.encode('{"SyncAll":{}}')).ok, false);
  assert.equal(decodeLegacyBuffer(new Uint8Array()).ok, false);
});

// ---------------------------------------------------------------------------------------------
// Properties

const arbKvMessage: fc.Arbitrary<KvMessage> = (() => {
  const s = fc.string({ unit: "grapheme", maxLength: 12 });
  const anyS = fc.oneof(s, fc.string({ unit: "binary", maxLength: 8 }).filter(isWellFormedString));
  const uint = (min: number) => fc.integer({ min, max: Number.MAX_SAFE_INTEGER });
  const octet = fc.integer({ min: 0, max: 255 });
  const addr = fc.tuple(octet, octet, octet, octet, fc.integer({ min: 0, max: 65535 }))
    .map(([a, b, c, d, p]) => `${a}.${b}.${c}.${d}:${p}`);
  const version = fc.option(fc.record({ clock: uint(1), origin: anyS.filter((o) => o !== "") }), {
    nil: undefined,
  });
  return fc.oneof(
    fc.record({
      type: fc.constant("Handshake" as const),
      nodeName: anyS,
      tcpAddress: addr,
      kvExt: fc.option(uint(0), { nil: undefined }),
      boot: fc.option(uint(0), { nil: undefined }),
    }, { requiredKeys: ["type", "nodeName", "tcpAddress"] }),
    fc.constantFrom<KvMessage>({ type: "Greeting" }, { type: "Heartbeat" }, {
      type: "HeartbeatResponse",
    }),
    fc.record({ type: fc.constant("Setvalue" as const), key: anyS, value: anyS }),
    fc.record({ type: fc.constant("Getvalue" as const), key: anyS }),
    fc.tuple(fc.option(anyS, { nil: null }), version).map(([value, v]): KvMessage => ({
      type: "ValueResponse",
      value,
      ...v,
    })),
    fc.tuple(anyS, anyS, version).map(([key, value, v]): KvMessage => ({
      type: "Sync",
      key,
      value,
      ...v,
    })),
  ).map((m) =>
    // plain prototypes and no `undefined` fields, for deepStrictEqual
    Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as KvMessage
  );
})();

const EXTENSION_FIELDS = ["kvExt", "boot", "clock", "origin"];

Deno.test("property: encode → decode is the identity; the plain form decodes without extensions", () => {
  fc.assert(
    fc.property(arbKvMessage, (m) => {
      assert.deepEqual(decodeMessage(encodeMessage(m)), { ok: true, message: m });
      const plain = Object.fromEntries(
        Object.entries(m).filter(([k]) => !EXTENSION_FIELDS.includes(k)),
      );
      assert.deepEqual(decodeMessage(encodePlain(m)), { ok: true, message: plain });
      assert.ok(encodePlain(m).length <= encodeMessage(m).length);
    }),
    { numRuns: 500 },
  );
});

Deno.test("property: decodeMessage() never throws on arbitrary bytes, JSON or mutated messages", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (b, ext) => {
      const r = decodeMessage(b, { extensions: ext });
      assert.equal(typeof r.ok, "boolean");
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.json(), (j) => {
      assert.equal(typeof decodeMessage(enc.encode(j)).ok, "boolean");
      assert.equal(
        typeof decodeMessage(enc.encode(`{"Sync":{"key":"k","value":"v","x":${j}}}`)).ok,
        "boolean",
      );
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(arbKvMessage, fc.nat(), fc.integer({ min: 0, max: 255 }), (m, at, byte) => {
      const b = encodeMessage(m).slice();
      b[at % b.length] = byte;
      assert.equal(typeof decodeMessage(b, { extensions: true }).ok, "boolean");
      assert.equal(typeof decodeMessage(b.subarray(0, at % b.length)).ok, "boolean");
    }),
    { numRuns: 1000 },
  );
});

/** Splits compact JSON into tokens (strings kept whole) so whitespace can go between them. */
function tokens(json: string): string[] {
  return json.match(/"(?:[^"\\]|\\.)*"|[{}[\]:,]|[^{}[\]:,"]+/g) ?? [];
}

Deno.test("property: whitespace between tokens keeps the decoding", () => {
  const ws = fc.array(fc.constantFrom(" ", "\t", "\n", "\r"), { maxLength: 3 }).map((a) =>
    a.join("")
  );
  fc.assert(
    fc.property(arbKvMessage, fc.infiniteStream(ws), (m, spaces) => {
      const spaced = tokens(dec.decode(encodeMessage(m))).map((t) =>
        spaces.next().value + t
      ).join("") +
        spaces.next().value;
      assert.deepEqual(decodeMessage(enc.encode(spaced)), { ok: true, message: m }, spaced);
    }),
    { numRuns: 500 },
  );
});

Deno.test("property: a mutation JSON.parse rejects is rejected; one it accepts decodes as the parsed shape", () => {
  fc.assert(
    fc.property(arbKvMessage, fc.nat(), fc.constantFrom(...'{}[]:,"\\ 0an-'), (m, at, c) => {
      const points = Array.from(dec.decode(encodeMessage(m))); // mutate between code points
      const i = at % (points.length + 1);
      const mutated = [...points.slice(0, i), c, ...points.slice(i)].join("");
      let parsed: unknown;
      try {
        parsed = JSON.parse(mutated);
      } catch {
        assert.equal(decodeMessage(enc.encode(mutated)).ok, false, mutated);
        return;
      }
      const r = decodeMessage(enc.encode(mutated));
      if (r.ok) {
        // what we accepted JSON.parse reads as the same message (up to ignored fields)
        assert.deepEqual(decodeMessage(enc.encode(JSON.stringify(parsed))).ok, true, mutated);
      }
    }),
    { numRuns: 1000 },
  );
});
