/**
 * The request client (spec `miner.md` §5.3, §6): connect, send one `Request(data, 0, maxNonce)`,
 * wait for the first Result or for the loss of the connection, close (waiting at most about one
 * epoch), and report which. The command line prints `Result <hash> <nonce>` or `Disconnected`.
 *
 * A connect that gets no answer is tried once more with a fresh socket (`specs/lsp.md` §16: a
 * lost Connect-Ack against the reference server); a connection that cannot be made at all is
 * reported as disconnected. With `onProgress`, the Request carries the `"Progress":true`
 * extension (see `message.ts`): a reference server ignores it, ours then sends Progress messages,
 * which are passed to `onProgress`. Without it the Request is byte for byte the reference's.
 *
 * @example Asking for the minimum over 0..9999
 * ```ts ignore
 * import { requestMinimum } from "./client.ts";
 * const outcome = await requestMinimum("localhost:9999", "bradfitz", 9999n);
 * console.log(outcome.type === "result" ? `Result ${outcome.hash} ${outcome.nonce}` : "Disconnected");
 * ```
 *
 * @module
 */
import { connect, type LspClient } from "../lsp/client.ts";
import { LspConnectError, LspConnectionError } from "../lsp/errors.ts";
import { type LspParams, lspParams } from "../lsp/params.ts";
import { prngFromEntropy } from "../util/entropy.ts";
import {
  encodeMessage,
  MAX_UINT64,
  type ProgressMessage,
  readMessage,
  requestFits,
  requestMessage,
} from "./message.ts";
import { checkInt as checkIntIn } from "../util/checks.ts";

/**
 * Options of {@linkcode requestMinimum}.
 *
 * @example Progress reports
 * ```ts
 * import type { RequestMinimumOptions } from "./client.ts";
 * const options: RequestMinimumOptions = {
 *   onProgress: (p) => console.error(`${p.searched} searched`),
 * };
 * console.assert(typeof options.onProgress === "function");
 * ```
 */
export interface RequestMinimumOptions {
  /** LSP parameters; missing fields take the reference defaults (K 5, δ 2000 ms, ω 1, B 0, M 1). */
  params?: Partial<LspParams>;
  /**
   * Ask for Progress messages and receive them here (only our server sends them). Without it
   * the Request is exactly the reference's.
   *
   * @default undefined
   */
  onProgress?: (progress: ProgressMessage) => void;
  /**
   * Connection attempts when the server does not answer (each lasts up to EpochLimit epochs),
   * 1 … 10.
   *
   * @default 2
   */
  connectAttempts?: number;
  /**
   * Longest wait for the close after the Result, in milliseconds; then the connection is dropped.
   *
   * @default {the epoch length}
   */
  closeTimeoutMillis?: number;
  /** Abort to give up: the connection is dropped and the promise rejects with the reason. */
  signal?: AbortSignal;
  /**
   * Called before each connection attempt (1-based, of `attempts`): a connect to a server that
   * does not answer lasts EpochLimit epochs (10 s with the defaults) per attempt.
   */
  onConnecting?: (attempt: number, attempts: number) => void;
  /** Called once connected, with the connection's id (for tests and tools). */
  onConnected?: (connId: number) => void;
  /** Called for each message that is neither a Result nor a Progress (ignored otherwise). */
  onIgnored?: (detail: string) => void;
}

/**
 * What {@linkcode requestMinimum} found: the Result, or that the connection was lost (or never
 * made) before one arrived.
 *
 * @example Printing it as the reference client does
 * ```ts
 * import type { RequestOutcome } from "./client.ts";
 * const line = (o: RequestOutcome) =>
 *   o.type === "result" ? `Result ${o.hash} ${o.nonce}` : "Disconnected";
 * console.assert(line({ type: "result", hash: 7n, nonce: 1n }) === "Result 7 1");
 * ```
 */
export type RequestOutcome =
  | { readonly type: "result"; readonly hash: bigint; readonly nonce: bigint }
  | { readonly type: "disconnected"; readonly detail: string };

function checkInt(name: string, value: number, min: number, max: number): number {
  return checkIntIn(name, value, min, max, "send the Request");
}

