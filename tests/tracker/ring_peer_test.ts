/**
 * The ring peer core with scripted inputs and exact bytes: REGISTER as the reference peer sends
 * it, REG_INIT handling (with the F4 `None` neighbour and a newer UPDATE_NBR kept), the query loop
 * (period, round robin, found and missing results, failures), the server side (PING, QUERY,
 * UPDATE_NBR, Bad request for anything else), retries and refusals, and the sentence once.
 */
import assert from "node:assert/strict";
import { encodePickle, Py2Str, PyTuple } from "../../src/tracker/pickle/mod.ts";
import { RingPeer, type RingPeerEvent, type RingPeerOptions } from "../../src/tracker/ring/peer.ts";
import { encodeMessage, queryResult, regInit } from "../../src/tracker/ring/messages.ts";
import { bytesOf, events, latin1, Script, vector } from "./_ring_helpers.ts";

const s = (t: string) => Py2Str.fromText(t);
const PEER_BAD = "(S'[Peer]'\np0\nS'Bad request'\np1\ntp2\n.";
const query = (seq: number) => `(S'QUERY'\np0\nI${seq}\ntp1\n.`;
const WORDS = ["blue", "skies", "and", "snowy", "peaks"];

/** A peer registered with neighbour p1 at 127.0.0.1:9201, holding item `seq`. */
function registered(seq = 0, options: Partial<RingPeerOptions> = {}) {
  const peer = new RingPeer(0, { handle: "p2", port: 9202, ...options });
  const t = new Script(peer);
  peer.handleTick(0);
  const [reg] = t.connects();
  assert.equal(t.open(reg.conn, 0).wrote, latin1(vector("py2.p2.register_request")));
  const reply = regInit({ handle: s("p1"), ip: "127.0.0.1", port: 9201 }, 5, {
    seq,
    value: s(WORDS[seq]),
  });
  peer.handleData(reg.conn, encodeMessage(reply), 1);
  assert.deepEqual(t.take(), [{ type: "close", conn: reg.conn }]);
  return { peer, t };
}

/** Runs one query round at `now`: returns the QUERY bytes and answers with `answer`. */
function round(
  t: Script<RingPeerEvent>,
  now: number,
  answer: Uint8Array | "refuse",
): { port: number; wrote: string } {
  t.core.handleTick(now);
  const [c] = t.connects();
  assert.ok(c, `a QUERY at ${now}`);
  if (answer === "refuse") {
    t.core.handleError(c.conn, "reset", now);
    t.take();
    return { port: c.port, wrote: "" };
  }
  const { wrote, closed } = t.open(c.conn, now);
  assert.equal(closed, false);
  t.core.handleData(c.conn, answer, now);
  assert.deepEqual(t.take(), [{ type: "close", conn: c.conn }]);
  return { port: c.port, wrote };
}

const found = (seq: number) => encodeMessage(queryResult({ seq, value: s(WORDS[seq]) }));

Deno.test("RingPeer registers like the reference peer and starts querying its neighbour", () => {
  const { peer } = registered(0);
  assert.equal(peer.state, "registered");
  assert.deepEqual(peer.neighbour, { handle: "p1", ip: "127.0.0.1", port: 9201 });
  assert.deepEqual([...peer.items], [[0, "blue"]]);
  assert.equal(peer.nextTimeout(), 2001, "the first QUERY comes one interval after REG_INIT");
  const evs = events(peer);
  assert.deepEqual(evs, [{
    type: "registered",
    neighbour: { handle: "p1", ip: "127.0.0.1", port: 9201 },
    dbSize: 5,
    seq: 0,
    value: "blue",
  }]);
});

Deno.test("RingPeer collects every item round robin and reports the sentence once", () => {
  const { peer, t } = registered(0);
  const q1 = round(t, 2001, found(1));
  assert.deepEqual(q1, { port: 9201, wrote: latin1(vector("py2.p2.query")) });
  assert.equal(round(t, 4001, vector("py2.p2.query_result.missing")).wrote, query(2));
  assert.equal(round(t, 6001, found(3)).wrote, query(3), "after a miss it asks for the next seq");
  assert.equal(round(t, 8001, found(4)).wrote, query(4));
  assert.equal(round(t, 10_001, vector("py2.p2.query_result.found")).wrote, query(2));
  assert.equal(peer.sentence, "blue skies and snowy peaks");
  assert.equal(peer.nextTimeout(), undefined, "no more queries once whole");
  const evs = events(peer).filter((e) => e.type !== "registered");
  assert.deepEqual(evs.map((e) => e.type), ["item", "item", "item", "item", "complete"]);
  assert.deepEqual(evs.at(-1), { type: "complete", sentence: "blue skies and snowy peaks" });
});

