/**
 * What one connection lets in of the `addr` lines it receives (spec §C.4): the rate of single-entry
 * lines, a token bucket over entries (1 per second, 10 to start, at most 1000, plus 1000 for each
 * `getaddr` we send), and the screening of each entry (unusable, out of scope, our own address;
 * timestamps made sane).
 *
 * @module
 */

import { addressScope, type PeerAddress, samePeerAddress } from "./address.ts";
import type { AddrEntry } from "./messages.ts";
import type { Millis, ReceivedAddr } from "./peer_conn_types.ts";

const ADDR_TOKENS_START = 10;
const ADDR_TOKENS_PER_SEC = 1;
const ADDR_TOKENS_CAP = 1000;
const ADDR_TOKENS_PER_GETADDR = 1000;
const SINGLE_ADDR_FREE = 4;
const SINGLE_ADDR_WINDOW_MS = 60_000;
/** Single-entry line times remembered at most (the misbehaviour threshold). */
const SINGLE_ADDR_TIMES_MAX = 100;
const ADDR_TIME_FLOOR = 100_000_000;
const ADDR_TIME_FUTURE_SEC = 600;
const ADDR_TIME_FALLBACK_SEC = 5 * 24 * 3600;

/**
 * The per-connection `addr` budget: the token bucket and the single-entry line window.
 *
 * @example The bucket starts with 10 tokens
 * ```ts
 * import { AddrIntake } from "./addr_intake.ts";
 * import assert from "node:assert/strict";
 * const intake = new AddrIntake(0);
 * for (let i = 0; i < 10; i++) assert.equal(intake.takeToken(0), true);
 * assert.equal(intake.takeToken(0), false);
 * assert.equal(intake.takeToken(1000), true);
 * ```
 */
export class AddrIntake {
  #tokens = ADDR_TOKENS_START;
  #stamp: Millis;
  #singles: Millis[] = [];
  #notBatchedRejected = false;

  /** A full starting budget at `now`. */
  constructor(now: Millis) {
    this.#stamp = now;
  }

  /** We sent a `getaddr`: its answer may be large (the bucket may pass its cap). */
  grant(): void {
    this.#tokens += ADDR_TOKENS_PER_GETADDR;
  }

  /**
   * A line with one entry arrived at `now`: `free` within 4 a minute, else `reject` the first
   * time (answer `reject|400`, add points) and `penalise` later (add points only).
   */
  singleEntryLine(now: Millis): "free" | "reject" | "penalise" {
    this.#singles.push(now);
    while (this.#singles.length > 0 && this.#singles[0] <= now - SINGLE_ADDR_WINDOW_MS) {
      this.#singles.shift();
    }
    if (this.#singles.length <= SINGLE_ADDR_FREE) return "free";
    if (this.#singles.length > SINGLE_ADDR_TIMES_MAX) this.#singles.shift();
    if (this.#notBatchedRejected) return "penalise";
    this.#notBatchedRejected = true;
    return "reject";
  }

  /** Takes one token at `now`, or returns `false` when the bucket is empty. */
  takeToken(now: Millis): boolean {
    const elapsedSec = (now - this.#stamp) / 1000;
    this.#stamp = now;
    if (this.#tokens < ADDR_TOKENS_CAP) {
      this.#tokens = Math.min(ADDR_TOKENS_CAP, this.#tokens + elapsedSec * ADDR_TOKENS_PER_SEC);
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** What {@linkcode screenAddrEntries} needs to know about the connection. */
export interface AddrScreen {
  /** The peer's socket address (a loopback peer may send loopback entries). */
  readonly remote: PeerAddress;
  /** Our address as this peer reaches it (never stored). */
  readonly local: PeerAddress;
  /** The peer's own listening address, once known (its self-announcement). */
  readonly listen: PeerAddress | undefined;
  /** Unix seconds now. */
  readonly nowSec: number;
  /** Takes a token of the bucket; `false` drops the entry. */
  readonly takeToken: () => boolean;
}

/**
 * Screens the entries of one `addr` line: drops unusable ones, loopback ones from a peer that is
 * not on loopback and our own address; makes timestamps sane; drops what the bucket does not pay.
 *
 * @example Our own address is dropped
 * ```ts
 * import { screenAddrEntries } from "./addr_intake.ts";
 * import assert from "node:assert/strict";
 * const us = { ip: "192.0.2.1", v6: false, port: 8333 };
 * const them = { ip: "192.0.2.9", v6: false, port: 8333 };
 * const r = screenAddrEntries(
 *   [{ time: 1_700_000_000, address: us }, { time: 1_700_000_000, address: them }],
 *   { remote: them, local: us, listen: them, nowSec: 1_700_000_000, takeToken: () => true },
 * );
 * assert.equal(r.filtered, 1);
 * assert.deepEqual(r.accepted.map((e) => e.selfAnnouncement), [true]);
 * ```
 */
export function screenAddrEntries(
  entries: readonly AddrEntry[],
  screen: AddrScreen,
): { accepted: ReceivedAddr[]; filtered: number; rateLimited: number } {
  const { remote, local, listen, nowSec, takeToken } = screen;
  const loopbackPeer = addressScope(remote) === "loopback";
  const accepted: ReceivedAddr[] = [];
  let filtered = 0, rateLimited = 0;
  for (const e of entries) {
    const scope = addressScope(e.address);
    if (
      scope === "unusable" || (scope === "loopback" && !loopbackPeer) ||
      samePeerAddress(e.address, local)
    ) {
      filtered++;
      continue;
    }
    let time = e.time;
    const clamped = time <= ADDR_TIME_FLOOR || time > nowSec + ADDR_TIME_FUTURE_SEC;
    if (clamped) time = Math.max(0, nowSec - ADDR_TIME_FALLBACK_SEC);
    if (!takeToken()) {
      rateLimited++;
      continue;
    }
    accepted.push({
      address: e.address,
      time,
      clamped,
      selfAnnouncement: listen !== undefined && samePeerAddress(e.address, listen),
    });
  }
  return { accepted, filtered, rateLimited };
}
