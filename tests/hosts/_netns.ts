/**
 * Several hosts on one machine, for tests: {@linkcode withHosts} builds N Linux network
 * namespaces on a private bridge, each with its own IPv4 address, runs commands (and bitclone)
 * inside them, adds nftables random loss on chosen hosts, and always tears everything down, also
 * when the test fails or the process gets SIGINT/SIGTERM. Test files register through
 * {@linkcode hostsTest}: without root, `ip` (iproute2) or `nft` (nftables) their tests are
 * ignored and the module prints one line saying why.
 *
 * One lab, with run id `<pid>x<tag><n>` (tag: three random letters per module instance, n: a
 * counter) and a /24 `10.213.<k>.0/24` picked from it:
 *
 * ```text
 * bc<run id>-br     lo, br0 (Linux bridge), h0..h<N-1> (veth ends, ports of br0)
 * bc<run id>-h<i>   lo, eth0 = 10.213.<k>.<i+1>/24 (the veth peer of h<i>)
 * ```
 *
 * Nothing is added to the root namespace: no links, no addresses, no routes, no rules. Names
 * carry the owner's pid, so a lab start deletes namespaces left by crashed runs whose pid is dead.
 *
 * @example A TCP exchange between two hosts
 * ```ts ignore
 * import { hostsTest, withHosts } from "./_netns.ts";
 * hostsTest("two hosts talk", async () => {
 *   await withHosts({ count: 2 }, async (lab) => {
 *     const [a, b] = lab.hosts;
 *     const server = b.spawn(["socat", "TCP-LISTEN:7000,fork", "EXEC:cat"]);
 *     const r = await a.run(["sh", "-c", `echo hi | nc -q1 ${b.address} 7000`]);
 *     await server.stop();
 *   });
 * });
 * ```
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Outcome of {@linkcode hostsAvailable}: either usable, or the reason it is not. */
export type HostsAvailability = { ok: true } | { ok: false; reason: string };

/** Which packets {@linkcode Host.setLoss} drops: arriving on eth0, leaving it, or both. */
export type LossDirection = "in" | "out" | "both";

/** Largest number of hosts one lab holds. */
export const MAX_HOSTS = 32;

/** Absolute path of bitclone's entry point, `main.ts` at the repository root. */
export const BITCLONE_MAIN: string = fileURLToPath(new URL("../../main.ts", import.meta.url));

/** Absolute path of the repository's `deno.json`, passed to every bitclone run. */
export const BITCLONE_CONFIG: string = fileURLToPath(new URL("../../deno.json", import.meta.url));

const LOSS_TABLE = "bitclone_loss";
const NAME_PATTERN = /^bc(\d+)x[a-z]{3}\d+-(br|probe|h\d+)$/;
/**
 * Three random letters per module instance: `deno test` runs each test file in its own isolate
 * of one process (several at once with --parallel), so the pid alone does not make names unique.
 */
const ISOLATE_TAG = Array.from(
  crypto.getRandomValues(new Uint8Array(3)),
  (byte) => String.fromCharCode(97 + byte % 26),
).join("");
const OUTPUT_CAP_CHARS = 1 << 20;
const DRAIN_MS = 1_000;
const ADMIN_TIMEOUT_MS = 15_000;
const DEFAULT_RUN_TIMEOUT_MS = 10_000;
const DEFAULT_KILL_GRACE_MS = 1_000;
const DEFAULT_WAIT_FOR_OUTPUT_MS = 5_000;
/**
 * A watchdog started with each lab: it reads one line from its stdin, a pipe from this process.
 * `done` means the lab was torn down; EOF means this process died without tearing it down
 * (SIGKILL, a crash, or `deno test` exiting at once on Ctrl-C): it then kills what runs in the
 * lab's namespaces and deletes them. It ignores the signals a Ctrl-C sends to the whole group.
 */
const REAPER_SCRIPT = `trap '' INT TERM HUP
IFS= read -r line
[ "$line" = done ] && exit 0
for ns in "$@"; do
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
done
exit 0`;
const SKIP_HINT = "run as root: sudo deno task test:hosts";
const INSTALL_HINT = "install it: sudo .ci/install_hosts_deps.sh";

/** What a finished command left behind. */
export interface RunResult {
  /** Exit code; 128 + signal number when a signal ended it. */
  code: number;
  /** True when the exit code is 0. */
  success: boolean;
  /** The signal that ended the process, if any. */
  signal: Deno.Signal | null;
  /** Standard output as text (the first 1 MiB; the rest is dropped). */
  stdout: string;
  /** Standard error as text (the first 1 MiB; the rest is dropped). */
  stderr: string;
  /** True when the command overran its timeout and was stopped. */
  timedOut: boolean;
}

