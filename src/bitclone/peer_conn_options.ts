/**
 * The options of one BitClone connection checked and given their defaults once, at construction:
 * the fixed part of the connection that its handshake and established states both read.
 *
 * @module
 */

import type { Prng } from "../util/mod.ts";
import type { PeerAddress } from "./address.ts";
import { MAX_LINE_BYTES } from "./framing.ts";
import { MAX_LINE_NONBLOCK_BYTES, randomNonce, type VersionMessage } from "./messages.ts";
import type { Millis, NonceSet, PeerConnOptions, PeerRole } from "./peer_conn_types.ts";

/** {@linkcode PeerConnOptions} with every default filled in and checked (see there). */
export interface PeerConnConfig {
  /** Who dialed. */
  readonly role: PeerRole;
  /** Randomness for ping nonces. */
  readonly prng: Prng;
  /** When the TCP connection opened. */
  readonly openedAt: Millis;
  /** The other end of the socket. */
  readonly remote: PeerAddress;
  /** Our address for this peer. */
  readonly local: PeerAddress;
  /** The manager's pending-outbound nonces. */
  readonly ownNonces: NonceSet | undefined;
  /** Our `version` nonce. */
  readonly nonce: string;
  /** Our user agent. */
  readonly userAgent: string;
  /** Our protocol version. */
  readonly protocolVersion: number;
  /** Our services. */
  readonly services: number;
  /** Our block id. */
  readonly blockId: number;
  /** Unix time in ms minus `now`. */
  readonly unixMillisOffset: number;
  /** Send `getaddr` on establishment. */
  readonly getaddrOnEstablish: boolean;
  /** The handshake deadline after `openedAt`. */
  readonly handshakeTimeoutMs: number;
  /** The ping period once established. */
  readonly pingIntervalMs: number;
  /** Silence that closes an established connection. */
  readonly inactivityTimeoutMs: number;
  /** The `advertiseDue` period (may be `Infinity`). */
  readonly advertiseIntervalMs: number;
  /** As listener, the pause between our `verack` and our `version`. */
  readonly versionReplyDelayMs: number;
  /** The longest line. */
  readonly maxLineBytes: number;
  /** The longest line of any command but `block` (never over `maxLineBytes`). */
  readonly maxLineBytesNonBlock: number;
  /** The most bytes that may wait in `pollTransmit()`. */
  readonly maxQueuedBytes: number;
}

/**
 * Checks `options` and fills in the defaults. Draws the nonce from `prng` when none is given.
 *
 * @throws {TypeError} When a required option is missing or the role is not valid.
 * @throws {RangeError} When a number option is out of range.
 * @example Defaults and a bad timer
 * ```ts
 * import { resolvePeerConnOptions } from "./peer_conn_options.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
 * const base = { role: "inbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a } as const;
 * const config = resolvePeerConnOptions(base);
 * assert.equal(config.handshakeTimeoutMs, 30_000);
 * assert.equal(config.maxLineBytesNonBlock, 65_536);
 * assert.throws(() => resolvePeerConnOptions({ ...base, pingIntervalMs: 0 }), RangeError);
 * ```
 */
