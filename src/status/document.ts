/**
 * The status document (`GET /status.json`): one JSON object built from the node's view of its
 * services and each service's own snapshot, at one instant. Pure: the HTTP adapter passes the
 * time and the snapshots in. The Prometheus metrics (`metrics.ts`) and the page (`page.ts`) read
 * this same document.
 *
 * @module
 */
import type { PeerServiceStatus } from "../bitclone/mod.ts";
import type { KvServiceStatus } from "../kv/mod.ts";
import type { MinerServiceStatus } from "../miner/mod.ts";
import type { ListenAddress, ServiceState, ServiceStatus } from "../node/mod.ts";
import type { TrackerServiceStatus } from "../tracker/mod.ts";

/** The document's format version: raised when a field changes meaning or goes away. */
export const STATUS_SCHEMA = 1;

/** One service as the node sees it, with its snapshot (the input of the document). */
export interface ServiceInput {
  readonly name: string;
  readonly description: string;
  readonly state: ServiceState;
  readonly listening: readonly ListenAddress[];
  /** When it finished starting (Unix ms). */
  readonly startedAt: number;
  /** Reads its snapshot (`undefined`: it gives none); may throw. */
  readonly status: () => ServiceStatus | undefined;
}

/** Everything the document is built from. */
export interface StatusInput {
  /** The time now (Unix ms). */
  readonly now: number;
  /** bitclone's version. */
  readonly version: string;
  /** The address the node's services bind. */
  readonly hostname: string;
  /** When the node started (Unix ms). */
  readonly nodeStartedAt: number;
  /** Services not started. */
  readonly disabled: readonly string[];
  /** The services started, in start order. */
  readonly services: readonly ServiceInput[];
}

/** One service in the document. */
export type ServiceEntry = {
  /** Its name (`peer`, `miner`, `tracker`, `kv`, `lrp2p`, `status`). */
  name: string;
  /** One line saying what it is. */
  description: string;
  /** `running`, `stopping`, `stopped` or `failed`. */
  state: ServiceState;
  /** Where it listens. */
  listening: { transport: "tcp" | "udp"; hostname: string; port: number }[];
  /** Seconds since it started. */
  uptimeSec: number;
  /** Why its snapshot could not be read, when it could not. */
  error?: string;
};

/** The status service's own counters (`status` in the document). */
export type StatusServiceStatus = {
  /** The TCP port it listens on. */
  port: number;
  /** Requests answered, by path (`/`, `/status.json`, `/metrics`, `other`). */
  requests: Record<string, number>;
};

/** The whole document. */
export type StatusDocument = {
  /** {@linkcode STATUS_SCHEMA}. */
  schema: number;
  /** bitclone's version. */
  version: string;
  /** When the document was made (ISO 8601, UTC). */
  time: string;
  /** Seconds since the node started. */
  uptimeSec: number;
  /** The address the node's services bind. */
  hostname: string;
  /** Every service started, in start order. */
  services: ServiceEntry[];
  /** Services known but not started. */
  disabled: string[];
  /** The BitClone peer: connections in and out, addresses known. */
  peer: PeerServiceStatus | null;
  /** The miner server: miners, jobs, LSP connections. */
  miner: MinerServiceStatus | null;
  /** The Part 1 tracker: requests served and refused. */
  tracker: TrackerServiceStatus | null;
  /** The key-value store: members and keys. */
  kv: KvServiceStatus | null;
  /** The status service itself. */
  status: StatusServiceStatus | null;
};

/** The services whose snapshot has a section of its own in the document. */
const SECTIONS = ["peer", "miner", "tracker", "kv", "status"] as const;

const seconds = (ms: number) => Math.max(0, Math.round(ms / 100) / 10);

/**
 * Builds the document. A service whose snapshot throws is listed with the error, and its section
 * is `null`: one broken service never hides the others.
 *
 * @param input The node's view and the time.
 * @returns The document (plain JSON values).
 *
 * @example A node with one service
 * ```ts
 * import { buildStatusDocument } from "./document.ts";
 * import assert from "node:assert/strict";
 * const doc = buildStatusDocument({
 *   now: 1_700_000_010_000, version: "0.1.0", hostname: "0.0.0.0", nodeStartedAt: 1_700_000_000_000,
 *   disabled: ["kv"],
 *   services: [{
 *     name: "tracker", description: "CS457 tracker", state: "running", startedAt: 1_700_000_000_500,
 *     listening: [{ transport: "tcp", hostname: "0.0.0.0", port: 7777 }],
 *     status: () => ({ port: 7777, entries: 16, accepted: 3, active: 0, served: 2, invalid: 1, refused: 0, failed: 0 }),
 *   }],
 * });
 * assert.equal(doc.uptimeSec, 10);
 * assert.equal(doc.services[0].uptimeSec, 9.5);
 * assert.equal(doc.tracker?.served, 2);
 * assert.equal(doc.peer, null);
 * assert.equal(doc.time, "2023-11-14T22:13:30.000Z");
 * ```
 */
export function buildStatusDocument(input: StatusInput): StatusDocument {
  const doc: StatusDocument = {
    schema: STATUS_SCHEMA,
    version: input.version,
    time: new Date(input.now).toISOString(),
    uptimeSec: seconds(input.now - input.nodeStartedAt),
    hostname: input.hostname,
    services: [],
    disabled: [...input.disabled],
    peer: null,
    miner: null,
    tracker: null,
    kv: null,
    status: null,
  };
  for (const s of input.services) {
    const entry: ServiceEntry = {
      name: s.name,
      description: s.description,
      state: s.state,
      listening: s.listening.map((a) => ({
        transport: a.transport,
        hostname: a.hostname,
        port: a.port,
      })),
      uptimeSec: seconds(input.now - s.startedAt),
    };
    let snapshot: ServiceStatus | undefined;
    try {
      snapshot = s.status();
    } catch (err) {
      entry.error = err instanceof Error ? err.message : String(err);
    }
    const section = SECTIONS.find((n) => n === s.name);
    if (snapshot !== undefined && section !== undefined) {
      (doc as Record<string, unknown>)[section] = snapshot;
    }
    doc.services.push(entry);
  }
  return doc;
}

/**
 * The document as JSON text: bigints (none are expected) as decimal strings, two-space indent.
 *
 * @param doc The document.
 * @returns JSON text ending with a newline.
 *
 * @example
 * ```ts
 * import { statusJson } from "./document.ts";
 * import assert from "node:assert/strict";
 * assert.equal(statusJson({ n: 1n } as never), '{\n  "n": "1"\n}\n');
 * ```
 */
export function statusJson(doc: StatusDocument): string {
  return JSON.stringify(doc, (_k, v) => typeof v === "bigint" ? String(v) : v, 2) + "\n";
}
