/**
 * `bitclone mine server|miner|client`: the three programs of the distributed bitcoin miner
 * (spec `miner.md` §5), with the reference programs' arguments, outputs and default LSP
 * parameters, so that either side can replace the other. The LSP flags (`-elim`, `-ems`, …) are
 * ours, for experiments; their defaults are the reference's.
 *
 * @module
 */
import { hostPortValue, intValue, portValue } from "../mod.ts";
import { LSP_PARAM_FLAGS, lspParamsFromFlags } from "../mod.ts";
import { type CommandSpec, UsageError } from "../mod.ts";
import { requestMinimum } from "../../miner/mod.ts";
import { MAX_UINT64, type ProgressMessage, requestFits } from "../../miner/mod.ts";
import { runMiner } from "../../miner/mod.ts";
import { formatProgressBar } from "../../miner/mod.ts";
import { listenMiner } from "../../miner/mod.ts";

const LSP_FLAGS = LSP_PARAM_FLAGS;

const serverCommand: CommandSpec = {
  name: "server",
  summary: "Miner server: splits requests into jobs for the miners, answers the clients",
  description:
    "Listens on PORT (UDP, all interfaces) and prints 'Server listening on port PORT'; " +
    "then runs until Ctrl-C. Miners (ours or the Go reference's) join it; request clients send " +
    "it requests and get the minimum back. Logs each request's start and end with its hash " +
    "rate, and every bad message, to stderr. Exits 1 if the port cannot be bound.",
  positionals: [{ name: "PORT", description: "UDP port to listen on (0: any free port)" }],
  options: {
    ...LSP_FLAGS,
    hostname: {
      type: "string",
      valueName: "ADDR",
      default: "0.0.0.0",
      description: "Address to bind",
    },
  },
  examples: ["bitclone mine server 6060"],
  async run(ctx) {
    const path = "bitclone mine server";
    const port = portValue(ctx.positionals[0], "PORT", path);
    const params = lspParamsFromFlags(ctx, path);
    let server;
    try {
      server = listenMiner(port, {
        hostname: ctx.values.hostname as string,
        params,
        signal: ctx.signal,
        log: ctx.log,
      });
    } catch (err) {
      ctx.log.error("{message}", { message: (err as Error).message });
      return 1;
    }
    ctx.print(`Server listening on port ${server.port}\n`);
    await server.done;
    return 0;
  },
};

const minerCommand: CommandSpec = {
  name: "miner",
  summary: "Miner: joins a server and searches the nonce ranges it is given",
  description: "Connects to the server at HOST:PORT, joins, and answers its requests, hashing " +
    "on worker threads, until the server is lost: then it prints a diagnostic to stderr and " +
    "exits 1 (also when it cannot connect). Ctrl-C stops it with exit 0.",
  positionals: [{ name: "HOST:PORT", description: "The server, e.g. localhost:6060" }],
  options: {
    ...LSP_FLAGS,
    workers: {
      type: "string",
      valueName: "N",
      description: "Hashing threads, 1..256 (default: one per CPU)",
    },
  },
  examples: ["bitclone mine miner localhost:6060", "bitclone mine miner 10.0.0.1:6060 --workers 2"],
  async run(ctx) {
    const path = "bitclone mine miner";
    const hostport = ctx.positionals[0];
    hostPortValue(hostport, "HOST:PORT", path);
    const params = lspParamsFromFlags(ctx, path);
    const workers = ctx.values.workers === undefined
      ? undefined
      : intValue(ctx.values.workers as string, "--workers", path, { min: 1, max: 256 });
    const outcome = await runMiner(hostport, {
      params,
      workers,
      signal: ctx.signal,
      log: ctx.log,
    });
    switch (outcome.reason) {
      case "stopped":
        return 0;
      case "unreachable":
        ctx.log.error("{message}", {
          message: `Cannot connect to the server at ${hostport}: ${outcome.detail}`,
        });
        return 1;
      case "lost":
        ctx.log.error("{message}", {
          message: `Lost the server at ${hostport} after ${outcome.served} request(s): ` +
            outcome.detail,
        });
        return 1;
    }
  },
};

const encoder = new TextEncoder();
/** Writes to stderr; a closed stderr must not stop the client. */
function writeStderr(text: string): void {
  try {
    const bytes = encoder.encode(text);
    for (let off = 0; off < bytes.length;) off += Deno.stderr.writeSync(bytes.subarray(off));
  } catch {
    // nowhere to draw
  }
}

