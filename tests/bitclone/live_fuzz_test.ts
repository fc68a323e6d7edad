/**
 * A fuzz test at a live BitClone peer (the real core behind the real TCP adapter, 127.0.0.1):
 * 100,000 random and mutated lines from a seeded Prng over four TCP connections at once. Most
 * connections complete a handshake first (so the lines reach the established-connection rules),
 * some fuzz the handshake itself; a connection the node closes (misbehaviour, stray lines, line
 * too long) is replaced by a new one with a new identity. Lines end in CR LF or LF and are written
 * in batches, each batch in random chunks; after each batch the test waits until the node has read
 * it or closed the connection, and only batches read in full while the connection was open count
 * towards the 100,000 (a window on the core tells which key belongs to which client).
 *
 * The node must stay up, never fail inside its core (no error-level log line), keep its sockets
 * bounded, and keep serving a well-behaved peer that was connected before the fuzz and one that
 * connects after it.
 *
 * Other seeds: BITCLONE_LIVE_FUZZ_SEED=<n> (the default seed is fixed).
 */
import assert from "node:assert/strict";
import { PeerNode, type PeerNodeAction } from "../../src/bitclone/peer_node.ts";
import { drivePeerNode, type StoppableCore } from "../../src/bitclone/tcp_adapter_deno.ts";
import type { ConnId } from "../../src/core/mod.ts";
import { Prng } from "../../src/util/prng.ts";
import { handshake, HOST, LineClient, recordingLogger } from "./_live_helpers.ts";

const TOTAL_LINES = 100_000;
const CONNECTIONS = 4;
const seedText = Deno.env.get("BITCLONE_LIVE_FUZZ_SEED");
const SEED = seedText === undefined || seedText.trim() === "" ? 0x11fe2 : Number(seedText);

const te = new TextEncoder();

const COMMANDS = [
  "version",
  "verack",
  "getaddr",
  "addr",
  "ping",
  "pong",
  "reject",
  "message",
  "block",
  "tx",
  "getblocks",
  "blockinv",
  "getblockinv",
  "VERSION",
  "Ping",
  "hello",
  "",
];
const TOKENS = [
  "0",
  "1",
  "3",
  "-1",
  "1.5",
  "1e9",
  "9007199254740991",
  "9007199254740992",
  "99999999999999999999999",
  "1700000000",
  "1700000000000",
  "127.0.0.1:8333",
  "127.0.0.1:0",
  "127.0.0.1:70000",
  "(127.0.0.1,8333)",
  "[::1]:8333",
  "::1:8333",
  "::ffff:127.0.0.1:9",
  "0.0.0.0:1",
  "[ff02::1]:1",
  "10.0.0.1:1",
  "localhost:1",
  "01.2.3.4:5",
  "",
  " ",
  "\t7\t",
  "ü",
  "☕",
  "00000011",
  "d41d8cd98f00b204e9800998ecf8427e",
];

function randomToken(prng: Prng): string {
  if (prng.chance(0.7)) return prng.pick(TOKENS);
  const n = prng.int(0, 40);
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(prng.int(0x20, 0x7e));
  return s;
}

/** A line of random tokens under a (mostly) known command word. */
function tokenLine(prng: Prng): string {
  const cmd = prng.pick(COMMANDS);
  if (cmd === "addr" && prng.chance(0.5)) {
    const n = prng.chance(0.05) ? prng.int(990, 1010) : prng.int(0, 12);
    const pairs: string[] = [];
    const present = prng.chance(0.8) ? n : prng.int(0, n);
    for (let i = 0; i < present; i++) {
      pairs.push(String(prng.int(0, 2_000_000_000)));
      pairs.push(
        prng.chance(0.6) ? `127.0.0.${prng.int(1, 9)}:${prng.int(1, 65535)}` : randomToken(prng),
      );
    }
    return ["addr", String(n), ...pairs].join("|");
  }
  const fields = Array.from({ length: prng.int(0, 10) }, () => randomToken(prng));
  return [cmd, ...fields].join("|");
}

