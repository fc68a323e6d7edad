/**
 * A PeerSocket stopped by its `signal` (Ctrl-C in the commands) ends its connections: a pending
 * read and a pending graceful close return instead of waiting forever.
 */
import assert from "node:assert/strict";
import { socketListen } from "../../src/lrp2p/mod.ts";

/** `p`, or a rejection if it has not settled after `ms` (a liveness check, not a timing one). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never returned`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

Deno.test("socket: aborting the signal ends a pending read and a pending close", async () => {
  const stop = new AbortController();
  const server = await socketListen("127.0.0.1", 0, { signal: stop.signal });
  const client = await socketListen("127.0.0.1", 0);
  try {
    const [a, b] = await Promise.all([
      server.accept(),
      client.connectTo("127.0.0.1", server.addr.port),
    ]);
    const reading = a.read(new Uint8Array(100)).then(() => "ended", (e) => `failed: ${e.message}`);
    const closing = a.close().then(() => "closed");
    stop.abort();
    assert.match(await within(reading, 10_000, "the read"), /ended|failed/);
    assert.equal(await within(closing, 10_000, "the close"), "closed");
    assert.ok(a.closed);
    void b;
  } finally {
    await client.close();
    await server.close();
  }
});
