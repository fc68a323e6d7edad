/**
 * The ring tracker core with scripted inputs and exact bytes: ECHO and REGISTER replies as the
 * original sends them, UPDATE_NBR to the peers whose neighbour changed, Bad request for every
 * malformed input (whole, split byte by byte, cut short, too long, late), PING rounds that drop
 * a peer after the configured failures and repair the ring (a peer left alone is told it is its
 * own neighbour), the duplicate-handle policy, fewest-holders item assignment and capacity.
 */
import assert from "node:assert/strict";
import { encodePickle, Py2Str, PyTuple } from "../../src/tracker/pickle/mod.ts";
import { RingTracker, type RingTrackerEvent } from "../../src/tracker/ring/tracker.ts";
import { bytesOf, events, latin1, Script, vector } from "./_ring_helpers.ts";

const s = (t: string) => Py2Str.fromText(t);
const BAD = latin1(vector("py2.p2.bad_request_reply"));
const register = (handle: string, port: number) =>
  bytesOf(`(S'REGISTER'\np0\nS'${handle}'\np1\nI${port}\ntp2\n.`);
const regInit = (nbr: string, port: number, seq: number, word: string) =>
  `(S'REG_INIT'\np0\nS'${nbr}'\np1\nS'127.0.0.1'\np2\nI${port}\nI5\n(I${seq}\nS'${word}'\np3\ntp4\ntp5\n.`;
const update = (nbr: string, port: number) =>
  `(S'UPDATE_NBR'\np0\nS'${nbr}'\np1\nS'127.0.0.1'\np2\nI${port}\ntp3\n.`;

/** Registers `handles` (ports 9201, 9202, ...) and completes every UPDATE_NBR at once. */
function ring(t: Script<RingTrackerEvent>, handles: string[], now = 0): void {
  handles.forEach((h, i) => {
    assert.ok(t.serve(register(h, 9201 + i), now)?.startsWith("(S'REG_INIT'"));
    for (const c of t.connects()) t.delivered(c.conn, now);
  });
  events(t.core);
}

Deno.test("RingTracker answers ECHO byte for byte for py2 str and text handles", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  assert.equal(
    t.serve(vector("py2.p2.echo_request"), 0),
    latin1(vector("py2.p2.echo_reply.str_handle")),
  );
  for (const name of ["py3.p2.echo.p0", "py3.p2.echo.p2"]) {
    assert.equal(
      t.serve(vector(name), 0),
      latin1(vector("py2.p2.echo_reply.unicode_handle")),
      name,
    );
  }
  const protocol4 = encodePickle(PyTuple.of("ECHO", "alice"), { protocol: 2 });
  assert.ok(t.serve(protocol4, 0)?.includes("Hi alice"));
  assert.deepEqual(events(tracker).map((e) => e.type), ["echo", "echo", "echo", "echo"]);
});

Deno.test("RingTracker replies REG_INIT like the original and updates only the changed neighbour", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  assert.equal(t.serve(register("p1", 9201), 0), regInit("p1", 9201, 4, "peaks"));
  assert.deepEqual(t.take(), [], "a lone first peer already knows it is its own neighbour");
  // The second registrant gets the vector's exact reply: neighbour p1, item db[1] = (2, 'and').
  assert.equal(
    t.serve(vector("py2.p2.register_request"), 0),
    latin1(vector("py2.p2.reg_init.str_handle")),
  );
  const [c] = t.connects();
  assert.deepEqual([c.host, c.port], ["127.0.0.1", 9201], "p1's predecessor is now p2");
  assert.equal(t.delivered(c.conn, 1), update("p2", 9202));
  assert.deepEqual(tracker.peers.map((p) => [p.handle, p.port, p.seq]), [["p1", 9201, 4], [
    "p2",
    9202,
    2,
  ]]);
  const evs = events(tracker);
  assert.deepEqual(evs.map((e) => e.type), ["registered", "registered", "neighbour-sent"]);
});

