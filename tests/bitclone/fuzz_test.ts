/**
 * Fuzzing the BitClone core: 100,000 random and mutated lines from a seeded Prng (bit flips,
 * delimiter and control-byte writes, inserted and deleted ranges, token swaps and replacements
 * with hostile values, truncations, splices, case changes, invalid UTF-8, huge counts and huge
 * lines, plus plain random bytes and random token soups).
 *
 * Every line must give a typed outcome from decodeMessage() without throwing (and a decoded
 * message that can be re-encoded must decode to itself). The same lines, with random terminators
 * and random chunking, go through live PeerConns (established inbound, established outbound and
 * handshaking ones, replaced when they close) with virtual time moving on: nothing may throw, no
 * internal error may close a connection, every line a connection sends must be a well-formed
 * canonical line, rejects stay within 10 per minute, and buffers stay within their bounds.
 *
 * Other seeds: BITCLONE_FUZZ_SEED=<n> with --allow-env (the default seed is fixed).
 */
import assert from "node:assert/strict";
import {
  type BitcloneMessage,
  type DecodeErrorKind,
  decodeMessage,
  encodeMessage,
  formatMessage,
  MAX_LINE_NONBLOCK_BYTES,
  randomNonce,
} from "../../src/bitclone/messages.ts";
import { MAX_LINE_BYTES } from "../../src/bitclone/framing.ts";
import { PeerConn, type PeerConnOptions } from "../../src/bitclone/peer_conn.ts";
import { readEnv } from "../../src/sim/mod.ts";
import { Prng } from "../../src/util/prng.ts";
import { ALICE_VERSION, BOB_VERSION, UNIX_MS_AT_ZERO } from "./_peer_helpers.ts";

const LINES = 100_000;
const seedText = readEnv("BITCLONE_FUZZ_SEED");
const SEED = seedText === undefined || seedText.trim() === "" ? 0xb17c10e : Number(seedText);

const te = new TextEncoder();
const td = new TextDecoder();

// ---- a corpus of valid lines -------------------------------------------------------------------

const SPEC_LINES = [
  ALICE_VERSION,
  BOB_VERSION,
  "version|3|1|1507490964|192.168.1.10:8090|130.111.135.12:2098|8192|houser|9000",
  "version|houser|0|1508342400|192.0.2.10",
  "verack|5843920175521",
  "verack|9000",
  "verack",
  "getaddr",
  "addr|2|1507490964|192.168.1.10:2989|1507490964|130.111.135.1:8767",
  "addr|3|1700000001|198.51.100.7:4001|1699999000|198.51.100.9:4002|1699990000|[2001:db8::7]:4003",
  "addr|2|1700000000|192.0.2.1|4000|1700000001|2001:db8::1|4001",
  "addr|1|100|[::1]:8080",
  "ping|7730125",
  "pong|7730125",
  "ping",
  'reject|400|Invalid command|The command "send me flowers" was not recognized.',
  "reject|503|busy|try later",
  "message|100|peer statistics|43 requests, 10 rejections, 76% correct",
  "message|100|handshake complete|",
  "tx|31337|0b0707e48342521f7f31da597a774721|Alice pays Bob 5 BitClones",
  "block|2|1511980760|7|00001020ab42bd31e18e330403fe28fe|3f25703b6161bdb3a19d5b460467456d|0|",
  "getblockinv|0|0",
  "blockinv|1|fd6b2d5319fa40bd41f410bed54525f2",
  "getblocks|1|fd6b2d5319fa40bd41f410bed54525f2",
  "(192.0.2.10,8090)",
  "hello|x",
];

const HOSTS = [
  "192.0.2.10:8090",
  "(192.0.2.10,8090)",
  "[2001:db8::1]:8333",
  "2001:db8::1:8333",
  "::ffff:127.0.0.1:3000",
  "0.0.0.0:3000",
  "[ff02::1]:3000",
  "127.0.0.1:4000",
  "10.1.2.3:65535",
  "[fe80::1%eth0]:80",
];

