/**
 * The miner server as a `bitclone node` service, on the node's LSP port (UDP 9999): miners and
 * request clients — ours or the Go reference's — connect to the node as they would to the
 * reference server.
 *
 * Config file settings (`services.miner`): `params` (any of epochLimit, epochMillis, windowSize,
 * maxBackOffInterval, maxUnackedMessages; keep the defaults to work with reference programs),
 * `maxConnections`, and `scheduler` (chunking, pipeline depth and limits of the scheduler).
 *
 * Joining a pool: `join` (`HOST:PORT`, also `--join-miner`) makes the node also mine for that
 * server — its own or another node's — with `workers` hashing threads (default: one per core),
 * rejoining with a backoff whenever the server goes away ({@linkcode joinPool}). So every machine
 * of a lab can run the same config naming one machine's miner server.
 *
 * @module
 */
import type { LspParams } from "../lsp/mod.ts";
import { type ServiceDefinition, ServiceSettingsError } from "../node/mod.ts";
import type { SchedulerOptions } from "./scheduler.ts";
import { listenMiner } from "./server_deno.ts";
import { joinPool } from "./join_deno.ts";
import type { MinerPoolStatus } from "./server_status.ts";
import { checkHostPort } from "../net/mod.ts";

/** How long a stopping node lets the server drain what peers have not acknowledged. */
const DRAIN_MS = 1500;

/**
 * The node's miner service.
 *
 * @example
 * ```ts
 * import { minerService } from "./service_deno.ts";
 * import assert from "node:assert/strict";
 * assert.equal(minerService.name, "miner");
 * assert.equal(minerService.defaultPort, 9999);
 * ```
 */
export const minerService: ServiceDefinition = {
  name: "miner",
  description: "bitcoin miner server (LSP)",
  transport: "udp",
  defaultPort: 9999,
  flags: [{
    name: "join-miner",
    valueName: "HOST:PORT",
    description: "Also mine for this miner server (a node's, or this one's) with every core",
    setting: "join",
  }],
  checkSettings(settings) {
    const isObject = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
    for (const key of ["params", "scheduler"]) {
      if (settings[key] !== undefined && !isObject(settings[key])) {
        throw new ServiceSettingsError("miner", key, "an object");
      }
    }
    const max = settings.maxConnections;
    if (max !== undefined && (typeof max !== "number" || !Number.isInteger(max) || max < 1)) {
      throw new ServiceSettingsError("miner", "maxConnections", "a positive integer");
    }
    const join = settings.join;
    if (join !== undefined && (typeof join !== "string" || "problem" in checkHostPort(join))) {
      throw new ServiceSettingsError("miner", "join", "a HOST:PORT string");
    }
    const workers = settings.workers;
    if (
      workers !== undefined &&
      (typeof workers !== "number" || !Number.isInteger(workers) || workers < 1 || workers > 256)
    ) {
      throw new ServiceSettingsError("miner", "workers", "an integer from 1 to 256");
    }
  },
  start(ctx) {
    const { params, maxConnections, scheduler, join, workers } = ctx.settings as {
      params?: Partial<LspParams>;
      maxConnections?: number;
      scheduler?: SchedulerOptions;
      join?: string;
      workers?: number;
    };
    const server = listenMiner(ctx.port, {
      hostname: ctx.hostname,
      params,
      maxConnections,
      scheduler,
      log: ctx.log,
      serviceName: "miner",
    });
    ctx.signal.addEventListener("abort", () => {
      // Drain what is pending (a Result on its way), but never past the node's stop deadline.
      const timer = setTimeout(() => server.closeNow(), DRAIN_MS);
      server.close().catch(() => {}).finally(() => {
        clearTimeout(timer);
        server.closeNow();
      });
    }, { once: true });
    // The pool's miner starts once the server listens (it may be this node's own server).
    const pool: MinerPoolStatus | null = join === undefined ? null : {
      server: join,
      workers: workers ?? Math.max(1, navigator.hardwareConcurrency || 1),
      joined: false,
      joins: 0,
      served: 0,
    };
    const joined = join === undefined ? Promise.resolve() : joinPool(join, {
      workers: pool!.workers,
      params,
      signal: ctx.signal,
      log: ctx.log,
      status: pool!,
    }).then(() => {});
    return Promise.resolve({
      listening: [{ transport: "udp", hostname: ctx.hostname, port: server.port }],
      closed: Promise.all([server.done, joined]).then(() => {}),
      status: () => ({ ...server.status(), pool: pool && { ...pool } }),
    });
  },
};
