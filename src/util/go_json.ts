/**
 * A lenient scanner for one JSON object, read the way Go's `encoding/json` reads an object into a
 * struct: the top-level members in text order (duplicates included, so applying them in order
 * gives Go's "last key wins"), and Go's case-insensitive key matching (ASCII letters, plus `ſ`
 * folding with `s` and the Kelvin sign `K` with `k`).
 *
 * The scanner only finds where things start and end: it checks the object's structure (braces,
 * quotes, colons, commas, nesting depth) but not the grammar inside values (numbers, literals,
 * escapes). Callers validate the text first — `JSON.parse` is as strict as Go's syntax — and then
 * read the values they care about at the offsets their visitor receives. (Reading keys from
 * `JSON.parse`'s object instead would lose duplicates and inherit V8's escaped-key bug,
 * nodejs/node#63785.) Pure: no I/O, never throws on bad text; only misuse (a bad `maxDepth`, bad
 * field names) throws.
 *
 * @example Reading members by Go's rules
 * ```ts
 * import { GO_MAX_NESTING_DEPTH, goFieldMatcher, scanGoObject } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * const text = '{"type":1,"Size":2,"TYPE":3}';
 * const fieldOf = goFieldMatcher(["Type", "Size"]);
 * const values = [0, 0];
 * const ok = scanGoObject(text, GO_MAX_NESTING_DEPTH, (key, start, end) => {
 *   const field = fieldOf(key);
 *   if (field >= 0) values[field] = Number(text.slice(start, end));
 * });
 * assert.ok(ok);
 * assert.equal(values[0], 3);
 * assert.equal(values[1], 2); // the last "type" wins
 * ```
 *
 * @module
 */

/**
 * Go's `encoding/json` nesting limit: a value nested deeper than this many containers (objects
 * and arrays, the outermost one counted) is a syntax error there.
 *
 * @example Go's limit
 * ```ts
 * import { GO_MAX_NESTING_DEPTH } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(GO_MAX_NESTING_DEPTH, 10000);
 * ```
 */
export const GO_MAX_NESTING_DEPTH = 10000;

/**
 * Whether a UTF-16 code unit is JSON whitespace: space, tab, line feed or carriage return (the
 * only whitespace Go and `JSON.parse` accept).
 *
 * @param c A character code, as from `charCodeAt()`.
 * @returns True for the four JSON whitespace characters.
 *
 * @example A tab is whitespace, a no-break space is not
 * ```ts
 * import { isJsonSpace } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isJsonSpace(0x09));
 * assert.equal(isJsonSpace(0xa0), false);
 * ```
 */
export function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Skips JSON whitespace.
 *
 * @param text The JSON text.
 * @param i Where to start.
 * @returns The index of the first non-whitespace character at or after `i`, or `text.length`.
 *
 * @example Skipping to a colon
 * ```ts
 * import { skipJsonSpace } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(skipJsonSpace('"a" \n: 1', 3), 5);
 * ```
 */
export function skipJsonSpace(text: string, i: number): number {
  while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
  return i;
}

/**
 * Finds the end of the string literal whose opening quote is at `i`. Escapes are skipped, not
 * checked.
 *
 * @param text The JSON text; `text[i]` must be `"`.
 * @param i The index of the opening quote.
 * @returns The index just after the closing quote, or -1 when the string is unterminated.
 *
 * @example An escaped quote does not end the string
 * ```ts
 * import { endOfJsonString } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(endOfJsonString('"a\\"b" ', 0), 6);
 * assert.equal(endOfJsonString('"open', 0), -1);
 * ```
 */
export function endOfJsonString(text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c === 0x5c) i++; // skip the escaped character
  }
  return -1;
}

/**
 * Finds the end of the JSON value starting at `i`: a string, a whole object or array (brackets
 * counted outside strings), or else a literal or number running up to the next `,` `}` `]` or
 * whitespace. Only the nesting is checked, not the grammar inside.
 *
 * @param text The JSON text.
 * @param i The index of the value's first character.
 * @param depth How many containers enclose the value (1 for a member of a top-level object).
 * @param maxDepth The deepest nesting allowed, enclosing containers included; by default Go's
 * {@linkcode GO_MAX_NESTING_DEPTH}.
 * @returns The index just after the value; -1 when a string or container is unterminated or the
 * nesting exceeds `maxDepth`. A literal may be empty (the result is then `i`).
 *
 * @example The end of an array inside an object
 * ```ts
 * import { endOfJsonValue } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * const text = '{"X":[1,"]",[2]],"Y":3}';
 * assert.equal(endOfJsonValue(text, 5, 1), 16);
 * assert.equal(endOfJsonValue(text, 5, 1, 2), -1); // [2] sits 3 containers deep
 * assert.equal(endOfJsonValue(text, 21, 1), 22);
 * ```
 */
