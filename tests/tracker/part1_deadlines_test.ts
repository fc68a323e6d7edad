/**
 * The tracker's timer queue (`_deadlines.ts`) and the core's timeouts built on it: the queue keeps
 * deadlines in order, skips and prunes stale ones; on random seeded schedules the core's
 * `nextTimeout()` is exactly the earliest due deadline (a tick one millisecond before it does
 * nothing, a tick at it acts).
 */
import assert from "node:assert/strict";
import { DeadlineQueue } from "../../src/tracker/part1/_deadlines.ts";
import { Part1ServerCore } from "../../src/tracker/part1/server_core.ts";
import type { StreamAction } from "../../src/core/mod.ts";
import { Prng } from "../../src/util/prng.ts";

Deno.test("DeadlineQueue gives the earliest live deadline, pops due ones, refuses going back", () => {
  const q = new DeadlineQueue();
  const stale = new Set<number>();
  const isStale = (id: number) => stale.has(id);
  assert.equal(q.next(isStale), Infinity);
  q.push(10, 1);
  q.push(10, 2);
  q.push(25, 3);
  assert.throws(() => q.push(24, 4), RangeError);
  assert.equal(q.next(isStale), 10);
  stale.add(1);
  stale.add(2);
  assert.equal(q.next(isStale), 25); // stale heads are skipped
  assert.equal(q.length, 1);
  q.push(30, 4);
  const out: number[] = [];
  q.popDue(29, out);
  assert.deepEqual(out, [3]);
  q.popDue(30, out);
  assert.deepEqual(out, [3, 4]);
  assert.equal(q.next(isStale), Infinity);
  q.push(5, 9); // an empty queue takes any deadline
  assert.equal(q.next(isStale), 5);
});

Deno.test("DeadlineQueue.prune() keeps its length proportional to the live connections", () => {
  const q = new DeadlineQueue();
  const live = new Set<number>();
  for (let id = 1; id <= 10_000; id++) {
    q.push(id, id);
    if (id % 1000 === 0) live.add(id); // one connection in a thousand stays
    q.prune(live.size, (x) => !live.has(x));
    assert.ok(q.length <= 4 * live.size + 65, `length ${q.length} at ${id}`);
  }
  const out: number[] = [];
  q.popDue(Infinity, out);
  for (const id of live) assert.ok(out.includes(id));
});

/**
 * Random schedules: accepts, partial and whole requests, client closes, ticks; small timeouts.
 * With room for every connection (even seeds) each one is served when accepted, so the test
 * also knows when each deadline is due: a timeout's error reply comes exactly `requestTimeoutMs`
 * after the accept, a linger close exactly `lingerMs` after the reply.
 */
Deno.test("Part1ServerCore.nextTimeout() is exactly when the next deadline acts, on random schedules", () => {
  const te = new TextEncoder();
  const REQUEST_MS = 40;
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = Prng.seeded(seed);
    const roomy = seed % 2 === 0;
    const lingerMs = rnd.int(0, 30);
    const core = new Part1ServerCore({
      requestTimeoutMs: REQUEST_MS,
      lingerMs,
      maxConnections: roomy ? 1000 : 3,
      maxWaiting: 3,
    });
    const acceptedAt = new Map<number, number>();
    const answeredAt = new Map<number, number>();
    const ended = new Set<number>(); // the client closed its side
    const open = new Set<number>();
    /** Drains the actions of an input at `t`; checks the times of a tick's when asked. */
    const drain = (t: number, tick: boolean) => {
      const out: StreamAction[] = [];
      for (let a = core.pollAction(); a !== undefined; a = core.pollAction()) out.push(a);
      while (core.pollEvent() !== undefined);
      for (const a of out) {
        if (a.type === "write") {
          if (tick && roomy) assert.equal(t, acceptedAt.get(a.conn)! + REQUEST_MS, `seed ${seed}`);
          answeredAt.set(a.conn, t);
        } else if (a.type === "close") {
          const answered = answeredAt.get(a.conn);
          if (tick && roomy && answered !== undefined && answered < t && !ended.has(a.conn)) {
            assert.equal(t, answered + lingerMs, `seed ${seed}: linger close of ${a.conn}`);
          }
          open.delete(a.conn);
        }
      }
      return out;
    };
    let now = 0;
    let last = 0; // the latest time given to the core
    let checked = 0;
    for (let step = 0; step < 300; step++) {
      now += rnd.int(0, 15);
      const at = core.nextTimeout();
      if (at !== undefined && at <= now) {
        if (at - 1 >= last) {
          core.handleTick(at - 1);
          const early = drain(at - 1, true);
          assert.deepEqual(early, [], `seed ${seed} step ${step}: a tick before ${at} acted`);
          checked++;
        }
        core.handleTick(at);
        last = Math.max(last, at);
        const acted = drain(last, true);
        assert.ok(acted.length > 0, `seed ${seed} step ${step}: nothing due at ${at}`);
        continue;
      }
      last = now;
      const ids = [...open];
      const pick = ids[rnd.int(0, Math.max(0, ids.length - 1))];
      const kind = rnd.int(0, 3);
      if (kind === 0 || pick === undefined) {
        const id = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", now);
        acceptedAt.set(id, now);
        open.add(id);
      } else if (kind === 1) {
        core.handleData(pick, te.encode(rnd.chance(0.5) ? "REGI" : "I3\n."), now);
      } else if (kind === 2) {
        ended.add(pick);
        core.handleEof(pick, now);
      } else {
        core.handleTick(now);
      }
      drain(now, false);
    }
    assert.ok(checked > 10, `seed ${seed}: only ${checked} deadlines checked`);
  }
});
