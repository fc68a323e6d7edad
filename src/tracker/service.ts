/**
 * The Part 1 tracker as a `bitclone node` service (TCP 7777).
 *
 * Config file settings (`services.tracker`), all optional:
 * - `db`: path of a database file (format: `part1/db_file.ts`; default: the built-in database);
 * - `maxProtocol` (0..5, default 5; 2 refuses what Python 2 cannot load, like the original);
 * - `requestTimeoutMs` (default 5000), `maxRequestBytes` (default 1024), `maxConnections`
 *   (default 256), `lingerMs` (default 1000).
 *
 * @module
 */
import { type ServiceDefinition, ServiceSettingsError, ServiceStartError } from "../node/mod.ts";
import { DEFAULT_DB } from "./part1/mod.ts";
import type { Part1Db } from "./part1/mod.ts";
import { describeExchange, readPart1DbFile, serveTrackerPart1 } from "./part1/mod.ts";

/** The tracker service's snapshot for the status service (`tracker` in `/status.json`). */
export type TrackerServiceStatus = {
  /** The TCP port it listens on. */
  port: number;
  /** Entries in the database it serves. */
  entries: number;
  /** Connections accepted. */
  accepted: number;
  /** Connections held now. */
  active: number;
  /** Requests answered with the size or an item. */
  served: number;
  /** Requests answered with the error reply (not a request it knows). */
  invalid: number;
  /** Connections closed at once because too many were held. */
  refused: number;
  /** Connections that ended without a reply delivered. */
  failed: number;
};

const NUMERIC = [
  "maxProtocol",
  "requestTimeoutMs",
  "maxRequestBytes",
  "maxConnections",
  "lingerMs",
] as const;

function trackerNumbers(
  settings: Readonly<Record<string, unknown>>,
): Partial<Record<(typeof NUMERIC)[number], number>> {
  const numbers: Partial<Record<(typeof NUMERIC)[number], number>> = {};
  for (const key of NUMERIC) {
    const value = settings[key];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new ServiceSettingsError("tracker", key, "an integer");
    }
    numbers[key] = value;
  }
  return numbers;
}

/**
 * The node's Part 1 tracker service.
 *
 * @example The service's name and port
 * ```ts
 * import { trackerService } from "./service.ts";
 * import assert from "node:assert/strict";
 * assert.equal(trackerService.name, "tracker");
 * assert.equal(trackerService.defaultPort, 7777);
 * ```
 */
export const trackerService: ServiceDefinition = {
  name: "tracker",
  description: "CS457 tracker, Part 1",
  transport: "tcp",
  defaultPort: 7777,
  checkSettings(settings) {
    trackerNumbers(settings);
    if (settings.db !== undefined && typeof settings.db !== "string") {
      throw new ServiceSettingsError("tracker", "db", "a file path");
    }
  },
  async start(ctx) {
    const settings = ctx.settings;
    trackerService.checkSettings!(settings);
    const numbers = trackerNumbers(settings);
    let db: Part1Db = DEFAULT_DB;
    if (settings.db !== undefined) {
      try {
        db = await readPart1DbFile(settings.db as string);
      } catch (err) {
        throw new ServiceStartError("tracker", (err as Error).message, { cause: err });
      }
    }
    let server;
    try {
      server = serveTrackerPart1({
        ...numbers,
        hostname: ctx.hostname,
        port: ctx.port,
        db,
        signal: ctx.signal,
        serviceName: "tracker",
        // Asked once: a logger's own check costs microseconds per call (per connection here).
        onExchange: ctx.log.isEnabledFor("debug")
          ? (e) => ctx.log.debug("{exchange}", { exchange: describeExchange(e) })
          : undefined,
      });
    } catch (err) {
      if (err instanceof RangeError) throw new ServiceStartError("tracker", err.message);
      throw err;
    }
    ctx.log.info("serving {n} entries", { n: db.size });
    const port = server.port, stats = server.stats;
    return {
      listening: [{ transport: "tcp", hostname: ctx.hostname, port }],
      closed: server.done,
      status(): TrackerServiceStatus {
        const s = stats();
        return {
          port,
          entries: db.size,
          accepted: s.accepted,
          active: s.active,
          served: s.replies.size + s.replies.item,
          invalid: s.replies.error,
          refused: s.refused,
          failed: s.failed,
        };
      },
    };
  },
};
