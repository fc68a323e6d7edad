/**
 * Key-value store benchmarks, each beside a baseline measured in the same run:
 *
 * - **Setvalue and Getvalue requests per second**, 16 concurrent clients, one request per
 *   connection (connect, write the request, read the reply to EOF, close), against a node served
 *   in this process by `serveKv` (a) durable, its log in a temporary directory (fsync on, as
 *   `bitclone kv serve`), and (b) `--memory`. Baseline (c): a minimal Deno server under the same
 *   load that reads once, writes the same reply and closes: the platform's ceiling for one
 *   request per connection. Every reply is checked. After the table, the median rate of each and
 *   its ratio to (c) are printed.
 * - **time for a write to reach all 16 nodes of a simulated network** (virtual ms; links of 1 to
 *   5 ms one way, no loss): 16 memory nodes that found each other by their Handshakes, one
 *   `Setvalue` to one of them from a simulated client, run until all 16 hold the value. The bench
 *   table shows the real time each simulation takes; the virtual times are printed after it.
 *   (The same figure on five real hosts is printed by tests/hosts/kv_test.ts.)
 *
 * Run: `deno task bench`, or alone:
 * `deno bench --allow-net=127.0.0.1 --allow-read --allow-write bench/kv_bench.ts` (`deno task bench:kv`).
 *
 * @module
 */
import { type KvServer, serveKv } from "../src/kv/kv_deno.ts";
import { KvNode, type PersistAction } from "../src/kv/node_core.ts";
import { encodeMessage } from "../src/kv/codec.ts";
import type { StreamAction, StreamCore } from "../src/core/mod.ts";
import { type DatagramSocket, SimNet, SimStreamHost } from "../src/sim/mod.ts";
import { Prng } from "../src/util/prng.ts";

/** Concurrent clients. */
const CLIENTS = 16;
/** Requests per timed iteration (spread over the clients). */
const REQUESTS = 1600;
/** Timed iterations per bench. */
const ITERATIONS = 5;
/** Distinct keys written and read. */
const KEYS = 256;
/** A stalled load fails the bench instead of hanging it. */
const STALL_MS = 60_000;
const HOST = "127.0.0.1";
/** Nodes of the simulated network, and seeds (one simulation each). */
const SIM_NODES = 16;
const SIM_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

const te = new TextEncoder();
const SET_OK = te.encode('{"ValueResponse":{"value":"Value set successful"}}');
const VALUE = "v".repeat(32);
/** What a Getvalue of one of the loaded keys starts with (the node adds clock and origin). */
const GET_PREFIX = te.encode(`{"ValueResponse":{"value":"${VALUE}"`);
const setRequest = (i: number) =>
  encodeMessage({ type: "Setvalue", key: `key-${i % KEYS}`, value: VALUE });
const getRequest = (i: number) => encodeMessage({ type: "Getvalue", key: `key-${i % KEYS}` });

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

/** One request on its own connection; throws unless the reply starts with `expected`. */
async function exchange(port: number, request: Uint8Array, expected: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: HOST, port });
  try {
    await conn.write(request);
    const buf = new Uint8Array(4096);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
      if (got === buf.length) throw new Error("reply too long");
    }
    if (!startsWith(buf.subarray(0, got), expected)) {
      throw new Error(`wrong reply: ${new TextDecoder().decode(buf.subarray(0, got))}`);
    }
  } finally {
    conn.close();
  }
}

