/**
 * LSP echo throughput by window (issue 13): 5,000 messages of 1,000 bytes echoed with δ 200 ms
 * at window = max-unacked 1, 8 and 64, (a) through the `bitclone lsp server` and `bitclone lsp
 * client` programs (two processes over loopback, tokens piped into the client) and (b) in one
 * process (`listen()` + `echoLoop()` and `connect()`). Each figure is printed as a ratio to
 * window 8 and to window 1 measured in the same run, rounds interleaved (1, 8, 64, 1, 8, 64, …),
 * medians of the rounds, with the kernel's UDP `RcvbufErrors` delta of each run (from
 * /proc/net/snmp; it counts every socket of the network namespace, so other programs' drops show
 * too). In-process, window 64 is also run without the in-flight byte bound
 * (`maxInflightBytes: Infinity`, the behaviour before it) as the fix's own baseline.
 *
 * CLI runs are timed from the client's first output line ("Connecting to server…", printed once
 * the program has started) until it exits after the last echo; in-process runs from the first
 * write until the last echo is read.
 *
 * Run: `deno task bench`, or alone:
 * `deno bench --allow-net=127.0.0.1,0.0.0.0,localhost --allow-read --allow-run --allow-env bench/lsp/window_bench.ts`
 * (`LSP_WINDOW_ROUNDS=<n>` sets the rounds, at least and by default 3: 45–90 s on a loaded 2-core
 * machine).
 *
 * @module
 */
import { connect } from "../../src/lsp/client_deno.ts";
import { echoLoop } from "../../src/lsp/echo.ts";
import { listen } from "../../src/lsp/server_deno.ts";

const MESSAGES = 5_000;
const PAYLOAD_BYTES = 1_000;
const EPOCH_MS = 200;
const WINDOWS = [1, 8, 64] as const;
const ROUNDS = Number(Deno.env.get("LSP_WINDOW_ROUNDS") ?? 3);
/** A run that has not finished by then is reported as stalled (and stopped). */
const STALL_MS = 60_000;
const ROOT = new URL("../../", import.meta.url);
const HOST = "127.0.0.1";

/** One run's figures. */
interface Run {
  msgPerSecond: number;
  rcvbufErrors: number | undefined;
}

