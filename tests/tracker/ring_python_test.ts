/**
 * Mixed rings with the originals' wire behaviour. Python 2 is not available, so
 * `_ring_original.py` (Python 3) re-creates the original tracker and reference peer: the same
 * loops, one recv(1024) per message, Python 2's exact protocol-0 pickles, and the flaws that
 * would expose a wrong message (the tracker's listener dies on a bad request, a peer's server
 * stops on one). Every message the stand-ins receive is checked for byte parity with what Python
 * 2 would have sent for the same value.
 *
 * - our tracker + two original peers + three of ours: all assemble the sentence; an original
 *   peer is killed, our tracker drops it and repairs the ring for both kinds of peer;
 * - the original tracker + two original peers + three of ours: the same, with one of ours killed
 *   and the original tracker doing the pruning.
 */
import assert from "node:assert/strict";
import { type RingPeerNode, startRingPeer } from "../../src/tracker/ring/peer_node_deno.ts";
import { serveRingTracker } from "../../src/tracker/ring/tracker_server_deno.ts";
import { RingProc } from "./_ring_proc.ts";

const SENTENCE = "blue skies and snowy peaks";
const SCRIPT = new URL("./_ring_original.py", import.meta.url).pathname;

async function hasPython(): Promise<boolean> {
  try {
    const out = await new Deno.Command("python3", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch {
    return false;
  }
}
const PYTHON = await hasPython();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(ok: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(25);
  }
}

function originalPeer(handle: string, trackerPort: number): RingProc {
  return new RingProc(handle, "python3", [
    SCRIPT,
    "peer",
    "--handle",
    handle,
    "--port",
    "0",
    "--tracker-port",
    String(trackerPort),
    "--register-delay",
    "0.05",
    "--query-interval",
    "0.05",
  ]);
}

interface OurPeer {
  handle: string;
  stop: AbortController;
  node: RingPeerNode;
}

function ourPeer(handle: string, trackerPort: number, all: AbortSignal): OurPeer {
  const stop = new AbortController();
  const node = startRingPeer({
    handle,
    hostname: "127.0.0.1",
    port: 0,
    trackerPort,
    queryIntervalMs: 30,
    signal: AbortSignal.any([all, stop.signal]),
  });
  return { handle, stop, node };
}

/** An original peer's current neighbour, from its last REGISTERED/NEW NEIGHBOR line. */
function originalNeighbour(p: RingProc): string | undefined {
  const lines = p.stdout.split("\n").flatMap((l) => {
    const m = l.match(/^(?:REGISTERED \S+ NEIGHBOR|NEW NEIGHBOR) (\S+)$/);
    return m ? [m[1]] : [];
  });
  return lines.at(-1);
}

/** The stand-ins saw only Python-2-identical pickles and never broke. */
function assertClean(procs: RingProc[]): void {
  for (const p of procs) {
    assert.doesNotMatch(
      p.stdout,
      /PARITY MISMATCH|SERVER STOPPED|LISTENER CLOSED/,
      `${p.name}:\n${p.stdout}`,
    );
    assert.match(p.stdout, /PARITY ok/, p.name);
  }
}

Deno.test({
  name: "RingTracker with original and TS peers: all converge; a killed original peer is dropped",
  ignore: !PYTHON,
  async fn() {
    const all = new AbortController();
    const tracker = serveRingTracker({
      port: 0,
      pingIntervalMs: 300,
      pingConnectTimeoutMs: 1000,
      pingReplyTimeoutMs: 1000,
      signal: all.signal,
    });
    const originals = ["old1", "old2"].map((h) => originalPeer(h, tracker.port));
    const ours = ["new1", "new2", "new3"].map((h) => ourPeer(h, tracker.port, all.signal));
    const state = () =>
      JSON.stringify(tracker.tracker.peers) + "\n" +
      originals.map((p) => `${p.name}:\n${p.stdout}${p.stderr}`)
        .join("\n");
    try {
      await waitFor(
        () =>
          ours.every((p) => p.node.peer.sentence === SENTENCE) &&
          originals.every((p) => p.stdout.includes(`COMPLETE ${SENTENCE}\n`)),
        20_000,
        state,
      );
      assert.equal(tracker.tracker.peers.length, 5);
      for (const p of originals) {
        assert.match(p.stdout, /PARITY ok REG_INIT/, "our REG_INIT is Python 2's, byte for byte");
      }
      // Our PINGs too (the first round may come after the ring has converged).
      await waitFor(() => originals.every((p) => /PARITY ok PING/.test(p.stdout)), 5_000, state);
      assert.ok(
        originals.some((p) => /PARITY ok QUERY_RESULT/.test(p.stdout)) ||
          originals.some((p) => /PARITY ok QUERY\n/.test(p.stdout)),
        "our peers' QUERY / QUERY_RESULT reached an original",
      );

      const victim = originals[0];
      victim.kill("SIGKILL");
      await victim.exit();
      const healed = () => {
        const list = tracker.tracker.peers;
        if (list.length !== 4 || list.some((p) => p.handle === victim.name)) return false;
        return list.every((entry, i) => {
          const pred = list[(i - 1 + list.length) % list.length];
          const mine = ours.find((p) => p.handle === entry.handle);
          const nbr = mine ? mine.node.peer.neighbour?.handle : originalNeighbour(originals[1]);
          return nbr === pred.handle;
        });
      };
      await waitFor(healed, 10_000, state);
      assertClean(originals);
    } finally {
      all.abort();
      for (const p of originals) p.kill("SIGKILL");
      await Promise.all([
        tracker.done,
        ...ours.map((p) => p.node.done),
        ...originals.map((p) => p.exit()),
      ]);
    }
  },
});

Deno.test({
  name:
    "RingPeer with the original tracker and original peers: all converge; a killed TS peer is pruned",
  ignore: !PYTHON,
  async fn() {
    const all = new AbortController();
    const tracker = new RingProc("tracker", "python3", [
      SCRIPT,
      "tracker",
      "--port",
      "0",
      "--ping-interval",
      "1",
      "--ping-timeout",
      "2",
      "--update-timeout",
      "1",
    ]);
    const originals: RingProc[] = [];
    const ours: OurPeer[] = [];
    const state = () =>
      [tracker, ...originals].map((p) => `${p.name}:\n${p.stdout}${p.stderr}`).join("\n") + "\n" +
      JSON.stringify(
        ours.map((p) => [p.handle, p.node.peer.neighbour, [...p.node.peer.items.keys()]]),
      );
    try {
      const [, port] = await tracker.waitFor(/Tracker listening at 127\.0\.0\.1 @ (\d+)\n/);
      for (const h of ["new1", "old1", "new2", "old2", "new3"]) {
        if (h.startsWith("old")) originals.push(originalPeer(h, Number(port)));
        else ours.push(ourPeer(h, Number(port), all.signal));
      }
      await waitFor(
        () =>
          ours.every((p) => p.node.peer.sentence === SENTENCE) &&
          originals.every((p) => p.stdout.includes(`COMPLETE ${SENTENCE}\n`)),
        20_000,
        state,
      );
      assert.match(tracker.stdout, /PARITY ok REGISTER/);
      const ring = () =>
        tracker.stdout.split("\n").filter((l) => l.startsWith("RING ")).at(-1)!.split(" ").slice(1);
      assert.equal(ring().length, 5, state());

      const victim = ours[1];
      victim.stop.abort();
      await victim.node.done;
      await tracker.waitFor(new RegExp(`^REMOVED ${victim.handle}$`, "m"), 10_000);
      const alive = ours.filter((p) => p !== victim);
      await waitFor(
        () => {
          const list = ring();
          if (list.length !== 4 || list.includes(victim.handle)) return false;
          return list.every((h, i) => {
            const pred = list[(i - 1 + list.length) % list.length];
            const mine = alive.find((p) => p.handle === h);
            const theirs = originals.find((p) => p.name === h);
            return (mine ? mine.node.peer.neighbour?.handle : originalNeighbour(theirs!)) === pred;
          });
        },
        10_000,
        state,
      );
      assertClean([tracker, ...originals]);
    } finally {
      all.abort();
      tracker.kill("SIGKILL");
      for (const p of originals) p.kill("SIGKILL");
      await Promise.all([
        tracker.exit(),
        ...ours.map((p) => p.node.done),
        ...originals.map((p) => p.exit()),
      ]);
    }
  },
});
