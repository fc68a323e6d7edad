/**
 * BitClone, the peer-to-peer protocol of COS 460/540 Projects 3 and 4 (spec
 * `bitclone.md`): the sans-I/O protocol core of one peer connection.
 *
 * - {@linkcode PeerConn}: one connection — handshake, keep-alive, `getaddr`/`addr`, `reject` and
 *   `message`, with the per-connection hardening rules of Part C. Bytes and time in; lines to
 *   send, events and a timer deadline out.
 * - {@linkcode LineFramer}: bounded CR LF / LF line framing for any chunking.
 * - {@linkcode decodeMessage} / {@linkcode encodeMessage} / {@linkcode formatMessage}: the
 *   total, typed message codec (Project 4 lines are recognised and passed raw).
 * - {@linkcode parsePeerAddress} / {@linkcode formatPeerAddress} / {@linkcode addressScope} /
 *   {@linkcode networkGroup}: peer addresses (`ip:port`, IPv6 bracketed).
 *
 * - {@linkcode PeerNode}: the node core — connection manager, address book, gossip and
 *   persistence over many connections, a `StreamCore` of `src/core/` with its own `save` and
 *   `log` actions ({@linkcode PeerNodeOwnAction}); the one TCP driver and the simulator's stream
 *   host run it.
 * - {@linkcode AddressBook}: the scaled-down addrman of spec §C.7.
 * - {@linkcode parsePeersFile} / {@linkcode formatPeersFile}: the `peers.json` file.
 *
 * @example A dialer and a listener, lines passed by hand
 * ```ts
 * import { PeerConn, type PeerEvent } from "./mod.ts";
 * import { Prng } from "../util/prng.ts";
 * import assert from "node:assert/strict";
 * const alice = { ip: "198.51.100.5", v6: false, port: 4000 };
 * const bob = { ip: "198.51.100.7", v6: false, port: 4001 };
 * const dialer = new PeerConn({
 *   role: "outbound", prng: Prng.seeded(1), now: 0, remoteAddress: bob, localAddress: alice,
 * });
 * const listener = new PeerConn({
 *   role: "inbound", prng: Prng.seeded(2), now: 0, versionReplyDelayMs: 0,
 *   remoteAddress: { ...alice, port: 51234 }, localAddress: bob,
 * });
 * const events: PeerEvent[] = [];
 * for (let round = 0; round < 4; round++) {
 *   for (let t = dialer.pollTransmit(); t; t = dialer.pollTransmit()) listener.receiveData(t, 1);
 *   for (let t = listener.pollTransmit(); t; t = listener.pollTransmit()) dialer.receiveData(t, 1);
 *   for (let e = listener.pollEvent(); e; e = listener.pollEvent()) {
 *     events.push(e);
 *     if (e.type === "getaddrReceived") listener.sendAddr([{ time: 1700000000, address: bob }]);
 *   }
 * }
 * const got = [] as PeerEvent[];
 * for (let e = dialer.pollEvent(); e; e = dialer.pollEvent()) got.push(e);
 * assert.equal(events[0].type, "established");
 * assert.ok(got.some((e) => e.type === "addrReceived"));
 * ```
 *
 * @module
 */
export {
  type AddressScope,
  addressScope,
  formatPeerAddress,
  type IpAddress,
  networkGroup,
  parseIp,
  parsePeerAddress,
  type PeerAddress,
  samePeerAddress,
} from "./address.ts";
export { LineFramer, type LineFramerOptions, type LineResult, MAX_LINE_BYTES } from "./framing.ts";
export {
  type AddrEntry,
  type AddrMessage,
  type BitcloneMessage,
  BLOCK_LAYER_COMMANDS,
  type BlockLayerCommand,
  type BlockLayerMessage,
  type DecodeError,
  type DecodeErrorKind,
  decodeMessage,
  type DecodeOptions,
  type DecodeResult,
  encodeMessage,
  formatMessage,
  MAX_ADDR_ENTRIES,
  MAX_LINE_NONBLOCK_BYTES,
  MAX_NONCE_BYTES,
  MAX_USER_AGENT_BYTES,
  parseTime,
  parseUint,
  randomNonce,
  sanitizeText,
  truncateUtf8,
  type VersionMessage,
} from "./messages.ts";
export {
  type Millis,
  type NonceSet,
  type PeerCloseReason,
  PeerConn,
  type PeerConnOptions,
  type PeerConnState,
  type PeerConnStats,
  type PeerEvent,
  type PeerInfo,
  type PeerRole,
  type ReceivedAddr,
  type RejectFields,
} from "./peer_conn.ts";
export {
  type AddOptions,
  AddressBook,
  type AddressBookOptions,
  type AddResult,
  type BookEntry,
  type BookTable,
  saneTime,
  type SelectOptions,
  sipHash24,
} from "./address_book.ts";
export {
  formatPeersFile,
  parsePeersFile,
  PEERS_FILE_MAX_ENTRIES,
  type PeersFileResult,
} from "./peers_file.ts";
export {
  PeerNode,
  type PeerNodeAction,
  type PeerNodeConnection,
  type PeerNodeOptions,
} from "./peer_node.ts";
export type { PeerNodeOwnAction, PeerNodeStatus, SavedPeer } from "./peer_node_types.ts";
export {
  DEFAULT_DATA_DIR,
  DEFAULT_PEER_PORT,
  DEFAULT_SEEDS_FILE,
  type PeerConnectionStatus,
  type PeerServiceStatus,
  peersFileIn,
  startPeerNode,
  type StartPeerNodeOptions,
} from "./node_runner_deno.ts";
export { peerService } from "./service.ts";
