/**
 * The CS457 P2P tracker protocol (spec `tracker.md`): the safe pickle codec shared by both parts,
 * and Part 1 (a tracker serving a shuffled word list, and its client). Part 2 (the ring) adds its
 * exports here.
 *
 * - `pickle/`: {@linkcode decodePickle}, {@linkcode encodePickle} and the value model.
 * - `part1/`: {@linkcode serveTrackerPart1}, {@linkcode fetchPart1}, the stream cores
 *   {@linkcode Part1ServerCore} / {@linkcode Part1ClientCore} over the sans-I/O cores
 *   {@linkcode Part1ServerConn} / {@linkcode Part1ClientConn}, and the database
 *   ({@linkcode Part1Db}, {@linkcode parseDbFile}, {@linkcode DEFAULT_DB}).
 *
 * @example Serve Part 1 and fetch its message
 * ```ts ignore
 * import { fetchPart1, serveTrackerPart1 } from "./mod.ts";
 * const server = serveTrackerPart1({ port: 0 });
 * console.log((await fetchPart1(`127.0.0.1:${server.port}`)).message);
 * await server.close();
 * ```
 *
 * @module
 */

export * from "./pickle/mod.ts";
export * from "./part1/mod.ts";
export { DEFAULT_DB, DEFAULT_DB_TEXT } from "./part1/mod.ts";
export { trackerService, type TrackerServiceStatus } from "./service.ts";
