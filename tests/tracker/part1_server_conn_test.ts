/**
 * The tracker's sans-I/O connection core (spec §1, §2.2–2.6) driven with scripted bytes and
 * virtual time: exact reply bytes for every request form of every protocol in the shared vectors,
 * Python's indexing, the error reply for everything else, chunked input, bytes after STOP, size
 * bounds, the request timeout, end of input, misuse, and a fuzz property.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { answerRequest } from "../../src/tracker/part1/answer.ts";
import { Part1Db } from "../../src/tracker/part1/db.ts";
import {
  Part1ServerConn,
  type Part1ServerConnOptions,
  type Part1ServerEvent,
} from "../../src/tracker/part1/server_conn.ts";
import { ERROR_REPLY } from "../../src/tracker/part1/wire.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";

interface Vector {
  name: string;
  python: string;
  protocol: number;
  hex: string;
  safe: boolean;
}

const VECTORS: Vector[] = Deno.readTextFileSync(
  new URL("../fixtures/pickle.jsonl", import.meta.url),
).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));

const te = new TextEncoder();
const td = new TextDecoder("latin1");
const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));

/** The original's list order with placeholder words: position 0 holds SEQNUM 12 (spec §2.3). */
const DB = new Part1Db(
  [12, 3, 9, 6, 2, 5, 11, 8, 1, 7, 14, 15, 10, 0, 4, 13].map((seq) => ({ seq, word: `w${seq}` })),
);
const item = (position: number) => td.decode(DB.itemReply(position));
const ERROR = td.decode(ERROR_REPLY);

interface Outcome {
  event: Part1ServerEvent;
  reply: string;
  conn: Part1ServerConn;
}

/** Feeds `chunks` (then EOF if asked) and answers from `db`; undefined while it needs data. */
function run(
  chunks: Uint8Array[],
  opts: { eof?: boolean; options?: Part1ServerConnOptions; db?: Part1Db } = {},
): Outcome | undefined {
  const { eof = false, options = {}, db = DB } = opts;
  const conn = new Part1ServerConn(0, options);
  const finish = (event: Part1ServerEvent) => {
    const reply = td.decode(conn.send(answerRequest(db, event.request)));
    assert.equal(conn.state, "done");
    assert.equal(conn.nextEvent(), "paused");
    return { event, reply, conn };
  };
  assert.equal(conn.nextEvent(), "needData");
  for (const chunk of chunks) {
    conn.receiveData(chunk, 1);
    const e = conn.nextEvent();
    if (e === "paused") assert.fail("paused before a request");
    if (e !== "needData") return finish(e);
  }
  if (!eof) return undefined;
  conn.receiveEof(2);
  const e = conn.nextEvent();
  assert.ok(typeof e === "object", "a request is always known at end of input");
  return finish(e);
}

const replyTo = (b: Uint8Array, opts: Parameters<typeof run>[1] = {}) => run([b], opts)?.reply;

/** Evaluates the int expressions of the vector file (`5`, `5L`, `-2**31 - 1`, `True`). */
function pyInt(expr: string): bigint | undefined {
  if (expr === "True") return 1n;
  if (expr === "False") return 0n;
  const m = /^(-?)(\d+)(?:\*\*(\d+))?(?: ([+-]) (\d+))?L?$/.exec(expr);
  if (!m) return undefined;
  let v = m[3] ? BigInt(m[2]) ** BigInt(m[3]) : BigInt(m[2]);
  if (m[1]) v = -v;
  if (m[4]) v += (m[4] === "-" ? -1n : 1n) * BigInt(m[5]);
  return v;
}

/** What the original answers to a request that unpickles to `python` (spec §2.3). */
function expectedReply(v: Vector, maxProtocol: number): string {
  const index = pyInt(v.python);
  if (!v.safe || v.protocol > maxProtocol || index === undefined) return ERROR;
  if (index < -16n || index > 15n) return ERROR;
  return item(Number(index));
}

Deno.test("Part1ServerConn answers REGISTER with the size pickle I16\\n.", () => {
  assert.equal(replyTo(te.encode("REGISTER")), "I16\n.");
  assert.equal(
    replyTo(te.encode("REGISTER"), { db: new Part1Db([{ seq: 0, word: "a" }]) }),
    "I1\n.",
  );
});

