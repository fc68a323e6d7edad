/**
 * The Part 1 stream cores (the tracker's `Part1ServerCore` and the client's `Part1ClientCore`, each
 * on the simulator's `SimStreamHost`: the production wiring) over the simulator's stream links (seeded, virtual time): many clients at
 * once through links that re-chunk every message into 1-3 byte pieces with random delays, plus
 * silent, slow and garbage clients. Every well-formed request gets exactly the reply the database
 * gives; every other client gets the error reply, silent and slow ones when the 5 s request
 * timeout passes, and none of them delays the others.
 */
import assert from "node:assert/strict";
import { answerRequest } from "../../src/tracker/part1/answer.ts";
import { Part1ClientCore, type Part1ClientOutcome } from "../../src/tracker/part1/client_core.ts";
import { type Part1Exchange, Part1ServerCore } from "../../src/tracker/part1/server_core.ts";
import {
  encodeReply,
  ERROR_REPLY,
  type Part1Query,
  type Part1Reply,
} from "../../src/tracker/part1/wire.ts";
import { DEFAULT_DB } from "../../src/tracker/part1/default_db.ts";
import { replayHint, SimNet, simSeeds, SimStreamHost } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";

const TRACKER = "10.0.0.1:7777";
const TIMEOUT_MS = 5000;
const HINT = "deno test -A tests/tracker/part1_sim_test.ts";

/** Runs the production tracker core on `TRACKER` through the simulator's stream host. */
function simTracker(
  net: SimNet,
): { core: Part1ServerCore; exchanges: Part1Exchange[] } {
  const core = new Part1ServerCore({ requestTimeoutMs: TIMEOUT_MS });
  const exchanges: Part1Exchange[] = [];
  new SimStreamHost(net, core, {
    listen: TRACKER,
    onProgress: () => {
      for (let e = core.pollEvent(); e; e = core.pollEvent()) exchanges.push(e);
    },
  });
  return { core, exchanges };
}

interface ClientResult {
  event?: Part1ClientOutcome;
  at?: number;
}

/** One exchange: the production client core on its own simulated host at `ip`. */
function simExchange(
  net: SimNet,
  ip: string,
  query: Part1Query,
  protocol: 0 | 1 | 2,
): ClientResult {
  const result: ClientResult = {};
  const core = new Part1ClientCore(TRACKER, query, net.now, {
    protocol,
    timeoutMs: 3 * TIMEOUT_MS,
  });
  new SimStreamHost(net, core, {
    ip,
    onProgress: () => {
      const e = core.pollEvent();
      if (e === undefined) return;
      result.event = e;
      result.at = net.now;
    },
  });
  return result;
}

/** A raw client that sends `bytes` (maybe nothing) and records what comes back. */
function rawClient(net: SimNet, from: string, bytes: Uint8Array) {
  const got = {
    bytes: [] as number[],
    eofAt: undefined as number | undefined,
    startedAt: net.now,
  };
  const end = net.connect(from, TRACKER);
  if (bytes.length) end.write(bytes);
  end.onEvent((ev) => {
    if (ev.type === "data") got.bytes.push(...ev.bytes);
    if (ev.type === "eof") {
      got.eofAt = net.now;
      end.end();
    }
  });
  return got;
}

for (const seed of simSeeds([1, 2, 3, 0xbeef])) {
  Deno.test(`Part1ServerCore serves 60 concurrent clients through re-chunking links (seed ${seed})`, () => {
    const root = Prng.seeded(seed);
    const draw = root.fork();
    const net = new SimNet({
      prng: root.fork(),
      defaults: { delayMs: [1, 50], chunkBytesMax: 3 },
    });
    const tracker = simTracker(net);
    const exchanges: {
      query: Part1Query;
      result: ClientResult;
      startedAt: number;
    }[] = [];
    const odd: { kind: string; got: ReturnType<typeof rawClient> }[] = [];
    for (let i = 0; i < 60; i++) {
      const startAt = draw.int(0, 1000);
      const ip = `10.0.1.${i}`;
      net.clock.setTimer(startAt, () => {
        const query: Part1Query = draw.chance(0.2)
          ? { type: "size" }
          : { type: "item", index: draw.int(-20, 20) };
        const protocol = draw.pick([0, 1, 2] as const);
        exchanges.push({
          query,
          result: simExchange(net, ip, query, protocol),
          startedAt: net.now,
        });
      });
    }
    const oddClients: [string, Uint8Array][] = [
      ["silent", new Uint8Array()],
      ["silent", new Uint8Array()],
      ["slow", new TextEncoder().encode("REGIS")],
      ["slow", Uint8Array.of(0x80, 0x02, 0x4a, 0xff)],
      ["garbage", new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n")],
      ["garbage", new TextEncoder().encode("c__builtin__\nlen\n(S'abc'\ntR.")],
    ];
    oddClients.forEach(([kind, bytes], i) => {
      net.clock.setTimer(draw.int(0, 500), () => {
        odd.push({ kind, got: rawClient(net, `10.0.2.${i}:40000`, bytes) });
      });
    });
    const stop = net.runWhile(
      () =>
        exchanges.length < 60 || exchanges.some((x) => !x.result.event) ||
        odd.length < 6 ||
        odd.some((o) => o.got.eofAt === undefined),
      { maxTime: 60_000 },
    );
    const hint = `${replayHint(seed, HINT)}\n${net.formatTrace({ last: 20 })}`;
    assert.equal(stop, "done", hint);

    for (const { query, result, startedAt } of exchanges) {
      assert.ok(
        result.event?.type === "reply",
        `${JSON.stringify(query)}: ${hint}`,
      );
      const expected: Part1Reply = answerRequest(DEFAULT_DB, query);
      assert.deepEqual(
        encodeReply(result.event.reply),
        encodeReply(expected),
        hint,
      );
      // Well-formed requests never wait for anyone else's timeout.
      assert.ok(
        result.at! - startedAt < 1000,
        `took ${result.at! - startedAt} ms: ${hint}`,
      );
    }
    for (const { kind, got } of odd) {
      assert.deepEqual(
        Uint8Array.from(got.bytes),
        ERROR_REPLY,
        `${kind}: ${hint}`,
      );
      const took = got.eofAt! - got.startedAt;
      if (kind === "garbage") {
        assert.ok(took < 1000, `garbage answered after ${took} ms`);
      } else {assert.ok(
          took >= TIMEOUT_MS && took < TIMEOUT_MS + 1000,
          `${kind}: ${took} ms`,
        );}
    }
    // Let the last connections end: the clients have closed, the tracker lingers at most 1 s.
    net.runUntil(net.now + 2000);
    const s = tracker.core.stats();
    assert.equal(s.replies.size + s.replies.item + s.replies.error, 66, hint);
    assert.equal(s.failed, 0, hint);
    // Each exchange is reported when its connection ends: every client has closed by now.
    assert.equal(tracker.exchanges.length, 66, hint);
    assert.ok(tracker.exchanges.every((e) => e.written), hint);
    assert.equal(s.active, 0, hint);
  });
}
