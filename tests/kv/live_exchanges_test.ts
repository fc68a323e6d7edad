/**
 * A live node on real sockets (spec `kv.md` §8, §5, §6.7): every reference TCP exchange byte for
 * byte, the UDP discovery exchange (Greeting + our Handshake by unicast, then heartbeats to the
 * contact address), replication between two nodes, the size caps, the read timeout, and that
 * every datagram the node sends is one a legacy node accepts.
 */
import assert from "node:assert/strict";
import { decodeLegacyBuffer, decodeMessage } from "../../src/kv/codec.ts";
import {
  closedPort,
  exchange,
  MAIN,
  ROOT,
  startKv,
  TcpPeer,
  td,
  UdpProbe,
  until,
} from "./_live.ts";

const SET_OK = '{"ValueResponse":{"value":"Value set successful"}}';

Deno.test("every TCP reference exchange of §8, byte for byte", async () => {
  const kv = await startKv();
  try {
    const ex = (m: string) => exchange(kv.tcpPort, m);
    const replied = async (m: string, reply: string) => {
      const r = await ex(m);
      assert.equal(r.reply, reply, `reply to ${m}`);
      assert.ok(r.closed, `the node closes after answering ${m}`);
    };
    const silent = async (m: string) => {
      const r = await ex(m);
      assert.equal(r.reply, "", `no reply to ${m}`);
      assert.ok(r.closed, `the node closes after ${m}`);
    };
    await replied('"Heartbeat"', '"HeartbeatResponse"');
    await replied('{"Heartbeat":null}', '"HeartbeatResponse"');
    await replied('{"Getvalue":{"key":"a"}}', '{"ValueResponse":{"value":null}}');
    await replied('{"Setvalue":{"key":"a","value":"1"}}', SET_OK);
    const a = kv.node.get("a")!;
    assert.deepEqual(a, { key: "a", value: "1", clock: 1, origin: kv.name });
    const versioned = `{"ValueResponse":{"value":"1","clock":1,"origin":"${kv.name}"}}`;
    await replied('{"Getvalue":{"key":"a"}}', versioned);
    await replied(' { "Getvalue" : { "key" : "a", "extra": 5 } } ', versioned);
    // the original's decoder takes our versioned reply (it ignores the extra fields)
    const d = decodeMessage(new TextEncoder().encode(versioned));
    assert.ok(d.ok && d.message.type === "ValueResponse" && d.message.value === "1");
    await replied('{"Setvalue":["k","v"]}', SET_OK);
    await replied(
      '{"Getvalue":{"key":"k"}}',
      `{"ValueResponse":{"value":"v","clock":2,"origin":"${kv.name}"}}`,
    );
    await silent('{"Sync":{"key":"b","value":"2","clock":7,"origin":"ts-x"}}');
    await replied(
      '{"Getvalue":{"key":"b"}}',
      '{"ValueResponse":{"value":"2","clock":7,"origin":"ts-x"}}',
    );
    await silent('"Greeting"');
    await silent('{"getvalue":{"key":"a"}}');
    await replied('"Heartbeat"', '"HeartbeatResponse"'); // still serving
    await silent('{"Getvalue":{"key":"a"}}{"Getvalue":{"key":"a"}}');
    await silent('"HeartbeatResponse"');
    await silent('{"ValueResponse":{"value":"x"}}');
    await silent('{"Handshake":{"node_name":"n","tcp_address":"127.0.0.1:1"}}');
    // a write after the versioned Sync continues the Lamport clock past 7
    await replied('{"Setvalue":{"key":"a","value":"3"}}', SET_OK);
    await replied(
      '{"Getvalue":{"key":"a"}}',
      `{"ValueResponse":{"value":"3","clock":8,"origin":"${kv.name}"}}`,
    );
    assert.equal(kv.node.get("getvalue"), undefined);
    assert.equal(kv.node.size, 3);
  } finally {
    await kv.stop();
  }
});

