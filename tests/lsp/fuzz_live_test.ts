/**
 * "Bad input never hurts" on a live server (spec §2.3, §3.3, §17): 100,000 fuzzed datagrams —
 * random bytes, broken JSON, wrong types, huge numbers, datagrams over 1500 bytes, mutations of
 * valid messages, unknown ConnIDs, targeted bad Data on a live connection, and a Connect flood
 * from 2,000 source sockets — hit a real server on 127.0.0.1 while a real client keeps echoing.
 *
 * Checked: the client's echo stream stays exact; the server's connection table never grows past
 * `maxConnections` (and does fill up); every fuzzed datagram is accounted for, by reason, in the
 * drop counters of the server (and of the client, which gets a share of the garbage too).
 *
 * The datagrams come from a seeded {@linkcode Prng}: `FUZZ_SEED=<n>` replays a failed run. The
 * sender paces itself (a batch, then wait until the receiver has taken it) so that the kernel
 * never drops a datagram: that keeps the accounting exact.
 */
import assert from "node:assert/strict";
import { connect, type LspClient } from "../../src/lsp/client_deno.ts";
import type { LspParams } from "../../src/lsp/params.ts";
import { listen } from "../../src/lsp/server_deno.ts";
import { checksum } from "../../src/lsp/checksum.ts";
import {
  ackMessage,
  cackMessage,
  connectMessage,
  dataMessage,
  decodeMessage,
  encodeBase64,
  encodeMessage,
  heartbeatMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MsgType,
} from "../../src/lsp/wire.ts";
import { Prng } from "../../src/util/prng.ts";
import { bytes, echoServe, RawPeer, text, waitFor, withTimeout } from "./_loopback.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 0xf0221e);
const TOTAL = 100_000;
const FLOOD_SOCKETS = 2_000;
const FLOOD_BATCH = 200;
const MAX_CONNS = 64;
const SEND_BATCH = 64;
const GARBAGE_SOCKETS = 16;
/** Long EpochLimit: no connection (the flood's included) times out during the test. */
const PARAMS: Partial<LspParams> = { epochLimit: 1000, epochMillis: 100, windowSize: 4 };
const WINDOW = 4;

const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Generators

/** A plausible valid message: any type, ConnIDs near the real ones and far away. */
function validMessage(prng: Prng): LspMessage {
  const connId = prng.chance(0.5) ? prng.int(0, 5) : prng.int(0, 2 ** 31);
  const seq = prng.chance(0.5) ? prng.int(0, 300) : prng.int(0, 2 ** 40);
  switch (prng.int(0, 4)) {
    case 0:
      return connectMessage(seq);
    case 1:
      return ackMessage(connId, seq);
    case 2:
      return cackMessage(connId, seq);
    case 3:
      return heartbeatMessage(connId);
    default:
      return dataMessage(connId, seq, prng.bytes(prng.int(0, 120)));
  }
}

const HUGE = [
  "9007199254740992",
  "9007199254740993",
  "-9007199254740993",
  "18446744073709551616",
  "123456789012345678901234567890",
  "1e400",
  "-1e309",
  "1e2",
  "41.0",
  "0.5",
  "-0.0",
  "65536",
  "-1",
  "99999999999999999999999999999999999999999999",
];

function randomJsonValue(prng: Prng, depth: number): string {
  const pick = depth > 3 ? prng.int(0, 4) : prng.int(0, 7);
  switch (pick) {
    case 0:
      return prng.pick(["null", "true", "false"]);
    case 1:
      return String(prng.int(-1000, 100000));
    case 2:
      return prng.pick(HUGE);
    case 3:
      return JSON.stringify(encodeBase64(prng.bytes(prng.int(0, 30))).slice(prng.int(0, 3)));
    case 4:
      return JSON.stringify(String.fromCharCode(...prng.bytes(prng.int(0, 12))));
    case 5:
      return `[${
        Array.from({ length: prng.int(0, 5) }, () => randomJsonValue(prng, depth + 1)).join(",")
      }]`;
    default: {
      const keys = ["Type", "ConnID", "SeqNum", "Size", "Checksum", "Payload", "type", "x"];
      const n = prng.int(0, 7);
      const fields = Array.from(
        { length: n },
        () => `${JSON.stringify(prng.pick(keys))}:${randomJsonValue(prng, depth + 1)}`,
      );
      return `{${fields.join(",")}}`;
    }
  }
}

