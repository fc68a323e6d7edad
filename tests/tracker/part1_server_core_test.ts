/**
 * The Part 1 tracker core (`Part1ServerCore`) on fixed examples, driven by hand: close at once
 * after a request that came alone, linger after one followed by more bytes or an invalid one
 * (close on EOF, at the linger time, or past the drain cap), the hard deadline, capacity
 * (a bounded waiting FIFO, then refusal), a driver error before the close (`written: false`), a
 * request split byte by byte, the request timeout, and stop.
 */
import assert from "node:assert/strict";
import type { StreamAction } from "../../src/core/mod.ts";
import {
  describeExchange,
  LINGER_MAX_BYTES,
  type Part1Exchange,
  Part1ServerCore,
} from "../../src/tracker/part1/server_core.ts";
import { encodeReply, encodeRequest, ERROR_REPLY } from "../../src/tracker/part1/wire.ts";
import { answerRequest } from "../../src/tracker/part1/answer.ts";
import { Part1Db } from "../../src/tracker/part1/db.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";

const te = new TextEncoder();
const td = new TextDecoder("latin1");
const REGISTER = te.encode("REGISTER");
const SIZE_REPLY = "I16\n.";
/** An item request followed by a byte more (ignored): the tracker lingers after the reply. */
const ITEM3_MORE = te.encode("I3\n.\n");
const ITEM3 = { type: "item", index: 3 } as const;
const ITEM3_REPLY = td.decode(DEFAULT_DB.itemReply(3));

function actions(core: Part1ServerCore): StreamAction[] {
  const out: StreamAction[] = [];
  for (let a = core.pollAction(); a !== undefined; a = core.pollAction()) out.push(a);
  return out;
}

function events(core: Part1ServerCore): Part1Exchange[] {
  const out: Part1Exchange[] = [];
  for (let e = core.pollEvent(); e !== undefined; e = core.pollEvent()) out.push(e);
  return out;
}

/** The actions as short strings: `write#1 I16\n.`, `shutdown#1`, `close#1`. */
function show(list: StreamAction[]): string[] {
  return list.map((a) =>
    a.type === "write" ? `write#${a.conn} ${td.decode(a.bytes)}` : `${a.type}#${a.conn}`
  );
}

Deno.test("Part1ServerCore answers a request that came alone and closes at once, as the original", () => {
  const core = new Part1ServerCore({ lingerMs: 1000 });
  const c = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 100);
  core.handleData(c, REGISTER, 110);
  // The close ends the sending side after the reply: no shutdown, no linger (before: shutdown,
  // then the connection waited for the client's end of file).
  assert.deepEqual(show(actions(core)), [`write#${c} ${SIZE_REPLY}`, `close#${c}`]);
  assert.equal(core.nextTimeout(), undefined);
  assert.deepEqual(events(core), [{
    remote: "10.0.0.2:5000",
    request: { type: "size" },
    reply: { type: "size", count: 16 },
    written: true,
    ms: 10,
  }]);
  // The same for an item request split in two reads, and one of protocol 2.
  const d = core.handleAccept("10.0.0.2:5001", "10.0.0.1:7777", 200);
  core.handleData(d, te.encode("I3\n"), 201);
  core.handleData(d, te.encode("."), 202);
  assert.deepEqual(show(actions(core)), [`write#${d} ${ITEM3_REPLY}`, `close#${d}`]);
  const f = core.handleAccept("10.0.0.2:5002", "10.0.0.1:7777", 300);
  core.handleData(f, encodeRequest(ITEM3, 2), 301);
  assert.deepEqual(show(actions(core)), [`write#${f} ${ITEM3_REPLY}`, `close#${f}`]);
  const s = core.stats();
  assert.deepEqual([s.accepted, s.active, s.replies.size, s.replies.item], [3, 0, 1, 2]);
});

