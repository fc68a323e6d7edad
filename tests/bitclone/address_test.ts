import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addressScope,
  formatPeerAddress,
  networkGroup,
  parseIp,
  parsePeerAddress,
  samePeerAddress,
} from "../../src/bitclone/address.ts";

/** Spec §E.5: input → emitted form, or undefined for an error. */
const E5: [string, string | undefined][] = [
  ["192.0.2.10:8090", "192.0.2.10:8090"],
  ["(192.0.2.10,8090)", "192.0.2.10:8090"],
  ["[2001:db8::1]:8333", "[2001:db8::1]:8333"],
  ["2001:db8::1:8333", "[2001:db8::1]:8333"],
  ["[2001:0DB8:0:0:0:0:0:1]:80", "[2001:db8::1]:80"],
  ["::1:3000", "[::1]:3000"],
  ["::ffff:127.0.0.1:3000", "127.0.0.1:3000"],
  ["[::ffff:192.0.2.5]:4000", "192.0.2.5:4000"],
  ["192.0.2.10", undefined],
  ["192.0.2.10:0", undefined],
  ["192.0.2.10:70000", undefined],
  ["localhost:3000", undefined],
  ["01.2.3.4:80", undefined],
  ["1.2.3:80", undefined],
  ["[::1]", undefined],
];

Deno.test("parsePeerAddress() reads every spelling of spec §E.5 and formatPeerAddress() emits the canonical one", () => {
  for (const [input, expected] of E5) {
    const a = parsePeerAddress(input);
    assert.equal(a === undefined ? undefined : formatPeerAddress(a), expected, input);
  }
});

Deno.test("addressScope() marks the spec §E.5 unusable entries and the loopback one", () => {
  assert.equal(addressScope(parsePeerAddress("0.0.0.0:3000")!), "unusable");
  assert.equal(addressScope(parsePeerAddress("[ff02::1]:3000")!), "unusable");
  assert.equal(addressScope(parsePeerAddress("::1:3000")!), "loopback");
  assert.equal(addressScope(parsePeerAddress("::ffff:127.0.0.1:3000")!), "loopback");
});

Deno.test("addressScope() follows the scope table of spec §A.4", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.32.0.1", "public"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["100.128.0.1", "public"],
    ["fc00::1", "private"],
    ["fdff::1", "private"],
    ["198.51.100.7", "public"],
    ["2001:db8::7", "public"],
    ["0.0.0.0", "unusable"],
    ["255.255.255.255", "unusable"],
    ["224.0.0.1", "unusable"],
    ["239.1.2.3", "unusable"],
    ["::", "unusable"],
    ["ff02::1", "unusable"],
    ["fe80::1", "unusable"],
    ["febf::1", "unusable"],
    ["fec0::1", "public"],
    ["not-an-ip", "unusable"],
  ];
  for (const [ip, scope] of cases) assert.equal(addressScope(ip), scope, ip);
  assert.equal(addressScope({ ip: "198.51.100.7", v6: false, port: 0 }), "unusable");
});

Deno.test("parsePeerAddress() accepts blanks, parentheses and commas and refuses zones and names", () => {
  assert.equal(formatPeerAddress(parsePeerAddress(" \t192.0.2.1:80 ")!), "192.0.2.1:80");
  assert.equal(formatPeerAddress(parsePeerAddress("( 192.0.2.1 , 80 )")!), "192.0.2.1:80");
  assert.equal(formatPeerAddress(parsePeerAddress("[2001:db8::1],80")!), "[2001:db8::1]:80");
  assert.equal(formatPeerAddress(parsePeerAddress("[::1]:080")!), "[::1]:80");
  for (
    const bad of [
      "",
      ":80",
      "[fe80::1%eth0]:80",
      "fe80::1%eth0:80",
      "[::1]x80",
      "[::1:80",
      "256.1.1.1:80",
      "1.2.3.4.5:80",
      "1.2.3.4:-1",
      "1.2.3.4:8 0",
      "1:2:3:4:5:6:7:8:9:80",
      "1::2::3:80",
      "12345::1:80",
      "example.com:80",
      "x".repeat(200) + ":80",
    ]
  ) {
    assert.equal(parsePeerAddress(bad), undefined, bad);
  }
});

Deno.test("parseIp() writes IPv6 in RFC 5952 canonical form", () => {
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["2001:DB8::0:1", "2001:db8::1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], // the longest run wins
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    ["64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
    ["::ffff:0:0", "0.0.0.0"],
  ];
  for (const [input, canonical] of cases) assert.equal(parseIp(input)?.text, canonical, input);
  assert.equal(parseIp("1.2.3.4:5"), undefined);
  assert.equal(parseIp("::1.2.3.4:5"), undefined);
  assert.equal(parseIp("1.2.3.4::"), undefined);
});

Deno.test("networkGroup() gives /16 for IPv4, /32 for IPv6 and one group for loopback", () => {
  assert.equal(networkGroup(parsePeerAddress("198.51.100.7:4001")!), "198.51");
  assert.equal(networkGroup("198.51.7.1"), "198.51");
  assert.equal(networkGroup("10.0.0.1"), "10.0");
  assert.equal(networkGroup("2001:db8:abcd::1"), "2001:db8");
  assert.equal(networkGroup("2001:db9::1"), "2001:db9");
  assert.equal(networkGroup("127.0.0.1"), "local");
  assert.equal(networkGroup("::1"), "local");
  assert.equal(networkGroup("junk"), "invalid");
});

Deno.test("samePeerAddress() compares canonical IP and port", () => {
  const a = parsePeerAddress("[2001:DB8::1]:80")!;
  assert.ok(samePeerAddress(a, parsePeerAddress("2001:db8:0:0::1:80")!));
  assert.ok(!samePeerAddress(a, parsePeerAddress("[2001:db8::1]:81")!));
});

Deno.test("parsePeerAddress() reads back what formatPeerAddress() writes for any IP (property)", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.ipV4(), fc.ipV6()),
      fc.integer({ min: 1, max: 65535 }),
      (ip, port) => {
        const parsed = parseIp(ip);
        assert.ok(parsed !== undefined, ip);
        const a = { ip: parsed.text, v6: parsed.v6, port };
        const text = formatPeerAddress(a);
        assert.deepEqual(parsePeerAddress(text), a);
        if (a.v6) assert.deepEqual(parsePeerAddress(`${a.ip}:${port}`), a); // bare form too
        assert.equal(parseIp(parsed.text)?.text, parsed.text); // canonical is a fixed point
      },
    ),
    { numRuns: 2000 },
  );
});