/** Settles when `promise` does or after `ms`, whichever comes first (the timer is cleared). */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends `Request(data, 0, maxNonce)` to the server at `hostport` and waits for the answer.
 *
 * @param hostport The server, `host:port`.
 * @param data The message to hash.
 * @param maxNonce The last nonce (the range is `0..maxNonce`, both included), a uint64.
 * @param options Progress, LSP parameters, retries, cancellation.
 * @returns The Result, or `disconnected` when the connection was lost before it or could not be
 *   made. Rejects with `signal.reason` when aborted.
 * @throws {TypeError} When `data` is not a string or `maxNonce` not a bigint.
 * @throws {RangeError} When `maxNonce` is outside 0..2^64 − 1, the Request would not fit in one
 *   LSP payload, or an option (LSP parameters included) is out of range.
 *
 * @example Against a server on this machine
 * ```ts ignore
 * import { requestMinimum } from "./client.ts";
 * const r = await requestMinimum("127.0.0.1:9999", "msg", 2n);
 * console.assert(r.type !== "result" || r.nonce === 1n);
 * ```
 */
export async function requestMinimum(
  hostport: string,
  data: string,
  maxNonce: bigint,
  options: RequestMinimumOptions = {},
): Promise<RequestOutcome> {
  const { params, onProgress, connectAttempts = 2, signal } = options;
  if (typeof data !== "string") {
    throw new TypeError("Cannot send the Request: data is not a string");
  }
  if (typeof maxNonce !== "bigint") {
    throw new TypeError("Cannot send the Request: maxNonce is not a bigint");
  }
  if (maxNonce < 0n || maxNonce > MAX_UINT64) {
    throw new RangeError(`Cannot send the Request: maxNonce ${maxNonce} is not in 0..2^64-1`);
  }
  if (!requestFits(data, maxNonce)) {
    throw new RangeError("Cannot send the Request: the message is too long for one LSP payload");
  }
  checkInt("connectAttempts", connectAttempts, 1, 10);
  lspParams(params); // throws on bad parameters, before anything is sent
  const plain = encodeMessage(requestMessage(data, 0n, maxNonce));
  let bytes = plain;
  if (onProgress !== undefined) {
    try {
      bytes = encodeMessage(requestMessage(data, 0n, maxNonce, { wantProgress: true }));
    } catch (err) {
      if (!(err instanceof RangeError)) throw err; // no room for the extension: go without
    }
  }
  signal?.throwIfAborted();
  // Our own controller: the caller's abort, or a close that takes too long, drops the connection.
  const drop = new AbortController();
  const onAbort = () => drop.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const prng = prngFromEntropy();
    let client: LspClient | undefined;
    let why = "";
    for (let attempt = 1; attempt <= connectAttempts && client === undefined; attempt++) {
      options.onConnecting?.(attempt, connectAttempts);
      try {
        client = await connect(hostport, {
          isn: prng.int(0, 255),
          params,
          signal: drop.signal,
        });
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        why = err instanceof Error ? err.message : String(err);
        if (!(err instanceof LspConnectError)) break; // a bad address or name: retrying won't help
      }
    }
    if (client === undefined) return { type: "disconnected", detail: why };
    options.onConnected?.(client.connId);
    const closeTimeoutMillis = options.closeTimeoutMillis ?? client.params.epochMillis;
    checkInt("closeTimeoutMillis", closeTimeoutMillis, 0, 2 ** 31 - 1);
    let outcome: RequestOutcome | undefined;
    try {
      client.write(bytes);
      // Bounded by the connection's life: every round awaits one message.
      while (outcome === undefined) {
        let payload: Uint8Array;
        try {
          payload = await client.read();
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          if (!(err instanceof LspConnectionError)) throw err;
          outcome = { type: "disconnected", detail: err.message };
          break;
        }
        const r = readMessage(payload);
        if (r.ok && r.message.type === "result") {
          outcome = { type: "result", hash: r.message.hash, nonce: r.message.nonce };
        } else if (r.ok && r.message.type === "progress") {
          if (onProgress !== undefined && bytes !== plain) onProgress(r.message);
        } else {
          options.onIgnored?.(r.ok ? `a message of type ${r.message.type}` : r.detail);
        }
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!(err instanceof LspConnectionError)) throw err;
      // write() refused: the connection was lost at once.
      outcome = { type: "disconnected", detail: err.message };
    } finally {
      // Close, waiting at most about an epoch for the last Acks; then drop the connection.
      if (!(await within(client.close(), closeTimeoutMillis))) drop.abort();
      await client.done;
    }
    return outcome;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
