import assert from "node:assert/strict";
import fc from "fast-check";
import { parseSocketAddr } from "../../src/kv/socket_addr.ts";

// Rust's `SocketAddr::from_str` (core::net::parser), case by case.
const ACCEPTED: [string, number[], number, number][] = [
  ["10.0.0.5:9000", [10, 0, 0, 5], 9000, 0],
  ["0.0.0.0:0", [0, 0, 0, 0], 0, 0],
  ["255.255.255.255:65535", [255, 255, 255, 255], 65535, 0],
  ["1.2.3.4:09000", [1, 2, 3, 4], 9000, 0], // port: read_number(10, None, true) allows zeros
  ["1.2.3.4:000000000000000080", [1, 2, 3, 4], 80, 0],
  ["[::1]:9000", [0, 0, 0, 0, 0, 0, 0, 1], 9000, 0],
  ["[::]:1", [0, 0, 0, 0, 0, 0, 0, 0], 1, 0],
  ["[1:2:3:4:5:6:7:8]:1", [1, 2, 3, 4, 5, 6, 7, 8], 1, 0],
  ["[1:2:3:4:5:6:7::]:1", [1, 2, 3, 4, 5, 6, 7, 0], 1, 0],
  ["[::2:3:4:5:6:7:8]:1", [0, 2, 3, 4, 5, 6, 7, 8], 1, 0],
  ["[FE80::00aB%0042]:80", [0xfe80, 0, 0, 0, 0, 0, 0, 0xab], 80, 42],
  ["[::ffff:1.2.3.4]:80", [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304], 80, 0],
  ["[1:2:3:4:5:6:1.2.3.4]:80", [1, 2, 3, 4, 5, 6, 0x102, 0x304], 80, 0],
  ["[fe80::1%4294967295]:80", [0xfe80, 0, 0, 0, 0, 0, 0, 1], 80, 4294967295],
];

const REJECTED = [
  "localhost:9100",
  "1.2.3.4",
  "1.2.3.4:",
  "1.2.3.4:65536",
  "1.2.3.4:99999999999",
  "01.2.3.4:9000",
  "1.2.3.00:9000",
  "1.2.3.0004:1",
  "256.1.1.1:1",
  "1.2.3:1",
  "1.2.3.4.5:1",
  " 1.2.3.4:1",
  "1.2.3.4:1 ",
  "1.2.3.4:+1",
  "1.2.3.4:-1",
  "::1:9000",
  "[::1]",
  "[::1]:",
  "[1::2::3]:1",
  "[12345::]:1",
  "[1:2:3:4:5:6:7:8:9]:1",
  "[1:2:3:4:5:6:7:8::]:1",
  "[1.2.3.4::]:1",
  "[::1.2.3.4:5]:1",
  "[fe80::1%]:80",
  "[fe80::1%eth0]:80",
  "[fe80::1%4294967296]:80",
  "[::1]:9000x",
  "１.2.3.4:1",
  "",
];

Deno.test("parseSocketAddr() accepts what Rust's SocketAddr::from_str accepts", () => {
  for (const [text, ip, port, scopeId] of ACCEPTED) {
    const r = parseSocketAddr(text);
    assert.deepEqual(
      r && { ip: r.ip, port: r.port, scopeId: r.scopeId },
      { ip, port, scopeId },
      text,
    );
    assert.equal(r?.family, text.startsWith("[") ? 6 : 4);
  }
});

Deno.test("parseSocketAddr() rejects what Rust rejects", () => {
  for (const text of REJECTED) assert.equal(parseSocketAddr(text), null, text);
});

Deno.test("property: every canonical IPv4 socket address parses back; a zero-prefixed octet never does", () => {
  const octet = fc.integer({ min: 0, max: 255 });
  fc.assert(
    fc.property(
      fc.array(octet, { minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 65535 }),
      fc.nat(3),
      (ip, port, which) => {
        assert.deepEqual(parseSocketAddr(`${ip.join(".")}:${port}`), {
          family: 4,
          ip,
          port,
          scopeId: 0,
        });
        const padded = ip.map((o, i) => (i === which && o < 100 ? `0${o}` : `${o}`)).join(".");
        assert.equal(parseSocketAddr(`${padded}:${port}`) === null, ip[which] < 100);
      },
    ),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 30 }), (s) => {
      const r = parseSocketAddr(s);
      assert.ok(r === null || (r.port >= 0 && r.port <= 65535));
    }),
    { numRuns: 1000 },
  );
});
