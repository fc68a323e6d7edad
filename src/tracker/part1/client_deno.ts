/**
 * The Part 1 client over real TCP (spec §2.5): {@linkcode exchangePart1} runs one request on its
 * own connection, a `Part1ClientCore` (`client_core.ts`) on the one TCP driver;
 * {@linkcode fetchPart1} asks `REGISTER`, then
 * every position, and assembles the message. Works against the original tracker (one request at a
 * time, protocol 0 by default) and against ours.
 *
 * @module
 */

import { parseHostPort } from "../../net/mod.ts";
import { TcpDriver } from "../../net/mod.ts";
import { assembleMessage } from "./assemble.ts";
import type { Part1ClientConnOptions } from "./client_conn.ts";
import { Part1ClientCore, type Part1ClientOutcome } from "./client_core.ts";
import type { Part1Entry } from "./db.ts";
import type { Part1ReplyFailure } from "./framing.ts";
import type { Part1Query, Part1Reply } from "./wire.ts";

/** Bytes asked for per read. */
const READ_CHUNK = 4096;

/**
 * Why an exchange or a fetch failed: the connection could not be made (`connect`) or broke
 * (`reset`), the caller aborted (`aborted`), the tracker answered the error reply
 * (`error-reply`), or its reply could not be read (the {@linkcode Part1ReplyFailure} reasons:
 * `timeout`, `truncated`, `malformed`, `unexpected`, `too-large`).
 */
export type TrackerClientErrorReason =
  | "connect"
  | "reset"
  | "aborted"
  | "error-reply"
  | Part1ReplyFailure;

/**
 * An exchange with the tracker failed; `reason` says how.
 *
 * @example Telling failures apart
 * ```ts
 * import { TrackerClientError } from "./client_deno.ts";
 * import assert from "node:assert/strict";
 * const err = new TrackerClientError("timeout", "Cannot fetch item 3: no reply within 5000 ms");
 * assert.equal(err.reason, "timeout");
 * assert.equal(err.name, "TrackerClientError");
 * ```
 */
export class TrackerClientError extends Error {
  override name = "TrackerClientError";
  /** See {@linkcode TrackerClientErrorReason}. */
  readonly reason: TrackerClientErrorReason;

