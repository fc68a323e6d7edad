/**
 * An active middlebox between two LRP2P peers: it modifies, replays (records datagrams and sends
 * old ones again later), truncates or injects datagrams (random bytes behind a valid connId). It
 * can never change a delivered byte: what each side reads is always a prefix of what the other
 * wrote, and a clean end means all of it. When it only replays and injects, every transfer
 * completes and both ends close cleanly. `LRP_SIM_SEED=N` replays one seed.
 */
import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import type { SimNet } from "../../src/sim/mod.ts";
import { EventLog, forSeeds, openPair, sameBytes, simLrp, Transfer } from "./_sim_lrp.ts";

type Mode = "modify" | "replay" | "truncate" | "inject" | "replay+inject" | "all";
const MODES: Mode[] = ["modify", "replay", "truncate", "inject", "replay+inject", "all"];

/** Installs the middlebox; returns counters of what it did. */
function attacker(net: SimNet, rng: Prng, mode: Mode) {
  const has = (m: string) => mode === "all" || mode.split("+").includes(m);
  const seen: { from: string; to: string; bytes: Uint8Array }[] = [];
  const done = { modified: 0, replayed: 0, truncated: 0, injected: 0 };
  let own = false; // datagrams the middlebox sends itself pass untouched
  const later = (fn: () => void) => net.clock.setTimer(net.now + rng.int(1, 3000), fn);
  const sendRaw = (from: string, to: string, bytes: Uint8Array) => {
    own = true;
    try {
      net.send(from, to, bytes);
    } finally {
      own = false;
    }
  };
  net.setMiddlebox((p) => {
    if (own) return undefined;
    if (seen.length < 4000) seen.push({ from: p.from, to: p.to, bytes: p.bytes.slice() });
    if (has("replay") && rng.chance(0.2)) {
      const old = seen[rng.int(0, seen.length - 1)];
      done.replayed++;
      later(() => sendRaw(old.from, old.to, old.bytes));
    }
    if (has("inject") && rng.chance(0.2) && p.bytes.length >= 8) {
      const len = rng.pick([8, 15, 16, 38, 40, 72, 104, rng.int(0, 1500)]);
      const fake = rng.bytes(len);
      fake.set(p.bytes.subarray(0, Math.min(8, len))); // the real connId
      if (len > 16 && rng.chance(0.5)) fake.set(p.bytes.subarray(8, 16), 8); // and a real counter
      done.injected++;
      later(() => sendRaw(rng.chance(0.5) ? p.from : "10.9.9.9:1", p.to, fake));
    }
    if (has("modify") && rng.chance(0.1) && p.bytes.length > 0) {
      const b = p.bytes.slice();
      b[rng.int(0, b.length - 1)] ^= rng.int(1, 255);
      done.modified++;
      return b;
    }
    if (has("truncate") && rng.chance(0.1) && p.bytes.length > 0) {
      done.truncated++;
      return p.bytes.slice(0, rng.int(0, p.bytes.length - 1));
    }
    return undefined;
  });
  return done;
}

function run(seed: number): void {
  const rng = Prng.seeded(seed * 7 + 1);
  const mode = MODES[seed % MODES.length];
  const { net, peers, prng } = simLrp(seed, 2, { delayMs: [1, 20], dropRate: rng.float() * 0.05 });
  const [a, b] = peers;
  const log = new EventLog([a.ep, b.ep]);
  const done = attacker(net, rng.fork(), mode);
  const { idA, idB } = openPair(net, a, b, 200_000);
  const benign = mode === "replay" || mode === "inject" || mode === "replay+inject";
  if (idB === undefined) {
    assert.ok(!benign, `${mode}: no connection (${a.ep.conn(idA)?.state})`);
    return;
  }
  const ab = new Transfer(a.ep, idA, b.ep, idB, prng.bytes(rng.int(1, 30_000)), true);
  const ba = new Transfer(b.ep, idB, a.ep, idA, prng.bytes(rng.int(1, 30_000)), true);
  const end = net.runWhile(() => {
    ab.step(net.now);
    ba.step(net.now);
    return !(log.closed(a.ep, idA) && log.closed(b.ep, idB) && ab.eof && ba.eof);
  }, { maxTime: net.now + 600_000 });
  const what = `${mode} ${JSON.stringify(done)}: ${ab.gotBytes}/${ab.data.length} and ` +
    `${ba.gotBytes}/${ba.data.length}`;
  assert.ok(sameBytes(ab.received(), ab.data.subarray(0, ab.gotBytes)), `a→b changed: ${what}`);
  assert.ok(sameBytes(ba.received(), ba.data.subarray(0, ba.gotBytes)), `b→a changed: ${what}`);
  assert.equal(end, "done", `${end}: ${what}`);
  const ca = log.closed(a.ep, idA)!, cb = log.closed(b.ep, idB)!;
  if (cb.error === undefined) assert.ok(ab.complete, `b ended cleanly, incomplete: ${what}`);
  if (ca.error === undefined) assert.ok(ba.complete, `a ended cleanly, incomplete: ${what}`);
  if (benign) {
    assert.ok(ab.complete && ba.complete, `incomplete: ${what}`);
    assert.equal(ca.error, undefined, `a: ${what}`);
    assert.equal(cb.error, undefined, `b: ${what}`);
  }
  for (const k of Object.keys(done) as (keyof typeof done)[]) totals[k] += done[k];
}

const totals = { modified: 0, replayed: 0, truncated: 0, injected: 0 };

Deno.test("lrp2p sim: a middlebox never changes a delivered byte (300 seeds, 6 modes)", () => {
  forSeeds(300, run);
  if (Deno.env.get("LRP_SIM_SEED") === undefined) {
    for (const [k, n] of Object.entries(totals)) assert.ok(n > 100, `${k}: ${n}`);
  }
});
