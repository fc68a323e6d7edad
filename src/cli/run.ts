/**
 * The command line entry: finds the command, handles `--help`/`--version` at every level, sets up
 * logging, turns Ctrl-C and SIGTERM into an AbortSignal, and maps failures to exit codes
 * (0 ok, 1 runtime failure, 2 usage error).
 *
 * @module
 */
import { parseCommandArgs } from "./args.ts";
import { type CommandSpec, type OptionSpec, UsageError } from "./command.ts";
import { renderHelp } from "./help.ts";
import {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  serviceLogger,
  setupLogging,
} from "../util/mod.ts";

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  "log-level": {
    type: "string",
    valueName: "LEVEL",
    default: "info",
    description: `Lowest log level written to stderr: ${LOG_LEVELS.join("|")}`,
  },
  "log-format": {
    type: "string",
    valueName: "FORMAT",
    default: "text",
    description: `Log line format: ${LOG_FORMATS.join("|")}`,
  },
  help: { type: "boolean", short: "h", description: "Show this help and exit" },
  version: { type: "boolean", short: "V", description: "Show the version and exit" },
};

/** What {@linkcode runCli} needs besides the arguments. */
export interface RunCliOptions {
  /** The program's name and version, for `--version`. */
  version: string;
  /** Where a command's own output goes. @default {stdout} */
  print?: (text: string) => void;
  /** Where usage errors go. @default {stderr} */
  printError?: (text: string) => void;
  /** Abort to stop the running command (the real entry wires SIGINT/SIGTERM to it). */
  signal?: AbortSignal;
  /** Where log lines go (tests capture them here). @default {stderr} */
  writeLog?: (line: string) => void;
}

const encoder = new TextEncoder();
function writeAll(file: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}

/**
 * Thrown by the default `print` when stdout is closed (EPIPE, as in `bitclone ... | head -1`):
 * {@linkcode runCli} then aborts the command's signal, so services stop as on Ctrl-C, prints
 * nothing more, and returns 0 without an error message.
 *
 * @example
 * ```ts
 * import { StdoutClosedError } from "./run.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new StdoutClosedError().name, "StdoutClosedError");
 * ```
 */
export class StdoutClosedError extends Error {
  constructor() {
    super("stdout is closed");
    this.name = "StdoutClosedError";
  }
}

/**
 * The default `print`: writes to stdout. On EPIPE it aborts `closed` and throws
 * {@linkcode StdoutClosedError}; from then on it writes nothing and does not throw.
 */
function stdoutPrinter(closed: AbortController): (text: string) => void {
  return (text) => {
    if (closed.signal.aborted) return;
    try {
      writeAll(Deno.stdout, text);
    } catch (err) {
      if (!(err instanceof Deno.errors.BrokenPipe)) throw err;
      closed.abort(new DOMException("stdout is closed", "AbortError"));
      throw new StdoutClosedError();
    }
  };
}

/**
 * Keeps a {@linkcode StdoutClosedError} thrown in a callback (a service's event handler) from
 * ending the process with an uncaught error; the aborted signal stops the service instead.
 */
function ignoreStdoutClosed(e: Event): void {
  const error = e instanceof ErrorEvent ? e.error : (e as PromiseRejectionEvent).reason;
  if (error instanceof StdoutClosedError) e.preventDefault();
}

/** Index of the first command word in `args`, skipping global options and their values. */
function findCommandWord(args: readonly string[]): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("-")) return i;
    const name = a.replace(/^--?/, "");
    if (GLOBAL_OPTIONS[name]?.type === "string") i++; // its value follows
  }
  return -1;
}

/** True when `args` (before any `--`) asks for `--help`/`-h`/`-help` or `--version`/`-V`. */
function findFlag(args: readonly string[], names: readonly string[]): boolean {
  for (const a of args) {
    if (a === "--") return false;
    if (names.includes(a)) return true;
  }
  return false;
}

