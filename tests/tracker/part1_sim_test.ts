/**
 * The Part 1 cores over the simulator's stream links (seeded, virtual time): many clients at
 * once through links that re-chunk every message into 1-3 byte pieces with random delays, plus
 * silent, slow and garbage clients. Every well-formed request gets exactly the reply the database
 * gives; every other client gets the error reply, silent and slow ones when the 5 s request
 * timeout passes, and none of them delays the others.
 */
import assert from "node:assert/strict";
import { answerRequest } from "../../src/tracker/part1/answer.ts";
import { Part1ClientConn, type Part1ClientEvent } from "../../src/tracker/part1/client_conn.ts";
import { Part1ServerConn } from "../../src/tracker/part1/server_conn.ts";
import {
  encodeReply,
  ERROR_REPLY,
  type Part1Query,
  type Part1Reply,
} from "../../src/tracker/part1/wire.ts";
import { DEFAULT_DB } from "../../src/tracker/default_db.ts";
import { replayHint, SimNet, simSeeds } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";

const TRACKER = "10.0.0.1:7777";
const TIMEOUT_MS = 5000;
const HINT = "deno test -A tests/tracker/part1_sim_test.ts";

/** Runs a tracker on `TRACKER`: one Part1ServerConn per accepted stream, timers on the clock. */
function simTracker(net: SimNet): { served: number } {
  const stats = { served: 0 };
  net.listen(TRACKER, (end) => {
    const core = new Part1ServerConn(net.now, { requestTimeoutMs: TIMEOUT_MS });
    let timer: number | undefined;
    const drive = () => {
      const e = core.nextEvent();
      if (e === "paused") return;
      if (e === "needData") {
        timer ??= net.clock.setTimer(core.nextTimeout()!, (now) => {
          core.handleTimeout(now);
          drive();
        });
        return;
      }
      if (timer !== undefined) net.clock.cancel(timer);
      end.write(core.send(answerRequest(DEFAULT_DB, e.request)));
      end.end();
      stats.served++;
    };
    end.onEvent((ev) => {
      if (ev.type === "data") core.receiveData(ev.bytes, net.now);
      else if (ev.type === "eof") core.receiveEof(net.now);
      else return;
      drive();
    });
    drive();
  });
  return stats;
}

interface ClientResult {
  event?: Part1ClientEvent;
  at?: number;
}

/** One exchange with a Part1ClientConn over a stream. */
function simExchange(
  net: SimNet,
  from: string,
  query: Part1Query,
  protocol: 0 | 1 | 2,
): ClientResult {
  const result: ClientResult = {};
  const core = new Part1ClientConn(net.now, { protocol, timeoutMs: 3 * TIMEOUT_MS });
  const end = net.connect(from, TRACKER);
  end.write(core.send(query, net.now));
  const check = () => {
    const e = core.nextEvent();
    if (typeof e !== "object") return;
    result.event = e;
    result.at = net.now;
    end.end();
  };
  net.clock.setTimer(core.nextTimeout()!, (now) => {
    core.handleTimeout(now);
    check();
  });
  end.onEvent((ev) => {
    if (core.state === "done") return;
    if (ev.type === "data") core.receiveData(ev.bytes, net.now);
    else if (ev.type === "eof") core.receiveEof(net.now);
    else return;
    check();
  });
  return result;
}

/** A raw client that sends `bytes` (maybe nothing) and records what comes back. */
function rawClient(net: SimNet, from: string, bytes: Uint8Array) {
  const got = { bytes: [] as number[], eofAt: undefined as number | undefined, startedAt: net.now };
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
  Deno.test(`Part1ServerConn serves 60 concurrent clients through re-chunking links (seed ${seed})`, () => {
    const root = Prng.seeded(seed);
    const draw = root.fork();
    const net = new SimNet({
      prng: root.fork(),
      defaults: { delayMs: [1, 50], chunkBytesMax: 3 },
    });
    const tracker = simTracker(net);
    const exchanges: { query: Part1Query; result: ClientResult; startedAt: number }[] = [];
    const odd: { kind: string; got: ReturnType<typeof rawClient> }[] = [];
    for (let i = 0; i < 60; i++) {
      const startAt = draw.int(0, 1000);
      const from = `10.0.1.${i}:40000`;
      net.clock.setTimer(startAt, () => {
        const query: Part1Query = draw.chance(0.2)
          ? { type: "size" }
          : { type: "item", index: draw.int(-20, 20) };
        const protocol = draw.pick([0, 1, 2] as const);
        exchanges.push({
          query,
          result: simExchange(net, from, query, protocol),
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
        exchanges.length < 60 || exchanges.some((x) => !x.result.event) || odd.length < 6 ||
        odd.some((o) => o.got.eofAt === undefined),
      { maxTime: 60_000 },
    );
    const hint = `${replayHint(seed, HINT)}\n${net.formatTrace({ last: 20 })}`;
    assert.equal(stop, "done", hint);

    for (const { query, result, startedAt } of exchanges) {
      assert.ok(result.event?.type === "reply", `${JSON.stringify(query)}: ${hint}`);
      const expected: Part1Reply = answerRequest(DEFAULT_DB, query);
      assert.deepEqual(encodeReply(result.event.reply), encodeReply(expected), hint);
      // Well-formed requests never wait for anyone else's timeout.
      assert.ok(result.at! - startedAt < 1000, `took ${result.at! - startedAt} ms: ${hint}`);
    }
    for (const { kind, got } of odd) {
      assert.deepEqual(Uint8Array.from(got.bytes), ERROR_REPLY, `${kind}: ${hint}`);
      const took = got.eofAt! - got.startedAt;
      if (kind === "garbage") assert.ok(took < 1000, `garbage answered after ${took} ms`);
      else assert.ok(took >= TIMEOUT_MS && took < TIMEOUT_MS + 1000, `${kind}: ${took} ms`);
    }
    assert.equal(tracker.served, 66, hint);
  });
}
