/**
 * Unit tests of the key-value node core, driven input by input (no simulator): what it sends,
 * when, and what it refuses.
 */
import assert from "node:assert/strict";
import { KvNode, type KvNodeOptions, type PersistAction } from "../../src/kv/node_core.ts";
import type { StreamAction } from "../../src/core/mod.ts";
import { Prng } from "../../src/util/prng.ts";

const te = new TextEncoder();
const td = new TextDecoder();
type Action = StreamAction | PersistAction;

function node(o: Partial<KvNodeOptions> = {}): KvNode {
  return new KvNode({
    name: "ts-a",
    advertise: "10.0.0.1:9000",
    boot: 100,
    broadcast: ["10.0.0.255:8888"],
    prng: Prng.seeded(1),
    ...o,
  });
}

function drain(n: KvNode): Action[] {
  const out: Action[] = [];
  for (let a = n.pollAction(); a; a = n.pollAction()) out.push(a);
  return out;
}

function sent(n: KvNode): { to: string; text: string }[] {
  const out = [];
  for (let t = n.pollTransmit(); t; t = n.pollTransmit()) {
    out.push({ to: t.to, text: td.decode(t.bytes) });
  }
  return out;
}

function writes(actions: Action[]): string[] {
  return actions.flatMap((a) => (a.type === "write" ? [td.decode(a.bytes)] : []));
}

/** Sends one request on a new accepted connection; returns the actions it caused. */
function request(n: KvNode, text: string, now: number, from = "10.0.0.9:5000"): Action[] {
  const c = n.handleAccept(from, "10.0.0.1:9000", now);
  n.handleData(c, te.encode(text), now);
  return drain(n);
}

function persistAll(n: KvNode, actions: Action[], now: number, ok = true): Action[] {
  const more: Action[] = [];
  for (const a of actions) {
    if (a.type === "persist") {
      n.handlePersisted(a.id, ok, now);
      more.push(...drain(n));
    }
  }
  return more;
}

function handshake(name: string, tcp: string, extra = ',"kv_ext":1,"boot":7'): Uint8Array {
  return te.encode(`{"Handshake":{"node_name":"${name}","tcp_address":"${tcp}"${extra}}}`);
}

Deno.test("kv core: announces at start and every 5 s to the broadcast addresses and seeds", () => {
  const n = node({ seeds: ["10.0.0.7:8888"] });
  n.handleTick(0);
  const first = sent(n);
  assert.deepEqual(first.map((t) => t.to), ["10.0.0.255:8888", "10.0.0.7:8888"]);
  assert.equal(
    first[0].text,
    '{"Handshake":{"node_name":"ts-a","tcp_address":"10.0.0.1:9000","kv_ext":1,"boot":100}}',
  );
  assert.equal(n.nextTimeout(), 5000);
  n.handleTick(4999);
  assert.equal(sent(n).length, 0);
  n.handleTick(5000);
  assert.equal(sent(n).length, 2);
});

Deno.test("kv core: a Setvalue is answered only once persisted, then pushed to alive members", () => {
  const n = node();
  n.handleTick(0);
  sent(n);
  n.handleDatagram("10.0.0.2:8888", handshake("ts-b", "10.0.0.2:9000"), 1);
  assert.deepEqual(sent(n).map((t) => t.text), [
    '"Greeting"',
    '{"Handshake":{"node_name":"ts-a","tcp_address":"10.0.0.1:9000","kv_ext":1,"boot":100}}',
  ]);
  assert.deepEqual(n.pollEvent(), {
    type: "member",
    change: "joined",
    name: "ts-b",
    address: "10.0.0.2:9000",
    legacy: false,
  });
  const pull = drain(n); // the SyncAll pull to a new node of ours
  assert.deepEqual(pull.map((a) => a.type), ["connect"]);
  const actions = request(n, '{"Setvalue":{"key":"k","value":"v"}}', 2);
  assert.deepEqual(actions.map((a) => a.type), ["persist"]);
  assert.equal(writes(actions).length, 0, "no reply before the entry is on disk");
  const after = persistAll(n, actions, 3);
  assert.deepEqual(writes(after), ['{"ValueResponse":{"value":"Value set successful"}}']);
  const push = after.find((a) => a.type === "connect");
  assert.ok(push?.type === "connect");
  assert.equal(push.to, "10.0.0.2:9000");
  n.handleConnected(push.conn, 4);
  assert.deepEqual(writes(drain(n)), [
    '{"Sync":{"key":"k","value":"v","clock":1,"origin":"ts-a"}}',
  ]);
});