Deno.test("Part1ServerCore answers, half-closes, and closes when the client closes", () => {
  const core = new Part1ServerCore({ lingerMs: 1000 });
  const c = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 100);
  core.handleData(c, ITEM3_MORE, 110); // a byte after the request: the client may send more
  assert.deepEqual(show(actions(core)), [`write#${c} ${ITEM3_REPLY}`, `shutdown#${c}`]);
  assert.equal(core.nextTimeout(), 1110); // the linger time
  assert.deepEqual(events(core), []); // reported when the connection ends
  core.handleData(c, te.encode("more junk"), 120); // dropped while lingering
  assert.deepEqual(actions(core), []);
  core.handleEof(c, 130);
  assert.deepEqual(show(actions(core)), [`close#${c}`]);
  assert.deepEqual(events(core), [{
    remote: "10.0.0.2:5000",
    request: ITEM3,
    protocol: 0,
    reply: answerRequest(DEFAULT_DB, ITEM3),
    written: true,
    ms: 10,
  }]);
  const s = core.stats();
  assert.deepEqual([s.accepted, s.active, s.replies.item, s.failed], [1, 0, 1, 0]);
  assert.equal(core.nextTimeout(), undefined);
});

Deno.test("Part1ServerCore lingers at most lingerMs, and at most LINGER_MAX_BYTES", () => {
  const core = new Part1ServerCore({ lingerMs: 500 });
  const quiet = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  const noisy = core.handleAccept("10.0.0.3:5000", "10.0.0.1:7777", 0);
  core.handleData(quiet, ITEM3_MORE, 10);
  core.handleData(noisy, ITEM3_MORE, 20);
  actions(core);
  core.handleTick(509); // not yet
  assert.deepEqual(actions(core), []);
  core.handleData(noisy, new Uint8Array(LINGER_MAX_BYTES), 100); // exactly the cap: still there
  assert.deepEqual(actions(core), []);
  core.handleData(noisy, new Uint8Array(1), 101); // one byte over: closed at once
  assert.deepEqual(show(actions(core)), [`close#${noisy}`]);
  assert.equal(core.nextTimeout(), 510);
  core.handleTick(510);
  assert.deepEqual(show(actions(core)), [`close#${quiet}`]);
  assert.deepEqual(events(core).map((e) => [e.remote, e.written]), [
    ["10.0.0.3:5000", true],
    ["10.0.0.2:5000", true],
  ]);
});

Deno.test("Part1ServerCore closes at once after the reply with lingerMs 0 or an ended client", () => {
  const core = new Part1ServerCore({ lingerMs: 0 });
  const c = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  core.handleData(c, ITEM3_MORE, 1); // more than the request, but no linger
  assert.deepEqual(show(actions(core)), [`write#${c} ${ITEM3_REPLY}`, `close#${c}`]);
  assert.equal(core.stats().active, 0);
  assert.equal(events(core)[0].written, true);
  // EOF before the request is complete: the request is framed as cut short, answered, closed.
  const lingering = new Part1ServerCore({ lingerMs: 1000 });
  const d = lingering.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  lingering.handleData(d, te.encode("REGIS"), 1);
  lingering.handleEof(d, 2);
  assert.deepEqual(show(actions(lingering)), [
    `write#${d} ${td.decode(ERROR_REPLY)}`,
    `close#${d}`,
  ]);
  assert.equal(lingering.stats().invalid.truncated, 1);
});

Deno.test("Part1ServerCore answers a request split byte by byte exactly once", () => {
  const core = new Part1ServerCore();
  const c = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  const request = Uint8Array.of(0x80, 0x02, 0x4b, 0x05, 0x2e); // pickle.dumps(5, 2)
  for (let i = 0; i < request.length - 1; i++) {
    core.handleData(c, request.subarray(i, i + 1), i + 1);
    assert.deepEqual(actions(core), [], `after byte ${i}`);
  }
  core.handleData(c, request.subarray(request.length - 1), 10);
  const got = actions(core);
  assert.deepEqual(got.map((a) => a.type), ["write", "close"]); // nothing came after the request
  assert.ok(got[0].type === "write");
  assert.deepEqual(got[0].bytes, DEFAULT_DB.itemReply(5));
  core.handleEof(c, 11);
  assert.deepEqual(actions(core), []);
  const [e] = events(core);
  assert.deepEqual([e.request, e.protocol, e.reply.type], [{ type: "item", index: 5 }, 2, "item"]);
  assert.equal(describeExchange(e), "10.0.0.2:5000: item 5 (protocol 2) -> item");
});

