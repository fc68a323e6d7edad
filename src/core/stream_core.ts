/**
 * The contract of a sans-I/O core that talks over many TCP connections (a peer, a server, a
 * client), run alike by the one TCP driver (`src/net/tcp_driver.ts`) and by the simulator's stream
 * host (`src/sim/`).
 *
 * @module
 */

import type { Addr, ConnId, Millis } from "./types.ts";

/**
 * What a stream core asks its driver to do. Per connection, the driver performs them in order:
 * - `connect`: open a TCP connection to `to` (`host:port`; a host name is resolved) within
 *   `timeoutMs`, then report `handleConnected()` or `handleError()`; a `close` while it is still
 *   being opened gives it up;
 * - `write`: write all of `bytes` after the earlier writes;
 * - `shutdown`: after the earlier writes, close the sending side only (half-close);
 * - `close`: after the earlier writes, close the connection; nothing more is reported about it.
 *
 * @example A driver's dispatch
 * ```ts
 * import type { StreamAction } from "./stream_core.ts";
 * import assert from "node:assert/strict";
 * function describe(a: StreamAction): string {
 *   switch (a.type) {
 *     case "connect": return `connect #${a.conn} to ${a.to}`;
 *     case "write": return `write ${a.bytes.length} bytes on #${a.conn}`;
 *     case "shutdown": return `shutdown #${a.conn}`;
 *     case "close": return `close #${a.conn}`;
 *   }
 * }
 * assert.equal(describe({ type: "close", conn: 3 }), "close #3");
 * ```
 */
export type StreamAction =
  | {
    readonly type: "connect";
    readonly conn: ConnId;
    readonly to: Addr;
    readonly timeoutMs: number;
  }
  | { readonly type: "write"; readonly conn: ConnId; readonly bytes: Uint8Array }
  | { readonly type: "shutdown"; readonly conn: ConnId }
  | { readonly type: "close"; readonly conn: ConnId };

/**
 * A sans-I/O stream core. Connection ids are the core's: `handleAccept()` returns the id of an
 * accepted connection, and a `connect` action carries the id of an outgoing one. Inputs about an
 * id the core has closed (or never knew) are ignored, so a late read after a close is harmless.
 * After every input the driver drains `pollAction()`, then the core's events if it has any, then
 * re-arms its one timer at `nextTimeout()`. Time follows {@linkcode TimeKeeper}'s policy.
 *
 * Besides {@linkcode StreamAction}s a core may emit its own actions `A` (save a file, log a line);
 * the driver hands those to its caller.
 *
 * @typeParam A The core's own actions, besides the stream ones.
 *
 * @example A core that writes back what it reads and closes at end of file
 * ```ts
 * import type { StreamAction, StreamCore } from "./stream_core.ts";
 * import { OutputQueue } from "./output_queue.ts";
 * import assert from "node:assert/strict";
 * class Echo implements StreamCore {
 *   #next = 1;
 *   #out = new OutputQueue<StreamAction>();
 *   handleAccept(_remote: string, _local: string, _now: number): number {
 *     return this.#next++;
 *   }
 *   handleConnected(): void {}
 *   handleData(conn: number, bytes: Uint8Array, _now: number): void {
 *     this.#out.push({ type: "write", conn, bytes });
 *   }
 *   handleEof(conn: number, _now: number): void {
 *     this.#out.push({ type: "close", conn });
 *   }
 *   handleError(): void {}
 *   handleTick(): void {}
 *   pollAction(): StreamAction | undefined { return this.#out.shift(); }
 *   nextTimeout(): number | undefined { return undefined; }
 * }
 * const core = new Echo();
 * const id = core.handleAccept("10.0.0.2:5000", "10.0.0.1:7777", 0);
 * core.handleData(id, new Uint8Array([1]), 0);
 * assert.deepEqual(core.pollAction(), { type: "write", conn: id, bytes: new Uint8Array([1]) });
 * ```
 */
export interface StreamCore<A = never> {
  /**
   * A connection from `remote` arrived on the local address `local`.
   *
   * @returns The id the core gives it (the core may close it at once, when over capacity).
   */
  handleAccept(remote: Addr, local: Addr, now: Millis): ConnId;
  /**
   * An outgoing connection asked for by a `connect` action is established; `local` is this side's
   * address of it (`ip:port`: cores that advertise their address read it; drivers always give it).
   */
  handleConnected(conn: ConnId, now: Millis, local?: Addr): void;
  /** Bytes arrived on a connection. */
  handleData(conn: ConnId, bytes: Uint8Array, now: Millis): void;
  /** The remote end closed its sending side (end of file). */
  handleEof(conn: ConnId, now: Millis): void;
  /**
   * The connection failed: refused, timed out, reset, or a write failed or could not be queued.
   * Nothing more comes from it; the core should forget it (no `close` is needed).
   */
  handleError(conn: ConnId, reason: string, now: Millis): void;
  /** Runs the timers due at `now`; a no-op when nothing is due. */
  handleTick(now: Millis): void;
  /** The next action, or `undefined` when there is none. */
  pollAction(): StreamAction | A | undefined;
  /** When `handleTick()` is next due, or `undefined` when no timer runs. */
  nextTimeout(): Millis | undefined;
}

/**
 * Tells a {@linkcode StreamAction} from a core's own action (drivers hand the latter out).
 *
 * @example
 * ```ts
 * import { isStreamAction } from "./stream_core.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isStreamAction({ type: "close", conn: 1 }), true);
 * assert.equal(isStreamAction({ type: "save" }), false);
 * ```
 */
export function isStreamAction<A>(action: StreamAction | A): action is StreamAction {
  const type = (action as { type?: unknown }).type;
  return type === "connect" || type === "write" || type === "shutdown" || type === "close";
}