/** Options for {@linkcode Host.spawn} and {@linkcode Host.bitclone}. */
export interface SpawnOptions {
  /**
   * Bytes or text written to the command's standard input, which is then closed.
   *
   * @default {undefined} (standard input is /dev/null)
   */
  input?: string | Uint8Array;
  /**
   * Extra environment variables; the test's own environment is inherited.
   *
   * @default {{}}
   */
  env?: Record<string, string>;
  /**
   * Working directory of the command.
   *
   * @default {undefined} (the test's working directory)
   */
  cwd?: string;
}

/** Options for {@linkcode Host.run}. */
export interface RunOptions extends SpawnOptions {
  /**
   * Milliseconds before the command is stopped (SIGTERM, then SIGKILL) and reported with
   * `timedOut: true`.
   *
   * @default {10000}
   */
  timeoutMs?: number;
}

/** Options for {@linkcode HostProcess.wait}. */
export interface WaitOptions {
  /**
   * Milliseconds before the process is stopped and reported with `timedOut: true`.
   *
   * @default {undefined} (wait for as long as it runs)
   */
  timeoutMs?: number;
}

/** Options for {@linkcode HostProcess.waitForOutput}. */
export interface WaitForOutputOptions {
  /**
   * Milliseconds before the wait rejects.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Which output to search.
   *
   * @default {"stdout"}
   */
  stream?: "stdout" | "stderr";
}

/** Options for {@linkcode Host.setLoss}. */
export interface LossOptions {
  /**
   * Drop packets arriving on eth0 (`"in"`), leaving it (`"out"`), or both.
   *
   * @default {"both"}
   */
  direction?: LossDirection;
}

/** Loss to install on one host right after the lab is built (see {@linkcode WithHostsOptions}). */
export interface HostLoss extends LossOptions {
  /** Index of the host in `lab.hosts`. */
  host: number;
  /** Integer percentage of TCP and UDP packets to drop, 0..100. */
  percent: number;
}

/** Options for {@linkcode withHosts}. */
export interface WithHostsOptions {
  /** Number of hosts, 1..{@linkcode MAX_HOSTS}. */
  count: number;
  /**
   * Loss installed on chosen hosts before `fn` runs.
   *
   * @default {[]}
   */
  loss?: readonly HostLoss[];
  /**
   * Aborting tears the lab down at once (which ends its processes) and rejects with the reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Milliseconds between SIGTERM and SIGKILL when a process is stopped.
   *
   * @default {1000}
   */
  killGraceMs?: number;
  /**
   * Run `deno cache` on `main.ts` once per test process, outside the namespaces (which have no
   * route to a package registry), so that {@linkcode Host.bitclone} finds its dependencies.
   * Skipped when `main.ts` does not exist.
   *
   * @default {true}
   */
  cacheBitclone?: boolean;
}