function terminalColumns(): number {
  try {
    return Math.max(10, Deno.consoleSize().columns);
  } catch {
    return 80;
  }
}

const clientCommand: CommandSpec = {
  name: "client",
  summary: "Request client: asks for the minimum hash over 0..MAXNONCE and prints it",
  description: "Sends Request(MESSAGE, 0, MAXNONCE) to the server and prints exactly one line " +
    "on stdout: 'Result <hash> <nonce>', or 'Disconnected' if the connection is lost before the " +
    "answer (or cannot be made); then exits 0. When stderr is a terminal it says there that it " +
    "is connecting, then asks our server for progress and draws a progress bar there (nonces searched, hash rate, time left); a " +
    "reference server ignores the request for progress. Put '--' before a MESSAGE that starts " +
    "with '-'.",
  positionals: [
    { name: "HOST:PORT", description: "The server, e.g. localhost:6060" },
    { name: "MESSAGE", description: "The message to hash (one argument; quote spaces)" },
    { name: "MAXNONCE", description: "The last nonce, 0..18446744073709551615" },
  ],
  options: { ...LSP_FLAGS },
  examples: ["bitclone mine client localhost:6060 bradfitz 9999"],
  async run(ctx) {
    const path = "bitclone mine client";
    const [hostport, message, maxText] = ctx.positionals;
    hostPortValue(hostport, "HOST:PORT", path);
    if (!/^-?[0-9]+$/.test(maxText)) {
      throw new UsageError(
        `MAXNONCE must be a whole number from 0 to ${MAX_UINT64}, not '${maxText}'`,
        path,
      );
    }
    if (BigInt(maxText) < 0n || BigInt(maxText) > MAX_UINT64) {
      throw new UsageError(`MAXNONCE: ${maxText} is out of range 0..${MAX_UINT64}`, path);
    }
    const maxNonce = BigInt(maxText);
    if (!requestFits(message, maxNonce)) {
      throw new UsageError("MESSAGE is too long: the Request must fit in one LSP message", path);
    }
    const params = lspParamsFromFlags(ctx, path);
    const drawing = Deno.stderr.isTerminal();
    let t0 = performance.now();
    const draw = (searched: bigint) => {
      const line = formatProgressBar(
        { searched, total: maxNonce + 1n, elapsedMillis: performance.now() - t0 },
        { columns: terminalColumns() },
      );
      writeStderr(`\r${line}\x1b[K`);
    };
    const onProgress = drawing
      ? (p: ProgressMessage) => {
        if (p.lower === 0n && p.upper === maxNonce) draw(p.searched);
      }
      : undefined;
    let outcome;
    try {
      outcome = await requestMinimum(hostport, message, maxNonce, {
        params,
        onProgress,
        signal: ctx.signal,
        onConnecting: drawing
          ? (attempt, attempts) =>
            writeStderr(
              `\rConnecting to ${hostport}…` +
                (attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : "") + "\x1b[K",
            )
          : undefined,
        onConnected: () => {
          t0 = performance.now();
          if (drawing) draw(0n);
        },
        onIgnored: (detail) => ctx.log.debug("{message}", { message: `Ignored ${detail}` }),
      });
    } catch (err) {
      if (drawing) writeStderr("\r\x1b[K");
      if (ctx.signal.aborted) return 130;
      throw err;
    }
    if (drawing) writeStderr("\r\x1b[K");
    if (outcome.type === "result") {
      ctx.print(`Result ${outcome.hash} ${outcome.nonce}\n`);
    } else {
      ctx.log.info("{message}", { message: `No Result: ${outcome.detail}` });
      ctx.print("Disconnected\n");
    }
    return 0;
  },
};

/**
 * The `mine` command group.
 *
 * @example
 * ```ts
 * import { mineCommand } from "./mine.ts";
 * import assert from "node:assert/strict";
 * assert.equal(mineCommand.subcommands?.map((c) => c.name).join(), "server,miner,client");
 * ```
 */
export const mineCommand: CommandSpec = {
  name: "mine",
  summary: "Distributed bitcoin miner: server, miner and request client (over LSP)",
  description: "The three programs of the miner, interchangeable with the Go reference's: " +
    "'server PORT', 'miner HOST:PORT', 'client HOST:PORT MESSAGE MAXNONCE'. All use the " +
    "reference's LSP parameters (EpochLimit 5, EpochMillis 2000, window 1) unless told otherwise.",
  subcommands: [serverCommand, minerCommand, clientCommand],
};
