/**
 * The I/O contract shared by the Part 2 ring cores (`RingTracker`, `RingPeer`):
 * a sans-I/O core that owns many short TCP connections, quinn style. The caller (a Deno adapter
 * or the simulator) accepts connections and feeds what happens on them in with `handle*()`; the
 * core asks for connections, writes and closes through {@linkcode TcpAction}s drained with
 * `pollAction()`, reports through `pollEvent()`, and names the next instant it needs
 * `handleTimeout()` with `nextTimeout()`. After every input, drain actions, then events, then
 * re-arm the one timer.
 *
 * Connection ids are numbers the core hands out: for an accepted connection `handleAccept()`
 * returns it, for an outgoing one it comes in the `connect` action. Inputs about an id the core
 * has closed (or never knew) are ignored, so races between a close and a late read are harmless.
 *
 * @module
 */

/**
 * A connection id, unique for the life of a core (never reused).
 *
 * @example
 * ```ts
 * import type { ConnId } from "./tcp_core.ts";
 * const id: ConnId = 1;
 * console.assert(id === 1);
 * ```
 */
export type ConnId = number;

/**
 * What a core asks its caller to do, in order per connection:
 * - `connect`: open a TCP connection to `host:port` and report `handleConnected()` or
 *   `handleError()`;
 * - `write`: write all of `bytes` in one write call (every message fits in one segment);
 * - `close`: close the connection once earlier writes are done; report nothing more about it.
 *
 * @example An adapter's dispatch
 * ```ts
 * import type { TcpAction } from "./tcp_core.ts";
 * function describe(a: TcpAction): string {
 *   switch (a.type) {
 *     case "connect": return `connect #${a.conn} to ${a.host}:${a.port}`;
 *     case "write": return `write ${a.bytes.length} bytes on #${a.conn}`;
 *     case "close": return `close #${a.conn}`;
 *   }
 * }
 * console.assert(describe({ type: "close", conn: 3 }) === "close #3");
 * ```
 */
export type TcpAction =
  | {
    readonly type: "connect";
    readonly conn: ConnId;
    readonly host: string;
    readonly port: number;
  }
  | { readonly type: "write"; readonly conn: ConnId; readonly bytes: Uint8Array }
  | { readonly type: "close"; readonly conn: ConnId };

/**
 * A sans-I/O core that talks over many short TCP connections. Time (`now`) is in milliseconds
 * from any fixed origin and must never go backwards.
 *
 * @typeParam E The core's event type.
 *
 * @example Draining after an input
 * ```ts
 * import type { TcpAction, TcpCore } from "./tcp_core.ts";
 * function drain<E>(core: TcpCore<E>, act: (a: TcpAction) => void, emit: (e: E) => void): void {
 *   for (let a = core.pollAction(); a; a = core.pollAction()) act(a);
 *   for (let e = core.pollEvent(); e; e = core.pollEvent()) emit(e);
 * }
 * console.assert(typeof drain === "function");
 * ```
 */
export interface TcpCore<E> {
  /**
   * A connection was accepted from `remoteHost` (an IP address).
   *
   * @returns The id the core gave it (the core may close it at once when it is over capacity).
   */
  handleAccept(remoteHost: string, now: number): ConnId;
  /** An outgoing connection (asked for by a `connect` action) is established. */
  handleConnected(conn: ConnId, now: number): void;
  /** Bytes arrived on a connection. */
  handleData(conn: ConnId, bytes: Uint8Array, now: number): void;
  /** The remote end closed its sending side (end of file). */
  handleEof(conn: ConnId, now: number): void;
  /** The connection failed: refused, reset, or a write failed. Nothing more comes from it. */
  handleError(conn: ConnId, now: number): void;
  /** Runs the timers due at `now`; a no-op when nothing is due. */
  handleTimeout(now: number): void;
  /** The next action, or `undefined` when there is none. */
  pollAction(): TcpAction | undefined;
  /** The next event, or `undefined` when there is none. */
  pollEvent(): E | undefined;
  /** When `handleTimeout()` is next due, or `undefined` when no timer runs. */
  nextTimeout(): number | undefined;
}