Deno.test("RingTracker echoes a text handle as text in REG_INIT and UPDATE_NBR", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  t.serve(encodePickle(PyTuple.of("REGISTER", "alice", 9101), { protocol: 2 }), 0);
  assert.equal(
    t.serve(register("bob", 9102), 0),
    latin1(vector("py2.p2.reg_init.unicode_handle")),
  );
  const [c] = t.connects();
  assert.equal(
    t.delivered(c.conn, 0),
    "(S'UPDATE_NBR'\np0\nS'bob'\np1\nS'127.0.0.1'\np2\nI9102\ntp3\n.",
  );
  t.serve(vector("py3.p2.register.p0"), 0); // alice again, same endpoint
  assert.equal(t.take().length, 0);
});

Deno.test("RingTracker sends a peer its next UPDATE_NBR only once it closed the previous one", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  t.serve(register("a", 9201), 0);
  t.serve(register("b", 9202), 0);
  const [first] = t.connects();
  assert.equal(t.open(first.conn, 1).closed, false);
  t.serve(register("c", 9203), 2); // a's neighbour changes again while it reads the first
  assert.deepEqual(t.connects(), [], "nothing more to a until it is done with the first");
  tracker.handleEof(first.conn, 3);
  assert.deepEqual(t.takeFor(first.conn), [{ type: "close", conn: first.conn }]);
  const [second] = t.connects();
  assert.deepEqual([second.port, t.delivered(second.conn, 4)], [9201, update("c", 9203)]);
  // A peer that never closes: the update counts as failed after 2 s and is sent again later.
  t.serve(register("d", 9204), 5);
  const [third] = t.connects();
  t.open(third.conn, 5);
  tracker.handleTick(2005);
  assert.deepEqual(t.take(), [{ type: "close", conn: third.conn }]);
  const sent = events(tracker).filter((e) => e.type === "neighbour-sent");
  assert.deepEqual(sent.map((e) => e.type === "neighbour-sent" && [e.neighbour, e.ok]), [
    ["b", true],
    ["c", true],
    ["d", false],
  ]);
});

