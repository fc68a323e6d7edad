/**
 * The public entry of `src/kv/`: the gossip key-value store, wire-compatible with
 * Basic_network_comms (spec `kv.md`).
 *
 * @module
 */

export { decodeMessage, encodeMessage, encodePlain } from "./codec.ts";
export {
  type KvEvent,
  KvNode,
  type KvNodeOptions,
  type KvStats,
  type PersistAction,
} from "./node_core.ts";
export { SET_OK } from "./node_requests.ts";
export { VersionedStore } from "./store.ts";
export { compareVersions } from "./version.ts";
export { MessageReader } from "./reader.ts";
export { describeKvEvent, kvEventLogger, LogThrottle, membersTable } from "./describe.ts";
export type { KvMessage, MemberInfo, Version, VersionedEntry } from "./types.ts";
export { KvClientError, kvRequest } from "./client_deno.ts";
export {
  kvEventLog,
  type KvServer,
  type RecoveryEvent,
  serveKv,
  type ServeKvOptions,
} from "./kv_deno.ts";
export { KvLog } from "./durable_log_deno.ts";
export { kvService, type KvServiceStatus } from "./service_deno.ts";
