/**
 * `bitclone lrp2p keygen|listen|connect|send|recv`: key files, a netcat over LRP2P and a file
 * transfer with a progress bar and an end-to-end SHA-256.
 *
 * @module
 */
import { hostPortValue, portValue, UsageError } from "../mod.ts";
import type { CommandContext, CommandSpec, OptionSpec } from "../mod.ts";
import { progressDrawer } from "./lrp2p_progress.ts";
import {
  fingerprint,
  generateKeyPair,
  KeyFileError,
  type KeyPair,
  loadKey,
  type LrpConnection,
  parseHexKey,
  type PeerSocket,
  saveKey,
  sendFile,
  serveFiles,
  socketListen,
  toHex,
} from "../../lrp2p/mod.ts";

/** The key file `keygen` writes and `bitclone node` uses by default. */
const DEFAULT_KEY_FILE = "data/lrp2p.key";

const enc = new TextEncoder();
function writeAll(file: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
}
/** A line for people on stderr (status, not data: stdout carries the peer's bytes). */
function say(text: string): void {
  writeAll(Deno.stderr, enc.encode(`${text}\n`));
}

const KEY_OPTION: Record<string, OptionSpec> = {
  key: {
    type: "string",
    valueName: "FILE",
    description: "Key file of this side's identity (default: a fresh key for this run)",
  },
};
const ALLOW_OPTION: Record<string, OptionSpec> = {
  allow: {
    type: "string",
    valueName: "KEY",
    multiple: true,
    description: "Accept only peers with this public key (64 hex digits; may be repeated)",
  },
};
const EXPECT_OPTION: Record<string, OptionSpec> = {
  expect: {
    type: "string",
    valueName: "KEY",
    description: "Fail unless the peer's public key is this one (64 hex digits)",
  },
};
const HOSTNAME_OPTION: Record<string, OptionSpec> = {
  hostname: {
    type: "string",
    valueName: "ADDR",
    default: "0.0.0.0",
    description: "IPv4 address to bind",
  },
};

/** `--allow`/`--expect` values: 64 hex digits each, or a usage error. */
function keyValues(values: string[], what: string, path: string): Uint8Array[] {
  return values.map((v) => {
    const k = parseHexKey(v);
    if (!k) throw new UsageError(`${what} must be 64 hex digits (a public key), not '${v}'`, path);
    return k;
  });
}

/** The pinning hook for `--allow`/`--expect`, telling on stderr whom it refuses. */
function pinning(keys: Uint8Array[]): ((k: Uint8Array) => boolean) | undefined {
  if (keys.length === 0) return undefined;
  const allowed = new Set(keys.map(toHex));
  return (k) => {
    const ok = allowed.has(toHex(k));
    if (!ok) say(`refused peer key ${toHex(k)} (${fingerprint(k)}): not allowed`);
    return ok;
  };
}

async function identity(ctx: CommandContext): Promise<KeyPair> {
  const file = ctx.values.key as string | undefined;
  if (file === undefined) return generateKeyPair((n) => crypto.getRandomValues(new Uint8Array(n)));
  if (file === "") throw new UsageError("--key must not be empty", "bitclone lrp2p");
  return await loadKey(file); // a KeyFileError is a runtime failure (exit 1)
}

function describePeer(conn: LrpConnection): string {
  return `${conn.remoteAddr}, peer key ${toHex(conn.remoteStatic)} (${
    fingerprint(conn.remoteStatic)
  })`;
}

/** An IP address for `host` (`connectTo` takes addresses): literals as they are, names resolved. */
async function resolveHost(host: string): Promise<string> {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":")) return host;
  if (host === "localhost") return "127.0.0.1";
  const addrs = await Deno.resolveDns(host, "A");
  if (addrs.length === 0) throw new Error(`${host}: no IPv4 address`);
  return addrs[0];
}

/** Opens a socket on any port and connects to `target`, checking `--expect`. */
async function dial(
  ctx: CommandContext,
  target: { hostname: string; port: number },
  expect: Uint8Array[],
  tuning: { closeMs?: number } = {},
): Promise<{ socket: PeerSocket; conn: LrpConnection }> {
  const staticKey = await identity(ctx);
  const host = await resolveHost(target.hostname);
  const socket = await socketListen(host.includes(":") ? "::" : "0.0.0.0", 0, {
    staticKey,
    verifyRemote: pinning(expect),
    acceptIncoming: false,
    signal: ctx.signal,
    endpoint: { timings: { lingerMs: LINGER_MS, ...tuning } },
  });
  try {
    const conn = await socket.connectTo(host, target.port, { signal: ctx.signal });
    return { socket, conn };
  } catch (err) {
    await socket.close();
    throw err;
  }
}

