import assert from "node:assert/strict";
import { PeerConn, type PeerEvent } from "../../src/bitclone/peer_conn.ts";
import { formatMessage } from "../../src/bitclone/messages.ts";
import { Prng } from "../../src/util/prng.ts";
import {
  addrPairs,
  ALICE,
  alice,
  ALICE_EPHEMERAL,
  ALICE_VERSION,
  BOB,
  bob,
  BOB_VERSION,
  established,
  Probe,
} from "./_peer_helpers.ts";

const te = new TextEncoder();
const NOW_SEC = 1_700_000_000; // unix seconds at virtual time 0

function closedReason(events: PeerEvent[]) {
  const closed = events.filter((e) => e.type === "closed");
  assert.equal(closed.length, 1, `expected one closed event in ${JSON.stringify(events)}`);
  assert.ok(closed[0].type === "closed");
  return closed[0];
}

// ---- the handshake -----------------------------------------------------------------------------

Deno.test("PeerConn sends the spec's dialer version first and completes the handshake byte for byte", () => {
  const p = new Probe(alice());
  assert.deepEqual(p.lines(), [ALICE_VERSION]);
  assert.equal(p.conn.state, "handshaking");
  assert.equal(p.conn.nonce, "5843920175521");
  p.feed(`verack|5843920175521\r\n${BOB_VERSION}\r\n`, 800); // both lines in one read (§E.6 #1)
  assert.deepEqual(p.lines(), ["verack|7021455", "getaddr"]);
  assert.equal(p.conn.state, "established");
  const events = p.events();
  assert.equal(events.length, 1);
  const e = events[0];
  assert.ok(e.type === "established");
  assert.deepEqual(e.peer, {
    role: "outbound",
    versionMessage: {
      type: "version",
      version: 4,
      services: 3,
      time: 1700000001,
      recipient: ALICE_EPHEMERAL,
      sender: BOB,
      nonce: "7021455",
      userAgent: "bob",
      blockId: 12,
    },
    protocolVersion: 4,
    services: 3,
    userAgent: "bob",
    nonce: "7021455",
    localNonce: "5843920175521",
    remoteAddress: BOB,
    listenAddress: BOB, // outbound: the address we dialed
    clockOffsetSec: 1,
  });
  assert.deepEqual(p.conn.peer, e.peer);
});

Deno.test("PeerConn answers as listener with verack, then its version 50 ms later, byte for byte", () => {
  const p = new Probe(bob());
  assert.deepEqual(p.lines(), [], "the listener sends nothing first");
  p.feed(ALICE_VERSION + "\r\n", 1000);
  assert.deepEqual(p.lines(), ["verack|5843920175521"]);
  assert.equal(p.conn.nextTimeout(), 1050);
  p.conn.handleTick(1049);
  assert.deepEqual(p.lines(), []);
  p.conn.handleTick(1050);
  assert.deepEqual(p.lines(), [BOB_VERSION]);
  assert.equal(p.conn.state, "handshaking");
  p.feed("verack|7021455\r\n", 1100);
  assert.equal(p.conn.state, "established");
  assert.deepEqual(p.lines(), ["getaddr"]);
  const [e] = p.events();
  assert.ok(e.type === "established");
  assert.deepEqual(e.peer.listenAddress, ALICE, "inbound identity: socket IP + sender port");
  assert.deepEqual(e.peer.remoteAddress, ALICE_EPHEMERAL);
  assert.equal(e.peer.localNonce, "7021455");
});

Deno.test("PeerConn sends verack and version together when versionReplyDelayMs is 0", () => {
  const p = new Probe(bob({ versionReplyDelayMs: 0 }));
  p.feed(ALICE_VERSION + "\n", 1000);
  assert.deepEqual(p.lines(), ["verack|5843920175521", BOB_VERSION]);
});

Deno.test("PeerConn completes the handshake when the listener's version comes before its verack", () => {
  const p = new Probe(alice());
  p.lines();
  p.feed(BOB_VERSION + "\r\n", 500);
  assert.deepEqual(p.lines(), ["verack|7021455"]);
  assert.equal(p.conn.state, "handshaking");
  p.feed("verack|5843920175521\r\n", 600);
  assert.deepEqual(p.lines(), ["getaddr"]);
  assert.equal(p.conn.state, "established");
});

Deno.test("PeerConn accepts a verack with the wrong number or none (spec §E.6 #9)", () => {
  for (const verack of ["verack|9000", "verack", "VERACK|x|y"]) {
    const p = new Probe(alice());
    p.feed(`${verack}\r\n${BOB_VERSION}\r\n`, 500);
    assert.equal(p.conn.state, "established", verack);
  }
});

