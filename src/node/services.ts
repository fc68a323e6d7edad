/**
 * The services `bitclone node` hosts, in start order. Each protocol adds its service here.
 *
 * @module
 */
import { lspEchoService } from "../lsp/service.ts";
import type { ServiceDefinition } from "./service.ts";

/**
 * Every service of a full node.
 *
 * @example
 * ```ts
 * import { NODE_SERVICES } from "./services.ts";
 * console.assert(NODE_SERVICES.some((s) => s.name === "lsp"));
 * ```
 */
export const NODE_SERVICES: readonly ServiceDefinition[] = [lspEchoService];