Deno.test("a Handshake with kv_ext gets a Greeting and our Handshake by unicast, then heartbeats", async () => {
  const kv = await startKv();
  const peer = new TcpPeer();
  const udp = new UdpProbe();
  try {
    const hs =
      `{"Handshake":{"node_name":"ts-x","tcp_address":"127.0.0.1:${peer.port}","kv_ext":1,"boot":1}}`;
    await udp.send(kv.udpPort, hs);
    await until(() => udp.received.length >= 2, "the Greeting and the Handshake");
    for (const r of udp.received) assert.equal(r.from, `127.0.0.1:${kv.udpPort}`);
    const [greeting, ours] = udp.texts();
    assert.equal(greeting, '"Greeting"');
    const m =
      /^\{"Handshake":\{"node_name":"([^"]+)","tcp_address":"127\.0\.0\.1:(\d+)","kv_ext":1,"boot":(\d+)\}\}$/
        .exec(ours);
    assert.ok(m, `our Handshake: ${ours}`);
    assert.equal(m[1], kv.name);
    assert.equal(Number(m[2]), kv.tcpPort);
    assert.ok(Number(m[3]) > 1_600_000_000_000 && Number(m[3]) <= Date.now(), "boot is epoch ms");
    assert.deepEqual(kv.node.members().map((x) => [x.name, x.address, x.ext]), [
      ["ts-x", `127.0.0.1:${peer.port}`, true],
    ]);
    await until(() => peer.messages.includes('"Heartbeat"'), "a heartbeat to the peer", 15_000);
    // one identity, whatever the number of Handshakes
    await udp.send(kv.udpPort, hs);
    await udp.send(kv.udpPort, hs);
    await exchange(kv.tcpPort, '"Heartbeat"'); // the datagrams were handled before this is answered
    assert.equal(kv.node.members().length, 1);
  } finally {
    await udp.close();
    await peer.close();
    await kv.stop();
  }
});

Deno.test("a legacy Handshake is keyed by source IP and its heartbeats go to source IP + port", async () => {
  const kv = await startKv();
  const peer = new TcpPeer();
  const a = new UdpProbe();
  const b = new UdpProbe();
  try {
    const hs = `{"Handshake":{"node_name":"","tcp_address":"127.0.0.1:${peer.port}"}}`;
    await a.send(kv.udpPort, hs);
    await until(() => a.received.length >= 2, "the Greeting and the Handshake");
    assert.equal(a.texts()[0], '"Greeting"');
    assert.match(a.texts()[1], new RegExp(`^\\{"Handshake":\\{"node_name":"${kv.name}",`));
    // the same IP from another port is the same legacy identity: no second Greeting (an early
    // Handshake may mean it restarted: it may get our Handshake again)
    await b.send(kv.udpPort, hs);
    await exchange(kv.tcpPort, '"Heartbeat"');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!b.texts().includes('"Greeting"'), "no second Greeting");
    assert.deepEqual(kv.node.members().map((x) => [x.name, x.address, x.ext]), [
      ["", `127.0.0.1:${peer.port}`, false],
    ]);
    await until(() => peer.messages.includes('"Heartbeat"'), "a heartbeat to the peer", 15_000);
    assert.ok(!peer.messages.some((x) => x.includes("SyncAll")), "no SyncAll to a legacy peer");
  } finally {
    await a.close();
    await b.close();
    await peer.close();
    await kv.stop();
  }
});

