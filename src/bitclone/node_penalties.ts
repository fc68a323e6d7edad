/**
 * What the peer node holds against addresses: dial back-off after failures (spec §A.8.3) and
 * discouragement after misbehaviour (spec §C.10), each bounded in size.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import { addressScope, parsePeerAddress } from "./address.ts";

const JITTER = 0.2;
const BACKOFF_ENTRIES_MAX = 4096;
const DISCOURAGED_MAX = 4096;

interface Backoff {
  failures: number;
  notBefore: number;
}

/** The back-off timings of {@linkcode Backoffs} (`PeerNodeOptions`). */
export interface BackoffTimes {
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly manualBackoffMaxMs: number;
}

/**
 * Per-address dial back-off: after n failures `min(base × 2^(n−1), max)` (manual peers: their own
 * cap), +0–20 % jitter.
 *
 * @example Two failures
 * ```ts
 * import { Backoffs } from "./node_penalties.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const b = new Backoffs(
 *   { backoffBaseMs: 1000, backoffMaxMs: 60_000, manualBackoffMaxMs: 5000 }, Prng.seeded(1),
 * );
 * b.failure("192.0.2.7:8333", false, 0);
 * assert.equal(b.active("192.0.2.7:8333", 999), true);
 * assert.equal(b.active("192.0.2.7:8333", 1200), false);
 * ```
 */
export class Backoffs {
  readonly #map = new Map<string, Backoff>();
  readonly #times: BackoffTimes;
  readonly #prng: Prng;

  /** No back-off yet; `prng` draws the jitter. */
  constructor(times: BackoffTimes, prng: Prng) {
    this.#times = times;
    this.#prng = prng;
  }

  /** One more failed attempt at `text` (a manual peer when `manual`). */
  failure(text: string, manual: boolean, now: number): void {
    const b = this.#map.get(text) ?? { failures: 0, notBefore: 0 };
    b.failures = Math.min(b.failures + 1, 64);
    const base = Math.min(
      this.#times.backoffBaseMs * 2 ** (b.failures - 1),
      manual ? this.#times.manualBackoffMaxMs : this.#times.backoffMaxMs,
    );
    b.notBefore = now + base * (1 + this.#prng.float() * JITTER);
    this.#map.delete(text); // re-insert: the map stays ordered by last change
    this.#map.set(text, b);
  }

  /** Pushes the next dial of `text` to at least `now + delayMs` (+ jitter); failures unchanged. */
  delay(text: string, delayMs: number, manual: boolean, now: number): void {
    const delay = (manual ? Math.min(delayMs, this.#times.manualBackoffMaxMs) : delayMs) *
      (1 + this.#prng.float() * JITTER);
    const b = this.#map.get(text) ?? { failures: 0, notBefore: 0 };
    b.notBefore = Math.max(b.notBefore, now + delay);
    this.#map.delete(text);
    this.#map.set(text, b);
  }

  /** Whether `text` may not be dialed yet. */
  active(text: string, now: number): boolean {
    const b = this.#map.get(text);
    return b !== undefined && b.notBefore > now;
  }

  /** Forgets `text` (reached, or one of ours). */
  forget(text: string): void {
    this.#map.delete(text);
  }

  /** Keeps the map bounded: past its cap, expired entries (then the oldest) go. */
  prune(now: number): void {
    if (this.#map.size <= BACKOFF_ENTRIES_MAX) return;
    for (const [text, b] of this.#map) {
      if (this.#map.size <= BACKOFF_ENTRIES_MAX / 2) break;
      if (b.notBefore <= now || this.#map.size > BACKOFF_ENTRIES_MAX) this.#map.delete(text);
    }
  }
}

/**
 * Discouraged peers (spec §C.10), keyed by `ip:port` for loopback and private addresses and by
 * the IP for public ones.
 *
 * @example A public address is discouraged by its IP
 * ```ts
 * import { Discouragements } from "./node_penalties.ts";
 * import assert from "node:assert/strict";
 * const d = new Discouragements(1000);
 * d.discourage("198.51.100.7:8333", 0);
 * assert.equal(d.has("198.51.100.7:9999", 500), true);
 * assert.equal(d.has("198.51.100.7:9999", 1000), false);
 * ```
 */
export class Discouragements {
  readonly #map = new Map<string, number>();
  readonly #forMs: number;

  /** None yet; each lasts `forMs`. */
  constructor(forMs: number) {
    this.#forMs = forMs;
  }

  /** Discourages `text` (`ip:port` or a bare IP) from `now` on. */
  discourage(text: string, now: number): void {
    const key = discourageKey(text);
    if (this.#map.size >= DISCOURAGED_MAX && !this.#map.has(key)) {
      this.#map.delete(this.#map.keys().next().value!);
    }
    this.#map.set(key, now + this.#forMs);
  }

  /** Whether `text` is discouraged at `now`. */
  has(text: string, now: number): boolean {
    if (this.#map.size === 0) return false;
    const until = this.#map.get(discourageKey(text));
    return until !== undefined && until > now;
  }

  /** Drops the expired ones. */
  prune(now: number): void {
    for (const [key, until] of this.#map) {
      if (until <= now) this.#map.delete(key);
    }
  }
}

/** Spec §C.10 key: `ip:port` for loopback and private addresses, the IP for public ones. */
function discourageKey(text: string): string {
  const a = parsePeerAddress(text);
  if (a === undefined) return text; // a bare IP
  return addressScope(a) === "public" ? a.ip : text;
}
