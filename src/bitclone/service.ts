/**
 * The BitClone peer as a `bitclone node` service (`peer`, TCP 8333).
 *
 * Config file settings (`services.peer`): `peersFile` (default `peers.json` in the node's data
 * directory), `seedsFile` (default the committed `peers.json` in the working directory, only read),
 * `userAgent`, `targetPeers`, `manualPeers` (an array of `ip:port`), and optionally
 * `maxInbound`, `maxConnections` and the timers `pingIntervalMs`, `inactivityTimeoutMs`,
 * `handshakeTimeoutMs`, `advertiseIntervalMs`, `statusIntervalMs`, `saveIntervalMs`. A setting of
 * the wrong type is a config error naming it (exit 2). When the address book cannot be saved at
 * exit, the service fails and the node exits 1.
 *
 * @module
 */
import { type ServiceDefinition, ServiceSettingsError, ServiceStartError } from "../node/mod.ts";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_PEER_PORT,
  DEFAULT_SEEDS_FILE,
  peersFileIn,
  startPeerNode,
  type StartPeerNodeOptions,
} from "./node_runner_deno.ts";

const NUMBER_SETTINGS = [
  "targetPeers",
  "maxInbound",
  "maxConnections",
  "pingIntervalMs",
  "inactivityTimeoutMs",
  "handshakeTimeoutMs",
  "advertiseIntervalMs",
  "statusIntervalMs",
  "saveIntervalMs",
] as const;

/**
 * Reads the `peer` section of a node config into runner options (the address book in `dataDir`
 * unless `peersFile` is set); throws {@linkcode ServiceSettingsError} naming a setting of the
 * wrong type.
 *
 * @example
 * ```ts
 * import { peerSettings } from "./service.ts";
 * import assert from "node:assert/strict";
 * const o = peerSettings({ peersFile: "p.json", targetPeers: 8, manualPeers: ["10.0.0.5:8333"] });
 * assert.equal(o.peersFile, "p.json");
 * assert.equal(o.targetPeers, 8);
 * assert.equal(o.manualPeers?.length, 1);
 * assert.equal(peerSettings({}, "/srv/bc").peersFile, "/srv/bc/peers.json");
 * assert.throws(() => peerSettings({ targetPeers: "8" }), /targetPeers/);
 * ```
 */
export function peerSettings(
  settings: Readonly<Record<string, unknown>>,
  dataDir: string = DEFAULT_DATA_DIR,
): StartPeerNodeOptions {
  const bad = (name: string, what: string) => new ServiceSettingsError("peer", name, what);
  const out: StartPeerNodeOptions = {};
  const { peersFile, seedsFile, userAgent, manualPeers } = settings;
  if (peersFile !== undefined) {
    if (typeof peersFile !== "string" || peersFile === "") throw bad("peersFile", "a file name");
    out.peersFile = peersFile;
  } else out.peersFile = peersFileIn(dataDir);
  if (seedsFile !== undefined) {
    if (typeof seedsFile !== "string" || seedsFile === "") throw bad("seedsFile", "a file name");
    out.seedsFile = seedsFile;
  } else out.seedsFile = DEFAULT_SEEDS_FILE;
  if (userAgent !== undefined) {
    if (typeof userAgent !== "string") throw bad("userAgent", "a string");
    out.userAgent = userAgent;
  }
  if (manualPeers !== undefined) {
    if (!Array.isArray(manualPeers) || !manualPeers.every((p) => typeof p === "string")) {
      throw bad("manualPeers", "an array of ip:port strings");
    }
    out.manualPeers = manualPeers as string[];
  }
  for (const name of NUMBER_SETTINGS) {
    const v = settings[name];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw bad(name, "a whole number");
    }
    out[name] = v;
  }
  if (out.maxConnections === undefined) {
    out.maxConnections = Math.max(12, (out.maxInbound ?? 0) + 2, (out.targetPeers ?? 5) + 7);
  }
  return out;
}

/**
 * The node's BitClone peer service.
 *
 * @example
 * ```ts
 * import { peerService } from "./service.ts";
 * import { ServiceSettingsError } from "../node/service.ts";
 * import assert from "node:assert/strict";
 * assert.equal(peerService.defaultPort, 8333);
 * peerService.checkSettings?.({ targetPeers: 8, manualPeers: ["10.0.0.5:8333"] });
 * assert.throws(() => peerService.checkSettings?.({ manualPeers: "10.0.0.5:8333" }), ServiceSettingsError);
 * ```
 */
export const peerService: ServiceDefinition = {
  name: "peer",
  description: "BitClone peer (Project 3 P2P)",
  transport: "tcp",
  defaultPort: DEFAULT_PEER_PORT,
  checkSettings(settings) {
    peerSettings(settings);
  },
  async start(ctx) {
    const options = peerSettings(ctx.settings, ctx.dataDir);
    let peer;
    try {
      peer = await startPeerNode({
        ...options,
        hostname: ctx.hostname,
        port: ctx.port,
        signal: ctx.signal,
        log: ctx.log,
      });
    } catch (err) {
      if (err instanceof RangeError || err instanceof TypeError) {
        throw new ServiceStartError("peer", err.message, { cause: err });
      }
      throw err;
    }
    return {
      listening: [{ transport: "tcp", hostname: ctx.hostname, port: peer.port }],
      status: () => peer.snapshot(),
      closed: peer.done.then(() => {
        const error = peer.saveError();
        if (error !== undefined) {
          const why = error instanceof Error ? error.message : String(error);
          throw new Error(`address book not saved to ${options.peersFile}: ${why}`);
        }
      }),
    };
  },
};