Deno.test("PeerConn completes the assignment's own example handshake", () => {
  const p = new Probe(alice({ protocolVersion: 3, services: 1, blockId: 0 }));
  p.lines();
  p.feed(
    "verack|9000\r\nversion|3|1|1507490964|192.168.1.10:8090|130.111.135.12:2098|8192|houser|9000\r\n",
    5,
  );
  assert.deepEqual(p.lines(), ["verack|8192", "getaddr"]);
  const [e] = p.eventsOf("established");
  assert.equal(e.peer.userAgent, "houser");
});

Deno.test("PeerConn answers a first-revision version with a bare verack", () => {
  const p = new Probe(bob({ versionReplyDelayMs: 0 }));
  p.feed("version|houser|0|1508342400|192.0.2.10\r\n", 10);
  const lines = p.lines();
  assert.equal(lines[0], "verack");
  p.feed("verack\r\n", 20);
  const [e] = p.eventsOf("established");
  assert.equal(e.peer.nonce, undefined);
  assert.equal(e.peer.listenAddress, undefined, "no sender: never gossip or dial it");
});

Deno.test("PeerConn answers a version whose nonce holds a CR with a bare verack (fuzz find)", () => {
  const p = new Probe(bob({ versionReplyDelayMs: 0 }));
  p.feed("version|3|1|1700000000|198.51.100.7:4001|198.51.100.5:4000|58\r43|alice|0\r\n", 10);
  assert.deepEqual(p.lines()[0], "verack");
  assert.equal(p.conn.state, "handshaking");
  assert.deepEqual(p.eventsOf("closed"), []);
});

Deno.test("PeerConn ignores ping and getaddr before the handshake and closes on the 20th stray line (spec §E.6 #3)", () => {
  const p = new Probe(bob());
  p.feed("ping|1\r\ngetaddr\r\naddr|1|1700000000|192.0.2.1:80\r\nhello\r\n", 10);
  assert.deepEqual(p.lines(), [], "nothing is answered before the handshake");
  assert.equal(p.conn.stats.strayLines, 4);
  p.feed("ping|1\r\n".repeat(15), 20);
  assert.equal(p.conn.state, "handshaking");
  p.feed("ping|1\r\n", 30);
  assert.equal(p.conn.state, "closed");
  assert.deepEqual(p.lines(), []);
  const closed = closedReason(p.events());
  assert.deepEqual(closed.reason, { kind: "strayLines", count: 20 });
  assert.equal(closed.wasEstablished, false);
});

Deno.test("PeerConn counts a verack that comes before its own version as stray", () => {
  const p = new Probe(bob());
  p.feed("verack|1\r\n", 10);
  assert.equal(p.conn.stats.strayLines, 1);
  p.feed(ALICE_VERSION + "\r\n", 20);
  p.conn.handleTick(70);
  assert.equal(p.conn.state, "handshaking", "the early verack did not count");
  p.feed("verack|7021455\r\n", 80);
  assert.equal(p.conn.state, "established");
});

Deno.test("PeerConn rejects a version of fewer than 5 tokens and closes", () => {
  const p = new Probe(bob());
  p.feed("version|3|1|1700000000\r\n", 10);
  assert.deepEqual(p.lines(), ["reject|400|bad version|expected 8 fields"]);
  assert.deepEqual(closedReason(p.events()).reason, { kind: "badVersion" });
});

Deno.test("PeerConn ignores a redundant version during the handshake", () => {
  const p = new Probe(bob());
  p.feed(ALICE_VERSION + "\r\n" + ALICE_VERSION + "\r\n", 10);
  assert.deepEqual(p.lines(), ["verack|5843920175521"], "one verack only");
  assert.deepEqual(p.eventsOf("ignored").map((e) => e.why), ["redundant version"]);
});

Deno.test("PeerConn closes a connection that never sends version after the handshake timeout", () => {
  const p = new Probe(bob({ now: 100 }));
  assert.equal(p.conn.nextTimeout(), 30_100);
  p.conn.handleTick(30_099);
  assert.equal(p.conn.state, "handshaking");
  p.conn.handleTick(30_100);
  assert.equal(p.conn.state, "closed");
  assert.deepEqual(closedReason(p.events()), {
    type: "closed",
    reason: { kind: "handshakeTimeout" },
    wasEstablished: false,
  });
  assert.equal(p.conn.nextTimeout(), undefined);
  const q = new Probe(alice({ handshakeTimeoutMs: 5000 }));
  q.feed("verack|5843920175521\r\n", 100); // half a handshake is not enough
  q.conn.handleTick(5000);
  assert.equal(closedReason(q.events()).reason.kind, "handshakeTimeout");
});

Deno.test("PeerConn closes an outbound connection whose version comes back with our own nonce", () => {
  const p = new Probe(alice());
  p.lines();
  p.feed(ALICE_VERSION + "\r\n", 10); // reflected
  assert.deepEqual(p.lines(), [], "no verack to ourselves");
  assert.deepEqual(closedReason(p.events()).reason, {
    kind: "selfConnection",
    nonce: "5843920175521",
  });
});