export function resolvePeerConnOptions(options: PeerConnOptions): PeerConnConfig {
  if (options === null || typeof options !== "object") {
    throw new TypeError("Cannot create the connection: options are missing");
  }
  const {
    role,
    prng,
    now,
    remoteAddress,
    localAddress,
    userAgent = "bitclone-ts",
    protocolVersion = 3,
    services = 1,
    blockId = 0,
    unixMillisOffset = 0,
    ownNonces,
    getaddrOnEstablish = true,
    handshakeTimeoutMs = 30_000,
    pingIntervalMs = 30_000,
    inactivityTimeoutMs = 90_000,
    advertiseIntervalMs = 30_000,
    versionReplyDelayMs = 50,
    maxLineBytes = MAX_LINE_BYTES,
    maxLineBytesNonBlock = MAX_LINE_NONBLOCK_BYTES,
    maxQueuedBytes = 8_388_608,
  } = options;
  if (role !== "outbound" && role !== "inbound") {
    throw new TypeError(`Cannot create the connection: role ${String(role)} is not valid`);
  }
  if (prng === undefined || typeof prng.u32 !== "function") {
    throw new TypeError("Cannot create the connection: prng is missing");
  }
  checkMillis("now", now);
  checkMillis("unixMillisOffset", unixMillisOffset, true);
  for (
    const [name, v] of [
      ["handshakeTimeoutMs", handshakeTimeoutMs],
      ["pingIntervalMs", pingIntervalMs],
      ["inactivityTimeoutMs", inactivityTimeoutMs],
    ] as const
  ) {
    if (!(v > 0) || !Number.isFinite(v)) {
      throw new RangeError(`Cannot create the connection: ${name} ${v} is not positive`);
    }
  }
  if (!(advertiseIntervalMs > 0)) {
    throw new RangeError(
      `Cannot create the connection: advertiseIntervalMs ${advertiseIntervalMs} is not positive`,
    );
  }
  if (!(versionReplyDelayMs >= 0) || !Number.isFinite(versionReplyDelayMs)) {
    throw new RangeError(
      `Cannot create the connection: versionReplyDelayMs ${versionReplyDelayMs} is negative`,
    );
  }
  for (
    const [name, v] of [
      ["maxLineBytes", maxLineBytes],
      ["maxLineBytesNonBlock", maxLineBytesNonBlock],
      ["maxQueuedBytes", maxQueuedBytes],
    ] as const
  ) {
    if (!Number.isSafeInteger(v) || v < 64) {
      throw new RangeError(`Cannot create the connection: ${name} ${v} is too small`);
    }
  }
  return {
    role,
    prng,
    openedAt: now,
    remote: remoteAddress,
    local: localAddress,
    ownNonces,
    nonce: options.nonce ?? randomNonce(prng),
    userAgent,
    protocolVersion,
    services,
    blockId,
    unixMillisOffset,
    getaddrOnEstablish,
    handshakeTimeoutMs,
    pingIntervalMs,
    inactivityTimeoutMs,
    advertiseIntervalMs,
    versionReplyDelayMs,
    maxLineBytes,
    maxLineBytesNonBlock: Math.min(maxLineBytesNonBlock, maxLineBytes),
    maxQueuedBytes,
  };
}

/**
 * Wall-clock Unix seconds at monotonic `now` (never negative).
 *
 * @example One second after the epoch offset
 * ```ts
 * import { unixSeconds } from "./peer_conn_options.ts";
 * import assert from "node:assert/strict";
 * assert.equal(unixSeconds({ unixMillisOffset: 1_700_000_000_000 }, 1_500), 1_700_000_001);
 * assert.equal(unixSeconds({ unixMillisOffset: -5_000 }, 0), 0);
 * ```
 */
export function unixSeconds(config: Pick<PeerConnConfig, "unixMillisOffset">, now: Millis): number {
  return Math.max(0, Math.floor((now + config.unixMillisOffset) / 1000));
}

/**
 * Our `version` line at `now`.
 *
 * @example The dialer's version
 * ```ts
 * import { ourVersion, resolvePeerConnOptions } from "./peer_conn_options.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const a = { ip: "192.0.2.1", v6: false, port: 4000 };
 * const config = resolvePeerConnOptions({
 *   role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: a, localAddress: a, nonce: "7",
 * });
 * const v = ourVersion(config, 2_000);
 * assert.equal(v.nonce, "7");
 * assert.equal(v.time, 2);
 * ```
 */
export function ourVersion(config: PeerConnConfig, now: Millis): VersionMessage {
  return {
    type: "version",
    version: config.protocolVersion,
    services: config.services,
    time: unixSeconds(config, now),
    recipient: config.remote,
    sender: config.local,
    nonce: config.nonce,
    userAgent: config.userAgent,
    blockId: config.blockId,
  };
}

/**
 * Checks a time: a finite number, not negative unless `allowNegative`.
 *
 * @throws {RangeError} When it is not.
 * @example A time that went missing
 * ```ts
 * import { checkMillis } from "./peer_conn_options.ts";
 * import assert from "node:assert/strict";
 * checkMillis("now", 5);
 * assert.throws(() => checkMillis("now", NaN), RangeError);
 * assert.throws(() => checkMillis("now", -1), RangeError);
 * ```
 */
export function checkMillis(name: string, v: unknown, allowNegative = false): void {
  if (typeof v !== "number" || !Number.isFinite(v) || (!allowNegative && v < 0)) {
    throw new RangeError(`Cannot use ${name}: ${String(v)} is not a valid time`);
  }
}
