/**
 * The tracker's decision: which reply a request gets (spec §2.2–2.4, §2.6).
 *
 * @module
 */

import type { Part1Db } from "./db.ts";
import type { Part1Request } from "./framing.ts";
import { BAD_REQUEST, type Part1Reply } from "./wire.ts";

/**
 * Answers a request from the database like the original: `REGISTER` gets the number of entries,
 * an item request the entry at that list position (Python indexing: negative from the end), and
 * everything else (out of range, invalid) the error reply `'Bad request'`.
 *
 * @param db The database.
 * @param request The request, as the connection reported it.
 * @returns The reply to send.
 *
 * @example Size, an entry, and the error reply
 * ```ts
 * import { answerRequest } from "./answer.ts";
 * import { Part1Db } from "./db.ts";
 * import assert from "node:assert/strict";
 * const db = new Part1Db([{ seq: 1, word: "world" }, { seq: 0, word: "hello" }]);
 * assert.deepEqual(answerRequest(db, { type: "size" }), { type: "size", count: 2 });
 * const last = answerRequest(db, { type: "item", index: -1 });
 * assert.ok(last.type === "item");
 * assert.equal(last.entry.word, "hello");
 * assert.deepEqual(answerRequest(db, { type: "item", index: 2 }), {
 *   type: "error",
 *   message: "Bad request",
 * });
 * ```
 */
export function answerRequest(db: Part1Db, request: Part1Request): Part1Reply {
  switch (request.type) {
    case "size":
      return { type: "size", count: db.size };
    case "item": {
      const entry = db.at(request.index);
      return entry ? { type: "item", entry } : { type: "error", message: BAD_REQUEST };
    }
    case "invalid":
      return { type: "error", message: BAD_REQUEST };
  }
}