/** CLIENTS workers doing `requests` exchanges in all. */
async function load(
  port: number,
  requests: number,
  request: (i: number) => Uint8Array,
  expected: Uint8Array,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < requests) await exchange(port, request(next++), expected);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the load stalled for ${STALL_MS} ms`)), STALL_MS);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: CLIENTS }, worker)), stall]);
  } finally {
    clearTimeout(timer);
  }
}

/** A server under test: its port and how to stop it. */
interface Server {
  port: number;
  stop(): Promise<void>;
}

/** The baseline: accept, read once, write `reply`, close. */
function minimal(reply: Uint8Array): Server {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const serve = async (conn: Deno.Conn) => {
    try {
      await conn.read(new Uint8Array(4096));
      await conn.write(reply);
    } catch {
      // the client went away
    } finally {
      conn.close();
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) serve(conn);
    } catch {
      // closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async stop() {
      listener.close();
      await accepting;
    },
  };
}

async function kvNode(durable: boolean): Promise<Server> {
  const dir = durable ? await Deno.makeTempDir({ prefix: "bitclone-kv-bench-" }) : undefined;
  const ac = new AbortController();
  const kv: KvServer = await serveKv({
    hostname: HOST,
    tcpPort: 0,
    udpPort: 0,
    advertise: HOST,
    broadcast: [],
    name: "ts-bench",
    memory: !durable,
    dataDir: dir,
    signal: ac.signal,
  });
  return {
    port: kv.tcpPort,
    async stop() {
      ac.abort();
      await kv.done;
      if (dir !== undefined) await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Per bench: requests/s of each iteration. */
const rates = new Map<string, number[]>();

function timed(
  group: string,
  name: string,
  start: () => Promise<Server> | Server,
  request: (i: number) => Uint8Array,
  expected: Uint8Array,
  prepare?: (port: number) => Promise<void>,
) {
  const result: number[] = [];
  rates.set(`${group}\0${name}`, result);
  return async (b: Deno.BenchContext) => {
    const server = await start();
    try {
      await prepare?.(server.port);
      await load(server.port, CLIENTS * 2, request, expected); // warm up
      b.start();
      const t0 = performance.now();
      await load(server.port, REQUESTS, request, expected);
      const ms = performance.now() - t0;
      b.end();
      result.push(REQUESTS / (ms / 1000));
    } finally {
      await server.stop();
    }
  };
}

const kinds = [
  { kind: "Setvalue", request: setRequest, expected: SET_OK },
  { kind: "Getvalue", request: getRequest, expected: GET_PREFIX },
];
const BASELINE = "minimal Deno server (accept, read, reply, close)";
for (const { kind, request, expected } of kinds) {
  const group = `${kind}: ${REQUESTS} requests from ${CLIENTS} concurrent clients`;
  // The baseline answers what a node would: a fixed reply it does not compute.
  const reply = kind === "Setvalue" ? SET_OK : te.encode(
    `{"ValueResponse":{"value":"${VALUE}","clock":1,"origin":"ts-bench"}}`,
  );
  Deno.bench({
    name: BASELINE,
    group,
    baseline: true,
    n: ITERATIONS,
    warmup: 0,
    fn: timed(group, BASELINE, () => minimal(reply), request, expected),
  });
  // A Getvalue bench first writes every key it reads.
  const prepare = kind === "Getvalue"
    ? (port: number) => load(port, KEYS, setRequest, SET_OK)
    : undefined;
  for (
    const [name, durable] of [["kv node, durable (fsync)", true], [
      "kv node, --memory",
      false,
    ]] as const
  ) {
    Deno.bench({
      name,
      group,
      n: ITERATIONS,
      warmup: 0,
      fn: timed(group, name, () => kvNode(durable), request, expected, prepare),
    });
  }
}

// ---- the simulated network ------------------------------------------------------------------

/** A simulated client: one Setvalue on one connection, closed when the reply arrives. */
class OneSet implements StreamCore {
  #out: StreamAction[] = [];
  constructor(to: string, key: string, value: string) {
    this.#out.push({ type: "connect", conn: 1, to, timeoutMs: 2000 });
    this.#bytes = encodeMessage({ type: "Setvalue", key, value });
  }
  #bytes: Uint8Array;
  handleAccept(): number {
    return 0;
  }
  handleConnected(conn: number): void {
    this.#out.push({ type: "write", conn, bytes: this.#bytes });
  }
  handleData(conn: number): void {
    this.#out.push({ type: "close", conn });
  }
  handleEof(): void {}
  handleError(): void {}
  handleTick(): void {}
  pollAction(): StreamAction | undefined {
    return this.#out.shift();
  }
  nextTimeout(): number | undefined {
    return undefined;
  }
}

/**
 * 16 memory nodes on one simulated LAN ("broadcast" = a Handshake to every node's UDP address);
 * once every node knows the 15 others, one Setvalue to node 0. Returns the virtual ms from the
 * client's connect until the last node holds the value.
 */
function simulate(seed: number): number {
  const root = Prng.seeded(seed);
  const net = new SimNet({ prng: root.fork(), defaults: { delayMs: [1, 5] }, traceLimit: 0 });
  const ip = (i: number) => `10.0.0.${i + 1}`;
  const udp = Array.from({ length: SIM_NODES }, (_, i) => `${ip(i)}:8888`);
  const nodes = Array.from({ length: SIM_NODES }, (_, i) => {
    const node = new KvNode({
      name: `ts-${String(i).padStart(2, "0")}`,
      advertise: `${ip(i)}:9000`,
      boot: 1,
      broadcast: udp,
      prng: root.fork(),
      durable: false,
      now: net.now,
    });
    const ref: { host?: SimStreamHost<PersistAction> } = {};
    const socket: DatagramSocket = net.bind(udp[i], (from, bytes, now) => {
      node.handleDatagram(from, bytes, now);
      drain();
      ref.host?.pump();
    });
    const drain = () => {
      for (let t = node.pollTransmit(); t; t = node.pollTransmit()) socket.send(t.to, t.bytes);
    };
    ref.host = new SimStreamHost(net, node, { listen: `${ip(i)}:9000`, onProgress: drain });
    return node;
  });
  const meshed = () =>
    nodes.every((n) => n.members().filter((m) => m.state === "alive").length === SIM_NODES - 1);
  if (net.runWhile(() => !meshed(), { maxTime: 60_000 }) !== "done") {
    throw new Error(`seed ${seed}: the 16 nodes did not find each other`);
  }
  net.runUntil(net.now + 1000); // let the join-time pushes and pulls settle
  const t0 = net.now;
  const client = new OneSet(`${ip(0)}:9000`, "bench", "spread");
  new SimStreamHost(net, client, { ip: "10.0.1.1" });
  const everywhere = () => nodes.every((n) => n.get("bench")?.value === "spread");
  if (net.runWhile(() => !everywhere(), { maxTime: t0 + 60_000 }) !== "done") {
    throw new Error(`seed ${seed}: the write did not reach every node`);
  }
  return net.now - t0;
}

/** Virtual ms per seed (`deno bench` may call a bench more often than `n`). */
const virtualMs = new Map<number, number>();
Deno.bench({
  name: `a write reaching all ${SIM_NODES} simulated nodes (real time per simulation)`,
  group: "simulated network",
  n: SIM_SEEDS.length,
  warmup: 0,
  fn: (() => {
    let run = 0;
    return () => {
      const seed = SIM_SEEDS[run++ % SIM_SEEDS.length];
      virtualMs.set(seed, simulate(seed));
    };
  })(),
});

globalThis.addEventListener("unload", () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const lines: string[] = [];
  for (const { kind } of kinds) {
    const prefix = `${kind}: `;
    const base = [...rates].find(([k]) => k.startsWith(prefix) && k.endsWith(`\0${BASELINE}`));
    const baseRate = base && base[1].length ? median(base[1]) : undefined;
    for (const [key, r] of rates) {
      if (!key.startsWith(prefix) || r.length === 0) continue;
      const name = key.split("\0")[1];
      const rate = median(r);
      const vs = baseRate ? `  ${(rate / baseRate).toFixed(2)}x the minimal server` : "";
      lines.push(`  ${kind} ${name.padEnd(48)} ${rate.toFixed(0).padStart(6)} requests/s${vs}`);
    }
  }
  if (lines.length > 0) {
    console.log(
      `\nKey-value store, ${CLIENTS} concurrent clients, one request per connection ` +
        `(requests/s, median of each bench's runs):`,
    );
    console.log(lines.join("\n"));
  }
  if (virtualMs.size > 0) {
    const sorted = [...virtualMs.values()].sort((a, b) => a - b);
    const ms = (x: number) => x.toFixed(1);
    console.log(
      `\nA write reaching all ${SIM_NODES} nodes of a simulated network (links 1-5 ms one way), ` +
        `${sorted.length} seeds: median ${ms(median(sorted))} virtual ms, ` +
        `min ${ms(sorted[0])}, max ${ms(sorted.at(-1)!)}`,
    );
  }
});
