import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import {
  type Addr,
  type DatagramCore,
  type LinkOptions,
  SimNet,
  StreamChecker,
  type TraceRecord,
  type Transmit,
} from "../../src/sim/mod.ts";
import { RetryReceiver, RetrySender } from "./retry_core.ts";

const SERVER = "10.0.0.1:9000";
const CLIENT = "10.0.0.2:5000";
const OTHER = "10.0.0.3:7000";

interface Arrival {
  readonly from: Addr;
  readonly bytes: Uint8Array;
  readonly time: number;
}

/** A net with a collecting server socket and a client socket. */
function setup(seed: number, defaults: LinkOptions = {}) {
  const net = new SimNet({ prng: Prng.seeded(seed), defaults });
  const arrivals: Arrival[] = [];
  const server = net.bind(SERVER, (from, bytes, time) => arrivals.push({ from, bytes, time }));
  const client = net.bind(CLIENT, () => {});
  return { net, arrivals, server, client };
}

/** A 4-byte datagram carrying `i` (big-endian). */
function numbered(i: number, size = 4): Uint8Array {
  const bytes = new Uint8Array(Math.max(4, size));
  new DataView(bytes.buffer).setUint32(0, i);
  return bytes;
}

function numberOf(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
}

function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual.toFixed(4)} is not within ${tolerance} of ${expected}`,
  );
}

// ---- basic delivery -------------------------------------------------------------------------------

Deno.test("SimNet.send() delivers a datagram after the link delay when the link is clean", () => {
  const { net, arrivals, client } = setup(1, { delayMs: [7, 7] });
  client.send(SERVER, Uint8Array.of(1, 2, 3));
  net.runUntil(6.999);
  assert.equal(arrivals.length, 0);
  net.runUntil(100);
  assert.deepEqual(arrivals, [{ from: CLIENT, bytes: Uint8Array.of(1, 2, 3), time: 7 }]);
  assert.deepEqual(net.trace.map((r) => [r.kind, r.time, r.from, r.to, r.size, r.id]), [
    ["send", 0, CLIENT, SERVER, 3, 1],
    ["deliver", 7, CLIENT, SERVER, 3, 1],
  ]);
});

Deno.test("SimNet.send() copies the bytes when the sender reuses its buffer", () => {
  const { net, arrivals, client } = setup(1);
  const buffer = Uint8Array.of(1, 1);
  client.send(SERVER, buffer);
  buffer[0] = 99;
  net.runUntil(10);
  assert.deepEqual(arrivals[0].bytes, Uint8Array.of(1, 1));
});

Deno.test("SimNet.bind() throws TypeError when the address is in use", () => {
  const { net } = setup(1);
  assert.throws(() => net.bind(SERVER, () => {}), TypeError);
  assert.throws(() => net.add(CLIENT, new RetryReceiver()), TypeError);
  assert.throws(() => net.bind("", () => {}), TypeError);
});

Deno.test("SimNet.send() traces an unbound-drop when nobody is bound at the destination", () => {
  const { net, arrivals, client } = setup(1);
  client.send("10.9.9.9:1", Uint8Array.of(1));
  net.runUntil(10);
  assert.equal(arrivals.length, 0);
  assert.deepEqual(net.trace.map((r) => r.kind), ["send", "unbound-drop"]);
  assert.equal(net.stats["unbound-drop"], 1);
  assert.equal(net.stats.deliver, 0);
});

Deno.test("DatagramSocket.close() unbinds so that later arrivals are dropped", () => {
  const { net, arrivals, server, client } = setup(1, { delayMs: [10, 10] });
  client.send(SERVER, Uint8Array.of(1));
  server.close();
  server.close(); // idempotent
  net.runUntil(20);
  assert.equal(arrivals.length, 0);
  assert.equal(net.stats["unbound-drop"], 1);
  assert.throws(() => server.send(CLIENT, Uint8Array.of(1)), TypeError);
  net.bind(SERVER, () => {}); // the address is free again
});

// ---- loss, duplication, delay, corruption, MTU -----------------------------------------------------

Deno.test("SimNet.send() loses about dropRate of datagrams when dropRate is 0.3", () => {
  const { net, arrivals, client } = setup(2, { dropRate: 0.3 });
  const n = 10_000;
  const lost = new Set<number>();
  net.onPacket((r) => {
    if (r.kind === "drop") lost.add(r.id);
  });
  for (let i = 0; i < n; i++) client.send(SERVER, numbered(i));
  net.runUntil(10);
  near(arrivals.length / n, 0.7, 0.02, "delivered ratio");
  assert.equal(net.stats.drop, lost.size);
  assert.equal(net.stats.drop + arrivals.length, n);
  // Packet ids are 1-based in send order; no lost packet arrives.
  for (const a of arrivals) assert.ok(!lost.has(numberOf(a.bytes) + 1));
});

Deno.test("SimNet.send() loses nothing when dropRate is 0 and everything when it is 1", () => {
  const { net, arrivals, client } = setup(3, { dropRate: 0 });
  for (let i = 0; i < 1000; i++) client.send(SERVER, numbered(i));
  net.runUntil(10);
  assert.equal(arrivals.length, 1000);
  net.setDefaults({ dropRate: 1 });
  for (let i = 0; i < 1000; i++) client.send(SERVER, numbered(i));
  net.runUntil(20);
  assert.equal(arrivals.length, 1000);
  assert.equal(net.stats.drop, 1000);
});

Deno.test("SimNet.send() duplicates about dupRate of datagrams when dupRate is 0.2", () => {
  const { net, arrivals, client } = setup(4, { dupRate: 0.2, delayMs: [1, 30] });
  const n = 10_000;
  const duplicated = new Set<number>();
  net.onPacket((r) => {
    if (r.kind === "dup") duplicated.add(r.id);
  });
  for (let i = 0; i < n; i++) client.send(SERVER, numbered(i));
  net.runUntil(100);
  near(net.stats.dup / n, 0.2, 0.02, "dup ratio");
  assert.equal(arrivals.length, n + net.stats.dup);
  const times = new Map<number, number>();
  for (const a of arrivals) times.set(numberOf(a.bytes), (times.get(numberOf(a.bytes)) ?? 0) + 1);
  for (let i = 0; i < n; i++) assert.equal(times.get(i), duplicated.has(i + 1) ? 2 : 1);
});

Deno.test("SimNet.send() draws delays within delayMs and reorders when the range is wide", () => {
  const { net, arrivals, client } = setup(5, { delayMs: [10, 50] });
  const n = 2000;
  for (let i = 0; i < n; i++) net.clock.setTimer(i, () => client.send(SERVER, numbered(i)));
  net.runUntil(n + 100);
  assert.equal(arrivals.length, n);
  let sum = 0, inversions = 0;
  for (let k = 0; k < n; k++) {
    const i = numberOf(arrivals[k].bytes);
    const delay = arrivals[k].time - i;
    assert.ok(delay >= 10 && delay <= 50, `delay ${delay}`);
    sum += delay;
    if (k > 0 && i < numberOf(arrivals[k - 1].bytes)) inversions++;
  }
  near(sum / n, 30, 1, "mean delay");
  assert.ok(inversions > n / 10, `only ${inversions} reorderings`);
});

Deno.test("SimNet.send() never reorders when delayMs min equals max", () => {
  const { net, arrivals, client } = setup(6, { delayMs: [20, 20] });
  const n = 2000;
  for (let i = 0; i < n; i++) {
    net.clock.setTimer(Math.floor(i / 4), () => client.send(SERVER, numbered(i))); // 4 per instant
  }
  net.runUntil(n);
  assert.deepEqual(arrivals.map((a) => numberOf(a.bytes)), Array.from({ length: n }, (_, i) => i));
  for (const a of arrivals) assert.equal(a.time - Math.floor(numberOf(a.bytes) / 4), 20);
});

Deno.test("SimNet.send() corrupts about corruptRate of copies, flipping 1 to 3 bytes, and traces it", () => {
  const { net, arrivals, client } = setup(7, { corruptRate: 0.25 });
  const n = 4000, size = 64;
  const originals: Uint8Array[] = [];
  const corruptIds = new Set<number>();
  net.onPacket((r) => {
    if (r.kind === "corrupt") {
      corruptIds.add(r.id);
      assert.match(r.note ?? "", /^flipped [123]B at \d+(,\d+)*$/);
    }
  });
  for (let i = 0; i < n; i++) {
    const bytes = Prng.seeded(i).bytes(size);
    originals.push(bytes);
    client.send(SERVER, bytes);
  }
  net.runUntil(10);
  assert.equal(arrivals.length, n);
  near(net.stats.corrupt / n, 0.25, 0.02, "corrupt ratio");
  let changed = 0;
  arrivals.forEach((a, k) => {
    const original = originals[k]; // delay is fixed, so arrival order is send order
    assert.equal(a.bytes.length, size);
    const diff = a.bytes.reduce((d, b, j) => d + (b !== original[j] ? 1 : 0), 0);
    assert.ok(diff <= 3);
    assert.equal(diff > 0, corruptIds.has(k + 1), `packet ${k + 1}: ${diff} bytes differ`);
    if (diff > 0) changed++;
  });
  assert.equal(changed, net.stats.corrupt);
});

Deno.test("SimNet.send() leaves the bytes listeners saw as sent intact when corrupting", () => {
  const { net, arrivals, client } = setup(7, { corruptRate: 1, dupRate: 1 });
  const sent: Uint8Array[] = [];
  net.onPacket((r, bytes) => r.kind === "send" && sent.push(bytes!));
  client.send(SERVER, new Uint8Array(16));
  net.runUntil(10);
  assert.equal(arrivals.length, 2);
  assert.ok(arrivals.every((a) => a.bytes.some((b) => b !== 0)));
  assert.notEqual(arrivals[0].bytes, arrivals[1].bytes);
  assert.deepEqual(sent, [new Uint8Array(16)]);
});

Deno.test("SimNet.send() never corrupts an empty datagram", () => {
  const { net, arrivals, client } = setup(7, { corruptRate: 1 });
  client.send(SERVER, new Uint8Array(0));
  client.send(SERVER, new Uint8Array(1));
  net.runUntil(10);
  assert.equal(arrivals[0].bytes.length, 0);
  assert.notDeepEqual(arrivals[1].bytes, new Uint8Array(1));
  assert.equal(net.stats.corrupt, 1);
});

Deno.test("SimNet.send() drops datagrams larger than the mtu and passes those that fit", () => {
  const { net, arrivals, client } = setup(8, { mtu: 100 });
  client.send(SERVER, new Uint8Array(100));
  client.send(SERVER, new Uint8Array(101));
  net.runUntil(10);
  assert.deepEqual(arrivals.map((a) => a.bytes.length), [100]);
  assert.equal(net.stats["mtu-drop"], 1);
  assert.ok(net.formatTrace().includes("mtu-drop 101B pkt#2 (mtu 100)"));
});

Deno.test("SimNet.setLink() changes only the one direction when overriding defaults", () => {
  const { net, arrivals, server, client } = setup(9, { delayMs: [5, 5] });
  const atClient: number[] = [];
  net.remove(CLIENT);
  net.bind(CLIENT, (_from, _bytes, t) => atClient.push(t));
  net.setLink(CLIENT, SERVER, { dropRate: 1 });
  net.setLink(CLIENT, SERVER, { delayMs: [9, 9] }); // merges: still dropping
  assert.equal(net.linkOptions(CLIENT, SERVER).dropRate, 1);
  assert.deepEqual(net.linkOptions(SERVER, CLIENT).delayMs, [5, 5]);
  client.send(SERVER, Uint8Array.of(1));
  server.send(CLIENT, Uint8Array.of(2));
  net.runUntil(10);
  assert.equal(arrivals.length, 0);
  assert.deepEqual(atClient, [5]);
  net.setDefaults({ delayMs: [1, 1] }); // an override keeps its own fields
  assert.deepEqual(net.linkOptions(CLIENT, SERVER).delayMs, [9, 9]);
  assert.deepEqual(net.linkOptions(SERVER, CLIENT).delayMs, [1, 1]);
});

Deno.test("SimNet options throw RangeError when out of range", () => {
  const prng = Prng.seeded(1);
  for (
    const bad of [
      { dropRate: -0.1 },
      { dupRate: 1.5 },
      { corruptRate: NaN },
      { delayMs: [5, 1] as const },
      { delayMs: [-1, 1] as const },
      { delayMs: [0, Infinity] as const },
      { mtu: -1 },
      { chunkBytesMax: 0 },
    ]
  ) {
    assert.throws(() => new SimNet({ prng, defaults: bad }), RangeError, JSON.stringify(bad));
    const net = new SimNet({ prng });
    assert.throws(() => net.setLink(CLIENT, SERVER, bad), RangeError);
    assert.throws(() => net.setDefaults(bad), RangeError);
  }
  assert.throws(() => new SimNet({ prng, traceLimit: -1 }), RangeError);
});

// ---- partitions and the middlebox ------------------------------------------------------------------

Deno.test("SimNet.partition() drops both ways between the groups until heal()", () => {
  const { net, arrivals, server, client } = setup(10);
  const atClient: Uint8Array[] = [];
  const atOther: Uint8Array[] = [];
  net.remove(CLIENT);
  net.bind(CLIENT, (_f, b) => atClient.push(b));
  const other = net.bind(OTHER, (_f, b) => atOther.push(b));
  net.partition([SERVER], [CLIENT]);
  client.send(SERVER, Uint8Array.of(1));
  server.send(CLIENT, Uint8Array.of(2));
  other.send(SERVER, Uint8Array.of(3)); // not in the partition
  server.send(OTHER, Uint8Array.of(4));
  net.runUntil(10);
  assert.deepEqual(arrivals.map((a) => a.bytes[0]), [3]);
  assert.deepEqual(atClient, []);
  assert.deepEqual(atOther.map((b) => b[0]), [4]);
  assert.equal(net.stats.partition, 2);
  net.heal();
  client.send(SERVER, Uint8Array.of(5));
  server.send(CLIENT, Uint8Array.of(6));
  net.runUntil(20);
  assert.deepEqual(arrivals.map((a) => a.bytes[0]), [3, 5]);
  assert.deepEqual(atClient.map((b) => b[0]), [6]);
});

Deno.test("SimNet.heal() heals only the given pairs when given two groups", () => {
  const { net, arrivals, client } = setup(11);
  const other = net.bind(OTHER, () => {});
  net.partition([SERVER], [CLIENT, OTHER]);
  net.heal([SERVER], [CLIENT]);
  client.send(SERVER, Uint8Array.of(1));
  other.send(SERVER, Uint8Array.of(2));
  net.runUntil(10);
  assert.deepEqual(arrivals.map((a) => a.bytes[0]), [1]);
  const atClient: number[] = [];
  net.remove(CLIENT);
  net.bind(CLIENT, (_f, bytes) => atClient.push(bytes[0]));
  net.send(SERVER, CLIENT, Uint8Array.of(9)); // healed both ways
  net.send(SERVER, OTHER, Uint8Array.of(9)); // still cut
  net.runUntil(15);
  assert.deepEqual(atClient, [9]);
  assert.equal(net.stats.partition, 2);
  net.heal([OTHER]); // one group: everything involving OTHER
  other.send(SERVER, Uint8Array.of(3));
  net.runUntil(20);
  assert.deepEqual(arrivals.map((a) => a.bytes[0]), [1, 3]);
});

Deno.test("SimNet.isolate() cuts a node off from everyone, including later addresses", () => {
  const { net, arrivals, client } = setup(12);
  net.isolate(SERVER);
  client.send(SERVER, Uint8Array.of(1));
  const late = net.bind("10.0.0.99:1", () => {});
  late.send(SERVER, Uint8Array.of(2));
  net.runUntil(10);
  assert.equal(arrivals.length, 0);
  assert.equal(net.stats.partition, 2);
  net.heal([SERVER]);
  client.send(SERVER, Uint8Array.of(3));
  net.runUntil(20);
  assert.deepEqual(arrivals.map((a) => a.bytes[0]), [3]);
});

Deno.test("SimNet.setMiddlebox() drops and rewrites datagrams when its verdict says so", () => {
  const { net, arrivals, client } = setup(13);
  const seen: number[] = [];
  net.setMiddlebox((p) => {
    seen.push(p.bytes[0]);
    assert.equal(p.from, CLIENT);
    assert.equal(p.to, SERVER);
    if (p.bytes[0] === 1) return "drop";
    if (p.bytes[0] === 2) return Uint8Array.of(20, 21, 22);
    return undefined;
  });
  for (const b of [1, 2, 3]) client.send(SERVER, Uint8Array.of(b));
  net.runUntil(10);
  assert.deepEqual(seen, [1, 2, 3]);
  assert.deepEqual(arrivals.map((a) => [...a.bytes]), [[20, 21, 22], [3]]);
  assert.equal(net.stats["middlebox-drop"], 1);
  assert.equal(net.stats.rewrite, 1);
  assert.ok(net.formatTrace().includes("rewrite 3B pkt#2"));
  net.setMiddlebox(undefined);
  client.send(SERVER, Uint8Array.of(1));
  net.runUntil(20);
  assert.equal(arrivals.length, 3);
});

Deno.test("SimNet.setMiddlebox() sees datagrams before partitions and random loss", () => {
  const { net, client } = setup(14, { dropRate: 1 });
  let seen = 0;
  net.setMiddlebox(() => void seen++);
  net.isolate(SERVER);
  client.send(SERVER, Uint8Array.of(1));
  assert.equal(seen, 1);
});

// ---- trace ---------------------------------------------------------------------------------------

Deno.test("SimNet.formatTrace() prints one aligned line per event", () => {
  const { net, client } = setup(15, { delayMs: [12, 12] });
  client.send(SERVER, new Uint8Array(64));
  net.runUntil(20);
  assert.equal(
    net.formatTrace(),
    [
      "     0.000ms 10.0.0.2:5000 -> 10.0.0.1:9000 send 64B pkt#1",
      "    12.000ms 10.0.0.2:5000 -> 10.0.0.1:9000 deliver 64B pkt#1",
    ].join("\n"),
  );
  assert.equal(net.formatTrace({ last: 1 }).split("\n")[0], "  … 1 earlier records not shown");
});

Deno.test("SimNet.trace keeps the last traceLimit records and counts the rest when over the cap", () => {
  const net = new SimNet({ prng: Prng.seeded(16), traceLimit: 10 });
  for (let i = 0; i < 25; i++) net.send(CLIENT, SERVER, Uint8Array.of(i));
  assert.equal(net.trace.length, 10);
  assert.equal(net.traceDropped, 15);
  assert.deepEqual(net.trace.map((r) => r.seq), Array.from({ length: 10 }, (_, i) => 15 + i));
  assert.equal(net.stats.send, 25);
  assert.match(net.formatTrace(), /^ {2}… 15 earlier records not shown\n/);
  const none = new SimNet({ prng: Prng.seeded(16), traceLimit: 0 });
  none.send(CLIENT, SERVER, Uint8Array.of(1));
  assert.equal(none.trace.length, 0);
  assert.equal(none.stats.send, 1);
});

Deno.test("SimNet.onPacket() passes records with their bytes until unsubscribed", () => {
  const { net, client } = setup(17);
  const got: [TraceRecord["kind"], number[] | undefined][] = [];
  const off = net.onPacket((r, bytes) => got.push([r.kind, bytes && [...bytes]]));
  client.send(SERVER, Uint8Array.of(7, 8));
  net.runUntil(10);
  off();
  client.send(SERVER, Uint8Array.of(9));
  net.runUntil(20);
  assert.deepEqual(got, [["send", [7, 8]], ["deliver", [7, 8]]]);
});

/** Random traffic with every datagram knob on; returns the formatted trace. */
function chaos(seed: number): string {
  const root = Prng.seeded(seed);
  const net = new SimNet({
    prng: root.fork(),
    defaults: { dropRate: 0.2, dupRate: 0.1, corruptRate: 0.1, delayMs: [1, 40], mtu: 60 },
  });
  const traffic = root.fork();
  const nodes = [SERVER, CLIENT, OTHER].map((addr) =>
    net.bind(addr, (from, bytes) => {
      if (traffic.chance(0.5)) nodes[0].send(from, bytes);
    })
  );
  net.setMiddlebox((p) => (p.bytes[0] === 0 ? "drop" : undefined));
  for (let i = 0; i < 300; i++) {
    net.clock.setTimer(traffic.int(0, 500), () => {
      traffic.pick(nodes).send(
        traffic.pick([SERVER, CLIENT, OTHER]),
        traffic.bytes(traffic.int(0, 70)),
      );
    });
  }
  net.clock.setTimer(200, () => net.partition([SERVER], [CLIENT]));
  net.clock.setTimer(300, () => net.heal());
  net.runUntil(1000);
  return net.formatTrace();
}

Deno.test("SimNet gives an identical trace when run twice with the same seed", () => {
  const a = chaos(1234), b = chaos(1234);
  assert.ok(a.split("\n").length > 500);
  for (const kind of ["drop", "dup", "corrupt", "mtu-drop", "partition", "middlebox-drop"]) {
    assert.ok(a.includes(` ${kind} `), `the trace shows no ${kind}`);
  }
  assert.equal(a, b);
});

Deno.test("SimNet gives a different trace when the seed differs", () => {
  assert.notEqual(chaos(1234), chaos(1235));
});

// ---- cores ---------------------------------------------------------------------------------------

Deno.test("SimNet.step() drives cores and their timers to deliver 50 messages through 50% loss", () => {
  for (const seed of [1, 2, 3]) {
    const root = Prng.seeded(seed);
    const net = new SimNet({ prng: root.fork(), defaults: { dropRate: 0.5, delayMs: [1, 40] } });
    const payloads = Array.from({ length: 50 }, (_, i) => Uint8Array.of(i));
    const checker = new StreamChecker();
    for (const p of payloads) checker.sent("up", p);
    const receiver = net.add(SERVER, new RetryReceiver());
    const sender = net.add(CLIENT, new RetrySender(SERVER, payloads, net.now, 100));
    const stop = net.runWhile(() => {
      for (let e = receiver.pollEvent(); e; e = receiver.pollEvent()) {
        if (e.type === "message") checker.delivered("up", e.payload);
      }
      return !sender.done;
    }, { maxTime: 600_000 });
    assert.equal(stop, "done", `seed ${seed}\n${net.formatTrace({ last: 30 })}`);
    checker.check({ complete: true });
    assert.ok(sender.transmissions > 100, `only ${sender.transmissions} transmissions`);
    assert.ok(net.stats.drop > 50);
    // Retransmissions happen on the 100ms timer: some consecutive sends are exactly 100ms apart.
    const sends = net.trace.filter((r) => r.kind === "send" && r.from === CLIENT).map((r) =>
      r.time
    );
    assert.ok(sends.some((t, i) => i > 0 && Math.abs(t - sends[i - 1] - 100) < 1e-9));
    assert.equal(net.step(), false, "idle once the sender is done");
  }
});

/** A core with a command: `write()` queues a datagram; it has no timers. */
class CommandCore implements DatagramCore {
  #out: Transmit[] = [];
  received: Uint8Array[] = [];
  write(to: Addr, bytes: Uint8Array): void {
    this.#out.push({ to, bytes });
  }
  handleDatagram(_from: Addr, bytes: Uint8Array): void {
    this.received.push(bytes);
  }
  handleTick(): void {}
  pollTransmit(): Transmit | undefined {
    return this.#out.shift();
  }
  nextTimeout(): number | undefined {
    return undefined;
  }
}

Deno.test("SimNet.step() drains transmits of commands issued between steps", () => {
  const net = new SimNet({ prng: Prng.seeded(18), defaults: { delayMs: [3, 3] } });
  const a = net.add(CLIENT, new CommandCore());
  const b = net.add(SERVER, new CommandCore());
  assert.equal(net.step(), false);
  a.write(SERVER, Uint8Array.of(1));
  assert.equal(net.stats.send, 0);
  net.flush(CLIENT);
  assert.equal(net.stats.send, 1, "flush() sends at once");
  a.write(SERVER, Uint8Array.of(2));
  assert.equal(net.step(), true); // drains the second write, then delivers both at 3ms
  assert.equal(net.now, 3);
  assert.deepEqual(b.received.map((x) => x[0]), [1, 2]);
  assert.equal(net.step(), false);
});

Deno.test("SimNet.step() drains a core right after each datagram it handles", () => {
  const net = new SimNet({ prng: Prng.seeded(18), defaults: { delayMs: [3, 3] } });
  const echo = net.add(SERVER, new CommandCore());
  echo.handleDatagram = function (from, bytes) {
    this.write(from, bytes);
  };
  net.send(CLIENT, SERVER, Uint8Array.of(1));
  net.send(CLIENT, SERVER, Uint8Array.of(2));
  net.step();
  assert.deepEqual(net.trace.map((r) => `${r.kind}#${r.id}@${r.time}`), [
    "send#1@0",
    "send#2@0",
    "deliver#1@3",
    "send#3@3",
    "deliver#2@3",
    "send#4@3",
  ]);
});

