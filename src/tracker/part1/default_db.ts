/**
 * The database `bitclone tracker serve` and the node's tracker use without `--db`: our own
 * 16-word message (not the original's), stored shuffled like the original's, written in the db
 * file format of `part1/db_file.ts`.
 *
 * @module
 */

import type { Part1Db } from "./db.ts";
import { parseDbFile } from "./db_file.ts";

/**
 * The default database as a db file.
 *
 * @example A db file with a comment header
 * ```ts
 * import { DEFAULT_DB_TEXT } from "./default_db.ts";
 * import assert from "node:assert/strict";
 * assert.ok(DEFAULT_DB_TEXT.startsWith("#"));
 * ```
 */
export const DEFAULT_DB_TEXT =
  `# bitclone's default Part 1 tracker database: one entry per line, in list order.
# <SEQNUM> <WORD>; the words sorted by SEQNUM form the message.
9 still
4 every
13 for
0 A
7 send
15 friends.
2 that
11 in
5 byte
14 old
1 tracker
8 it
12 pickle
3 survives
10 answers
6 you
`;

/**
 * The default database: 16 entries, SEQNUMs 0..15 in shuffled list order.
 *
 * @example Sixteen entries and their message
 * ```ts
 * import { DEFAULT_DB } from "./default_db.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_DB.size, 16);
 * assert.ok(DEFAULT_DB.message.endsWith("old friends."));
 * ```
 */
export const DEFAULT_DB: Part1Db = parseDbFile(DEFAULT_DB_TEXT, "the default db");
