/**
 * Part 1 tracker, one request per connection: requests per second and per-request latency (mean,
 * p50, p99) at 1, 16 and 64 concurrent clients, for three servers measured in the same run:
 *
 * - **ours**: `bitclone tracker serve` (default settings);
 * - **replica**: `bench/tracker_replica.py`, a Python 3 replica of the original `tracker-p1.py`
 *   (single-threaded, one `recv(1024)` per connection), the stand-in for the Python 2 original.
 *   It listens with a backlog of 128, not the original's 5: 16 clients connecting at once overflow
 *   a backlog of 5, the kernel drops connection attempts, clients retry after a second, and that
 *   stall, not the Python code, would set its rate. So the replica here is the stronger baseline;
 *   the latency target (one client) does not depend on the backlog;
 * - **minimal**: the Deno server in {@linkcode MINIMAL_SERVER} below: accept, one read, one write
 *   of the reply, close. It parses nothing and keeps no state: the ceiling of this load for a Deno
 *   program on this machine. The ratios include minimal / replica: at one client the Deno server
 *   is slower than the Python loop (a blocking `accept`/`recv`/`send`/`close`: 5 system calls per
 *   connection by `strace -c -f`, against 12 for Deno's event loop: `accept4` twice, the second
 *   finding no more, `epoll_ctl` and `epoll_wait` twice each, `getsockname`, `getpeername`,
 *   `recvfrom`, `sendto`, `shutdown`, `close`; ours makes the same 12 since it closes right after
 *   the reply to a request that came alone, as the original does), so the one-client latency of
 *   any `Deno.listen` server has that floor.
 *
 * Every server runs as its own child process on 127.0.0.1 (so each has a core, like the clients);
 * the clients are async loops in this process, each doing one exchange at a time (connect, send,
 * read the reply to EOF, close) on a fixed mix of requests (`REGISTER`, and item requests for
 * every position at protocols 0 and 2, which the original loads), reusing one buffer. Every reply
 * is checked byte for byte; a reset or refused connection counts as a failed request. A request's
 * latency runs from before `connect` to after `close`.
 *
 * The machine is shared, so the servers are measured interleaved: {@linkcode ROUNDS} rounds, each
 * running every (clients, server) cell for {@linkcode CELL_MS} ms in turn; the table shows the
 * median over rounds of each figure, and the ratios ours / minimal and ours / replica of the
 * medians (requests/s: higher is better; latency: lower is better).
 *
 * The measurement runs once, inside one `Deno.bench` (deno's own timing row for it means nothing);
 * the figures are the table printed after deno's.
 *
 * Run: `deno task bench`, or alone (about 55 s, type-check included):
 * `deno bench --allow-net=127.0.0.1 --allow-read --allow-run bench/tracker_bench.ts`.
 * Needs `python3` on PATH for the replica (its column is left out without it).
 *
 * @module
 */
import { DEFAULT_DB } from "../src/tracker/part1/default_db.ts";
import { encodeRequest, ERROR_REPLY } from "../src/tracker/part1/wire.ts";

/** Concurrent clients of each cell. */
const CLIENT_COUNTS = [1, 16, 64] as const;
/** Interleaved rounds. */
const ROUNDS = 7;
/** How long one (clients, server) cell runs per round. */
const CELL_MS = 400;
/**
 * Warm-up per server and client count before the rounds: the servers are measured in their
 * steady state, as a tracker runs for hours. Ours has far more code for V8 to compile than the
 * minimal server: after 200 ms of warm-up it still spent 29–40 µs of user CPU per request in
 * the next seconds (compiler threads included), against 28 µs for the minimal server, and
 * 29–33 µs against 25–33 µs once warm (`/proc/PID/stat`, one client); at one client that made
 * it 1.06–1.11x the minimal server's mean latency, and 1.02–1.03x with 2 s.
 */
const WARMUP_MS = 2000;
/** A single exchange that takes longer fails the bench instead of hanging it. */
const STALL_MS = 30_000;
const HOST = "127.0.0.1";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const REPLICA = new URL("./tracker_replica.py", import.meta.url).pathname;

