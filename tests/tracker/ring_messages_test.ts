/**
 * The Part 2 messages against the spec's vectors (tests/fixtures/pickle.jsonl): every builder
 * gives the originals' protocol-0 bytes exactly, and the parsers read both the Python 2 and the
 * Python 3 (protocol 0 and 2) forms, and refuse malformed tuples.
 */
import assert from "node:assert/strict";
import { decodePickle, Py2Str, PyTuple, type PyValue } from "../../src/tracker/pickle/mod.ts";
import {
  asctime,
  DEFAULT_RING_ITEMS,
  echoReply,
  echoRequest,
  encodeMessage,
  handleKey,
  parsePeerRequest,
  parseQueryResult,
  parseRegisterReply,
  parseTrackerRequest,
  pingReply,
  pingRequest,
  queryRequest,
  queryResult,
  regInit,
  registerRequest,
  ringText,
  trackerNotice,
  updateNbr,
  wireString,
} from "../../src/tracker/ring/messages.ts";
import { vector } from "./_ring_helpers.ts";

const s = (t: string) => Py2Str.fromText(t);
const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
function decoded(name: string): PyValue {
  const r = decodePickle(vector(name));
  assert.ok(r.ok, name);
  return r.value;
}

Deno.test("builders give the originals' protocol-0 bytes for every Part 2 vector", () => {
  const cases: [string, PyTuple][] = [
    ["py2.p2.echo_request", echoRequest(s("alice"))],
    ["py2.p2.echo_reply.str_handle", echoReply(s("alice"))],
    ["py2.p2.echo_reply.unicode_handle", echoReply("alice")],
    ["py2.p2.register_request", registerRequest(s("p2"), 9202)],
    [
      "py2.p2.reg_init.str_handle",
      regInit({ handle: s("p1"), ip: "127.0.0.1", port: 9201 }, 5, DEFAULT_RING_ITEMS[1]),
    ],
    [
      "py2.p2.reg_init.unicode_handle",
      regInit({ handle: "alice", ip: "127.0.0.1", port: 9101 }, 5, DEFAULT_RING_ITEMS[1]),
    ],
    [
      "py2.p2.update_nbr.str_handle",
      updateNbr({ handle: s("carol"), ip: "127.0.0.1", port: 9103 }),
    ],
    ["py2.p2.update_nbr.unicode_handle", updateNbr({ handle: "bob", ip: "127.0.0.1", port: 9102 })],
    ["py2.p2.ping", pingRequest("Sun Nov 22 01:24:25 2026")],
    ["py2.p2.query", queryRequest(1)],
    ["py2.p2.query_result.found", queryResult({ seq: 2, value: s("and") })],
    ["py2.p2.query_result.missing", queryResult(undefined)],
    ["py2.p2.bad_request_reply", trackerNotice("Bad request")],
  ];
  for (const [name, message] of cases) {
    assert.equal(text(encodeMessage(message)), text(vector(name)), name);
  }
});

Deno.test("pingReply() sends ('PING', handle) with the handle's kind", () => {
  assert.equal(text(encodeMessage(pingReply(s("alice")))), "(S'PING'\np0\nS'alice'\np1\ntp2\n.");
  assert.equal(text(encodeMessage(pingReply("zoë"))), "(S'PING'\np0\nVzo\xeb\np1\ntp2\n.");
});

Deno.test("echoReply() concatenates bytes for a non-ASCII py2 str handle", () => {
  const reply = echoReply(new Py2Str(Uint8Array.of(0x7a, 0xff)));
  const greeting = reply.items[1] as Py2Str;
  assert.ok(greeting instanceof Py2Str);
  assert.deepEqual([...greeting.bytes.subarray(0, 5)], [0x48, 0x69, 0x20, 0x7a, 0xff]);
});

Deno.test("wireString() picks py2 str for ASCII and text otherwise", () => {
  assert.ok(wireString("alice") instanceof Py2Str);
  assert.equal(wireString("zoë"), "zoë");
  assert.equal(wireString("€"), "€");
});

Deno.test("handleKey() equates an ASCII py2 str with text, not a non-ASCII one", () => {
  assert.equal(handleKey(s("alice")), handleKey("alice"));
  assert.notEqual(handleKey(s("zo\xeb")), handleKey("zo\xeb"));
  assert.notEqual(handleKey("alice"), handleKey("alicE"));
});

