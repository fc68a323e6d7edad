import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatPeersFile,
  parsePeersFile,
  PEERS_FILE_MAX_ENTRIES,
} from "../../src/bitclone/peers_file.ts";

Deno.test("parsePeersFile() reads the README example", () => {
  const text = `[
  "10.0.0.7:8333",
  {
    "address": "10.0.0.5:8333",
    "lastSeen": 1763778000,
    "tried": true,
    "lastTry": 1763778000,
    "lastSuccess": 1763778000,
    "attempts": 0,
    "source": "10.0.0.1"
  }
]`;
  const r = parsePeersFile(text);
  assert.deepEqual(r, {
    peers: [
      { address: "10.0.0.7:8333" },
      {
        address: "10.0.0.5:8333",
        lastSeen: 1763778000,
        tried: true,
        lastTry: 1763778000,
        lastSuccess: 1763778000,
        attempts: 0,
        source: "10.0.0.1",
      },
    ],
    warnings: [],
    damaged: false,
  });
});

Deno.test("parsePeersFile() canonicalises every address spelling and brackets IPv6", () => {
  const r = parsePeersFile(
    '["2001:db8::1:8333", "[2001:0DB8::2]:8333", "(192.0.2.10,8090)", "::ffff:127.0.0.1:3000", {"address": " 198.51.100.7:4001 "}]',
  );
  assert.deepEqual(r.peers.map((p) => p.address), [
    "[2001:db8::1]:8333",
    "[2001:db8::2]:8333",
    "192.0.2.10:8090",
    "127.0.0.1:3000",
    "198.51.100.7:4001",
  ]);
  assert.deepEqual(r.warnings, []);
});

Deno.test("parsePeersFile() marks a file that is not a JSON array as damaged", () => {
  for (const text of ["{not json", '{"address": "10.0.0.1:1"}', "42", "null", '"10.0.0.1:1"']) {
    const r = parsePeersFile(text);
    assert.equal(r.damaged, true, text);
    assert.deepEqual(r.peers, []);
    assert.equal(r.warnings.length, 1, text);
  }
  assert.match(parsePeersFile("{not json").warnings[0], /not valid JSON/);
  assert.match(parsePeersFile("42").warnings[0], /expected a JSON array, got a number/);
});

Deno.test("parsePeersFile() reads an empty file as an empty book with a warning", () => {
  for (const text of ["", "  \n", "\ufeff"]) {
    const r = parsePeersFile(text);
    assert.deepEqual(r.peers, []);
    assert.equal(r.damaged, false);
    assert.equal(r.warnings.length, 1);
  }
  assert.deepEqual(parsePeersFile("[]"), { peers: [], warnings: [], damaged: false });
  assert.deepEqual(parsePeersFile('\ufeff["10.0.0.1:1"]').peers, [{ address: "10.0.0.1:1" }]);
});

Deno.test("parsePeersFile() skips bad entries one by one with a warning each", () => {
  const r = parsePeersFile(JSON.stringify([
    "10.0.0.1:1",
    "localhost:8333",
    "10.0.0.2",
    "0.0.0.0:8333",
    5,
    null,
    ["10.0.0.3:1"],
    { lastSeen: 1 },
    { address: 7 },
    "10.0.0.1:1",
    { address: "10.0.0.4:1" },
  ]));
  assert.deepEqual(r.peers, [{ address: "10.0.0.1:1" }, { address: "10.0.0.4:1" }]);
  assert.equal(r.damaged, false);
  assert.equal(r.warnings.length, 9);
  assert.match(r.warnings[0], /entry 1: "localhost:8333" is not a usable ip:port/);
  assert.match(r.warnings[8], /entry 9: 10\.0\.0\.1:1 is listed twice/);
});

Deno.test("parsePeersFile() drops a bad optional field but keeps the entry", () => {
  const r = parsePeersFile(JSON.stringify([{
    address: "10.0.0.1:1",
    lastSeen: "yesterday",
    lastTry: -5,
    lastSuccess: 1_763_778_000_123, // milliseconds
    attempts: 1.5,
    tried: "yes",
    source: "a|b",
    unknownKey: { deep: true },
  }]));
  assert.deepEqual(r.peers, [{ address: "10.0.0.1:1", lastSuccess: 1_763_778_000 }]);
  assert.equal(r.warnings.length, 5);
  const ok = parsePeersFile('[{"address":"10.0.0.1:1","lastSeen":null,"tried":false}]');
  assert.deepEqual(ok.peers, [{ address: "10.0.0.1:1", tried: false }]);
  assert.deepEqual(ok.warnings, []);
});

Deno.test("parsePeersFile() bounds entries and warnings", () => {
  const many = Array.from(
    { length: PEERS_FILE_MAX_ENTRIES + 10 },
    (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:1`,
  );
  const r = parsePeersFile(JSON.stringify(many));
  assert.equal(r.peers.length, PEERS_FILE_MAX_ENTRIES);
  assert.equal(r.warnings.length, 1);
  const bad = parsePeersFile(JSON.stringify(Array.from({ length: 100 }, () => "x")));
  assert.equal(bad.warnings.length, 21);
  assert.match(bad.warnings[20], /^80 more warnings not shown$/);
});

Deno.test("parsePeersFile() never throws on any text", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        fc.array(
          fc.oneof(
            fc.string(),
            fc.record({ address: fc.string(), lastSeen: fc.anything(), tried: fc.anything() }),
            fc.anything(),
          ),
        ).map((a) => JSON.stringify(a) ?? "[]"),
      ),
      (text) => {
        const r = parsePeersFile(text);
        assert.ok(Array.isArray(r.peers) && Array.isArray(r.warnings));
        for (const p of r.peers) assert.equal(typeof p.address, "string");
      },
    ),
    { numRuns: 300 },
  );
  // @ts-expect-error: not a string on purpose
  assert.equal(parsePeersFile(undefined).damaged, true);
});

Deno.test("formatPeersFile() writes one object per line and reads back the same entries", () => {
  const peers = [
    { address: "10.0.0.5:8333", lastSeen: 1763778000, tried: true, attempts: 0, source: "10.0" },
    { address: "2001:db8::1:8333" },
    { address: "not an address" },
  ];
  const text = formatPeersFile(peers);
  assert.equal(
    text,
    '[\n  {"address":"10.0.0.5:8333","lastSeen":1763778000,"tried":true,"attempts":0,"source":"10.0"},\n' +
      '  {"address":"[2001:db8::1]:8333"}\n]\n',
  );
  assert.deepEqual(parsePeersFile(text).peers, [
    peers[0],
    { address: "[2001:db8::1]:8333" },
  ]);
  assert.equal(formatPeersFile([]), "[]\n");
  // @ts-expect-error: misuse
  assert.throws(() => formatPeersFile("x"), TypeError);
});