Deno.test("RingPeer skips a query round while one is in flight, and survives failures", () => {
  const { peer, t } = registered(4);
  peer.handleTick(2001);
  const [c] = t.connects();
  peer.handleTick(4001);
  peer.handleTick(6001);
  assert.deepEqual(t.connects(), [], "one QUERY at a time");
  peer.handleTick(7001); // connect timeout (5 s) of the first
  assert.deepEqual(t.take(), [{ type: "close", conn: c.conn }]);
  assert.equal(round(t, 8001, "refuse").port, 9201);
  const bad = round(t, 10_001, bytesOf("No data sent!"));
  assert.equal(bad.wrote, query(2), "a raw reply (the reference peer's) is skipped");
  assert.equal(peer.items.size, 1);
  assert.equal(round(t, 12_001, found(3)).wrote, query(3));
  assert.equal(peer.items.get(3), "snowy");
});

Deno.test("RingPeer answers PING, QUERY and UPDATE_NBR on its server", () => {
  const { peer, t } = registered(2);
  assert.equal(t.serve(vector("py2.p2.ping"), 2), "(S'PING'\np0\nS'p2'\np1\ntp2\n.");
  assert.equal(t.serve(bytesOf(query(2)), 2), latin1(vector("py2.p2.query_result.found")));
  assert.equal(
    t.serve(vector("py3.p2.query.p2"), 2),
    latin1(vector("py2.p2.query_result.missing")),
  );
  assert.equal(
    t.serve(encodePickle(PyTuple.of(s("QUERY"), -1)), 2),
    latin1(vector("py2.p2.query_result.missing")),
  );
  assert.equal(t.serve(vector("py2.p2.update_nbr.unicode_handle"), 2), undefined, "no reply");
  assert.deepEqual(peer.neighbour, { handle: "bob", ip: "127.0.0.1", port: 9102 });
  assert.equal(t.serve(vector("py3.p2.update_nbr.p2"), 2), undefined);
  const evs = events(peer).filter((e) => e.type === "neighbour");
  assert.equal(evs.length, 1, "the same neighbour again is no change");
  assert.equal(round(t, 2001, found(3)).port, 9102, "queries go to the new neighbour");
});

Deno.test("RingPeer answers Bad request to anything else and keeps serving", () => {
  const { peer, t } = registered(2);
  const bad = [
    bytesOf("EXIT!"),
    bytesOf("\x00"),
    encodePickle(PyTuple.of(s("QUERY"), s("2"))),
    encodePickle(PyTuple.of(s("UPDATE_NBR"), null, null, null)),
    bytesOf("c__builtin__\nlen\n(S'abc'\ntR."),
    encodePickle(5),
  ];
  for (const b of bad) assert.equal(t.serve(b, 2), PEER_BAD, latin1(b));
  const late = peer.handleAccept("10.0.0.9:40000", "127.0.0.1:7777", 2);
  peer.handleData(late, bytesOf("(S'QU"), 2);
  peer.handleTick(5002);
  assert.equal(t.finished(late), PEER_BAD);
  assert.equal(
    t.serve(vector("py2.p2.query"), 5002, { chunk: 1 }),
    latin1(vector("py2.p2.query_result.missing")),
  );
  assert.equal(events(peer).filter((e) => e.type === "bad-request").length, bad.length + 1);
});

Deno.test("RingPeer keeps an UPDATE_NBR that arrived before the REG_INIT reply", () => {
  const peer = new RingPeer(0, { handle: "p2", port: 9202 });
  const t = new Script(peer);
  peer.handleTick(0);
  const [reg] = t.connects();
  t.open(reg.conn, 0);
  assert.equal(t.serve(vector("py2.p2.update_nbr.str_handle"), 1), undefined);
  peer.handleData(reg.conn, vector("py2.p2.reg_init.str_handle"), 2);
  assert.deepEqual(peer.neighbour, { handle: "carol", ip: "127.0.0.1", port: 9103 });
});