Deno.test("PeerConn closes an inbound connection whose version nonce is one of ownNonces", () => {
  const pending = new Set<string>();
  const dialer = alice({ nonce: undefined, prng: Prng.seeded(9) });
  pending.add(dialer.nonce);
  const listener = new Probe(bob({ ownNonces: pending }));
  listener.feed(dialer.pollTransmit()!, 10);
  assert.deepEqual(listener.lines(), []);
  assert.deepEqual(closedReason(listener.events()).reason, {
    kind: "selfConnection",
    nonce: dialer.nonce,
  });
  const other = new Probe(bob({ ownNonces: pending }));
  other.feed(ALICE_VERSION + "\r\n", 10);
  assert.equal(other.conn.state, "handshaking", "a foreign nonce passes");
});

Deno.test("PeerConn closes an outbound connection on a 5xx reject before the handshake (busy)", () => {
  const p = new Probe(alice());
  p.feed("reject|500|Connections full|try later\r\n", 10);
  const events = p.events();
  assert.deepEqual(events[0], {
    type: "rejectReceived",
    code: 500,
    reason: "Connections full",
    details: "try later",
  });
  assert.deepEqual(closedReason(events).reason, { kind: "busy", code: 500 });
  const q = new Probe(alice());
  q.feed("reject|400|whatever|x\r\nmessage|100|hi|there\r\n", 10);
  assert.equal(q.conn.state, "handshaking", "a 4xx reject and a message are only logged");
  assert.deepEqual(q.events().map((e) => e.type), ["rejectReceived", "messageReceived"]);
  const r = new Probe(bob());
  r.feed("reject|503|busy|x\r\n", 10);
  assert.equal(r.conn.state, "handshaking", "busy only counts on outbound connections");
});

Deno.test("PeerConn refuses an inbound connection with a final reject from close()", () => {
  const p = new Probe(bob());
  p.conn.close("no free slot", { code: 503, reason: "busy", details: "try later" });
  assert.deepEqual(p.lines(), ["reject|503|busy|try later"]);
  const events = p.events();
  assert.equal(events[0].type, "rejectSent");
  assert.deepEqual(closedReason(events).reason, { kind: "local", note: "no free slot" });
  p.conn.close(); // idempotent
  assert.deepEqual(p.events(), []);
  p.feed(ALICE_VERSION + "\r\n", 10); // ignored once closed
  assert.deepEqual(p.lines(), []);
  assert.throws(() => p.conn.close("x", { code: 400, reason: "a|b", details: "" }), TypeError);
});

// ---- framing through the connection ------------------------------------------------------------

Deno.test("PeerConn handles several messages in one chunk (spec §E.6 #5)", () => {
  const p = established("inbound");
  p.feed("ping|5\r\ngetaddr\r\n", 2000);
  assert.deepEqual(p.lines(), ["pong|5"]);
  assert.deepEqual(p.events(), [{ type: "getaddrReceived" }]);
  assert.equal(p.conn.sendAddr([{ time: NOW_SEC + 2, address: BOB }]), 1);
  assert.deepEqual(p.lines(), ["addr|1|1700000002|198.51.100.7:4001"]);
  p.feed("getaddr\r\n", 3000);
  assert.deepEqual(p.lines(), [], "a second getaddr gets no answer");
  assert.deepEqual(p.events().map((e) => e.type), ["ignored"]);
});

Deno.test("PeerConn handles a message split across chunks byte by byte exactly once", () => {
  const p = new Probe(alice());
  p.lines();
  const bytes = te.encode(`verack|5843920175521\r\n${BOB_VERSION}\r\nping|42\r\n`);
  for (let i = 0; i < bytes.length; i++) p.feed(bytes.subarray(i, i + 1), 100 + i);
  assert.deepEqual(p.lines(), ["verack|7021455", "getaddr", "pong|42"]);
  assert.equal(p.conn.stats.linesReceived, 3);
});

Deno.test("PeerConn accepts lines terminated by a bare LF", () => {
  const p = new Probe(alice());
  p.lines();
  p.feed(`verack|5843920175521\n${BOB_VERSION}\nping|7\n`, 100);
  assert.deepEqual(p.lines(), ["verack|7021455", "getaddr", "pong|7"]);
});

Deno.test("PeerConn rejects a non-block line over 64 KiB with 413 and lives on", () => {
  const p = established("outbound");
  p.feed(`message|100|x|${"y".repeat(70_000)}\r\nping|1\r\n`, 2000);
  assert.deepEqual(p.lines(), ["reject|413|too large|message over 65536 bytes", "pong|1"]);
  assert.equal(p.conn.state, "established");
  assert.equal(p.conn.score, 20);
  assert.deepEqual(p.eventsOf("misbehaviour").map((e) => [e.points, e.score]), [[20, 20]]);
});

