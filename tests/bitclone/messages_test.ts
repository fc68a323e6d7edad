import assert from "node:assert/strict";
import fc from "fast-check";
import { parseIp, type PeerAddress } from "../../src/bitclone/address.ts";
import { LineFramer } from "../../src/bitclone/framing.ts";
import {
  type AddrEntry,
  type BitcloneMessage,
  BLOCK_LAYER_COMMANDS,
  decodeMessage,
  type DecodeResult,
  encodeMessage,
  formatMessage,
  parseTime,
  parseUint,
  randomNonce,
  sanitizeText,
  truncateUtf8,
} from "../../src/bitclone/messages.ts";
import { Prng } from "../../src/util/prng.ts";

const te = new TextEncoder();
const v4 = (ip: string, port: number): PeerAddress => ({ ip, v6: false, port });
const v6 = (ip: string, port: number): PeerAddress => ({ ip, v6: true, port });

function decoded(line: string | Uint8Array): BitcloneMessage {
  const r = decodeMessage(line);
  assert.ok(r.ok, `did not decode: ${JSON.stringify(r)}`);
  return r.message;
}

function failed(line: string | Uint8Array) {
  const r = decodeMessage(line);
  assert.ok(!r.ok, `decoded: ${JSON.stringify(r)}`);
  return r.error;
}

// ---- the spec's examples -----------------------------------------------------------------------

Deno.test("decodeMessage() reads the assignment's version example", () => {
  assert.deepEqual(
    decoded("version|3|1|1507490964|192.168.1.10:8090|130.111.135.12:2098|8192|houser|9000"),
    {
      type: "version",
      version: 3,
      services: 1,
      time: 1507490964,
      recipient: v4("192.168.1.10", 8090),
      sender: v4("130.111.135.12", 2098),
      nonce: "8192",
      userAgent: "houser",
      blockId: 9000,
    },
  );
});

Deno.test("formatMessage() writes the spec §A.5.1 versions byte for byte", () => {
  const dialer: BitcloneMessage = {
    type: "version",
    version: 4,
    services: 3,
    time: 1700000000,
    recipient: v4("198.51.100.7", 4001),
    sender: v4("198.51.100.5", 4000),
    nonce: "5843920175521",
    userAgent: "alice-ts",
    blockId: 12,
  };
  const line =
    "version|4|3|1700000000|198.51.100.7:4001|198.51.100.5:4000|5843920175521|alice-ts|12";
  assert.equal(formatMessage(dialer), line);
  assert.deepEqual(decoded(line), dialer);
  const listener = "version|4|3|1700000001|198.51.100.5:51234|198.51.100.7:4001|7021455|bob|12";
  assert.equal(formatMessage(decoded(listener)), listener);
  assert.deepEqual(encodeMessage(dialer), te.encode(line + "\r\n"));
});

Deno.test("decodeMessage() reads the addr example of spec §A.5.4 with an IPv6 entry", () => {
  const line =
    "addr|3|1700000001|198.51.100.7:4001|1699999000|198.51.100.9:4002|1699990000|[2001:db8::7]:4003";
  const m = decoded(line);
  assert.deepEqual(m, {
    type: "addr",
    count: 3,
    entries: [
      { time: 1700000001, address: v4("198.51.100.7", 4001) },
      { time: 1699999000, address: v4("198.51.100.9", 4002) },
      { time: 1699990000, address: v6("2001:db8::7", 4003) },
    ],
    invalidEntries: 0,
  });
  assert.equal(formatMessage(m), line);
});

