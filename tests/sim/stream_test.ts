import assert from "node:assert/strict";
import { Prng } from "../../src/util/prng.ts";
import { type LinkOptions, SimNet, type StreamEnd, type StreamEvent } from "../../src/sim/mod.ts";

const SERVER = "10.0.0.1:7777";
const CLIENT = "10.0.0.2:40000";

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Records every event of an end (with its time) through `onEvent`. */
function recorder(net: SimNet, end: StreamEnd) {
  const events: (StreamEvent & { time: number })[] = [];
  end.onEvent((e) => events.push({ ...e, time: net.now }));
  const chunks = () => events.flatMap((e) => (e.type === "data" ? [e.bytes] : []));
  return { events, chunks, types: () => events.map((e) => e.type) };
}

/** A net with a listener that records each accepted server end. */
function setup(seed: number, defaults: LinkOptions = {}) {
  const net = new SimNet({ prng: Prng.seeded(seed), defaults });
  const accepted: { end: StreamEnd; rec: ReturnType<typeof recorder> }[] = [];
  const listener = net.listen(SERVER, (end) => accepted.push({ end, rec: recorder(net, end) }));
  return { net, accepted, listener };
}

Deno.test("SimNet.connect() opens a stream that a listener accepts", () => {
  const { net, accepted } = setup(1, { delayMs: [5, 5] });
  const client = net.connect(CLIENT, SERVER);
  assert.equal(client.state, "connecting");
  assert.equal(client.local, CLIENT);
  assert.equal(client.remote, SERVER);
  const rec = recorder(net, client);
  net.runUntil(100);
  assert.equal(accepted.length, 1);
  const server = accepted[0].end;
  assert.deepEqual([server.local, server.remote, server.state, server.id], [
    SERVER,
    CLIENT,
    "open",
    1,
  ]);
  assert.deepEqual(rec.events, [{ type: "open", time: 10 }]);
  assert.equal(client.state, "open");
  assert.deepEqual(net.trace.map((r) => [r.kind, r.time, r.transport]), [
    ["connect", 0, "stream"],
    ["accept", 5, "stream"],
  ]);
});

Deno.test("StreamEnd.write() delivers bytes in order exactly once when chunks get random delays", () => {
  const { net, accepted } = setup(2, { delayMs: [1, 100], chunkBytesMax: 50 });
  const client = net.connect(CLIENT, SERVER);
  const prng = Prng.seeded(99);
  const writes: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    const bytes = prng.bytes(prng.int(1, 200));
    writes.push(bytes);
    net.clock.setTimer(i, () => client.write(bytes));
  }
  net.runUntil(10_000);
  const chunks = accepted[0].rec.chunks();
  assert.deepEqual(concat(chunks), concat(writes));
  assert.ok(chunks.every((c) => c.length >= 1 && c.length <= 50));
  // Arrival times never go backwards and chunks are not the writes.
  const times = accepted[0].rec.events.map((e) => e.time);
  assert.ok(times.every((t, i) => i === 0 || t >= times[i - 1]));
  assert.notDeepEqual(chunks.map((c) => c.length), writes.map((w) => w.length));
});

Deno.test("StreamEnd.write() is split into several chunks when larger than chunkBytesMax", () => {
  const { net, accepted } = setup(3, { chunkBytesMax: 100 });
  const client = net.connect(CLIENT, SERVER);
  const bytes = Prng.seeded(3).bytes(10_000);
  client.write(bytes);
  net.runUntil(1000);
  const chunks = accepted[0].rec.chunks();
  assert.ok(chunks.length >= 100, `${chunks.length} chunks`);
  assert.ok(chunks.every((c) => c.length <= 100));
  assert.deepEqual(concat(chunks), bytes);
  assert.equal(net.stats.write, 1);
  assert.equal(net.stats.data, chunks.length);
});

Deno.test("StreamEnd.write() calls are coalesced when their chunks arrive together", () => {
  const { net, accepted } = setup(4, { delayMs: [5, 5] });
  const client = net.connect(CLIENT, SERVER);
  const writes = Array.from({ length: 50 }, (_, i) => new Uint8Array(10).fill(i));
  for (const w of writes) client.write(w);
  net.runUntil(100);
  const chunks = accepted[0].rec.chunks();
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0], concat(writes));
});

Deno.test("StreamEnd.write() copies the bytes and returns true when the stream is alive", () => {
  const { net, accepted } = setup(5);
  const client = net.connect(CLIENT, SERVER);
  const buffer = Uint8Array.of(1, 2, 3);
  assert.equal(client.write(buffer), true); // written while connecting: waits behind the handshake
  buffer.fill(0);
  assert.equal(client.write(new Uint8Array(0)), true);
  net.runUntil(100);
  assert.deepEqual(concat(accepted[0].rec.chunks()), Uint8Array.of(1, 2, 3));
  assert.equal(net.stats.write, 1, "an empty write is not traced");
});

