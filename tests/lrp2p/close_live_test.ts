/**
 * `close()` closes our side only (§7): it resolves once the peer acknowledged our FIN, while the
 * peer may keep sending; the connection ends when both sides have closed.
 */
import assert from "node:assert/strict";
import { socketListen } from "../../src/lrp2p/socket_deno.ts";

Deno.test("lrp2p live: close() resolves once our FIN is acknowledged; the peer closes later", async () => {
  const server = await socketListen("127.0.0.1", 0);
  const client = await socketListen("127.0.0.1", 0);
  try {
    const [a, b] = await Promise.all([
      server.accept(),
      client.connectTo("127.0.0.1", server.addr.port),
    ]);
    await b.write(new TextEncoder().encode("hello"));
    await b.close(); // used to wait for the peer's FIN forever: the peer has not closed yet
    assert.equal(b.closed, false, "the connection is half closed, not ended");
    const buf = new Uint8Array(64);
    let got = "";
    for (let n = await a.read(buf); n !== null; n = await a.read(buf)) {
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    assert.equal(got, "hello");
    await a.write(new TextEncoder().encode("late reply")); // the half-closed side still reads
    const n = await b.read(buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "late reply");
    await a.close();
    assert.equal(await b.read(buf), null);
    await Promise.all([a.ended(), b.ended()]);
    assert.equal(a.error, undefined);
    assert.equal(b.error, undefined);
  } finally {
    await server.close();
    await client.close();
  }
});

Deno.test("lrp2p live: the socket's close() keeps answering a connection that lingers (its peer's FIN may come again), then closes", async () => {
  const linger = { endpoint: { timings: { lingerMs: 300 } } };
  const server = await socketListen("127.0.0.1", 0, linger);
  const client = await socketListen("127.0.0.1", 0, linger);
  try {
    const [a, b] = await Promise.all([
      server.accept(),
      client.connectTo("127.0.0.1", server.addr.port),
    ]);
    await b.write(new TextEncoder().encode("bye"));
    await b.close();
    const buf = new Uint8Array(16);
    while ((await a.read(buf)) !== null) { /* drained */ }
    await a.close();
    await Promise.all([a.ended(), b.ended()]);
    // both sides finished: the server's end lingers to answer a FIN whose ACK was lost
    assert.equal(server._endpoint.lingering, 1);
    await server.close();
    // before, close() stopped the socket at once and the connection lingered on, unanswering
    assert.equal(server._endpoint.lingering, 0, "close() did not wait for the linger to end");
    assert.equal(a.error, undefined);
    assert.equal(b.error, undefined);
  } finally {
    await server.close();
    await client.close();
  }
});
