/**
 * The Part 1 client over real sockets against fake trackers that behave like the original (one
 * read of up to 1024 bytes, one reply, close) or break in chosen ways: the error reply returned or
 * reported with the request that got it, refused connections, silence, early close, garbage, a
 * wrong shape, a huge size, and abort.
 */
import assert from "node:assert/strict";
import {
  exchangePart1,
  fetchPart1,
  TrackerClientError,
  type TrackerClientErrorReason,
} from "../../src/tracker/part1/client_deno.ts";
import { answerRequest } from "../../src/tracker/part1/answer.ts";
import { frameRequest } from "../../src/tracker/part1/framing.ts";
import { encodeReply, encodeRequest, ERROR_REPLY } from "../../src/tracker/part1/wire.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";

const HOST = "127.0.0.1";
const te = new TextEncoder();

type Behaviour = Uint8Array | "hang" | "close";

/**
 * A tracker written like the original: a single read of up to 1024 bytes, then `respond`'s
 * bytes in one write and a close ("hang" keeps the connection open; "close" closes at once).
 */
function fakeTracker(respond: (request: Uint8Array) => Behaviour) {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const open = new Set<Deno.Conn>();
  const requests: Uint8Array[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      open.add(conn);
      (async () => {
        try {
          const buf = new Uint8Array(1024);
          const n = await conn.read(buf);
          const request = buf.slice(0, n ?? 0);
          requests.push(request);
          const out = respond(request);
          if (out === "hang") return;
          if (out !== "close") await conn.write(out);
          conn.close();
          open.delete(conn);
        } catch {
          // closed under us at the end of the test
        }
      })();
    }
  })();
  return {
    hostport: `${HOST}:${listener.addr.port}`,
    requests,
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await loop;
    },
  };
}

/** The original's answers from the default db, except for the given overrides. */
function like(overrides: (request: Uint8Array) => Behaviour | undefined = () => undefined) {
  return (request: Uint8Array): Behaviour => {
    const forced = overrides(request);
    if (forced !== undefined) return forced;
    const frame = frameRequest(request, true, { maxProtocol: 2 });
    assert.ok(frame.status === "complete");
    return encodeReply(answerRequest(DEFAULT_DB, frame.request));
  };
}