/** Netcat: the peer's bytes to stdout, stdin to the peer; returns the exit code. */
async function netcat(conn: LrpConnection, signal: AbortSignal): Promise<number> {
  let failed = false;
  const toStdout = (async () => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buf, { signal });
        if (n === null) break;
        writeAll(Deno.stdout, buf.subarray(0, n));
      }
    } catch (err) {
      if (!signal.aborted && !(err instanceof Deno.errors.BrokenPipe)) {
        say(`connection failed: ${(err as Error).message}`);
        failed = true;
      }
    }
  })();
  const fromStdin = (async () => {
    try {
      for await (const chunk of Deno.stdin.readable) {
        if (conn.closed || signal.aborted) return;
        await conn.write(chunk, { signal });
      }
      if (!conn.closed && !signal.aborted) void conn.close().catch(() => {}); // our FIN; keep reading
    } catch (err) {
      if (!signal.aborted && !conn.closed) {
        say(`cannot send: ${(err as Error).message}`);
        failed = true;
      }
    }
  })();
  await toStdout; // the peer has nothing more to send (or the connection failed)
  if (failed || signal.aborted) return failed ? 1 : 0;
  // full duplex: the session ends once our side is done too (stdin at its end), or the
  // connection ended meanwhile
  let polling = true;
  const ended = (async () => {
    while (polling && !conn.closed) await new Promise((r) => setTimeout(r, 200));
  })();
  await Promise.race([fromStdin, ended]);
  polling = false;
  if (!signal.aborted && !failed) await conn.close().catch(() => {});
  return failed ? 1 : 0;
}

/** How long a closed connection keeps acknowledging the peer's retransmitted FIN. */
const LINGER_MS = 1000;

/**
 * Closes the socket once its connections have ended, lingering included (so that the ACK of the
 * peer's last FIN is resent if lost), or at once after Ctrl-C.
 */
async function closeSocket(socket: PeerSocket, signal: AbortSignal): Promise<void> {
  const until = performance.now() + LINGER_MS + 500;
  while (!signal.aborted && socket.stats.connections > 0 && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await socket.close();
}

const keygenCommand: CommandSpec = {
  name: "keygen",
  summary: "Create a key file (a static X25519 identity) and print its public key",
  description: "Writes a fresh key pair to FILE (mode 0600; the directory is created if " +
    "missing) and prints the public key, 64 hex digits, on stdout: give it to peers for " +
    "--allow/--expect. Nothing secret is printed. An existing file is never replaced unless " +
    "--force. The file is three lines: 'lrp2p-key 1', 'private <hex>', 'public <hex>'.",
  options: {
    out: {
      type: "string",
      valueName: "FILE",
      default: DEFAULT_KEY_FILE,
      description: "Where to write the key (the default is the one `bitclone node` uses)",
    },
    force: { type: "boolean", description: "Replace an existing key file" },
  },
  examples: ["bitclone lrp2p keygen", "bitclone lrp2p keygen --out alice.key"],
  async run(ctx) {
    const out = ctx.values.out as string;
    if (out === "") throw new UsageError("--out must not be empty", "bitclone lrp2p keygen");
    const kp = generateKeyPair((n) => crypto.getRandomValues(new Uint8Array(n)));
    try {
      await saveKey(out, kp, { overwrite: ctx.values.force === true });
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) {
        say(`${out} exists already: not replaced (use --force to replace it)`);
        return 1;
      }
      throw err;
    }
    ctx.print(`${toHex(kp.publicKey)}\n`);
    say(`wrote ${out} (${fingerprint(kp.publicKey)})`);
    return 0;
  },
};

const listenCommand: CommandSpec = {
  name: "listen",
  summary: "Netcat server: wait for one connection, then its bytes to stdout and stdin to it",
  description: "Binds UDP --port and waits for one LRP2P connection (like `nc -l`): the peer's " +
    "bytes go to stdout, stdin goes to the peer. The peer's address and key (with a short " +
    "fingerprint) are printed on stderr. With --allow, a peer whose key is not listed is " +
    "refused during the handshake (said on stderr) and the wait goes on (the refused peer is " +
    "not told: LRP2P has no refusal on the wire). At the end of stdin our side is closed (FIN) " +
    "and the peer's bytes are still read; the session ends when both sides have closed. " +
    "Exit 0 after a clean end, 1 if the connection failed.",
  options: {
    port: { type: "string", valueName: "PORT", description: "UDP port (0: any free port)" },
    ...HOSTNAME_OPTION,
    ...KEY_OPTION,
    ...ALLOW_OPTION,
  },
  examples: [
    "bitclone lrp2p listen --port 4000 --key data/lrp2p.key",
    "bitclone lrp2p listen --port 4000 --allow 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
  ],
  async run(ctx) {
    const path = "bitclone lrp2p listen";
    if (ctx.values.port === undefined) throw new UsageError("missing --port", path);
    const port = portValue(ctx.values.port as string, "--port", path);
    const allow = keyValues((ctx.values.allow as string[] | undefined) ?? [], "--allow", path);
    const staticKey = await identity(ctx);
    const socket = await socketListen(ctx.values.hostname as string, port, {
      staticKey,
      verifyRemote: pinning(allow),
      signal: ctx.signal,
      endpoint: { timings: { lingerMs: LINGER_MS } },
    });
    try {
      say(
        `listening on udp ${socket.addr.hostname}:${socket.addr.port}, key ${
          toHex(socket.publicKey)
        } (${fingerprint(socket.publicKey)})`,
      );
      let conn: LrpConnection;
      try {
        conn = await socket.accept({ signal: ctx.signal });
      } catch (err) {
        if (ctx.signal.aborted) return 0;
        throw err;
      }
      say(`connection from ${describePeer(conn)}`);
      return await netcat(conn, ctx.signal);
    } finally {
      await closeSocket(socket, ctx.signal);
    }
  },
};