Deno.test("RingTracker hands out the table in order, then to the fewest holders", () => {
  const tracker = new RingTracker(0, { dropAfterFailures: 1 });
  const t = new Script(tracker);
  ring(t, ["a", "b", "c", "d", "e", "f", "g"]);
  assert.deepEqual(
    tracker.peers.map((p) => p.seq),
    [4, 2, 0, 3, 1, 4, 2],
    "k-th peer: db[k mod 5]",
  );
  // Round 1: c and d (holders of 0 and 3) die; a and f hold 4, b and g hold 2.
  tracker.handleTick(20_000);
  for (const c of t.connects()) {
    if (c.port === 9203 || c.port === 9204) tracker.handleError(c.conn, "reset", 20_001);
    else {
      t.open(c.conn, 20_001);
      tracker.handleEof(c.conn, 20_001);
    }
  }
  assert.deepEqual(tracker.peers.map((p) => p.handle), ["a", "b", "e", "f", "g"]);
  t.take();
  const next = [register("h", 9300), register("i", 9301), register("j", 9302)].map((r) =>
    t.serve(r, 20_001)?.match(/\(I(\d)\n/)?.[1]
  );
  assert.deepEqual(next, ["0", "3", "0"], "the items nobody holds first, then the lowest position");
});

Deno.test("RingTracker drops a peer after two failed PING rounds and tells the survivor", () => {
  const tracker = new RingTracker(0, { epochOffsetMs: Date.UTC(2026, 10, 22, 1, 24, 5) });
  const t = new Script(tracker);
  ring(t, ["p1", "p2"]);
  assert.equal(tracker.nextTimeout(), 20_000);
  tracker.handleTick(20_000);
  const round1 = t.connects();
  assert.deepEqual(round1.map((c) => c.port), [9201, 9202]);
  for (const c of round1) {
    if (c.port === 9202) {
      tracker.handleError(c.conn, "reset", 20_001); // refused
      continue;
    }
    const { wrote, closed } = t.open(c.conn, 20_001);
    assert.equal(wrote, latin1(vector("py2.p2.ping")), "PING carries asctime() of now");
    assert.equal(closed, false, "the tracker waits for the answer");
    tracker.handleData(c.conn, vector("py2.p2.ping_ack_reply"), 20_001);
    assert.deepEqual(t.take(), [{ type: "close", conn: c.conn }]);
  }
  assert.equal(tracker.peers.length, 2, "one failure is not enough by default");
  assert.equal(tracker.peers[1].failures, 1);
  assert.equal(tracker.nextTimeout(), 40_001, "the next round starts an interval after this one");
  tracker.handleTick(40_001);
  const round2 = t.connects();
  for (const c of round2) {
    if (c.port === 9202) continue; // silent: connect times out after 5 s
    t.open(c.conn, 40_002);
    tracker.handleEof(c.conn, 40_002); // a clean close counts as an answer
    t.take();
  }
  assert.equal(tracker.nextTimeout(), 45_001);
  tracker.handleTick(45_001);
  assert.deepEqual(tracker.peers.map((p) => p.handle), ["p1"]);
  const [upd] = t.connects();
  assert.equal(upd.port, 9201);
  assert.equal(t.delivered(upd.conn, 45_002), update("p1", 9201), "F8");
  const evs = events(tracker).filter((e) => e.type === "dropped" || e.type === "ping-round");
  assert.deepEqual(evs, [
    { type: "ping-round", alive: 1, failed: 1, peers: 2 },
    { type: "dropped", handle: "p2", ip: "127.0.0.1", port: 9202 },
    { type: "ping-round", alive: 1, failed: 1, peers: 1 },
  ]);
});

Deno.test("RingTracker keeps a peer whose PING failures are not consecutive (default: 2 in a row)", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  ring(t, ["p1", "p2"]);
  /** Runs the PING round due now; the peers on `failing` ports refuse the connection. */
  const round = (failing: number[]) => {
    const now = tracker.nextTimeout()!;
    tracker.handleTick(now);
    for (const c of t.connects()) {
      if (failing.includes(c.port)) {
        tracker.handleError(c.conn, "reset", now + 1);
        continue;
      }
      t.open(c.conn, now + 1);
      tracker.handleData(c.conn, vector("py2.p2.ping_ack_reply"), now + 1);
    }
    for (const c of t.connects()) t.delivered(c.conn, now + 2); // UPDATE_NBRs after a drop
    t.take();
    return tracker.peers.map((p) => `${p.handle}:${p.failures}`);
  };
  assert.deepEqual(round([9202]), ["p1:0", "p2:1"], "fails");
  assert.deepEqual(round([]), ["p1:0", "p2:0"], "answers: the count starts again");
  assert.deepEqual(round([9202]), ["p1:0", "p2:1"], "fails again, but not twice in a row");
  assert.deepEqual(round([9202]), ["p1:0"], "a second failure in a row drops it");
  const types = events(tracker).map((e) => e.type).filter((e) => e === "dropped");
  assert.deepEqual(types, ["dropped"]);
});

Deno.test("RingTracker repairs the ring: the dead peer's successor learns its new neighbour", () => {
  const tracker = new RingTracker(0, { dropAfterFailures: 1, pingReplyTimeoutMs: 1000 });
  const t = new Script(tracker);
  ring(t, ["a", "b", "c", "d"]);
  tracker.handleTick(20_000);
  for (const c of t.connects()) {
    t.open(c.conn, 20_001);
    if (c.port !== 9202) tracker.handleData(c.conn, bytesOf("x"), 20_001); // any answer will do
  }
  t.take();
  tracker.handleTick(21_001); // b's connection opened but it never answered
  assert.deepEqual(tracker.peers.map((p) => p.handle), ["a", "c", "d"]);
  const ups = t.connects();
  assert.deepEqual(ups.map((c) => c.port), [9203], "only c's neighbour changed");
  assert.equal(t.delivered(ups[0].conn, 21_002), update("a", 9201));
});