Deno.test("SimNet.step() throws when a core's nextTimeout() stays due after handleTick()", () => {
  const net = new SimNet({ prng: Prng.seeded(19) });
  let ticks = 0;
  net.add(SERVER, {
    handleDatagram() {},
    handleTick() {
      ticks++;
    },
    pollTransmit: () => undefined,
    nextTimeout: () => 5,
  });
  assert.throws(
    () => net.step(),
    /handleTick\(\) does not move nextTimeout\(\) of 10\.0\.0\.1:9000/,
  );
  assert.equal(ticks, 16);
});

Deno.test("SimNet.step() ticks a core when its timeout comes and not before", () => {
  const net = new SimNet({ prng: Prng.seeded(20) });
  const ticks: number[] = [];
  let due: number | undefined = 250;
  net.add(SERVER, {
    handleDatagram() {},
    handleTick(now) {
      ticks.push(now);
      due = now < 500 ? now + 250 : undefined;
    },
    pollTransmit: () => undefined,
    nextTimeout: () => due,
  });
  net.clock.setTimer(100, () => {});
  assert.equal(net.step(), true);
  assert.deepEqual([net.now, ticks], [100, []]);
  net.runUntil(10_000);
  assert.deepEqual(ticks, [250, 500]);
  assert.equal(net.step(), false);
});