export function endOfJsonValue(
  text: string,
  i: number,
  depth: number,
  maxDepth: number = GO_MAX_NESTING_DEPTH,
): number {
  const first = text.charCodeAt(i);
  if (first === 0x22) return endOfJsonString(text, i);
  if (first === 0x7b || first === 0x5b) {
    let level = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i = endOfJsonString(text, i);
        if (i < 0) return -1;
        continue;
      }
      if (c === 0x7b || c === 0x5b) {
        if (depth + ++level > maxDepth) return -1;
      } else if (c === 0x7d || c === 0x5d) {
        if (--level === 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x2c || c === 0x7d || c === 0x5d || isJsonSpace(c)) break;
    i++;
  }
  return i;
}

/**
 * Reads a JSON string literal (quotes included) as text. Without a backslash inside, this is just
 * the text between the quotes, so invalid UTF-8 already decoded as U+FFFD stays U+FFFD, as in Go.
 *
 * @param raw The literal, from its opening to its closing quote.
 * @returns The string's value, or `undefined` when an escape is invalid.
 *
 * @example Plain and escaped
 * ```ts
 * import { jsonStringText } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(jsonStringText('"Type"'), "Type");
 * assert.equal(jsonStringText('"\\u0054ype"'), "Type");
 * assert.equal(jsonStringText('"\\x"'), undefined);
 * ```
 */
export function jsonStringText(raw: string): string | undefined {
  if (!raw.includes("\\")) return raw.slice(1, -1);
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Receives one member of a scanned object: its key, unescaped, and where its raw value lies in
 * the text. Returning `false` stops the walk; anything else goes on to the next member.
 *
 * @example Keeping raw values, stopping at a key
 * ```ts
 * import { type GoMemberVisitor, scanGoObject } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * const text = '{"A": [1, 2], "stop": 0, "B": 3}';
 * const raws: string[] = [];
 * const visit: GoMemberVisitor = (key, valueStart, valueEnd) => {
 *   if (key === "stop") return false;
 *   raws.push(text.slice(valueStart, valueEnd));
 * };
 * assert.equal(scanGoObject(text, 10000, visit), false);
 * assert.equal(raws.join(), "[1, 2]");
 * ```
 */
export type GoMemberVisitor = (
  key: string,
  valueStart: number,
  valueEnd: number,
) => boolean | void;

/**
 * Walks a top-level JSON object (whitespace around it allowed) and hands its members to `visit`
 * in text order, duplicate keys included: applying them in order gives Go's "the last key wins".
 * Values are delimited, not validated; see the module doc. The walk is incremental: members
 * before a syntax problem have already been visited, so act on what was visited only when the
 * result is `true`.
 *
 * @param text The JSON text, best already accepted by `JSON.parse`.
 * @param maxDepth The deepest nesting allowed, the top-level object counting as 1 (Go's is
 * {@linkcode GO_MAX_NESTING_DEPTH}); `Infinity` allows any depth.
 * @param visit Called once per member, in order; returning `false` stops the walk.
 * @returns `true` when the whole text is one object and every member was visited; `false` when
 * `visit` stopped the walk, or on a syntax problem: no `{` first, a key that is not a valid
 * string, a missing `:` or `,`, an empty or unterminated value, nesting deeper than `maxDepth`,
 * or anything but whitespace after the closing `}`.
 * @throws {RangeError} When `maxDepth` is not a number of at least 1.
 *
 * @example Members in order, duplicates included
 * ```ts
 * import { GO_MAX_NESTING_DEPTH, scanGoObject } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * const text = ' {"a":1, "b":{"c":[]}, "a":null}\n';
 * const seen: string[] = [];
 * const ok = scanGoObject(text, GO_MAX_NESTING_DEPTH, (key, start, end) => {
 *   seen.push(`${key}=${text.slice(start, end)}`);
 * });
 * assert.ok(ok);
 * assert.equal(seen.join(" "), 'a=1 b={"c":[]} a=null');
 * assert.equal(scanGoObject('{"a":1', GO_MAX_NESTING_DEPTH, () => {}), false);
 * assert.equal(scanGoObject('{"b":{"c":[]}}', 2, () => {}), false); // [] is 3 levels deep
 * ```
 */
export function scanGoObject(text: string, maxDepth: number, visit: GoMemberVisitor): boolean {
  if (!(maxDepth >= 1)) {
    throw new RangeError(`Cannot scan a JSON object: maxDepth ${maxDepth} is below 1`);
  }
  let i = skipJsonSpace(text, 0);
  if (text.charCodeAt(i) !== 0x7b) return false;
  i = skipJsonSpace(text, i + 1);
  if (text.charCodeAt(i) === 0x7d) return skipJsonSpace(text, i + 1) === text.length;
  // Each round consumes at least one character: bounded by the text length.
  for (let round = 0; round < text.length; round++) {
    if (text.charCodeAt(i) !== 0x22) return false;
    const keyEnd = endOfJsonString(text, i);
    if (keyEnd < 0) return false;
    const key = jsonStringText(text.slice(i, keyEnd));
    if (key === undefined) return false;
    i = skipJsonSpace(text, keyEnd);
    if (text.charCodeAt(i) !== 0x3a) return false;
    const valueStart = skipJsonSpace(text, i + 1);
    const valueEnd = endOfJsonValue(text, valueStart, 1, maxDepth);
    if (valueEnd <= valueStart) return false; // -1, or an empty value
    if (visit(key, valueStart, valueEnd) === false) return false;
    i = skipJsonSpace(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c === 0x7d) return skipJsonSpace(text, i + 1) === text.length;
    if (c !== 0x2c) return false;
    i = skipJsonSpace(text, i + 1);
  }
  return false;
}

/**
 * Folds a key the way Go's `encoding/json` does before comparing it with field names, as far as
 * ASCII field names can tell: `a`–`z` become `A`–`Z`, `ſ` (U+017F) becomes `S` and the Kelvin
 * sign (U+212A) becomes `K`; everything else is kept.
 *
 * @param key The key (unescaped).
 * @returns The folded key; two keys match the same ASCII field name when their folds are equal.
 *
 * @example Go's special folds
 * ```ts
 * import { goFoldName } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(goFoldName("ſeqNum"), "SEQNUM");
 * assert.equal(goFoldName("chec\u212Asum"), "CHECKSUM");
 * assert.equal(goFoldName("ı"), "ı"); // dotless i does not fold with i in Go
 * ```
 */
export function goFoldName(key: string): string {
  let folded = "";
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const f = foldCode(c);
    folded += f === c ? key[i] : String.fromCharCode(f);
  }
  return folded;
}