Deno.test("Part1ServerCore gives a silent client the error reply at its request timeout", () => {
  const core = new Part1ServerCore({ requestTimeoutMs: 2000, lingerMs: 100 });
  const c = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 1000);
  assert.equal(core.nextTimeout(), 3000);
  core.handleTick(2999);
  assert.deepEqual(actions(core), []);
  core.handleTick(3000);
  assert.deepEqual(show(actions(core)), [`write#${c} ${td.decode(ERROR_REPLY)}`, `shutdown#${c}`]);
  assert.equal(core.stats().invalid.timeout, 1);
  assert.equal(core.nextTimeout(), 3100);
});

Deno.test("Part1ServerCore closes a connection at its hard deadline, without a reply", () => {
  // requestTimeoutMs + lingerMs + 1 s after its service started, whatever is due before: here
  // the clock jumps (a suspended machine, a late timer) past both the request timeout and it.
  const core = new Part1ServerCore({ requestTimeoutMs: 2000, lingerMs: 500 });
  const late = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  const other = core.handleAccept("10.0.0.3:5000", "10.0.0.1:7777", 0);
  assert.equal(core.nextTimeout(), 2000);
  core.handleTick(3500);
  assert.deepEqual(show(actions(core)), [`close#${late}`, `close#${other}`]);
  assert.deepEqual(events(core), []);
  const s = core.stats();
  assert.deepEqual([s.failed, s.active, s.replies.error, s.invalid.timeout], [2, 0, 0, 0]);
  // Data arriving past the deadline before the tick: closed, not answered.
  const third = core.handleAccept("10.0.0.4:5000", "10.0.0.1:7777", 4000);
  core.handleData(third, REGISTER, 7500);
  assert.deepEqual(show(actions(core)), [`close#${third}`]);
  assert.equal(core.stats().failed, 3);
});

Deno.test("Part1ServerCore holds connections over maxConnections unread, then refuses", () => {
  const core = new Part1ServerCore({ maxConnections: 1, maxWaiting: 1, requestTimeoutMs: 1000 });
  const first = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  const second = core.handleAccept("10.0.0.3:5000", "10.0.0.1:7777", 0);
  const third = core.handleAccept("10.0.0.4:5000", "10.0.0.1:7777", 0);
  assert.deepEqual(show(actions(core)), [`close#${third}`]); // over both bounds
  assert.deepEqual(core.stats().refused, 1);
  // The waiting one's request is held, not answered, and has no timer yet.
  core.handleData(second, REGISTER, 10);
  core.handleEof(second, 11);
  assert.deepEqual(actions(core), []);
  assert.equal(core.nextTimeout(), 1000); // only the first one's request timeout
  let s = core.stats();
  assert.deepEqual([s.accepted, s.active, s.waiting], [2, 2, 1]);
  // The first one times out, is answered and lingers: it still holds its slot.
  core.handleTick(1000);
  assert.deepEqual(show(actions(core)), [
    `write#${first} ${td.decode(ERROR_REPLY)}`,
    `shutdown#${first}`,
  ]);
  // Its client closes: the slot frees and the waiting request is served from what it held.
  core.handleEof(first, 1200);
  assert.deepEqual(show(actions(core)), [
    `close#${first}`,
    `write#${second} ${SIZE_REPLY}`,
    `close#${second}`,
  ]);
  s = core.stats();
  assert.deepEqual([s.active, s.waiting, s.replies.size, s.replies.error], [0, 0, 1, 1]);
  assert.deepEqual(events(core).map((e) => [e.remote, e.ms]), [
    ["10.0.0.2:5000", 1000],
    ["10.0.0.3:5000", 1200], // from its accept: the wait counts
  ]);
});

Deno.test("Part1ServerCore answers a waiting flood as too-large once served", () => {
  const core = new Part1ServerCore({ maxConnections: 1, maxRequestBytes: 16, lingerMs: 0 });
  const first = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  const waiting = core.handleAccept("10.0.0.3:5000", "10.0.0.1:7777", 0);
  core.handleData(waiting, new Uint8Array(100_000).fill(0x28), 1);
  core.handleData(first, REGISTER, 2);
  const got = show(actions(core));
  // The held 17 bytes are too many for the 16-byte cap: the error reply, reason too-large.
  assert.deepEqual(got.slice(2), [
    `write#${waiting} ${td.decode(ERROR_REPLY)}`,
    `close#${waiting}`,
  ]);
  assert.equal(core.stats().invalid["too-large"], 1);
});