async function rejectsWith(
  promise: Promise<unknown>,
  reason: TrackerClientErrorReason,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: Error) => {
    assert.ok(err instanceof TrackerClientError, String(err));
    assert.equal(err.reason, reason, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

Deno.test("fetchPart1() assembles the message from an original-style tracker in protocols 0-2", async () => {
  const tracker = fakeTracker(like());
  try {
    for (const protocol of [0, 1, 2] as const) {
      const seen: number[] = [];
      const result = await fetchPart1(tracker.hostport, {
        protocol,
        onItem: (position) => seen.push(position),
      });
      assert.equal(result.message, DEFAULT_DB.message);
      assert.equal(result.count, 16);
      assert.deepEqual(result.entries, DEFAULT_DB.entries);
      assert.deepEqual(seen, [...Array(16).keys()]);
      assert.deepEqual(result.missing, []);
    }
    // Every request fits the original's single recv(1024) and is one of its forms.
    assert.ok(tracker.requests.every((r) => r.length <= 1024));
    assert.deepEqual(tracker.requests[0], te.encode("REGISTER"));
  } finally {
    await tracker.close();
  }
});

Deno.test("exchangePart1() returns the error reply as a reply, without throwing", async () => {
  const tracker = fakeTracker(like());
  try {
    const reply = await exchangePart1(tracker.hostport, { type: "item", index: 16 });
    assert.deepEqual(reply, { type: "error", message: "Bad request" });
  } finally {
    await tracker.close();
  }
});

Deno.test("fetchPart1() reports the error reply to REGISTER, naming the request", async () => {
  const tracker = fakeTracker(() => ERROR_REPLY);
  try {
    await rejectsWith(
      fetchPart1(tracker.hostport),
      "error-reply",
      /the size \(REGISTER\) .*the tracker answered 'Bad request'/,
    );
  } finally {
    await tracker.close();
  }
});

Deno.test("fetchPart1() reports the error reply to an item, naming the position", async () => {
  // The tracker announces 17 items but holds 16: position 16 gets the error reply.
  const tracker = fakeTracker(like((r) => r[0] === 0x52 ? te.encode("I17\n.") : undefined));
  try {
    await rejectsWith(fetchPart1(tracker.hostport), "error-reply", /item 16 .*'Bad request'/);
  } finally {
    await tracker.close();
  }
});

Deno.test("exchangePart1() fails a silent tracker with timeout and an early close as truncated", async () => {
  const silent = fakeTracker(() => "hang");
  const closer = fakeTracker(() => "close");
  const cutter = fakeTracker(() => te.encode("(I12\nS'o"));
  try {
    const t0 = performance.now();
    await rejectsWith(
      exchangePart1(silent.hostport, { type: "size" }, { timeoutMs: 300 }),
      "timeout",
    );
    const ms = performance.now() - t0;
    assert.ok(ms >= 280 && ms < 2000, `gave up after ${ms.toFixed(0)} ms`);
    await rejectsWith(
      exchangePart1(closer.hostport, { type: "size" }),
      "truncated",
      /without replying/,
    );
    await rejectsWith(exchangePart1(cutter.hostport, { type: "item", index: 0 }), "truncated");
  } finally {
    await Promise.all([silent.close(), closer.close(), cutter.close()]);
  }
});

Deno.test("exchangePart1() fails garbage as malformed and a wrong shape as unexpected", async () => {
  const garbage = fakeTracker(() => te.encode("No data sent!"));
  const shape = fakeTracker(() => te.encode("(I12\nS'of'\np0\ntp1\n."));
  const huge = fakeTracker(() => te.encode("I100000\n."));
  try {
    await rejectsWith(exchangePart1(garbage.hostport, { type: "size" }), "malformed");
    await rejectsWith(exchangePart1(shape.hostport, { type: "size" }), "unexpected");
    await rejectsWith(fetchPart1(huge.hostport), "unexpected", /100000 items/);
  } finally {
    await Promise.all([garbage.close(), shape.close(), huge.close()]);
  }
});

Deno.test("exchangePart1() fails with connect when nobody listens, and aborted on abort", async () => {
  const l = Deno.listen({ hostname: HOST, port: 0 });
  const port = l.addr.port;
  l.close();
  await rejectsWith(exchangePart1(`${HOST}:${port}`, { type: "size" }), "connect");
  const silent = fakeTracker(() => "hang");
  try {
    const controller = new AbortController();
    const pending = exchangePart1(silent.hostport, { type: "size" }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(pending, "aborted");
    await rejectsWith(
      exchangePart1(silent.hostport, { type: "size" }, { signal: AbortSignal.abort() }),
      "aborted",
    );
  } finally {
    await silent.close();
  }
  await assert.rejects(exchangePart1("nonsense", { type: "size" }), TypeError);
});

Deno.test("frameRequest() keeps the outcome of short requests: the same as the decoder's, per protocol limit, never an end-of-input one", () => {
  const te = new TextEncoder();
  // Short requests take the kept outcome from their second sight on; the same request with bytes
  // after STOP (more than 6 bytes, never kept) is the decoder's own answer.
  for (const protocol of [0, 1, 2] as const) {
    for (const index of [0, 5, 15, 16, -1, 255, 256, 1000]) {
      const request = encodeRequest({ type: "item", index }, protocol);
      if (request.length > 6) continue;
      const oracle = frameRequest(new Uint8Array([...request, 0x4e, 0x4e, 0x4e]), false);
      for (let sight = 0; sight < 2; sight++) {
        assert.deepEqual(frameRequest(request, false), oracle, `${index} at ${protocol}`);
        assert.deepEqual(frameRequest(request, true), oracle, `${index} at ${protocol}, eof`);
      }
    }
  }
  // A kept outcome is shared: frozen, so no caller can change what the next request gets.
  const kept = frameRequest(te.encode("I5\n."), false);
  assert.ok(Object.isFrozen(kept));
  assert.ok(kept.status === "complete" && Object.isFrozen(kept.request));
  // The outcome depends on the protocol limit: each limit keeps its own.
  const proto3 = Uint8Array.of(0x80, 3, 0x4b, 5, 0x2e); // pickle.dumps(5, 3)
  for (let sight = 0; sight < 2; sight++) {
    const loose = frameRequest(proto3, false, { maxProtocol: 5 });
    assert.ok(loose.status === "complete" && loose.request.type === "item");
    const strict = frameRequest(proto3, false, { maxProtocol: 2 });
    assert.ok(strict.status === "complete" && strict.request.type === "invalid");
  }
  // It depends on the size cap too: BINUNICODE declaring 100 bytes is too large for a 16-byte cap
  // and waits for more under the default cap, in either order.
  const declared = Uint8Array.of(0x58, 100, 0, 0, 0);
  for (let sight = 0; sight < 2; sight++) {
    const small = frameRequest(declared, false, { maxRequestBytes: 16 });
    assert.ok(small.status === "complete" && small.request.type === "invalid");
    assert.equal(small.request.type === "invalid" && small.request.reason, "too-large");
    assert.equal(frameRequest(declared, false, { maxRequestBytes: 1024 }).status, "needData");
  }
  // A prefix cut by the end of input is truncated, and still waits for more without it, in
  // either order.
  for (let sight = 0; sight < 2; sight++) {
    const cut = frameRequest(te.encode("I5\n"), true);
    assert.ok(cut.status === "complete" && cut.request.type === "invalid");
    assert.equal(cut.request.type === "invalid" && cut.request.reason, "truncated");
    assert.equal(frameRequest(te.encode("I5\n"), false).status, "needData");
  }
});
