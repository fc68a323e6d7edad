/**
 * `bitclone tracker ring-serve` and `bitclone tracker ring-peer`: Part 2 of the CS457 tracker
 * (spec §3), a ring tracker and a ring peer that interoperate with the Python 2 originals.
 *
 * `ring-serve` prints `Tracker listening at HOST @ PORT` (as the original does), then one line per
 * change of the ring: `REGISTERED <handle> @ <ip> <port> item <seq> neighbour <handle>`,
 * `REMOVED <handle> @ <ip> <port>` and `RING <handle> <handle> ...` (the peers in ring order).
 * `ring-peer` prints only the sentence, once, when it holds the whole table; its progress goes to
 * the log (stderr).
 *
 * @module
 */
import { hostPortValue, intValue, portValue } from "../mod.ts";
import { type CommandSpec, UsageError } from "../mod.ts";
import { ServiceStartError } from "../../node/mod.ts";
import { startRingPeer } from "../../tracker/ring/mod.ts";
import type { RingPeerEvent } from "../../tracker/ring/mod.ts";
import { serveRingTracker } from "../../tracker/ring/mod.ts";
import type { RingTracker, RingTrackerEvent } from "../../tracker/ring/mod.ts";

/** Shows a handle on one line: control characters escaped. */
function shown(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : c;
  }
  return out;
}

function ring(tracker: RingTracker): string {
  return ["RING", ...tracker.peers.map((p) => shown(p.handle))].join(" ");
}

const DAY_MS = 86_400_000;

/**
 * `bitclone tracker ring-serve`: the Part 2 ring tracker.
 *
 * @example
 * ```ts
 * import { ringServeCommand } from "./tracker_ring.ts";
 * import assert from "node:assert/strict";
 * assert.equal(ringServeCommand.name, "ring-serve");
 * ```
 */
export const ringServeCommand: CommandSpec = {
  name: "ring-serve",
  summary: "Part 2 ring tracker: ECHO, REGISTER, UPDATE_NBR, PING and ring repair",
  description: "Keeps the ordered ring of peers (each peer's neighbour is the one registered " +
    "before it), hands each new peer one item of the five-word table, tells peers their new " +
    "neighbour after every change, PINGs every peer each interval and drops a peer that fails " +
    "--drop-after rounds in a row, repairing the ring. Wire-compatible with the Python 2 " +
    "original tracker and peers (protocol-0 pickles). Runs until Ctrl-C.",
  options: {
    port: { type: "string", valueName: "PORT", default: "7777", description: "TCP port (0: any)" },
    hostname: {
      type: "string",
      valueName: "ADDR",
      default: "127.0.0.1",
      description: "Address to bind (the original binds 127.0.0.1)",
    },
    "ping-interval-ms": {
      type: "string",
      valueName: "MS",
      default: "20000",
      description: "Pause between PING rounds",
    },
    "ping-timeout-ms": {
      type: "string",
      valueName: "MS",
      default: "5000",
      description: "Time a PING may take to connect, and again to be answered",
    },
    "drop-after": {
      type: "string",
      valueName: "N",
      default: "2",
      description: "Failed PING rounds in a row before a peer is dropped (1: like the original)",
    },
    "max-peers": {
      type: "string",
      valueName: "N",
      default: "1024",
      description: "Most registered peers",
    },
  },
  examples: [
    "bitclone tracker ring-serve",
    "bitclone tracker ring-serve --port 0 --ping-interval-ms 1000 --drop-after 1",
  ],
  async run(ctx) {
    const path = "bitclone tracker ring-serve";
    const port = portValue(ctx.values.port as string, "--port", path);
    const hostname = ctx.values.hostname as string;
    const pingIntervalMs = intValue(
      ctx.values["ping-interval-ms"] as string,
      "--ping-interval-ms",
      path,
      { min: 1, max: DAY_MS },
    );
    const pingTimeoutMs = intValue(
      ctx.values["ping-timeout-ms"] as string,
      "--ping-timeout-ms",
      path,
      { min: 1, max: DAY_MS },
    );
    const dropAfterFailures = intValue(ctx.values["drop-after"] as string, "--drop-after", path, {
      min: 1,
      max: 1000,
    });
    const maxPeers = intValue(ctx.values["max-peers"] as string, "--max-peers", path, {
      min: 1,
      max: 65536,
    });
    const started: { tracker?: RingTracker; dropped?: boolean } = {};
    const onEvent = (e: RingTrackerEvent) => {
      switch (e.type) {
        case "registered":
          ctx.print(
            `REGISTERED ${shown(e.handle)} @ ${e.ip} ${e.port} item ${e.seq} neighbour ${
              shown(e.neighbour)
            }\n`,
          );
          if (e.how !== "again" && started.tracker) ctx.print(`${ring(started.tracker)}\n`);
          break;
        case "dropped":
          ctx.print(`REMOVED ${shown(e.handle)} @ ${e.ip} ${e.port}\n`);
          started.dropped = true;
          break;
        case "ping-round":
          if (started.dropped && started.tracker) ctx.print(`${ring(started.tracker)}\n`);
          started.dropped = false;
          ctx.log.debug("PING round: {alive} alive, {failed} failed, {peers} peers", e);
          break;
        case "refused":
          ctx.log.info("refused {handle} from {ip}:{port}: {reason}", e);
          break;
        case "bad-request":
          ctx.log.info("bad request from {from}: {reason}", e);
          break;
        case "echo":
          ctx.log.info("ECHO from {handle} at {from}", e);
          break;
        case "neighbour-sent":
          ctx.log.debug("UPDATE_NBR to {handle} (neighbour {neighbour}): {ok}", e);
          break;
      }
    };
    let server;
    try {
      server = serveRingTracker({
        hostname,
        port,
        pingIntervalMs,
        pingConnectTimeoutMs: pingTimeoutMs,
        pingReplyTimeoutMs: pingTimeoutMs,
        dropAfterFailures,
        maxPeers,
        signal: ctx.signal,
        onEvent,
      });
    } catch (err) {
      if (err instanceof ServiceStartError) {
        ctx.log.error("{error}", { error: err.message });
        return 1;
      }
      throw err;
    }
    started.tracker = server.tracker;
    ctx.print(`Tracker listening at ${hostname} @ ${server.port}\n`);
    await server.done;
    return 0;
  },
};