function randomLine(prng: Prng): string {
  const host = () => prng.pick(HOSTS);
  const time = () =>
    String(prng.chance(0.1) ? prng.int(0, 200_000_000) : 1_700_000_000 + prng.int(-1e6, 1e6));
  switch (prng.int(0, 9)) {
    case 0:
      return `version|${prng.int(2, 5)}|${prng.int(0, 7)}|${time()}|${host()}|${host()}|${
        randomNonce(prng)
      }|ua${prng.int(0, 99)}|${prng.int(0, 50)}`;
    case 1:
      return `verack|${randomNonce(prng)}`;
    case 2: {
      const n = prng.chance(0.02) ? prng.int(990, 1010) : prng.int(0, 12);
      const parts = [`addr`, String(prng.chance(0.9) ? n : prng.int(0, 20))];
      for (let i = 0; i < n; i++) {
        parts.push(
          time(),
          prng.chance(0.8)
            ? `10.${prng.int(0, 255)}.${prng.int(0, 255)}.${prng.int(1, 254)}:${prng.int(1, 65535)}`
            : host(),
        );
      }
      return parts.join("|");
    }
    case 3:
      return `ping|${randomNonce(prng)}`;
    case 4:
      return `pong|${randomNonce(prng)}`;
    case 5:
      return `reject|${prng.int(400, 599)}|reason ${prng.int(0, 9)}|details`;
    case 6:
      return `message|${prng.int(100, 199)}|summary|details ${prng.int(0, 9)}`;
    case 7:
      return "getaddr";
    case 8:
      return `tx|${prng.int(0, 1e6)}|${"0123456789abcdef".repeat(2)}|some text`;
    default:
      return prng.pick(SPEC_LINES);
  }
}

// ---- mutations ---------------------------------------------------------------------------------

const INTERESTING_BYTES = [
  0x7c,
  0x0d,
  0x0a,
  0x00,
  0xff,
  0x80,
  0xc3,
  0x20,
  0x09,
  0x3a,
  0x5b,
  0x5d,
  0x2c,
];
const INTERESTING_TOKENS = [
  "",
  " ",
  "0",
  "-1",
  "1e3",
  "9007199254740991",
  "9007199254740992",
  "99999999999999999999",
  "100000000000",
  "1000",
  "1001",
  "00000011",
  "[::1]:80",
  "(1.2.3.4,5)",
  "::",
  "ping",
  "version",
  "addr",
  "é☕😀",
  "\ud800",
  "x".repeat(65),
  "9".repeat(300),
];

function mutate(prng: Prng, line: Uint8Array): Uint8Array {
  let b: Uint8Array = line.slice();
  const rounds = prng.int(1, 4);
  for (let r = 0; r < rounds; r++) {
    const pos = b.length === 0 ? 0 : prng.int(0, b.length - 1);
    switch (prng.int(0, 10)) {
      case 0: // bit flip
        if (b.length > 0) b[pos] ^= 1 << prng.int(0, 7);
        break;
      case 1: // interesting byte
        if (b.length > 0) b[pos] = prng.pick(INTERESTING_BYTES);
        break;
      case 2: { // insert random bytes
        const ins = prng.bytes(prng.int(1, 8));
        b = concat([b.subarray(0, pos), ins, b.subarray(pos)]);
        break;
      }
      case 3: // delete a range
        b = concat([b.subarray(0, pos), b.subarray(Math.min(b.length, pos + prng.int(1, 16)))]);
        break;
      case 4: // truncate
        b = b.subarray(0, pos);
        break;
      case 5: { // repeat a range
        const end = Math.min(b.length, pos + prng.int(1, 40));
        const times = prng.int(1, prng.chance(0.01) ? 2000 : 20);
        const parts = [b.subarray(0, end)];
        for (let i = 0; i < times; i++) parts.push(b.subarray(pos, end));
        parts.push(b.subarray(end));
        b = concat(parts);
        break;
      }
      case 6: // upper-case everything
        b = te.encode(td.decode(b).toUpperCase());
        break;
      default: { // token-level edits
        const tokens = td.decode(b).split("|");
        const i = prng.int(0, tokens.length - 1);
        const what = prng.int(0, 4);
        if (what === 0) tokens[i] = prng.pick(INTERESTING_TOKENS);
        else if (what === 1) tokens.splice(i, 1);
        else if (what === 2) tokens.splice(i, 0, prng.pick(INTERESTING_TOKENS));
        else if (what === 3) {
          const j = prng.int(0, tokens.length - 1);
          [tokens[i], tokens[j]] = [tokens[j], tokens[i]];
        } else tokens.push(...tokens.slice(1, prng.int(1, tokens.length)));
        b = te.encode(tokens.join("|"));
      }
    }
  }
  return b;
}