Deno.test("kv core: a failed save answers that the value was not set, and pushes nothing", () => {
  const n = node();
  n.handleDatagram("10.0.0.2:8888", handshake("ts-b", "10.0.0.2:9000"), 1);
  drain(n);
  const actions = request(n, '{"Setvalue":{"key":"k","value":"v"}}', 2);
  const after = persistAll(n, actions, 3, false);
  assert.deepEqual(writes(after), ['{"ValueResponse":{"value":"Value not set: storage error"}}']);
  assert.equal(after.filter((a) => a.type === "connect").length, 0);
  assert.equal(n.stats.persistFailures, 1);
});

Deno.test("kv core: versioned Syncs: newer wins and is forwarded (not to its sender), older is dropped", () => {
  const n = node({ durable: false });
  n.handleDatagram("10.0.0.2:8888", handshake("ts-b", "10.0.0.2:9000"), 1);
  n.handleDatagram("10.0.0.3:8888", handshake("ts-c", "10.0.0.3:9000"), 1);
  drain(n);
  const a1 = request(
    n,
    '{"Sync":{"key":"x","value":"1","clock":5,"origin":"ts-b"}}',
    2,
    "10.0.0.2:4000",
  );
  const to = a1.filter((a) => a.type === "connect").map((a) => (a as { to: string }).to);
  assert.deepEqual(to, ["10.0.0.3:9000"]);
  assert.deepEqual(n.get("x"), { key: "x", value: "1", clock: 5, origin: "ts-b" });
  assert.equal(n.clock, 5);
  const a2 = request(n, '{"Sync":{"key":"x","value":"0","clock":5,"origin":"ts-a"}}', 3);
  assert.equal(a2.filter((a) => a.type === "connect").length, 0);
  assert.equal(n.get("x")?.value, "1", "(5, ts-a) < (5, ts-b)");
});

Deno.test("kv core: an unversioned Sync (a legacy write) becomes ours with the next clock", () => {
  const n = node({ durable: false, clock: 41 });
  request(n, '{"Sync":{"key":"x","value":"legacy"}}', 1);
  assert.deepEqual(n.get("x"), { key: "x", value: "legacy", clock: 42, origin: "ts-a" });
  const reply = writes(request(n, '{"Getvalue":{"key":"x"}}', 2));
  assert.deepEqual(reply, ['{"ValueResponse":{"value":"legacy","clock":42,"origin":"ts-a"}}']);
});

Deno.test("kv core: a legacy node is one member however many Handshakes, pushed plain Syncs, never pulled", () => {
  const n = node({ durable: false });
  const legacy = handshake("", "192.168.177.20:9000", "");
  for (let i = 0; i < 5; i++) n.handleDatagram("10.0.0.5:8888", legacy, i);
  assert.equal(n.members().length, 1);
  assert.equal(n.members()[0].address, "10.0.0.5:9000", "source IP + advertised port (D1)");
  const first = drain(n);
  assert.equal(first.length, 0, "no SyncAll pull to a legacy node");
  const a = request(n, '{"Setvalue":{"key":"k","value":"v"}}', 10);
  const push = a.find((x) => x.type === "connect");
  assert.ok(push?.type === "connect");
  n.handleConnected(push.conn, 11);
  assert.deepEqual(writes(drain(n)), ['{"Sync":{"key":"k","value":"v"}}']);
});

Deno.test("kv core: heartbeats: 3 misses suspect, 6 dead, an answer brings it back with a full push", () => {
  const n = node({ durable: false });
  n.handleDatagram("10.0.0.2:8888", handshake("", "10.0.0.2:9000", ""), 0);
  drain(n);
  while (n.pollEvent());
  const changes: string[] = [];
  let now = 0;
  for (let i = 0; i < 6; i++) {
    now = n.nextTimeout()!;
    // skip announcements until the heartbeat connect appears
    for (let guard = 0; guard < 10; guard++) {
      n.handleTick(now);
      const hb = drain(n).find((a) => a.type === "connect");
      if (hb?.type === "connect") {
        n.handleError(hb.conn, "refused", now);
        drain(n);
        break;
      }
      now = n.nextTimeout()!;
    }
    for (let e = n.pollEvent(); e; e = n.pollEvent()) {
      if (e.type === "member") changes.push(e.change);
    }
  }
  assert.deepEqual(changes, ["suspect", "dead"]);
  assert.equal(n.members()[0].state, "dead");
  assert.equal(
    request(n, '{"Setvalue":{"key":"k","value":"v"}}', now).filter((a) => a.type === "connect")
      .length,
    0,
    "no push to a dead member",
  );
  // dead: probed every 30 s
  const next = n.nextTimeout()!;
  assert.ok(next >= now + 5000);
  n.handleTick(next);
  const probe = drain(n).find((a) => a.type === "connect");
  if (probe?.type === "connect") {
    n.handleConnected(probe.conn, next);
    assert.deepEqual(writes(drain(n)), ['"Heartbeat"']);
    n.handleData(probe.conn, te.encode('"HeartbeatResponse"'), next + 1);
    const after = drain(n);
    assert.ok(after.some((a) => a.type === "connect"), "a full push starts");
    assert.equal(n.members()[0].state, "alive");
  } else {
    assert.fail("no probe of the dead member");
  }
});