/** The request mix and the exact reply each must get. */
const MIX: { request: Uint8Array; reply: Uint8Array }[] = [
  { request: encodeRequest({ type: "size" }), reply: new TextEncoder().encode("I16\n.") },
  ...DEFAULT_DB.entries.flatMap((_, i) =>
    ([0, 2] as const).map((protocol) => ({
      request: encodeRequest({ type: "item", index: i }, protocol),
      reply: DEFAULT_DB.itemReply(i),
    }))
  ),
];

/**
 * The baseline server, run with `deno eval`: accept, read once, write the reply (looked up from
 * the request's bytes in a table given on the command line), close. Nothing more.
 */
const MINIMAL_SERVER = `
const table = new Map(JSON.parse(Deno.args[0]).map(([q, r]) => [q, new Uint8Array(r)]));
const bad = new Uint8Array(JSON.parse(Deno.args[1]));
const listener = Deno.listen({ hostname: "${HOST}", port: 0 });
const serve = async (conn) => {
  try {
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    if (n !== null) await conn.write(table.get(buf.subarray(0, n).join()) ?? bad);
  } catch {
    // the client went away
  } finally {
    conn.close();
  }
};
console.log("listening on ${HOST}:" + listener.addr.port);
for await (const conn of listener) serve(conn);
`;

/** Connection-level failures: counted, not fatal. */
function isConnectionError(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionRefused ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BrokenPipe;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One exchange on its own connection, reading into `buf`. Returns false when the connection
 * failed (reset, refused); throws when a reply arrives and is not the expected one.
 */
async function exchange(
  port: number,
  request: Uint8Array,
  expected: Uint8Array,
  buf: Uint8Array,
): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: HOST, port });
  } catch (err) {
    if (isConnectionError(err)) return false;
    throw err;
  }
  try {
    await conn.write(request);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
      if (got === buf.length) throw new Error("reply too long");
    }
    if (!equal(buf.subarray(0, got), expected)) {
      throw new Error(
        `wrong reply: ${JSON.stringify(new TextDecoder().decode(buf.subarray(0, got)))}`,
      );
    }
    return true;
  } catch (err) {
    if (isConnectionError(err)) return false;
    throw err;
  } finally {
    conn.close();
  }
}

/** What one cell measured. */
interface Cell {
  /** Successful requests per second. */
  rate: number;
  /** Latency of successful requests, ms. */
  mean: number;
  p50: number;
  p99: number;
  failed: number;
}

