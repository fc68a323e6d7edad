/**
 * Part 1 wire format (spec §2.2–2.4) against the shared vectors (tests/fixtures/pickle.jsonl,
 * `py2.p1.*`): the exact reply bytes, every request form, and reading replies back.
 */
import assert from "node:assert/strict";
import { Py2Str, PyTuple } from "../../src/tracker/pickle/mod.ts";
import {
  BAD_REQUEST,
  encodeReply,
  encodeRequest,
  ERROR_REPLY,
  interpretReply,
  MAX_MESSAGE_BYTES,
  REGISTER_REQUEST,
} from "../../src/tracker/part1/wire.ts";

interface Vector {
  name: string;
  python: string;
  protocol: number;
  hex: string;
}

const VECTORS = new Map<string, Vector>(
  Deno.readTextFileSync(new URL("../fixtures/pickle.jsonl", import.meta.url))
    .split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Vector)
    .map((v) => [v.name, v]),
);
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const vectorHex = (name: string) => {
  const v = VECTORS.get(name);
  assert.ok(v, `missing vector ${name}`);
  return v.hex;
};

Deno.test("encodeReply() writes the size reply of vector py2.p1.size_reply", () => {
  assert.equal(hex(encodeReply({ type: "size", count: 16 })), vectorHex("py2.p1.size_reply"));
  assert.equal(hex(encodeReply({ type: "size", count: 16 })), "4931360a2e");
});

Deno.test("encodeReply() writes item replies byte for byte like the original", () => {
  const cases: [string, number, string][] = [
    ["py2.p1.item_reply.pos0", 12, "of"],
    ["py2.p1.item_reply.pos4", 2, "the"],
    ["py2.p1.item_reply.pos5", 5, "all"],
  ];
  for (const [name, seq, word] of cases) {
    assert.equal(hex(encodeReply({ type: "item", entry: { seq, word } })), vectorHex(name), name);
  }
});

Deno.test("encodeReply() writes the error reply of vector py2.p1.bad_request_reply", () => {
  const expected = vectorHex("py2.p1.bad_request_reply");
  assert.equal(expected, "53274261642072657175657374270a70300a2e");
  assert.equal(hex(encodeReply({ type: "error", message: BAD_REQUEST })), expected);
  assert.equal(hex(ERROR_REPLY), expected);
});

Deno.test("encodeReply() writes non-ASCII words as text (V), which Python 3 can load", () => {
  const bytes = encodeReply({ type: "item", entry: { seq: 3, word: "café" } });
  assert.equal(new TextDecoder("latin1").decode(bytes), "(I3\nVcaf\xe9\np0\ntp1\n.");
});

Deno.test("encodeReply() refuses a negative count or SEQNUM", () => {
  assert.throws(() => encodeReply({ type: "size", count: -1 }), RangeError);
  assert.throws(() => encodeReply({ type: "item", entry: { seq: 1.5, word: "x" } }), RangeError);
});

Deno.test("encodeRequest() writes every item request vector of protocols 0, 1 and 2", () => {
  for (const index of [0, 5, 15, -1]) {
    for (const protocol of [0, 1, 2] as const) {
      const name = `py2.p1.item_request.${index}.p${protocol}`;
      assert.equal(hex(encodeRequest({ type: "item", index }, protocol)), vectorHex(name), name);
    }
  }
});

Deno.test("encodeRequest() writes REGISTER raw, 8 bytes, and defaults to protocol 0", () => {
  assert.equal(hex(encodeRequest({ type: "size" })), "5245474953544552");
  assert.equal(hex(REGISTER_REQUEST), "5245474953544552");
  assert.equal(hex(encodeRequest({ type: "item", index: 5 })), "49350a2e");
  assert.equal(hex(encodeRequest({ type: "item", index: 300 }, 1)), "4d2c012e"); // M u16
  assert.equal(hex(encodeRequest({ type: "item", index: 70000 }, 1)), "4a70110100" + "2e"); // J
  assert.equal(encodeRequest({ type: "item", index: 2 }, 2).length, 5);
});

Deno.test("encodeRequest() refuses a fractional index and an unknown protocol", () => {
  assert.throws(() => encodeRequest({ type: "item", index: 0.5 }), RangeError);
  assert.throws(() => encodeRequest({ type: "item", index: 1 }, 3 as never), RangeError);
});

Deno.test("interpretReply() reads the three reply shapes and refuses the wrong one", () => {
  const s = Py2Str.fromText;
  assert.deepEqual(interpretReply(16, { type: "size" }), { type: "size", count: 16 });
  assert.deepEqual(
    interpretReply(PyTuple.of(12, s("of")), { type: "item", index: 0 }),
    { type: "item", entry: { seq: 12, word: "of" } },
  );
  assert.deepEqual(
    interpretReply(PyTuple.of(12, "of"), { type: "item", index: 0 }),
    { type: "item", entry: { seq: 12, word: "of" } },
  );
  // The error reply is a string, whichever request it answers (check before indexing).
  for (const query of [{ type: "size" } as const, { type: "item", index: 0 } as const]) {
    assert.deepEqual(interpretReply(s("Bad request"), query), {
      type: "error",
      message: "Bad request",
    });
  }
  assert.equal(interpretReply(16, { type: "item", index: 0 }), undefined);
  assert.equal(interpretReply(-1, { type: "size" }), undefined);
  assert.equal(interpretReply(PyTuple.of(1, 2), { type: "item", index: 0 }), undefined);
  assert.equal(interpretReply(PyTuple.of(1, s("a"), 3), { type: "item", index: 0 }), undefined);
  assert.equal(interpretReply(PyTuple.of(12, s("of")), { type: "size" }), undefined);
});

Deno.test("MAX_MESSAGE_BYTES is the original's recv(1024)", () => {
  assert.equal(MAX_MESSAGE_BYTES, 1024);
});
