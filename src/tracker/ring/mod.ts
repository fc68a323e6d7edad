/**
 * Part 2 of the CS457 tracker (spec §3): a ring of peers that replicates a five-word table.
 *
 * - {@linkcode RingTracker} and {@linkcode RingPeer} are sans-I/O cores over the
 *   `StreamCore` contract of `src/core/` (inputs with `now`, actions and events polled,
 *   `nextTimeout()`), run by the one TCP driver,
 *   speaking the originals' protocol-0 pickles byte for byte;
 * - {@linkcode serveRingTracker} and {@linkcode startRingPeer} run them on real TCP ports;
 * - `messages.ts` builds and parses the tuples.
 *
 * @example A tracker and a peer on free ports
 * ```ts ignore
 * import { serveRingTracker, startRingPeer } from "./mod.ts";
 * const controller = new AbortController();
 * const tracker = serveRingTracker({ port: 0, signal: controller.signal });
 * const peer = startRingPeer({
 *   handle: "alice", port: 0, trackerPort: tracker.port, signal: controller.signal,
 *   onEvent: (e) => console.log(e),
 * });
 * // ... later
 * controller.abort();
 * await Promise.all([tracker.done, peer.done]);
 * ```
 *
 * @module
 */

export {
  asctime,
  DEFAULT_RING_ITEMS,
  echoReply,
  echoRequest,
  encodeMessage,
  handleKey,
  MAX_RING_STRING_CHARS,
  type Neighbour,
  parsePeerRequest,
  parseQueryResult,
  parseRegisterReply,
  parseTrackerRequest,
  peerBadRequest,
  type PeerRequest,
  pingReply,
  pingRequest,
  queryRequest,
  type QueryResult,
  queryResult,
  regInit,
  type RegisterReply,
  registerRequest,
  type RingItem,
  type RingString,
  ringText,
  trackerNotice,
  type TrackerRequest,
  updateNbr,
  wireString,
} from "./messages.ts";
export {
  RingTracker,
  type RingTrackerEvent,
  type RingTrackerOptions,
  type RingTrackerPeer,
} from "./tracker.ts";
export {
  RingPeer,
  type RingPeerEvent,
  type RingPeerNeighbour,
  type RingPeerOptions,
  type RingPeerState,
} from "./peer.ts";
export {
  type RingTrackerServer,
  serveRingTracker,
  type ServeRingTrackerOptions,
} from "./tracker_server_deno.ts";
export { type RingPeerNode, startRingPeer, type StartRingPeerOptions } from "./peer_node_deno.ts";
