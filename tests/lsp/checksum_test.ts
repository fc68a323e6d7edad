import assert from "node:assert/strict";
import fc from "fast-check";
import { checksum } from "../../src/lsp/checksum.ts";
import { decodeMessage, encodeMessage, MsgType } from "../../src/lsp/wire.ts";

const VECTORS = new URL("../fixtures/lsp_checksum.jsonl", import.meta.url);
const LINES = Deno.readTextFileSync(VECTORS).split("\n").filter((line) => line.length > 0);
const te = new TextEncoder();

/** A textbook ones'-complement checksum, which folds the carry of each field back in. */
function textbookChecksum(connId: number, seqNum: number, size: number, p: Uint8Array): number {
  const part = (v: number) => {
    const u = v >>> 0;
    const s = (u & 0xffff) + (u >>> 16);
    return s > 0xffff ? (s & 0xffff) + 1 : s;
  };
  let sum = part(connId) + part(seqNum) + part(size);
  for (let i = 0; i < p.length; i += 2) sum += p[i] | ((p[i + 1] ?? 0) << 8);
  sum %= 2 ** 32;
  while (sum > 0xffff) sum = (sum >>> 16) + (sum & 0xffff);
  return ~sum & 0xffff;
}

Deno.test("checksum() matches every vector of lsp_checksum.jsonl", () => {
  assert.equal(LINES.length, 207);
  for (const line of LINES) {
    const m = decodeMessage(te.encode(line));
    assert.ok(m !== undefined, `undecodable: ${line.slice(0, 80)}`);
    assert.equal(m.type, MsgType.Data);
    assert.equal(m.size, m.payload?.length ?? 0);
    assert.equal(
      checksum(m.connId, m.seqNum, m.size, m.payload ?? new Uint8Array(0)),
      m.checksum,
      line.slice(0, 120),
    );
  }
});

Deno.test("encodeMessage() reproduces every vector of lsp_checksum.jsonl byte for byte", () => {
  for (const line of LINES) {
    const bytes = te.encode(line);
    assert.deepEqual(encodeMessage(decodeMessage(bytes)!), bytes, line.slice(0, 120));
  }
});

Deno.test("checksum() keeps the lost carry on the 90 vectors where a textbook fold differs", () => {
  let differ = 0;
  for (const line of LINES) {
    const m = decodeMessage(te.encode(line))!;
    const payload = m.payload ?? new Uint8Array(0);
    if (textbookChecksum(m.connId, m.seqNum, m.size, payload) !== m.checksum) differ++;
  }
  assert.equal(differ, 90);
});

Deno.test("checksum() gives the spec's worked example A (odd length)", () => {
  assert.equal(checksum(1, 2, 5, Uint8Array.of(0x38, 0xe6, 0x7b, 0xff, 0x2a)), 6681);
});

Deno.test("checksum() gives the spec's worked example B (ConnID -1, lost carry)", () => {
  const payload = Uint8Array.of(0x38, 0xd3);
  assert.equal(checksum(-1, 5, 2, payload), 11457);
  assert.equal(textbookChecksum(-1, 5, 2, payload), 11456);
});

Deno.test("checksum() gives the spec's worked example C (SeqNum 1987365748, lost carry)", () => {
  const payload = Uint8Array.of(
    0x10,
    0xa5,
    0xd8,
    0xa5,
    0x43,
    0xa1,
    0x3d,
    0x91,
    0x53,
    0x06,
    0x66,
    0x93,
    0xf9,
    0x1a,
    0x18,
  );
  assert.equal(checksum(85240, 1987365748, 15, payload), 16090);
  assert.equal(textbookChecksum(85240, 1987365748, 15, payload), 16089);
});

Deno.test("checksum() gives the spec's anchors: all zero, and SeqNum 2^33", () => {
  assert.equal(checksum(0, 0, 0, new Uint8Array(0)), 65535);
  assert.equal(checksum(1, 2 ** 33, 0, new Uint8Array(0)), 65534);
});

Deno.test("checksum() gives the spec's Data example for hello", () => {
  assert.equal(checksum(1, 101, 5, te.encode("hello")), 11601);
});

Deno.test("checksum() stays in 0..65535 and only counts the low 32 bits of header fields", () => {
  const int = fc.integer({ min: -(2 ** 40), max: 2 ** 40 });
  fc.assert(
    fc.property(int, int, int, fc.uint8Array({ maxLength: 300 }), (c, s, n, p) => {
      const sum = checksum(c, s, n, p);
      assert.ok(Number.isInteger(sum) && sum >= 0 && sum <= 0xffff);
      assert.equal(checksum(c + 2 ** 32, s - 2 ** 32, n + 2 ** 33, p), sum);
    }),
    { numRuns: 500 },
  );
});

Deno.test("checksum() pads an odd payload with a zero byte", () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer(), fc.uint8Array({ maxLength: 99 }), (c, s, p) => {
      const odd = p.length % 2 === 1 ? p : Uint8Array.of(...p, 0x5a);
      assert.equal(
        checksum(c, s, odd.length, Uint8Array.of(...odd, 0)),
        checksum(c, s, odd.length, odd),
      );
    }),
    { numRuns: 300 },
  );
});