Deno.test("PeerConn closes at once on a line over 1 MiB, before the data ends (spec §E.6 #4)", () => {
  const p = established("outbound");
  const chunk = new Uint8Array(65_536).fill(0x61);
  let fed = 0;
  while (p.conn.state !== "closed" && fed < 2 * 1_048_576) {
    p.conn.receiveData(chunk, 2000);
    fed += chunk.length;
    assert.ok(p.conn.bufferedBytes <= 1_048_577);
  }
  assert.ok(fed <= 1_048_576 + 65_536, `closed after ${fed} bytes`);
  const closed = closedReason(p.events());
  assert.equal(closed.reason.kind, "lineTooLong");
  assert.equal(closed.wasEstablished, true);
  assert.equal(p.conn.bufferedBytes, 0);
});

// ---- bad input ---------------------------------------------------------------------------------

Deno.test("PeerConn rejects garbage and keeps the connection (spec §E.6 #12)", () => {
  const p = established("inbound");
  p.feed("hello|x\r\nhello|x\r\nHELLO\r\n", 2000);
  assert.deepEqual(
    p.lines(),
    ["reject|400|unknown command|hello"],
    "one reject per distinct command",
  );
  assert.equal(p.conn.score, 0, "unknown commands are never penalised");
  p.feed(Uint8Array.of(0x70, 0x69, 0x6e, 0x67, 0x7c, 0xff, 0x0d, 0x0a), 2001);
  assert.deepEqual(p.lines(), ["reject|400|bad request|ping: invalid UTF-8"]);
  p.feed("addr|lots\r\n", 2002);
  assert.deepEqual(p.lines(), ["reject|400|bad request|addr: count is not a number"]);
  p.feed("ping|9\r\n", 2003);
  assert.deepEqual(p.lines(), ["pong|9"]);
  assert.equal(p.conn.state, "established");
  assert.equal(p.conn.score, 20);
});

Deno.test("PeerConn answers Project 4 lines as unknown commands", () => {
  const p = established("inbound");
  p.feed(
    "tx|31337|0b0707e48342521f7f31da597a774721|Alice pays Bob 5 BitClones\r\ntx|1|2|3\r\ngetblockinv|0|0\r\n",
    2000,
  );
  assert.deepEqual(p.lines(), [
    "reject|400|unknown command|tx",
    "reject|400|unknown command|getblockinv",
  ]);
  assert.equal(p.conn.score, 0);
});

Deno.test("PeerConn answers at most 10 distinct unknown commands", () => {
  const p = established("inbound");
  for (let i = 0; i < 15; i++) p.feed(`cmd${i}\r\n`, 2000 + i);
  assert.equal(p.lines().length, 10);
  assert.equal(p.conn.state, "established");
});

Deno.test("PeerConn drops a peer after repeated violations (10 malformed lines = 100 points)", () => {
  const p = established("outbound");
  const bad = `ping|${"1".repeat(65)}\r\n`;
  for (let i = 0; i < 9; i++) p.feed(bad, 2000 + i);
  assert.equal(p.conn.state, "established");
  assert.equal(p.conn.score, 90);
  p.feed(bad + "ping|1\r\n", 2100);
  assert.equal(p.conn.state, "closed");
  const lines = p.lines();
  assert.equal(lines.length, 10, "each bad line got its reject, the last one before closing");
  assert.ok(lines.every((l) => l === "reject|400|bad request|ping: nonce longer than 64 bytes"));
  const closed = closedReason(p.events());
  assert.deepEqual(closed.reason, { kind: "misbehaviour", score: 100 });
  assert.equal(closed.wasEstablished, true);
});

Deno.test("PeerConn forgets misbehaviour points after 10 minutes", () => {
  const p = established("outbound");
  const bad = `ping|${"1".repeat(65)}\r\n`;
  for (let i = 0; i < 9; i++) p.feed(bad, 2000);
  for (let t = 62_000; t <= 602_000; t += 60_000) p.feed("ping|1\r\n", t); // stay active
  p.feed(bad, 602_001);
  assert.equal(p.conn.state, "established");
  assert.equal(p.conn.score, 10);
});

Deno.test("PeerConn sends at most 10 rejects per minute, then stays silent", () => {
  const p = established("outbound");
  for (let i = 0; i < 10; i++) p.feed(`cmd${i}\r\n`, 2000);
  assert.equal(p.lines().length, 10);
  p.feed("addr|x\r\n", 2001);
  assert.deepEqual(p.lines(), [], "over the limit: no reject");
  assert.equal(p.conn.stats.rejectsSuppressed, 1);
  assert.equal(p.conn.score, 10, "points still count");
  p.feed("addr|x\r\n", 62_000);
  assert.deepEqual(p.lines(), ["reject|400|bad request|addr: count is not a number"]);
});