/**
 * `bitclone tracker ring-peer`: a Part 2 ring peer.
 *
 * @example
 * ```ts
 * import { ringPeerCommand } from "./tracker_ring.ts";
 * import assert from "node:assert/strict";
 * assert.notEqual(ringPeerCommand.options?.handle, undefined);
 * ```
 */
export const ringPeerCommand: CommandSpec = {
  name: "ring-peer",
  summary: "Part 2 ring peer: registers, answers QUERY, collects the table, prints the sentence",
  description: "Starts its server on --port, registers that port under --handle with the " +
    "tracker, answers UPDATE_NBR, PING and QUERY, and asks its neighbour for each item it " +
    "lacks, one QUERY per --query-interval-ms. When it holds the whole table it prints the " +
    "sentence (the words in seq order) on stdout, once, and keeps serving the others until " +
    "Ctrl-C. Exits 1 if the tracker refuses the handle or cannot be reached.",
  options: {
    handle: { type: "string", valueName: "H", description: "The peer's handle (required)" },
    port: {
      type: "string",
      valueName: "PORT",
      default: "9000",
      description: "TCP port of its server, sent to the tracker (0: any)",
    },
    hostname: {
      type: "string",
      valueName: "ADDR",
      default: "0.0.0.0",
      description: "Address its server binds",
    },
    tracker: {
      type: "string",
      valueName: "HOST:PORT",
      default: "127.0.0.1:7777",
      description: "The tracker",
    },
    "query-interval-ms": {
      type: "string",
      valueName: "MS",
      default: "2000",
      description: "Pause between QUERYs to the neighbour",
    },
    "register-delay-ms": {
      type: "string",
      valueName: "MS",
      default: "0",
      description: "Wait before registering (the reference peer waits 3000)",
    },
  },
  examples: [
    "bitclone tracker ring-peer --handle alice --port 9101",
    "bitclone tracker ring-peer --handle bob --port 0 --tracker 10.0.0.1:7777",
  ],
  async run(ctx) {
    const path = "bitclone tracker ring-peer";
    const handle = ctx.values.handle as string | undefined;
    if (handle === undefined || handle.length === 0) throw new UsageError("missing --handle", path);
    if (handle.length > 64) throw new UsageError("--handle must be at most 64 characters", path);
    const port = portValue(ctx.values.port as string, "--port", path);
    const tracker = hostPortValue(ctx.values.tracker as string, "--tracker", path);
    const queryIntervalMs = intValue(
      ctx.values["query-interval-ms"] as string,
      "--query-interval-ms",
      path,
      { min: 1, max: DAY_MS },
    );
    const registerDelayMs = intValue(
      ctx.values["register-delay-ms"] as string,
      "--register-delay-ms",
      path,
      { min: 0, max: DAY_MS },
    );
    const stop = new AbortController();
    const signal = AbortSignal.any([ctx.signal, stop.signal]);
    let failed = false;
    const onEvent = (e: RingPeerEvent) => {
      switch (e.type) {
        case "registered":
          ctx.log.info("registered: item {seq} of {dbSize}, neighbour {neighbour}", {
            ...e,
            neighbour: e.neighbour
              ? `${e.neighbour.handle}@${e.neighbour.ip}:${e.neighbour.port}`
              : "none",
          });
          break;
        case "neighbour":
          ctx.log.info("new neighbour {handle}@{ip}:{port}", { ...e.neighbour });
          break;
        case "item":
          ctx.log.info("item {seq} from {from}", e);
          break;
        case "complete":
          ctx.print(`${e.sentence}\n`);
          break;
        case "register-failed":
          if (e.final) {
            ctx.log.error("cannot register after {attempt} attempts: {reason}", e);
            failed = true;
            stop.abort();
          } else {
            ctx.log.warn("REGISTER failed ({reason}); trying again", e);
          }
          break;
        case "rejected":
          ctx.log.error("the tracker refused the handle: {message}", e);
          failed = true;
          stop.abort();
          break;
        case "bad-request":
          ctx.log.debug("bad request from {from}: {reason}", e);
          break;
      }
    };
    let node;
    try {
      node = startRingPeer({
        handle,
        hostname: ctx.values.hostname as string,
        port,
        trackerHost: tracker.hostname,
        trackerPort: tracker.port,
        queryIntervalMs,
        registerDelayMs,
        signal,
        onEvent,
      });
    } catch (err) {
      if (err instanceof ServiceStartError) {
        ctx.log.error("{error}", { error: err.message });
        return 1;
      }
      throw err;
    }
    ctx.log.info("listening on {port} as {handle}", { port: node.port, handle });
    await node.done;
    return failed ? 1 : 0;
  },
};
