/**
 * The simulator's own seeded scenarios, shared by `swarm_test.ts` (fixed seeds) and `swarm.ts`
 * (`deno task sim`, random seeds). Each draws its whole setup from the seed, runs a lossy phase then
 * a healed liveness phase, and throws (with the tail of the trace) when a property fails. Not a test
 * file.
 *
 * @module
 */

import { Prng } from "../../src/util/prng.ts";
import { SimNet, StreamChecker, type StreamEvent, swarmLinkOptions } from "../../src/sim/mod.ts";
import { RetryReceiver, RetrySender } from "./retry_core.ts";

/**
 * What a scenario run leaves behind, for determinism checks.
 *
 * @example Comparing two runs
 * ```ts
 * import { retryScenario } from "./scenarios.ts";
 * console.assert(retryScenario(1).trace === retryScenario(1).trace);
 * ```
 */
export interface ScenarioOutcome {
  /** The full formatted trace. */
  readonly trace: string;
  /** A one-line summary of the run. */
  readonly summary: string;
}

function fail(net: SimNet, message: string): never {
  throw new Error(`${message}\n--- last trace lines ---\n${net.formatTrace({ last: 40 })}`);
}

/**
 * A stop-and-wait sender delivers random messages to a receiver through random swarm faults and
 * an optional partition; after healing, everything must be delivered exactly once, in order.
 *
 * @example One seed
 * ```ts
 * import { retryScenario } from "./scenarios.ts";
 * console.assert(retryScenario(42).summary.includes("messages"));
 * ```
 */
export function retryScenario(seed: number): ScenarioOutcome {
  const root = Prng.seeded(seed);
  const setup = root.fork();
  const net = new SimNet({ prng: root.fork(), defaults: swarmLinkOptions(setup), traceLimit: 1e6 });
  const payloads = Array.from(
    { length: setup.int(1, 30) },
    () => setup.bytes(setup.int(0, 40)),
  );
  const checker = new StreamChecker();
  for (const p of payloads) checker.sent("up", p);
  const receiver = net.add("10.0.0.1:9000", new RetryReceiver());
  const sender = net.add("10.0.0.2:5000", new RetrySender("10.0.0.1:9000", payloads, net.now));
  if (setup.chance(0.3)) {
    const at = setup.int(0, 2000), length = setup.int(0, 3000);
    net.clock.setTimeout(at, () => net.partition(["10.0.0.1:9000"], ["10.0.0.2:5000"]));
    net.clock.setTimeout(at + length, () => net.heal());
  }
  const pump = () => {
    for (let e = receiver.pollEvent(); e; e = receiver.pollEvent()) {
      if (e.type === "message") {
        try {
          checker.delivered("up", e.payload);
        } catch (err) {
          fail(net, (err as Error).message);
        }
      }
    }
    return !sender.done;
  };
  net.runWhile(pump, { maxTime: 10_000 });
  // Liveness: no more faults; everything must arrive soon.
  net.setDefaults({ dropRate: 0, dupRate: 0, corruptRate: 0 });
  net.heal();
  const stop = net.runWhile(pump, { maxTime: net.now + 10_000 });
  pump();
  if (stop !== "done") fail(net, `the sender did not finish after healing (${stop})`);
  try {
    checker.check({ complete: true });
  } catch (err) {
    fail(net, (err as Error).message);
  }
  const s = net.stats;
  return {
    trace: net.formatTrace(),
    summary: `${payloads.length} messages, ${s.send} sent, ${s.drop} lost, ${s.dup} dups, ` +
      `${s.corrupt} corrupted, ${s.partition} partitioned, done at ${net.now.toFixed(1)}ms`,
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * A client writes random bytes at random times to an echo server over a stream with random
 * delays and chunking (and maybe a partition), then ends; it must get exactly its bytes back, then
 * EOF, and both ends must close.
 *
 * @example One seed
 * ```ts
 * import { streamScenario } from "./scenarios.ts";
 * console.assert(streamScenario(42).summary.includes("writes"));
 * ```
 */
export function streamScenario(seed: number): ScenarioOutcome {
  const root = Prng.seeded(seed);
  const setup = root.fork();
  const net = new SimNet({ prng: root.fork(), defaults: swarmLinkOptions(setup), traceLimit: 1e6 });
  const server = "10.0.0.1:7777", clientAddr = "10.0.0.2:40000";
  const serverEvents: StreamEvent["type"][] = [];
  net.listen(server, (end) => {
    end.onEvent((e) => {
      serverEvents.push(e.type);
      if (e.type === "data") end.write(e.bytes);
      if (e.type === "eof") end.end();
    });
  });
  const client = net.connect(clientAddr, server);
  const written: Uint8Array[] = [], echoed: Uint8Array[] = [];
  const clientEvents: StreamEvent["type"][] = [];
  client.onEvent((e) => {
    clientEvents.push(e.type);
    if (e.type === "data") echoed.push(e.bytes);
  });
  const writes = setup.int(0, 12);
  let t = 0;
  for (let i = 0; i < writes; i++) {
    t += setup.int(0, 50);
    const bytes = setup.bytes(setup.int(0, 200));
    written.push(bytes);
    net.clock.setTimer(t, () => client.write(bytes));
  }
  net.clock.setTimer(t + setup.int(0, 50), () => client.end());
  if (setup.chance(0.3)) {
    const at = setup.int(0, 1000);
    net.clock.setTimer(at, () => net.partition([server], [clientAddr]));
    net.clock.setTimer(at + setup.int(0, 2000), () => net.heal());
  }
  const stop = net.runWhile(() => client.state !== "closed", { maxTime: 60_000 });
  if (stop !== "done") fail(net, `the client did not close (${stop})`);
  if (!same(concat(echoed), concat(written))) {
    fail(net, `echoed ${concat(echoed).length}B differ from written ${concat(written).length}B`);
  }
  const expected = ["open", ...echoed.map(() => "data"), "eof"].join();
  if (clientEvents.join() !== expected) {
    fail(net, `client events ${clientEvents.join()} are not ${expected}`);
  }
  if (serverEvents[serverEvents.length - 1] !== "eof") fail(net, "the server did not see EOF");
  if (net.openStreams !== 0) fail(net, `${net.openStreams} streams are still open`);
  const s = net.stats;
  return {
    trace: net.formatTrace(),
    summary: `${writes} writes, ${s.data} chunks delivered, ${s.stall} stalls, ` +
      `closed at ${net.now.toFixed(1)}ms`,
  };
}

/**
 * Every scenario by name.
 *
 * @example Listing them
 * ```ts
 * import { SCENARIOS } from "./scenarios.ts";
 * console.assert(Object.keys(SCENARIOS).join() === "retry,stream");
 * ```
 */
export const SCENARIOS: Readonly<Record<string, (seed: number) => ScenarioOutcome>> = {
  retry: retryScenario,
  stream: streamScenario,
};
