/**
 * The public entry of `src/lrp2p/`: LRP2P, encrypted reliable streams over UDP (spec
 * `lrp2p.md`): the socket API of §7, static keys and key files, the file transfer and the
 * `bitclone node` service.
 *
 * @module
 */

export { LrpEndpoint, type LrpEndpointOptions, type LrpEvent } from "./endpoint.ts";
export { generateKeyPair, type KeyPair, keyPairFrom } from "./noise.ts";
export { LrpConnection, PeerSocket, socketListen, type SocketOptions } from "./socket_deno.ts";
export {
  fingerprint,
  formatKeyFile,
  KEY_FILE_MAGIC,
  KeyFileError,
  parseHexKey,
  parseKeyFile,
  toHex,
} from "./keys.ts";
export { loadKey, loadOrCreateKey, saveKey } from "./keys_deno.ts";
export { decodeOffer, decodeReply, encodeOffer, encodeReply, fileNameProblem } from "./transfer.ts";
export {
  finishConnection,
  receiveFile,
  sendFile,
  type ServeEvent,
  serveFiles,
  TransferError,
  type TransferProgress,
  type TransferResult,
} from "./transfer_deno.ts";
export { lrp2pService } from "./service_deno.ts";