Deno.test("kv core: bad datagrams and requests are dropped; the node keeps serving", () => {
  const n = node({ durable: false });
  for (const bad of ["not json", "", '{"Handshake":{}}', '"heartbeat"', "{".repeat(2000)]) {
    n.handleDatagram("6.6.6.6:1", te.encode(bad), 1);
  }
  n.handleDatagram("6.6.6.6:1", new Uint8Array(1025).fill(0x20), 1);
  assert.equal(n.stats.datagramsDropped, 6);
  assert.equal(writes(request(n, '{"getvalue":{"key":"a"}}', 2)).length, 0);
  assert.equal(writes(request(n, '{"Getvalue":{"key":"a"}}{"Getvalue":{"key":"a"}}', 2)).length, 0);
  assert.deepEqual(writes(request(n, '{"Heartbeat":null}', 3)), ['"HeartbeatResponse"']);
  assert.equal(n.connections, 0);
});

Deno.test("kv core: a silent connection is dropped after 5 s", () => {
  const n = node({ durable: false });
  const c = n.handleAccept("10.0.0.9:5000", "10.0.0.1:9000", 0);
  n.handleData(c, te.encode('{"Getvalue":'), 1);
  assert.equal(n.connections, 1);
  n.handleTick(5000);
  assert.deepEqual(drain(n).filter((a) => a.type === "close").map((a) => a.conn), [c]);
  assert.equal(n.connections, 0);
});