/** A process running inside a host namespace. The lab stops it at teardown if it still runs. */
export interface HostProcess {
  /** The command as given (without the `ip netns exec` prefix). */
  readonly cmd: readonly string[];
  /** Process id (in the root pid namespace). */
  readonly pid: number;
  /** Standard output collected so far (the first 1 MiB). */
  readonly stdout: string;
  /** Standard error collected so far (the first 1 MiB). */
  readonly stderr: string;
  /** False once the process has exited. */
  readonly running: boolean;
  /** Resolves once the process has exited and its output is collected. Never rejects. */
  readonly status: Promise<Deno.CommandStatus>;
  /**
   * Resolves with the matched text once `pattern` shows up in the output; rejects when the
   * process exits without it or after `timeoutMs`.
   */
  waitForOutput(pattern: string | RegExp, options?: WaitForOutputOptions): Promise<string>;
  /** Waits for the exit (stopping the process after `timeoutMs`) and returns the result. */
  wait(options?: WaitOptions): Promise<RunResult>;
  /** Sends a signal; does nothing once the process has exited. */
  kill(signal?: Deno.Signal): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. Idempotent. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/** One host: a network namespace with one interface, eth0, on the lab's bridge. */
export interface Host {
  /** Position in `lab.hosts`. */
  readonly index: number;
  /** Short name, `h<index>`. */
  readonly name: string;
  /** Network namespace name, `bc<run id>-h<index>`. */
  readonly ns: string;
  /** IPv4 address of eth0, without prefix length. */
  readonly address: string;
  /** The loss currently installed, if any. */
  readonly loss: { percent: number; direction: LossDirection } | undefined;
  /** Runs `cmd` inside the namespace to completion (bounded by `timeoutMs`). */
  run(cmd: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-running `cmd` inside the namespace. */
  spawn(cmd: readonly string[], options?: SpawnOptions): HostProcess;
  /** Starts `deno run <the bitclone task's flags> main.ts ...args` inside the namespace. */
  bitclone(args: readonly string[], options?: SpawnOptions): HostProcess;
  /** Drops `percent`% of TCP and UDP packets on eth0 (never lo); replaces any earlier loss. */
  setLoss(percent: number, options?: LossOptions): Promise<void>;
  /** Removes the loss; does nothing when there is none. */
  clearLoss(): Promise<void>;
}

/** The namespaces of one {@linkcode withHosts} call. */
export interface HostLab {
  /** `<pid>x<tag><n>`, unique on this machine while the process lives. */
  readonly runId: string;
  /** The lab's IPv4 subnet, e.g. `10.213.17.0/24`. */
  readonly subnet: string;
  /** The namespace holding the bridge. */
  readonly bridgeNs: string;
  /** The hosts, in order; host i has address `.<i+1>` in the subnet. */
  readonly hosts: readonly Host[];
  /** Every namespace of the lab, the bridge namespace first. */
  readonly namespaces: readonly string[];
}

/** Test body accepted by {@linkcode hostsTest}. */
export type HostsTestFn = (t: Deno.TestContext) => void | Promise<void>;

// ---------------------------------------------------------------------------------------------
// Processes

class OutputBuffer {
  text = "";
  append(chunk: string): void {
    if (this.text.length >= OUTPUT_CAP_CHARS) return;
    this.text += chunk.slice(0, OUTPUT_CAP_CHARS - this.text.length);
  }
}

/** Resolves true when `promise` settles within `ms`, false otherwise; leaves no timer behind. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function checkMillis(what: string, ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`Cannot ${what}: milliseconds must be finite and >= 0, got ${ms}`);
  }
}

function tail(text: string, chars = 400): string {
  const t = text.trim();
  return t.length <= chars ? t : `…${t.slice(-chars)}`;
}

async function writeInput(stdin: WritableStream<Uint8Array>, input: string | Uint8Array) {
  const writer = stdin.getWriter();
  try {
    await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
    await writer.close();
  } catch {
    // The process closed its standard input early: what it did not read is its business.
  }
}

class LabProcess implements HostProcess {
  readonly cmd: readonly string[];
  readonly pid: number;
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #out = new OutputBuffer();
  #err = new OutputBuffer();
  #readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
  #listeners = new Set<() => void>();
  #exited = false;
  #collected = false;
  #stopping: Promise<Deno.CommandStatus> | undefined;
  #timedOut = false;
  #graceMs: number;

  constructor(argv: readonly string[], cmd: readonly string[], options: SpawnOptions, graceMs = 0) {
    const [program, ...args] = argv;
    this.cmd = cmd;
    this.#graceMs = graceMs;
    this.#child = new Deno.Command(program, {
      args,
      stdin: options.input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
      cwd: options.cwd,
    }).spawn();
    this.pid = this.#child.pid;
    const io: Promise<void>[] = [
      this.#pump(this.#child.stdout, this.#out),
      this.#pump(this.#child.stderr, this.#err),
    ];
    if (options.input !== undefined) io.push(writeInput(this.#child.stdin, options.input));
    const collected = Promise.all(io);
    this.status = this.#child.status.then(async (status) => {
      this.#exited = true;
      // A grandchild may hold the pipes open after the child exits: stop reading after a while.
      if (!(await settlesWithin(collected, DRAIN_MS))) {
        for (const reader of this.#readers) reader.cancel().catch(() => {});
        await collected;
      }
      this.#collected = true;
      this.#notify();
      return status;
    });
  }

  get stdout(): string {
    return this.#out.text;
  }

  get stderr(): string {
    return this.#err.text;
  }

  get running(): boolean {
    return !this.#exited;
  }

  async #pump(stream: ReadableStream<Uint8Array>, buffer: OutputBuffer): Promise<void> {
    const reader = stream.getReader();
    this.#readers.push(reader);
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer.append(decoder.decode(value, { stream: true }));
        this.#notify();
      }
      buffer.append(decoder.decode());
    } catch {
      // Cancelled or broken: what was read so far stays.
    } finally {
      reader.releaseLock();
    }
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  waitForOutput(pattern: string | RegExp, options: WaitForOutputOptions = {}): Promise<string> {
    const { timeoutMs = DEFAULT_WAIT_FOR_OUTPUT_MS, stream = "stdout" } = options;
    checkMillis("wait for output", timeoutMs);
    const shown = typeof pattern === "string" ? JSON.stringify(pattern) : String(pattern);
    const what = `${shown} in the ${stream} of ${this.cmd.join(" ")}`;
    const find = (): string | undefined => {
      const text = stream === "stdout" ? this.#out.text : this.#err.text;
      if (typeof pattern === "string") return text.includes(pattern) ? pattern : undefined;
      pattern.lastIndex = 0;
      return pattern.exec(text)?.[0];
    };
    return new Promise<string>((resolve, reject) => {
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#listeners.delete(check);
        settle();
      };
      const check = () => {
        const found = find();
        if (found !== undefined) return finish(() => resolve(found));
        if (this.#collected) {
          finish(() =>
            reject(
              new Error(`Cannot find ${what}: it exited; stderr: ${tail(this.#err.text)}`),
            )
          );
        }
      };
      const timer = setTimeout(() =>
        finish(() =>
          reject(
            new Error(
              `Cannot find ${what} within ${timeoutMs} ms; stdout: ${tail(this.#out.text)}; ` +
                `stderr: ${tail(this.#err.text)}`,
            ),
          )
        ), timeoutMs);
      this.#listeners.add(check);
      check();
    });
  }

  async wait(options: WaitOptions = {}): Promise<RunResult> {
    const { timeoutMs } = options;
    if (timeoutMs !== undefined) {
      checkMillis("wait for a process", timeoutMs);
      if (!(await settlesWithin(this.status, timeoutMs))) {
        this.#timedOut = true;
        await this.stop();
      }
    }
    const status = await this.status;
    if (this.#stopping) await this.#stopping;
    return {
      code: status.code,
      success: status.success,
      signal: status.signal,
      stdout: this.#out.text,
      stderr: this.#err.text,
      timedOut: this.#timedOut,
    };
  }

  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited between the check and the kill.
    }
  }

  stop(graceMs: number = this.#graceMs): Promise<Deno.CommandStatus> {
    checkMillis("stop a process", graceMs);
    return this.#stopping ??= (async () => {
      this.kill("SIGTERM");
      if (!(await settlesWithin(this.status, graceMs))) this.kill("SIGKILL");
      return await this.status;
    })();
  }
}

/** Runs an administrative command in the root namespace; throws with its stderr on failure. */
async function admin(argv: readonly string[], what: string, input?: string): Promise<RunResult> {
  const result = await new LabProcess(argv, argv, { input }).wait({ timeoutMs: ADMIN_TIMEOUT_MS });
  if (!result.success) {
    const why = result.timedOut ? "timed out" : `exited with code ${result.code}`;
    throw new Error(`Cannot ${what}: \`${argv.join(" ")}\` ${why}: ${tail(result.stderr)}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Availability

/** Effective uid without needing --allow-sys (Deno also guards /proc behind --allow-all). */
async function effectiveUid(): Promise<number | undefined> {
  if ((await Deno.permissions.query({ name: "sys", kind: "uid" })).state === "granted") {
    return Deno.uid() ?? undefined;
  }
  const { success, stdout } = await new Deno.Command("id", { args: ["-u"], stderr: "null" })
    .output();
  return success ? Number(new TextDecoder().decode(stdout).trim()) : undefined;
}

async function runnable(program: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(program, { args, stdout: "null", stderr: "null" })
      .output();
    return success;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function probe(): Promise<HostsAvailability> {
  if (Deno.build.os !== "linux") {
    return { ok: false, reason: `not Linux (network namespaces need Linux)` };
  }
  if ((await Deno.permissions.query({ name: "run" })).state !== "granted") {
    return { ok: false, reason: `no --allow-run permission (${SKIP_HINT})` };
  }
  const uid = await effectiveUid();
  if (uid !== 0) return { ok: false, reason: `not root (${SKIP_HINT})` };
  if (!(await runnable("ip", ["-V"]))) {
    return { ok: false, reason: `\`ip\` (iproute2) not found (${INSTALL_HINT})` };
  }
  if (!(await runnable("nft", ["--version"]))) {
    return { ok: false, reason: `\`nft\` (nftables) not found (${INSTALL_HINT})` };
  }
  const ns = `bc${Deno.pid}x${ISOLATE_TAG}0-probe`;
  try {
    await admin(["ip", "netns", "add", ns], "create a probe network namespace");
    try {
      await admin(
        ["ip", "-n", ns, "-b", "-"],
        "create a bridge and a veth pair in a namespace",
        "link add br0 type bridge\nlink add v0 type veth peer name v1\n",
      );
      await admin(["ip", "netns", "exec", ns, "nft", "list", "tables"], "run nft in a namespace");
    } finally {
      await admin(["ip", "netns", "del", ns], "delete the probe network namespace");
    }
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  return { ok: true };
}

let availability: Promise<HostsAvailability> | undefined;

/**
 * Tells whether several-hosts tests can run here: Linux, root, `--allow-run`, `ip` and `nft`
 * runnable, and a network namespace with a bridge, a veth pair and nftables can actually be
 * created (a probe namespace is created and deleted). The result is computed once per process.
 *
 * @returns `{ ok: true }`, or `{ ok: false, reason }` with a one-line reason and what to do.
 *
 * @example Skip by hand
 * ```ts ignore
 * import { hostsAvailable } from "./_netns.ts";
 * const hosts = await hostsAvailable();
 * if (!hosts.ok) console.log(`skipping: ${hosts.reason}`);
 * ```
 */
export function hostsAvailable(): Promise<HostsAvailability> {
  return availability ??= probe().catch((err) => ({
    ok: false as const,
    reason: `cannot probe network namespaces: ${err instanceof Error ? err.message : err}`,
  }));
}

// ---------------------------------------------------------------------------------------------
// Namespaces

async function listNamespaces(): Promise<string[]> {
  const { stdout } = await admin(["ip", "netns", "list"], "list network namespaces");
  return stdout.split("\n").map((line) => line.trim().split(/\s+/)[0]).filter((n) => n !== "");
}

/** The pids among `pids` that name a live process (`kill -0`; Deno guards /proc). */
async function livePids(pids: readonly number[]): Promise<Set<number>> {
  if (pids.length === 0) return new Set();
  const { stdout } = await admin(
    [
      "sh",
      "-c",
      'for p; do kill -0 "$p" 2>/dev/null && echo "$p"; done; true',
      "sh",
      ...pids.map(String),
    ],
    "check which processes are alive",
  );
  return new Set(stdout.split(/\s+/).filter((p) => p !== "").map(Number));
}

/** Kills whatever still runs inside the namespaces, then deletes those that exist. */
async function deleteNamespaces(names: readonly string[]): Promise<void> {
  const existing = new Set(await listNamespaces());
  const present = names.filter((name) => existing.has(name));
  if (present.length === 0) return;
  await Promise.all(present.map(async (ns) => {
    const { stdout } = await admin(["ip", "netns", "pids", ns], `list the processes in ${ns}`);
    for (const pid of stdout.split(/\s+/).filter((p) => p !== "").map(Number)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  }));
  const script = present.map((ns) => `netns del ${ns}\n`).join("");
  await admin(["ip", "-force", "-b", "-"], "delete network namespaces", script);
}

/** Deletes namespaces named by this helper whose owning process is dead; returns their names. */
async function deleteStaleNamespaces(): Promise<string[]> {
  const owned = (await listNamespaces()).flatMap((name) => {
    const match = NAME_PATTERN.exec(name);
    const pid = Number(match?.[1]);
    return match && pid !== Deno.pid ? [{ name, pid }] : [];
  });
  const alive = await livePids([...new Set(owned.map((o) => o.pid))]);
  const stale = owned.filter((o) => !alive.has(o.pid)).map((o) => o.name);
  if (stale.length > 0) await deleteNamespaces(stale);
  return stale;
}

let bitcloneCached: Promise<void> | undefined;

function cacheBitclone(): Promise<void> {
  return bitcloneCached ??= (async () => {
    try {
      Deno.statSync(BITCLONE_MAIN);
    } catch {
      return; // Nothing to cache (yet).
    }
    try {
      await admin(
        [Deno.execPath(), "cache", `--config=${BITCLONE_CONFIG}`, BITCLONE_MAIN],
        "cache bitclone's dependencies",
      );
    } catch (err) {
      // Not fatal: host.bitclone() then shows Deno's own error in its stderr.
      console.warn(`several-hosts: ${err instanceof Error ? err.message : err}`);
    }
  })();
}

/**
 * The command line that runs bitclone with `args`: `deno run --allow-net --allow-read
 * --allow-write --config=<repo>/deno.json <repo>/main.ts ...args`.
 *
 * @param args Arguments for bitclone.
 * @returns The argv, program first.
 *
 * @example Run bitclone in the root namespace
 * ```ts ignore
 * import { bitcloneArgv } from "./_netns.ts";
 * const [program, ...args] = bitcloneArgv(["--version"]);
 * const { stdout } = await new Deno.Command(program, { args }).output();
 * ```
 */
export function bitcloneArgv(args: readonly string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    ...bitcloneTaskFlags(),
    `--config=${BITCLONE_CONFIG}`,
    BITCLONE_MAIN,
    ...args,
  ];
}

/**
 * The permission flags of the `bitclone` task in deno.json (what `deno task start` and the README
 * give the program), so hosts run bitclone the way users do.
 */
export function bitcloneTaskFlags(): string[] {
  const { tasks } = JSON.parse(Deno.readTextFileSync(BITCLONE_CONFIG)) as {
    tasks: Record<string, string>;
  };
  const words = tasks.bitclone.trim().split(/\s+/);
  if (words[0] !== "deno" || words[1] !== "run" || words.at(-1) !== "main.ts") {
    throw new Error(`Cannot read the bitclone task's flags from: ${tasks.bitclone}`);
  }
  return words.slice(2, -1);
}

function lossScript(percent: number, direction: LossDirection): string {
  // numgen yields 0..99, and nft refuses `< 100`: at 100% every packet goes.
  const odds = percent === 100 ? "" : ` numgen random mod 100 < ${percent}`;
  const rule = (hook: "input" | "output", ifname: "iifname" | "oifname") =>
    `  chain ${hook} {\n    type filter hook ${hook} priority 0; policy accept;\n` +
    `    ${ifname} "eth0" meta l4proto { tcp, udp }${odds} drop\n  }\n`;
  const chains = (direction === "out" ? "" : rule("input", "iifname")) +
    (direction === "in" ? "" : rule("output", "oifname"));
  // Declaring then deleting the table makes the replacement atomic and works when it is absent.
  return `table inet ${LOSS_TABLE}\ndelete table inet ${LOSS_TABLE}\n` +
    `table inet ${LOSS_TABLE} {\n${chains}}\n`;
}

class LabHost implements Host {
  readonly index: number;
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  #lab: Lab;
  #loss: { percent: number; direction: LossDirection } | undefined;

  constructor(lab: Lab, index: number, ns: string, address: string) {
    this.#lab = lab;
    this.index = index;
    this.name = `h${index}`;
    this.ns = ns;
    this.address = address;
  }

  get loss(): { percent: number; direction: LossDirection } | undefined {
    return this.#loss && { ...this.#loss };
  }

  run(cmd: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const { timeoutMs = DEFAULT_RUN_TIMEOUT_MS, ...spawnOptions } = options;
    checkMillis("run a command", timeoutMs);
    return this.spawn(cmd, spawnOptions).wait({ timeoutMs });
  }

  spawn(cmd: readonly string[], options: SpawnOptions = {}): HostProcess {
    return this.#lab.spawnIn(this.ns, cmd, options);
  }

  bitclone(args: readonly string[], options: SpawnOptions = {}): HostProcess {
    return this.spawn(bitcloneArgv(args), {
      ...options,
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...options.env },
    });
  }

  async setLoss(percent: number, options: LossOptions = {}): Promise<void> {
    const { direction = "both" } = options;
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
      throw new RangeError(`Cannot set loss: percent must be an integer in 0..100, got ${percent}`);
    }
    if (direction !== "in" && direction !== "out" && direction !== "both") {
      throw new TypeError(`Cannot set loss: unknown direction ${JSON.stringify(direction)}`);
    }
    if (percent === 0) return await this.clearLoss();
    await this.#nft(lossScript(percent, direction), `set ${percent}% loss on ${this.name}`);
    this.#loss = { percent, direction };
  }