Deno.test("Part1ServerConn answers item requests of protocols 0-2 with the entry at that position", () => {
  assert.equal(replyTo(bytes("I0\n.")), "(I12\nS'w12'\np0\ntp1\n.");
  const cases: [string, number][] = [
    ["I0\n.", 0],
    ["K\x00.", 0],
    ["\x80\x02K\x00.", 0],
    ["I5\n.", 5],
    ["K\x05.", 5],
    ["\x80\x02K\x05.", 5],
    ["I15\n.", 15],
    ["K\x0f.", 15],
    ["\x80\x02K\x0f.", 15],
    ["I-1\n.", 15],
    ["J\xff\xff\xff\xff.", 15],
    ["\x80\x02J\xff\xff\xff\xff.", 15],
    ["I01\n.", 1],
    ["\x80\x02\x88.", 1],
    ["I00\n.", 0],
    ["\x80\x02\x89.", 0],
    ["L5L\n.", 5],
    ["\x80\x02\x8a\x01\x05.", 5],
    ["I-16\n.", 0],
  ];
  for (const [request, position] of cases) {
    assert.equal(replyTo(bytes(request)), item(position), JSON.stringify(request));
  }
});

Deno.test("Part1ServerConn answers every vector like the original (protocols 0-5 accepted)", () => {
  let items = 0;
  for (const v of VECTORS) {
    const reply = replyTo(fromHex(v.hex), { options: { maxRequestBytes: 65536 } });
    assert.equal(reply, expectedReply(v, 5), v.name);
    if (reply !== ERROR) items++;
  }
  assert.ok(items >= 40, `only ${items} vectors were item requests`);
});

Deno.test("Part1ServerConn with maxProtocol 2 refuses protocols 3-5 exactly like Python 2", () => {
  for (const v of VECTORS) {
    const reply = replyTo(fromHex(v.hex), { options: { maxRequestBytes: 65536, maxProtocol: 2 } });
    assert.equal(reply, expectedReply(v, 2), v.name);
  }
  assert.equal(replyTo(bytes("\x80\x04K\x05."), { options: { maxProtocol: 2 } }), ERROR);
  assert.equal(replyTo(bytes("\x80\x04K\x05.")), item(5));
});

Deno.test("Part1ServerConn answers out-of-range indexes with the error reply", () => {
  for (const request of ["I16\n.", "I-17\n.", "I99999\n.", "L99999999999999999999999L\n."]) {
    assert.equal(replyTo(bytes(request)), ERROR, request);
  }
  const e = run([bytes("I16\n.")])!.event;
  assert.deepEqual(e.request, { type: "item", index: 16 });
  assert.equal(e.protocol, 0);
});

Deno.test("Part1ServerConn answers garbage and non-int values with the error reply", () => {
  const cases: [string, string][] = [
    ["REGISTER\n", "raw"],
    ["REGISTERREGISTER", "raw"],
    ["REGISTRY", "raw"],
    ["RX", "raw"],
    ["register", "pickle"],
    ["c__builtin__\nlen\n(S'abc'\ntR.", "pickle"], // F3: the original runs len('abc')
    ["cos\nsystem\n(S'true'\ntR.", "pickle"],
    ["garbage\n", "pickle"],
    ["\x00\x01\x02", "pickle"],
    ["F5.0\n.", "type"],
    ["S'5'\np0\n.", "type"],
    ["VREGISTER\n.", "type"],
    ["N.", "type"],
    ["(I1\nI2\nt.", "type"],
    ["(l.", "type"],
  ];
  for (const [request, reason] of cases) {
    const out = run([bytes(request)]);
    assert.ok(out, `${JSON.stringify(request)} was not answered at once`);
    assert.equal(out.reply, ERROR, JSON.stringify(request));
    assert.equal(out.event.request.type, "invalid");
    assert.equal(
      out.event.request.type === "invalid" && out.event.request.reason,
      reason,
      JSON.stringify(request),
    );
  }
});

Deno.test("Part1ServerConn gives the same reply however the request is chunked", () => {
  const requests = [
    te.encode("REGISTER"),
    bytes("I-1\n."),
    bytes("\x80\x02J\xff\xff\xff\xff."),
    bytes("L5L\n."),
    bytes("\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00M\x00\x01."), // 256 at protocol 4
    bytes("F5.0\n."),
  ];
  for (const request of requests) {
    const whole = replyTo(request);
    assert.ok(whole);
    for (let cut = 1; cut < request.length; cut++) {
      const out = run([request.subarray(0, cut), request.subarray(cut)]);
      assert.equal(out?.reply, whole, `cut at ${cut}`);
      assert.equal(out?.event.bytesReceived, request.length);
    }
    const single = run([...request].map((b) => Uint8Array.of(b)));
    assert.equal(single?.reply, whole, "byte by byte");
  }
});