/** A message object with one or more fields of the wrong type or with huge numbers. */
function wrongTypes(prng: Prng): string {
  const m = validMessage(prng);
  const fields: [string, string][] = [
    ["Type", String(m.type)],
    ["ConnID", String(m.connId)],
    ["SeqNum", String(m.seqNum)],
    ["Size", String(m.size)],
    ["Checksum", String(m.checksum)],
    ["Payload", m.payload === null ? "null" : JSON.stringify(encodeBase64(m.payload))],
  ];
  const bad = prng.int(1, 3);
  for (let i = 0; i < bad; i++) {
    const f = prng.int(0, fields.length - 1);
    fields[f][1] = prng.chance(0.5)
      ? prng.pick(HUGE)
      : prng.pick(['"1"', "true", "[]", "{}", "1.5", '"x"', "[1,2,300]", '"@@@="']);
  }
  return `{${fields.map(([k, v]) => `"${k}":${v}`).join(",")}}`;
}

/** Valid bytes with 1–4 random edits: flips, deletions, insertions, truncation, doubling. */
function mutate(prng: Prng, input: Uint8Array): Uint8Array {
  let b = Array.from(input);
  const edits = prng.int(1, 4);
  for (let i = 0; i < edits; i++) {
    const at = prng.int(0, Math.max(0, b.length - 1));
    switch (prng.int(0, 5)) {
      case 0:
        if (b.length) b[at] ^= 1 << prng.int(0, 7);
        break;
      case 1:
        b.splice(at, prng.int(1, 4));
        break;
      case 2:
        b.splice(at, 0, ...prng.bytes(prng.int(1, 4)));
        break;
      case 3:
        b = b.slice(0, at);
        break;
      case 4:
        b.splice(at, 0, ...enc.encode(prng.pick(['"', "{", "}", ",", ":", "\\", "-", "0", " "])));
        break;
      default:
        b = b.concat(b.slice(at));
        break;
    }
  }
  return Uint8Array.from(b);
}

/** One fuzzed datagram for an address that has no connection. */
function garbage(prng: Prng): Uint8Array {
  const kind = prng.int(0, 99);
  if (kind < 15) return prng.bytes(prng.chance(0.1) ? 0 : prng.int(1, 300)); // random bytes
  if (kind < 35) return mutate(prng, encodeMessage(validMessage(prng))); // broken JSON
  if (kind < 50) return enc.encode(wrongTypes(prng)); // wrong types, huge numbers
  if (kind < 62) return enc.encode(randomJsonValue(prng, 0)); // random JSON values
  if (kind < 82) return encodeMessage(validMessage(prng)); // unknown ConnIDs
  if (kind < 87) { // Connect with an ISN beyond ±2^53: the reference's int64, not our number
    const isn = (prng.chance(0.5) ? -1n : 1n) * (2n ** 53n + BigInt(prng.int(1, 10 ** 9)));
    return enc.encode(`{"Type":0,"ConnID":0,"SeqNum":${isn},"Size":0,"Checksum":0,"Payload":null}`);
  }
  if (kind < 95) { // over 1500 bytes
    const pad = " ".repeat(prng.int(MAX_DATAGRAM_BYTES - 60, 3000));
    return prng.chance(0.5)
      ? enc.encode(`{"Type":2,"ConnID":1,"SeqNum":0,${pad}"Size":0}`)
      : prng.bytes(prng.int(MAX_DATAGRAM_BYTES + 1, 3000));
  }
  return enc.encode( // lenient but well-formed variants (decodable: unknown connection)
    `{ "seqnum": ${prng.int(1, 99)}, "TYPE": 2, "connID": ${prng.int(1, 9)} }\n`,
  );
}

