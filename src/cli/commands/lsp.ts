/**
 * `bitclone lsp server` and `bitclone lsp client`: the Go reference's LSP echo tools, with the
 * same flags (Go style `-port 9999` or `--port 9999`) and the same output lines.
 *
 * @module
 */
import { intValue } from "../mod.ts";
import { LSP_PARAM_FLAGS, lspParamsFromFlags } from "../mod.ts";
import type { CommandContext, CommandSpec, OptionSpec } from "../mod.ts";
import { connect, type LspClient } from "../../lsp/mod.ts";
import { echoLoop } from "../../lsp/mod.ts";
import { LspPayloadTooLargeError } from "../../lsp/mod.ts";
import { listen } from "../../lsp/mod.ts";
import { setupLogging } from "../../util/mod.ts";

const COMMON: Record<string, OptionSpec> = {
  ...LSP_PARAM_FLAGS,
  port: { type: "string", valueName: "PORT", default: "9999", description: "UDP port" },
  rdrop: {
    type: "string",
    valueName: "PCT",
    default: "0",
    description: "Percentage of received datagrams this process drops (0..100)",
  },
  wdrop: {
    type: "string",
    valueName: "PCT",
    default: "0",
    description: "Percentage of datagrams this process drops instead of sending (0..100)",
  },
  v: { type: "boolean", description: "Verbose: debug logging to stderr" },
};

/** `-rdrop`/`-wdrop`: like the reference, values outside 0..100 are ignored. */
function dropPercent(ctx: CommandContext, name: string, path: string): number {
  const pct = intValue(ctx.values[name] as string, `-${name}`, path, { min: -1e15 });
  if (pct < 0 || pct > 100) {
    ctx.log.warn("-{name} {pct} is outside 0..100: ignored", { name, pct });
    return 0;
  }
  return pct;
}

function verbose(ctx: CommandContext): void {
  if (ctx.values.v) {
    setupLogging({ level: "debug", format: ctx.values["log-format"] as "text" | "json" });
  }
}

/** Largest connection table `-maxconns` accepts (the LSP endpoint's own limit). */
const MAX_CONNS_LIMIT = 1 << 20;

/** `-maxconns N` or `--max-conns N` (the latter wins when both are given). */
function maxConns(ctx: CommandContext, path: string): number {
  const given = (ctx.values["max-conns"] ?? ctx.values.maxconns) as string;
  const name = ctx.values["max-conns"] !== undefined ? "--max-conns" : "-maxconns";
  return intValue(given, name, path, { min: 1, max: MAX_CONNS_LIMIT });
}

const serverCommand: CommandSpec = {
  name: "server",
  summary: "LSP echo server: writes every message back to its sender",
  description:
    "Mirrors the Go reference's echo server: same flags, same stdout lines. Runs until Ctrl-C.",
  options: {
    ...COMMON,
    maxconns: {
      type: "string",
      valueName: "N",
      default: "1024",
      description: "Connection table size: Connects from new addresses beyond it are dropped",
    },
    "max-conns": { type: "string", valueName: "N", description: "Same as -maxconns" },
  },
  examples: [
    "bitclone lsp server -port 9999 -wsize 4 -maxUnackMessages 4",
    "bitclone lsp server --rdrop 20 --max-conns 64",
  ],
  async run(ctx) {
    const path = "bitclone lsp server";
    verbose(ctx);
    const port = intValue(ctx.values.port as string, "-port", path, { min: 0, max: 65535 });
    const params = lspParamsFromFlags(ctx, path);
    const readDropPercent = dropPercent(ctx, "rdrop", path);
    const writeDropPercent = dropPercent(ctx, "wdrop", path);
    const maxConnections = maxConns(ctx, path);
    ctx.print(`Starting server on port ${port}...\n`);
    let server;
    try {
      server = listen(port, {
        params,
        readDropPercent,
        writeDropPercent,
        maxConnections,
        signal: ctx.signal,
      });
    } catch (err) {
      ctx.print(`Failed to start Server on port ${port}: ${(err as Error).message}\n`);
      return 1;
    }
    ctx.print("Server waiting for clients...\n");
    await echoLoop(server, {
      onClientDied: (id, err) => ctx.print(`Client ${id} has died: ${err.message}\n`),
      onWriteFailed: (id, err) =>
        ctx.print(`Server failed to write to connection ${id}: ${err.message}\n`),
      onEcho: (id, payload) => ctx.log.debug("echo {n} bytes to {id}", { n: payload.length, id }),
    });
    await server.done;
    return 0;
  },
};

/** Splits a byte stream of text into whitespace-separated tokens. */
async function* tokens(readable: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const parts = rest.split(/\s+/);
    rest = parts.pop() ?? "";
    for (const p of parts) if (p) yield p;
    if (rest.length > 1 << 20) throw new Error("a token over 1 MiB on stdin");
  }
  if (rest) yield rest;
}

