/**
 * The retransmission timeout of one LRP2P sender (spec §8.3, fixing flaws L5 and L6): the RFC 6298
 * estimator (SRTT/RTTVAR, α = 1/8, β = 1/4, K = 4, clock granularity G = 10 ms), sampled on every
 * ACK of a segment transmitted exactly once (Karn's rule is the caller's: it only calls
 * {@linkcode RtoEstimator.sample} for such segments), clamped to [200 ms, 60 s], doubled on every
 * expiry. Pure: all times are milliseconds passed in.
 *
 * @module
 */

/** Tuning of {@linkcode RtoEstimator}; every value is in milliseconds. */
export interface RtoOptions {
  /** RTO before the first sample (RFC 6298 §2.1: 1 s). */
  initialRto?: number;
  /** Lower clamp (spec §8.3: 200 ms). */
  minRto?: number;
  /** Upper clamp (spec §8.3: 60 s). */
  maxRto?: number;
  /** Clock granularity G (10 ms). */
  granularity?: number;
}

/**
 * RFC 6298 retransmission-timeout estimator with exponential backoff.
 *
 * @example First sample, a later one, and backoff
 * ```ts
 * import { RtoEstimator } from "./rto.ts";
 * import assert from "node:assert/strict";
 * const est = new RtoEstimator();
 * assert.equal(est.rto, 1000);               // before any sample
 * est.sample(100);                           // SRTT = 100, RTTVAR = 50
 * assert.equal(est.rto, 300);                // 100 + max(10, 4 * 50)
 * est.backoff();
 * assert.equal(est.rto, 600);
 * est.sample(100);                           // a new sample recomputes (and ends the backoff)
 * assert.equal(est.srtt, 100);
 * assert.equal(est.rto, 250);                // 100 + 4 * 37.5
 * ```
 */
export class RtoEstimator {
  readonly #minRto: number;
  readonly #maxRto: number;
  readonly #g: number;
  #srtt: number | undefined;
  #rttvar = 0;
  #rto: number;
  #backoffs = 0;
  readonly #initialRto: number;

  /** Starts with no sample and RTO = `initialRto` (clamped). */
  constructor(opts: RtoOptions = {}) {
    this.#minRto = opts.minRto ?? 200;
    this.#maxRto = opts.maxRto ?? 60_000;
    this.#g = opts.granularity ?? 10;
    this.#initialRto = this.#clamp(opts.initialRto ?? 1000);
    this.#rto = this.#initialRto;
  }

  /** The timeout without backoff: the estimate (or the initial RTO before any sample). */
  get baseRto(): number {
    return this.#srtt === undefined
      ? this.#initialRto
      : this.#clamp(this.#srtt + Math.max(this.#g, 4 * this.#rttvar));
  }

  /**
   * Ends a backoff without a sample, for an ACK of a retransmitted segment that came back within
   * {@linkcode RtoEstimator.baseRto} of its last transmission: the path answers at the usual pace
   * again. Without this, Karn's rule keeps doubling the RTO across segments while only
   * retransmissions are in flight (the tail of a transfer under heavy loss), up to 60 s.
   *
   * @example
   * ```ts
   * import { RtoEstimator } from "./rto.ts";
   * import assert from "node:assert/strict";
   * const est = new RtoEstimator();
   * est.sample(100);
   * est.backoff();
   * est.backoff();
   * assert.equal(est.rto, 1200);
   * est.endBackoff();
   * assert.equal(est.rto, 300);
   * assert.equal(est.backoffs, 0);
   * ```
   */
  endBackoff(): void {
    this.#backoffs = 0;
    this.#rto = this.baseRto;
  }

  /** The current timeout in ms, backoff included. */
  get rto(): number {
    return this.#rto;
  }

  /** The smoothed RTT in ms, `undefined` before the first sample. */
  get srtt(): number | undefined {
    return this.#srtt;
  }

  /** The RTT variation in ms (0 before the first sample). */
  get rttvar(): number {
    return this.#rttvar;
  }

  /** Expiries since the last sample (each doubled the RTO). */
  get backoffs(): number {
    return this.#backoffs;
  }

  /**
   * Takes one RTT measurement `r` (ms) of a segment sent exactly once (RFC 6298 §2.2, §2.3) and
   * recomputes the RTO, which also ends any backoff. Negative or non-finite samples are ignored.
   *
   * @example RTTVAR follows the variation
   * ```ts
   * import { RtoEstimator } from "./rto.ts";
   * import assert from "node:assert/strict";
   * const est = new RtoEstimator();
   * est.sample(400);                 // SRTT 400, RTTVAR 200
   * est.sample(200);                 // RTTVAR = 0.75*200 + 0.25*200 = 200; SRTT = 0.875*400 + 0.125*200 = 375
   * assert.equal(est.rttvar, 200);
   * assert.equal(est.srtt, 375);
   * assert.equal(est.rto, 1175);
   * ```
   */
  sample(r: number): void {
    if (!Number.isFinite(r) || r < 0) return;
    if (this.#srtt === undefined) {
      this.#srtt = r;
      this.#rttvar = r / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - r);
      this.#srtt = 0.875 * this.#srtt + 0.125 * r;
    }
    this.#backoffs = 0;
    this.#rto = this.#clamp(this.#srtt + Math.max(this.#g, 4 * this.#rttvar));
  }

  /**
   * One expiry of the retransmission timer: RTO = min(2 × RTO, max) (RFC 6298 §5.5).
   *
   * @example Backoff stops at the 60 s ceiling
   * ```ts
   * import { RtoEstimator } from "./rto.ts";
   * import assert from "node:assert/strict";
   * const est = new RtoEstimator({ initialRto: 40_000 });
   * est.backoff();
   * assert.equal(est.rto, 60_000);
   * assert.equal(est.backoffs, 1);
   * ```
   */
  backoff(): void {
    this.#backoffs++;
    this.#rto = Math.min(this.#rto * 2, this.#maxRto);
  }

  #clamp(v: number): number {
    return Math.min(this.#maxRto, Math.max(this.#minRto, v));
  }
}
