/**
 * `bitclone kv serve|set|get|members`: the gossip key-value store, wire-compatible with
 * Basic_network_comms, and its clients.
 *
 * @module
 */
import { hostPortValue, portValue } from "../mod.ts";
import { type CommandSpec, UsageError } from "../mod.ts";
import {
  KvClientError,
  kvEventLog,
  kvRequest,
  membersTable,
  serveKv,
  SET_OK,
} from "../../kv/mod.ts";
import type { KvMessage } from "../../kv/mod.ts";

const NAME = /^[A-Za-z0-9._:-]{1,64}$/;

const serveCommand: CommandSpec = {
  name: "serve",
  summary: "Run a key-value node: discovery on UDP, requests on TCP",
  description: "A node of the gossip key-value store that talks to the original Rust program " +
    "(Basic_network_comms) on the wire: it announces itself by broadcast Handshakes on the UDP " +
    "port every 5 s, answers Heartbeat, Setvalue, Getvalue and Sync on the TCP port, and " +
    "replicates every write to the members it knows. Unlike the original it keeps versions " +
    "(last writer wins), detects failed members (suspect after 3 missed heartbeats, dead after " +
    "6), repairs partitions by anti-entropy, never exits on bad input, and saves every write to " +
    "an append-only log in --data-dir before acknowledging it (--memory keeps nothing, as the " +
    "original). Joins, suspicions, deaths and returns are logged. Runs until Ctrl-C.",
  options: {
    "udp-port": {
      type: "string",
      valueName: "PORT",
      default: "8888",
      description: "UDP discovery port",
    },
    "tcp-port": {
      type: "string",
      valueName: "PORT",
      default: "9000",
      description: "TCP request port",
    },
    hostname: {
      type: "string",
      valueName: "ADDR",
      default: "0.0.0.0",
      description: "Address both sockets bind",
    },
    advertise: {
      type: "string",
      valueName: "IP",
      description: "Address to advertise (default: the first non-loopback IPv4 address)",
    },
    name: {
      type: "string",
      valueName: "NAME",
      description: "Node name (default: saved in --data-dir, else random)",
    },
    "data-dir": {
      type: "string",
      valueName: "DIR",
      default: "data/kv",
      description: "Where the log is kept",
    },
    memory: { type: "boolean", description: "Keep nothing on disk (like the original)" },
    seed: {
      type: "string",
      valueName: "HOST:PORT",
      multiple: true,
      description: "A node's UDP address to announce to by unicast (networks without broadcast)",
    },
  },
  examples: [
    "bitclone kv serve",
    "bitclone kv serve --memory --udp-port 18888 --tcp-port 19000 --seed 10.0.0.2:8888",
  ],
  async run(ctx) {
    const path = "bitclone kv serve";
    const udpPort = portValue(ctx.values["udp-port"] as string, "--udp-port", path);
    const tcpPort = portValue(ctx.values["tcp-port"] as string, "--tcp-port", path);
    const hostname = ctx.values.hostname as string;
    if (hostname.trim() === "") throw new UsageError("--hostname must not be empty", path);
    const name = ctx.values.name as string | undefined;
    if (name !== undefined && !NAME.test(name)) {
      throw new UsageError("--name must be 1 to 64 characters of A-Z a-z 0-9 . _ : -", path);
    }
    const seeds = ((ctx.values.seed as string[] | undefined) ?? []).map((s) => {
      const hp = hostPortValue(s, "--seed", path);
      return hp.hostname.includes(":")
        ? `[${hp.hostname}]:${hp.port}`
        : `${hp.hostname}:${hp.port}`;
    });
    const advertise = ctx.values.advertise as string | undefined;
    if (advertise !== undefined && !/^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/.test(advertise)) {
      throw new UsageError(`--advertise must be an IPv4 address, not '${advertise}'`, path);
    }
    const sys = Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" });
    const boundToOne = /^\d+\.\d+\.\d+\.\d+$/.test(hostname) && hostname !== "0.0.0.0";
    if (sys.state !== "granted" && advertise === undefined && !boundToOne) {
      ctx.log.warn(
        "cannot list the network interfaces (run with --allow-sys=networkInterfaces, as " +
          "`deno task bitclone` does, or give --advertise): advertising 127.0.0.1, this host only",
      );
    }
    const logEvent = kvEventLog(ctx.log);
    let kv;
    try {
      kv = await serveKv({
        hostname,
        udpPort,
        tcpPort,
        advertise,
        name,
        memory: ctx.values.memory === true,
        dataDir: ctx.values["data-dir"] as string,
        seeds,
        signal: ctx.signal,
        onEvent: logEvent,
      });
    } catch (err) {
      ctx.log.error("cannot start: {error}", { error: (err as Error).message });
      return 1;
    }
    ctx.print(
      `Key-value node ${kv.name} on tcp ${hostname}:${kv.tcpPort} and udp ${hostname}:${kv.udpPort}, ` +
        `advertising ${kv.advertise} (Ctrl-C to stop)\n`,
    );
    await kv.done;
    const s = kv.node.stats;
    ctx.log.info("stopped: {keys} keys, {sets} sets, {gets} gets, {syncs} syncs in", {
      keys: kv.node.size,
      sets: s.sets,
      gets: s.gets,
      syncs: s.syncsIn,
    });
    return 0;
  },
};