function generate(prng: Prng, previous: Uint8Array): Uint8Array {
  const r = prng.float();
  if (r < 0.1) return prng.bytes(prng.int(0, 200)); // raw random bytes
  if (r < 0.2) { // random token soup
    const n = prng.int(1, 12);
    const tokens: string[] = [];
    for (let i = 0; i < n; i++) {
      tokens.push(prng.chance(0.5) ? prng.pick(INTERESTING_TOKENS) : String(prng.int(0, 1e9)));
    }
    return te.encode(tokens.join("|"));
  }
  if (r < 0.25) {
    return concat([
      previous.subarray(0, prng.int(0, previous.length)),
      mutate(prng, te.encode(randomLine(prng))),
    ]); // splice
  }
  if (r < 0.2502) return te.encode(`message|100|x|${"y".repeat(prng.int(65_000, 70_000))}`); // around 64 KiB
  const valid = te.encode(randomLine(prng));
  return r < 0.4 ? valid : mutate(prng, valid);
}

// ---- the decoder -------------------------------------------------------------------------------

const ERROR_KINDS: DecodeErrorKind[] = [
  "tooLarge",
  "invalidUtf8",
  "unknownCommand",
  "tooMany",
  "malformed",
];
const MESSAGE_TYPES: BitcloneMessage["type"][] = [
  "version",
  "verack",
  "getaddr",
  "addr",
  "ping",
  "pong",
  "reject",
  "message",
  "blockLayer",
];

function checkDecode(line: Uint8Array, tally: Map<string, number>): void {
  const r = decodeMessage(line); // must not throw
  if (r.ok) {
    assert.ok(MESSAGE_TYPES.includes(r.message.type));
    tally.set(r.message.type, (tally.get(r.message.type) ?? 0) + 1);
    let text: string | undefined;
    try {
      text = formatMessage(r.message);
    } catch (err) {
      assert.ok(err instanceof TypeError || err instanceof RangeError, String(err));
    }
    if (text !== undefined) {
      tally.set("reencoded", (tally.get("reencoded") ?? 0) + 1);
      const again = decodeMessage(text);
      assert.ok(again.ok, text);
      if (JSON.stringify(again.message) !== JSON.stringify(r.message)) {
        assert.deepEqual(again.message, r.message, text); // fails with a readable diff
      }
    }
  } else {
    assert.ok(ERROR_KINDS.includes(r.error.kind));
    assert.ok(r.error.command.length <= 32 && !/[|\r\n]/.test(r.error.command));
    assert.ok(!/[|\r\n]/.test(r.error.detail) && r.error.detail.length <= 200);
    tally.set(r.error.kind, (tally.get(r.error.kind) ?? 0) + 1);
  }
}

// ---- live connections --------------------------------------------------------------------------

interface Slot {
  readonly kind: "inbound" | "outbound" | "fresh";
  conn: PeerConn;
  rejectTimes: number[];
}

function newConn(kind: Slot["kind"], prng: Prng, now: number): PeerConn {
  const common: Omit<PeerConnOptions, "role"> = {
    prng: prng.fork(),
    now,
    remoteAddress: { ip: "198.51.100.7", v6: false, port: 4001 },
    localAddress: { ip: "198.51.100.5", v6: false, port: 4000 },
    unixMillisOffset: UNIX_MS_AT_ZERO,
    versionReplyDelayMs: 0,
  };
  if (kind === "fresh") return new PeerConn({ ...common, role: "inbound" });
  if (kind === "outbound") {
    const conn = new PeerConn({ ...common, role: "outbound", nonce: "5843920175521" });
    conn.receiveData(te.encode(`verack\r\n${BOB_VERSION}\r\n`), now);
    assert.equal(conn.state, "established");
    return conn;
  }
  const conn = new PeerConn({ ...common, role: "inbound", nonce: "7021455" });
  conn.receiveData(te.encode(`${ALICE_VERSION}\r\nverack\r\n`), now);
  assert.equal(conn.state, "established");
  return conn;
}