Deno.test("SimNet.remove() stops ticking a core and drops its later arrivals", () => {
  const net = new SimNet({ prng: Prng.seeded(21), defaults: { delayMs: [10, 10] } });
  let ticks = 0;
  const core = net.add(SERVER, {
    received: 0,
    handleDatagram() {
      this.received++;
    },
    handleTick() {
      ticks++;
    },
    pollTransmit: () => undefined,
    nextTimeout: () => net.now + 1,
  });
  net.send(CLIENT, SERVER, Uint8Array.of(1));
  assert.equal(net.remove(SERVER), true);
  assert.equal(net.remove(SERVER), false);
  net.runUntil(100);
  assert.equal(ticks, 0);
  assert.equal(core.received, 0);
  assert.equal(net.stats["unbound-drop"], 1);
});

// ---- run bounds ----------------------------------------------------------------------------------

Deno.test("SimNet.runWhile() reports why it stopped", () => {
  const net = new SimNet({ prng: Prng.seeded(22) });
  assert.equal(net.runWhile(() => true), "idle");
  const tick = () => net.clock.setTimeout(10, tick);
  tick();
  assert.equal(net.runWhile(() => true, { maxSteps: 5 }), "max-steps");
  assert.equal(net.now, 50);
  assert.equal(net.runWhile(() => true, { maxTime: 125 }), "max-time");
  assert.equal(net.now, 125);
  assert.equal(net.runWhile(() => net.now < 200), "done");
  assert.equal(net.now, 200);
});

Deno.test("SimNet.runUntil() leaves the clock at t and throws when t is in the past", () => {
  const net = new SimNet({ prng: Prng.seeded(23) });
  const fired: number[] = [];
  net.clock.setTimeout(30, (t) => fired.push(t));
  net.clock.setTimeout(70, (t) => fired.push(t));
  net.runUntil(50);
  assert.deepEqual([net.now, fired], [50, [30]]);
  assert.throws(() => net.runUntil(49), RangeError);
  const tick = () => net.clock.setTimeout(1, tick);
  tick();
  assert.throws(() => net.runUntil(100, { maxSteps: 10 }), /over 10 steps, stuck at 60ms/);
});