const connectCommand: CommandSpec = {
  name: "connect",
  summary: "Netcat client: stdin to the peer, the peer's bytes to stdout",
  description: "Opens an LRP2P connection to HOST:PORT (UDP) and copies stdin to it and its " +
    "bytes to stdout; the peer's key and fingerprint are printed on stderr. At the end of stdin " +
    "our side is closed (FIN) and the peer's bytes are still read until it closes (the session " +
    "ends when both sides have closed). Exit 0 after " +
    "a clean end; 1 when the handshake fails (no answer within about 31 s), the peer's key is " +
    "not the --expect one, or the connection fails.",
  positionals: [{ name: "HOST:PORT", description: "The listener's address" }],
  options: { ...KEY_OPTION, ...EXPECT_OPTION },
  examples: [
    "echo hello | bitclone lrp2p connect 127.0.0.1:4000",
    "bitclone lrp2p connect 10.0.0.2:4000 --key alice.key --expect 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
  ],
  async run(ctx) {
    const path = "bitclone lrp2p connect";
    const target = hostPortValue(ctx.positionals[0], "HOST:PORT", path);
    const expect = ctx.values.expect === undefined
      ? []
      : keyValues([ctx.values.expect as string], "--expect", path);
    let session;
    try {
      session = await dial(ctx, target, expect);
    } catch (err) {
      if (err instanceof KeyFileError) throw err;
      if (ctx.signal.aborted) return 0;
      say(`cannot connect to ${ctx.positionals[0]}: ${(err as Error).message}`);
      return 1;
    }
    const { socket, conn } = session;
    try {
      say(`connected to ${describePeer(conn)}`);
      return await netcat(conn, ctx.signal);
    } finally {
      await closeSocket(socket, ctx.signal);
    }
  },
};

function summary(verb: string, name: string, bytes: number, millis: number): string {
  const mbps = millis > 0 ? bytes / 1e6 / (millis / 1000) : 0;
  return `${verb} ${name}: ${bytes} bytes in ${(millis / 1000).toFixed(2)} s (${
    mbps.toFixed(2)
  } MB/s)`;
}

const sendCommand: CommandSpec = {
  name: "send",
  summary: "Send a file to a `bitclone lrp2p recv` (or a node's lrp2p service)",
  description: "Sends FILE under its base name, then its SHA-256, and waits for the receiver's " +
    "verdict: exit 0 only when the receiver checked the hash and saved the file, 1 otherwise " +
    "(refused, hash mismatch, connection failure). A progress bar (bytes, rate, time left) is " +
    "drawn on stderr when stderr is a terminal; the last line, on stdout, gives the size, the " +
    "time and the rate.",
  positionals: [
    { name: "HOST:PORT", description: "The receiver's address" },
    { name: "FILE", description: "The file to send" },
  ],
  options: { ...KEY_OPTION, ...EXPECT_OPTION },
  examples: ["bitclone lrp2p send 10.0.0.2:7946 backup.tar"],
  async run(ctx) {
    const path = "bitclone lrp2p send";
    const target = hostPortValue(ctx.positionals[0], "HOST:PORT", path);
    const file = ctx.positionals[1];
    const expect = ctx.values.expect === undefined
      ? []
      : keyValues([ctx.values.expect as string], "--expect", path);
    try {
      const info = await Deno.stat(file);
      if (!info.isFile) throw new Error("not a regular file");
    } catch (err) {
      say(`cannot send ${file}: ${(err as Error).message}`);
      return 1;
    }
    let session;
    try {
      session = await dial(ctx, target, expect);
    } catch (err) {
      if (err instanceof KeyFileError) throw err;
      if (ctx.signal.aborted) return 1;
      say(`cannot connect to ${ctx.positionals[0]}: ${(err as Error).message}`);
      return 1;
    }
    const { socket, conn } = session;
    const bar = progressDrawer();
    try {
      say(`connected to ${describePeer(conn)}`);
      const result = await sendFile(conn, file, {
        signal: ctx.signal,
        onProgress: (p) => bar.update(p),
      });
      bar.clear();
      ctx.print(`${summary("sent", result.name, result.bytes, performance.now() - bar.start)}\n`);
      await conn.close().catch(() => {});
      return 0;
    } catch (err) {
      bar.clear();
      say(`send failed: ${(err as Error).message}`);
      return 1;
    } finally {
      await closeSocket(socket, ctx.signal);
    }
  },
};

