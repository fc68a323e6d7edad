/**
 * The five LSP parameters (spec §8), their reference defaults, and validation.
 *
 * Both ends of a connection are normally configured identically: nothing on the wire negotiates
 * them. The number of Data messages in flight never exceeds `min(windowSize, maxUnackedMessages)`.
 *
 * @module
 */

/**
 * LSP parameters, named like the Go reference's `Params` fields (positional order there:
 * EpochLimit, EpochMillis, WindowSize, MaxBackOffInterval, MaxUnackedMessages).
 */
export interface LspParams {
  /**
   * K: epochs of silence after which a connection is declared lost; also the number of epochs a
   * client keeps trying to connect.
   *
   * @default 5
   */
  readonly epochLimit: number;
  /**
   * δ: epoch length in milliseconds.
   *
   * @default 2000
   */
  readonly epochMillis: number;
  /**
   * ω: sliding-window width, for sending (distance from the oldest unacknowledged message) and
   * for receiving (distance from the oldest message not yet received).
   *
   * @default 1
   */
  readonly windowSize: number;
  /**
   * B: cap on the per-message backoff, in epochs skipped between retransmissions.
   *
   * @default 0
   */
  readonly maxBackOffInterval: number;
  /**
   * M: cap on the number of sent but unacknowledged Data messages.
   *
   * @default 1
   */
  readonly maxUnackedMessages: number;
}

/** Upper bound accepted for `epochLimit` (ours; the reference has none). */
export const MAX_EPOCH_LIMIT = 1_000_000;
/** Upper bound accepted for `epochMillis`: the longest delay a JavaScript timer supports. */
export const MAX_EPOCH_MILLIS = 2 ** 31 - 1;
/** Upper bound accepted for `windowSize`: bounds each connection's out-of-order receive buffer. */
export const MAX_WINDOW_SIZE = 4096;
/** Upper bound accepted for `maxUnackedMessages`. */
export const MAX_UNACKED_MESSAGES = 4096;
/** Upper bound accepted for `maxBackOffInterval`. */
export const MAX_BACKOFF_INTERVAL = 1 << 20;

/**
 * The in-flight bound (`maxInflightBytes`) that `listen()` and `connect()` use unless told
 * otherwise: 32 KiB of Data datagrams per connection, 23 messages of 1,000-byte payloads.
 *
 * Why: Linux gives a UDP socket 212,992 bytes of receive buffer by default
 * (`net.core.rmem_default`), Deno cannot change it (`Deno.listenDatagram` has no option, and
 * `node:dgram`'s `recvBufferSize` only records the number), and the kernel charges each
 * 1,410-byte datagram 2,304 bytes, each Ack 832, holding back up to a quarter of the buffer
 * for datagrams already read. An echo at window 64 puts up to 64 Data and 64 Acks (200 KB) in
 * each socket, and twice the Data on an epoch tick that retransmits them: the kernel drops
 * datagrams and each costs an epoch. With at most 32 KiB in flight each way, a socket holds
 * at most about 23 × (2 × 2,304 + 832) bytes = 125 KB even on a tick. Payloads up to about
 * 180 bytes are not limited below window 100.
 */
export const DEFAULT_MAX_INFLIGHT_BYTES = 32 * 1024;

const LIMITS: Readonly<Record<keyof LspParams, readonly [number, number]>> = {
  epochLimit: [1, MAX_EPOCH_LIMIT],
  epochMillis: [1, MAX_EPOCH_MILLIS],
  windowSize: [1, MAX_WINDOW_SIZE],
  maxBackOffInterval: [0, MAX_BACKOFF_INTERVAL],
  maxUnackedMessages: [1, MAX_UNACKED_MESSAGES],
};

/**
 * Returns a fresh copy of the reference defaults: K 5, δ 2000 ms, ω 1, B 0, M 1.
 *
 * @returns The default parameters.
 *
 * @example Defaults
 * ```ts
 * import { defaultParams } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.equal(defaultParams().windowSize, 1);
 * ```
 */
export function defaultParams(): LspParams {
  return {
    epochLimit: 5,
    epochMillis: 2000,
    windowSize: 1,
    maxBackOffInterval: 0,
    maxUnackedMessages: 1,
  };
}

/**
 * Checks every field: an integer within its range (K ≥ 1, δ ≥ 1, ω ≥ 1, M ≥ 1, B ≥ 0, each
 * below the `MAX_*` bound of this module). Returns a frozen copy holding only the five fields.
 *
 * @param params The parameters to check.
 * @returns A frozen, validated copy.
 * @throws {TypeError} When a field is missing or not a number.
 * @throws {RangeError} When a field is not an integer or is out of range.
 *
 * @example Rejecting a zero window
 * ```ts
 * import { defaultParams, validateParams } from "./params.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => validateParams({ ...defaultParams(), windowSize: 0 }), RangeError);
 * ```
 */
export function validateParams(params: LspParams): LspParams {
  if (typeof params !== "object" || params === null) {
    throw new TypeError("Cannot use LSP params: not an object");
  }
  for (const key of Object.keys(LIMITS) as (keyof LspParams)[]) {
    const value = params[key];
    if (typeof value !== "number") {
      throw new TypeError(`Cannot use LSP params: ${key} is not a number`);
    }
    const [min, max] = LIMITS[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(
        `Cannot use LSP params: ${key} is ${value}, expected an integer in ${min}..${max}`,
      );
    }
  }
  return Object.freeze({
    epochLimit: params.epochLimit,
    epochMillis: params.epochMillis,
    windowSize: params.windowSize,
    maxBackOffInterval: params.maxBackOffInterval,
    maxUnackedMessages: params.maxUnackedMessages,
  });
}

/**
 * Builds validated parameters: the reference defaults with `overrides` applied.
 *
 * @param overrides Fields to change from the defaults.
 * @returns A frozen, validated parameter set.
 * @throws {TypeError} When a given field is not a number.
 * @throws {RangeError} When a given field is out of range.
 *
 * @example The parameters of the ExpBackOff tests (K 100, δ 2000, ω 5, B 4, M 5)
 * ```ts
 * import { lspParams } from "./params.ts";
 * import assert from "node:assert/strict";
 * const p = lspParams({ epochLimit: 100, windowSize: 5, maxBackOffInterval: 4, maxUnackedMessages: 5 });
 * assert.equal(p.epochMillis, 2000);
 * ```
 */
export function lspParams(overrides: Partial<LspParams> = {}): LspParams {
  const merged = { ...defaultParams() } as Record<keyof LspParams, number>;
  for (const key of Object.keys(LIMITS) as (keyof LspParams)[]) {
    if (overrides[key] !== undefined) merged[key] = overrides[key];
  }
  return validateParams(merged);
}
