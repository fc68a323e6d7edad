/**
 * The services `bitclone node` hosts, in start order. Each protocol adds its service here.
 *
 * The LSP port (UDP 9999) hosts the miner server; the LSP echo service (`src/lsp/service.ts`)
 * stays available for tools and tests but is not started by the node.
 *
 * @module
 */
import { peerService } from "../bitclone/service.ts";
import { minerService } from "../miner/service.ts";
import { trackerService } from "../tracker/service.ts";
import type { ServiceDefinition } from "./service.ts";

/**
 * Every service of a full node.
 *
 * @example
 * ```ts
 * import { NODE_SERVICES } from "./services.ts";
 * import assert from "node:assert/strict";
 * assert.ok(NODE_SERVICES.some((s) => s.name === "miner"));
 * ```
 */
export const NODE_SERVICES: readonly ServiceDefinition[] = [
  peerService,
  minerService,
  trackerService,
];