  async clearLoss(): Promise<void> {
    const table = `table inet ${LOSS_TABLE}`;
    await this.#nft(`${table}\ndelete ${table}\n`, `clear the loss on ${this.name}`);
    this.#loss = undefined;
  }

  async #nft(script: string, what: string): Promise<void> {
    const result = await this.run(["nft", "-f", "-"], { input: script });
    if (!result.success) {
      throw new Error(
        `Cannot ${what}: nft exited with code ${result.code}: ${tail(result.stderr)}`,
      );
    }
  }
}

let labCounter = 0;

class Lab implements HostLab {
  readonly runId: string;
  readonly subnet: string;
  readonly bridgeNs: string;
  readonly hosts: readonly LabHost[];
  readonly namespaces: readonly string[];
  #processes = new Set<LabProcess>();
  #closing: Promise<unknown[]> | undefined;
  #building: Promise<void> | undefined;
  #reaper: Deno.ChildProcess | undefined;
  #graceMs: number;

  constructor(count: number, graceMs: number) {
    const n = ++labCounter;
    this.runId = `${Deno.pid}x${ISOLATE_TAG}${n}`;
    const tagSum = [...ISOLATE_TAG].reduce((sum, c) => sum * 26 + c.charCodeAt(0) - 97, 0);
    const octet = ((Deno.pid * 7 + tagSum * 31 + n) % 254) + 1;
    this.subnet = `10.213.${octet}.0/24`;
    this.bridgeNs = `bc${this.runId}-br`;
    this.hosts = Array.from(
      { length: count },
      (_, i) => new LabHost(this, i, `bc${this.runId}-h${i}`, `10.213.${octet}.${i + 1}`),
    );
    this.namespaces = [this.bridgeNs, ...this.hosts.map((h) => h.ns)];
    this.#graceMs = graceMs;
  }