Deno.test("PeerConn never answers a reject or a message", () => {
  const p = established("inbound");
  p.feed("reject|oops\r\nreject\r\nmessage\r\nmessage|100|handshake complete|\r\n", 2000);
  assert.deepEqual(p.lines(), []);
  assert.deepEqual(p.events().map((e) => e.type), [
    "rejectReceived",
    "rejectReceived",
    "messageReceived",
    "messageReceived",
  ]);
  assert.equal(p.conn.score, 0);
});

Deno.test("PeerConn ignores a redundant version or verack after establishment", () => {
  const p = established("outbound");
  p.feed(`${BOB_VERSION}\r\nverack|1\r\n`, 2000);
  assert.deepEqual(p.lines(), []);
  assert.deepEqual(p.eventsOf("ignored").map((e) => e.why), [
    "redundant version",
    "redundant verack",
  ]);
});

// ---- keep-alive --------------------------------------------------------------------------------

Deno.test("PeerConn pings every 30 s and reports the round trip of a matching pong", () => {
  const p = established("outbound", {}, 1000);
  assert.equal(p.conn.nextTimeout(), 31_000);
  p.conn.handleTick(30_999);
  assert.deepEqual(p.lines(), []);
  p.conn.handleTick(31_000);
  const [ping] = p.lines();
  assert.match(ping, /^ping\|[1-9]\d*$/);
  const nonce = ping.slice(5);
  assert.ok(Number.isSafeInteger(Number(nonce)));
  p.events(); // advertiseDue
  p.feed(`pong|${nonce}\r\n`, 31_250);
  assert.deepEqual(p.events(), [{ type: "pingRtt", rttMs: 250, nonce }]);
  assert.equal(p.conn.lastRttMs, 250);
  p.feed(`pong|${nonce}\r\npong|12345\r\npong\r\n`, 31_300);
  assert.deepEqual(p.lines(), [], "unknown pongs are ignored, never rejected");
  assert.equal(p.conn.score, 0);
  p.conn.handleTick(61_000);
  const [ping2] = p.lines();
  assert.match(ping2, /^ping\|/);
  assert.notEqual(ping2, ping, "a fresh nonce each time");
});

Deno.test("PeerConn drops a peer silent for 90 s, while its own pings keep going out", () => {
  const p = established("inbound", {}, 1000);
  const pings: number[] = [];
  for (let i = 0; i < 100 && p.conn.state !== "closed"; i++) {
    const at = p.conn.nextTimeout()!;
    p.conn.handleTick(at);
    for (const l of p.lines()) if (l.startsWith("ping|")) pings.push(at);
  }
  assert.deepEqual(pings, [31_000, 61_000]);
  const closed = closedReason(p.events());
  assert.deepEqual(closed.reason, { kind: "inactivity", silentMs: 90_000 });
  assert.equal(closed.wasEstablished, true);
  assert.equal(p.conn.nextTimeout(), undefined);
});

Deno.test("PeerConn resets the idle clock on every received line", () => {
  const p = established("inbound", {}, 1000);
  p.conn.handleTick(60_000);
  p.feed("message|100|still|here\r\n", 60_000);
  p.conn.handleTick(91_000);
  assert.equal(p.conn.state, "established");
  p.conn.handleTick(149_999);
  assert.equal(p.conn.state, "established");
  p.conn.handleTick(150_000);
  assert.equal(p.conn.state, "closed");
});

Deno.test("PeerConn answers at most 2 pings per second, and a bare ping with a bare pong", () => {
  const p = established("outbound");
  p.feed("ping|1\r\nping|2\r\nping|3\r\n", 2000);
  assert.deepEqual(p.lines(), ["pong|1", "pong|2"]);
  assert.equal(p.conn.stats.pingsDropped, 1);
  p.feed("ping\r\n", 3000);
  assert.deepEqual(p.lines(), ["pong"]);
  p.feed("ping| odd nonce \r\n", 3001);
  assert.deepEqual(p.lines(), ["pong| odd nonce "], "echoed byte for byte");
});

Deno.test("PeerConn emits advertiseDue every 30 s once established", () => {
  const p = established(
    "outbound",
    { pingIntervalMs: 1_000_000, inactivityTimeoutMs: 1_000_000 },
    0,
  );
  const due: number[] = [];
  for (let t = 0; t <= 100_000; t += 5_000) {
    p.conn.handleTick(t);
    for (const e of p.events()) if (e.type === "advertiseDue") due.push(t);
  }
  assert.deepEqual(due, [30_000, 60_000, 90_000]);
});