Deno.test("decodeMessage() reads the other examples of the assignment", () => {
  assert.deepEqual(decoded("verack|9000"), { type: "verack", nonce: "9000" });
  assert.deepEqual(decoded("getaddr"), { type: "getaddr" });
  assert.deepEqual(decoded("ping|23456"), { type: "ping", nonce: "23456" });
  assert.deepEqual(decoded("pong|23456"), { type: "pong", nonce: "23456" });
  assert.deepEqual(
    decoded('reject|400|Invalid command|The command "send me flowers" was not recognized.'),
    {
      type: "reject",
      code: 400,
      reason: "Invalid command",
      details: 'The command "send me flowers" was not recognized.',
    },
  );
  assert.deepEqual(decoded("message|100|peer statistics|43 requests, 10 rejections, 76% correct"), {
    type: "message",
    code: 100,
    summary: "peer statistics",
    details: "43 requests, 10 rejections, 76% correct",
  });
  assert.deepEqual(decoded("addr|2|1507490964|192.168.1.10:2989|1507490964|130.111.135.1:8767"), {
    type: "addr",
    count: 2,
    entries: [
      { time: 1507490964, address: v4("192.168.1.10", 2989) },
      { time: 1507490964, address: v4("130.111.135.1", 8767) },
    ],
    invalidEntries: 0,
  });
});

// ---- leniency ----------------------------------------------------------------------------------

Deno.test("decodeMessage() reads a first-revision version and answers nothing it lacks", () => {
  assert.deepEqual(decoded("version|houser-p3|0|1508342400|192.0.2.10"), {
    type: "version",
    version: 3,
    services: 1,
    time: 1508342400,
    recipient: undefined,
    sender: undefined,
    nonce: undefined,
    userAgent: "houser-p3",
    blockId: 0,
  });
  // five tokens, numeric first field, but the last one an IPv4 without port: first revision
  const m = decoded("version|12|7|1508342400|192.0.2.10");
  assert.ok(m.type === "version" && m.userAgent === "12" && m.blockId === 7);
});

Deno.test("decodeMessage() uses the version fields present when 5 to 8 tokens arrive", () => {
  assert.deepEqual(decoded("version|3|1|1700000000|192.0.2.1:80"), {
    type: "version",
    version: 3,
    services: 1,
    time: 1700000000,
    recipient: v4("192.0.2.1", 80),
    sender: undefined,
    nonce: undefined,
    userAgent: "",
    blockId: 0,
  });
  const seven = decoded("version|3|1|1700000000|192.0.2.1:80|192.0.2.2:81|99");
  assert.ok(seven.type === "version" && seven.nonce === "99" && seven.userAgent === "");
  const extra = decoded("version|3|1|1700000000|192.0.2.1:80|192.0.2.2:81|99|ua|5|x|y");
  assert.ok(extra.type === "version" && extra.blockId === 5);
  const e = failed("version|3|1|1700000000");
  assert.deepEqual(e, { kind: "malformed", command: "version", detail: "expected 8 fields" });
});

Deno.test("decodeMessage() reads lenient version field values", () => {
  const v = (fields: string) => {
    const m = decoded(`version|${fields}`);
    assert.ok(m.type === "version");
    return m;
  };
  assert.equal(v("2|1|0|192.0.2.1:80|192.0.2.2:81|1|u|0").version, 3);
  assert.equal(v("abc|1|0|192.0.2.1:80|192.0.2.2:81|1|u|0").version, 3);
  assert.equal(v(" 4 |1|0|192.0.2.1:80|192.0.2.2:81|1|u|0").version, 4);
  assert.equal(v("3|00000011|0|192.0.2.1:80|192.0.2.2:81|1|u|0").services, 3);
  assert.equal(v("3|00000010|0|192.0.2.1:80|192.0.2.2:81|1|u|0").services, 2);
  assert.equal(v("3|7|0|192.0.2.1:80|192.0.2.2:81|1|u|0").services, 3, "mining bit dropped");
  assert.equal(v("3|x|0|192.0.2.1:80|192.0.2.2:81|1|u|0").services, 1);
  assert.equal(v("3|1|1700000000123|192.0.2.1:80|192.0.2.2:81|1|u|0").time, 1700000000);
  assert.equal(v("3|1|soon|192.0.2.1:80|192.0.2.2:81|1|u|0").time, undefined);
  assert.deepEqual(v("3|1|0|(192.0.2.1,80)|192.0.2.2:81|1|u|0").recipient, v4("192.0.2.1", 80));
  assert.equal(v("3|1|0|192.0.2.1:80|garbage|1|u|0").sender, undefined);
  assert.equal(v(`3|1|0|192.0.2.1:80|192.0.2.2:81|${"9".repeat(65)}|u|0`).nonce, undefined);
  assert.equal(v(`3|1|0|192.0.2.1:80|192.0.2.2:81|${"9".repeat(64)}|u|0`).nonce, "9".repeat(64));
  assert.equal(v("3|1|0|192.0.2.1:80|192.0.2.2:81| 0042 |u|0").nonce, " 0042 ", "kept verbatim");
  assert.equal(
    v(`3|1|0|192.0.2.1:80|192.0.2.2:81|1|${"é".repeat(200)}|0`).userAgent,
    "é".repeat(128),
  );
  assert.equal(v("3|1|0|192.0.2.1:80|192.0.2.2:81|1|u|tip").blockId, 0);
});

