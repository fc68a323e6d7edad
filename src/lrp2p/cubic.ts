/**
 * CUBIC congestion control (RFC 9438) for one LRP2P sender (spec §8.3), with windows counted in
 * segments: C = 0.4, β = 0.7, fast convergence, slow start below `ssthresh`, `t` measured from the
 * start of the current congestion-avoidance epoch (i.e. from the last congestion event), the
 * Reno-friendly estimate of RFC 9438 §4.3 (W_est grows by α·acked/cwnd per ACK, α = 3(1−β)/(1+β)
 * until W_est reaches W_max, then 1: the per-ACK form of RFC 8312's W_max·β + α·t/RTT, which
 * cannot jump after an idle period), and at most one window reduction per RTT. Pure: times are
 * milliseconds passed in.
 *
 * @module
 */

/** Tuning of {@linkcode Cubic}. */
export interface CubicOptions {
  /** Initial window in segments (default 10, as RFC 6928). */
  initialCwnd?: number;
  /** Largest window in segments (default 65533, the Go receive ring's usable span). */
  maxCwnd?: number;
  /** CUBIC's C in segments/s³ (default 0.4). */
  c?: number;
  /** Multiplicative decrease factor β (default 0.7). */
  beta?: number;
}

/**
 * The CUBIC window of one sender.
 *
 * @example Slow start, one reduction per RTT, then cubic growth
 * ```ts
 * import { Cubic } from "./cubic.ts";
 * import assert from "node:assert/strict";
 * const cc = new Cubic({ initialCwnd: 10 });
 * cc.onAck(10, 0, 100);                        // slow start: +1 per acked segment
 * assert.equal(cc.cwnd, 20);
 * assert.equal(cc.onLoss(1000, 100), true);    // 20 * 0.7
 * assert.equal(cc.cwnd, 14);
 * assert.equal(cc.onLoss(1050, 100), false);   // same RTT: no second reduction
 * assert.equal(cc.cwnd, 14);
 * cc.onAck(1, 2000, 100);                      // congestion avoidance starts its epoch
 * cc.onAck(1, 6000, 100);
 * assert.ok(cc.cwnd > 14 && cc.cwnd <= 21);
 * ```
 */
export class Cubic {
  readonly #c: number;
  readonly #beta: number;
  readonly #alpha: number;
  readonly #maxCwnd: number;
  #cwnd: number;
  #ssthresh = Infinity;
  #wMax = 0;
  #epochStart: number | undefined;
  #wEst = 0;
  #origin = 0;
  #k = 0;
  #lastReduction: number | undefined;

  /** A window of `initialCwnd` segments in slow start. */
  constructor(opts: CubicOptions = {}) {
    this.#c = opts.c ?? 0.4;
    this.#beta = opts.beta ?? 0.7;
    this.#alpha = 3 * (1 - this.#beta) / (1 + this.#beta);
    this.#maxCwnd = opts.maxCwnd ?? 65533;
    this.#cwnd = Math.min(opts.initialCwnd ?? 10, this.#maxCwnd);
  }

  /** The congestion window in segments (fractional; the sender uses its floor). */
  get cwnd(): number {
    return this.#cwnd;
  }

  /** The slow-start threshold in segments (`Infinity` until the first congestion event). */
  get ssthresh(): number {
    return this.#ssthresh;
  }

  /** W_max: the window just before the last reduction (after fast convergence). */
  get wMax(): number {
    return this.#wMax;
  }

  /** K in seconds: the time from the epoch start to the plateau at W_max. */
  get k(): number {
    return this.#k;
  }

  /**
   * `acked` segments were newly acknowledged at `now` (ms), `rtt` the smoothed RTT (ms).
   * Slow start adds one segment per acked segment; congestion avoidance follows RFC 9438 §4.2-4.3.
   *
   * @example The window never shrinks on an ACK
   * ```ts
   * import { Cubic } from "./cubic.ts";
   * import assert from "node:assert/strict";
   * const cc = new Cubic({ initialCwnd: 50 });
   * cc.onLoss(0, 100);
   * let last = cc.cwnd;
   * for (let t = 100; t < 20_000; t += 100) {
   *   cc.onAck(1, t, 100);
   *   assert.ok(cc.cwnd >= last);
   *   last = cc.cwnd;
   * }
   * assert.ok(last > 50);                 // back beyond W_max after K ≈ 3.3 s
   * ```
   */
  onAck(acked: number, now: number, rtt: number): void {
    if (acked <= 0) return;
    if (this.#cwnd < this.#ssthresh) {
      this.#cwnd = Math.min(this.#cwnd + acked, this.#maxCwnd);
      return;
    }
    if (this.#epochStart === undefined) {
      this.#epochStart = now;
      this.#wEst = this.#cwnd;
      this.#origin = Math.max(this.#wMax, this.#cwnd);
      this.#k = Math.cbrt((this.#origin - this.#cwnd) / this.#c);
    }
    const rttS = Math.max(rtt, 1) / 1000;
    const t = Math.max(0, now - this.#epochStart) / 1000;
    const alpha = this.#wEst >= this.#wMax ? 1 : this.#alpha;
    this.#wEst += alpha * acked / this.#cwnd;
    if (this.#wCubic(t) < this.#wEst) {
      // Reno-friendly region: follow the AIMD estimate.
      this.#cwnd = Math.max(this.#cwnd, this.#wEst);
    } else {
      let target = this.#wCubic(t + rttS);
      target = Math.min(Math.max(target, this.#cwnd), 1.5 * this.#cwnd);
      this.#cwnd += ((target - this.#cwnd) / this.#cwnd) * acked;
    }
    this.#cwnd = Math.min(this.#cwnd, this.#maxCwnd);
  }

  /**
   * A loss detected by fast retransmit at `now`: W_max (with fast convergence), ssthresh = cwnd =
   * max(2, β·cwnd), new epoch. Returns false (and changes nothing) within `rtt` ms of the previous
   * reduction: at most one reduction per RTT.
   */
  onLoss(now: number, rtt: number): boolean {
    if (!this.#reduce(now, rtt)) return false;
    this.#cwnd = this.#ssthresh;
    return true;
  }

  /**
   * A retransmission timeout at `now`: the window collapses to one segment (RFC 5681 loss window);
   * W_max and ssthresh are reduced as for a loss unless a reduction happened within `rtt` ms.
   *
   * @example
   * ```ts
   * import { Cubic } from "./cubic.ts";
   * import assert from "node:assert/strict";
   * const cc = new Cubic({ initialCwnd: 20 });
   * cc.onTimeout(0, 100);
   * assert.equal(cc.cwnd, 1);
   * assert.equal(cc.ssthresh, 14);
   * ```
   */
  onTimeout(now: number, rtt: number): void {
    this.#reduce(now, rtt);
    this.#cwnd = 1;
  }

  #reduce(now: number, rtt: number): boolean {
    if (this.#lastReduction !== undefined && now - this.#lastReduction < rtt) return false;
    this.#lastReduction = now;
    const w = this.#cwnd;
    this.#wMax = w < this.#wMax ? w * (1 + this.#beta) / 2 : w; // fast convergence
    this.#ssthresh = Math.max(2, w * this.#beta);
    this.#epochStart = undefined;
    return true;
  }

  #wCubic(t: number): number {
    return this.#c * (t - this.#k) ** 3 + this.#origin;
  }
}