Deno.test("ringText() reads a py2 str as UTF-8 when valid, else Latin-1", () => {
  assert.equal(ringText(new Py2Str(Uint8Array.of(0xc3, 0xa9))), "é");
  assert.equal(ringText(new Py2Str(Uint8Array.of(0xe9))), "é");
  assert.equal(ringText(s("and")), "and");
});

Deno.test("asctime() formats like Python's time.asctime() in UTC", () => {
  assert.equal(asctime(Date.UTC(2026, 10, 22, 1, 24, 25)), "Sun Nov 22 01:24:25 2026");
  assert.equal(asctime(Date.UTC(2024, 1, 9, 13, 5, 9)), "Fri Feb  9 13:05:09 2024");
  assert.equal(asctime(NaN), "Thu Jan  1 00:00:00 1970");
});

Deno.test("parseTrackerRequest() reads ECHO and REGISTER from Python 2 and Python 3 peers", () => {
  for (const name of ["py2.p2.echo_request", "py3.p2.echo.p0", "py3.p2.echo.p2"]) {
    const r = parseTrackerRequest(decoded(name));
    assert.equal(r.type, "echo", name);
    assert.equal(r.type === "echo" && pyKind(r.handle), name.startsWith("py2") ? "py2" : "text");
  }
  const p2 = parseTrackerRequest(decoded("py2.p2.register_request"));
  assert.deepEqual(p2.type === "register" && [ringText(p2.handle), p2.port], ["p2", 9202]);
  for (const name of ["py3.p2.register.p0", "py3.p2.register.p2"]) {
    const r = parseTrackerRequest(decoded(name));
    assert.deepEqual(r.type === "register" && [r.handle, r.port], ["alice", 9101], name);
  }
});

function pyKind(v: PyValue): string {
  return v instanceof Py2Str ? "py2" : typeof v === "string" ? "text" : "other";
}

Deno.test("parseTrackerRequest() answers bad for every malformed request shape", () => {
  const bad: PyValue[] = [
    5,
    s("REGISTER"),
    PyTuple.of(),
    PyTuple.of(s("REGISTER"), s("a")),
    PyTuple.of(s("REGISTER"), s("a"), 9000, 1),
    PyTuple.of(s("REGISTER"), 7, 9000),
    PyTuple.of(s("REGISTER"), s("a"), s("9000")),
    PyTuple.of(s("REGISTER"), s("a"), 0),
    PyTuple.of(s("REGISTER"), s("a"), 65536),
    PyTuple.of(s("REGISTER"), s("a"), true),
    PyTuple.of(s("REGISTER"), "x".repeat(300), 9000),
    PyTuple.of(s("ECHO")),
    PyTuple.of(s("ECHO"), null),
    PyTuple.of(s("ECHO"), s("a"), s("b")),
    PyTuple.of(s("register"), s("a"), 9000),
    PyTuple.of(s("QUERY"), 1),
    [s("REGISTER"), s("a"), 9000],
  ];
  for (const v of bad) assert.equal(parseTrackerRequest(v).type, "bad", Deno.inspect(v));
});

Deno.test("parsePeerRequest() reads UPDATE_NBR, PING and QUERY in every vector form", () => {
  const u = parsePeerRequest(decoded("py2.p2.update_nbr.unicode_handle"));
  assert.deepEqual(
    u.type === "update-nbr" && [u.neighbour.handle, u.neighbour.ip, u.neighbour.port],
    [
      "bob",
      "127.0.0.1",
      9102,
    ],
  );
  for (const name of ["py3.p2.update_nbr.p0", "py3.p2.update_nbr.p2"]) {
    assert.equal(parsePeerRequest(decoded(name)).type, "update-nbr", name);
  }
  assert.equal(parsePeerRequest(decoded("py2.p2.ping")).type, "ping");
  assert.equal(parsePeerRequest(decoded("py3.p2.ping_reply.p2")).type, "ping");
  for (const name of ["py2.p2.query", "py3.p2.query.p0", "py3.p2.query.p2"]) {
    const q = parsePeerRequest(decoded(name));
    assert.deepEqual(q, { type: "query", seq: 1 }, name);
  }
  assert.deepEqual(parsePeerRequest(PyTuple.of(s("QUERY"), true)), { type: "query", seq: 1 });
  assert.deepEqual(parsePeerRequest(PyTuple.of(s("QUERY"), 2n ** 70n)), { type: "query", seq: -1 });
});

