/**
 * Helpers of the live LRP2P tests (real UDP sockets on 127.0.0.1): deterministic payloads, a
 * connected pair, reading a connection to its end.
 *
 * @module
 */
import type { LrpConnection, PeerSocket, SocketOptions } from "../../src/lrp2p/socket_deno.ts";
import { socketListen } from "../../src/lrp2p/socket_deno.ts";

/** Close timers short enough for tests (a clean close still exchanges both FINs). */
export const FAST_CLOSE = { closeMs: 3000, lingerMs: 300 };

/** `n` pseudo-random bytes from `seed` (xorshift32), the same on every run. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Whether two byte arrays are equal (fast, without building a diff). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Reads `conn` until the end of the stream; returns every byte. */
export async function readAll(conn: LrpConnection, signal?: AbortSignal): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buf, { signal });
    if (n === null) break;
    parts.push(buf.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Reads exactly `n` bytes (or fewer if the stream ends first). */
export async function readN(conn: LrpConnection, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await conn.read(out.subarray(at));
    if (got === null) return out.subarray(0, at);
    at += got;
  }
  return out;
}

/** Two sockets on 127.0.0.1 and one connection between them. */
export interface Pair {
  server: PeerSocket;
  client: PeerSocket;
  /** The server's end (from `accept`). */
  s: LrpConnection;
  /** The client's end (from `connectTo`). */
  c: LrpConnection;
  /** Closes both sockets. */
  close(): Promise<void>;
}

/** Binds two sockets and connects them. */
export async function pair(
  serverOpts: SocketOptions = {},
  clientOpts: SocketOptions = serverOpts,
): Promise<Pair> {
  const server = await socketListen("127.0.0.1", 0, serverOpts);
  const client = await socketListen("127.0.0.1", 0, clientOpts);
  const [s, c] = await Promise.all([
    server.accept(),
    client.connectTo("127.0.0.1", server.addr.port),
  ]);
  return {
    server,
    client,
    s,
    c,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}