/** Go's fold of one UTF-16 unit, as far as ASCII field names can tell (see goFoldName()). */
function foldCode(c: number): number {
  if (c >= 0x61 && c <= 0x7a) return c - 0x20;
  if (c === 0x17f) return 0x53; // ſ folds with s and S
  if (c === 0x212a) return 0x4b; // the Kelvin sign folds with k and K
  return c;
}

/** Whether `key` folds to `folded`, an already folded name; allocates nothing. */
function foldsTo(key: string, folded: string): boolean {
  if (key.length !== folded.length) return false;
  for (let i = 0; i < key.length; i++) {
    if (foldCode(key.charCodeAt(i)) !== folded.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Whether Go's decoder would store a member with this key into a field of this (ASCII) name.
 *
 * @param key The member's key (unescaped, as a {@linkcode GoMemberVisitor} receives it).
 * @param fieldName The field's JSON name, in ASCII.
 * @returns True when the key equals the name under Go's case folding.
 *
 * @example Case-insensitive, with Go's folds
 * ```ts
 * import { goKeyEquals } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * assert.ok(goKeyEquals("connid", "ConnID"));
 * assert.ok(goKeyEquals("ſize", "Size"));
 * assert.equal(goKeyEquals("Conn_ID", "ConnID"), false);
 * ```
 */
export function goKeyEquals(key: string, fieldName: string): boolean {
  return foldsTo(key, goFoldName(fieldName));
}

const FIELD_NAME = /^[\x21-\x7e]+$/;

/**
 * Builds a function mapping a key to the index of the field Go would store it in, for a struct
 * with these field names: {@linkcode goKeyEquals} against each name, but with one lookup.
 *
 * @param fieldNames The fields' JSON names: printable ASCII, distinct under Go's folding.
 * @returns A function from an (unescaped) key to its field's index in `fieldNames`, or -1.
 * @throws {TypeError} When a name is not a non-empty printable ASCII string.
 * @throws {RangeError} When two names fold alike (Go would need its exact-match rule).
 *
 * @example Matching keys of the LSP message
 * ```ts
 * import { goFieldMatcher } from "./go_json.ts";
 * import assert from "node:assert/strict";
 * const fieldOf = goFieldMatcher(["Type", "ConnID", "SeqNum"]);
 * assert.equal(fieldOf("seqnum"), 2);
 * assert.equal(fieldOf("CONNID"), 1);
 * assert.equal(fieldOf("Seq"), -1);
 * ```
 */
export function goFieldMatcher(fieldNames: readonly string[]): (key: string) => number {
  const folded: string[] = [];
  // byLength[n]: the indexes of the names of length n. ſ and the Kelvin sign are one UTF-16 unit
  // each, so a key can only match a name of its own length.
  const byLength: (number[] | undefined)[] = [];
  for (let index = 0; index < fieldNames.length; index++) {
    const name = fieldNames[index];
    if (typeof name !== "string" || !FIELD_NAME.test(name)) {
      throw new TypeError(`Cannot match Go fields: ${String(name)} is not a printable ASCII name`);
    }
    const f = goFoldName(name);
    const other = folded.indexOf(f);
    if (other >= 0) {
      throw new RangeError(
        `Cannot match Go fields: ${name} and ${fieldNames[other]} fold to the same name`,
      );
    }
    folded.push(f);
    (byLength[name.length] ??= []).push(index);
  }
  return (key) => {
    const candidates = byLength[key.length];
    if (candidates === undefined) return -1;
    for (let c = 0; c < candidates.length; c++) {
      if (foldsTo(key, folded[candidates[c]])) return candidates[c];
    }
    return -1;
  };
}