  /**
   * @param reason How it failed.
   * @param message A one-line message.
   * @param options The cause.
   */
  constructor(
    reason: TrackerClientErrorReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * Options of {@linkcode exchangePart1}.
 */
export interface ExchangePart1Options extends Part1ClientConnOptions {
  /** Abort to give up at once (the connection is closed). */
  signal?: AbortSignal;
}

function describeQuery(query: Part1Query): string {
  return query.type === "size" ? "the size (REGISTER)" : `item ${query.index}`;
}

/**
 * Runs one request on its own connection: connect, send, read the reply, close.
 *
 * @param hostport The tracker, `host:port` (`[v6]:port` for IPv6).
 * @param query The request.
 * @param options Timeout (connecting included), request protocol, reply size cap, signal.
 * @returns The reply; the error reply is returned as `{ type: "error", message }`, not thrown.
 * @throws {TrackerClientError} When no reply could be read (connect, reset, aborted, timeout,
 * truncated, malformed, unexpected, too-large).
 * @throws {TypeError} When `hostport` is not `host:port`.
 *
 * @example Ask for list position 0
 * ```ts ignore
 * import { exchangePart1 } from "./client_deno.ts";
 * const reply = await exchangePart1("127.0.0.1:7777", { type: "item", index: 0 }, { protocol: 2 });
 * if (reply.type === "item") console.log(reply.entry.seq, reply.entry.word);
 * ```
 */
export async function exchangePart1(
  hostport: string,
  query: Part1Query,
  options: ExchangePart1Options = {},
): Promise<Part1Reply> {
  const { signal, ...coreOptions } = options;
  const target = parseHostPort(hostport);
  if (!target) {
    throw new TypeError(
      `Cannot reach the tracker: '${hostport}' is not HOST:PORT`,
    );
  }
  const what = describeQuery(query);
  const fail = (reason: TrackerClientErrorReason, detail: string): never => {
    throw new TrackerClientError(
      reason,
      `Cannot get ${what} from ${hostport}: ${detail}`,
    );
  };
  if (signal?.aborted) fail("aborted", "aborted");
  const core = new Part1ClientCore(
    hostport,
    query,
    performance.now(),
    coreOptions,
  );
  let settle: (outcome: Part1ClientOutcome | "aborted") => void = () => {};
  const outcome = new Promise<Part1ClientOutcome | "aborted">((resolve) => settle = resolve);
  const onAbort = () => settle("aborted");
  signal?.addEventListener("abort", onAbort, { once: true });
  // A dial still pending at the end is cancelled, and awaited, so that nothing outlives the call.
  const dialing = new AbortController();
  const dials: Promise<unknown>[] = [];
  const driver = new TcpDriver({
    core,
    readBytes: READ_CHUNK,
    connect: (o) => {
      const opening = Deno.connect({ ...o, signal: dialing.signal });
      dials.push(opening.catch(() => {}));
      return opening;
    },
    onProgress: () => {
      const o = core.pollEvent();
      if (o !== undefined) settle(o);
    },
  });
  try {
    const result = await outcome;
    if (result === "aborted") return fail("aborted", "aborted");
    if (result.type === "reply") return result.reply;
    return fail(result.reason, result.detail);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    dialing.abort();
    driver.close();
    await driver.done;
    await Promise.allSettled(dials);
  }
}

/**
 * Options of {@linkcode fetchPart1}.
 */
export interface FetchPart1Options extends ExchangePart1Options {
  /**
   * The largest size accepted from `REGISTER` (1 to 65536): a bigger one fails as `unexpected`.
   *
   * @default 4096
   */
  maxItems?: number;
  /** Called after each item is fetched, in order. */
  onItem?: (position: number, entry: Part1Entry) => void;
}

/**
 * What {@linkcode fetchPart1} got.
 */
export interface FetchPart1Result {
  /** The size the tracker announced. */
  readonly count: number;
  /** The entries in list order (position i at index i). */
  readonly entries: readonly Part1Entry[];
  /** The words sorted by SEQNUM, joined with single spaces. */
  readonly message: string;
  /** SEQNUMs in `0..count-1` that no entry carried. */
  readonly missing: readonly number[];
  /** SEQNUMs that more than one entry carried. */
  readonly duplicates: readonly number[];
}

/**
 * Fetches the whole database and assembles the message (spec §2.5): `REGISTER`, then one
 * connection per position `0..n-1`, one at a time (the original serves one client at a time).
 *
 * @param hostport The tracker, `host:port`.
 * @param options Per-exchange options, the size bound and a progress callback.
 * @returns The entries and the message.
 * @throws {TrackerClientError} When an exchange fails; `error-reply` when the tracker answered
 * its error reply (`'Bad request'`), with the request named in the message.
 * @throws {TypeError} When `hostport` is not `host:port`.
 * @throws {RangeError} When an option is out of range.
 *
 * @example Print the message of a tracker
 * ```ts ignore
 * import { fetchPart1 } from "./client_deno.ts";
 * const { message } = await fetchPart1("127.0.0.1:7777");
 * console.log(message);
 * ```
 */
export async function fetchPart1(
  hostport: string,
  options: FetchPart1Options = {},
): Promise<FetchPart1Result> {
  const { maxItems = 4096, onItem, ...exchangeOptions } = options;
  if (!Number.isInteger(maxItems) || maxItems < 1 || maxItems > 65536) {
    throw new RangeError(
      `Cannot fetch: maxItems must be 1..65536, got ${maxItems}`,
    );
  }
  const errorReply = (what: string, message: string): never => {
    throw new TrackerClientError(
      "error-reply",
      `Cannot get ${what} from ${hostport}: the tracker answered '${message}'`,
    );
  };
  const size = await exchangePart1(hostport, { type: "size" }, exchangeOptions);
  if (size.type === "error") {
    return errorReply("the size (REGISTER)", size.message);
  }
  if (size.type !== "size") {
    throw new TrackerClientError(
      "unexpected",
      `Cannot get the size from ${hostport}: no size`,
    );
  }
  if (size.count > maxItems) {
    throw new TrackerClientError(
      "unexpected",
      `Cannot fetch from ${hostport}: it announces ${size.count} items, more than ${maxItems}`,
    );
  }
  const entries: Part1Entry[] = [];
  for (let position = 0; position < size.count; position++) {
    const reply = await exchangePart1(hostport, {
      type: "item",
      index: position,
    }, exchangeOptions);
    if (reply.type === "error") {
      return errorReply(`item ${position}`, reply.message);
    }
    if (reply.type !== "item") {
      throw new TrackerClientError(
        "unexpected",
        `Cannot get item ${position}: not an item`,
      );
    }
    entries.push(reply.entry);
    onItem?.(position, reply.entry);
  }
  const { message, missing, duplicates } = assembleMessage(entries, size.count);
  return { count: size.count, entries, message, missing, duplicates };
}