/**
 * Runs the command line `args` against the command tree `root` and returns the exit code.
 *
 * @example
 * ```ts
 * import { runCli } from "./run.ts";
 * import assert from "node:assert/strict";
 * const out: string[] = [];
 * const code = await runCli(
 *   { name: "bitclone", summary: "demo", subcommands: [{ name: "hi", summary: "Hi", run: (c) => c.print("hi\n") }] },
 *   ["hi"],
 *   { version: "bitclone 0.0.0", print: (t) => void out.push(t) },
 * );
 * assert.equal(code, 0);
 * assert.equal(out[0], "hi\n");
 * ```
 */
export async function runCli(
  root: CommandSpec,
  args: readonly string[],
  options: RunCliOptions,
): Promise<number> {
  const stdoutClosed = new AbortController();
  const print = options.print ?? stdoutPrinter(stdoutClosed);
  const printError = options.printError ?? ((t: string) => writeAll(Deno.stderr, t));
  if (!options.print) {
    globalThis.addEventListener("error", ignoreStdoutClosed);
    globalThis.addEventListener("unhandledrejection", ignoreStdoutClosed);
  }
  let spec = root;
  let path = root.name;
  let rest = [...args];
  // Walk down the tree: leading global options may come before the command words.
  try {
    for (;;) {
      if (!spec.subcommands) break;
      const wordAt = findCommandWord(rest);
      const before = wordAt === -1 ? rest : rest.slice(0, wordAt);
      if (findFlag(before, ["--help", "-h", "-help"])) {
        print(renderHelp(spec, path, GLOBAL_OPTIONS));
        return 0;
      }
      if (findFlag(before, ["--version", "-V", "-version"])) {
        print(`${options.version}\n`);
        return 0;
      }
      if (wordAt === -1) {
        throw new UsageError(
          before.length ? `unknown option '${before[0]}'` : "missing command",
          path,
        );
      }
      const word = rest[wordAt];
      const next = spec.subcommands.find((c) => c.name === word);
      if (!next) throw new UsageError(`unknown command '${word}'`, path);
      rest = [...before, ...rest.slice(wordAt + 1)];
      spec = next;
      path = `${path} ${word}`;
    }
    if (findFlag(rest, ["--help", "-h", "-help"])) {
      print(renderHelp(spec, path, GLOBAL_OPTIONS));
      return 0;
    }
    if (findFlag(rest, ["--version", "-V", "-version"])) {
      print(`${options.version}\n`);
      return 0;
    }
    const parsed = parseCommandArgs(spec, rest, path, GLOBAL_OPTIONS);
    const level = parsed.values["log-level"] as string;
    const format = parsed.values["log-format"] as string;
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new UsageError(
        `--log-level must be one of ${LOG_LEVELS.join(", ")}, not '${level}'`,
        path,
      );
    }
    if (!(LOG_FORMATS as readonly string[]).includes(format)) {
      throw new UsageError(
        `--log-format must be one of ${LOG_FORMATS.join(", ")}, not '${format}'`,
        path,
      );
    }
    setupLogging({
      level: level as LogLevel,
      format: format as LogFormat,
      ...(options.writeLog ? { write: options.writeLog } : {}),
    });
    const log = serviceLogger(path.split(" ").slice(1).join("-") || "cli");
    const signal = AbortSignal.any([
      options.signal ?? new AbortController().signal,
      stdoutClosed.signal,
    ]);
    try {
      const code = await spec.run!({
        values: parsed.values,
        positionals: parsed.positionals,
        signal,
        log,
        print,
      });
      return stdoutClosed.signal.aborted ? 0 : code ?? 0;
    } catch (err) {
      if (stdoutClosed.signal.aborted) return 0; // a closed stdout ends the program quietly
      if (err instanceof UsageError) throw err;
      log.error("{error}", { error: err instanceof Error ? err.message : String(err) });
      log.debug("{stack}", { stack: err instanceof Error ? err.stack : "" });
      return 1;
    }
  } catch (err) {
    if (err instanceof StdoutClosedError) return 0;
    if (!(err instanceof UsageError)) throw err;
    printError(`${err.command}: ${err.message} (see '${err.command} --help')\n`);
    return 2;
  } finally {
    globalThis.removeEventListener("error", ignoreStdoutClosed);
    globalThis.removeEventListener("unhandledrejection", ignoreStdoutClosed);
  }
}

/** The process's stop signal: see `src/node/shutdown.ts`. */
export { shutdownSignal } from "../node/mod.ts";
