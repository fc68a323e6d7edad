/**
 * The public entry of `src/node/`: what other folders may import from it.
 *
 * @module
 */

export { ConfigError, loadNodeConfig, type NodeConfig } from "./config.ts";
export { checkWritable, writeFileAtomic } from "./files.ts";
export { formatListen, listenTcp, listenUdp } from "./listen.ts";
export { NodeError, startNode } from "./node.ts";
export {
  type ServiceDefinition,
  type ServiceFlag,
  ServiceSettingsError,
  ServiceStartError,
} from "./service.ts";
export { shutdownSignal } from "./shutdown.ts";
