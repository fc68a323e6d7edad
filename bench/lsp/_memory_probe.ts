/**
 * Memory per LSP connection, measured in a fresh process so that the resident set size is not
 * blurred by memory an earlier measurement freed but the allocator kept. `memory_bench.ts` runs
 * it once per figure; it can also be run by hand:
 *
 * ```sh
 * deno run --config deno.json --allow-net=127.0.0.1 bench/lsp/_memory_probe.ts core 10000
 * deno run --config deno.json --allow-net=127.0.0.1 bench/lsp/_memory_probe.ts sockets 1000
 * deno run --config deno.json --allow-net=127.0.0.1 bench/lsp/_memory_probe.ts udp 1000
 * ```
 *
 * Modes (each connection exchanges three 100-byte messages that the server echoes, then idles
 * with empty windows; default parameters, so window and max-unacked are 1):
 *
 * - `core N`: one server `LspEndpoint` and N client `LspEndpoint`s wired in memory, no sockets.
 *   The client cores are then dropped, which splits the figure into server and client side.
 * - `sockets N`: one `listen()` server and N `connect()` clients on 127.0.0.1, one UDP socket
 *   each: the whole cost on both sides (cores, adapters, receive buffers, Deno's socket resources).
 *   Closing the clients splits it into server and client side (heap and external figures; the
 *   RSS rarely shrinks when memory is freed).
 * - `udp N`: N bare Deno UDP sockets, each with a receive pending into a 2 KiB buffer: the part of
 *   `sockets` that is Deno's and the kernel's, not LSP's.
 *
 * Prints one JSON line, a {@linkcode ProbeResult}.
 *
 * @module
 */
import { connect, type LspClient } from "../../src/lsp/client_deno.ts";
import { LspEndpoint } from "../../src/lsp/endpoint.ts";
import { LspConnectionError } from "../../src/lsp/errors.ts";
import { listen } from "../../src/lsp/server_deno.ts";
import { Prng } from "../../src/util/prng.ts";
import { memoryAfterGc, type MemoryFigures } from "./_report.ts";

/** What the probe measures. */
export type ProbeMode = "core" | "sockets" | "udp";

/** Bytes per connection: one {@linkcode MemoryFigures} divided by the connection count. */
export type PerConnection = MemoryFigures;

/** The probe's output line. */
export interface ProbeResult {
  mode: ProbeMode;
  count: number;
  /** Milliseconds spent building the connections. */
  ms: number;
  /** Both sides together. */
  total: PerConnection;
  /** The server side alone (not for `udp`). */
  server?: PerConnection;
  /** The client side alone (not for `udp`). */
  client?: PerConnection;
}

const MESSAGES_EACH = 3;
const PAYLOAD = Prng.seeded(7).bytes(100);
const HOST = "127.0.0.1";
/** Clients connecting at once: a burst of Connects must fit the server's socket buffer. */
const CONNECT_BATCH = 100;
/**
 * Sockets mode: longer epochs than the default 2 s, so that heartbeats (one per connection and
 * direction per epoch) do not swamp one process holding both sides of 10,000 connections. The
 * memory per connection does not depend on it.
 */
const SOCKET_PARAMS = { epochMillis: 10_000 } as const;

function perConnection(from: MemoryFigures, to: MemoryFigures, count: number): PerConnection {
  return {
    rss: Math.round((to.rss - from.rss) / count),
    heapUsed: Math.round((to.heapUsed - from.heapUsed) / count),
    external: Math.round((to.external - from.external) / count),
  };
}

/** A server core and its client cores, wired in memory. */
interface CorePair {
  server: LspEndpoint;
  clients: LspEndpoint[];
}

/**
 * Builds one server core with `count` connections, each from its own client core and address,
 * each having had MESSAGES_EACH messages echoed. Time stands still (no epoch runs).
 */
export function buildCorePair(count: number): CorePair {
  const serverAddr = "10.255.255.254:9999";
  const server = LspEndpoint.server({}, Prng.seeded(1), { maxConnections: count });
  const clients: LspEndpoint[] = [];
  const byAddr = new Map<string, LspEndpoint>();
  const now = 0;
  for (let i = 0; i < count; i++) {
    const addr = `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:${40_000 + (i % 20_000)}`;
    const client = LspEndpoint.client(serverAddr, {}, Prng.seeded(i + 2), now, { isn: i });
    clients.push(client);
    byAddr.set(addr, client);
    let echoes = 0;
    let written = false;
    for (let round = 0; round < 100; round++) {
      let moved = false;
      for (let t = client.pollTransmit(); t; t = client.pollTransmit()) {
        server.handleDatagram(addr, t.bytes, now);
        moved = true;
      }
      for (let e = server.pollEvent(); e; e = server.pollEvent()) {
        if (e.type === "message") server.write(e.connId, e.payload, now);
      }
      for (let t = server.pollTransmit(); t; t = server.pollTransmit()) {
        byAddr.get(t.to)?.handleDatagram(serverAddr, t.bytes, now);
        moved = true;
      }
      for (let e = client.pollEvent(); e; e = client.pollEvent()) {
        if (e.type === "message") echoes++;
        if (e.type === "connected" && !written) {
          written = true;
          for (let m = 0; m < MESSAGES_EACH; m++) client.write(e.connId, PAYLOAD, now);
        }
      }
      if (!moved) break;
    }
    if (echoes !== MESSAGES_EACH) {
      throw new Error(`Cannot build core connection ${i}: ${echoes} echoes`);
    }
  }
  if (server.connectionCount !== count) {
    throw new Error(
      `Cannot build ${count} core connections: the server has ${server.connectionCount}`,
    );
  }
  return { server, clients };
}