/** A valid line of the protocol, to be mutated. */
function validLine(prng: Prng, port: number): string {
  switch (prng.int(0, 7)) {
    case 0:
      return `version|3|1|1700000000|${HOST}:${port}|${HOST}:4000|${prng.u32()}|fuzz|0`;
    case 1:
      return `verack|${prng.u32()}`;
    case 2:
      return "getaddr";
    case 3:
      return `addr|2|1700000000|127.0.0.1:4001|1700000001|[::1]:4002`;
    case 4:
      return `ping|${prng.u32()}`;
    case 5:
      return `pong|${prng.u32()}`;
    case 6:
      return "reject|400|bad request|the details";
    default:
      return "message|100|peer statistics|43 requests, 10 rejections";
  }
}

function mutate(prng: Prng, bytes: Uint8Array): Uint8Array {
  let b = Array.from(bytes);
  const rounds = prng.int(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = prng.int(0, b.length);
    switch (prng.int(0, 5)) {
      case 0: // flip a bit
        if (b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << prng.int(0, 7);
        break;
      case 1: // insert a delimiter or an awkward byte
        b.splice(at, 0, prng.pick([0x7c, 0x3a, 0x5b, 0x5d, 0x2c, 0x0d, 0x00, 0xff, 0xc3, 0x20]));
        break;
      case 2: // delete a range
        b.splice(at, prng.int(1, 8));
        break;
      case 3: // duplicate a range
        b.splice(at, 0, ...b.slice(at, at + prng.int(1, 20)));
        break;
      case 4: // truncate
        b = b.slice(0, at);
        break;
      default: // replace with a token
        b.splice(at, prng.int(0, 6), ...te.encode(randomToken(prng)));
    }
  }
  return Uint8Array.from(b.filter((x) => x !== 0x0a));
}

function randomBytes(prng: Prng): Uint8Array {
  const n = prng.chance(0.002) ? prng.int(65_000, 70_000) : prng.int(0, 300);
  const out = prng.bytes(n);
  for (let i = 0; i < out.length; i++) if (out[i] === 0x0a) out[i] = 0x0b;
  return out;
}

/** One fuzz line with its terminator. */
function fuzzLine(prng: Prng, port: number): Uint8Array {
  let body: Uint8Array;
  const kind = prng.int(0, 19);
  if (kind < 5) body = mutate(prng, te.encode(validLine(prng, port)));
  else if (kind < 12) body = te.encode(tokenLine(prng));
  else if (kind < 15) body = randomBytes(prng);
  else body = te.encode(validLine(prng, port)); // well-formed lines keep connections alive
  const end = prng.chance(0.8) ? [0x0d, 0x0a] : [0x0a];
  const line = new Uint8Array(body.length + end.length);
  line.set(body);
  line.set(end, body.length);
  return line;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The real core with a window on it: which inbound key belongs to which client port, the bytes
 * delivered to each key, and whether the core closed it.
 */
class WatchedCore implements StoppableCore {
  readonly inner: PeerNode;
  readonly keyByPort = new Map<number, ConnId>();
  readonly delivered = new Map<ConnId, number>();
  readonly gone = new Set<ConnId>();
  constructor(inner: PeerNode) {
    this.inner = inner;
  }
  handleAccept(remote: string, local: string, now: number): ConnId {
    const key = this.inner.handleAccept(remote, local, now);
    this.keyByPort.set(Number(remote.split(":").at(-1)), key);
    return key;
  }
  handleConnected(key: ConnId, now: number, local?: string): void {
    this.inner.handleConnected(key, now, local);
  }
  handleData(key: ConnId, bytes: Uint8Array, now: number): void {
    this.delivered.set(key, (this.delivered.get(key) ?? 0) + bytes.length);
    this.inner.handleData(key, bytes, now);
  }
  handleEof(key: ConnId, now: number): void {
    this.inner.handleEof(key, now);
  }
  handleError(key: ConnId, reason: string, now: number): void {
    this.gone.add(key);
    this.inner.handleError(key, reason, now);
  }
  handleTick(now: number): void {
    this.inner.handleTick(now);
  }
  shutdown(now: number): void {
    this.inner.shutdown(now);
  }
  pollAction(): PeerNodeAction | undefined {
    const a = this.inner.pollAction();
    if (a?.type === "close") this.gone.add(a.conn);
    return a;
  }
  nextTimeout(): number | undefined {
    return this.inner.nextTimeout();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test(
  `live peer survives ${TOTAL_LINES} random and mutated lines over ${CONNECTIONS} connections ` +
    `and keeps serving a well-behaved peer (seed ${SEED})`,
  async () => {
    const root = Prng.seeded(SEED);
    const listener = Deno.listen({ hostname: HOST, port: 0 });
    const port = listener.addr.port;
    const { logger, lines: logLines } = recordingLogger();
    const core = new WatchedCore(
      new PeerNode({
        prng: root.fork(),
        now: performance.now(),
        listenPort: port,
        unixMillisOffset: Date.now() - performance.now(),
        maxConnections: 40,
        maxInbound: 38,
        handshakeTimeoutMs: 2000,
        versionReplyDelayMs: 0,
        statusIntervalMs: 3_600_000,
      }),
    );
    const controller = new AbortController();
    const driver = drivePeerNode(core, { listener, signal: controller.signal, log: logger });
    const good = await LineClient.connect(port);
    await handshake(good, port, 5000, "424242");
    let processed = 0, written = 0, connections = 0, closedByNode = 0, mostSockets = 0;
    const worker = async (prng: Prng) => {
      while (processed < TOTAL_LINES) {
        const identity = 10_000 + (connections++ % 50_000);
        const client = await LineClient.connect(port);
        try {
          if (prng.chance(0.85)) {
            await handshake(client, port, identity, String(prng.int(1, 2 ** 40)));
          }
          const accepted = performance.now() + 5000;
          while (!core.keyByPort.has(client.localPort)) {
            assert.ok(performance.now() < accepted, "the node never accepted the connection");
            await sleep(1);
          }
          const key = core.keyByPort.get(client.localPort)!;
          let bytesSent = 0;
          const budget = prng.int(10, 400);
          for (let n = 0; n < budget && processed < TOTAL_LINES;) {
            const k = Math.min(prng.int(1, 20), budget - n);
            const bytes = concat(Array.from({ length: k }, () => fuzzLine(prng, port)));
            // One write, or several pieces.
            const cuts = prng.chance(0.5) ? [] : Array.from(
              { length: prng.int(1, 4) },
              () => prng.int(0, bytes.length),
            ).sort((a, b) => a - b);
            let from = 0;
            for (const cut of [...cuts, bytes.length]) {
              if (!await client.send(bytes.subarray(from, cut))) break;
              from = cut;
            }
            written += k;
            bytesSent += bytes.length;
            // Wait until the node has read the batch, or closed the connection.
            const deadline = performance.now() + 10_000;
            while ((core.delivered.get(key) ?? 0) < bytesSent && !core.gone.has(key)) {
              assert.ok(performance.now() < deadline, "the node stopped reading");
              await sleep(0);
            }
            if (core.gone.has(key)) {
              closedByNode++;
              break;
            }
            n += k;
            processed += k; // read in full while the connection was open
            client.lines.length = 0;
            mostSockets = Math.max(mostSockets, driver.stats().sockets);
          }
        } catch (err) {
          if (!client.closed) throw err;
          closedByNode++; // closed during our handshake (stray lines, a bad version)
        } finally {
          await client.close();
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: CONNECTIONS }, () => worker(root.fork())));
      assert.ok(processed >= TOTAL_LINES, `only ${processed} lines reached the node`);
      // The well-behaved peer from before the fuzz is still served.
      await good.send("ping|1\r\n");
      assert.equal(await good.until(/^pong\|/, 5000), "pong|1");
      // A new one is too.
      const late = await LineClient.connect(port);
      try {
        await handshake(late, port, 5001, "434343");
        await late.send("ping|2\r\n");
        assert.equal(await late.until(/^pong\|/), "pong|2");
      } finally {
        await late.close();
      }
      const context = `${processed} lines processed, ${written} written, ${connections} ` +
        `connections, ${closedByNode} closed by the node; replay: BITCLONE_LIVE_FUZZ_SEED=${SEED}`;
      const errors = logLines.filter((l) => l.level === "error").map((l) => l.text);
      assert.deepEqual(errors, [], context);
      assert.ok(mostSockets <= CONNECTIONS + 4, `sockets ${mostSockets}; ${context}`);
      assert.ok(closedByNode > 0, `the node closed no misbehaving connection; ${context}`);
    } finally {
      await good.close();
      controller.abort();
      await driver.done;
    }
  },
);