Deno.test("RingPeer waits for UPDATE_NBR after the original's None neighbour (F4)", () => {
  const peer = new RingPeer(0, { handle: "p2", port: 9202 });
  const t = new Script(peer);
  peer.handleTick(0);
  const [reg] = t.connects();
  t.open(reg.conn, 0);
  peer.handleData(reg.conn, vector("py2.p2.reg_init.duplicate_handle"), 1);
  t.take();
  assert.equal(peer.state, "registered");
  assert.equal(peer.neighbour, undefined);
  peer.handleTick(2001);
  assert.deepEqual(t.connects(), [], "nobody to ask");
  t.serve(vector("py2.p2.update_nbr.str_handle"), 2500);
  assert.equal(round(t, 4001, found(0)).port, 9103);
});

Deno.test("RingPeer retries REGISTER, then gives up; a refusal stops it at once", () => {
  const peer = new RingPeer(0, {
    handle: "p2",
    port: 9202,
    registerAttemptsMax: 2,
    registerDelayMs: 3000,
  });
  const t = new Script(peer);
  assert.equal(peer.nextTimeout(), 3000, "the reference peer's 3 s wait, when asked for");
  peer.handleTick(3000);
  const [a] = t.connects();
  peer.handleError(a.conn, "reset", 3001);
  t.take();
  assert.equal(peer.nextTimeout(), 5001);
  peer.handleTick(5001);
  const [b] = t.connects();
  t.open(b.conn, 5001);
  peer.handleData(b.conn, bytesOf("(S'REG_INIT'\nt."), 5002);
  t.take();
  assert.equal(peer.state, "failed");
  assert.deepEqual(events(peer), [
    { type: "register-failed", reason: "refused", attempt: 1, final: false },
    { type: "register-failed", reason: "bad reply: not a REG_INIT", attempt: 2, final: true },
  ]);
  const refused = new RingPeer(0, { handle: "p2", port: 9202 });
  const r = new Script(refused);
  refused.handleTick(0);
  const [c] = r.connects();
  r.open(c.conn, 0);
  refused.handleData(
    c.conn,
    bytesOf("(S'[Tracker]'\np0\nS'Handle already registered'\np1\ntp2\n."),
    1,
  );
  assert.equal(refused.state, "failed");
  assert.deepEqual(events(refused), [{ type: "rejected", message: "Handle already registered" }]);
  assert.equal(refused.nextTimeout(), undefined);
});

Deno.test("RingPeer sends a non-ASCII handle as text and serves items in their kind", () => {
  const peer = new RingPeer(0, { handle: "zoë", port: 9000 });
  const t = new Script(peer);
  peer.handleTick(0);
  const [reg] = t.connects();
  assert.equal(t.open(reg.conn, 0).wrote, "(S'REGISTER'\np0\nVzo\xeb\np1\nI9000\ntp2\n.");
  peer.handleData(
    reg.conn,
    encodeMessage(
      regInit({ handle: "zoë", ip: "127.0.0.1", port: 9000 }, 2, { seq: 1, value: "wörld" }),
    ),
    1,
  );
  t.take();
  assert.equal(
    t.serve(bytesOf(query(1)), 2),
    "(S'QUERY_RESULT'\np0\n(I1\nVw\xf6rld\np1\ntp2\ntp3\n.",
  );
  assert.equal(t.serve(vector("py2.p2.ping"), 2), "(S'PING'\np0\nVzo\xeb\np1\ntp2\n.");
});

Deno.test("RingPeer refuses bad options", () => {
  assert.throws(() => new RingPeer(0, { handle: "", port: 1 }), RangeError);
  assert.throws(() => new RingPeer(0, { handle: "a", port: 0 }), RangeError);
  assert.throws(() => new RingPeer(0, { handle: "a", port: 1, queryIntervalMs: 0 }), RangeError);
  assert.throws(() => new RingPeer(0, { handle: 5 as unknown as string, port: 1 }), TypeError);
});