Deno.test("PeerConn timers are options: a fast ping and a short inactivity timeout", () => {
  const p = established("outbound", {
    pingIntervalMs: 100,
    inactivityTimeoutMs: 350,
    advertiseIntervalMs: Infinity,
  }, 0);
  const seen: string[] = [];
  for (let i = 0; i < 20 && p.conn.state !== "closed"; i++) {
    const at = p.conn.nextTimeout()!;
    p.conn.handleTick(at);
    seen.push(...p.lines().map((l) => `${at}:${l.split("|")[0]}`));
  }
  assert.deepEqual(seen, ["100:ping", "200:ping", "300:ping"]);
  assert.equal(closedReason(p.events()).reason.kind, "inactivity");
});

// ---- addresses ---------------------------------------------------------------------------------

Deno.test("PeerConn.sendAddr() batches at most 1000 entries per line, evenly split", () => {
  const p = established("outbound");
  const entries = Array.from({ length: 2500 }, (_, i) => ({
    time: NOW_SEC,
    address: { ip: `10.0.${i >> 8}.${i & 255}`, v6: false, port: 4000 },
  }));
  assert.equal(p.conn.sendAddr(entries), 2500);
  const lines = p.lines();
  assert.equal(lines.length, 3);
  const counts = lines.map((l) => Number(l.split("|")[1]));
  assert.deepEqual(counts, [834, 833, 833]);
  for (const l of lines) assert.equal(l.split("|").length, 2 + 2 * Number(l.split("|")[1]));
  const sent = lines.flatMap((l) => l.split("|").slice(2).filter((_, i) => i % 2 === 1));
  assert.equal(sent[0], "10.0.0.0:4000");
  assert.equal(sent[2499], "10.0.9.195:4000", "order kept");
  assert.equal(p.conn.sendAddr(entries.slice(0, 1000)), 1000);
  assert.equal(p.lines().length, 1, "1000 entries fit one line");
});

Deno.test("PeerConn.sendAddr() drops unusable and out-of-scope entries and refuses misuse", () => {
  const p = established("outbound");
  const n = p.conn.sendAddr([
    { time: NOW_SEC, address: { ip: "0.0.0.0", v6: false, port: 80 } },
    { time: NOW_SEC, address: { ip: "127.0.0.1", v6: false, port: 80 } }, // loopback to a public peer
    { time: NOW_SEC, address: { ip: "2001:db8::7", v6: true, port: 4003 } },
  ]);
  assert.equal(n, 1);
  assert.deepEqual(p.lines(), ["addr|1|1700000000|[2001:db8::7]:4003"]);
  assert.equal(
    p.conn.sendAddr([{ time: NOW_SEC, address: { ip: "224.0.0.1", v6: false, port: 80 } }]),
    0,
  );
  assert.deepEqual(p.lines(), [], "nothing left: no empty addr line");
  assert.throws(() => p.conn.sendAddr(Array(10_001).fill({ time: 1, address: BOB })), RangeError);
  assert.throws(() => p.conn.sendAddr([{ time: 1e12, address: BOB }]), RangeError);
  assert.deepEqual(p.lines(), [], "all or nothing");
  const q = new Probe(bob());
  assert.throws(() => q.conn.sendAddr([{ time: 1, address: BOB }]), TypeError);
  const loop = established("inbound", {
    remoteAddress: { ip: "127.0.0.1", v6: false, port: 51234 },
    localAddress: { ip: "127.0.0.1", v6: false, port: 4001 },
  });
  assert.equal(
    loop.conn.sendAddr([{ time: NOW_SEC, address: { ip: "127.0.0.1", v6: false, port: 80 } }]),
    1,
  );
});

Deno.test("PeerConn reports received addr entries with sane times and flags", () => {
  const p = established("inbound", {}, 0);
  p.feed(
    "addr|5|1700000001|198.51.100.5:4000|100|198.51.100.9:4002|1700000700|[2001:db8::7]:4003|1699990000|198.51.100.7:4001|1699990000|0.0.0.0:80\r\n",
    0,
  );
  const [e] = p.eventsOf("addrReceived");
  assert.deepEqual(e, {
    type: "addrReceived",
    solicited: true, // the first addr after our getaddr
    lineEntries: 5,
    entries: [
      { address: ALICE, time: 1700000001, clamped: false, selfAnnouncement: true },
      {
        address: { ip: "198.51.100.9", v6: false, port: 4002 },
        time: NOW_SEC - 432_000,
        clamped: true,
        selfAnnouncement: false,
      },
      {
        address: { ip: "2001:db8::7", v6: true, port: 4003 },
        time: NOW_SEC - 432_000,
        clamped: true,
        selfAnnouncement: false,
      },
      // 198.51.100.7:4001 is our own address and 0.0.0.0 is unusable: dropped
    ],
  });
  assert.equal(p.conn.stats.addrFiltered, 2);
  p.feed("addr|1|1700000000|198.51.100.20:4000\r\n", 10);
  const [second] = p.eventsOf("addrReceived");
  assert.equal(second.solicited, false);
  assert.deepEqual(p.lines(), []);
});

