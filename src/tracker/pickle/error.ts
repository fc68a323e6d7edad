/**
 * The typed errors of the pickle decoder. The decoder returns them and never throws on any input.
 *
 * | `kind`           | Meaning                                                                 |
 * |------------------|-------------------------------------------------------------------------|
 * | `truncated`      | The input ends before STOP; more bytes may complete it ("need more").   |
 * | `unsafe-opcode`  | An opcode that imports, calls or reaches outside the bytes (§5.8).      |
 * | `unknown-opcode` | A byte that is no opcode (or one above the allowed protocol).           |
 * | `limit`          | A configured limit was hit; `limit` names it. More bytes will not help. |
 * | `malformed`      | Anything else that Python would refuse or that breaks a structural rule.|
 *
 * Only `truncated` is retryable: every proper prefix of a valid pickle that fits the limits gives
 * `truncated`, and nothing else does.
 *
 * @module
 */

import type { OpName, UnsafeOpName } from "./opcodes.ts";

/**
 * The names of the decoder's limits (the numeric fields of `DecodePickleOptions`).
 */
export type PickleLimitName =
  | "maxInputBytes"
  | "maxDepth"
  | "maxStackHeight"
  | "maxMemoEntries"
  | "maxContainerItems"
  | "maxTotalItems"
  | "maxStringBytes"
  | "maxLongBytes"
  | "maxIntDigits";

/**
 * Why a pickle was not decoded; `offset` is the position of the opcode that failed (for
 * `truncated`, of the opcode whose argument or whose successor is missing).
 */
export type PickleError =
  | { readonly kind: "truncated"; readonly offset: number; readonly message: string }
  | {
    readonly kind: "unsafe-opcode";
    readonly offset: number;
    /** The refused opcode. */
    readonly opcode: UnsafeOpName;
    readonly message: string;
  }
  | {
    readonly kind: "unknown-opcode";
    readonly offset: number;
    /** The byte found where an opcode belongs. */
    readonly byte: number;
    readonly message: string;
  }
  | {
    readonly kind: "limit";
    readonly offset: number;
    /** The limit that was hit. */
    readonly limit: PickleLimitName;
    readonly message: string;
  }
  | {
    readonly kind: "malformed";
    readonly offset: number;
    /** The opcode being run, when the failure belongs to one. */
    readonly opcode?: OpName;
    readonly message: string;
  };

/**
 * The `kind` of a {@linkcode PickleError}.
 */
export type PickleErrorKind = PickleError["kind"];
