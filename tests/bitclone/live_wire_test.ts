/**
 * A live BitClone peer (`startPeerNode`: the real core behind the real TCP adapter) on 127.0.0.1,
 * driven by raw sockets: the exact handshake lines in both directions, two messages in one
 * segment, a message split across segments, garbage answered with `reject` while the connection
 * and the node live on, a connection that never sends `version` dropped at the handshake
 * deadline, and a flood of 1,000 connections held within bounds.
 */
import assert from "node:assert/strict";
import { handshake, HOST, LineClient, startTestPeer, versionLine } from "./_live_helpers.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MAX_NONCE = 2 ** 53 - 1;

Deno.test("live peer answers an inbound version with exactly verack, its version, then getaddr", async () => {
  const t = await startTestPeer({ userAgent: "bitclone-test" });
  const port = t.peer.port;
  const client = await LineClient.connect(port);
  try {
    await sleep(150);
    assert.deepEqual(client.all, [], "a listener says nothing before a version");
    await client.send(versionLine(port, 4100, "12345"));
    assert.equal(await client.next(), "verack|12345");
    const version = await client.next();
    const m =
      /^version\|3\|1\|(\d+)\|127\.0\.0\.1:(\d+)\|127\.0\.0\.1:(\d+)\|(\d+)\|bitclone-test\|0$/
        .exec(version);
    assert.ok(m, `not the canonical version line: ${version}`);
    assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 5, "time is Unix seconds now");
    assert.equal(Number(m[2]), client.localPort, "recipient: our end as its socket sees it");
    assert.equal(Number(m[3]), port, "sender: its listening port");
    assert.ok(Number(m[4]) >= 1 && Number(m[4]) <= MAX_NONCE, "nonce in 1..2^53-1");
    await client.send(`verack|${m[4]}\r\n`);
    assert.equal(await client.next(), "getaddr");
    await client.send("ping|77\r\n");
    assert.equal(await client.next(), "pong|77");
  } finally {
    await client.close();
    await t.stop();
  }
});

Deno.test("live peer dials a manual peer with version first and completes when verack and version share one segment", async () => {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const target = listener.addr.port;
  const t = await startTestPeer({
    userAgent: "dialer",
    manualPeers: [`${HOST}:${target}`],
    dialCheckIntervalMs: 50,
  });
  const client = LineClient.wrap(await listener.accept());
  try {
    const version = await client.next();
    const m = /^version\|3\|1\|\d+\|127\.0\.0\.1:(\d+)\|127\.0\.0\.1:(\d+)\|(\d+)\|dialer\|0$/
      .exec(version);
    assert.ok(m, `not the canonical version line: ${version}`);
    assert.equal(Number(m[1]), target, "recipient: the address it dialed");
    assert.equal(Number(m[2]), t.peer.port, "sender: its listening port");
    // Both lines in one write (spec E.6 #1).
    const ours = versionLine(t.peer.port, target, "999").trimEnd();
    assert.ok(await client.send(`verack|${m[3]}\r\n${ours}\r\n`));
    assert.equal(await client.next(), "verack|999");
    assert.equal(await client.next(), "getaddr");
    const status = t.peer.status();
    assert.equal(status.outbound, 1);
  } finally {
    await client.close();
    await t.stop();
    listener.close();
  }
});

Deno.test("live peer processes two messages in one segment and answers getaddr only once", async () => {
  const t = await startTestPeer();
  const client = await LineClient.connect(t.peer.port);
  try {
    await handshake(client, t.peer.port, 4101, "4242");
    assert.ok(await client.send("ping|5\r\ngetaddr\r\n")); // spec E.6 #5
    const got = [await client.next(), await client.next()];
    assert.ok(got.includes("pong|5"), got.join(" / "));
    const addr = got.find((l) => l.startsWith("addr|"));
    assert.ok(addr, got.join(" / "));
    const fields = addr.split("|");
    assert.ok(Number(fields[1]) >= 1 && fields.length === 2 + 2 * Number(fields[1]), addr);
    await client.send("getaddr\r\nping|6\r\n");
    assert.equal(await client.next(), "pong|6", "the repeated getaddr gets no answer");
  } finally {
    await client.close();
    await t.stop();
  }
});

