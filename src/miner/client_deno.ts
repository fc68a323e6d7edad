/**
 * The request client (spec `miner.md` §5.3, §6): the adapter that runs the sans-I/O
 * {@linkcode RequestCore} on a UDP socket with the one UDP driver, one connection attempt after
 * the other as the core says (a fresh socket each), and reports what the core reports. Every
 * protocol decision — the Request, retrying a connect, what counts as the answer, how long to wait
 * for the close — is the core's. The command line prints `Result <hash> <nonce>` or
 * `Disconnected`.
 *
 * With `onProgress`, the Request carries the `"Progress":true` extension (see `message.ts`): a
 * reference server ignores it, ours then sends Progress messages, which are passed to
 * `onProgress`. Without it the Request is byte for byte the reference's.
 *
 * @example Asking for the minimum over 0..9999
 * ```ts ignore
 * import { requestMinimum } from "./client_deno.ts";
 * const outcome = await requestMinimum("localhost:9999", "bradfitz", 9999n);
 * console.log(outcome.type === "result" ? `Result ${outcome.hash} ${outcome.nonce}` : "Disconnected");
 * ```
 *
 * @module
 */
import { type LspParams, lspParams } from "../lsp/mod.ts";
import { resolveHostPort } from "../net/mod.ts";
import { UdpDriver } from "../net/mod.ts";
import { checkInt as checkIntIn } from "../util/mod.ts";
import { prngFromEntropy } from "../util/mod.ts";
import {
  encodeMessage,
  MAX_UINT64,
  type ProgressMessage,
  requestFits,
  requestMessage,
} from "./message.ts";
import { RequestCore, type RequestOutcome } from "./request_core.ts";

export type { RequestOutcome } from "./request_core.ts";

/**
 * Options of {@linkcode requestMinimum}.
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

function checkInt(name: string, value: number, min: number, max: number): number {
  return checkIntIn(name, value, min, max, "send the Request");
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
 * import { requestMinimum } from "./client_deno.ts";
 * import assert from "node:assert/strict";
 * const r = await requestMinimum("127.0.0.1:9999", "msg", 2n);
 * assert.deepEqual(r, { type: "result", hash: 4754799531757243342n, nonce: 1n });
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
  const closeTimeoutMillis = options.closeTimeoutMillis;
  if (closeTimeoutMillis !== undefined) {
    checkInt("closeTimeoutMillis", closeTimeoutMillis, 0, 2 ** 31 - 1);
  }
  signal?.throwIfAborted();
  let serverAddr: string;
  try {
    serverAddr = await resolveHostPort(hostport);
  } catch (err) {
    // A bad address or name: retrying won't help.
    if (signal?.aborted) throw signal.reason;
    return { type: "disconnected", detail: err instanceof Error ? err.message : String(err) };
  }
  signal?.throwIfAborted();
  return await new Promise<RequestOutcome>((resolve, reject) => {
    const prng = prngFromEntropy();
    let driver: UdpDriver | undefined;
    let settled = false;
    const finish = (outcome: RequestOutcome | { error: unknown }) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      driver?.close();
      const done = driver?.done ?? Promise.resolve();
      done.then(() => "error" in outcome ? reject(outcome.error) : resolve(outcome), reject);
    };
    const onAbort = () => finish({ error: signal!.reason });
    signal?.addEventListener("abort", onAbort, { once: true });
    const attempt = (n: number) => {
      options.onConnecting?.(n, connectAttempts);
      const core = new RequestCore({
        serverAddr,
        hostport,
        prng,
        now: performance.now(),
        request: bytes,
        wantProgress: bytes !== plain,
        params,
        attempt: n,
        attempts: connectAttempts,
        closeTimeoutMillis,
      });
      const socket = Deno.listenDatagram({
        transport: "udp",
        hostname: serverAddr.startsWith("[") ? "::" : "0.0.0.0",
        port: 0,
      });
      const d: UdpDriver = new UdpDriver({ socket, core, onProgress: () => drain(core, d, n) });
      driver = d;
      d.pump(); // send the Connect, arm the epoch timer
    };
    const drain = (core: RequestCore, d: UdpDriver, n: number) => {
      for (let e = core.pollEvent(); e && !settled; e = core.pollEvent()) {
        switch (e.type) {
          case "connected":
            options.onConnected?.(e.connId);
            break;
          case "progress":
            onProgress?.(e.progress);
            break;
          case "ignored":
            options.onIgnored?.(e.detail);
            break;
          case "retry":
            d.close();
            attempt(n + 1);
            return;
          case "done":
            finish(e.outcome);
            return;
        }
      }
    };
    attempt(1);
  });
}