const clientCommand: CommandSpec = {
  name: "client",
  summary: "LSP echo client: sends stdin's tokens, prints each echo",
  description:
    "Mirrors the Go reference's echo client: reads whitespace-separated tokens from stdin, sends " +
    "each as one message and prints each echo as 'Server: <token>' on its own line (the " +
    "reference's 'Client: ' prompt is printed only when stdin is a terminal). Messages are " +
    "pipelined, not lock-step. At the end of stdin it waits until everything is acknowledged, " +
    "prints 'Exiting...' and exits. A token whose LSP message would not fit in one 1500-byte " +
    "datagram (over about 1,068 bytes) is not sent: the client says so on stderr, stops reading " +
    "stdin, prints the echoes of the tokens before it, and exits with status 1.",
  options: {
    ...COMMON,
    host: { type: "string", valueName: "HOST", default: "localhost", description: "Server host" },
    isn: {
      type: "string",
      valueName: "N",
      default: "0",
      description: "Initial sequence number (the reference always uses 0)",
    },
  },
  examples: ["echo alpha beta gamma | bitclone lsp client -host 10.0.0.1 -port 9999"],
  async run(ctx) {
    const path = "bitclone lsp client";
    verbose(ctx);
    const port = intValue(ctx.values.port as string, "-port", path, { min: 1, max: 65535 });
    const host = ctx.values.host as string;
    const isn = intValue(ctx.values.isn as string, "--isn", path, { min: 0, max: 2 ** 52 });
    const params = lspParamsFromFlags(ctx, path);
    const readDropPercent = dropPercent(ctx, "rdrop", path);
    const writeDropPercent = dropPercent(ctx, "wdrop", path);
    const hostport = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const interactive = Deno.stdin.isTerminal();
    ctx.print(`Connecting to server at '${host}:${port}'...\n`);
    let client: LspClient;
    try {
      client = await connect(hostport, {
        isn,
        params,
        readDropPercent,
        writeDropPercent,
        signal: ctx.signal,
      });
    } catch (err) {
      ctx.print(`Failed to connect to server at ${host}:${port}: ${(err as Error).message}\n`);
      return 1;
    }
    ctx.log.debug("connected as {id}", { id: client.connId });
    if (interactive) ctx.print("Client: ");
    let sent = 0, echoed = 0, failed = false, refused = false;
    let allEchoed: (() => void) | undefined;
    const reader = (async () => {
      try {
        for await (const payload of client) {
          echoed++;
          ctx.print(`Server: ${new TextDecoder().decode(payload)}\n`);
          if (interactive) ctx.print("Client: ");
          if (allEchoed && echoed >= sent) allEchoed();
        }
      } catch (err) {
        failed = true;
        ctx.print(
          `Client ${client.connId} failed to read from server: ${(err as Error).message}\n`,
        );
        allEchoed?.();
      }
    })();
    try {
      for await (const token of tokens(Deno.stdin.readable)) {
        if (failed || ctx.signal.aborted) break;
        const bytes = new TextEncoder().encode(token);
        try {
          client.write(bytes);
          sent++;
        } catch (err) {
          if (err instanceof LspPayloadTooLargeError) {
            // Never skipped silently: the token is reported, and nothing after it is sent.
            refused = true;
            ctx.log.error("token {index} not sent, the rest of stdin neither: {error}", {
              index: sent + 1,
              error: err.message,
            });
            break;
          }
          failed = true;
          ctx.print(
            `Client ${client.connId} failed to write to server: ${(err as Error).message}\n`,
          );
          break;
        }
      }
    } catch (err) {
      ctx.log.error("cannot read stdin: {error}", { error: (err as Error).message });
      failed = true;
    }
    if (!failed && !ctx.signal.aborted && echoed < sent) {
      await new Promise<void>((resolve) => {
        allEchoed = resolve;
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
    try {
      await client.close();
    } catch (err) {
      if (!failed) ctx.log.warn("{error}", { error: (err as Error).message });
    }
    await reader;
    await client.done;
    ctx.print("Exiting...\n");
    return failed || refused ? 1 : 0;
  },
};

/**
 * The `lsp` command group.
 *
 * @example
 * ```ts
 * import { lspCommand } from "./lsp.ts";
 * import assert from "node:assert/strict";
 * assert.equal(lspCommand.subcommands?.length, 2);
 * ```
 */
export const lspCommand: CommandSpec = {
  name: "lsp",
  summary: "LSP echo tools (server and client), flag-compatible with the Go reference",
  subcommands: [serverCommand, clientCommand],
};