Deno.test("decodeMessage() accepts a verack with any or no field", () => {
  assert.deepEqual(decoded("verack"), { type: "verack", nonce: undefined });
  assert.deepEqual(decoded("verack|"), { type: "verack", nonce: undefined });
  assert.deepEqual(decoded("verack|abc|def"), { type: "verack", nonce: "abc" });
  assert.deepEqual(decoded(`verack|${"1".repeat(100)}`), { type: "verack", nonce: undefined });
});

Deno.test("decodeMessage() reads command words in any letter case and with blanks around", () => {
  assert.deepEqual(decoded("PING|5"), { type: "ping", nonce: "5" });
  assert.deepEqual(decoded("GetAddr"), { type: "getaddr" });
  assert.deepEqual(decoded("getaddr |x"), { type: "getaddr" });
  assert.deepEqual(decoded("\tVerAck|1"), { type: "verack", nonce: "1" });
});

Deno.test("decodeMessage() reads ping and pong nonces verbatim and refuses a long ping nonce", () => {
  assert.deepEqual(decoded("ping"), { type: "ping", nonce: undefined });
  assert.deepEqual(decoded("ping|"), { type: "ping", nonce: undefined });
  assert.deepEqual(decoded("ping|x y"), { type: "ping", nonce: "x y" });
  assert.equal(failed(`ping|${"1".repeat(65)}`).kind, "malformed");
  assert.deepEqual(decoded(`pong|${"1".repeat(65)}`), { type: "pong", nonce: undefined });
  assert.deepEqual(decoded("pong"), { type: "pong", nonce: undefined });
});

Deno.test("decodeMessage() refuses a nonce holding a lone CR, which could not be echoed (fuzz find)", () => {
  assert.deepEqual(decoded("verack|1\r2"), { type: "verack", nonce: undefined });
  assert.deepEqual(decoded("pong|1\r2"), { type: "pong", nonce: undefined });
  assert.deepEqual(failed("ping|1\r2"), {
    kind: "malformed",
    command: "ping",
    detail: "ping: nonce holds a CR",
  });
  const v = decoded("version|3|1|0|192.0.2.1:80|192.0.2.2:81|1\r2|u|0");
  assert.ok(v.type === "version" && v.nonce === undefined);
});

Deno.test("decodeMessage() reads reject and message with missing fields and extra tokens", () => {
  assert.deepEqual(decoded("reject|400"), { type: "reject", code: 400, reason: "", details: "" });
  assert.deepEqual(decoded("reject"), {
    type: "reject",
    code: undefined,
    reason: "",
    details: "",
  });
  assert.deepEqual(decoded("reject|4xx|bad|a|b|c"), {
    type: "reject",
    code: undefined,
    reason: "bad",
    details: "a|b|c",
  });
  assert.deepEqual(decoded("message|100| hello |x|y"), {
    type: "message",
    code: 100,
    summary: " hello ",
    details: "x|y",
  });
});