type ServerReason =
  | "oversize"
  | "malformed"
  | "refusedConnect"
  | "noConnection"
  | "duplicateConnect"
  | "wrongConnId"
  | "negativeSize"
  | "shortPayload"
  | "badChecksum"
  | "outOfWindow";

/**
 * How the server must drop `bytes` from an address with no connection; `undefined` if it would
 * open a connection (a valid Connect), which garbage sockets must never send.
 */
function unconnectedReason(b: Uint8Array): ServerReason | undefined {
  if (b.length > MAX_DATAGRAM_BYTES) return "oversize";
  const m = decodeMessage(b);
  if (m === undefined) return "malformed";
  if (m.type !== MsgType.Connect) return "noConnection";
  return undefined; // any ISN opens a connection, negative ones too (like the reference)
}

/** Bad input aimed at a live connection (ConnID `id`, ISN `isn`, nothing received yet). */
function targeted(
  prng: Prng,
  id: number,
  isn: number,
): { bytes: Uint8Array; reason: ServerReason } {
  const sn = isn + 1 + prng.int(0, WINDOW - 1);
  const payload = prng.bytes(prng.int(1, 40));
  const good = dataMessage(id, sn, payload);
  switch (prng.int(0, 6)) {
    case 0:
      return { bytes: encodeMessage(connectMessage(prng.int(0, 300))), reason: "duplicateConnect" };
    case 1: {
      const other = prng.chance(0.5) ? id + prng.int(1, 1000) : 0;
      const m = prng.chance(0.5) ? dataMessage(other, sn, payload) : ackMessage(other, sn);
      return { bytes: encodeMessage(m), reason: "wrongConnId" };
    }
    case 2:
      return { bytes: encodeMessage({ ...good, size: -prng.int(1, 50) }), reason: "negativeSize" };
    case 3:
      return {
        bytes: encodeMessage({ ...good, size: payload.length + prng.int(1, 10) }),
        reason: "shortPayload",
      };
    case 4: {
      const wrong = (good.checksum + prng.int(1, 0xfffe)) & 0xffff;
      return { bytes: encodeMessage({ ...good, checksum: wrong }), reason: "badChecksum" };
    }
    case 5: { // valid Data beyond the receive window, or at/below the ISN
      const far = prng.chance(0.5) ? isn + 1 + WINDOW + prng.int(0, 1000) : prng.int(1, isn);
      return { bytes: encodeMessage(dataMessage(id, far, payload)), reason: "outOfWindow" };
    }
    default: { // long payload with a checksum over the whole of it: truncated, then corrupt
      const extra = prng.bytes(prng.int(1, 10));
      const long = Uint8Array.from([...payload, ...extra]);
      const sum = checksum(id, sn, long.length, long);
      const m = { ...good, checksum: sum, payload: long };
      // Skip the 1-in-65536 case where the truncated payload happens to match.
      if (checksum(id, sn, payload.length, payload) === sum) {
        return { bytes: encodeMessage({ ...good, size: -1 }), reason: "negativeSize" };
      }
      return { bytes: encodeMessage(m), reason: "badChecksum" };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The test

Deno.test("LspServer keeps serving and accounts for 100,000 fuzzed datagrams while a client echoes", async () => {
  const replay = `replay: FUZZ_SEED=${SEED}`;
  const prng = Prng.seeded(SEED);
  const server = listen(0, { hostname: "127.0.0.1", params: PARAMS, maxConnections: MAX_CONNS });
  const echo = echoServe(server);
  const port = server.port;
  const garbageSockets: Deno.DatagramConn[] = [];
  const live = new RawPeer();
  let client: LspClient | undefined;
  const stopClient = new AbortController();
  let maxTable = 0;
  const sampleTable = () => maxTable = Math.max(maxTable, server.connectionCount);
  try {
    client = await withTimeout(
      connect(`127.0.0.1:${port}`, {
        params: PARAMS,
        isn: prng.int(1, 256),
        signal: stopClient.signal,
      }),
      10_000,
      "connect",
    );
    const clientPort = Number(client.localAddr.split(":").at(-1));

    // A real client echoing lock-step the whole time: one echo per fuzz batch (a pulse), so that
    // it keeps pace with the fuzz without flooding the server itself; freely after the fuzz.
    let stop = false;
    let free = false;
    let pulse: (() => void) | undefined;
    const echoed: string[] = [];
    const echoing = (async () => {
      for (let n = 0; !stop; n++) {
        if (!free) await new Promise<void>((resolve) => pulse = resolve);
        const m = `echo-${n}`;
        client!.write(bytes(m));
        echoed.push(text(await client!.read()));
      }
    })();
    echoing.catch(() => {}); // awaited below; a failure must not escape if the test fails first

    // A raw peer holding a live connection, to aim bad Data at a real conn.
    const liveIsn = prng.int(1, 256);
    await live.send(connectMessage(liveIsn), port);
    const liveAck = (await live.next()).msg;
    assert.ok(liveAck && liveAck.type === MsgType.Ack && liveAck.seqNum === liveIsn);
    const liveId = liveAck.connId;

    const expectServer: Record<ServerReason | "tableFull", number> = {
      oversize: 0,
      malformed: 0,
      refusedConnect: 0,
      noConnection: 0,
      duplicateConnect: 0,
      wrongConnId: 0,
      negativeSize: 0,
      shortPayload: 0,
      badChecksum: 0,
      outOfWindow: 0,
      tableFull: 0,
    };
    const expectClient = { oversize: 0, malformed: 0, unknownPeer: 0 };
    let sent = 0;
    let sentToServer = 0;
    let sentToClient = 0;
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    const tableBefore = server.connectionCount;
    /**
     * Waits until server and client have counted everything sent so far: every fuzzed datagram
     * to the server is either dropped (and counted) or a flood Connect that opened a connection
     * (the long EpochLimit keeps those in the table); every one to the client is dropped.
     */
    const drained = async () => {
      const caughtUp = () =>
        sum(server.stats().lsp.dropped) + server.connectionCount - tableBefore >= sentToServer &&
        sum(client!.stats().lsp.dropped) >= sentToClient;
      if (!caughtUp()) {
        await waitFor(caughtUp, `receivers catch up (${replay})`, {
          timeoutMs: 10_000,
          intervalMs: 1,
        });
      }
      sampleTable();
      pulse?.();
    };

    // The garbage sockets are opened first and every flood socket stays open until the flood
    // is over: no source port is reused, so each flood Connect comes from a new address.
    for (let i = 0; i < GARBAGE_SOCKETS; i++) {
      garbageSockets.push(
        Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
      );
    }

    // 1. A Connect flood from 2,000 source sockets, opened in batches, then all closed.
    const flood: Deno.DatagramConn[] = [];
    try {
      for (let done = 0; done < FLOOD_SOCKETS; done += FLOOD_BATCH) {
        const batch = Array.from(
          { length: FLOOD_BATCH },
          () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
        );
        flood.push(...batch);
        for (let i = 0; i < batch.length; i += SEND_BATCH) {
          const aConnect = () => encodeMessage(connectMessage(prng.int(0, 1000)));
          const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
          await Promise.all(batch.slice(i, i + SEND_BATCH).map((s) => s.send(aConnect(), to)));
          const n = Math.min(SEND_BATCH, batch.length - i);
          sent += n;
          sentToServer += n;
          await drained();
        }
      }
    } finally {
      for (const s of flood) s.close();
    }
    expectServer.tableFull = FLOOD_SOCKETS - (MAX_CONNS - tableBefore);
    assert.equal(server.connectionCount, MAX_CONNS, "the flood fills the table");

    // 2. Garbage from a few sockets with no connection, to the server and to the client, and
    // targeted bad Data on the live raw connection.
    while (sent < TOTAL) {
      const sends: Promise<number | void>[] = [];
      const n = Math.min(SEND_BATCH, TOTAL - sent);
      for (let k = 0; k < n; k++) {
        const roll = prng.int(0, 99);
        if (roll < 2) {
          const t = targeted(prng, liveId, liveIsn);
          expectServer[t.reason]++;
          sentToServer++;
          sends.push(live.send(t.bytes, port));
          continue;
        }
        let b = garbage(prng);
        let reason = unconnectedReason(b);
        for (let tries = 0; reason === undefined && tries < 100; tries++) {
          b = garbage(prng); // a valid Connect would open a connection: draw again
          reason = unconnectedReason(b);
        }
        assert.ok(reason !== undefined);
        const from = prng.pick(garbageSockets);
        if (roll < 4) { // the client drops whatever does not come from its server
          const r = b.length > MAX_DATAGRAM_BYTES
            ? "oversize"
            : decodeMessage(b) === undefined
            ? "malformed"
            : "unknownPeer";
          expectClient[r]++;
          sentToClient++;
          sends.push(from.send(b, { transport: "udp", hostname: "127.0.0.1", port: clientPort }));
        } else {
          expectServer[reason]++;
          sentToServer++;
          sends.push(from.send(b, { transport: "udp", hostname: "127.0.0.1", port }));
        }
      }
      await Promise.all(sends);
      sent += n;
      await drained();
    }
    assert.equal(sent, TOTAL);

    // 3. The client keeps echoing after the storm, then stops.
    const echoedDuringFuzz = echoed.length;
    free = true;
    pulse?.();
    await waitFor(() => echoed.length >= echoedDuringFuzz + 10, "echoes after the fuzz");
    stop = true;
    await withTimeout(echoing, 10_000, "echo loop ends");

    const expected = Array.from({ length: echoed.length }, (_, n) => `echo-${n}`);
    assert.deepEqual(echoed, expected, `the client's echoes (${replay})`);
    assert.deepEqual(echo.received.get(client.connId), expected, `the server's reads (${replay})`);
    assert.ok(echoedDuringFuzz >= 20, `only ${echoedDuringFuzz} echoes during the fuzz`);
    assert.ok(maxTable <= MAX_CONNS, `table reached ${maxTable}`);
    assert.equal(maxTable, MAX_CONNS);

    const s = server.stats();
    assert.equal(s.socket.readDropped, 0);
    assert.equal(s.lsp.datagramsReceived, s.socket.received);
    const { dropped } = s.lsp;
    for (const [reason, count] of Object.entries(expectServer)) {
      assert.equal(dropped[reason as keyof typeof dropped], count, `server ${reason} (${replay})`);
    }
    assert.equal(dropped.unknownPeer + dropped.notConnected, 0);
    const c = client.stats().lsp.dropped;
    for (const [reason, count] of Object.entries(expectClient)) {
      assert.equal(c[reason as keyof typeof c], count, `client ${reason} (${replay})`);
    }
    // Every reason occurred, except refusedConnect: only a server shutting down refuses Connects.
    assert.ok(
      Object.entries(expectServer).every(([r, n]) => n > 0 || r === "refusedConnect"),
      JSON.stringify(expectServer),
    );
    assert.ok(Object.values(expectClient).every((n) => n > 0), JSON.stringify(expectClient));

    await withTimeout(client.close(), 10_000, "client close");
    await withTimeout(server.close(), 10_000, "server close");
    await echo.finished;
  } finally {
    for (const s of garbageSockets) s.close();
    await live.close();
    stopClient.abort(); // at once, also if the test failed with data in flight
    server.closeNow();
    await echo.finished;
    await server.done;
    await client?.done;
  }
});
