/**
 * The ring adapters on real sockets (127.0.0.1, free ports, shortened timers): a tracker and five
 * in-process peers converge on the sentence; one peer is stopped, the tracker's PINGs find it
 * gone, drop it and repair the ring; a raw client's malformed, split and empty requests get the
 * right answers and never stop the tracker.
 */
import assert from "node:assert/strict";
import { type RingPeerNode, startRingPeer } from "../../src/tracker/ring/peer_node_deno.ts";
import type { RingPeerEvent } from "../../src/tracker/ring/peer.ts";
import {
  type RingTrackerServer,
  serveRingTracker,
} from "../../src/tracker/ring/tracker_server_deno.ts";
import { bytesOf, latin1, vector } from "./_ring_helpers.ts";

const SENTENCE = "blue skies and snowy peaks";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `ok` every 20 ms until it holds, or fails after `timeoutMs` with `what()`. */
async function waitFor(ok: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(20);
  }
}

/** One request on a fresh connection: writes `parts` (pausing between them), reads to EOF. */
async function exchange(port: number, parts: Uint8Array[], pauseMs = 30): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (const [i, p] of parts.entries()) {
      if (i > 0) await sleep(pauseMs);
      await conn.write(p);
    }
    if (parts.length === 0) await conn.closeWrite();
    const chunks: number[] = [];
    const buf = new Uint8Array(2048);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(...buf.subarray(0, n));
    }
    return latin1(Uint8Array.from(chunks));
  } finally {
    conn.close();
  }
}

interface RunningPeer {
  handle: string;
  stop: AbortController;
  node: RingPeerNode;
  events: RingPeerEvent[];
}

function healed(tracker: RingTrackerServer, peers: RunningPeer[]): boolean {
  const list = tracker.tracker.peers;
  if (list.length !== peers.length) return false;
  return list.every((entry, i) => {
    const pred = list[(i - 1 + list.length) % list.length];
    const p = peers.find((q) => q.handle === entry.handle);
    const n = p?.node.peer.neighbour;
    return n !== undefined && n.port === pred.port && n.handle === pred.handle &&
      p!.node.port === entry.port;
  });
}

Deno.test("serveRingTracker and startRingPeer: five peers converge, one stops, the ring heals", async () => {
  const stopAll = new AbortController();
  const dropped: string[] = [];
  const tracker = serveRingTracker({
    port: 0,
    pingIntervalMs: 250,
    pingConnectTimeoutMs: 1000,
    pingReplyTimeoutMs: 1000,
    signal: stopAll.signal,
    onEvent: (e) => e.type === "dropped" && dropped.push(e.handle),
  });
  const peers: RunningPeer[] = ["ann", "bob", "cat", "dan", "eve"].map((handle) => {
    const stop = new AbortController();
    const events: RingPeerEvent[] = [];
    const node = startRingPeer({
      handle,
      hostname: "127.0.0.1",
      port: 0,
      trackerPort: tracker.port,
      queryIntervalMs: 20,
      signal: AbortSignal.any([stopAll.signal, stop.signal]),
      onEvent: (e) => events.push(e),
    });
    return { handle, stop, node, events };
  });
  const state = () =>
    JSON.stringify({
      tracker: tracker.tracker.peers,
      peers: peers.map((
        p,
      ) => [p.handle, p.node.port, p.node.peer.neighbour, [...p.node.peer.items.keys()]]),
    });
  try {
    await waitFor(() => peers.every((p) => p.node.peer.sentence === SENTENCE), 15_000, state);
    await waitFor(() => healed(tracker, peers), 5_000, state);
    for (const p of peers) {
      assert.equal(p.events.filter((e) => e.type === "complete").length, 1);
    }
    const victim = peers[2];
    victim.stop.abort();
    await victim.node.done;
    const alive = peers.filter((p) => p !== victim);
    await waitFor(() => healed(tracker, alive), 10_000, state);
    assert.deepEqual(dropped, ["cat"]);
    assert.deepEqual(peers[3].node.peer.neighbour?.handle, "bob", "dan now queries bob");
  } finally {
    stopAll.abort();
    await Promise.all([tracker.done, ...peers.map((p) => p.node.done)]);
  }
});

Deno.test("serveRingTracker answers malformed, split and empty requests and keeps serving", async () => {
  const stop = new AbortController();
  const tracker = serveRingTracker({ port: 0, signal: stop.signal, readTimeoutMs: 300 });
  const BAD = latin1(vector("py2.p2.bad_request_reply"));
  try {
    assert.equal(await exchange(tracker.port, [bytesOf("\x00 garbage")]), BAD);
    assert.equal(await exchange(tracker.port, [bytesOf("c__builtin__\nlen\n(S'abc'\ntR.")]), BAD);
    assert.equal(await exchange(tracker.port, []), BAD, "an empty connection (F1)");
    assert.equal(await exchange(tracker.port, [bytesOf("(S'ECHO'\np0\n")]), BAD, "read timeout");
    const request = vector("py2.p2.echo_request");
    assert.equal(
      await exchange(tracker.port, [request.subarray(0, 9), request.subarray(9)]),
      latin1(vector("py2.p2.echo_reply.str_handle")),
      "a request split across segments (F5)",
    );
    const reply = await exchange(tracker.port, [vector("py3.p2.register.p2")]);
    assert.equal(
      reply,
      "(S'REG_INIT'\np0\nValice\np1\nS'127.0.0.1'\np2\nI9101\nI5\n(I4\nS'peaks'\np3\ntp4\ntp5\n.",
    );
    assert.deepEqual(tracker.tracker.peers.map((p) => [p.handle, p.ip, p.port]), [[
      "alice",
      "127.0.0.1",
      9101,
    ]]);
  } finally {
    stop.abort();
    await tracker.done;
  }
});

Deno.test("startRingPeer answers on its port and refuses to start on a port in use", async () => {
  const stop = new AbortController();
  const node = startRingPeer({
    handle: "solo",
    hostname: "127.0.0.1",
    port: 0,
    trackerPort: 1, // nobody there: REGISTER keeps failing, the server still answers
    registerRetryMs: 100,
    signal: stop.signal,
  });
  try {
    assert.equal(
      await exchange(node.port, [vector("py2.p2.ping")]),
      "(S'PING'\np0\nS'solo'\np1\ntp2\n.",
    );
    assert.equal(
      await exchange(node.port, [vector("py2.p2.query")]),
      latin1(vector("py2.p2.query_result.missing")),
    );
    assert.equal(
      await exchange(node.port, [bytesOf("EXIT!")]),
      "(S'[Peer]'\np0\nS'Bad request'\np1\ntp2\n.",
    );
    assert.throws(
      () => startRingPeer({ handle: "twin", hostname: "127.0.0.1", port: node.port }),
      /address already in use/,
    );
  } finally {
    stop.abort();
    await node.done;
  }
});