Deno.test("decodeMessage() keeps the addr pairs present and counts the bad entries", () => {
  assert.deepEqual(decoded("addr|5|1700000000|192.0.2.1:80"), {
    type: "addr",
    count: 5,
    entries: [{ time: 1700000000, address: v4("192.0.2.1", 80) }],
    invalidEntries: 0,
  });
  assert.deepEqual(
    decoded("addr|4|x|192.0.2.1:80|1700000000|nowhere|1700000000| 192.0.2.3:83 |7"),
    {
      type: "addr",
      count: 4,
      entries: [{ time: 1700000000, address: v4("192.0.2.3", 83) }],
      invalidEntries: 3, // bad time, bad address, dangling token
    },
  );
  assert.deepEqual(decoded("addr|0"), { type: "addr", count: 0, entries: [], invalidEntries: 0 });
  assert.deepEqual(decoded("addr|1|100|[::1]:8080").type, "addr");
  assert.equal(failed("addr").kind, "malformed");
  assert.equal(failed("addr|many|1|192.0.2.1:80").kind, "malformed");
});

Deno.test("decodeMessage() reads first-revision addr triples", () => {
  assert.deepEqual(decoded("addr|2|1700000000|192.0.2.1|4000|1700000001|2001:db8::1|4001"), {
    type: "addr",
    count: 2,
    entries: [
      { time: 1700000000, address: v4("192.0.2.1", 4000) },
      { time: 1700000001, address: v6("2001:db8::1", 4001) },
    ],
    invalidEntries: 0,
  });
});

Deno.test("decodeMessage() refuses an addr of more than 1000 entries by count or by pairs", () => {
  const pairs = (n: number) =>
    Array.from({ length: n }, (_, i) => `1700000000|10.0.${i >> 8}.${i & 255}:80`);
  assert.equal(failed(`addr|1001|${pairs(1).join("|")}`).kind, "tooMany");
  assert.equal(failed(`addr|5|${pairs(1001).join("|")}`).kind, "tooMany");
  const ok = decoded(`addr|1000|${pairs(1000).join("|")}`);
  assert.ok(ok.type === "addr" && ok.entries.length === 1000);
});

Deno.test("decodeMessage() recognises Project 4 lines and returns their fields raw", () => {
  assert.deepEqual(
    decoded("tx|31337|0b0707e48342521f7f31da597a774721|Alice pays Bob 5 BitClones"),
    {
      type: "blockLayer",
      command: "tx",
      fields: ["31337", "0b0707e48342521f7f31da597a774721", "Alice pays Bob 5 BitClones"],
    },
  );
  const block =
    "block|2|1511980760|7|00001020ab42bd31e18e330403fe28fe|3f25703b6161bdb3a19d5b460467456d|0|";
  assert.deepEqual(decoded(block), {
    type: "blockLayer",
    command: "block",
    fields: [
      "2",
      "1511980760",
      "7",
      "00001020ab42bd31e18e330403fe28fe",
      "3f25703b6161bdb3a19d5b460467456d",
      "0",
      "",
    ],
  });
  assert.equal(formatMessage(decoded(block)), block);
  for (const c of BLOCK_LAYER_COMMANDS) {
    assert.equal(decoded(`${c.toUpperCase()}|0|0`).type, "blockLayer");
  }
});

// ---- errors ------------------------------------------------------------------------------------

Deno.test("decodeMessage() returns unknownCommand with a safe command word", () => {
  assert.deepEqual(failed("hello|x"), {
    kind: "unknownCommand",
    command: "hello",
    detail: "unknown command hello",
  });
  assert.equal(failed("|x").command, "");
  assert.equal(failed("   ").command, "");
  assert.equal(failed("caf\u00e9|1").command, "caf??"); // non-ASCII bytes replaced
  assert.equal(failed("a\rb|1").command, "a?b");
  assert.equal(failed("x".repeat(5000)).command, "x".repeat(32));
});