Deno.test("kv core: a Setvalue over 1,024 bytes is refused with a ValueResponse, a Getvalue answered null", () => {
  const n = node({ durable: false });
  const set = `{"Setvalue":{"key":"k","value":"${"v".repeat(1100)}"}}`;
  const reply = writes(request(n, set, 1));
  assert.equal(reply.length, 1);
  assert.match(reply[0], /^\{"ValueResponse":\{"value":"Value not set: [^"]*1024 bytes"\}\}$/);
  assert.equal(n.size, 0);
  const get = ` {"Getvalue": {"key":"${"k".repeat(1100)}"}}`;
  assert.deepEqual(writes(request(n, get, 2)), ['{"ValueResponse":{"value":null}}']);
  assert.deepEqual(writes(request(n, `{"Sync":{"key":"${"k".repeat(1100)}","value":"v"}}`, 2)), []);
  assert.equal(n.size, 0);
});

Deno.test("kv core: a versioned Sync too long for a legacy node's Sync is refused", () => {
  const n = node({ durable: false });
  n.handleDatagram("10.0.0.2:8888", handshake("ts-b", "10.0.0.2:9000"), 1);
  drain(n);
  const sync = `{"Sync":{"key":"k","value":"${"v".repeat(2000)}","clock":3,"origin":"ts-b"}}`;
  assert.deepEqual(writes(request(n, sync, 2, "10.0.0.2:4000")), []);
  assert.equal(n.size, 0);
  assert.equal(n.stats.refused, 1);
});

Deno.test("kv core: the announcement slows to 60 s after 30 s once a legacy node is known", () => {
  const n = node({ durable: false });
  n.handleTick(0);
  n.handleDatagram("10.0.0.5:8888", handshake("", "10.0.0.5:9000", ""), 1);
  let announcements = 0;
  for (let t = 0; t <= 120_000; t += 1000) {
    n.handleTick(t);
    for (const s of sent(n)) if (s.to === "10.0.0.255:8888") announcements++;
    const hb = drain(n).filter((a) => a.type === "connect");
    for (const a of hb) {
      n.handleConnected(a.conn, t);
      drain(n);
      n.handleData(a.conn, te.encode('"HeartbeatResponse"'), t);
      drain(n);
    }
  }
  // 0, 5, 10, 15, 20, 25, 30 s, then 90 s
  assert.equal(announcements, 8);
});

Deno.test("kv core: SyncAll answers every saved entry, one versioned Sync per line", () => {
  const n = node({ durable: false });
  request(n, '{"Setvalue":{"key":"a","value":"1"}}', 0);
  request(n, '{"Setvalue":{"key":"b","value":"2"}}', 0);
  const out = writes(request(n, '{"SyncAll":{}}', 1)).join("");
  assert.equal(
    out,
    '{"Sync":{"key":"a","value":"1","clock":1,"origin":"ts-a"}}\n' +
      '{"Sync":{"key":"b","value":"2","clock":2,"origin":"ts-a"}}\n',
  );
});

Deno.test("kv core: the member table stays bounded under a flood of Handshakes", () => {
  const n = node({ durable: false, capacity: 16 });
  for (let i = 0; i < 100; i++) {
    n.handleDatagram(`10.1.0.${i}:8888`, handshake(`ts-${i}`, `10.1.0.${i}:9000`), i);
  }
  assert.equal(n.members().length, 16);
});

/** Completes the connects among `actions`: heartbeats are answered; returns what the others wrote. */
function complete(n: KvNode, actions: Action[], now: number): string[] {
  const other: string[] = [];
  for (const a of actions) {
    if (a.type !== "connect") continue;
    n.handleConnected(a.conn, now);
    const w = writes(drain(n));
    if (w[0] === '"Heartbeat"') {
      n.handleData(a.conn, te.encode('"HeartbeatResponse"'), now);
      drain(n);
    } else other.push(...w);
  }
  return other;
}

Deno.test("kv core: a legacy node restarted within one heartbeat period gets our Handshake and a full push", () => {
  const n = node({ durable: false });
  request(n, '{"Setvalue":{"key":"k","value":"v"}}', 0);
  const legacy = handshake("", "192.168.177.20:9000", "");
  n.handleDatagram("10.0.0.5:8888", legacy, 0);
  sent(n);
  complete(n, drain(n), 0);
  // its regular announcements: nothing more than a refresh
  for (const t of [5000, 10_000]) {
    n.handleDatagram("10.0.0.5:8888", legacy, t);
    assert.equal(sent(n).filter((x) => x.to === "10.0.0.5:8888").length, 0);
    assert.deepEqual(complete(n, drain(n), t), []);
  }
  // restarted 1 s after an announcement: its start-up Handshake comes early
  n.handleDatagram("10.0.0.5:8888", legacy, 11_000);
  assert.equal(sent(n).filter((x) => x.to === "10.0.0.5:8888").length, 1, "our Handshake again");
  assert.deepEqual(complete(n, drain(n), 11_000), ['{"Sync":{"key":"k","value":"v"}}']);
});

Deno.test("kv core: a Sync whose clock is absurdly far ahead is refused (it would spend our clock)", () => {
  const n = node({ durable: false });
  const evil = `{"Sync":{"key":"x","value":"evil","clock":${2 ** 53 - 1},"origin":"ts-z"}}`;
  request(n, evil, 1);
  assert.equal(n.get("x"), undefined);
  assert.equal(n.clock, 0);
  assert.deepEqual(
    writes(request(n, '{"Setvalue":{"key":"x","value":"ok"}}', 2)),
    ['{"ValueResponse":{"value":"Value set successful"}}'],
  );
  request(n, '{"Sync":{"key":"y","value":"fine","clock":1000,"origin":"ts-z"}}', 3);
  assert.equal(n.get("y")?.value, "fine", "an honest lead is taken");
});

Deno.test("kv core: like the original's single 1,024-byte read, bytes past the cap are never looked at", () => {
  const n = node({ durable: false });
  const set = '{"Setvalue":{"key":"a","value":"1"}}';
  // complete within 1,024 bytes, spaces up to byte 1,100: the original reads 1,024 and stores it
  const padded = set + " ".repeat(1100 - set.length);
  assert.deepEqual(writes(request(n, padded, 1)), [
    '{"ValueResponse":{"value":"Value set successful"}}',
  ]);
  // whatever follows byte 1,024 is not read either
  const tail = '{"Setvalue":{"key":"b","value":"2"}}' + " ".repeat(1024 - set.length) + "garbage";
  assert.deepEqual(writes(request(n, tail, 2)), [
    '{"ValueResponse":{"value":"Value set successful"}}',
  ]);
  assert.equal(n.get("b")?.value, "2");
  // but bytes that are not whitespace within the first 1,024 still make it invalid
  assert.deepEqual(writes(request(n, set + "x" + " ".repeat(200), 3)), []);
});
