/**
 * The client's sans-I/O exchange core (spec §2.4–2.5): request bytes, replies complete at STOP
 * however chunked, the error reply (a string, not a tuple), every way a reply can fail, the
 * deadline in virtual time, misuse, and a round trip through the tracker core.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { answerRequest } from "../../src/tracker/part1/answer.ts";
import { assembleMessage } from "../../src/tracker/part1/assemble.ts";
import {
  Part1ClientConn,
  type Part1ClientConnOptions,
  type Part1ClientEvent,
} from "../../src/tracker/part1/client_conn.ts";
import { Part1ServerConn } from "../../src/tracker/part1/server_conn.ts";
import type { Part1Query } from "../../src/tracker/part1/wire.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** Sends `query`, feeds `chunks` (then EOF if asked); the event, or undefined while waiting. */
function exchange(
  query: Part1Query,
  chunks: string[],
  opts: { eof?: boolean; options?: Part1ClientConnOptions } = {},
): Part1ClientEvent | undefined {
  const conn = new Part1ClientConn(0, opts.options);
  conn.send(query, 0);
  for (const c of chunks) {
    conn.receiveData(bytes(c), 1);
    const e = conn.nextEvent();
    if (e === "paused") assert.fail("paused while awaiting");
    if (e !== "needData") {
      assert.equal(conn.state, "done");
      assert.equal(conn.nextEvent(), "paused");
      return e;
    }
  }
  if (!opts.eof) return undefined;
  conn.receiveEof(2);
  const e = conn.nextEvent();
  assert.ok(typeof e === "object", "the outcome is known at end of input");
  return e;
}

Deno.test("Part1ClientConn.send() writes REGISTER and the request in the chosen protocol", () => {
  assert.equal(hex(new Part1ClientConn(0).send({ type: "size" }, 0)), "5245474953544552");
  const p = (protocol: 0 | 1 | 2) =>
    hex(new Part1ClientConn(0, { protocol }).send({ type: "item", index: 5 }, 0));
  assert.equal(p(0), "49350a2e");
  assert.equal(p(1), "4b052e");
  assert.equal(p(2), "80024b052e");
});

Deno.test("Part1ClientConn reads the size and item replies, complete at STOP without EOF", () => {
  assert.deepEqual(exchange({ type: "size" }, ["I16\n."]), {
    type: "reply",
    reply: { type: "size", count: 16 },
  });
  assert.equal(exchange({ type: "size" }, ["I16"]), undefined);
  assert.deepEqual(exchange({ type: "item", index: 0 }, ["(I12\nS'o", "f'\np0\nt", "p1\n."]), {
    type: "reply",
    reply: { type: "item", entry: { seq: 12, word: "of" } },
  });
  // Text words (a Python 3 or non-ASCII tracker) work too.
  assert.deepEqual(exchange({ type: "item", index: 0 }, ["(I3\nVcaf\xe9\np0\ntp1\n."]), {
    type: "reply",
    reply: { type: "item", entry: { seq: 3, word: "caf\u00e9" } },
  });
});

Deno.test("Part1ClientConn reports the error reply as a reply of type error, for any request", () => {
  for (const query of [{ type: "size" } as const, { type: "item", index: 99 } as const]) {
    assert.deepEqual(exchange(query, ["S'Bad req", "uest'\np0\n."]), {
      type: "reply",
      reply: { type: "error", message: "Bad request" },
    });
  }
});

Deno.test("Part1ClientConn fails a reply cut short, undecodable, of the wrong shape or too big", () => {
  const reason = (e: Part1ClientEvent | undefined) => e?.type === "failed" ? e.reason : e?.type;
  assert.equal(reason(exchange({ type: "size" }, [], { eof: true })), "truncated");
  assert.equal(reason(exchange({ type: "size" }, ["I1"], { eof: true })), "truncated");
  assert.equal(reason(exchange({ type: "size" }, ["garbage\n"])), "malformed");
  assert.equal(reason(exchange({ type: "size" }, ["c__builtin__\neval\n(S'1'\ntR."])), "malformed");
  assert.equal(reason(exchange({ type: "size" }, ["(I12\nS'of'\np0\ntp1\n."])), "unexpected");
  assert.equal(reason(exchange({ type: "size" }, ["I-1\n."])), "unexpected");
  assert.equal(reason(exchange({ type: "item", index: 0 }, ["I16\n."])), "unexpected");
  assert.equal(reason(exchange({ type: "item", index: 0 }, ["(I1\nI2\nt."])), "unexpected");
  const long = "N0".repeat(40) + "I5\n.";
  assert.equal(
    reason(exchange({ type: "size" }, [long], { options: { maxReplyBytes: 64 } })),
    "too-large",
  );
  assert.equal(reason(exchange({ type: "size" }, [long])), "reply");
});