Deno.test("decodeMessage() returns invalidUtf8 for bytes that are not UTF-8", () => {
  const e = failed(Uint8Array.of(0x70, 0x69, 0x6e, 0x67, 0x7c, 0xff, 0xfe));
  assert.deepEqual(e, { kind: "invalidUtf8", command: "ping", detail: "ping: invalid UTF-8" });
  assert.equal(failed(Uint8Array.of(0xc3, 0x28)).kind, "invalidUtf8");
});

Deno.test("decodeMessage() returns tooLarge for a non-block line over 64 KiB but reads a block line", () => {
  const long = "message|100|x|" + "y".repeat(65_536);
  assert.deepEqual(failed(long), {
    kind: "tooLarge",
    command: "message",
    detail: "message over 65536 bytes",
  });
  const atLimit = "message|100|x|" + "y".repeat(65_536 - 14);
  assert.equal(te.encode(atLimit).length, 65_536);
  assert.equal(decoded(atLimit).type, "message");
  const block = "block|1|1|1|0|0|0|" + "A".repeat(200_000);
  assert.equal(decoded(block).type, "blockLayer");
  assert.equal(failed(block + "A".repeat(1_048_576)).kind, "tooLarge");
  assert.equal(decodeMessage("ping|1234", { maxLineBytesNonBlock: 8 }).ok, false);
});

// ---- encoding ----------------------------------------------------------------------------------

Deno.test("formatMessage() writes every message type in its canonical form", () => {
  const cases: [BitcloneMessage, string][] = [
    [{ type: "verack", nonce: "5843920175521" }, "verack|5843920175521"],
    [{ type: "verack", nonce: undefined }, "verack"],
    [{ type: "getaddr" }, "getaddr"],
    [{ type: "ping", nonce: "7730125" }, "ping|7730125"],
    [{ type: "pong", nonce: undefined }, "pong"],
    [
      { type: "reject", code: 400, reason: "unknown command", details: "hello" },
      "reject|400|unknown command|hello",
    ],
    [{ type: "message", code: 100, summary: "hello", details: "" }, "message|100|hello|"],
    [
      { type: "addr", count: 1, entries: [{ time: 5, address: v6("::1", 80) }], invalidEntries: 0 },
      "addr|1|5|[::1]:80",
    ],
    [{ type: "blockLayer", command: "getblockinv", fields: ["0", "0"] }, "getblockinv|0|0"],
  ];
  for (const [m, line] of cases) {
    assert.equal(formatMessage(m), line);
    assert.deepEqual(decoded(line), m);
  }
});

Deno.test("formatMessage() throws TypeError for fields the line cannot carry", () => {
  const version = decoded("version|3|1|1700000000|192.0.2.1:80|192.0.2.2:81|1|u|0");
  assert.ok(version.type === "version");
  const bad: BitcloneMessage[] = [
    { ...version, userAgent: "a|b" },
    { ...version, userAgent: "a\r\nb" },
    { ...version, userAgent: "\ud800" },
    { ...version, nonce: undefined },
    { ...version, time: undefined },
    { ...version, sender: undefined },
    { ...version, recipient: { ip: "2001:DB8::1", v6: true, port: 80 } }, // not canonical
    { ...version, recipient: { ip: "::ffff:1.2.3.4", v6: true, port: 80 } },
    { type: "reject", code: 400, reason: "a|b", details: "" },
    { type: "reject", code: undefined, reason: "", details: "" },
    { type: "message", code: 100, summary: "", details: "x\ny" },
    { type: "addr", count: 2, entries: [], invalidEntries: 0 },
    { type: "addr", count: 0, entries: [], invalidEntries: 1 },
    { type: "blockLayer", command: "tx", fields: ["a|b"] },
    { type: "blockLayer", command: "nope" as "tx", fields: [] },
    { type: "verack", nonce: "1|2" },
  ];
  for (const m of bad) assert.throws(() => formatMessage(m), TypeError, JSON.stringify(m));
});