Deno.test("parsePeerRequest() answers bad for malformed requests", () => {
  const bad: PyValue[] = [
    null,
    PyTuple.of(),
    PyTuple.of(s("QUERY")),
    PyTuple.of(s("QUERY"), s("1")),
    PyTuple.of(s("QUERY"), 1, 2),
    PyTuple.of(s("UPDATE_NBR"), s("b"), s("127.0.0.1")),
    PyTuple.of(s("UPDATE_NBR"), s("b"), s("127.0.0.1"), 0),
    PyTuple.of(s("UPDATE_NBR"), s("b"), s(""), 9000),
    PyTuple.of(s("UPDATE_NBR"), null, null, null),
    PyTuple.of(s("EXIT!")),
  ];
  for (const v of bad) assert.equal(parsePeerRequest(v).type, "bad", Deno.inspect(v));
});

Deno.test("parseRegisterReply() reads REG_INIT, the None reply of flaw F4, and refusals", () => {
  const r = parseRegisterReply(decoded("py2.p2.reg_init.str_handle"));
  assert.ok(r.type === "reg-init");
  assert.deepEqual([ringText(r.neighbour!.handle), r.neighbour!.ip, r.neighbour!.port], [
    "p1",
    "127.0.0.1",
    9201,
  ]);
  assert.deepEqual([r.dbSize, r.item.seq, ringText(r.item.value)], [5, 2, "and"]);
  const dup = parseRegisterReply(decoded("py2.p2.reg_init.duplicate_handle"));
  assert.ok(dup.type === "reg-init" && dup.neighbour === undefined && dup.item.seq === 2);
  assert.deepEqual(parseRegisterReply(decoded("py2.p2.bad_request_reply")), {
    type: "refused",
    message: "Bad request",
  });
  const bad: PyValue[] = [
    PyTuple.of(s("REG_INIT"), s("p1"), s("127.0.0.1"), 9201, 5),
    PyTuple.of(s("REG_INIT"), s("p1"), s("127.0.0.1"), 9201, 0, PyTuple.of(0, s("a"))),
    PyTuple.of(s("REG_INIT"), s("p1"), s("127.0.0.1"), 9201, 5, PyTuple.of(5, s("a"))),
    PyTuple.of(s("REG_INIT"), s("p1"), s("127.0.0.1"), 9201, 5, PyTuple.of(-1, s("a"))),
    PyTuple.of(s("REG_INIT"), s("p1"), s("127.0.0.1"), 9201, 5, PyTuple.of(1, 1)),
    PyTuple.of(s("REG_INIT"), s("p1"), null, 9201, 5, PyTuple.of(1, s("a"))),
    PyTuple.of(s("REG_INIT"), s("p1"), s("127.0.0.1"), 9201, 100, PyTuple.of(1, s("a"))),
    PyTuple.of(s("ACK"), s("p1")),
  ];
  for (const v of bad) assert.equal(parseRegisterReply(v).type, "bad", Deno.inspect(v));
});

Deno.test("parseQueryResult() reads found and missing results, and refuses other tuples", () => {
  for (
    const name of [
      "py2.p2.query_result.found",
      "py3.p2.query_result.found.p0",
      "py3.p2.query_result.found.p2",
    ]
  ) {
    const r = parseQueryResult(decoded(name), 5);
    assert.ok(r.type === "found" && r.item.seq === 2 && ringText(r.item.value) === "and", name);
  }
  for (const name of ["py2.p2.query_result.missing", "py3.p2.query_result.missing.p2"]) {
    assert.equal(parseQueryResult(decoded(name), 5).type, "missing", name);
  }
  assert.equal(parseQueryResult(decoded("py2.p2.query_result.found"), 2).type, "missing");
  assert.equal(parseQueryResult(decoded("py2.p2.ping_ack_reply"), 5).type, "bad");
  assert.equal(parseQueryResult(5, 5).type, "bad");
});