Deno.test("RingTracker retries a failed UPDATE_NBR after the next PING round", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  t.serve(register("a", 9201), 0);
  t.serve(register("b", 9202), 0);
  const [first] = t.connects();
  tracker.handleError(first.conn, "reset", 1);
  assert.deepEqual(t.take(), [{ type: "close", conn: first.conn }], "no retry at once");
  tracker.handleTick(20_000);
  for (const c of t.connects()) {
    t.open(c.conn, 20_001);
    tracker.handleEof(c.conn, 20_001);
  }
  const retry = t.connects();
  assert.deepEqual(retry.map((c) => c.port), [9201]);
  assert.equal(t.delivered(retry[0].conn, 20_002), update("b", 9202));
});

Deno.test("RingTracker answers Bad request to every malformed input and keeps serving", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  const bad = [
    bytesOf("\x00garbage"),
    bytesOf("I5\n."),
    bytesOf("(t."),
    bytesOf("(S'REGISTER'\nS'a'\ntp0\n."),
    bytesOf("(S'ECHO'\nI5\nt."),
    bytesOf("(S'PING'\nS'x'\nt."),
    bytesOf("c__builtin__\nlen\n(S'abc'\ntR."),
    bytesOf("(S'REGISTER'\nS'" + "x".repeat(65) + "'\nI9000\nt."),
    Uint8Array.of(0x80, 0x06, 0x4b, 0x05, 0x2e),
  ];
  for (const b of bad) assert.equal(t.serve(b, 0), BAD, latin1(b));
  // Cut short by EOF, empty, too long, late.
  const cut = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
  tracker.handleData(cut, bytesOf("(S'ECHO'\n"), 0);
  tracker.handleEof(cut, 0);
  assert.equal(t.finished(cut), BAD);
  const empty = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
  tracker.handleEof(empty, 0);
  assert.equal(t.finished(empty), BAD);
  const long = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
  tracker.handleData(long, bytesOf("(" + "I1\n".repeat(400)), 0);
  assert.equal(t.finished(long), BAD, "over 1024 bytes without STOP");
  const late = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
  tracker.handleData(late, bytesOf("(S'EC"), 0);
  assert.equal(tracker.nextTimeout(), 5000);
  tracker.handleTick(5000);
  assert.equal(t.finished(late), BAD);
  const reset = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 5000);
  tracker.handleError(reset, "reset", 5000);
  assert.deepEqual(t.take(), [{ type: "close", conn: reset }]);
  assert.equal(
    t.serve(vector("py2.p2.echo_request"), 5000),
    latin1(vector("py2.p2.echo_reply.str_handle")),
  );
  assert.equal(events(tracker).filter((e) => e.type === "bad-request").length, bad.length + 4);
  assert.equal(tracker.openConnections, 0);
});

Deno.test("RingTracker parses a request split byte by byte and ignores bytes after STOP", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  assert.equal(
    t.serve(vector("py2.p2.echo_request"), 0, { chunk: 1 }),
    latin1(vector("py2.p2.echo_reply.str_handle")),
  );
  const trailing = new Uint8Array([...vector("py2.p2.echo_request"), ...bytesOf("junk")]);
  assert.equal(t.serve(trailing, 0), latin1(vector("py2.p2.echo_reply.str_handle")));
});

Deno.test("RingTracker takes over a handle whose old endpoint is dead, refuses a live one", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  ring(t, ["a", "b"]);
  // Same handle, same endpoint: the same REG_INIT again, never a None neighbour (F4).
  assert.equal(t.serve(register("b", 9202), 1), regInit("a", 9201, 2, "and"));
  assert.deepEqual(t.take(), []);
  // Same handle from another port while the old one answers PING: refused.
  const live = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 2);
  tracker.handleData(live, register("b", 9999), 2);
  const [ping] = t.connects();
  assert.equal(ping.port, 9202);
  t.open(ping.conn, 3);
  tracker.handleData(ping.conn, vector("py2.p2.ping_ack_reply"), 4);
  assert.equal(
    t.finished(live),
    "(S'[Tracker]'\np0\nS'Handle already registered'\np1\ntp2\n.",
  );
  // ...and while the old one is dead: it keeps b's place and item, with the new port.
  const dead = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 5);
  tracker.handleData(dead, register("b", 9999), 5);
  const [ping2] = t.connects();
  tracker.handleError(ping2.conn, "reset", 6);
  assert.equal(t.finished(dead), regInit("a", 9201, 2, "and"));
  assert.deepEqual(tracker.peers.map((p) => [p.handle, p.port, p.seq]), [["a", 9201, 4], [
    "b",
    9999,
    2,
  ]]);
  const [upd] = t.connects();
  assert.equal(upd.port, 9201, "a's neighbour moved");
  assert.equal(t.delivered(upd.conn, 7), update("b", 9999));
  const how = events(tracker).flatMap((e: RingTrackerEvent) =>
    e.type === "registered" ? [e.how] : e.type === "refused" ? [e.reason] : []
  );
  assert.deepEqual(how, ["again", "taken", "replaced"]);
});