Deno.test("PeerConn drops a loopback addr entry from a non-loopback peer and clamps it from a loopback one (spec §E.6 #6)", () => {
  const p = established("inbound", {}, 0);
  p.feed("addr|1|100|[::1]:8080\r\n", 0);
  assert.deepEqual(p.eventsOf("addrReceived"), []);
  assert.deepEqual(p.lines(), []);
  assert.equal(p.conn.state, "established");
  const loop = established("inbound", {
    remoteAddress: { ip: "127.0.0.1", v6: false, port: 51234 },
    localAddress: { ip: "127.0.0.1", v6: false, port: 4001 },
  }, 0);
  loop.feed("addr|1|100|[::1]:8080\r\n", 0);
  const [e] = loop.eventsOf("addrReceived");
  assert.deepEqual(e.entries, [{
    address: { ip: "::1", v6: true, port: 8080 },
    time: NOW_SEC - 5 * 24 * 3600,
    clamped: true,
    selfAnnouncement: false,
  }]);
});

Deno.test("PeerConn drops an addr of 1001 entries and the peer with it (spec §E.6 #7)", () => {
  const p = established("inbound");
  p.feed(`addr|1001|${addrPairs(1001).join("|")}\r\n`, 2000);
  assert.deepEqual(p.lines(), ["reject|413|too large|addr: count 1001 over 1000"]);
  const events = p.events();
  assert.deepEqual(events.filter((e) => e.type === "addrReceived"), []);
  assert.deepEqual(closedReason(events).reason, { kind: "misbehaviour", score: 100 });
});

Deno.test("PeerConn processes the pairs present when the addr count disagrees", () => {
  const p = established("inbound");
  p.feed(`addr|3|${addrPairs(2).join("|")}\r\n`, 2000);
  assert.deepEqual(p.lines(), ["reject|400|addr count mismatch|addr: count 3, 2 entries present"]);
  assert.equal(p.eventsOf("addrReceived")[0].entries.length, 2);
  assert.equal(p.conn.score, 10);
});

Deno.test("PeerConn scores single-entry addr lines from the 5th within 60 s and rejects once", () => {
  const p = established("inbound");
  for (let i = 0; i < 4; i++) p.feed(`addr|1|${addrPairs(1, NOW_SEC, i)[0]}\r\n`, 2000 + i);
  assert.deepEqual(p.lines(), []);
  assert.equal(p.conn.score, 0);
  p.feed(`addr|1|${addrPairs(1, NOW_SEC, 4)[0]}\r\n`, 2010);
  assert.deepEqual(p.lines(), ["reject|400|addr not batched|addr: repeated single-entry lines"]);
  assert.equal(p.conn.score, 20);
  for (let i = 5; i < 8; i++) p.feed(`addr|1|${addrPairs(1, NOW_SEC, i)[0]}\r\n`, 2010 + i);
  assert.deepEqual(p.lines(), [], "one reject per connection");
  assert.equal(p.conn.score, 80);
  assert.equal(p.conn.state, "established");
  p.feed(`addr|1|${addrPairs(1, NOW_SEC, 9)[0]}\r\n`, 2100);
  assert.equal(closedReason(p.events()).reason.kind, "misbehaviour");
  const q = established("inbound");
  for (let i = 0; i < 8; i++) {
    q.feed(`addr|1|${addrPairs(1, NOW_SEC, i)[0]}\r\n`, 2000 + i * 20_000);
  }
  assert.equal(q.conn.score, 0, "spread over more than 60 s they are free");
});

Deno.test("PeerConn rate-limits addr entries with a token bucket topped up by our getaddr", () => {
  const p = established("inbound", {}, 0); // 10 tokens + 1000 for our getaddr
  p.feed(`addr|1000|${addrPairs(1000).join("|")}\r\n`, 0);
  p.feed(`addr|1000|${addrPairs(1000, NOW_SEC, 1000).join("|")}\r\n`, 0);
  const got = p.eventsOf("addrReceived").map((e) => e.entries.length);
  assert.deepEqual(got, [1000, 10]);
  assert.equal(p.conn.stats.addrRateLimited, 990);
  p.feed(`addr|100|${addrPairs(100, NOW_SEC, 3000).join("|")}\r\n`, 30_000); // +30 tokens
  assert.deepEqual(p.eventsOf("addrReceived").map((e) => e.entries.length), [30]);
  assert.deepEqual(p.lines(), [], "rate-limited entries are skipped silently");
  assert.equal(p.conn.score, 0);
  const feeler = established("outbound", { getaddrOnEstablish: false }, 0);
  feeler.feed(`addr|100|${addrPairs(100).join("|")}\r\n`, 0);
  assert.deepEqual(feeler.eventsOf("addrReceived").map((e) => e.entries.length), [10]);
});

