/**
 * The one error an LSP core throws for a condition callers are expected to catch: a command
 * (`write`, `close`) aimed at a connection that cannot take it. Local misuse of other kinds
 * throws `TypeError` / `RangeError`; a payload too large for one datagram is the `RangeError`
 * subclass {@linkcode LspPayloadTooLargeError}.
 *
 * @module
 */

/**
 * Why a connection refused a command: it never existed (or was forgotten), it is still
 * connecting, it is closing (close() was called), it was closed and drained, or it was lost.
 */
export type LspConnectionErrorReason = "unknown" | "connecting" | "closing" | "closed" | "lost";

const REASON_TEXT: Readonly<Record<LspConnectionErrorReason, string>> = {
  unknown: "unknown",
  connecting: "still connecting",
  closing: "closing",
  closed: "closed",
  lost: "lost",
};

/**
 * Thrown by `write()` / `close()` of an LSP connection or endpoint that cannot take the
 * command. Carries the ConnID and the reason.
 *
 * @example Catching it
 * ```ts
 * import { LspConnectionError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const err = new LspConnectionError("write", 3, "lost");
 * assert.equal(err.message, "Cannot write: connection 3 is lost");
 * assert.ok(err instanceof LspConnectionError);
 * assert.equal(err.reason, "lost");
 * ```
 */
export class LspConnectionError extends Error {
  override name = "LspConnectionError";
  /** The connection the command was aimed at (0 for a client that is not connected yet). */
  readonly connId: number;
  /** Why the command was refused. */
  readonly reason: LspConnectionErrorReason;

  /**
   * @param action The refused command, e.g. `"write"`.
   * @param connId The connection id.
   * @param reason Why it was refused.
   */
  constructor(action: string, connId: number, reason: LspConnectionErrorReason) {
    super(`Cannot ${action}: connection ${connId} is ${REASON_TEXT[reason]}`);
    this.connId = connId;
    this.reason = reason;
  }
}

/**
 * `connect()` got no answer from the server within EpochLimit epochs.
 *
 * @example
 * ```ts
 * import { LspConnectError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const err = new LspConnectError("localhost:9999", 5);
 * assert.ok(err.message.includes("localhost:9999"));
 * ```
 */
export class LspConnectError extends Error {
  override name = "LspConnectError";
  /** The server that did not answer. */
  readonly hostport: string;
  constructor(hostport: string, epochLimit: number) {
    super(`Cannot connect to ${hostport}: no answer within ${epochLimit} epochs`);
    this.hostport = hostport;
  }
}

/**
 * `write()` refused a payload because its Data message, encoded with the ConnID, SeqNum and
 * Checksum it would carry, is longer than the 1500 bytes a datagram may hold (the reference's
 * read buffer). A `RangeError`: local misuse, nothing was queued and no SeqNum was used.
 *
 * @example Catching it
 * ```ts
 * import { LspPayloadTooLargeError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const err = new LspPayloadTooLargeError(1072, 1502, 1500);
 * assert.ok(err instanceof RangeError);
 * assert.equal(err.payloadBytes, 1072);
 * assert.equal(err.message, "Cannot write: the payload has 1072 bytes; its Data message would take 1502 bytes, more than the 1500 of a datagram");
 * ```
 */
export class LspPayloadTooLargeError extends RangeError {
  override name = "LspPayloadTooLargeError";
  /** The refused payload's length. */
  readonly payloadBytes: number;
  /** The length its Data message would have had (a lower bound when it can never fit). */
  readonly datagramBytes: number;
  /** The datagram limit, 1500. */
  readonly limit: number;

  /**
   * @param payloadBytes The payload's length.
   * @param datagramBytes The encoded Data message's length.
   * @param limit The datagram limit.
   */
  constructor(payloadBytes: number, datagramBytes: number, limit: number) {
    super(
      `Cannot write: the payload has ${payloadBytes} bytes; its Data message would take ` +
        `${datagramBytes} bytes, more than the ${limit} of a datagram`,
    );
    this.payloadBytes = payloadBytes;
    this.datagramBytes = datagramBytes;
    this.limit = limit;
  }
}
