import assert from "node:assert/strict";
import { decodeMessage } from "../../src/bitclone/messages.ts";
import {
  canMove,
  checkCommand,
  DECODE_ERROR_ANSWERS,
  type LineRule,
  PEER_CONN_STATES,
  type ReceivedCommand,
} from "../../src/bitclone/peer_conn_states.ts";
import { addrPairs, ALICE_VERSION, bob, BOB_VERSION, established, Probe } from "./_peer_helpers.ts";

/** One well-formed line of each received command (a `block` line stands for Project 4). */
const SAMPLE: Readonly<Record<ReceivedCommand, string>> = {
  version: BOB_VERSION,
  verack: "verack|5843920175521",
  getaddr: "getaddr",
  addr: "addr|1|1700000000|203.0.113.9:4000",
  ping: "ping|77",
  pong: "pong|77",
  reject: "reject|400|bad request|x",
  message: "message|100|hello|there",
  blockLayer: "block|1|2",
};

/** The spec's rules (§A.6, §A.7, §C.11), written out independently of the table. */
const EXPECTED: Readonly<Record<"handshaking" | "established", Record<ReceivedCommand, LineRule>>> =
  {
    handshaking: {
      version: "handshake",
      verack: "handshake",
      getaddr: "stray",
      addr: "stray",
      ping: "stray",
      pong: "stray",
      reject: "report",
      message: "report",
      blockLayer: "stray",
    },
    established: {
      version: "redundant",
      verack: "redundant",
      getaddr: "serve",
      addr: "serve",
      ping: "serve",
      pong: "serve",
      reject: "report",
      message: "report",
      blockLayer: "unknown",
    },
  };

/** What PeerConn visibly did with one line, as the rule that explains it. */
function observedRule(p: Probe, line: string): LineRule {
  p.feed(`${line}\r\n`, 2000);
  const lines = p.lines();
  const events = p.events();
  const ignored = events.find((e) => e.type === "ignored");
  if (ignored?.type === "ignored" && ignored.why === "before the handshake") return "stray";
  if (ignored?.type === "ignored" && ignored.why.startsWith("redundant")) return "redundant";
  if (lines.some((l) => l.startsWith("reject|400|unknown command|"))) return "unknown";
  if (events.some((e) => e.type === "rejectReceived" || e.type === "messageReceived")) {
    return "report";
  }
  return lines.length > 0 || events.length > 0 ? "serve" : "handshake";
}

Deno.test("PEER_CONN_STATES: each decoded line's sample matches its command", () => {
  for (const [command, line] of Object.entries(SAMPLE)) {
    const r = decodeMessage(line);
    assert.ok(r.ok, line);
    assert.equal(r.message.type, command);
  }
});

Deno.test("PeerConn treats every command of an established connection as its table row says", () => {
  const row = PEER_CONN_STATES.established.lines!;
  assert.deepEqual(row, EXPECTED.established);
  for (const command of Object.keys(SAMPLE) as ReceivedCommand[]) {
    const p = established("outbound");
    assert.equal(observedRule(p, SAMPLE[command]), row[command], command);
  }
});

Deno.test("PeerConn treats every non-handshake command before the handshake as its table row says", () => {
  const row = PEER_CONN_STATES.handshaking.lines!;
  assert.deepEqual(row, EXPECTED.handshaking);
  for (const command of Object.keys(SAMPLE) as ReceivedCommand[]) {
    if (row[command] === "handshake") continue; // steps, checked by peer_conn_test.ts
    const p = new Probe(bob({ versionReplyDelayMs: 0 }));
    assert.equal(observedRule(p, SAMPLE[command]), row[command], command);
    assert.equal(p.conn.state, "handshaking");
  }
  // The two steps move the connection on.
  const p = new Probe(bob({ versionReplyDelayMs: 0 }));
  p.feed(`${ALICE_VERSION}\r\nverack|7021455\r\n`, 1);
  assert.equal(p.conn.state, "established");
});

Deno.test("PeerConn answers each kind of undecodable established line as DECODE_ERROR_ANSWERS says", () => {
  const te = new TextEncoder();
  const samples: Record<keyof typeof DECODE_ERROR_ANSWERS, Uint8Array> = {
    unknownCommand: te.encode("frobnicate|1\r\n"),
    tooLarge: te.encode(`ping|${"1".repeat(70_000)}\r\n`),
    tooMany: te.encode(`addr|1001|${addrPairs(1001).join("|")}\r\n`),
    invalidUtf8: Uint8Array.from([...te.encode("ping|"), 0xff, 13, 10]),
    malformed: te.encode("addr|x\r\n"),
  };
  for (const [kind, bytes] of Object.entries(samples)) {
    const p = established("inbound");
    p.conn.receiveData(bytes, 2000);
    const answer = DECODE_ERROR_ANSWERS[kind as keyof typeof samples];
    const [reject] = p.lines();
    if (answer === "unknown") {
      assert.match(reject, /^reject\|400\|unknown command\|frobnicate$/);
      assert.equal(p.conn.score, 0);
    } else {
      assert.ok(reject.startsWith(`reject|${answer.code}|${answer.reason}|`), `${kind}: ${reject}`);
      assert.equal(p.conn.score, answer.points, kind);
    }
  }
});

Deno.test("PEER_CONN_STATES allows only forward moves and the owner's commands per state", () => {
  assert.ok(canMove("handshaking", "established"));
  assert.ok(canMove("handshaking", "closed"));
  assert.ok(canMove("established", "closed"));
  assert.ok(!canMove("established", "handshaking"));
  assert.ok(!canMove("closed", "handshaking"));
  assert.ok(!canMove("closed", "established"));
  const p = new Probe(bob());
  assert.throws(() => p.conn.sendMessage(1, "a", "b"), {
    name: "TypeError",
    message: "Cannot send a message: the connection is handshaking",
  });
  assert.throws(() => checkCommand("closed", "sendAddr", "send addr"), TypeError);
  checkCommand("closed", "close", "close");
});