/** The kernel's UDP RcvbufErrors (Deno reads /proc/net only with --allow-all, so via `cat`). */
async function rcvbufErrors(): Promise<number | undefined> {
  try {
    const out = await new Deno.Command("cat", { args: ["/proc/net/snmp"], stderr: "null" })
      .output();
    const udp = new TextDecoder().decode(out.stdout).split("\n").filter((l) =>
      l.startsWith("Udp:")
    );
    if (udp.length < 2) return undefined;
    const names = udp[0].trim().split(/\s+/);
    const values = udp[1].trim().split(/\s+/);
    const value = Number(values[names.indexOf("RcvbufErrors")]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A UDP port free a moment ago (the server program needs a number, not 0). */
function freePort(): number {
  const probe = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const { port } = probe.addr as Deno.NetAddr;
  probe.close();
  return port;
}

/** 5,000 tokens of 1,000 letters, one a line: what the client program sends. */
function tokens(): Uint8Array {
  const line = new Uint8Array(PAYLOAD_BYTES + 1);
  const out = new Uint8Array(MESSAGES * line.length);
  for (let m = 0; m < MESSAGES; m++) {
    for (let i = 0; i < PAYLOAD_BYTES; i++) line[i] = 97 + ((m * 7 + i * 13) % 26);
    line[PAYLOAD_BYTES] = 10;
    out.set(line, m * line.length);
  }
  return out;
}
const TOKENS = tokens();

function lspFlags(window: number): string[] {
  return ["-ems", `${EPOCH_MS}`, "-wsize", `${window}`, "-maxUnackMessages", `${window}`];
}

function program(args: string[], stdin: "piped" | "null"): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-sys=networkInterfaces",
      "main.ts",
      ...args,
    ],
    cwd: ROOT,
    stdin,
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

/** Reads `stream` line by line until it ends or `onLine` returns true. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => boolean | void,
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) if (onLine(line)) return;
  }
}

/** One echo through the two programs. */
async function cliRun(window: number): Promise<Run> {
  const port = freePort();
  const server = program(["lsp", "server", "-port", `${port}`, ...lspFlags(window)], "null");
  const stopServer = () => {
    try {
      server.kill("SIGTERM");
    } catch { /* gone */ }
  };
  const timer = setTimeout(stopServer, STALL_MS);
  try {
    // Wait for "Server waiting for clients..."; keep draining its output until it exits.
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => ready = resolve);
    const draining = readLines(server.stdout, (line) => {
      if (line.startsWith("Server waiting")) ready();
    });
    await Promise.race([
      isReady,
      draining.then(() => Promise.reject(new Error("lsp server exited before it was ready"))),
    ]);
    const before = await rcvbufErrors();
    const client = program(
      ["lsp", "client", "-host", HOST, "-port", `${port}`, ...lspFlags(window)],
      "piped",
    );
    const clientTimer = setTimeout(() => client.kill("SIGTERM"), STALL_MS);
    let started = 0, echoes = 0;
    const reading = readLines(client.stdout, (line) => {
      if (started === 0) started = performance.now();
      if (line.startsWith("Server: ")) echoes++;
    });
    const writer = client.stdin.getWriter();
    await writer.write(TOKENS);
    await writer.close();
    await reading;
    const status = await client.status;
    const ms = performance.now() - started;
    clearTimeout(clientTimer);
    const after = await rcvbufErrors();
    if (!status.success || echoes !== MESSAGES) {
      throw new Error(`lsp client (window ${window}): ${echoes} echoes, exit ${status.code}`);
    }
    return {
      msgPerSecond: MESSAGES / (ms / 1000),
      rcvbufErrors: before === undefined || after === undefined ? undefined : after - before,
    };
  } finally {
    clearTimeout(timer);
    stopServer();
    await server.status;
  }
}

/** One echo in this process; `maxInflightBytes` as given (default: the adapters'). */
async function inProcessRun(window: number, maxInflightBytes?: number): Promise<Run> {
  const params = { windowSize: window, maxUnackedMessages: window, epochMillis: EPOCH_MS };
  const server = listen(0, { hostname: HOST, params, maxInflightBytes });
  const loop = echoLoop(server);
  const client = await connect(`${HOST}:${server.port}`, { params, isn: 0, maxInflightBytes });
  const payload = TOKENS.subarray(0, PAYLOAD_BYTES);
  const timer = setTimeout(() => server.closeNow(), STALL_MS);
  try {
    const before = await rcvbufErrors();
    const started = performance.now();
    for (let i = 0; i < MESSAGES; i++) client.write(payload);
    for (let i = 0; i < MESSAGES; i++) await client.read();
    const ms = performance.now() - started;
    const after = await rcvbufErrors();
    return {
      msgPerSecond: MESSAGES / (ms / 1000),
      rcvbufErrors: before === undefined || after === undefined ? undefined : after - before,
    };
  } finally {
    clearTimeout(timer);
    server.closeNow();
    await client.close().catch(() => {});
    await Promise.all([loop, server.done, client.done]);
  }
}

/** The experiments, by row name. */
const ROWS: [string, () => Promise<Run>][] = [
  ...WINDOWS.map((w): [string, () => Promise<Run>] => [`CLI echo, window ${w}`, () => cliRun(w)]),
  ...WINDOWS.map((w): [string, () => Promise<Run>] => [
    `in-process, window ${w}`,
    () => inProcessRun(w),
  ]),
  ["in-process, window 64, no byte bound", () => inProcessRun(64, Infinity)],
];
const results = new Map<string, Run[]>(ROWS.map(([name]) => [name, []]));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function report(): string {
  const rate = (name: string) => median(results.get(name)!.map((r) => r.msgPerSecond));
  const lines = [
    `\nLSP echo, ${MESSAGES} x ${PAYLOAD_BYTES}-byte messages, δ ${EPOCH_MS} ms, window = ` +
    `max-unacked; median of ${
      results.get(ROWS[0][0])!.length
    } interleaved rounds; ratios to window 8 and window 1 ` +
    `of the same kind in this run; RcvbufErrors: the kernel's delta in each run`,
  ];
  for (const [name] of ROWS) {
    const runs = results.get(name)!;
    if (runs.length === 0) continue;
    const kind = name.startsWith("CLI") ? "CLI echo" : "in-process";
    const r = rate(name);
    const drops = runs.map((x) => x.rcvbufErrors ?? "?").join(", ");
    lines.push(
      `  ${name.padEnd(38)} ${r.toFixed(0).padStart(6)} msg/s  ` +
        `${(r / rate(`${kind}, window 8`)).toFixed(2)}x w8  ` +
        `${(r / rate(`${kind}, window 1`)).toFixed(2)}x w1  RcvbufErrors +[${drops}]`,
    );
  }
  return lines.join("\n");
}

Deno.bench({
  name: "LSP echo by window: one round of every row, CLI and in-process",
  // Deno 2.9 calls a bench with `warmup: 0` n + 2 times: each call is one round.
  n: Math.max(1, ROUNDS - 2),
  warmup: 0,
  async fn(b) {
    b.start();
    for (const [name, run] of ROWS) results.get(name)!.push(await run());
    b.end();
  },
});

globalThis.addEventListener("unload", () => {
  if ([...results.values()].some((r) => r.length > 0)) console.log(report());
});
