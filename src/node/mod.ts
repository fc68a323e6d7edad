/**
 * The public entry of `src/node/`: what other folders may import from it.
 *
 * @module
 */

export { ConfigError, loadNodeConfig, type NodeConfig } from "./config.ts";
export { checkWritable, writeFileAtomic } from "./files.ts";
export { bindError, formatListen, listenTcp, listenUdp } from "./listen.ts";
export { NodeError, startNode } from "./node.ts";
export {
  type ListenAddress,
  type NodeView,
  type ServiceDefinition,
  type ServiceFlag,
  ServiceSettingsError,
  ServiceStartError,
  type ServiceState,
  type ServiceStatus,
  type ServiceView,
} from "./service.ts";
export { shutdownSignal } from "./shutdown.ts";