Deno.test("RingTracker refuses REGISTER beyond maxPeers and connections beyond maxConnections", () => {
  const tracker = new RingTracker(0, { maxPeers: 1, maxConnections: 2 });
  const t = new Script(tracker);
  t.serve(register("a", 9201), 0);
  assert.equal(
    t.serve(register("b", 9202), 0),
    "(S'[Tracker]'\np0\nS'Tracker full'\np1\ntp2\n.",
  );
  const c1 = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
  const c2 = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
  const c3 = tracker.handleAccept("127.0.0.1:40000", "127.0.0.1:7777", 0);
  assert.deepEqual(t.take(), [{ type: "close", conn: c3 }]);
  tracker.handleData(c1, vector("py2.p2.echo_request"), 0);
  tracker.handleData(c2, vector("py2.p2.echo_request"), 0);
  assert.equal(t.take().length, 4);
});

Deno.test("RingTracker queues PINGs beyond maxConnections and still completes the round", () => {
  const tracker = new RingTracker(0, { maxConnections: 2, dropAfterFailures: 1 });
  const t = new Script(tracker);
  ring(t, ["a", "b", "c", "d", "e"]);
  tracker.handleTick(20_000);
  let seen = 0;
  for (let step = 0; step < 10; step++) {
    const cs = t.connects();
    assert.ok(cs.length <= 2);
    if (cs.length === 0) break;
    seen += cs.length;
    for (const c of cs) tracker.handleError(c.conn, "reset", 20_001 + step);
  }
  assert.equal(seen, 5);
  assert.equal(tracker.peers.length, 0);
});

Deno.test("RingTracker ignores inputs for unknown connections and refuses time going back", () => {
  const tracker = new RingTracker(10);
  const t = new Script(tracker);
  tracker.handleData(99, bytesOf("x"), 10);
  tracker.handleEof(99, 10);
  tracker.handleError(99, "reset", 10);
  tracker.handleConnected(99, 10);
  assert.deepEqual(t.take(), []);
  assert.throws(() => tracker.handleTick(5), RangeError);
  assert.throws(() => new RingTracker(0, { pingIntervalMs: 0 }), RangeError);
  assert.throws(() => new RingTracker(0, { items: [{ seq: 1, value: "x" }] }), RangeError);
  assert.throws(() => new RingTracker(0, { items: [] }), RangeError);
});

Deno.test("RingTracker records an IPv4-mapped client address as plain IPv4", () => {
  const tracker = new RingTracker(0);
  const t = new Script(tracker);
  t.serve(register("a", 9201), 0, { from: "::ffff:10.1.2.3" });
  t.serve(register("b", 9202), 0, { from: "::1" });
  assert.deepEqual(tracker.peers.map((p) => p.ip), ["10.1.2.3", "::1"]);
});

Deno.test("RingTracker with a custom table hands out its items", () => {
  const tracker = new RingTracker(0, {
    items: [{ seq: 1, value: s("world") }, { seq: 0, value: "hallo" }],
  });
  const t = new Script(tracker);
  assert.equal(
    t.serve(register("a", 9201), 0),
    "(S'REG_INIT'\np0\nS'a'\np1\nS'127.0.0.1'\np2\nI9201\nI2\n(I1\nS'world'\np3\ntp4\ntp5\n.",
  );
});