const target = {
  name: "HOST:PORT",
  description: "A node's TCP address (its port is 9000 by default)",
};

async function ask(
  ctx: Parameters<NonNullable<CommandSpec["run"]>>[0],
  path: string,
  message: KvMessage,
): Promise<KvMessage | undefined | number> {
  const { hostname, port } = hostPortValue(ctx.positionals[0], "HOST:PORT", path);
  try {
    return await kvRequest(hostname, port, message, { signal: ctx.signal });
  } catch (err) {
    if (err instanceof KvClientError) {
      ctx.log.error("{error}", { error: err.message });
      return 1;
    }
    throw err;
  }
}

const setCommand: CommandSpec = {
  name: "set",
  summary: "Store a key's value on a node (it replicates it)",
  description: "Sends one Setvalue and prints the node's answer. Exit 0 when the node answers " +
    `'${SET_OK}', 1 otherwise (refused, unreachable, no answer within 30 s).`,
  positionals: [target, { name: "KEY", description: "The key" }, {
    name: "VALUE",
    description: "The value",
  }],
  examples: ["bitclone kv set 127.0.0.1:9000 color green"],
  async run(ctx) {
    const [, key, value] = ctx.positionals;
    const reply = await ask(ctx, "bitclone kv set", { type: "Setvalue", key, value });
    if (typeof reply === "number") return reply;
    if (reply?.type !== "ValueResponse") {
      ctx.log.error("the node gave no answer");
      return 1;
    }
    ctx.print(`${reply.value ?? "null"}\n`);
    return reply.value === SET_OK ? 0 : 1;
  },
};

const getCommand: CommandSpec = {
  name: "get",
  summary: "Print a key's value from a node",
  description: "Sends one Getvalue and prints the value. If the key is absent, says so on stderr " +
    "and exits 1.",
  positionals: [target, { name: "KEY", description: "The key" }],
  examples: ["bitclone kv get 127.0.0.1:9000 color"],
  async run(ctx) {
    const key = ctx.positionals[1];
    const reply = await ask(ctx, "bitclone kv get", { type: "Getvalue", key });
    if (typeof reply === "number") return reply;
    if (reply?.type !== "ValueResponse") {
      ctx.log.error("the node gave no answer");
      return 1;
    }
    if (reply.value === null) {
      ctx.log.error("key '{key}' is absent", { key });
      return 1;
    }
    ctx.print(`${reply.value}\n`);
    return 0;
  },
};

const membersCommand: CommandSpec = {
  name: "members",
  summary: "List the members a node knows (bitclone nodes only)",
  description: "Asks a bitclone node for its member table (an extension request the original " +
    "does not answer) and prints each member's name, address, state and when it was last seen.",
  positionals: [target],
  examples: ["bitclone kv members 127.0.0.1:9000"],
  async run(ctx) {
    const reply = await ask(ctx, "bitclone kv members", { type: "Members" });
    if (typeof reply === "number") return reply;
    if (reply?.type !== "MembersResponse") {
      ctx.log.error("the node does not answer Members (an original node?)");
      return 1;
    }
    ctx.print(membersTable(reply.members, Date.now()));
    return 0;
  },
};

/** `bitclone kv`. */
export const kvCommand: CommandSpec = {
  name: "kv",
  summary: "The gossip key-value store: serve it, set, get, list members",
  subcommands: [serveCommand, setCommand, getCommand, membersCommand],
};