const recvCommand: CommandSpec = {
  name: "recv",
  summary: "Receive files sent with `bitclone lrp2p send` into a directory",
  description: "Binds UDP --port and receives files one after another (others wait) into " +
    "--out (created if missing), until Ctrl-C, or after the first with --once. Each file is " +
    "written to DIR/NAME.part and renamed to DIR/NAME only after its SHA-256 matched; a failed " +
    "or aborted transfer leaves nothing. Names with a slash, a backslash, control characters, " +
    "'.' or '..' are refused, and so is an existing file unless --force. The sender is told " +
    "the outcome. One line per file on stdout; a progress bar on stderr when it is a terminal. " +
    "With --once, exit 0 if the file was saved, 1 otherwise.",
  options: {
    port: { type: "string", valueName: "PORT", description: "UDP port (0: any free port)" },
    out: { type: "string", valueName: "DIR", description: "Directory for the received files" },
    ...HOSTNAME_OPTION,
    ...KEY_OPTION,
    ...ALLOW_OPTION,
    once: { type: "boolean", description: "Exit after the first transfer" },
    force: { type: "boolean", description: "Replace existing files" },
  },
  examples: ["bitclone lrp2p recv --port 7946 --out inbox --key data/lrp2p.key"],
  async run(ctx) {
    const path = "bitclone lrp2p recv";
    if (ctx.values.port === undefined) throw new UsageError("missing --port", path);
    const port = portValue(ctx.values.port as string, "--port", path);
    const dir = ctx.values.out as string | undefined;
    if (dir === undefined) throw new UsageError("missing --out", path);
    if (dir === "") throw new UsageError("--out must not be empty", path);
    const allow = keyValues((ctx.values.allow as string[] | undefined) ?? [], "--allow", path);
    const staticKey = await identity(ctx);
    await Deno.mkdir(dir, { recursive: true });
    const socket = await socketListen(ctx.values.hostname as string, port, {
      staticKey,
      verifyRemote: pinning(allow),
      signal: ctx.signal,
      endpoint: { timings: { lingerMs: LINGER_MS } },
    });
    let bar = progressDrawer();
    try {
      say(
        `listening on udp ${socket.addr.hostname}:${socket.addr.port}, key ${
          toHex(socket.publicKey)
        } (${fingerprint(socket.publicKey)}), saving into ${dir}`,
      );
      const { saved, failed } = await serveFiles(socket, dir, {
        once: ctx.values.once === true,
        overwrite: ctx.values.force === true,
        signal: ctx.signal,
        onEvent(e) {
          if (e.type === "connection") say(`connection from ${describePeer(e.conn)}`);
          else if (e.type === "offer") {
            bar = progressDrawer();
            say(`receiving ${e.offer.name} (${e.offer.size} bytes)`);
          } else if (e.type === "progress") bar.update(e.progress);
          else if (e.type === "saved") {
            bar.clear();
            ctx.print(
              `${
                summary("received", e.result.path!, e.result.bytes, performance.now() - bar.start)
              }, SHA-256 verified\n`,
            );
          } else if (e.type === "failed") {
            bar.clear();
            say(`transfer failed: ${e.error.message}`);
          }
        },
      });
      return ctx.values.once === true && (failed > 0 || saved === 0) ? 1 : 0;
    } finally {
      bar.clear();
      await closeSocket(socket, ctx.signal);
    }
  },
};

/**
 * The `lrp2p` command group.
 *
 * @example
 * ```ts
 * import { lrp2pCommand } from "./lrp2p.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(lrp2pCommand.subcommands?.map((c) => c.name), ["keygen", "listen", "connect", "send", "recv"]);
 * ```
 */
export const lrp2pCommand: CommandSpec = {
  name: "lrp2p",
  summary: "LRP2P (encrypted reliable streams over UDP): keys, a netcat and a file transfer",
  subcommands: [keygenCommand, listenCommand, connectCommand, sendCommand, recvCommand],
};
