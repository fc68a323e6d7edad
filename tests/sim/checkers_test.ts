import assert from "node:assert/strict";
import { AssertionError } from "../../src/util/assert.ts";
import { preview, StreamChecker } from "../../src/sim/checkers.ts";

function checkerWith(sent: string[]): StreamChecker {
  const checker = new StreamChecker();
  for (const m of sent) checker.sent("s", m);
  return checker;
}

function violation(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AssertionError, `threw ${err}`);
    return err.message;
  }
  assert.fail("no violation was reported");
}

Deno.test("StreamChecker.delivered() accepts an in-order prefix of what was sent", () => {
  const checker = checkerWith(["a", "b", "c"]);
  checker.delivered("s", "a");
  checker.delivered("s", new TextEncoder().encode("b"));
  checker.check();
  assert.deepEqual(checker.counts("s"), { sent: 3, delivered: 2 });
  checker.delivered("s", "c");
  checker.check({ complete: true });
});

Deno.test("StreamChecker.delivered() reports a duplicate when a message comes twice", () => {
  const checker = checkerWith(["a", "b", "c"]);
  checker.delivered("s", "a");
  const message = violation(() => checker.delivered("s", "a"));
  assert.equal(
    message,
    'Stream s: delivery #1 "a" (1B) is a duplicate of message #0 (expected #1 "b" (1B))',
  );
});

Deno.test("StreamChecker.delivered() reports a gap when a message is skipped or reordered", () => {
  const checker = checkerWith(["a", "b", "c", "d"]);
  checker.delivered("s", "a");
  const message = violation(() => checker.delivered("s", "c"));
  assert.match(
    message,
    /delivery #1 "c" \(1B\) is message #2: messages #1\.\.#1 were skipped or reordered/,
  );
});

Deno.test("StreamChecker.delivered() reports corruption when a message matches nothing sent", () => {
  const checker = new StreamChecker();
  checker.sent(7, Uint8Array.of(1, 2, 3));
  const message = violation(() => checker.delivered(7, Uint8Array.of(1, 2, 4)));
  assert.equal(
    message,
    "Stream 7: delivery #0 010204 (3B) matches no sent message, corrupted? (expected #0 010203 (3B))",
  );
});

Deno.test("StreamChecker.delivered() reports deliveries beyond what was sent", () => {
  const checker = checkerWith(["a"]);
  checker.delivered("s", "a");
  assert.match(
    violation(() => checker.delivered("s", "a")),
    /is a duplicate of message #0 \(only 1 were sent\)/,
  );
  const other = checkerWith([]);
  assert.match(
    violation(() => other.delivered("s", "x")),
    /was never sent \(only 0 were sent; corrupted\?\)/,
  );
});

Deno.test("StreamChecker stays failed after a violation", () => {
  const checker = checkerWith(["a", "b"]);
  const first = violation(() => checker.delivered("s", "b"));
  assert.equal(violation(() => checker.delivered("s", "a")), first);
  assert.equal(violation(() => checker.check()), first);
});

Deno.test("StreamChecker.check() reports undelivered messages when complete is required", () => {
  const checker = checkerWith(["a", "b", "c"]);
  checker.delivered("s", "a");
  checker.check();
  assert.equal(
    violation(() => checker.check({ complete: true })),
    'Stream s: 2 of 3 sent messages were never delivered (first missing: #1 "b" (1B))',
  );
});

Deno.test("StreamChecker keeps streams apart", () => {
  const checker = new StreamChecker();
  checker.sent("up", "x");
  checker.sent("down", "y");
  checker.delivered("down", "y");
  checker.delivered("up", "x");
  checker.check({ complete: true });
  assert.deepEqual(checker.streams(), ["up", "down"]);
  assert.match(violation(() => checker.delivered("up", "y")), /^Stream up: /);
});

Deno.test("StreamChecker.sent() copies the message when the caller reuses its buffer", () => {
  const checker = new StreamChecker();
  const buffer = Uint8Array.of(1);
  checker.sent("s", buffer);
  buffer[0] = 2;
  checker.delivered("s", Uint8Array.of(1));
});

Deno.test("StreamChecker.sent() throws RangeError when over maxMessages", () => {
  const checker = new StreamChecker({ maxMessages: 2 });
  checker.sent("s", "a");
  checker.sent("s", "b");
  assert.throws(() => checker.sent("s", "c"), RangeError);
  assert.throws(() => new StreamChecker({ maxMessages: 0 }), RangeError);
});

Deno.test("preview() shows text quoted, binary as hex, and truncates long messages", () => {
  assert.equal(preview(new TextEncoder().encode("hi there")), '"hi there" (8B)');
  assert.equal(preview(Uint8Array.of(0, 1, 255)), "0001ff (3B)");
  assert.equal(preview(new Uint8Array(40).fill(0x61)), `"${"a".repeat(32)}"… (40B)`);
});