Deno.test("Part1ServerConn waits while REGISTER or a pickle is incomplete", () => {
  assert.equal(run([te.encode("R"), te.encode("EGIS")]), undefined);
  assert.equal(run([bytes("I1")]), undefined);
  assert.equal(run([bytes("\x80\x02J\xff")]), undefined);
  assert.equal(run([bytes("(I12\n")]), undefined);
});

Deno.test("Part1ServerConn ignores bytes after STOP: one request per connection", () => {
  const out = run([bytes("I5\n.I6\n.REGISTER")]);
  assert.equal(out?.reply, item(5));
  const conn = new Part1ServerConn(0);
  conn.receiveData(bytes("I5\n."), 1);
  conn.receiveData(bytes("I6\n."), 2); // a second request in a later segment
  const e = conn.nextEvent();
  assert.ok(typeof e === "object" && e.request.type === "item" && e.request.index === 5);
  conn.receiveData(bytes("more"), 3); // after the request was known: not even buffered
  assert.equal(conn.ignoredBytes, 4);
  assert.equal(conn.nextEvent(), "paused");
  conn.send(answerRequest(DB, e.request));
  conn.receiveData(bytes("x"), 4); // still tolerated after the reply
  assert.equal(conn.ignoredBytes, 5);
});

Deno.test("Part1ServerConn accepts a request of up to maxRequestBytes and no more", () => {
  // "N0" pushes None and pops it: a valid pickle of any length ending in an int.
  const padded = (pairs: number) => bytes("N0".repeat(pairs) + "I5\n.");
  assert.equal(padded(510).length, 1024);
  assert.equal(replyTo(padded(510)), item(5));
  const over = run([padded(511)]);
  assert.equal(over?.reply, ERROR);
  assert.ok(over?.event.request.type === "invalid" && over.event.request.reason === "too-large");
  // Chunked beyond the cap, the request is refused as soon as the cap is passed.
  const chunks = Array.from({ length: 40 }, () => bytes("N0".repeat(50)));
  const out = run(chunks);
  assert.ok(out?.event.request.type === "invalid" && out.event.request.reason === "too-large");
  assert.ok(out.event.bytesReceived <= 1100, `read ${out.event.bytesReceived} bytes`);
  const small = run([padded(40)], { options: { maxRequestBytes: 64 } });
  assert.ok(small?.event.request.type === "invalid" && small.event.request.reason === "too-large");
  assert.equal(replyTo(padded(20), { options: { maxRequestBytes: 64 } }), item(5));
});

Deno.test("Part1ServerConn keeps at most maxRequestBytes + 1 bytes of a flood", () => {
  const conn = new Part1ServerConn(0);
  for (let i = 0; i < 1000; i++) conn.receiveData(new Uint8Array(4096).fill(0x28), i); // '(' marks
  // The flood is refused at the first look; everything beyond the cap was dropped unread.
  const e = conn.nextEvent();
  assert.ok(typeof e === "object" && e.request.type === "invalid");
  assert.equal(conn.ignoredBytes, 1000 * 4096 - 1025);
});

Deno.test("Part1ServerConn times out a silent or slow client in virtual time", () => {
  const silent = new Part1ServerConn(1000, { requestTimeoutMs: 5000 });
  assert.equal(silent.nextTimeout(), 6000);
  silent.handleTimeout(5999);
  assert.equal(silent.nextEvent(), "needData");
  silent.handleTimeout(6000);
  assert.equal(silent.nextTimeout(), undefined);
  const e = silent.nextEvent();
  assert.ok(typeof e === "object" && e.request.type === "invalid");
  assert.equal(e.request.type === "invalid" && e.request.reason, "timeout");
  assert.equal(td.decode(silent.send(answerRequest(DB, e.request))), ERROR);

  // A slow client: part of a request, then nothing. The deadline counts from the start, so
  // trickling bytes does not extend it.
  const slow = new Part1ServerConn(0);
  for (let t = 0; t < 5000; t += 1000) slow.receiveData(bytes("N0"), t);
  assert.equal(slow.nextEvent(), "needData");
  slow.receiveData(bytes("N0"), 5000); // arrives at the deadline: the timeout comes first
  const late = slow.nextEvent();
  assert.ok(typeof late === "object" && late.request.type === "invalid");
  assert.equal(late.request.type === "invalid" && late.request.reason, "timeout");
  assert.equal(slow.ignoredBytes, 2);
});

