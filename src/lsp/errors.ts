/**
 * The one error an LSP core throws for a condition callers are expected to catch: a command
 * (`write`, `close`) aimed at a connection that cannot take it. Local misuse of other kinds
 * throws `TypeError` / `RangeError` (a payload over 1000 bytes is a `RangeError`).
 *
 * @module
 */

/**
 * Why a connection refused a command: it never existed (or was forgotten), it is still
 * connecting, it is closing (close() was called), it was closed and drained, or it was lost.
 *
 * @example Switching on a reason
 * ```ts
 * import type { LspConnectionErrorReason } from "./errors.ts";
 * function retryable(reason: LspConnectionErrorReason): boolean {
 *   return reason === "connecting";
 * }
 * console.assert(!retryable("lost"));
 * ```
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
 * const err = new LspConnectionError("write", 3, "lost");
 * console.assert(err.message === "Cannot write: connection 3 is lost");
 * console.assert(err instanceof LspConnectionError && err.reason === "lost");
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
 * const err = new LspConnectError("localhost:9999", 5);
 * console.assert(err.message.includes("localhost:9999"));
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
