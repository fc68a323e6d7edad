/**
 * `bitclone tracker serve` and `bitclone tracker fetch`: the CS457 Part 1 tracker and its client.
 *
 * The group's subcommands live in {@linkcode trackerSubcommands}, which the `tracker` group uses
 * as is: the ring (Part 2) commands are added to that array from their own file.
 *
 * @module
 */
import { hostPortValue, intValue, portValue } from "../mod.ts";
import { type CommandSpec, UsageError } from "../mod.ts";
import { ServiceStartError } from "../../node/mod.ts";
import { formatHostPort } from "../../net/mod.ts";
import { DEFAULT_DB } from "../../tracker/part1/mod.ts";
import { fetchPart1, TrackerClientError } from "../../tracker/part1/mod.ts";
import type { Part1Db } from "../../tracker/part1/mod.ts";
import { describeExchange, readPart1DbFile, serveTrackerPart1 } from "../../tracker/part1/mod.ts";
import type { Part1RequestProtocol } from "../../tracker/part1/mod.ts";
import { ringPeerCommand, ringServeCommand } from "./tracker_ring.ts";

const serveCommand: CommandSpec = {
  name: "serve",
  summary: "Run the Part 1 tracker: answers REGISTER and pickled item requests",
  description: "Serves a database of (SEQNUM, WORD) entries exactly like the original Python " +
    "tracker on the wire: REGISTER gets the size, a pickled integer i (protocols 0 to 2, and 3 " +
    "to 5 unless --max-protocol says otherwise) gets the entry at list position i, anything " +
    "else gets the error reply 'Bad request'. Unlike the original it survives any input, " +
    "serves many clients at once, drops slow or silent clients after --timeout, and restarts " +
    "at once on the same port. Without --db it serves bitclone's own 16-word database. " +
    "Db file format: one '<SEQNUM> <WORD>' line per entry in list order; '#' starts a comment " +
    "line (see README). Runs until Ctrl-C.",
  options: {
    port: { type: "string", valueName: "PORT", default: "7777", description: "TCP port" },
    hostname: {
      type: "string",
      valueName: "ADDR",
      default: "127.0.0.1",
      description: "Address to bind (the original binds localhost)",
    },
    db: { type: "string", valueName: "FILE", description: "Database file (default: built in)" },
    "max-protocol": {
      type: "string",
      valueName: "N",
      default: "5",
      description: "Highest pickle protocol accepted in requests (2: exactly what Python 2 loads)",
    },
    timeout: {
      type: "string",
      valueName: "MS",
      default: "5000",
      description: "A request must be complete this long after connecting",
    },
    "max-request-bytes": {
      type: "string",
      valueName: "N",
      default: "1024",
      description: "Size cap of a request (16..65536; the original reads 1024)",
    },
    "max-connections": {
      type: "string",
      valueName: "N",
      default: "256",
      description: "Connections served at the same time; as many more wait, unread",
    },
  },
  examples: [
    "bitclone tracker serve",
    "bitclone tracker serve --port 7777 --db words.txt --hostname 0.0.0.0",
    "bitclone tracker serve --max-protocol 2 --log-level debug",
  ],
  async run(ctx) {
    const path = "bitclone tracker serve";
    const port = portValue(ctx.values.port as string, "--port", path);
    const hostname = ctx.values.hostname as string;
    if (hostname.trim() === "") throw new UsageError("--hostname must not be empty", path);
    const maxProtocol = intValue(ctx.values["max-protocol"] as string, "--max-protocol", path, {
      max: 5,
    });
    const requestTimeoutMs = intValue(ctx.values.timeout as string, "--timeout", path, {
      min: 1,
      max: 3_600_000,
    });
    const maxRequestBytes = intValue(
      ctx.values["max-request-bytes"] as string,
      "--max-request-bytes",
      path,
      { min: 16, max: 65536 },
    );
    const maxConnections = intValue(
      ctx.values["max-connections"] as string,
      "--max-connections",
      path,
      { min: 1, max: 65536 },
    );
    let db: Part1Db = DEFAULT_DB;
    if (typeof ctx.values.db === "string") {
      try {
        db = await readPart1DbFile(ctx.values.db);
      } catch (err) {
        ctx.log.error("{error}", { error: (err as Error).message });
        return 1;
      }
    }
    let server;
    try {
      server = serveTrackerPart1({
        hostname,
        port,
        db,
        maxProtocol,
        requestTimeoutMs,
        maxRequestBytes,
        maxConnections,
        signal: ctx.signal,
        // Asked once: a logger's own check costs microseconds per call (per connection here).
        onExchange: ctx.log.isEnabledFor("debug")
          ? (e) => ctx.log.debug("{exchange}", { exchange: describeExchange(e) })
          : undefined,
      });
    } catch (err) {
      if (err instanceof ServiceStartError) {
        ctx.log.error("{error}", { error: err.message });
        return 1;
      }
      throw err;
    }
    ctx.print(
      `Tracker serving ${db.size} entries on tcp ${
        formatHostPort(hostname, server.port)
      } (Ctrl-C to stop)\n`,
    );
    await server.done;
    const s = server.stats();
    ctx.log.info(
      "stopped: {accepted} connections, {size} size / {item} item / {error} error replies",
      { accepted: s.accepted, ...s.replies },
    );
    return 0;
  },
};

