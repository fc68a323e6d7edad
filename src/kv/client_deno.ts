/**
 * A one-request client of the key-value store (what `bitclone kv set|get|members` use): connect
 * (2 s), write the message in one write, read the reply until it is one complete JSON value or the
 * server closes, within a timeout.
 *
 * @module
 */

import { encodeMessage } from "./codec.ts";
import { MessageReader } from "./reader.ts";
import type { KvMessage } from "./types.ts";

/** Why a request got no usable reply. */
export class KvClientError extends Error {
  override name = "KvClientError";
}

/** Options of {@linkcode kvRequest}. */
export interface KvRequestOptions {
  /** Connect timeout. @default {2000} */
  connectTimeoutMs?: number;
  /** Reply timeout (30 s suits a `Setvalue` to a legacy node). @default {30000} */
  replyTimeoutMs?: number;
  /** Largest reply accepted. @default {16 MiB} */
  replyBytesMax?: number;
  signal?: AbortSignal;
}

/**
 * Sends `message` to `hostname:port` and returns the reply, or `undefined` when the server closed
 * without one (as the original does for a `Sync`).
 *
 * @throws {KvClientError} When the server cannot be reached, times out, or replies garbage.
 * @example
 * ```ts ignore
 * const reply = await kvRequest("127.0.0.1", 9000, { type: "Getvalue", key: "a" });
 * ```
 */
export async function kvRequest(
  hostname: string,
  port: number,
  message: KvMessage,
  options: KvRequestOptions = {},
): Promise<KvMessage | undefined> {
  const where = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  const conn = await withTimeout(
    Deno.connect({ hostname, port, transport: "tcp" }),
    options.connectTimeoutMs ?? 2000,
    `no connection to ${where}`,
  ).catch((err) => {
    throw err instanceof KvClientError
      ? err
      : new KvClientError(`no connection to ${where}: ${(err as Error).message}`);
  });
  const reader = new MessageReader({ cap: options.replyBytesMax ?? 16 << 20, extensions: true });
  const timer = setTimeout(() => conn.close(), options.replyTimeoutMs ?? 30_000);
  const abort = () => conn.close();
  options.signal?.addEventListener("abort", abort, { once: true });
  let timedOut = true;
  try {
    await conn.write(encodeMessage(message));
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      const out = n === null ? reader.end() : reader.push(buf.subarray(0, n));
      if (n === null && reader.size === 0) {
        timedOut = false;
        return undefined;
      }
      if (out.kind === "message") {
        timedOut = false;
        return out.message;
      }
      if (out.kind === "invalid") {
        timedOut = false;
        throw new KvClientError(`bad reply from ${where}: ${out.reason}`);
      }
    }
  } catch (err) {
    if (err instanceof KvClientError) throw err;
    throw new KvClientError(
      timedOut && !options.signal?.aborted
        ? `no reply from ${where}`
        : `${where}: ${(err as Error).message}`,
    );
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KvClientError(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