Deno.test("StreamEnd.end() makes the peer see eof after all data, and half-close keeps the other way", () => {
  const { net, accepted } = setup(6, { delayMs: [1, 50], chunkBytesMax: 7 });
  const client = net.connect(CLIENT, SERVER);
  const crec = recorder(net, client);
  const data = Prng.seeded(6).bytes(500);
  client.write(data);
  client.end();
  client.end(); // idempotent
  assert.throws(() => client.write(Uint8Array.of(1)), TypeError);
  net.runUntil(1000);
  const srec = accepted[0].rec;
  assert.equal(srec.types().at(-1), "eof");
  assert.deepEqual(concat(srec.chunks()), data);
  assert.equal(client.state, "open", "ended but the peer has not ended");
  const server = accepted[0].end;
  server.write(Uint8Array.of(9, 9)); // half-close: the server may still write
  server.end();
  net.runUntil(2000);
  assert.deepEqual(crec.types(), ["open", "data", "eof"]);
  assert.deepEqual(concat(crec.chunks()), Uint8Array.of(9, 9));
  assert.equal(client.state, "closed");
  assert.equal(server.state, "closed");
  assert.equal(net.openStreams, 0);
  assert.equal(net.stats.eof, 2);
  assert.equal(net.stats.end, 2);
});

Deno.test("StreamEnd.cut() resets both ends and no further data arrives", () => {
  const { net, accepted } = setup(7, { delayMs: [10, 30] });
  const client = net.connect(CLIENT, SERVER);
  const crec = recorder(net, client);
  net.runUntil(100);
  const server = accepted[0].end;
  const srec = accepted[0].rec;
  for (let i = 0; i < 20; i++) {
    client.write(new Uint8Array(100).fill(i));
    server.write(new Uint8Array(100).fill(i));
  }
  net.runUntil(net.now + 5); // nothing has arrived yet: all in flight
  client.cut();
  assert.deepEqual(crec.types(), ["open", "error"]);
  assert.deepEqual(srec.types(), ["error"]);
  assert.deepEqual(crec.events[1], { type: "error", reason: "reset", time: net.now });
  net.runUntil(1000);
  assert.deepEqual(crec.types(), ["open", "error"]);
  assert.deepEqual(srec.types(), ["error"]);
  assert.equal(net.stats.data, 0);
  assert.equal(client.write(Uint8Array.of(1)), false);
  assert.equal(server.write(Uint8Array.of(1)), false);
  assert.deepEqual([client.state, server.state, net.openStreams], ["closed", "closed", 0]);
  assert.equal(net.stats.cut, 1);
  server.cut(); // no second reset
  assert.equal(net.stats.cut, 1);
});

Deno.test("SimNet.cutStreams() cuts only the streams touching the address", () => {
  const net = new SimNet({ prng: Prng.seeded(8) });
  net.listen(SERVER, () => {});
  net.listen("10.0.0.9:80", () => {});
  const a = net.connect(CLIENT, SERVER);
  const b = net.connect("10.0.0.3:1", SERVER);
  const c = net.connect(CLIENT, "10.0.0.9:80");
  net.runUntil(10);
  assert.equal(net.cutStreams(SERVER), 2);
  assert.deepEqual([a.state, b.state, c.state], ["closed", "closed", "open"]);
  assert.equal(net.cutStreams(), 1);
  assert.equal(net.openStreams, 0);
});

Deno.test("SimNet.connect() is refused when nobody listens", () => {
  const net = new SimNet({ prng: Prng.seeded(9), defaults: { delayMs: [4, 4] } });
  const client = net.connect(CLIENT, SERVER);
  assert.equal(client.write(Uint8Array.of(1, 2)), true); // lost with the connection
  const rec = recorder(net, client);
  net.runUntil(100);
  assert.deepEqual(rec.events, [{ type: "error", reason: "refused", time: 8 }]);
  assert.equal(client.state, "closed");
  assert.equal(client.write(Uint8Array.of(3)), false);
  assert.equal(net.stats.refused, 1);
  assert.equal(net.stats.data, 0);
  assert.equal(net.openStreams, 0);
});

Deno.test("StreamEnd.write() discards bytes written after refusal and before the client knows", () => {
  const net = new SimNet({ prng: Prng.seeded(9), defaults: { delayMs: [4, 4] } });
  net.setLink(SERVER, CLIENT, { delayMs: [50, 50] });
  const client = net.connect(CLIENT, SERVER);
  net.clock.setTimer(5, () => client.write(Uint8Array.of(1))); // refused at 4, known at 54
  net.clock.setTimer(6, () => client.end());
  net.runUntil(100);
  assert.deepEqual(client.pollEvent(), { type: "error", reason: "refused" });
  assert.equal(net.stats.data + net.stats.eof, 0);
});

