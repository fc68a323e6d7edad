// RFC 9438 CUBIC of the LRP2P sender (spec §8.3): slow start, β = 0.7, C = 0.4, one reduction per
// RTT, concave then convex growth around W_max, Reno-friendly region.
import assert from "node:assert/strict";
import { Cubic } from "../../src/lrp2p/cubic.ts";

Deno.test("cubic: slow start adds one segment per acked segment until ssthresh", () => {
  const cc = new Cubic({ initialCwnd: 10 });
  assert.equal(cc.ssthresh, Infinity);
  cc.onAck(1, 0, 100);
  cc.onAck(5, 1, 100);
  assert.equal(cc.cwnd, 16);
});

Deno.test("cubic: a loss multiplies by β = 0.7, sets W_max, and happens at most once per RTT", () => {
  const cc = new Cubic({ initialCwnd: 100 });
  assert.equal(cc.onLoss(1000, 200), true);
  assert.equal(cc.cwnd, 70);
  assert.equal(cc.ssthresh, 70);
  assert.equal(cc.wMax, 100);
  assert.equal(cc.onLoss(1100, 200), false);
  assert.equal(cc.onLoss(1199, 200), false);
  assert.equal(cc.cwnd, 70);
  assert.equal(cc.onLoss(1200, 200), true); // one RTT later: a new event
  assert.equal(cc.cwnd, 49);
  // fast convergence: cwnd (70) < previous W_max (100) -> W_max = 70 * (1 + 0.7) / 2
  assert.ok(Math.abs(cc.wMax - 59.5) < 1e-9);
});

Deno.test("cubic: a timeout collapses to one segment, ssthresh = max(2, 0.7 cwnd)", () => {
  const cc = new Cubic({ initialCwnd: 2 });
  cc.onTimeout(0, 100);
  assert.equal(cc.cwnd, 1);
  assert.equal(cc.ssthresh, 2);
  cc.onAck(1, 10, 100); // slow start again
  assert.equal(cc.cwnd, 2);
});

Deno.test("cubic: K = cbrt(W_max (1 - β) / C) and the window reaches W_max about K seconds later", () => {
  const rtt = 100;
  const cc = new Cubic({ initialCwnd: 100 });
  cc.onLoss(0, rtt);
  cc.onAck(1, 0, rtt); // starts the epoch at t = 0
  assert.ok(Math.abs(cc.k - Math.cbrt((100 * 0.3) / 0.4)) < 1e-9); // ≈ 4.22 s
  // Enough ACKs per RTT (a full window) so that cwnd tracks the curve.
  let t = 0;
  const trace: number[] = [];
  while (t < 8000) {
    t += rtt;
    const w = Math.floor(cc.cwnd);
    for (let i = 0; i < w; i++) cc.onAck(1, t, rtt);
    trace.push(cc.cwnd);
  }
  const at = (ms: number) => trace[ms / rtt - 1];
  assert.ok(at(2000) < 100, `concave part still below W_max: ${at(2000)}`);
  assert.ok(at(4200) > 95 && at(4200) < 106, `near the plateau: ${at(4200)}`);
  assert.ok(at(8000) > 110, `convex part beyond W_max: ${at(8000)}`);
  for (let i = 1; i < trace.length; i++) assert.ok(trace[i] >= trace[i - 1]);
});

Deno.test("cubic: small windows grow at least as fast as Reno (Reno-friendly region)", () => {
  // W_max = 10: the cubic curve is almost flat near 10, Reno grows by ~α per RTT before W_max
  // and by 1 per RTT after; after 100 RTTs Reno alone would be around 7 + 3 + 90.
  const rtt = 100;
  const cc = new Cubic({ initialCwnd: 10 });
  cc.onLoss(0, rtt);
  for (let t = rtt; t <= 100 * rtt; t += rtt) {
    const w = Math.floor(cc.cwnd);
    for (let i = 0; i < w; i++) cc.onAck(1, t, rtt);
  }
  assert.ok(cc.cwnd >= 80, `cwnd ${cc.cwnd}`);
});

Deno.test("cubic: sparse ACKs after idle time do not make the window jump", () => {
  const cc = new Cubic({ initialCwnd: 20 });
  cc.onLoss(0, 100);
  cc.onAck(1, 100, 100);
  const before = cc.cwnd;
  cc.onAck(1, 60_000, 100); // one ACK a minute later
  assert.ok(cc.cwnd <= before * 1.5 + 1e-9, `${before} -> ${cc.cwnd}`);
});

Deno.test("cubic: never above maxCwnd", () => {
  const cc = new Cubic({ initialCwnd: 10, maxCwnd: 50 });
  cc.onAck(1000, 0, 100);
  assert.equal(cc.cwnd, 50);
});
