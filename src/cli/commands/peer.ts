/**
 * `bitclone peer`: one BitClone Project 3 peer on TCP (spec `bitclone.md` Part A), with its
 * command-line peers, its saved address book and its timers as flags.
 *
 * @module
 */
import { intValue, portValue } from "../mod.ts";
import { type CommandSpec, UsageError } from "../mod.ts";
import { formatPeerAddress, parsePeerAddress } from "../../bitclone/mod.ts";
import { MAX_USER_AGENT_BYTES } from "../../bitclone/mod.ts";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_PEER_PORT,
  DEFAULT_SEEDS_FILE,
  peersFileIn,
  startPeerNode,
  type StartPeerNodeOptions,
} from "../../bitclone/mod.ts";
import { formatListen } from "../../node/mod.ts";
import { ServiceStartError } from "../../node/mod.ts";

const PATH = "bitclone peer";
/** The longest timer a flag takes: one day. */
const TIMER_MAX_MS = 86_400_000;

/**
 * Reads one command-line peer: an IP literal with a port in any spelling of spec §A.4, or a host
 * name and a port (resolved once at start, `localhost` as 127.0.0.1); returns its canonical text
 * or throws {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { manualPeerValue } from "./peer.ts";
 * import assert from "node:assert/strict";
 * assert.equal(manualPeerValue("localhost:8334"), "127.0.0.1:8334");
 * assert.equal(manualPeerValue("2001:db8::1:8333"), "[2001:db8::1]:8333");
 * assert.equal(manualPeerValue("Lab7.cs.example:8333"), "lab7.cs.example:8333");
 * ```
 */
export function manualPeerValue(text: string): string {
  const spelled = text.replace(/^localhost(?=[:,])/i, "127.0.0.1");
  const address = parsePeerAddress(spelled);
  if (address !== undefined) return formatPeerAddress(address);
  const named =
    /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*):(\d{1,5})$/
      .exec(text);
  if (
    named !== null && /[A-Za-z]/.test(named[1]) && Number(named[2]) >= 1 &&
    Number(named[2]) <= 65535
  ) {
    return `${named[1].toLowerCase()}:${Number(named[2])}`;
  }
  throw new UsageError(
    `peer '${text}' must be an IP address or host name and a port, like 10.0.0.5:8333, ` +
      `[2001:db8::1]:8333 or lab7:8333`,
    PATH,
  );
}

/**
 * Checks a user agent for the `version` line: 1 to 256 bytes, no `|` and no control characters.
 *
 * @example
 * ```ts
 * import { userAgentValue } from "./peer.ts";
 * import assert from "node:assert/strict";
 * assert.equal(userAgentValue("houser"), "houser");
 * ```
 */