const fetchCommand: CommandSpec = {
  name: "fetch",
  summary: "Fetch every entry from a Part 1 tracker and print the assembled message",
  description: "Asks REGISTER for the size, then each list position 0..n-1 on its own " +
    "connection (one at a time, as the original tracker serves one client at a time), sorts the " +
    "words by the SEQNUM each reply carries and prints them joined by spaces on one line. Works " +
    "against the original Python tracker and against 'bitclone tracker serve'. If the tracker " +
    "answers its error reply ('Bad request'), says which request got it and exits 1.",
  positionals: [{
    name: "HOST:PORT",
    description: "The tracker (default 127.0.0.1:7777)",
    optional: true,
  }],
  options: {
    protocol: {
      type: "string",
      valueName: "N",
      default: "0",
      description: "Pickle protocol of item requests: 0 (Python 2's default), 1 or 2",
    },
    timeout: {
      type: "string",
      valueName: "MS",
      default: "5000",
      description: "Time limit of each request, connecting included",
    },
    items: {
      type: "boolean",
      description: "Also print each entry as 'POSITION SEQNUM WORD' before the message",
    },
  },
  examples: [
    "bitclone tracker fetch",
    "bitclone tracker fetch 10.0.0.1:7777 --protocol 2 --items",
  ],
  async run(ctx) {
    const path = "bitclone tracker fetch";
    const target = ctx.positionals[0] ?? "127.0.0.1:7777";
    const { hostname, port } = hostPortValue(target, "HOST:PORT", path);
    const protocol = intValue(ctx.values.protocol as string, "--protocol", path, { max: 2 });
    const timeoutMs = intValue(ctx.values.timeout as string, "--timeout", path, {
      min: 1,
      max: 3_600_000,
    });
    const hostport = formatHostPort(hostname, port);
    try {
      const result = await fetchPart1(hostport, {
        protocol: protocol as Part1RequestProtocol,
        timeoutMs,
        signal: ctx.signal,
        onItem: ctx.values.items
          ? (position, e) => ctx.print(`${position} ${e.seq} ${e.word}\n`)
          : undefined,
      });
      if (result.missing.length) {
        ctx.log.warn("no entry carried SEQNUM {missing}", { missing: result.missing.join(", ") });
      }
      if (result.duplicates.length) {
        ctx.log.warn("SEQNUM {dups} came more than once: the last word is used", {
          dups: result.duplicates.join(", "),
        });
      }
      ctx.print(`${result.message}\n`);
      return 0;
    } catch (err) {
      if (err instanceof TrackerClientError) {
        ctx.log.error("{error}", { error: err.message });
        return 1;
      }
      throw err;
    }
  },
};

/**
 * The subcommands of `bitclone tracker`. The `tracker` group holds this very array, so commands
 * pushed into it (the ring's, from `tracker_ring.ts`) join the group.
 *
 * @example The Part 1 subcommands
 * ```ts
 * import { trackerSubcommands } from "./tracker.ts";
 * import assert from "node:assert/strict";
 * assert.ok(trackerSubcommands.some((c) => c.name === "serve"));
 * ```
 */
export const trackerSubcommands: CommandSpec[] = [
  serveCommand,
  fetchCommand,
  ringServeCommand,
  ringPeerCommand,
];

/**
 * The `tracker` command group.
 *
 * @example The group uses the shared array
 * ```ts
 * import { trackerCommand, trackerSubcommands } from "./tracker.ts";
 * import assert from "node:assert/strict";
 * assert.equal(trackerCommand.subcommands, trackerSubcommands);
 * ```
 */
export const trackerCommand: CommandSpec = {
  name: "tracker",
  summary: "The CS457 tracker: serve it, or fetch its message",
  subcommands: trackerSubcommands,
};