Deno.test("StreamListener.close() refuses later connections and keeps accepted ones", () => {
  const { net, accepted, listener } = setup(10);
  const first = net.connect(CLIENT, SERVER);
  net.runUntil(10);
  listener.close();
  const second = net.connect("10.0.0.3:1", SERVER);
  const rec = recorder(net, second);
  first.write(Uint8Array.of(1));
  net.runUntil(20);
  assert.equal(accepted.length, 1);
  assert.deepEqual(accepted[0].rec.chunks(), [Uint8Array.of(1)]);
  assert.equal(rec.types().join(), "error");
  net.listen(SERVER, () => {}); // free again after close
  assert.throws(() => net.listen(SERVER, () => {}), TypeError);
});

Deno.test("SimNet.partition() stalls a stream without loss and heal() resumes it", () => {
  const { net, accepted } = setup(11, { delayMs: [1, 20] });
  const client = net.connect(CLIENT, SERVER);
  net.runUntil(100);
  net.partition([SERVER], [CLIENT]);
  const data = Prng.seeded(11).bytes(3000);
  client.write(data);
  net.runUntil(5000);
  assert.deepEqual(accepted[0].rec.chunks(), []);
  assert.equal(net.stats.stall, 1);
  net.heal();
  net.runUntil(6000);
  assert.deepEqual(concat(accepted[0].rec.chunks()), data);
  assert.ok(accepted[0].rec.events[0].time >= 5001);
});

Deno.test("SimNet.connect() waits for heal() when the listener is isolated", () => {
  const { net, accepted } = setup(12, { delayMs: [3, 3] });
  net.isolate(SERVER);
  const client = net.connect(CLIENT, SERVER);
  net.runUntil(1000);
  assert.equal(accepted.length, 0);
  assert.equal(client.state, "connecting");
  net.heal([SERVER]);
  net.runUntil(2000);
  assert.equal(accepted.length, 1);
  assert.equal(client.state, "open");
});

Deno.test("StreamEnd.pollEvent() returns buffered events in order until onEvent() takes over", () => {
  const { net, accepted } = setup(13);
  const client = net.connect(CLIENT, SERVER);
  net.runUntil(10);
  accepted[0].end.write(Uint8Array.of(1));
  accepted[0].end.end();
  net.runUntil(20);
  assert.deepEqual(client.pollEvent(), { type: "open" });
  const later: string[] = [];
  client.onEvent((e) => later.push(e.type)); // gets the buffered rest at once
  assert.deepEqual(later, ["data", "eof"]);
  assert.equal(client.pollEvent(), undefined);
});

Deno.test("SimNet.listen() serves many clients, each stream on its own", () => {
  const { net, accepted } = setup(14, { delayMs: [1, 30], chunkBytesMax: 16 });
  const clients: StreamEnd[] = [];
  for (let i = 0; i < 20; i++) {
    const c = net.connect(`10.0.1.${i}:5000`, SERVER);
    c.write(new TextEncoder().encode(`hello from ${i} `.repeat(10)));
    c.end();
    clients.push(c);
  }
  net.runUntil(1000);
  assert.equal(accepted.length, 20);
  for (const { end, rec } of accepted) {
    const i = Number(end.remote.split(".")[3].split(":")[0]);
    assert.equal(new TextDecoder().decode(concat(rec.chunks())), `hello from ${i} `.repeat(10));
    assert.equal(rec.types().at(-1), "eof");
  }
  assert.equal(new Set(accepted.map((a) => a.end.id)).size, 20);
});

/** Random stream traffic; returns the formatted trace. */
function streamChaos(seed: number): string {
  const root = Prng.seeded(seed);
  const net = new SimNet({ prng: root.fork(), defaults: { delayMs: [1, 40], chunkBytesMax: 32 } });
  const traffic = root.fork();
  net.listen(SERVER, (end) => end.onEvent((e) => e.type === "data" && end.write(e.bytes)));
  for (let i = 0; i < 10; i++) {
    const c = net.connect(`10.0.1.${i}:5000`, SERVER);
    for (let k = 0; k < 5; k++) {
      net.clock.setTimer(traffic.int(0, 200), () => c.write(traffic.bytes(traffic.int(1, 100))));
    }
    if (traffic.chance(0.3)) net.clock.setTimer(traffic.int(0, 300), () => c.cut());
  }
  net.runUntil(2000);
  return net.formatTrace();
}

Deno.test("SimNet streams give an identical trace when run twice with the same seed", () => {
  const a = streamChaos(77);
  assert.ok(a.includes(" data ") && a.includes(" cut "));
  assert.equal(a, streamChaos(77));
  assert.notEqual(a, streamChaos(78));
});