Deno.test("Part1ClientConn times out in virtual time, connecting included", () => {
  const conn = new Part1ClientConn(100, { timeoutMs: 2000 });
  assert.equal(conn.nextTimeout(), 2100);
  assert.equal(conn.nextEvent(), "paused"); // nothing sent yet
  conn.handleTimeout(2099);
  conn.send({ type: "size" }, 2099);
  conn.receiveData(bytes("I1"), 2099);
  assert.equal(conn.nextEvent(), "needData");
  conn.handleTimeout(2100);
  assert.equal(conn.nextTimeout(), undefined);
  const e = conn.nextEvent();
  assert.ok(typeof e === "object" && e.type === "failed" && e.reason === "timeout");
  // Never connected: the deadline passes before send().
  const idle = new Part1ClientConn(0, { timeoutMs: 10 });
  idle.handleTimeout(10);
  const f = idle.nextEvent();
  assert.ok(typeof f === "object" && f.type === "failed" && f.reason === "timeout");
  // A complete reply buffered before the deadline wins.
  const won = new Part1ClientConn(0, { timeoutMs: 10 });
  won.send({ type: "size" }, 0);
  won.receiveData(bytes("I16\n."), 9);
  won.handleTimeout(50);
  const g = won.nextEvent();
  assert.ok(typeof g === "object" && g.type === "reply");
});

Deno.test("Part1ClientConn refuses misuse with TypeError and bad options with RangeError", () => {
  const conn = new Part1ClientConn(0);
  assert.throws(() => conn.receiveData(bytes("x"), 0), TypeError);
  assert.throws(() => conn.receiveEof(0), TypeError);
  conn.send({ type: "size" }, 0);
  assert.throws(() => conn.send({ type: "size" }, 0), TypeError);
  conn.receiveEof(0);
  assert.throws(() => conn.receiveData(bytes("x"), 0), TypeError);
  assert.throws(() => new Part1ClientConn(0, { timeoutMs: 0 }), RangeError);
  assert.throws(() => new Part1ClientConn(0, { protocol: 4 as never }), RangeError);
  assert.throws(() => new Part1ClientConn(0, { maxReplyBytes: 1 }), RangeError);
  assert.throws(() => new Part1ClientConn(Infinity), RangeError);
});

Deno.test("Part1ClientConn and Part1ServerConn fetch the default db in any protocol and chunking", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(0 as const, 1 as const, 2 as const),
      fc.integer({ min: 1, max: 7 }),
      (protocol, chunk) => {
        const run = (query: Part1Query) => {
          const client = new Part1ClientConn(0, { protocol });
          const server = new Part1ServerConn(0);
          const request = client.send(query, 0);
          let event;
          for (let i = 0; i < request.length && typeof event !== "object"; i += chunk) {
            server.receiveData(request.subarray(i, i + chunk), 1);
            event = server.nextEvent();
          }
          assert.ok(typeof event === "object");
          const reply = server.send(answerRequest(DEFAULT_DB, event.request));
          let outcome;
          for (let i = 0; i < reply.length && typeof outcome !== "object"; i += chunk) {
            client.receiveData(reply.subarray(i, i + chunk), 2);
            outcome = client.nextEvent();
          }
          assert.ok(typeof outcome === "object" && outcome.type === "reply");
          return outcome.reply;
        };
        const size = run({ type: "size" });
        assert.ok(size.type === "size");
        const entries = [];
        for (let i = 0; i < size.count; i++) {
          const r = run({ type: "item", index: i });
          assert.ok(r.type === "item");
          entries.push(r.entry);
        }
        assert.equal(assembleMessage(entries, size.count).message, DEFAULT_DB.message);
        assert.equal(run({ type: "item", index: size.count }).type, "error");
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("assembleMessage() keys words by SEQNUM and reports gaps and repeats", () => {
  const m = assembleMessage(
    [{ seq: 2, word: "c" }, { seq: 0, word: "a" }, { seq: 2, word: "C" }],
    4,
  );
  assert.equal(m.message, "a C");
  assert.deepEqual(m.missing, [1, 3]);
  assert.deepEqual(m.duplicates, [2]);
  assert.throws(() => assembleMessage([], 1e9), RangeError);
});