/** Runs `clients` loops against `port` for `ms` milliseconds. */
async function load(port: number, clients: number, ms: number): Promise<Cell> {
  const latencies: number[] = [];
  let failed = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  const worker = async (w: number) => {
    const buf = new Uint8Array(2048);
    for (let k = w; performance.now() < end; k += clients) {
      const { request, reply } = MIX[k % MIX.length];
      const start = performance.now();
      if (await exchange(port, request, reply, buf)) latencies.push(performance.now() - start);
      else failed++;
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the load stalled for ${STALL_MS} ms`)),
      ms + STALL_MS,
    );
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: clients }, (_, w) => worker(w))), stall]);
  } finally {
    clearTimeout(timer);
  }
  const elapsed = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return {
    rate: latencies.length / (elapsed / 1000),
    mean: latencies.reduce((s, x) => s + x, 0) / Math.max(1, latencies.length),
    p50: at(0.5) ?? NaN,
    p99: at(0.99) ?? NaN,
    failed,
  };
}

/** A server child process listening on a free port. */
interface Server {
  port: number;
  stop(): Promise<void>;
}

/**
 * Spawns `command args` and waits for the whole line with the port (`ready` captures it and must
 * match the line's end: the reader is closed right after, and a child still writing would die).
 */
async function spawnServer(command: string, args: string[], ready: RegExp): Promise<Server> {
  const child = new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!ready.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${command} ended before listening: ${out}`);
    out += value;
  }
  await reader.cancel();
  return {
    port: Number(ready.exec(out)![1]),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

const SERVERS = {
  minimal: () =>
    spawnServer(
      Deno.execPath(),
      [
        "eval",
        MINIMAL_SERVER,
        JSON.stringify(MIX.map(({ request, reply }) => [request.join(), [...reply]])),
        JSON.stringify([...ERROR_REPLY]),
      ],
      /listening on [\d.]+:(\d+)\n/,
    ),
  ours: () =>
    spawnServer(
      Deno.execPath(),
      ["run", "--allow-net", "--allow-read", MAIN, "tracker", "serve", "--port", "0"],
      /on tcp 127\.0\.0\.1:(\d+) .*\n/,
    ),
  replica: () =>
    spawnServer(
      "python3",
      [REPLICA, "--host", HOST, "--port", "0", "--backlog", "128"],
      /listening on [\d.]+:(\d+)\n/,
    ),
};
type Name = keyof typeof SERVERS;

const hasPython = await new Deno.Command("python3", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
}).output().then((o) => o.success).catch(() => false);
const NAMES: Name[] = hasPython ? ["minimal", "ours", "replica"] : ["minimal", "ours"];

/** cells[clients][server]: one Cell per round. */
const cells = new Map<number, Map<Name, Cell[]>>();

Deno.bench({
  name: `tracker: ${NAMES.join(", ")} at ${CLIENT_COUNTS.join(", ")} clients, ${ROUNDS} rounds`,
  n: 1,
  warmup: 0,
  async fn() {
    if (cells.size > 0) return; // deno bench may call it again: measure once
    const servers = new Map<Name, Server>();
    try {
      for (const name of NAMES) servers.set(name, await SERVERS[name]());
      for (const clients of CLIENT_COUNTS) {
        for (const name of NAMES) await load(servers.get(name)!.port, clients, WARMUP_MS);
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const clients of CLIENT_COUNTS) {
          const row = cells.get(clients) ?? new Map<Name, Cell[]>();
          cells.set(clients, row);
          // Rotate the order each round, so no server always runs right after another.
          for (let i = 0; i < NAMES.length; i++) {
            const name = NAMES[(i + round) % NAMES.length];
            const list = row.get(name) ?? [];
            row.set(name, list);
            list.push(await load(servers.get(name)!.port, clients, CELL_MS));
          }
        }
      }
    } finally {
      for (const server of servers.values()) await server.stop();
    }
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

globalThis.addEventListener("unload", () => {
  if (cells.size === 0) return;
  const lines = [
    `\nPart 1 tracker, one request per connection; medians of ${ROUNDS} interleaved rounds of ` +
    `${CELL_MS} ms (latency: connect to close, ms):`,
    `  clients  server    requests/s   mean    p50    p99  failed`,
  ];
  const ratios: string[] = [];
  for (const [clients, row] of cells) {
    const m = new Map<Name, Cell>();
    for (const [name, list] of row) {
      const cell: Cell = {
        rate: median(list.map((c) => c.rate)),
        mean: median(list.map((c) => c.mean)),
        p50: median(list.map((c) => c.p50)),
        p99: median(list.map((c) => c.p99)),
        failed: list.reduce((s, c) => s + c.failed, 0),
      };
      m.set(name, cell);
      lines.push(
        `  ${String(clients).padStart(7)}  ${name.padEnd(8)} ${cell.rate.toFixed(0).padStart(11)}` +
          ` ${cell.mean.toFixed(3).padStart(6)} ${cell.p50.toFixed(3).padStart(6)}` +
          ` ${cell.p99.toFixed(3).padStart(6)} ${String(cell.failed).padStart(7)}`,
      );
    }
    // ours against each baseline, and the minimal Deno server against the replica: the floor of a
    // Deno.listen server (at one client it is slower than the Python loop: see the module doc).
    const pairs = [["ours", "minimal"], ["ours", "replica"], ["minimal", "replica"]] as const;
    for (const [name, base] of pairs) {
      const a = m.get(name);
      const b = m.get(base);
      if (!a || !b) continue;
      ratios.push(
        `  ${String(clients).padStart(2)} clients, ${name.padStart(7)} / ${base.padEnd(7)}: ` +
          `requests/s ${(a.rate / b.rate).toFixed(2)}x, ` +
          `mean latency ${(a.mean / b.mean).toFixed(2)}x, p50 ${(a.p50 / b.p50).toFixed(2)}x, ` +
          `p99 ${(a.p99 / b.p99).toFixed(2)}x`,
      );
    }
  }
  console.log(
    [...lines, "Ratios (requests/s: higher is better; latency: lower is better):", ...ratios].join(
      "\n",
    ),
  );
});
