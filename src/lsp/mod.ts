/**
 * LSP, the Live Sequence Protocol of CMU 15-440/640 Project 1: reliable, ordered, integrity-checked
 * messages over UDP, wire-exact with the Go reference.
 *
 * - {@linkcode connect} and {@linkcode listen}: the client and server API over real sockets.
 * - {@linkcode LspEndpoint}: the sans-I/O core, for the simulator and for stacking protocols on top.
 * - {@linkcode encodeMessage} / {@linkcode decodeMessage} and {@linkcode checksum}: the wire format.
 *
 * @example Echo one message
 * ```ts ignore
 * import { connect, listen } from "./mod.ts";
 * const server = listen(0, { hostname: "127.0.0.1" });
 * const client = await connect(`127.0.0.1:${server.port}`);
 * client.write(new TextEncoder().encode("hi"));
 * const { connId, payload } = await server.read();
 * server.write(connId, payload);
 * console.log(new TextDecoder().decode(await client.read()));
 * await client.close();
 * await server.close();
 * ```
 *
 * @module
 */
export { connect, type ConnectOptions, LspClient } from "./client_deno.ts";
export { listen, type ListenOptions, LspServer, type LspServerMessage } from "./server_deno.ts";
export { type LspClientOptions, LspEndpoint, type LspServerOptions } from "./endpoint.ts";
export { type LspEvent, type LspStats } from "./conn.ts";
export {
  LspConnectError,
  LspConnectionError,
  type LspConnectionErrorReason,
  LspPayloadTooLargeError,
} from "./errors.ts";
export { DEFAULT_MAX_INFLIGHT_BYTES, defaultParams, type LspParams, lspParams } from "./params.ts";
export {
  decodeMessage,
  encodedLength,
  encodeMessage,
  type LspMessage,
  MAX_DATAGRAM_BYTES,
  MAX_PAYLOAD_BYTES,
  MsgType,
} from "./wire.ts";
export { checksum } from "./checksum.ts";
export { echoLoop } from "./echo.ts";
