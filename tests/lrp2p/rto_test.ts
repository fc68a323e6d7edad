// RFC 6298 estimator of the LRP2P sender (spec §8.3): formulas, G, clamps, backoff.
import assert from "node:assert/strict";
import fc from "fast-check";
import { RtoEstimator } from "../../src/lrp2p/rto.ts";

Deno.test("rto: 1 s before any sample, first sample sets SRTT = R and RTTVAR = R/2", () => {
  const e = new RtoEstimator();
  assert.equal(e.rto, 1000);
  assert.equal(e.srtt, undefined);
  e.sample(300);
  assert.equal(e.srtt, 300);
  assert.equal(e.rttvar, 150);
  assert.equal(e.rto, 300 + 4 * 150);
});

Deno.test("rto: later samples follow RFC 6298 §2.3 (RTTVAR before SRTT) for any sequence", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 30 }),
      (rs) => {
        const e = new RtoEstimator();
        let srtt = rs[0], rttvar = rs[0] / 2;
        e.sample(rs[0]);
        for (const r of rs.slice(1)) {
          rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - r);
          srtt = 0.875 * srtt + 0.125 * r;
          e.sample(r);
        }
        assert.equal(e.srtt, srtt);
        assert.equal(e.rttvar, rttvar);
        assert.equal(e.rto, Math.min(60_000, Math.max(200, srtt + Math.max(10, 4 * rttvar))));
      },
    ),
  );
});

Deno.test("rto: the granularity G = 10 ms applies when RTTVAR is tiny, then the 200 ms floor", () => {
  const e = new RtoEstimator({ minRto: 0 });
  e.sample(100);
  for (let i = 0; i < 200; i++) e.sample(100); // RTTVAR decays towards 0
  assert.ok(e.rttvar < 0.01);
  assert.equal(e.rto, 110); // SRTT + G
  const clamped = new RtoEstimator();
  for (let i = 0; i < 200; i++) clamped.sample(100);
  assert.equal(clamped.rto, 200);
});

Deno.test("rto: clamped to 60 s above", () => {
  const e = new RtoEstimator();
  e.sample(50_000);
  assert.equal(e.rto, 60_000);
});

Deno.test("rto: each expiry doubles the RTO up to 60 s; a new sample ends the backoff", () => {
  const e = new RtoEstimator();
  e.sample(100); // 300
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) {
    e.backoff();
    seen.push(e.rto);
  }
  assert.deepEqual(seen, [600, 1200, 2400, 4800, 9600, 19200, 38400, 60000, 60000, 60000]);
  assert.equal(e.backoffs, 10);
  e.sample(100);
  assert.equal(e.backoffs, 0);
  assert.ok(e.rto < 600);
});

Deno.test("rto: negative or non-finite samples are ignored", () => {
  const e = new RtoEstimator();
  e.sample(-1);
  e.sample(NaN);
  e.sample(Infinity);
  assert.equal(e.srtt, undefined);
  assert.equal(e.rto, 1000);
});