Deno.test("formatMessage() throws RangeError for numbers and sizes out of range", () => {
  const version = decoded("version|3|1|1700000000|192.0.2.1:80|192.0.2.2:81|1|u|0");
  assert.ok(version.type === "version");
  const entry: AddrEntry = { time: 1, address: v4("192.0.2.1", 80) };
  const bad: BitcloneMessage[] = [
    { ...version, version: 2 },
    { ...version, services: 4 },
    { ...version, time: 1700000000000 }, // milliseconds
    { ...version, time: -1 },
    { ...version, blockId: 1.5 },
    { ...version, nonce: "" },
    { ...version, nonce: "1".repeat(65) },
    { ...version, userAgent: "u".repeat(257) },
    { type: "addr", count: 1001, entries: Array(1001).fill(entry), invalidEntries: 0 },
    { type: "reject", code: 2 ** 53, reason: "", details: "" },
    { type: "message", code: 100, summary: "", details: "x".repeat(65_536) },
    { type: "ping", nonce: "" },
  ];
  for (const m of bad) {
    assert.throws(() => formatMessage(m), RangeError, JSON.stringify(m).slice(0, 200));
  }
});

Deno.test("randomNonce() draws decimal nonces in 1 … 2^53 − 1 deterministically from the seed", () => {
  const a = Prng.seeded(5), b = Prng.seeded(5);
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const n = randomNonce(a);
    assert.equal(n, randomNonce(b));
    assert.match(n, /^[1-9]\d*$/);
    assert.ok(Number.isSafeInteger(Number(n)));
    seen.add(n);
  }
  assert.equal(seen.size, 1000);
  assert.ok([...seen].some((n) => n.length >= 15), "uses the full range");
});

Deno.test("parseUint() and parseTime() follow the field types of spec §A.3", () => {
  assert.equal(parseUint("0"), 0);
  assert.equal(parseUint("007"), 7);
  assert.equal(parseUint("9007199254740991"), 9007199254740991);
  assert.equal(parseUint("9007199254740992"), undefined);
  assert.equal(parseUint("123456789012345678901"), undefined); // 21 digits
  for (const bad of ["", " ", "+1", "1.0", "1e3", "0x10", "١٢"]) {
    assert.equal(parseUint(bad), undefined, bad);
  }
  assert.equal(parseTime("99999999999"), 99999999999);
  assert.equal(parseTime("100000000000"), 100000000);
});

Deno.test("truncateUtf8() and sanitizeText() never split a character or leave a delimiter", () => {
  assert.equal(truncateUtf8("a😀b", 4), "a");
  assert.equal(truncateUtf8("a😀b", 5), "a😀");
  assert.equal(truncateUtf8("abc", 3), "abc");
  assert.equal(sanitizeText("x|y\r\n\u0000z\ud800", 100), "x y   z\ufffd");
  assert.equal(sanitizeText("é".repeat(10), 5), "éé");
});

// ---- properties --------------------------------------------------------------------------------

const arbText = (maxLength: number) =>
  fc.string({ unit: "binary", maxLength }).map((s) => s.replace(/[|\r\n]/g, "_"));
const arbNonce = fc.string({ unit: "binary", minLength: 1, maxLength: 16 }).map((s) =>
  s.replace(/[|\r\n]/g, "_")
);
const arbAddress: fc.Arbitrary<PeerAddress> = fc.tuple(
  fc.oneof(fc.ipV4(), fc.ipV6()),
  fc.integer({ min: 1, max: 65535 }),
).map(([ip, port]) => {
  const p = parseIp(ip)!;
  return { ip: p.text, v6: p.v6, port };
});
const arbUint = fc.maxSafeNat();
const arbTime = fc.integer({ min: 0, max: 99_999_999_999 });
const arbEntries = (max: number) =>
  fc.array(fc.record({ time: arbTime, address: arbAddress }), { maxLength: max });

