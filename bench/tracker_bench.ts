/**
 * Part 1 tracker throughput: requests per second with 16 concurrent clients, against bitclone's
 * tracker (`bitclone tracker serve`) and against a Python 3 replica of the original tracker
 * (`bench/tracker_replica.py`: single-threaded, one `recv(1024)` per connection, like
 * `tracker-p1.py`), measured in the same run. The replica with the original's listen backlog of 5
 * is the group's baseline; the replica with a backlog of 128 is shown beside it, because 16
 * clients connecting at once overflow a backlog of 5: the kernel drops connection attempts, which
 * clients retry after a second, and that stall, not the Python code, sets the original's rate.
 *
 * All trackers run as child processes on 127.0.0.1 and get the same load from this process: 16
 * workers, each doing one exchange at a time (connect, send, read the reply to EOF, close), on a
 * fixed mix of requests (`REGISTER`, and item requests for every position pickled at protocols 0
 * and 2, which the original loads). Every reply is checked byte for byte; a reset or refused
 * connection counts as a failed request. Only the load is timed (`b.start()`/`b.end()`); the
 * trackers start and stop around it. After the table, the median rate of successful requests of
 * each tracker is printed.
 *
 * These requests are trivial, so the rate measures per-connection overhead: a blocking Python
 * loop that serves one instant request at a time is cheap per connection, but it serves nobody
 * else while a client is slow or silent (see tests/tracker/part1_loopback_test.ts).
 *
 * Run: `deno task bench`, or alone:
 * `deno bench --allow-net=127.0.0.1 --allow-read --allow-run bench/tracker_bench.ts`.
 * Needs `python3` on PATH for the replica (its benches are skipped without it).
 *
 * @module
 */
import { DEFAULT_DB } from "../src/tracker/part1/default_db.ts";
import { encodeRequest } from "../src/tracker/part1/wire.ts";

/** Concurrent clients. */
const CLIENTS = 16;
/** Exchanges per timed iteration (spread evenly over the clients). */
const REQUESTS = 1600;
/** Timed iterations per bench. */
const ITERATIONS = 5;
/** A stalled load fails the bench instead of hanging it. */
const STALL_MS = 60_000;
const GROUP = `${REQUESTS} requests from ${CLIENTS} concurrent clients`;
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

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Connection-level failures: counted, not fatal (the original's queue overflows under load). */
function isConnectionError(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.ConnectionRefused ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BrokenPipe;
}

/**
 * One exchange on its own connection. Returns false when the connection failed (reset, refused);
 * throws when a reply arrives and is not the expected one.
 */
async function exchange(port: number, request: Uint8Array, expected: Uint8Array): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: HOST, port });
  } catch (err) {
    if (isConnectionError(err)) return false;
    throw err;
  }
  try {
    await conn.write(request);
    const buf = new Uint8Array(2048);
    let got = 0;
    for (;;) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
      if (got === buf.length) throw new Error("reply too long");
    }
    if (!equal(buf.subarray(0, got), expected)) {
      throw new Error(`wrong reply: ${new TextDecoder().decode(buf.subarray(0, got))}`);
    }
    return true;
  } catch (err) {
    if (isConnectionError(err)) return false;
    throw err;
  } finally {
    conn.close();
  }
}

/** Runs the load: CLIENTS workers, `requests` exchanges in all; returns how many failed. */
async function load(port: number, requests: number): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async (w: number) => {
    for (let k = w; next < requests; k += CLIENTS) {
      next++;
      const { request, reply } = MIX[k % MIX.length];
      if (!await exchange(port, request, reply)) failed++;
    }
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the load stalled for ${STALL_MS} ms`)), STALL_MS);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: CLIENTS }, (_, w) => worker(w))), stall]);
  } finally {
    clearTimeout(timer);
  }
  return failed;
}

/** A tracker child process listening on a free port. */
interface Tracker {
  port: number;
  stop(): Promise<void>;
}

/**
 * Spawns `command args` and waits for the whole line with the port (`ready` captures it and must
 * match the line's end: the reader is closed right after, and a child still writing would die).
 */
async function spawnTracker(command: string, args: string[], ready: RegExp): Promise<Tracker> {
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

const ours = () =>
  spawnTracker(
    Deno.execPath(),
    [
      "run",
      "--allow-net",
      "--allow-read",
      MAIN,
      "tracker",
      "serve",
      "--port",
      "0",
      "--log-level",
      "error",
    ],
    /on tcp 127\.0\.0\.1:(\d+) .*\n/,
  );
const replica = (backlog: number) => () =>
  spawnTracker(
    "python3",
    [REPLICA, "--host", HOST, "--port", "0", "--backlog", String(backlog)],
    /listening on [\d.]+:(\d+)\n/,
  );

const hasPython = await new Deno.Command("python3", {
  args: ["--version"],
  stdout: "null",
  stderr: "null",
})
  .output().then((o) => o.success).catch(() => false);

/** Per bench: successful requests/s of each iteration, and failed exchanges in all. */
const results = new Map<string, { rates: number[]; failed: number }>();

function timed(name: string, start: () => Promise<Tracker>) {
  const result = { rates: [] as number[], failed: 0 };
  results.set(name, result);
  return async (b: Deno.BenchContext) => {
    const tracker = await start();
    try {
      await load(tracker.port, CLIENTS * 2); // warm up
      b.start();
      const t0 = performance.now();
      const failed = await load(tracker.port, REQUESTS);
      const ms = performance.now() - t0;
      b.end();
      result.failed += failed;
      result.rates.push((REQUESTS - failed) / (ms / 1000));
    } finally {
      await tracker.stop();
    }
  };
}

Deno.bench({
  name: "Python 3 replica of the original (backlog 5)",
  group: GROUP,
  baseline: true,
  n: ITERATIONS,
  warmup: 0,
  ignore: !hasPython,
  fn: timed("replica", replica(5)),
});

Deno.bench({
  name: "Python 3 replica, backlog 128",
  group: GROUP,
  n: ITERATIONS,
  warmup: 0,
  ignore: !hasPython,
  fn: timed("replica (128)", replica(128)),
});

Deno.bench({
  name: "bitclone tracker serve",
  group: GROUP,
  n: ITERATIONS,
  warmup: 0,
  fn: timed("bitclone", ours),
});

globalThis.addEventListener("unload", () => {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = results.get("replica")?.rates ?? [];
  const lines = [...results].filter(([, r]) => r.rates.length).map(([name, r]) => {
    const rate = median(r.rates);
    const vs = base.length ? `  ${(rate / median(base)).toFixed(2)}x the replica` : "";
    const total = r.rates.length * REQUESTS;
    return `  ${name.padEnd(14)} ${rate.toFixed(0).padStart(6)} requests/s` +
      `  ${r.failed}/${total} failed${vs}`;
  });
  console.log(
    `\nPart 1 tracker, ${CLIENTS} concurrent clients, one request per connection ` +
      `(successful requests/s, median of each bench's runs; failed = reset or refused):`,
  );
  console.log(lines.join("\n"));
});
