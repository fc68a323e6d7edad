/**
 * The key-value store as a `bitclone node` service: TCP 9000 for requests (`--kv-port`) and UDP
 * 8888 for discovery, its log in `<data dir>/kv/`.
 *
 * Config file settings (`services.kv`), all optional:
 * - `udpPort` (default 8888), `advertise` (IP or IP:PORT), `name`, `memory` (true: no disk),
 * - `seeds` (UDP `HOST:PORT` list that also get our Handshake), `broadcast` (list replacing the
 *   interface's broadcast address).
 *
 * @module
 */
import { type ServiceDefinition, ServiceSettingsError, ServiceStartError } from "../node/mod.ts";
import { kvEventLog, serveKv } from "./kv_deno.ts";

/** The key-value service's snapshot for the status service (`kv` in `/status.json`). */
export type KvServiceStatus = {
  /** This node's name. */
  name: string;
  /** The TCP address it advertises. */
  advertise: string;
  /** The TCP port of requests. */
  port: number;
  /** The UDP port of discovery. */
  udpPort: number;
  /** Keys stored. */
  keys: number;
  /** TCP connections open now. */
  connections: number;
  /** The members known, with their state (`alive`, `suspect`, `dead`). */
  members: { name: string; address: string; state: string }[];
  /** Messages handled on TCP (gets, sets, syncs, heartbeats). */
  requests: number;
  /** Connections, writes and syncs refused (over a limit). */
  refused: number;
};

function stringList(
  settings: Readonly<Record<string, unknown>>,
  key: string,
): string[] | undefined {
  const v = settings[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new ServiceSettingsError("kv", key, "a list of HOST:PORT strings");
  }
  return v as string[];
}

function check(settings: Readonly<Record<string, unknown>>): void {
  const { udpPort, advertise, name, memory } = settings;
  if (
    udpPort !== undefined &&
    (!Number.isInteger(udpPort) || (udpPort as number) < 0 || (udpPort as number) > 65535)
  ) {
    throw new ServiceSettingsError("kv", "udpPort", "a port number 0..65535");
  }
  if (advertise !== undefined && typeof advertise !== "string") {
    throw new ServiceSettingsError("kv", "advertise", "an IP address");
  }
  if (name !== undefined && (typeof name !== "string" || !/^[A-Za-z0-9._:-]{1,64}$/.test(name))) {
    throw new ServiceSettingsError("kv", "name", "1 to 64 characters of A-Z a-z 0-9 . _ : -");
  }
  if (memory !== undefined && typeof memory !== "boolean") {
    throw new ServiceSettingsError("kv", "memory", "true or false");
  }
  stringList(settings, "seeds");
  stringList(settings, "broadcast");
}

/**
 * The node's key-value service.
 *
 * @example
 * ```ts
 * import { kvService } from "./service_deno.ts";
 * import assert from "node:assert/strict";
 * assert.equal(kvService.name, "kv");
 * assert.equal(kvService.defaultPort, 9000);
 * ```
 */
export const kvService: ServiceDefinition = {
  name: "kv",
  description: "gossip key-value store (UDP 8888 discovery)",
  transport: "tcp",
  defaultPort: 9000,
  checkSettings: check,
  async start(ctx) {
    const s = ctx.settings;
    check(s);
    const logEvent = kvEventLog(ctx.log);
    let kv;
    try {
      kv = await serveKv({
        hostname: ctx.hostname,
        tcpPort: ctx.port,
        udpPort: (s.udpPort as number | undefined) ?? 8888,
        advertise: s.advertise as string | undefined,
        name: s.name as string | undefined,
        memory: s.memory === true,
        dataDir: `${ctx.dataDir}/kv`,
        seeds: stringList(s, "seeds"),
        broadcast: stringList(s, "broadcast"),
        signal: ctx.signal,
        onEvent: logEvent,
      });
    } catch (err) {
      throw new ServiceStartError("kv", (err as Error).message, { cause: err });
    }
    ctx.log.info("node {name} advertises {advertise}", { name: kv.name, advertise: kv.advertise });
    return {
      listening: [
        { transport: "tcp", hostname: ctx.hostname, port: kv.tcpPort },
        { transport: "udp", hostname: ctx.hostname, port: kv.udpPort },
      ],
      closed: kv.done,
      status(): KvServiceStatus {
        const node = kv.node, st = node.stats;
        return {
          name: kv.name,
          advertise: kv.advertise,
          port: kv.tcpPort,
          udpPort: kv.udpPort,
          keys: node.size,
          connections: node.connections,
          members: node.members().map((m) => ({
            name: m.name,
            address: m.address,
            state: m.state,
          })),
          requests: st.requests,
          refused: st.refused,
        };
      },
    };
  },
};