const arbMessage: fc.Arbitrary<BitcloneMessage> = fc.oneof(
  fc.record({
    type: fc.constant("version" as const),
    version: fc.oneof(fc.constantFrom(3, 4), fc.integer({ min: 3, max: Number.MAX_SAFE_INTEGER })),
    services: fc.integer({ min: 0, max: 3 }),
    time: arbTime,
    recipient: arbAddress,
    sender: arbAddress,
    nonce: arbNonce,
    userAgent: arbText(60),
    blockId: arbUint,
  }),
  fc.record({
    type: fc.constant("verack" as const),
    nonce: fc.option(arbNonce, { nil: undefined }),
  }),
  fc.constant({ type: "getaddr" as const }),
  arbEntries(30).map((entries) => ({
    type: "addr" as const,
    count: entries.length,
    entries,
    invalidEntries: 0,
  })),
  fc.record({ type: fc.constant("ping" as const), nonce: fc.option(arbNonce, { nil: undefined }) }),
  fc.record({ type: fc.constant("pong" as const), nonce: fc.option(arbNonce, { nil: undefined }) }),
  fc.record({
    type: fc.constant("reject" as const),
    code: arbUint,
    reason: arbText(30),
    details: arbText(60),
  }),
  fc.record({
    type: fc.constant("message" as const),
    code: arbUint,
    summary: arbText(30),
    details: arbText(60),
  }),
  fc.record({
    type: fc.constant("blockLayer" as const),
    command: fc.constantFrom(...BLOCK_LAYER_COMMANDS),
    fields: fc.array(arbText(40), { maxLength: 8 }),
  }),
);

Deno.test("decodeMessage() inverts formatMessage() for every valid message (property)", () => {
  fc.assert(
    fc.property(arbMessage.map(plain), (m) => {
      const line = formatMessage(m);
      const r: DecodeResult = decodeMessage(line);
      assert.ok(r.ok, line);
      assert.deepEqual(r.message, m);
      assert.equal(formatMessage(r.message), line, "canonical: re-encoding is identical");
    }),
    { numRuns: 5000 },
  );
});

Deno.test("encodeMessage() bytes go through the framer and decode back to the message (property)", () => {
  fc.assert(
    fc.property(
      fc.array(arbMessage.map(plain), { minLength: 1, maxLength: 10 }),
      fc.integer({ min: 1, max: 64 }),
      (messages, chunk) => {
        const bytes = concat(messages.map(encodeMessage));
        const framer = new LineFramer();
        const got: BitcloneMessage[] = [];
        for (let offset = 0; offset < bytes.length; offset += chunk) {
          framer.receiveData(bytes.subarray(offset, offset + chunk));
          for (let r = framer.nextLine(); r.type === "line"; r = framer.nextLine()) {
            const d = decodeMessage(r.line);
            assert.ok(d.ok);
            got.push(d.message);
          }
        }
        assert.deepEqual(got, messages);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("decodeMessage() round-trips an addr of 1000 IPv6 entries within the 64 KiB line limit", () => {
  const entries: AddrEntry[] = Array.from({ length: 1000 }, (_, i) => ({
    time: 99_999_999_999,
    address: v6(`2001:db8:ffff:ffff:ffff:ffff:ffff:${(0xf000 + i).toString(16)}`, 65535),
  }));
  const m: BitcloneMessage = { type: "addr", count: 1000, entries, invalidEntries: 0 };
  const line = formatMessage(m);
  assert.ok(te.encode(line).length <= 65_536);
  assert.deepEqual(decoded(line), m);
});

/** fast-check builds records without a prototype; copy them into plain objects. */
function plain<T>(value: T): T {
  return structuredClone(value);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