export function userAgentValue(text: string): string {
  const control = [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (text === "" || text.includes("|") || control) {
    throw new UsageError(
      "--user-agent must be non-empty text without '|' or control characters",
      PATH,
    );
  }
  if (new TextEncoder().encode(text).length > MAX_USER_AGENT_BYTES) {
    throw new UsageError(`--user-agent must be at most ${MAX_USER_AGENT_BYTES} bytes`, PATH);
  }
  return text;
}

function timer(value: unknown, flag: string): number {
  return intValue(value as string, flag, PATH, { min: 1, max: TIMER_MAX_MS });
}

/**
 * The `peer` command.
 *
 * @example
 * ```ts
 * import { peerCommand } from "./peer.ts";
 * import assert from "node:assert/strict";
 * assert.equal(peerCommand.options?.port?.default, "8333");
 * ```
 */
export const peerCommand: CommandSpec = {
  name: "peer",
  summary: "Run a BitClone (Project 3) peer: handshake, addr gossip, ping/pong over TCP",
  description: "Listens on TCP --port, dials the HOST:PORT peers given on the command line and " +
    "the addresses of its address book (--data-dir/peers.json) and of the seed list " +
    "(--seeds-file, only read), learns more through getaddr/addr, and keeps about " +
    "--target-peers connections (inbound and outbound both count). Pings every 30 s; drops a " +
    "peer silent for 90 s. The address book is saved every 60 s when it changed and on exit, " +
    "atomically; a damaged file is set aside as FILE.bad-<time> with a warning. A status line " +
    "is logged every --status-interval-ms. Runs until Ctrl-C, SIGTERM or the end of the " +
    "process that launched it (connections closed, book saved; exit 1 if it could not be saved).",
  options: {
    port: {
      type: "string",
      valueName: "PORT",
      default: String(DEFAULT_PEER_PORT),
      description: "TCP port to listen on (0: any free port)",
    },
    hostname: {
      type: "string",
      valueName: "ADDR",
      default: "0.0.0.0",
      description: "Address to bind",
    },
    "data-dir": {
      type: "string",
      valueName: "DIR",
      default: DEFAULT_DATA_DIR,
      description: "Where the address book peers.json is kept; created if missing",
    },
    "peers-file": {
      type: "string",
      valueName: "FILE",
      description: "Saved address book, read at start and written from time to time " +
        "(default: DIR/peers.json)",
    },
    "seeds-file": {
      type: "string",
      valueName: "FILE",
      default: DEFAULT_SEEDS_FILE,
      description: "Seed addresses, read at start and never written (a missing file is no seeds)",
    },
    "user-agent": {
      type: "string",
      valueName: "NAME",
      default: "bitclone-ts",
      description: "User agent sent in version (the course asks for your user name)",
    },
    "target-peers": {
      type: "string",
      valueName: "N",
      default: "5",
      description: "Established connections to keep, inbound and outbound together",
    },
    "max-inbound": {
      type: "string",
      valueName: "N",
      description: "Inbound connections at most (default: max-connections - 2)",
    },
    "max-connections": {
      type: "string",
      valueName: "N",
      description: "Connections in any state at most (default: 12, or more for larger targets)",
    },
    "ping-interval-ms": {
      type: "string",
      valueName: "MS",
      default: "30000",
      description: "Ping period on each established connection",
    },
    "inactivity-timeout-ms": {
      type: "string",
      valueName: "MS",
      default: "90000",
      description: "Close a connection silent this long",
    },
    "handshake-timeout-ms": {
      type: "string",
      valueName: "MS",
      default: "30000",
      description: "Close a connection not established this long after it opened",
    },
    "advertise-interval-ms": {
      type: "string",
      valueName: "MS",
      default: "30000",
      description: "Period of the addr advertisement on each established connection",
    },
    "status-interval-ms": {
      type: "string",
      valueName: "MS",
      default: "60000",
      description: "Period of the status line in the log",
    },
    "save-interval-ms": {
      type: "string",
      valueName: "MS",
      default: "60000",
      description: "Period of address book saves (when it changed)",
    },
  },
  positionals: [{
    name: "HOST:PORT",
    description:
      "Peers to dial first (IP literals, IPv6 as [v6]:port, or host names resolved at start)",
    optional: true,
    variadic: true,
  }],
  examples: [
    "bitclone peer --port 8333",
    "bitclone peer --port 8334 127.0.0.1:8333 --data-dir data-8334",
    "bitclone peer 10.0.0.5:8333 [2001:db8::7]:8333 --user-agent houser --target-peers 8",
  ],
  async run(ctx) {
    const port = portValue(ctx.values.port as string, "--port", PATH);
    const hostname = (ctx.values.hostname as string).trim();
    if (hostname === "") throw new UsageError("--hostname must not be empty", PATH);
    const dataDir = ctx.values["data-dir"] as string;
    if (dataDir === "") throw new UsageError("--data-dir must not be empty", PATH);
    const peersFile = (ctx.values["peers-file"] as string | undefined) ?? peersFileIn(dataDir);
    if (peersFile === "") throw new UsageError("--peers-file must not be empty", PATH);
    const seedsFile = ctx.values["seeds-file"] as string;
    if (seedsFile === "") throw new UsageError("--seeds-file must not be empty", PATH);
    const userAgent = userAgentValue(ctx.values["user-agent"] as string);
    const targetPeers = intValue(ctx.values["target-peers"] as string, "--target-peers", PATH, {
      max: 10_000,
    });
    const maxInbound = ctx.values["max-inbound"] === undefined
      ? undefined
      : intValue(ctx.values["max-inbound"] as string, "--max-inbound", PATH, { max: 100_000 });
    const maxConnections = ctx.values["max-connections"] === undefined
      ? Math.max(12, (maxInbound ?? 0) + 2, targetPeers + 7)
      : intValue(ctx.values["max-connections"] as string, "--max-connections", PATH, {
        min: 1,
        max: 100_000,
      });
    const manualPeers = ctx.positionals.map(manualPeerValue);
    const options: StartPeerNodeOptions = {
      hostname,
      port,
      peersFile,
      seedsFile,
      userAgent,
      targetPeers,
      maxInbound,
      maxConnections,
      manualPeers,
      pingIntervalMs: timer(ctx.values["ping-interval-ms"], "--ping-interval-ms"),
      inactivityTimeoutMs: timer(ctx.values["inactivity-timeout-ms"], "--inactivity-timeout-ms"),
      handshakeTimeoutMs: timer(ctx.values["handshake-timeout-ms"], "--handshake-timeout-ms"),
      advertiseIntervalMs: timer(ctx.values["advertise-interval-ms"], "--advertise-interval-ms"),
      statusIntervalMs: timer(ctx.values["status-interval-ms"], "--status-interval-ms"),
      saveIntervalMs: timer(ctx.values["save-interval-ms"], "--save-interval-ms"),
      maxSockets: Math.max(1024, maxConnections + 64),
      signal: ctx.signal,
      log: ctx.log,
    };
    let peer;
    try {
      peer = await startPeerNode(options);
    } catch (err) {
      if (err instanceof ServiceStartError) {
        ctx.log.error("{error}", { error: err.message });
        return 1;
      }
      throw err;
    }
    ctx.print(
      `BitClone peer listening on ${
        formatListen({ transport: "tcp", hostname, port: peer.port })
      } (Ctrl-C to stop)\n`,
    );
    await peer.done;
    return peer.saveError() === undefined ? 0 : 1;
  },
};