Deno.test("live peer reads a message split across segments exactly once", async () => {
  const t = await startTestPeer();
  const client = await LineClient.connect(t.peer.port);
  try {
    // The version itself in three fragments (spec E.6 #2).
    const version = versionLine(t.peer.port, 4102, "31337");
    await client.send(version.slice(0, 10));
    await sleep(30);
    await client.send(version.slice(10, 40));
    await sleep(30);
    await client.send(version.slice(40));
    assert.equal(await client.next(), "verack|31337");
    const theirs = await client.next();
    await client.send(`verack|${theirs.split("|")[6]}\r\n`);
    assert.equal(await client.next(), "getaddr");
    for (const piece of ["pi", "ng|7\r", "\n"]) {
      await client.send(piece);
      await sleep(30);
    }
    assert.equal(await client.next(), "pong|7");
    await client.send("ping|8\r\n");
    assert.equal(await client.next(), "pong|8", "no second pong|7 in between");
  } finally {
    await client.close();
    await t.stop();
  }
});

Deno.test("live peer answers garbage with reject while the connection and the node live on", async () => {
  const t = await startTestPeer();
  const client = await LineClient.connect(t.peer.port);
  const other = await LineClient.connect(t.peer.port);
  try {
    await handshake(client, t.peer.port, 4103, "555");
    await client.send("hello|x\r\n");
    assert.match(await client.next(), /^reject\|400\|[^|]+\|hello$/);
    await client.send("hello|again\r\n"); // one reject per distinct command (spec E.6 #12)
    await client.send(new Uint8Array([0x70, 0x69, 0xff, 0xfe, 0x0d, 0x0a])); // invalid UTF-8
    assert.match(await client.next(), /^reject\|400\|/);
    await client.send("ping|notanumber|extra\r\nping|9\r\n");
    const rest = [await client.next(), await client.next()];
    assert.ok(rest.includes("pong|9"), rest.join(" / "));
    assert.equal(client.closed, false);
    await handshake(other, t.peer.port, 4104, "556");
    await other.send("ping|10\r\n");
    assert.equal(await other.next(), "pong|10");
  } finally {
    await client.close();
    await other.close();
    await t.stop();
  }
});

Deno.test("live peer drops a connection that never sends version at the handshake deadline", async () => {
  const t = await startTestPeer({ handshakeTimeoutMs: 400 });
  const silent = await LineClient.connect(t.peer.port);
  const stray = await LineClient.connect(t.peer.port);
  try {
    const opened = performance.now();
    await stray.send("ping|1\r\n"); // not answered before the handshake (spec E.6 #3)
    await silent.closedWithin(3000);
    const took = performance.now() - opened;
    assert.ok(took >= 350, `closed too early: ${took} ms`);
    await stray.closedWithin(1000);
    assert.deepEqual(stray.all, [], "nothing answered before the handshake");
    assert.deepEqual(silent.all, []);
  } finally {
    await silent.close();
    await stray.close();
    await t.stop();
  }
});

Deno.test("live peer holds a flood of 1,000 connections within its bounds and still serves a good peer", async () => {
  const maxSockets = 64;
  const t = await startTestPeer({ handshakeTimeoutMs: 1000, maxSockets });
  let mostHeld = 0;
  const sampler = setInterval(() => {
    const s = t.peer.status();
    mostHeld = Math.max(mostHeld, s.inbound + s.outbound + s.pending);
  }, 5);
  const flood: LineClient[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      const opened = await Promise.all(
        Array.from({ length: 100 }, () => LineClient.connect(t.peer.port)),
      );
      flood.push(...opened);
    }
    const deadline = performance.now() + 6000;
    while (flood.some((c) => !c.closed) && performance.now() < deadline) await sleep(20);
    const open = flood.filter((c) => !c.closed).length;
    assert.equal(open, 0, `${open} flood connections still open`);
    const busy = flood.filter((c) => c.all[0] === "reject|503|busy|try later").length;
    const stats = t.peer.stats();
    assert.ok(mostHeld <= 12, `the core held ${mostHeld} connections at once`);
    assert.ok(stats.peakSockets <= maxSockets, `peak sockets ${stats.peakSockets}`);
    assert.equal(stats.accepted + stats.refused, 1000);
    assert.ok(busy > 0 && busy <= stats.accepted, `busy ${busy}, accepted ${stats.accepted}`);
    assert.ok(flood.every((c) => c.all.length <= 1), "a flood connection got at most one line");
    const good = await LineClient.connect(t.peer.port);
    try {
      await handshake(good, t.peer.port, 4105, "777");
      await good.send("ping|11\r\n");
      assert.equal(await good.next(), "pong|11");
    } finally {
      await good.close();
    }
  } finally {
    clearInterval(sampler);
    await Promise.all(flood.map((c) => c.close()));
    await t.stop();
  }
});
