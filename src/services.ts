/**
 * The list of services `bitclone node` hosts, in start order: the layer above the protocols and
 * below the command line. A new protocol adds one line here.
 *
 * The status service comes last, so that it reports every other service from its first request.
 * The LSP port (UDP 9999) hosts the miner server; the LSP echo service (`src/lsp/service_deno.ts`)
 * stays available for tools and tests but is not started by the node.
 *
 * @module
 */
import { peerService } from "./bitclone/mod.ts";
import { kvService } from "./kv/mod.ts";
import { lrp2pService } from "./lrp2p/mod.ts";
import { minerService } from "./miner/mod.ts";
import { statusService } from "./status/mod.ts";
import { trackerService } from "./tracker/mod.ts";
import type { ServiceDefinition } from "./node/mod.ts";

/**
 * Every service of a full node.
 *
 * @example
 * ```ts
 * import { NODE_SERVICES } from "./services.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(NODE_SERVICES.map((s) => s.name), ["peer", "miner", "tracker", "kv", "lrp2p", "status"]);
 * ```
 */
export const NODE_SERVICES: readonly ServiceDefinition[] = [
  peerService,
  minerService,
  trackerService,
  kvService,
  lrp2pService,
  statusService,
];