/** A running `listen()` server that echoes, and its connected clients. */
interface SocketPair {
  server: ReturnType<typeof listen>;
  serving: Promise<void>;
  clients: LspClient[];
}

/** One client: connect, have MESSAGES_EACH messages echoed. */
async function echoClient(port: number): Promise<LspClient> {
  const client = await connect(`${HOST}:${port}`, { isn: 0, params: SOCKET_PARAMS });
  for (let m = 0; m < MESSAGES_EACH; m++) client.write(PAYLOAD);
  for (let m = 0; m < MESSAGES_EACH; m++) await client.read();
  return client;
}

/** Starts an echo server on 127.0.0.1 and connects `count` clients, CONNECT_BATCH at a time. */
export async function buildSocketPair(count: number): Promise<SocketPair> {
  const server = listen(0, { hostname: HOST, maxConnections: count + 16, params: SOCKET_PARAMS });
  const serving = (async () => {
    for await (const item of server) {
      if (!(item instanceof LspConnectionError)) server.write(item.connId, item.payload);
    }
  })();
  const clients: LspClient[] = [];
  try {
    for (let at = 0; at < count; at += CONNECT_BATCH) {
      const batch = Math.min(CONNECT_BATCH, count - at);
      const settled = await Promise.allSettled(
        Array.from({ length: batch }, () => echoClient(server.port)),
      );
      for (const s of settled) if (s.status === "fulfilled") clients.push(s.value);
      const failed = settled.find((s) => s.status === "rejected");
      if (failed) throw failed.reason;
    }
  } catch (err) {
    await closeSocketPair({ server, serving, clients });
    throw err;
  }
  return { server, serving, clients };
}

/** Closes every client, waiting until each has its writes acknowledged; the server stays. */
export async function closeClients(pair: SocketPair): Promise<void> {
  await Promise.all(pair.clients.map(async (c) => {
    await c.close().catch(() => {});
    await c.done;
  }));
  pair.clients.length = 0;
}

/** Closes the clients, then the server at once. */
export async function closeSocketPair(pair: SocketPair): Promise<void> {
  await closeClients(pair);
  pair.server.closeNow();
  await pair.serving;
  await pair.server.done;
}

function probeCore(count: number): ProbeResult {
  buildCorePair(Math.min(count, 200)); // warm up the code paths, then forget it
  const before = memoryAfterGc();
  const started = performance.now();
  const pair: Partial<CorePair> = buildCorePair(count);
  const ms = performance.now() - started;
  const both = memoryAfterGc();
  pair.clients = undefined;
  const serverOnly = memoryAfterGc();
  const result: ProbeResult = {
    mode: "core",
    count,
    ms,
    total: perConnection(before, both, count),
    server: perConnection(before, serverOnly, count),
    client: perConnection(serverOnly, both, count),
  };
  if (pair.server?.connectionCount !== count) throw new Error("the server core went away");
  return result;
}

async function probeSockets(count: number): Promise<ProbeResult> {
  await closeSocketPair(await buildSocketPair(Math.min(count, 20))); // warm up
  const before = memoryAfterGc();
  const started = performance.now();
  const pair = await buildSocketPair(count);
  const ms = performance.now() - started;
  const both = memoryAfterGc();
  await closeClients(pair);
  const serverOnly = memoryAfterGc();
  const live = pair.server.connectionCount;
  await closeSocketPair(pair);
  if (live !== count) throw new Error(`the server had ${live} of ${count} connections`);
  return {
    mode: "sockets",
    count,
    ms,
    total: perConnection(before, both, count),
    server: perConnection(before, serverOnly, count),
    client: perConnection(serverOnly, both, count),
  };
}

async function probeUdp(count: number): Promise<ProbeResult> {
  const before = memoryAfterGc();
  const started = performance.now();
  const sockets: Deno.DatagramConn[] = [];
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
    sockets.push(socket);
    pending.push(socket.receive(new Uint8Array(2048)).catch(() => {}));
  }
  const ms = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 50)); // let every receive reach the kernel
  const after = memoryAfterGc();
  for (const socket of sockets) socket.close();
  await Promise.all(pending);
  return { mode: "udp", count, ms, total: perConnection(before, after, count) };
}

/**
 * Runs one probe.
 *
 * @example
 * ```ts ignore
 * import { probe } from "./_memory_probe.ts";
 * console.log((await probe("core", 1000)).total.heapUsed);
 * ```
 */
export function probe(mode: ProbeMode, count: number): Promise<ProbeResult> {
  if (!Number.isInteger(count) || count < 1 || count > 100_000) {
    throw new RangeError(`Cannot probe: count must be an integer in 1..100000, got ${count}`);
  }
  switch (mode) {
    case "core":
      return Promise.resolve(probeCore(count));
    case "sockets":
      return probeSockets(count);
    case "udp":
      return probeUdp(count);
    default:
      throw new TypeError(`Cannot probe: unknown mode ${JSON.stringify(mode)}`);
  }
}

if (import.meta.main) {
  const [mode, count] = Deno.args;
  console.log(JSON.stringify(await probe(mode as ProbeMode, Number(count))));
}
