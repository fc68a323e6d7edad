/**
 * The tracker's pickle codec against JSON (the baseline, measured in the same run) on the same
 * values: a Part 2 REG_INIT message, and a larger nested value. Run: `deno task bench`, or
 * `deno bench bench/tracker_pickle_bench.ts`.
 */
import {
  decodePickle,
  encodePickle,
  Py2Str,
  PyDict,
  PyFloat,
  PyTuple,
  type PyValue,
} from "../src/tracker/pickle/mod.ts";

const s = Py2Str.fromText;
const te = new TextEncoder(), td = new TextDecoder();

/** The REG_INIT reply as the tracker sends it, and the same data as JSON. */
const REG_INIT: PyValue = PyTuple.of(
  s("REG_INIT"),
  "alice",
  s("127.0.0.1"),
  9101,
  5,
  PyTuple.of(2, s("and")),
);
const REG_INIT_JSON = ["REG_INIT", "alice", "127.0.0.1", 9101, 5, [2, "and"]];

/** A bigger value: 200 records of mixed kinds. */
const RECORDS: PyValue = Array.from({ length: 200 }, (_, i) =>
  new PyDict([
    ["id", i],
    ["name", `peer-${i}`],
    ["addr", PyTuple.of(s("127.0.0.1"), 9000 + i)],
    ["score", new PyFloat(i / 7)],
    ["tags", ["a", "b", i % 2 === 0]],
  ]));
const RECORDS_JSON = Array.from({ length: 200 }, (_, i) => ({
  id: i,
  name: `peer-${i}`,
  addr: ["127.0.0.1", 9000 + i],
  score: i / 7,
  tags: ["a", "b", i % 2 === 0],
}));

const regInit0 = encodePickle(REG_INIT);
const regInit2 = encodePickle(REG_INIT, { protocol: 2 });
const regInitJson = te.encode(JSON.stringify(REG_INIT_JSON));
const records0 = encodePickle(RECORDS);
const records2 = encodePickle(RECORDS, { protocol: 2 });
const recordsJson = te.encode(JSON.stringify(RECORDS_JSON));
let sink = 0;

function mustDecode(bytes: Uint8Array): void {
  const r = decodePickle(bytes);
  if (!r.ok) throw new Error(r.error.message);
  sink += r.consumed;
}

Deno.bench("JSON.parse REG_INIT", { group: "decode REG_INIT", baseline: true }, () => {
  sink += JSON.parse(td.decode(regInitJson)).length;
});
Deno.bench("decodePickle REG_INIT protocol 0", { group: "decode REG_INIT" }, () => {
  mustDecode(regInit0);
});
Deno.bench("decodePickle REG_INIT protocol 2", { group: "decode REG_INIT" }, () => {
  mustDecode(regInit2);
});

Deno.bench("JSON.stringify REG_INIT", { group: "encode REG_INIT", baseline: true }, () => {
  sink += te.encode(JSON.stringify(REG_INIT_JSON)).length;
});
Deno.bench("encodePickle REG_INIT protocol 0", { group: "encode REG_INIT" }, () => {
  sink += encodePickle(REG_INIT).length;
});
Deno.bench("encodePickle REG_INIT protocol 2", { group: "encode REG_INIT" }, () => {
  sink += encodePickle(REG_INIT, { protocol: 2 }).length;
});

Deno.bench("JSON.parse 200 records", { group: "decode records", baseline: true }, () => {
  sink += JSON.parse(td.decode(recordsJson)).length;
});
Deno.bench("decodePickle 200 records protocol 0", { group: "decode records" }, () => {
  mustDecode(records0);
});
Deno.bench("decodePickle 200 records protocol 2", { group: "decode records" }, () => {
  mustDecode(records2);
});

Deno.bench("JSON.stringify 200 records", { group: "encode records", baseline: true }, () => {
  sink += te.encode(JSON.stringify(RECORDS_JSON)).length;
});
Deno.bench("encodePickle 200 records protocol 0", { group: "encode records" }, () => {
  sink += encodePickle(RECORDS).length;
});
Deno.bench("encodePickle 200 records protocol 2", { group: "encode records" }, () => {
  sink += encodePickle(RECORDS, { protocol: 2 }).length;
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink); // keeps the work from being optimised away
});
