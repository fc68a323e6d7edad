import assert from "node:assert/strict";
import fc from "fast-check";
import { VirtualClock } from "../../src/sim/clock.ts";

Deno.test("VirtualClock.advanceTo() fires timers in time order, ties in insertion order", () => {
  const clock = new VirtualClock();
  const fired: string[] = [];
  clock.setTimer(30, () => fired.push("c"));
  clock.setTimer(10, () => fired.push("a1"));
  clock.setTimer(20, () => fired.push("b"));
  clock.setTimer(10, () => fired.push("a2"));
  clock.setTimer(10, () => fired.push("a3"));
  assert.equal(clock.advanceTo(25), 4);
  assert.deepEqual(fired, ["a1", "a2", "a3", "b"]);
  assert.equal(clock.now, 25);
  clock.advanceTo(30);
  assert.deepEqual(fired, ["a1", "a2", "a3", "b", "c"]);
});

Deno.test("VirtualClock.advanceTo() sets now to each timer's deadline while it fires", () => {
  const clock = new VirtualClock({ startMs: 100 });
  const seen: number[][] = [];
  clock.setTimeout(5, (now) => seen.push([now, clock.now]));
  clock.setTimeout(50, (now) => seen.push([now, clock.now]));
  clock.advanceTo(1000);
  assert.deepEqual(seen, [[105, 105], [150, 150]]);
  assert.equal(clock.now, 1000);
});

Deno.test("VirtualClock.advanceTo() fires timers set while firing when they are due", () => {
  const clock = new VirtualClock();
  const fired: number[] = [];
  clock.setTimeout(10, (now) => {
    fired.push(now);
    clock.setTimeout(0, (t) => fired.push(t)); // same instant
    clock.setTimeout(5, (t) => fired.push(t)); // within range
    clock.setTimeout(500, (t) => fired.push(t)); // beyond range
  });
  clock.advanceTo(100);
  assert.deepEqual(fired, [10, 10, 15]);
  assert.equal(clock.pending, 1);
  assert.equal(clock.nextDeadline(), 510);
});

Deno.test("VirtualClock.advanceTo() throws RangeError when time would go backwards", () => {
  const clock = new VirtualClock({ startMs: 50 });
  assert.throws(() => clock.advanceTo(49), RangeError);
  assert.throws(() => clock.advanceTo(NaN), RangeError);
  assert.throws(() => clock.advanceTo(Infinity), RangeError);
  assert.throws(() => clock.advanceBy(-1), RangeError);
  assert.equal(clock.now, 50);
  clock.advanceTo(50); // staying put is fine
});

Deno.test("VirtualClock.setTimer() throws RangeError when the deadline is in the past", () => {
  const clock = new VirtualClock({ startMs: 10 });
  assert.throws(() => clock.setTimer(9, () => {}), RangeError);
  assert.throws(() => clock.setTimer(NaN, () => {}), RangeError);
  assert.throws(() => clock.setTimeout(-1, () => {}), RangeError);
  assert.equal(clock.pending, 0);
});

Deno.test("VirtualClock.setTimer() fires a timer at now on the next advance when set for now", () => {
  const clock = new VirtualClock({ startMs: 10 });
  let fired = 0;
  clock.setTimer(10, () => fired++);
  assert.equal(fired, 0);
  assert.equal(clock.advanceTo(10), 1);
  assert.equal(fired, 1);
});

Deno.test("VirtualClock.setTimer() throws RangeError when maxTimers are pending", () => {
  const clock = new VirtualClock({ maxTimers: 3 });
  for (let i = 0; i < 3; i++) clock.setTimeout(i, () => {});
  assert.throws(() => clock.setTimeout(1, () => {}), RangeError);
  clock.advanceTo(0);
  clock.setTimeout(1, () => {}); // one fired, so room again
});

Deno.test("VirtualClock.cancel() stops a timer and reports whether it was pending", () => {
  const clock = new VirtualClock();
  const fired: string[] = [];
  const a = clock.setTimeout(10, () => fired.push("a"));
  const b = clock.setTimeout(10, () => fired.push("b"));
  assert.equal(clock.cancel(a), true);
  assert.equal(clock.cancel(a), false);
  assert.equal(clock.cancel(12345), false);
  assert.equal(clock.pending, 1);
  clock.advanceTo(20);
  assert.deepEqual(fired, ["b"]);
  assert.equal(clock.cancel(b), false); // already fired
});

Deno.test("VirtualClock.nextDeadline() skips cancelled timers and is undefined when none is pending", () => {
  const clock = new VirtualClock();
  assert.equal(clock.nextDeadline(), undefined);
  const early = clock.setTimeout(5, () => {});
  clock.setTimeout(9, () => {});
  assert.equal(clock.nextDeadline(), 5);
  clock.cancel(early);
  assert.equal(clock.nextDeadline(), 9);
  clock.advanceTo(9);
  assert.equal(clock.nextDeadline(), undefined);
});

Deno.test("VirtualClock.fireNext() jumps to the next deadline only", () => {
  const clock = new VirtualClock();
  const fired: number[] = [];
  clock.setTimeout(3, (t) => fired.push(t));
  clock.setTimeout(3, (t) => fired.push(t));
  clock.setTimeout(8, (t) => fired.push(t));
  assert.equal(clock.fireNext(), true);
  assert.deepEqual(fired, [3, 3]);
  assert.equal(clock.now, 3);
  assert.equal(clock.fireNext(), true);
  assert.equal(clock.now, 8);
  assert.equal(clock.fireNext(), false);
  assert.equal(clock.now, 8);
});

Deno.test("VirtualClock.advanceTo() throws when zero-delay timers loop at one instant", () => {
  const clock = new VirtualClock({ maxFiresPerInstant: 100 });
  const loop = () => clock.setTimeout(0, loop);
  clock.setTimeout(1, loop);
  assert.throws(() => clock.advanceTo(10), /over 100 timers fired at 1ms/);
});

Deno.test("VirtualClock fires any set of timers in (deadline, insertion) order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.integer({ min: 0, max: 50 }), cancel: fc.boolean() }), {
        maxLength: 200,
      }),
      fc.integer({ min: 0, max: 60 }),
      (timers, until) => {
        const clock = new VirtualClock();
        const fired: number[] = [];
        const ids = timers.map((t, i) => clock.setTimer(t.at, () => fired.push(i)));
        timers.forEach((t, i) => t.cancel && clock.cancel(ids[i]));
        clock.advanceTo(until);
        const expected = timers
          .map((t, i) => ({ ...t, i }))
          .filter((t) => !t.cancel && t.at <= until)
          .sort((x, y) => x.at - y.at || x.i - y.i)
          .map((t) => t.i);
        assert.deepEqual(fired, expected);
        assert.equal(clock.pending, timers.filter((t) => !t.cancel && t.at > until).length);
      },
    ),
  );
});

Deno.test("VirtualClock.cancel() keeps order when many cancelled timers are compacted away", () => {
  const clock = new VirtualClock();
  const fired: number[] = [];
  const keep: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const id = clock.setTimeout(5000 - i, () => fired.push(5000 - i));
    if (i % 7 === 0) keep.push(5000 - i);
    else clock.cancel(id);
  }
  assert.equal(clock.pending, keep.length);
  clock.advanceTo(10_000);
  assert.deepEqual(fired, keep.sort((a, b) => a - b));
});