Deno.test("Part1ServerCore reports written: false when the driver fails the connection first", () => {
  const core = new Part1ServerCore();
  const c = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  core.handleData(c, ITEM3_MORE, 1);
  assert.equal(core.stats().replies.item, 1); // counted when handed to the driver
  core.handleError(c, "write failed: Broken pipe (os error 32)", 2);
  assert.deepEqual(actions(core).map((a) => a.type), ["write", "shutdown"]); // no close: forgotten
  const [e] = events(core);
  assert.equal(e.written, false);
  assert.equal(describeExchange(e), "10.0.0.2:5000: item 3 (protocol 0) -> item (not delivered)");
  const s = core.stats();
  assert.deepEqual([s.replies.item, s.failed, s.active], [0, 1, 0]);
  // A reset before any request: failed, no exchange; later inputs about it are ignored.
  const d = core.handleAccept("10.0.0.3:5000", "10.0.0.1:7777", 3);
  core.handleError(d, "read failed: Connection reset by peer (os error 104)", 4);
  core.handleData(d, REGISTER, 5);
  assert.deepEqual(actions(core), []);
  assert.deepEqual(events(core), []);
  assert.equal(core.stats().failed, 2);
});

Deno.test("Part1ServerCore stop() closes everything and reports lingering exchanges as written", () => {
  const core = new Part1ServerCore({ maxConnections: 2 });
  const answered = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
  const reading = core.handleAccept("10.0.0.3:5000", "10.0.0.1:7777", 0);
  const waiting = core.handleAccept("10.0.0.4:5000", "10.0.0.1:7777", 0);
  core.handleData(answered, ITEM3_MORE, 1);
  actions(core);
  core.stop(2);
  assert.deepEqual(show(actions(core)), [
    `close#${answered}`,
    `close#${reading}`,
    `close#${waiting}`,
  ]);
  assert.deepEqual(events(core).map((e) => [e.remote, e.written]), [["10.0.0.2:5000", true]]);
  const late = core.handleAccept("10.0.0.5:5000", "10.0.0.1:7777", 3);
  assert.deepEqual(show(actions(core)), [`close#${late}`]);
  const s = core.stats();
  assert.deepEqual([s.active, s.failed, s.refused, s.replies.item], [0, 2, 1, 1]);
  assert.equal(core.nextTimeout(), undefined);
});

Deno.test("Part1ServerCore rejects bad options", () => {
  assert.throws(() => new Part1ServerCore({ maxConnections: 0 }), RangeError);
  assert.throws(() => new Part1ServerCore({ maxWaiting: -1 }), RangeError);
  assert.throws(() => new Part1ServerCore({ lingerMs: 60_001 }), RangeError);
  assert.throws(() => new Part1ServerCore({ requestTimeoutMs: 0 }), RangeError);
  assert.throws(() => new Part1ServerCore({ maxProtocol: 9 as 2 }), RangeError);
});

Deno.test("Part1ServerCore writes cached replies equal to encodeReply(), for every request", () => {
  const db = new Part1Db([{ seq: 1, word: "naïve" }, { seq: 0, word: "it's" }, {
    seq: 2,
    word: "x",
  }]);
  const core = new Part1ServerCore({ db });
  const requests = [
    REGISTER,
    te.encode("REGISTER!"),
    ...[-4, -3, -1, 0, 1, 2, 3].flatMap((index) =>
      ([0, 1, 2] as const).map((p) => encodeRequest({ type: "item", index }, p))
    ),
    te.encode("I01\n."), // True: position 1
    te.encode("S'x'\n."),
  ];
  for (const [i, request] of requests.entries()) {
    const conn = core.handleAccept(`10.0.0.2:${5000 + i}`, "10.0.0.1:7777", i);
    core.handleData(conn, request, i);
    const write = actions(core).find((a) => a.type === "write");
    assert.ok(write?.type === "write");
    core.handleEof(conn, i);
    actions(core);
    const [exchange] = events(core);
    assert.deepEqual(exchange.reply, answerRequest(db, exchange.request));
    assert.deepEqual(write.bytes, encodeReply(exchange.reply), `request ${i}`);
  }
  assert.deepEqual(core.stats().replies, { size: 1, item: 16, error: 8 });
});