Deno.test("Part1ServerConn lets a request already received win over the timeout", () => {
  const conn = new Part1ServerConn(0, { requestTimeoutMs: 100 });
  conn.receiveData(bytes("I3\n."), 99);
  conn.handleTimeout(500); // nextEvent() was not asked in between
  const e = conn.nextEvent();
  assert.ok(typeof e === "object" && e.request.type === "item" && e.request.index === 3);
});

Deno.test("Part1ServerConn answers a request cut short by end of input with the error reply", () => {
  for (const partial of ["", "REGIS", "I5\n", "(I1\n"]) {
    const out = run([bytes(partial)], { eof: true });
    assert.equal(out?.reply, ERROR, JSON.stringify(partial));
    assert.ok(out.event.request.type === "invalid" && out.event.request.reason === "truncated");
  }
  assert.equal(run([te.encode("REGISTER")], { eof: true })?.reply, "I16\n.");
  const conn = new Part1ServerConn(0);
  conn.receiveData(te.encode("REGISTER"), 0);
  conn.receiveEof(0);
  conn.receiveEof(0); // idempotent
  assert.ok(typeof conn.nextEvent() === "object");
});

Deno.test("Part1ServerConn refuses misuse with TypeError and bad options with RangeError", () => {
  const conn = new Part1ServerConn(0);
  assert.throws(() => conn.send({ type: "size", count: 16 }), TypeError);
  conn.receiveEof(0);
  assert.throws(() => conn.receiveData(bytes("x"), 0), TypeError);
  const e = conn.nextEvent();
  assert.ok(typeof e === "object");
  conn.send({ type: "error", message: "Bad request" });
  assert.throws(() => conn.send({ type: "error", message: "Bad request" }), TypeError);
  assert.throws(() => new Part1ServerConn(0, { maxRequestBytes: 8 }), RangeError);
  assert.throws(() => new Part1ServerConn(0, { maxRequestBytes: 1 << 20 }), RangeError);
  assert.throws(() => new Part1ServerConn(0, { maxProtocol: 6 }), RangeError);
  assert.throws(() => new Part1ServerConn(0, { requestTimeoutMs: 0 }), RangeError);
  assert.throws(() => new Part1ServerConn(NaN), RangeError);
  assert.throws(() => new Part1ServerConn(0).receiveData("x" as never, 0), TypeError);
});

Deno.test("Part1ServerConn never throws on any input and always ends with one reply", () => {
  const chunked = fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 });
  fc.assert(
    fc.property(chunked, fc.boolean(), (chunks, timeout) => {
      const conn = new Part1ServerConn(0);
      let event: Part1ServerEvent | undefined;
      for (const c of chunks) {
        conn.receiveData(c, 1);
        const e = conn.nextEvent();
        if (typeof e === "object") {
          event = e;
          break;
        }
      }
      if (!event) {
        if (timeout) conn.handleTimeout(5000);
        else conn.receiveEof(2);
        const e = conn.nextEvent();
        assert.ok(typeof e === "object");
        event = e;
      }
      const reply = td.decode(conn.send(answerRequest(DEFAULT_DB, event.request)));
      assert.ok(
        reply === ERROR || reply === "I16\n." || /^\(I\d+\nS'[^']+'\np0\ntp1\n\.$/.test(reply),
        JSON.stringify(reply),
      );
      assert.equal(conn.nextEvent(), "paused");
    }),
    { numRuns: 2000 },
  );
});