Deno.test("a Setvalue on node A reaches node B, and `kv members` lists each other", async () => {
  const udpA = new UdpProbe(), udpB = new UdpProbe(); // reserve two UDP ports
  const portA = udpA.port, portB = udpB.port;
  await udpA.close();
  await udpB.close();
  const a = await startKv({ udpPort: portA, seeds: [`127.0.0.1:${portB}`], name: "ts-a" });
  const b = await startKv({ udpPort: portB, seeds: [`127.0.0.1:${portA}`], name: "ts-b" });
  try {
    await until(
      () => a.node.members().length === 1 && b.node.members().length === 1,
      "A and B know each other",
    );
    assert.equal(
      (await exchange(a.tcpPort, '{"Setvalue":{"key":"x","value":"from A"}}')).reply,
      SET_OK,
    );
    await until(() => b.node.get("x")?.value === "from A", "the write on B");
    const r = await exchange(b.tcpPort, '{"Getvalue":{"key":"x"}}');
    assert.equal(r.reply, '{"ValueResponse":{"value":"from A","clock":1,"origin":"ts-a"}}');
    for (const [node, other] of [[a, b], [b, a]]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-net",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          MAIN,
          "kv",
          "members",
          `127.0.0.1:${node.tcpPort}`,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const stdout = td.decode(out.stdout);
      assert.equal(out.code, 0, td.decode(out.stderr));
      assert.match(stdout, new RegExp(`${other.name}.*127\\.0\\.0\\.1:${other.tcpPort}.*alive`));
    }
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("an oversized key and value get a refusal the original's clients decode, and nothing is stored", async () => {
  const kv = await startKv();
  const udp = new UdpProbe();
  try {
    // over 1,024 bytes a Setvalue comes only from one of our nodes (64 KiB cap): be one
    const hs =
      `{"Handshake":{"node_name":"ts-big","tcp_address":"127.0.0.1:${closedPort()}","kv_ext":1,"boot":1}}`;
    await udp.send(kv.udpPort, hs);
    await until(() => kv.node.members().length === 1, "the member");
    for (
      const [key, value] of [["k", "v".repeat(2000)], ["k".repeat(1010), "v"], [
        "k".repeat(600),
        "v".repeat(600),
      ]]
    ) {
      const r = await exchange(kv.tcpPort, JSON.stringify({ Setvalue: { key, value } }));
      assert.ok(r.closed);
      const d = decodeMessage(r.bytes); // as the original decodes it
      assert.ok(d.ok && d.message.type === "ValueResponse", r.reply);
      assert.ok(
        typeof d.message.value === "string" && d.message.value.startsWith("Value not set"),
        r.reply,
      );
      assert.ok(r.bytes.length <= 1024);
      assert.equal(kv.node.get(key), undefined);
    }
    assert.equal(kv.node.size, 0);
    // the largest that fits is stored
    const value = "v".repeat(1024 - '{"Sync":{"key":"k","value":""}}'.length);
    assert.equal(
      (await exchange(kv.tcpPort, JSON.stringify({ Setvalue: { key: "k", value } }))).reply,
      SET_OK,
    );
    assert.equal(kv.node.get("k")?.value, value);
  } finally {
    await udp.close();
    await kv.stop();
  }
});

Deno.test("a silent connection is dropped and a message over 1,024 bytes from a non-member too", async () => {
  const kv = await startKv();
  try {
    const silent = await exchange(kv.tcpPort, undefined, { timeoutMs: 30_000 });
    assert.ok(silent.closed, "the node ends a connection that says nothing");
    assert.equal(silent.reply, "");
    // over 1,024 bytes: a Setvalue is refused in words its client reads, a Getvalue gets the
    // absent value, anything else is dropped without a reply; nothing is stored
    const long = "v".repeat(1100);
    const big = await exchange(
      kv.tcpPort,
      JSON.stringify({ Setvalue: { key: "big", value: long } }),
    );
    assert.ok(big.closed);
    assert.equal(
      big.reply,
      '{"ValueResponse":{"value":"Value not set: the message is longer than 1024 bytes"}}',
    );
    const get = await exchange(kv.tcpPort, JSON.stringify({ Getvalue: { key: long } }));
    assert.equal(get.reply, '{"ValueResponse":{"value":null}}');
    const sync = await exchange(kv.tcpPort, JSON.stringify({ Sync: { key: "big", value: long } }));
    assert.ok(sync.closed);
    assert.equal(sync.reply, "");
    // 1,024 bytes with leading spaces are still one message
    const padded = " ".repeat(1024 - '"Heartbeat"'.length) + '"Heartbeat"';
    assert.equal((await exchange(kv.tcpPort, padded)).reply, '"HeartbeatResponse"');
    assert.equal((await exchange(kv.tcpPort, " " + padded)).reply, "");
    assert.equal(kv.node.get("big"), undefined);
    assert.equal((await exchange(kv.tcpPort, '"Heartbeat"')).reply, '"HeartbeatResponse"');
    await until(() => kv.node.connections === 0, "no connection held");
  } finally {
    await kv.stop();
  }
});

Deno.test("every datagram the node sends is at most 1,024 bytes and a valid base message", async () => {
  const capture = new UdpProbe();
  const peer = new TcpPeer();
  const kv = await startKv({
    broadcast: [capture.address],
    seeds: [capture.address],
    announceMs: 200,
  });
  const senders = [new UdpProbe(), new UdpProbe(), new UdpProbe()];
  try {
    const long = "n".repeat(64);
    await senders[0].send(
      kv.udpPort,
      `{"Handshake":{"node_name":"${long}","tcp_address":"127.0.0.1:${peer.port}","kv_ext":1,"boot":1}}`,
    );
    await senders[1].send(
      kv.udpPort,
      `{"Handshake":{"node_name":"","tcp_address":"127.0.0.1:${peer.port}"}}`,
    );
    await senders[2].send(kv.udpPort, `"Greeting"`);
    await senders[2].send(kv.udpPort, `not json`);
    await until(() => capture.received.length >= 6, "announcements");
    await until(
      () => senders[0].received.length >= 2 && senders[1].received.length >= 2,
      "replies",
    );
    const all = [capture, ...senders].flatMap((p) => p.received);
    assert.equal(senders[2].received.length, 0);
    for (const { bytes } of all) {
      assert.ok(bytes.length <= 1024, `${bytes.length} bytes`);
      const d = decodeLegacyBuffer(bytes);
      assert.ok(d.ok, td.decode(bytes));
      assert.ok(["Handshake", "Greeting"].includes(d.message.type), td.decode(bytes));
    }
    const announce = capture.texts();
    assert.ok(announce.every((t) => t === announce[0]), "the same Handshake every time");
    assert.match(
      announce[0],
      new RegExp(`"tcp_address":"127\\.0\\.0\\.1:${kv.tcpPort}","kv_ext":1,`),
    );
  } finally {
    for (const s of senders) await s.close();
    await capture.close();
    await peer.close();
    await kv.stop();
  }
});
