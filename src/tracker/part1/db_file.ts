/**
 * The database file of `bitclone tracker serve --db FILE`: UTF-8 text, one entry per line, in list
 * order (the first entry line is list position 0).
 *
 * ```text
 * # Comment lines start with '#'; blank lines are ignored.
 * # <SEQNUM> <WORD>
 * 3 fox
 * 0 The
 * 2 brown
 * 1 quick
 * ```
 *
 * - An entry line is a SEQNUM (decimal digits, no sign), then spaces or tabs, then the word: the
 *   rest of the line with surrounding white space removed. Leading white space is allowed.
 * - The SEQNUMs of an `n`-entry file are `0..n-1`, each once; `1 <= n <= 4096`.
 * - A word has no control characters (tabs included), at most 256 characters, and its reply must
 *   fit in 1024 bytes. ASCII words go on the wire as py2 str, exactly like the original; other
 *   words go as text, which Python 2 and 3 clients both load.
 * - Lines end with LF or CRLF; a UTF-8 byte order mark is skipped; the file is at most 1 MiB.
 *
 * The words sorted by SEQNUM, joined with single spaces, are the message `tracker fetch` prints.
 *
 * @module
 */

import { checkWord, MAX_DB_ENTRIES, Part1Db, type Part1Entry } from "./db.ts";

/**
 * The largest database file accepted, in bytes.
 *
 * @example The file size limit
 * ```ts
 * import { MAX_DB_FILE_BYTES } from "./db_file.ts";
 * import assert from "node:assert/strict";
 * assert.equal(MAX_DB_FILE_BYTES, 1 << 20);
 * ```
 */
export const MAX_DB_FILE_BYTES = 1 << 20;

/**
 * Parses a database file (see the module documentation).
 *
 * @param contents The file's bytes (decoded as strict UTF-8) or text.
 * @param source The file's name, for messages.
 * @returns The database.
 * @throws {SyntaxError} When the file breaks a rule; the message names the line:
 * `Cannot parse db.txt: line 3: SEQNUM 7 is out of range 0..3`.
 *
 * @example A four-word file stored out of order
 * ```ts
 * import { parseDbFile } from "./db_file.ts";
 * import assert from "node:assert/strict";
 * const db = parseDbFile("# demo\n3 fox\n0 The\n2 brown\n1 quick\n");
 * assert.equal(db.size, 4);
 * assert.equal(db.at(0)?.word, "fox");
 * assert.equal(db.message, "The quick brown fox");
 * ```
 */
export function parseDbFile(contents: string | Uint8Array, source = "the db file"): Part1Db {
  const fail = (line: number | undefined, message: string): never => {
    throw new SyntaxError(
      `Cannot parse ${source}: ${line === undefined ? "" : `line ${line}: `}${message}`,
    );
  };
  let text: string;
  if (contents instanceof Uint8Array) {
    if (contents.length > MAX_DB_FILE_BYTES) {
      fail(undefined, `more than ${MAX_DB_FILE_BYTES} bytes`);
    }
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(contents);
    } catch {
      return fail(undefined, "not valid UTF-8");
    }
  } else if (typeof contents === "string") {
    text = contents.startsWith("\ufeff") ? contents.slice(1) : contents;
    if (text.length > MAX_DB_FILE_BYTES) {
      fail(undefined, `more than ${MAX_DB_FILE_BYTES} characters`);
    }
  } else {
    throw new TypeError("Cannot parse a db file: contents must be a string or bytes");
  }
  const entries: Part1Entry[] = [];
  const lineOf: number[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const m = /^(\d+)[ \t]+(.*)$/.exec(trimmed);
    if (!m) fail(lineNo, "expected '<SEQNUM> <WORD>'");
    const [, digits, rest] = m!;
    if (digits.length > 9) fail(lineNo, `SEQNUM ${digits} is too large`);
    const word = rest.trim();
    const why = checkWord(word);
    if (why !== undefined) fail(lineNo, `the word ${why}`);
    if (entries.length >= MAX_DB_ENTRIES) fail(lineNo, `more than ${MAX_DB_ENTRIES} entries`);
    entries.push({ seq: Number(digits), word });
    lineOf.push(lineNo);
  }
  if (entries.length === 0) fail(undefined, "no entries");
  const lineOfSeq = new Map<number, number>();
  entries.forEach((e, position) => {
    if (e.seq >= entries.length) {
      fail(lineOf[position], `SEQNUM ${e.seq} is out of range 0..${entries.length - 1}`);
    }
    const first = lineOfSeq.get(e.seq);
    if (first !== undefined) fail(lineOf[position], `SEQNUM ${e.seq} repeats line ${first}`);
    lineOfSeq.set(e.seq, lineOf[position]);
  });
  try {
    return new Part1Db(entries);
  } catch (err) {
    const message = (err as Error).message.replace(/^Cannot build the db: /, "");
    const position = /entry (\d+)/.exec(message);
    return fail(position ? lineOf[Number(position[1])] : undefined, message);
  }
}

/**
 * Writes a database in the file format, with an optional comment header.
 *
 * @param db The database.
 * @param comment Text for `#` comment lines at the top (split on newlines).
 * @returns The file's text (LF line ends, a final newline).
 *
 * @example A round trip
 * ```ts
 * import { formatDbFile, parseDbFile } from "./db_file.ts";
 * import { Part1Db } from "./db.ts";
 * import assert from "node:assert/strict";
 * const db = new Part1Db([{ seq: 1, word: "world" }, { seq: 0, word: "hello" }]);
 * const text = formatDbFile(db, "greeting");
 * assert.equal(text, "# greeting\n1 world\n0 hello\n");
 * assert.equal(parseDbFile(text).message, "hello world");
 * ```
 */
export function formatDbFile(db: Part1Db, comment?: string): string {
  const head = comment === undefined
    ? ""
    : comment.split("\n").map((line) => `# ${line}`.trimEnd() + "\n").join("");
  return head + db.entries.map((e) => `${e.seq} ${e.word}\n`).join("");
}