Deno.test("Part1ServerConn answers chunked pickles exactly as it answers them whole", () => {
  const requests = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.integer({ min: -40, max: 40 }).map((i) => bytes(`I${i}\n.`)),
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 8 })).map(([i, tail]) =>
      Uint8Array.of(0x80, 2, 0x4b, i, 0x2e, ...tail)
    ),
  ).filter((b) => b[0] !== 0x52); // the raw path decides on each read, by design
  fc.assert(
    fc.property(requests, fc.array(fc.nat(), { maxLength: 4 }), (request, cutsRaw) => {
      const cuts = [...new Set(cutsRaw.map((c) => c % (request.length + 1)))].sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let at = 0;
      for (const c of [...cuts, request.length]) {
        chunks.push(request.subarray(at, c));
        at = c;
      }
      assert.equal(run(chunks, { eof: true })?.reply, run([request], { eof: true })?.reply);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("Part1ServerConn.send() returns the caller's cached bytes when given, else encodes", () => {
  const cached = DB.itemReply(3);
  const conn = new Part1ServerConn(0);
  conn.receiveData(te.encode("I3\n."), 0);
  const e = conn.nextEvent();
  assert.ok(typeof e === "object");
  const reply = answerRequest(DB, e.request);
  assert.equal(conn.send(reply, cached), cached);
  const other = new Part1ServerConn(0);
  other.receiveData(te.encode("I3\n."), 0);
  other.nextEvent();
  const fresh = other.send(reply);
  assert.notEqual(fresh, cached);
  assert.deepEqual(fresh, cached);
});

Deno.test("Part1ServerConn.receive() is receiveData() then nextEvent(), on any reads, times and caps", () => {
  const requests = [
    ...VECTORS.map((v) => fromHex(v.hex)),
    bytes("REGISTER"),
    bytes("REGISTERX"),
    bytes("REGI"),
    bytes("I5\n.I6\n."),
    bytes("N0".repeat(20) + "I5\n."),
    new Uint8Array(0),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...requests),
      fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }),
      fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 6, maxLength: 6 }),
      fc.constantFrom(16, 20, 1024),
      fc.boolean(),
      (request, extra, cuts, gaps, maxRequestBytes, eof) => {
        const options = { maxRequestBytes, requestTimeoutMs: 100 };
        const all = new Uint8Array([...request, ...extra.flatMap((e) => [...e])]);
        const reads: Uint8Array[] = [];
        for (let at = 0, i = 0; at < all.length; i++) {
          const end = i < cuts.length - 1 ? Math.min(all.length, at + cuts[i]) : all.length;
          reads.push(all.slice(at, end));
          at = end;
        }
        const a = new Part1ServerConn(0, options);
        const b = new Part1ServerConn(0, options);
        let now = 0;
        for (const [i, read] of reads.entries()) {
          now += gaps[i % gaps.length];
          a.receiveData(read, now);
          const expected = a.nextEvent();
          const shared = read.slice(); // the caller may reuse its buffer after receive()
          assert.deepEqual(b.receive(shared, now), expected);
          shared.fill(0x2e);
          assert.equal(b.ignoredBytes, a.ignoredBytes);
          assert.equal(b.state, a.state);
        }
        if (eof) {
          a.receiveEof(now);
          b.receiveEof(now);
        }
        a.handleTimeout(now + 100);
        b.handleTimeout(now + 100);
        assert.deepEqual(b.nextEvent(), a.nextEvent());
        assert.equal(b.ignoredBytes, a.ignoredBytes);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("Part1ServerConn: exact when the client sent a valid request and nothing after it", () => {
  const te = new TextEncoder();
  const exact = (reads: string[], options = {}) => {
    const conn = new Part1ServerConn(0, options);
    let event: Part1ServerEvent | undefined;
    for (const r of reads) {
      const got = conn.receive(te.encode(r), 1);
      if (typeof got === "object") event ??= got;
    }
    assert.ok(event !== undefined, `${reads}: no request`);
    return event.exact;
  };
  assert.equal(exact(["REGISTER"]), true);
  assert.equal(exact(["REGI", "STER"]), true);
  assert.equal(exact(["I3\n."]), true);
  assert.equal(exact(["I3\n", "."]), true);
  assert.equal(exact(["I3\n.\n"]), false); // a byte after STOP: the client may send more
  assert.equal(exact(["I3\n", ".x"]), false);
  assert.equal(exact(["REGISTER\n"]), false); // invalid (raw)
  assert.equal(exact(["S'x'\n."]), false); // invalid (type)
  assert.equal(exact(["I3\n.", "more"]), true); // decided on the first read; later bytes ignored
  const timedOut = new Part1ServerConn(0, { requestTimeoutMs: 10 });
  timedOut.handleTimeout(10);
  const event = timedOut.nextEvent();
  assert.ok(typeof event === "object" && event.exact === false);
});