/** Drains a connection, checking every output; returns whether it closed. */
function drain(slot: Slot, now: number, closes: Map<string, number>): boolean {
  let closed = false;
  for (let t = slot.conn.pollTransmit(), i = 0; t; t = slot.conn.pollTransmit(), i++) {
    assert.ok(i < 10_000, "runaway transmits");
    assert.ok(t.length >= 3 && t.length <= MAX_LINE_NONBLOCK_BYTES + 2);
    assert.equal(t[t.length - 2], 0x0d);
    assert.equal(t[t.length - 1], 0x0a);
    const body = t.subarray(0, t.length - 2);
    assert.ok(!body.includes(0x0a) && !body.includes(0x0d));
    const d = decodeMessage(body);
    assert.ok(d.ok, `we sent an undecodable line: ${td.decode(body).slice(0, 200)}`);
    if (!sameBytes(encodeMessage(d.message), t)) assert.fail("we send canonical lines only");
    if (d.message.type === "reject") {
      slot.rejectTimes.push(now);
      while (slot.rejectTimes.length > 0 && slot.rejectTimes[0] <= now - 60_000) {
        slot.rejectTimes.shift();
      }
      assert.ok(slot.rejectTimes.length <= 11, "more than 10 rejects in a minute");
    }
  }
  for (let e = slot.conn.pollEvent(), i = 0; e; e = slot.conn.pollEvent(), i++) {
    assert.ok(i < 100_000, "runaway events");
    if (e.type === "closed") {
      assert.ok(!closed, "two closed events");
      assert.notEqual(e.reason.kind, "internalError", JSON.stringify(e.reason));
      closes.set(
        `${slot.kind}:${e.reason.kind}`,
        (closes.get(`${slot.kind}:${e.reason.kind}`) ?? 0) + 1,
      );
      closed = true;
    } else {
      assert.ok(!closed, "an event after closed");
    }
  }
  assert.equal(slot.conn.stats.eventsDropped, 0);
  assert.ok(slot.conn.bufferedBytes <= MAX_LINE_BYTES + 1, `buffered ${slot.conn.bufferedBytes}`);
  if (closed) assert.equal(slot.conn.state, "closed");
  return closed;
}

Deno.test(`decodeMessage() and PeerConn survive ${LINES} random and mutated lines (seed ${SEED})`, () => {
  const prng = Prng.seeded(SEED);
  const tally = new Map<string, number>();
  const closes = new Map<string, number>();
  let now = 0;
  const slots: Slot[] = (["inbound", "outbound", "fresh"] as const).map((kind) => ({
    kind,
    conn: newConn(kind, prng, now),
    rejectTimes: [],
  }));
  for (const s of slots) drain(s, now, closes);
  let previous: Uint8Array = new Uint8Array(0);
  const terminators = [te.encode("\r\n"), te.encode("\n"), te.encode("\r\n\r\n")];
  for (let n = 0; n < LINES; n++) {
    const line = generate(prng, previous);
    previous = line;
    checkDecode(line, tally);
    // The same line, terminated, through every connection in random chunks.
    const wire = concat([line, prng.pick(terminators)]);
    now += prng.chance(0.9) ? prng.int(0, 50) : prng.int(0, 40_000);
    for (const slot of slots) {
      const due = slot.conn.nextTimeout();
      if (due !== undefined && due <= now) slot.conn.handleTick(now);
      let closed = drain(slot, now, closes);
      for (let offset = 0; offset < wire.length && !closed;) {
        const size = prng.chance(0.7) ? wire.length : prng.int(1, wire.length > 2048 ? 4096 : 64);
        slot.conn.receiveData(wire.subarray(offset, offset + size), now);
        offset += size;
        closed = drain(slot, now, closes);
      }
      if (closed || slot.conn.state === "closed") {
        slot.conn = newConn(slot.kind, prng, now);
        slot.rejectTimes = [];
        drain(slot, now, closes);
      }
    }
  }
  // The fuzzer reached every outcome (so the assertions above were not vacuous).
  for (const k of [...ERROR_KINDS, ...MESSAGE_TYPES, "reencoded"]) {
    assert.ok((tally.get(k) ?? 0) > 0, `never saw ${k}: ${JSON.stringify([...tally])}`);
  }
  for (
    const k of [
      "inbound:misbehaviour",
      "outbound:misbehaviour",
      "fresh:strayLines",
      "fresh:badVersion",
    ]
  ) {
    assert.ok((closes.get(k) ?? 0) > 0, `never closed by ${k}: ${JSON.stringify([...closes])}`);
  }
});

Deno.test("PeerConn survives a raw random byte stream fed in random chunks", () => {
  const prng = Prng.seeded(SEED ^ 0x5a5a);
  const closes = new Map<string, number>();
  let now = 0;
  for (let round = 0; round < 200; round++) {
    const kind = prng.pick(["inbound", "outbound", "fresh"] as const);
    const slot: Slot = { kind, conn: newConn(kind, prng, now), rejectTimes: [] };
    drain(slot, now, closes);
    for (let i = 0; i < 200 && slot.conn.state !== "closed"; i++) {
      const bytes = prng.bytes(prng.int(1, 300));
      now += prng.int(0, 100);
      slot.conn.receiveData(bytes, now);
      drain(slot, now, closes);
    }
  }
  assert.ok(closes.size > 0);
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