  spawnIn(ns: string, cmd: readonly string[], options: SpawnOptions): HostProcess {
    if (cmd.length === 0) throw new TypeError("Cannot spawn a command: the command is empty");
    if (this.#closing) throw new Error(`Cannot spawn ${cmd[0]}: the host lab is torn down`);
    const process = new LabProcess(
      ["ip", "netns", "exec", ns, ...cmd],
      cmd,
      options,
      this.#graceMs,
    );
    this.#processes.add(process);
    process.status.then(() => this.#processes.delete(process));
    return process;
  }

  /** Creates the namespaces, the bridge and the veths; teardown waits for it to settle. */
  build(): Promise<void> {
    if (this.#closing) return Promise.reject(new Error("Cannot build a host lab: it is torn down"));
    return this.#building ??= this.#build();
  }

  async #build(): Promise<void> {
    const stale = await deleteStaleNamespaces();
    if (stale.length > 0) {
      console.warn(`several-hosts: deleted ${stale.length} stale namespace(s) of dead runs`);
    }
    this.#reaper = new Deno.Command("sh", {
      args: ["-c", REAPER_SCRIPT, "sh", ...this.namespaces],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await admin(
      ["ip", "-b", "-"],
      "create the lab's network namespaces",
      this.namespaces.map((ns) => `netns add ${ns}\n`).join(""),
    );
    let bridge = "link set lo up\nlink add br0 type bridge\nlink set br0 up\n";
    for (const host of this.hosts) {
      const port = `h${host.index}`;
      bridge += `link add ${port} type veth peer name eth0 netns ${host.ns}\n` +
        `link set ${port} master br0\nlink set ${port} up\n`;
    }
    await admin(["ip", "-n", this.bridgeNs, "-b", "-"], "build the lab's bridge", bridge);
    await Promise.all(this.hosts.map((host) =>
      admin(
        ["ip", "-n", host.ns, "-b", "-"],
        `configure ${host.name}`,
        `link set lo up\naddr add ${host.address}/24 dev eth0\nlink set eth0 up\n`,
      )
    ));
  }

  /** Tears the lab down once; resolves with the errors met on the way (it never rejects). */
  close(): Promise<unknown[]> {
    return this.#closing ??= this.#teardown();
  }

  async #teardown(): Promise<unknown[]> {
    const errors: unknown[] = [];
    // An abort or a signal may arrive mid-build: let the build finish (its steps are bounded),
    // or it could create a namespace after the deletion below.
    await this.#building?.catch(() => {});
    const stops = await Promise.allSettled([...this.#processes].map((p) => p.stop()));
    for (const stop of stops) if (stop.status === "rejected") errors.push(stop.reason);
    try {
      await deleteNamespaces(this.namespaces);
      const ours = new Set(this.namespaces);
      const left = (await listNamespaces()).filter((ns) => ours.has(ns));
      if (left.length > 0) errors.push(new Error(`Cannot delete namespaces: ${left.join(", ")}`));
    } catch (err) {
      errors.push(err);
    }
    try {
      await this.#dismissReaper();
    } catch (err) {
      errors.push(err);
    }
    untrack(this);
    return errors;
  }

  /** Tells the watchdog the lab is gone, so it exits without touching anything. */
  async #dismissReaper(): Promise<void> {
    const reaper = this.#reaper;
    if (!reaper) return;
    const writer = reaper.stdin.getWriter();
    await writer.write(new TextEncoder().encode("done\n")).catch(() => {});
    await writer.close().catch(() => {});
    if (!(await settlesWithin(reaper.status, ADMIN_TIMEOUT_MS))) {
      reaper.kill("SIGKILL");
      await reaper.status;
      throw new Error("Cannot dismiss the lab's watchdog: it did not exit; killed it");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Signals: while a lab is up, SIGINT/SIGTERM tear every lab down before the process exits.

const liveLabs = new Set<Lab>();
const EXIT_SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;
let signalHandlers: [Deno.Signal, () => void][] | undefined;

function track(lab: Lab): void {
  liveLabs.add(lab);
  if (signalHandlers) return;
  signalHandlers = EXIT_SIGNALS.map((
    [signal, code],
  ) => [signal, () => void onSignal(signal, code)]);
  for (const [signal, handler] of signalHandlers) Deno.addSignalListener(signal, handler);
}

function untrack(lab: Lab): void {
  liveLabs.delete(lab);
  if (liveLabs.size > 0 || !signalHandlers) return;
  for (const [signal, handler] of signalHandlers) Deno.removeSignalListener(signal, handler);
  signalHandlers = undefined;
}

async function onSignal(signal: Deno.Signal, code: number): Promise<void> {
  console.error(`several-hosts: ${signal}: tearing down ${liveLabs.size} host lab(s)`);
  await Promise.allSettled([...liveLabs].map((lab) => lab.close()));
  Deno.exit(code);
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/**
 * Builds a lab of `options.count` hosts, runs `fn` with it, and always tears it down: tracked
 * processes get SIGTERM then SIGKILL, whatever else runs in the namespaces gets SIGKILL, and
 * every namespace of the lab is deleted (which removes the veths and the bridge). Teardown
 * errors never stop the teardown; they are collected and reported.
 *
 * @param options Host count, initial loss, abort signal, kill grace.
 * @param fn The test body; its result is returned.
 * @returns What `fn` returned.
 * @throws {RangeError} When `count` is not an integer in 1..{@linkcode MAX_HOSTS}.
 * @throws {Error} When hosts are not available here ({@linkcode hostsAvailable}) or the lab
 * cannot be built. When `fn` throws, that error is rethrown after teardown (teardown errors are
 * printed); when `fn` succeeds but teardown fails, an `AggregateError` of the teardown errors.
 * When `signal` aborts, its reason.
 *
 * @example A UDP exchange between two hosts
 * ```ts ignore
 * import { withHosts } from "./_netns.ts";
 * await withHosts({ count: 2, loss: [{ host: 1, percent: 10 }] }, async (lab) => {
 *   const [a, b] = lab.hosts;
 *   const echo = b.spawn(["socat", "UDP-LISTEN:7000,fork", "EXEC:cat"]);
 *   const r = await a.run(["sh", "-c", `echo hi | socat - UDP:${b.address}:7000`]);
 *   console.log(r.code, r.stdout);
 * });
 * ```
 */
export async function withHosts<T>(
  options: WithHostsOptions,
  fn: (lab: HostLab) => Promise<T>,
): Promise<T> {
  const {
    count,
    loss = [],
    signal,
    killGraceMs = DEFAULT_KILL_GRACE_MS,
    cacheBitclone: cache = true,
  } = options;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new RangeError(`Cannot build a host lab: count must be in 1..${MAX_HOSTS}, got ${count}`);
  }
  for (const { host } of loss) {
    if (!Number.isInteger(host) || host < 0 || host >= count) {
      throw new RangeError(`Cannot build a host lab: loss names host ${host} of ${count}`);
    }
  }
  checkMillis("build a host lab", killGraceMs);
  signal?.throwIfAborted();
  const available = await hostsAvailable();
  if (!available.ok) throw new Error(`Cannot build a host lab: ${available.reason}`);
  if (cache) await cacheBitclone();
  signal?.throwIfAborted();

  const lab = new Lab(count, killGraceMs);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      reject(signal?.reason);
      void lab.close();
    };
  });
  aborted.catch(() => {});
  signal?.addEventListener("abort", onAbort!, { once: true });
  track(lab);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    const body = (async () => {
      await lab.build();
      for (const { host, percent, direction } of loss) {
        await lab.hosts[host].setLoss(percent, { direction });
      }
      return await fn(lab);
    })();
    body.catch(() => {});
    outcome = { ok: true, value: await Promise.race([body, aborted]) };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    signal?.removeEventListener("abort", onAbort!);
  }
  const errors = await lab.close();
  if (!outcome.ok) {
    for (const err of errors) console.error(`several-hosts: teardown: ${err}`);
    throw outcome.error;
  }
  if (errors.length > 0) {
    throw new AggregateError(
      errors,
      `Cannot tear down host lab ${lab.runId}: ${errors.join("; ")}`,
    );
  }
  return outcome.value;
}

const AVAILABILITY = await hostsAvailable();
if (!AVAILABILITY.ok) console.log(`skipping several-hosts tests: ${AVAILABILITY.reason}`);

/**
 * Registers a `Deno.test` that needs several hosts. When hosts are not available
 * ({@linkcode hostsAvailable}, decided when this module loads), the test is registered with
 * `ignore: true`; the module has already printed one line saying why.
 *
 * @param nameOrDefinition The test name, or a full test definition (its `ignore` is kept too).
 * @param fn The test body, when a name is given.
 *
 * @example Register a test
 * ```ts ignore
 * import { hostsTest, withHosts } from "./_netns.ts";
 * hostsTest("withHosts() builds two hosts", async () => {
 *   await withHosts({ count: 2 }, async (lab) => {
 *     if (lab.hosts.length !== 2) throw new Error("expected two hosts");
 *   });
 * });
 * ```
 */
export function hostsTest(name: string, fn: HostsTestFn): void;
export function hostsTest(definition: Deno.TestDefinition): void;
export function hostsTest(nameOrDefinition: string | Deno.TestDefinition, fn?: HostsTestFn): void {
  const definition: Deno.TestDefinition = typeof nameOrDefinition === "string"
    ? { name: nameOrDefinition, fn: fn! }
    : nameOrDefinition;
  if (typeof definition.fn !== "function") {
    throw new TypeError(`Cannot register ${definition.name}: the test body is missing`);
  }
  Deno.test({ ...definition, ignore: !AVAILABILITY.ok || definition.ignore === true });
}
