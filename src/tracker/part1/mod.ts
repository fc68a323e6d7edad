/**
 * Part 1 of the CS457 tracker protocol (spec §2): a tracker holds a shuffled list of
 * `(SEQNUM, WORD)` entries; a client asks `REGISTER` for the size, then each list position with a
 * pickled integer, and sorts the words by SEQNUM into a message.
 *
 * - Sans-I/O cores: {@linkcode Part1ServerConn} (one tracker connection) and
 *   {@linkcode Part1ClientConn} (one client exchange), over {@linkcode frameRequest} /
 *   {@linkcode frameReply} (where a message ends) and the exact bytes of `wire.ts`;
 *   {@linkcode answerRequest} decides a reply from a {@linkcode Part1Db}.
 * - The database: {@linkcode Part1Db}, its file format ({@linkcode parseDbFile},
 *   {@linkcode formatDbFile}).
 * - Stream cores (the `StreamCore` contract of `src/core/`): {@linkcode Part1ServerCore} (the
 *   tracker: a table of connections, capacity, linger, stats, exchange events) and
 *   {@linkcode Part1ClientCore} (one client exchange).
 * - Over TCP, those cores on the one TCP driver: {@linkcode serveTrackerPart1},
 *   {@linkcode exchangePart1}, {@linkcode fetchPart1}.
 *
 * @example Fetch the message from a tracker on a free port
 * ```ts ignore
 * import { fetchPart1, serveTrackerPart1 } from "./mod.ts";
 * const server = serveTrackerPart1({ port: 0 });
 * const { message } = await fetchPart1(`127.0.0.1:${server.port}`, { protocol: 2 });
 * console.log(message);
 * await server.close();
 * ```
 *
 * @module
 */

export { answerRequest } from "./answer.ts";
export { type AssembledMessage, assembleMessage } from "./assemble.ts";
export {
  exchangePart1,
  type ExchangePart1Options,
  fetchPart1,
  type FetchPart1Options,
  type FetchPart1Result,
  TrackerClientError,
  type TrackerClientErrorReason,
} from "./client_deno.ts";
export { Part1ClientCore, type Part1ClientOutcome } from "./client_core.ts";
export {
  Part1ClientConn,
  type Part1ClientConnOptions,
  type Part1ClientConnState,
  type Part1ClientEvent,
} from "./client_conn.ts";
export { checkWord, MAX_DB_ENTRIES, MAX_WORD_LENGTH, Part1Db, type Part1Entry } from "./db.ts";
export { formatDbFile, MAX_DB_FILE_BYTES, parseDbFile } from "./db_file.ts";
export {
  frameReply,
  type FrameReplyOptions,
  frameRequest,
  type FrameRequestOptions,
  type Part1InvalidReason,
  type Part1ReplyFailure,
  type Part1Request,
  type ReplyFrame,
  type RequestFrame,
} from "./framing.ts";
export {
  describeExchange,
  HARD_MARGIN_MS,
  LINGER_MAX_BYTES,
  type Part1Exchange,
  Part1ServerCore,
  type Part1ServerCoreOptions,
  type Part1ServerStats,
} from "./server_core.ts";
export {
  readPart1DbFile,
  serveTrackerPart1,
  type ServeTrackerPart1Options,
  type TrackerPart1Server,
} from "./server_deno.ts";
export {
  Part1ServerConn,
  type Part1ServerConnOptions,
  type Part1ServerConnState,
  type Part1ServerEvent,
} from "./server_conn.ts";
export {
  BAD_REQUEST,
  encodeReply,
  encodeRequest,
  ERROR_REPLY,
  interpretReply,
  MAX_MESSAGE_BYTES,
  type Part1Query,
  type Part1Reply,
  type Part1RequestProtocol,
  REGISTER_REQUEST,
} from "./wire.ts";
export { DEFAULT_DB, DEFAULT_DB_TEXT } from "./default_db.ts";
