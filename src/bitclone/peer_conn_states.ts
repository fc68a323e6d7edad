/**
 * The state machine of one BitClone connection as data (h11 style): for each state, what it does
 * with each received command, which of the owner's commands it accepts and which states may follow
 * it; and how an established connection answers each kind of undecodable line. `PeerConn` moves
 * between states only along {@linkcode PEER_CONN_STATES}; `PeerHandshake` and `PeerEstablished`
 * dispatch received lines through it.
 *
 * @module
 */

import { assert } from "../util/mod.ts";
import type { BitcloneMessage, DecodeErrorKind } from "./messages.ts";
import type { PeerConnState } from "./peer_conn_types.ts";

/** A received command as decoded (`blockLayer`: a Project 4 line such as `block`, spec §C.11). */
export type ReceivedCommand = BitcloneMessage["type"];

/**
 * What a state does with a received line:
 * - `handshake`: a step of the handshake (`version`, `verack`);
 * - `report`: an event for the owner, never answered (`reject`, `message`);
 * - `stray`: counted; the 20th before establishment closes the connection;
 * - `redundant`: ignored, the handshake is over;
 * - `serve`: acted on by the established connection (`getaddr`, `addr`, `ping`, `pong`);
 * - `unknown`: answered as an unknown command (one `reject` per distinct word, no points).
 */
export type LineRule = "handshake" | "report" | "stray" | "redundant" | "serve" | "unknown";

/** A command of the connection's owner (the methods of `PeerConn` that send). */
export type LocalCommand = "sendGetaddr" | "sendAddr" | "sendMessage" | "close";

/** One state's row of {@linkcode PEER_CONN_STATES}. */
export interface StateRow {
  /** The rule for each received command; `undefined`: input is no longer read. */
  readonly lines: Readonly<Record<ReceivedCommand, LineRule>> | undefined;
  /** The owner's commands allowed in this state (others throw `TypeError`). */
  readonly commands: readonly LocalCommand[];
  /** The states this one may move to. */
  readonly next: readonly PeerConnState[];
}

/**
 * The legal transitions: `handshaking` → `established` (both sides sent and received `version`
 * and `verack`) → `closed`, or `handshaking` → `closed`.
 *
 * @example Only an established connection sends addresses
 * ```ts
 * import { PEER_CONN_STATES } from "./peer_conn_states.ts";
 * import assert from "node:assert/strict";
 * assert.equal(PEER_CONN_STATES.handshaking.lines?.addr, "stray");
 * assert.equal(PEER_CONN_STATES.established.lines?.addr, "serve");
 * assert.ok(!PEER_CONN_STATES.handshaking.commands.includes("sendAddr"));
 * assert.deepEqual(PEER_CONN_STATES.established.next, ["closed"]);
 * ```
 */
export const PEER_CONN_STATES: Readonly<Record<PeerConnState, StateRow>> = {
  handshaking: {
    lines: {
      version: "handshake",
      verack: "handshake",
      reject: "report",
      message: "report",
      getaddr: "stray",
      addr: "stray",
      ping: "stray",
      pong: "stray",
      blockLayer: "stray",
    },
    commands: ["close"],
    next: ["established", "closed"],
  },
  established: {
    lines: {
      version: "redundant",
      verack: "redundant",
      reject: "report",
      message: "report",
      getaddr: "serve",
      addr: "serve",
      ping: "serve",
      pong: "serve",
      blockLayer: "unknown",
    },
    commands: ["sendGetaddr", "sendAddr", "sendMessage", "close"],
    next: ["closed"],
  },
  closed: { lines: undefined, commands: ["close"], next: [] },
};

/** How an established connection answers an undecodable line: a `reject` and points. */
export interface DecodeErrorAnswer {
  /** The `reject` code. */
  readonly code: number;
  /** The `reject` reason. */
  readonly reason: string;
  /** Misbehaviour points. */
  readonly points: number;
}

/**
 * The answer of an established connection to each kind of decoding failure (spec Part C);
 * `unknown`: one `reject` per distinct command word, no points (spec §C.11). Before establishment
 * every undecodable line is stray, except a malformed first `version`, which closes.
 *
 * @example A line over 64 KiB costs 20 points
 * ```ts
 * import { DECODE_ERROR_ANSWERS } from "./peer_conn_states.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(DECODE_ERROR_ANSWERS.tooLarge, { code: 413, reason: "too large", points: 20 });
 * assert.equal(DECODE_ERROR_ANSWERS.unknownCommand, "unknown");
 * ```
 */
export const DECODE_ERROR_ANSWERS: Readonly<
  Record<DecodeErrorKind, DecodeErrorAnswer | "unknown">
> = {
  unknownCommand: "unknown",
  tooLarge: { code: 413, reason: "too large", points: 20 },
  tooMany: { code: 413, reason: "too large", points: 100 },
  invalidUtf8: { code: 400, reason: "bad request", points: 10 },
  malformed: { code: 400, reason: "bad request", points: 10 },
};

/**
 * The rule of `state` for a received `command`.
 *
 * @throws {AssertionError} When `state` reads no input (`closed`): a bug of the caller.
 * @example `ping` before and after the handshake
 * ```ts
 * import { lineRule } from "./peer_conn_states.ts";
 * import assert from "node:assert/strict";
 * assert.equal(lineRule("handshaking", "ping"), "stray");
 * assert.equal(lineRule("established", "ping"), "serve");
 * ```
 */
export function lineRule(state: PeerConnState, command: ReceivedCommand): LineRule {
  const lines = PEER_CONN_STATES[state].lines;
  assert(lines !== undefined, `a line handled while ${state}`);
  return lines[command];
}

/**
 * Checks that the owner may run `command` in `state`.
 *
 * @param action What the command does, for the message ("send getaddr").
 * @throws {TypeError} When the state does not allow it.
 * @example Sending addresses while handshaking
 * ```ts
 * import { checkCommand } from "./peer_conn_states.ts";
 * import assert from "node:assert/strict";
 * checkCommand("established", "sendAddr", "send addr");
 * assert.throws(() => checkCommand("handshaking", "sendAddr", "send addr"), {
 *   name: "TypeError",
 *   message: "Cannot send addr: the connection is handshaking",
 * });
 * ```
 */
export function checkCommand(state: PeerConnState, command: LocalCommand, action: string): void {
  if (!PEER_CONN_STATES[state].commands.includes(command)) {
    throw new TypeError(`Cannot ${action}: the connection is ${state}`);
  }
}

/**
 * Whether the table allows moving from `from` to `to`.
 *
 * @example No way back
 * ```ts
 * import { canMove } from "./peer_conn_states.ts";
 * import assert from "node:assert/strict";
 * assert.equal(canMove("handshaking", "established"), true);
 * assert.equal(canMove("established", "handshaking"), false);
 * assert.equal(canMove("closed", "established"), false);
 * ```
 */
export function canMove(from: PeerConnState, to: PeerConnState): boolean {
  return PEER_CONN_STATES[from].next.includes(to);
}
