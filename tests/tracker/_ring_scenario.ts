/**
 * The Part 2 ring as a seeded scenario (random link delays and re-chunking; five peers register,
 * one crashes or freezes, the ring heals, a sixth joins), shared by `ring_sim_test.ts` (fixed
 * seeds) and `deno task sim` (random seeds). Throws when a check fails.
 */
import assert from "node:assert/strict";
import { replayHint, SimNet } from "../../src/sim/mod.ts";
import { RingPeer, type RingPeerEvent } from "../../src/tracker/ring/peer.ts";
import { RingTracker, type RingTrackerEvent } from "../../src/tracker/ring/tracker.ts";
import { Prng } from "../../src/util/prng.ts";
import { SimTcpHost } from "./_ring_sim.ts";

export const SENTENCE = "blue skies and snowy peaks";
export const TRACKER_IP = "10.0.0.1";

export interface World {
  net: SimNet;
  tracker: SimTcpHost<RingTrackerEvent>;
  peers: SimTcpHost<RingPeerEvent>[];
  log: string[];
}

export function addPeer(
  w: World,
  handle: string,
  index: number,
  registerDelayMs: number,
) {
  const ip = `10.0.1.${index + 1}`;
  const core = new RingPeer(w.net.now, {
    handle,
    port: 9000,
    trackerHost: TRACKER_IP,
    trackerPort: 7777,
    registerDelayMs,
  });
  const host = new SimTcpHost(w.net, ip, 9000, core, (e) => {
    if (e.type !== "bad-request") {
      w.log.push(`${w.net.now} ${handle} ${JSON.stringify(e)}`);
    }
  });
  w.peers.push(host);
  return host;
}

/** Every live peer's neighbour is its predecessor in the tracker's list, and vice versa. */
export function healed(w: World): boolean {
  const list = (w.tracker.core as RingTracker).peers;
  const alive = w.peers.filter((p) => p.state === "up");
  if (list.length !== alive.length) return false;
  return list.every((entry, i) => {
    const pred = list[(i - 1 + list.length) % list.length];
    const host = alive.find((p) => p.ip === entry.ip && p.port === entry.port);
    const n = (host?.core as RingPeer | undefined)?.neighbour;
    return n !== undefined && n.ip === pred.ip && n.port === pred.port &&
      n.handle === pred.handle;
  });
}

const complete = (hosts: SimTcpHost<RingPeerEvent>[]) =>
  hosts.every((p) => (p.core as RingPeer).sentence === SENTENCE);

/**
 * Runs the ring scenario for one seed.
 *
 * @returns The run's event log as its trace, and a summary.
 */
export function ringScenario(seed: number): { trace: string; summary: string } {
  const root = Prng.seeded(seed);
  const scenario = root.fork();
  const net = new SimNet({
    prng: root.fork(),
    defaults: {
      delayMs: [1, scenario.int(1, 80)],
      chunkBytesMax: scenario.int(1, 48),
    },
  });
  const w: World = { net, peers: [], log: [], tracker: undefined! };
  w.tracker = new SimTcpHost(net, TRACKER_IP, 7777, new RingTracker(0), (e) => {
    if (e.type !== "neighbour-sent") {
      w.log.push(`${net.now} tracker ${JSON.stringify(e)}`);
    }
  });
  const hint = () =>
    `${replayHint(seed, "deno test -A tests/tracker/ring_sim_test.ts")}\n${
      w.log.slice(-40).join("\n")
    }`;
  for (const [i, handle] of ["ann", "bob", "cat", "dan", "eve"].entries()) {
    addPeer(w, handle, i, scenario.int(0, 3000));
  }

  // 1. Five peers: every one assembles the sentence, and the ring is consistent.
  let stop = net.runWhile(() => !complete(w.peers), { maxTime: 120_000 });
  assert.equal(stop, "done", `five peers complete within 2 minutes\n${hint()}`);
  assert.ok(
    net.now < 60_000,
    `about a minute at most (spec §3.6), took ${net.now}\n${hint()}`,
  );
  stop = net.runWhile(() => !healed(w), { maxTime: net.now + 30_000 });
  assert.equal(stop, "done", `the ring is consistent\n${hint()}`);
  for (const p of w.peers) {
    const done = p.events.filter((e) => e.type === "complete");
    assert.equal(done.length, 1, "the sentence is reported once");
  }

  // 2. One peer dies; the tracker drops it within two PING rounds and repairs the ring.
  const victim = scenario.pick(w.peers);
  const mode = scenario.chance(0.5) ? "crash" : "freeze";
  const killedAt = net.now;
  if (mode === "crash") victim.crash();
  else victim.freeze();
  w.log.push(`${net.now} ${mode} ${victim.ip}`);
  stop = net.runWhile(() => !healed(w), { maxTime: killedAt + 120_000 });
  assert.equal(stop, "done", `the ring heals after a ${mode}\n${hint()}`);
  const dropped = w.tracker.events.filter((e) => e.type === "dropped");
  assert.deepEqual(dropped.map((e) => e.type === "dropped" && e.ip), [
    victim.ip,
  ], hint());
  // Two failed rounds: each starts 20 s after the previous one ended; a frozen peer's PING
  // takes 5 s to time out.
  assert.ok(
    net.now - killedAt <= 2 * (20_000 + 5_000) + 5_000,
    `healed in ${net.now - killedAt} ms`,
  );

  // 3. A newcomer still finds every item in the smaller ring.
  const late = addPeer(w, "fay", 9, 0);
  stop = net.runWhile(() => !complete([late]) || !healed(w), {
    maxTime: net.now + 120_000,
  });
  assert.equal(
    stop,
    "done",
    `a sixth peer completes and joins the ring\n${hint()}`,
  );

  // Framing survived every re-chunking: nobody ever answered Bad request.
  const bad = [w.tracker, ...w.peers].flatMap((h) =>
    (h.events as { type: string }[]).filter((e) => e.type === "bad-request")
  );
  assert.deepEqual(bad, [], hint());
  return {
    trace: w.log.join("\n"),
    summary: `${w.peers.length} peers, healed by ${net.now} ms`,
  };
}
