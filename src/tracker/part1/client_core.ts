/**
 * One Part 1 client exchange as a sans-I/O {@linkcode StreamCore}: it asks its driver to connect,
 * writes the request, reads the reply with a {@linkcode Part1ClientConn}, and reports one
 * {@linkcode Part1ClientOutcome}. The one TCP driver runs it for `exchangePart1` (`client.ts`),
 * the simulator's stream host in tests.
 *
 * The whole exchange, connecting included, must finish within `timeoutMs` of the core's creation;
 * the core's own timer ends it (the driver's connect timeout is only a backstop, one second
 * later).
 *
 * @module
 */

import type { Addr, ConnId, EventSource, StreamAction, StreamCore } from "../../core/mod.ts";
import { OutputQueue, TimeKeeper } from "../../core/mod.ts";
import { Part1ClientConn, type Part1ClientConnOptions } from "./client_conn.ts";
import type { Part1ReplyFailure } from "./framing.ts";
import type { Part1Query, Part1Reply } from "./wire.ts";

/** How much later than the exchange's deadline the driver's own connect timeout fires. */
const CONNECT_BACKSTOP_MS = 1000;

/**
 * The outcome of an exchange, reported once: the tracker's reply (which may be the error reply),
 * or why there is none: the connection could not be made (`connect`) or broke before a complete
 * reply (`reset`), or the reply could not be read (the {@linkcode Part1ReplyFailure} reasons).
 */
export type Part1ClientOutcome =
  | { readonly type: "reply"; readonly reply: Part1Reply }
  | {
    readonly type: "failed";
    readonly reason: "connect" | "reset" | Part1ReplyFailure;
    readonly detail: string;
  };

/**
 * The client core of one exchange; see the module documentation.
 *
 * @example Asking for the size, the reply in two reads
 * ```ts
 * import { Part1ClientCore } from "./client_core.ts";
 * import assert from "node:assert/strict";
 * const core = new Part1ClientCore("10.0.0.1:7777", { type: "size" }, 0, { timeoutMs: 2000 });
 * const connect = core.pollAction();
 * assert.ok(connect?.type === "connect" && connect.to === "10.0.0.1:7777");
 * core.handleConnected(connect.conn, 5);
 * const write = core.pollAction();
 * assert.ok(write?.type === "write");
 * assert.equal(new TextDecoder().decode(write.bytes), "REGISTER");
 * core.handleData(connect.conn, new TextEncoder().encode("I16"), 6);
 * assert.equal(core.pollEvent(), undefined);
 * core.handleData(connect.conn, new TextEncoder().encode("\n."), 7);
 * assert.deepEqual(core.pollAction(), { type: "close", conn: connect.conn });
 * assert.deepEqual(core.pollEvent(), { type: "reply", reply: { type: "size", count: 16 } });
 * ```
 */
export class Part1ClientCore implements StreamCore, EventSource<Part1ClientOutcome> {
  /** The id of the exchange's one connection. */
  static readonly CONN: ConnId = 1;
  readonly #conn: Part1ClientConn;
  readonly #request: Uint8Array;
  readonly #to: Addr;
  readonly #time: TimeKeeper;
  readonly #actions = new OutputQueue<StreamAction>({ capacity: 8 });
  #phase: "connecting" | "open" | "done" = "connecting";
  #eof = false;
  #outcome: Part1ClientOutcome | undefined;
  #reported = false;
  #nextRefused = Part1ClientCore.CONN + 1;

