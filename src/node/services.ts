/**
 * The services `bitclone node` hosts, in start order. Each protocol adds its service here.
 *
 * @module
 */
import type { ServiceDefinition } from "./service.ts";

/**
 * Every service of a full node.
 *
 * @example
 * ```ts
 * import { NODE_SERVICES } from "./services.ts";
 * console.assert(Array.isArray(NODE_SERVICES));
 * ```
 */
export const NODE_SERVICES: readonly ServiceDefinition[] = [];
