/**
 * The Part 1 client core (`Part1ClientCore`) on fixed examples, driven by hand: the connect it
 * asks for, the request written once connected, the reply in pieces, and each way it fails
 * (refused, timed out while connecting or reading, reset, cut short).
 */
import assert from "node:assert/strict";
import { Part1ClientCore, type Part1ClientOutcome } from "../../src/tracker/part1/client_core.ts";
import type { StreamAction } from "../../src/core/mod.ts";

const te = new TextEncoder();
const TO = "10.0.0.1:7777";
const C = Part1ClientCore.CONN;

function actions(core: Part1ClientCore): StreamAction[] {
  const out: StreamAction[] = [];
  for (let a = core.pollAction(); a !== undefined; a = core.pollAction()) out.push(a);
  return out;
}

function started(timeoutMs = 1000): Part1ClientCore {
  const core = new Part1ClientCore(TO, { type: "item", index: 3 }, 100, { timeoutMs, protocol: 2 });
  assert.deepEqual(actions(core), [{
    type: "connect",
    conn: C,
    to: TO,
    timeoutMs: timeoutMs + 1000,
  }]);
  assert.equal(core.nextTimeout(), 100 + timeoutMs);
  return core;
}

function outcome(core: Part1ClientCore): Part1ClientOutcome | undefined {
  const o = core.pollEvent();
  assert.equal(core.pollEvent(), undefined, "reported once");
  return o;
}

Deno.test("Part1ClientCore writes the request once connected and reports the reply", () => {
  const core = started();
  core.handleConnected(C, 110);
  assert.deepEqual(actions(core), [
    { type: "write", conn: C, bytes: Uint8Array.of(0x80, 2, 0x4b, 3, 0x2e) },
  ]);
  for (const piece of ["(I7\nS'w", "ord'\np0\ntp1\n", "."]) {
    assert.equal(core.pollEvent(), undefined);
    core.handleData(C, te.encode(piece), 120);
  }
  assert.deepEqual(actions(core), [{ type: "close", conn: C }]);
  assert.deepEqual(outcome(core), {
    type: "reply",
    reply: { type: "item", entry: { seq: 7, word: "word" } },
  });
  assert.equal(core.nextTimeout(), undefined);
  core.handleError(C, "read failed: reset", 130); // after the outcome: ignored
  assert.equal(core.pollEvent(), undefined);
});

Deno.test("Part1ClientCore fails a refused connection as connect, naming the cause once", () => {
  const core = started();
  core.handleError(C, `cannot connect to ${TO}: Connection refused (os error 111)`, 105);
  assert.deepEqual(actions(core), []); // the driver forgot it already
  assert.deepEqual(outcome(core), {
    type: "failed",
    reason: "connect",
    detail: "Connection refused (os error 111)",
  });
});

Deno.test("Part1ClientCore ends a slow connect at its own deadline as timeout", () => {
  const core = started(300);
  core.handleTick(399);
  assert.equal(core.pollEvent(), undefined);
  core.handleTick(400);
  assert.deepEqual(actions(core), [{ type: "close", conn: C }]);
  assert.deepEqual(outcome(core), {
    type: "failed",
    reason: "timeout",
    detail: "no connection in time",
  });
  // The driver's backstop may still report the dial: nothing more is reported.
  core.handleError(C, `no connection to ${TO} within 1300 ms`, 1400);
  core.handleConnected(C, 1400);
  assert.deepEqual(actions(core), []);
  assert.equal(core.pollEvent(), undefined);
  // A dial failure reported at the deadline is a timeout too.
  const late = started(300);
  late.handleError(C, `no connection to ${TO} within 1300 ms`, 400);
  assert.deepEqual(outcome(late), {
    type: "failed",
    reason: "timeout",
    detail: "no connection in time",
  });
});

Deno.test("Part1ClientCore fails a silent tracker as timeout and an early end as truncated", () => {
  const silent = started(300);
  silent.handleConnected(C, 150);
  actions(silent);
  silent.handleTick(400);
  assert.deepEqual(actions(silent), [{ type: "close", conn: C }]);
  const o = outcome(silent);
  assert.ok(o?.type === "failed" && o.reason === "timeout", JSON.stringify(o));

  const closer = started();
  closer.handleConnected(C, 110);
  closer.handleData(C, te.encode("(I7\nS'w"), 120);
  closer.handleEof(C, 130);
  const c = outcome(closer);
  assert.ok(c?.type === "failed" && c.reason === "truncated", JSON.stringify(c));
});

Deno.test("Part1ClientCore fails a reset before a complete reply as reset", () => {
  const core = started();
  core.handleConnected(C, 110);
  core.handleData(C, te.encode("(I7\n"), 120);
  core.handleError(C, "read failed: Connection reset by peer (os error 104)", 130);
  assert.deepEqual(actions(core).map((a) => a.type), ["write"]);
  assert.deepEqual(outcome(core), {
    type: "failed",
    reason: "reset",
    detail:
      "the connection was reset before a complete reply (read failed: Connection reset by peer (os error 104))",
  });
});