  /**
   * Starts an exchange: the first action asks to connect to `to`.
   *
   * @param to The tracker, `host:port`.
   * @param query The request.
   * @param now The current time (the deadline counts from here).
   * @param options Timeout, request protocol, reply size cap.
   * @throws {RangeError} When an option is out of range or `now` is not usable.
   */
  constructor(
    to: Addr,
    query: Part1Query,
    now: number,
    options: Part1ClientConnOptions = {},
  ) {
    this.#time = new TimeKeeper(now);
    this.#conn = new Part1ClientConn(now, options);
    this.#request = this.#conn.send(query, now);
    this.#to = to;
    this.#actions.push({
      type: "connect",
      conn: Part1ClientCore.CONN,
      to,
      timeoutMs: (options.timeoutMs ?? 5000) + CONNECT_BACKSTOP_MS,
    });
  }

  /** {@inheritDoc StreamCore.handleAccept} */
  handleAccept(_remote: Addr, _local: Addr, now: number): ConnId {
    this.#time.advance(now);
    const id = this.#nextRefused++; // a client never listens: refuse anything that comes
    this.#actions.push({ type: "close", conn: id });
    return id;
  }

  /** {@inheritDoc StreamCore.handleConnected} */
  handleConnected(conn: ConnId, now: number): void {
    now = this.#time.advance(now);
    if (conn !== Part1ClientCore.CONN || this.#phase !== "connecting") return;
    this.#conn.handleTimeout(now);
    this.#phase = "open";
    this.#actions.push({ type: "write", conn, bytes: this.#request });
    this.#check();
  }

  /** {@inheritDoc StreamCore.handleData} */
  handleData(conn: ConnId, bytes: Uint8Array, now: number): void {
    now = this.#time.advance(now);
    if (conn !== Part1ClientCore.CONN || this.#phase !== "open" || this.#eof) {
      return;
    }
    this.#conn.receiveData(bytes, now);
    this.#check();
  }

  /** {@inheritDoc StreamCore.handleEof} */
  handleEof(conn: ConnId, now: number): void {
    now = this.#time.advance(now);
    if (conn !== Part1ClientCore.CONN || this.#phase !== "open") return;
    this.#eof = true;
    this.#conn.receiveEof(now);
    this.#check();
  }

  /** {@inheritDoc StreamCore.handleError} */
  handleError(conn: ConnId, reason: string, now: number): void {
    now = this.#time.advance(now);
    if (conn !== Part1ClientCore.CONN || this.#phase === "done") return;
    const phase = this.#phase;
    this.#phase = "done"; // the driver forgot the connection: no close is needed
    this.#conn.handleTimeout(now);
    if (phase === "connecting") {
      const event = this.#conn.nextEvent();
      if (typeof event === "object") {
        return this.#finish(this.#timeoutOr(event));
      }
      const prefix = `cannot connect to ${this.#to}: `;
      const detail = reason.startsWith(prefix) ? reason.slice(prefix.length) : reason;
      return this.#finish({ type: "failed", reason: "connect", detail });
    }
    this.#conn.receiveEof(now); // a reset after a complete reply still counts
    const event = this.#conn.nextEvent();
    if (typeof event === "object" && event.type === "reply") {
      return this.#finish(event);
    }
    this.#finish({
      type: "failed",
      reason: "reset",
      detail: `the connection was reset before a complete reply (${reason})`,
    });
  }

  /** {@inheritDoc StreamCore.handleTick} */
  handleTick(now: number): void {
    now = this.#time.advance(now);
    if (this.#phase === "done") return;
    this.#conn.handleTimeout(now);
    this.#check();
  }

  /** {@inheritDoc StreamCore.pollAction} */
  pollAction(): StreamAction | undefined {
    return this.#actions.shift();
  }

  /** {@inheritDoc EventSource.pollEvent} */
  pollEvent(): Part1ClientOutcome | undefined {
    if (this.#outcome === undefined || this.#reported) return undefined;
    this.#reported = true;
    return this.#outcome;
  }

  /** {@inheritDoc StreamCore.nextTimeout} */
  nextTimeout(): number | undefined {
    return this.#phase === "done" ? undefined : this.#conn.nextTimeout();
  }

  /** Finishes once the reply (or why there is none) is known, closing the connection. */
  #check(): void {
    const event = this.#conn.nextEvent();
    if (typeof event !== "object") return;
    const connecting = this.#phase === "connecting";
    this.#phase = "done";
    this.#actions.push({ type: "close", conn: Part1ClientCore.CONN });
    this.#finish(connecting ? this.#timeoutOr(event) : event);
  }

  /** While connecting, only the deadline can end the exchange: say so. */
  #timeoutOr(event: Part1ClientOutcome): Part1ClientOutcome {
    return event.type === "failed" && event.reason === "timeout"
      ? { type: "failed", reason: "timeout", detail: "no connection in time" }
      : event;
  }

  #finish(outcome: Part1ClientOutcome): void {
    this.#outcome ??= outcome;
  }
}