Deno.test("PeerConn sends getaddr once: automatically, or never for a feeler", () => {
  const p = established("outbound");
  assert.throws(() => p.conn.sendGetaddr(), TypeError);
  const feeler = new Probe(alice({ getaddrOnEstablish: false }));
  feeler.feed(`verack|5843920175521\r\n${BOB_VERSION}\r\n`, 100);
  assert.deepEqual(
    feeler.lines(),
    [ALICE_VERSION, "verack|7021455"],
    "a feeler sends nothing else",
  );
  feeler.conn.sendGetaddr();
  assert.deepEqual(feeler.lines(), ["getaddr"]);
});

// ---- commands, bounds and misuse ---------------------------------------------------------------

Deno.test("PeerConn.sendMessage() sends diagnostics after the handshake, 10 per minute", () => {
  const p = established("outbound");
  assert.equal(p.conn.sendMessage(100, "hello", "bitclone-ts 1.0"), true);
  assert.deepEqual(p.lines(), ["message|100|hello|bitclone-ts 1.0"]);
  for (let i = 0; i < 9; i++) assert.equal(p.conn.sendMessage(100, "n", `${i}`), true);
  assert.equal(p.conn.sendMessage(100, "n", "over"), false);
  assert.equal(p.lines().length, 9);
  assert.throws(() => p.conn.sendMessage(100, "a|b", ""), TypeError);
  assert.throws(() => new Probe(bob()).conn.sendMessage(100, "x", ""), TypeError);
});

Deno.test("PeerConn.receiveEof() closes and discards an unterminated line", () => {
  const p = established("outbound");
  p.feed("ping|1\r\nping|2", 2000);
  p.conn.receiveEof(2001);
  assert.deepEqual(p.lines(), ["pong|1"]);
  const closed = closedReason(p.events());
  assert.deepEqual(closed.reason, { kind: "peerClosed", discardedBytes: 6 });
  assert.throws(() => p.conn.sendAddr([]), TypeError, "commands are refused once closed");
  p.conn.receiveEof(2002); // ignored
  p.conn.handleTick(99_999_999);
  assert.deepEqual(p.events(), []);
});

Deno.test("PeerConn closes when more than maxQueuedBytes wait undrained", () => {
  const p = established("outbound", { maxQueuedBytes: 200 });
  for (let i = 0; i < 11; i++) p.feed("ping|1111111111\r\n", 2000 + 1000 * i); // 17-byte pongs
  assert.equal(p.conn.state, "established");
  p.feed("ping|1111111111\r\n", 20_000);
  assert.deepEqual(closedReason(p.events()).reason, { kind: "sendQueueFull", bytes: 187 });
  assert.equal(p.lines().length, 11, "what was queued is still delivered");
});

Deno.test("PeerConn throws RangeError when time goes backwards and TypeError on bad input types", () => {
  const p = new Probe(bob({ now: 1000 }));
  assert.throws(() => p.conn.receiveData(new Uint8Array(1), 999), RangeError);
  assert.throws(() => p.conn.handleTick(NaN), RangeError);
  assert.throws(() => p.conn.receiveData("x" as unknown as Uint8Array, 1000), TypeError);
  p.conn.handleTick(1000); // same time is fine
});

Deno.test("PeerConn constructor validates its options before sending anything", () => {
  const base = {
    role: "outbound" as const,
    prng: Prng.seeded(1),
    now: 0,
    remoteAddress: BOB,
    localAddress: ALICE,
  };
  assert.throws(() => new PeerConn({ ...base, role: "sideways" as "outbound" }), TypeError);
  assert.throws(() => new PeerConn({ ...base, userAgent: "a|b" }), TypeError);
  assert.throws(() => new PeerConn({ ...base, userAgent: "u".repeat(300) }), RangeError);
  assert.throws(
    () => new PeerConn({ ...base, remoteAddress: { ip: "::FFFF:1.2.3.4", v6: true, port: 1 } }),
    TypeError,
  );
  assert.throws(() => new PeerConn({ ...base, handshakeTimeoutMs: 0 }), RangeError);
  assert.throws(() => new PeerConn({ ...base, pingIntervalMs: Infinity }), RangeError);
  assert.throws(() => new PeerConn({ ...base, versionReplyDelayMs: -1 }), RangeError);
  assert.throws(() => new PeerConn({ ...base, now: -1 }), RangeError);
  assert.throws(() => new PeerConn({ ...base, nonce: "" }), RangeError);
  const ok = new PeerConn(base);
  assert.match(ok.nonce, /^[1-9]\d*$/);
  assert.ok(formatMessage({ type: "ping", nonce: ok.nonce }));
});
