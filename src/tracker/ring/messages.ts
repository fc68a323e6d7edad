/**
 * The messages of the Part 2 ring (spec §3.2–3.3): builders that give the tuples exactly as the
 * Python 2 originals pickle them (protocol 0, py2 str for command words, IPs and ASCII strings),
 * and total parsers that turn any decoded value into a typed request or reply, or `bad`.
 *
 * | Builder                 | Tuple                                                          |
 * |-------------------------|----------------------------------------------------------------|
 * | {@linkcode echoRequest}  | `('ECHO', handle)`                                            |
 * | {@linkcode echoReply}    | `('[Tracker]', 'Hi <handle>, Welcome to the network. …')`     |
 * | {@linkcode registerRequest} | `('REGISTER', handle, port)`                               |
 * | {@linkcode regInit}      | `('REG_INIT', nbr_handle, nbr_ip, nbr_port, dbsize, (seq, value))` |
 * | {@linkcode updateNbr}    | `('UPDATE_NBR', nbr_handle, nbr_ip, nbr_port)`                |
 * | {@linkcode pingRequest}  | `('PING', time_string)`                                       |
 * | {@linkcode pingReply}    | `('PING', handle)` (the reference peer sends `('ACK', handle)`) |
 * | {@linkcode queryRequest} | `('QUERY', seq)`                                              |
 * | {@linkcode queryResult}  | `('QUERY_RESULT', (seq, value))` or `('QUERY_RESULT', (None, None))` |
 * | {@linkcode trackerNotice} | `('[Tracker]', text)`, e.g. `'Bad request'`                  |
 * | {@linkcode peerBadRequest} | `('[Peer]', 'Bad request')`                                 |
 *
 * Strings keep their kind: a handle that arrived as py2 str ({@linkcode Py2Str}) goes out as py2
 * str, one that arrived as text (`string`) goes out as text ({@linkcode RingString}).
 *
 * @module
 */

import { encodePickle, Py2Str, pyText, PyTuple, type PyValue } from "../pickle/mod.ts";

/**
 * A Python string of either kind: py2 str ({@linkcode Py2Str}) or text (`string`).
 */
export type RingString = Py2Str | string;

/**
 * One item of the replicated table: `(seq, value)`.
 */
export interface RingItem {
  /** Its position in the sentence, 0-based. */
  readonly seq: number;
  /** The word. */
  readonly value: RingString;
}

/**
 * A peer's address as UPDATE_NBR and REG_INIT carry it.
 */
export interface Neighbour {
  /** The handle, in the kind it travels in. */
  readonly handle: RingString;
  /** The IP address the tracker saw. */
  readonly ip: string;
  /** The port the peer registered. */
  readonly port: number;
}

/**
 * The original Part 2 tracker's table, in its stored (shuffled) order: the k-th registrant gets
 * entry `k mod 5`. Sorted by seq the words form the sentence the peers assemble.
 *
 * @example
 * ```ts
 * import { DEFAULT_RING_ITEMS } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(DEFAULT_RING_ITEMS.length, 5);
 * assert.equal(DEFAULT_RING_ITEMS[1].seq, 2);
 * ```
 */
export const DEFAULT_RING_ITEMS: readonly RingItem[] = Object.freeze(
  ([[4, "peaks"], [2, "and"], [0, "blue"], [3, "snowy"], [1, "skies"]] as const).map((
    [seq, word],
  ) => Object.freeze({ seq, value: Py2Str.fromText(word) })),
);

/** The most characters of a handle, a word or an IP this package accepts from the wire. */
export const MAX_RING_STRING_CHARS = 256;

/**
 * The wire kind for a local string: py2 str when every character is ASCII (what a Python 2 peer
 * sends), text otherwise (spec §3.7: never non-ASCII bytes in a py2 str).
 *
 * @param text Any text.
 * @returns A {@linkcode Py2Str} for ASCII text, else the text itself.
 *
 * @example
 * ```ts
 * import { wireString } from "./messages.ts";
 * import { Py2Str } from "../pickle/mod.ts";
 * import assert from "node:assert/strict";
 * assert.ok(wireString("alice") instanceof Py2Str);
 * assert.equal(wireString("zoë"), "zoë");
 * ```
 */
export function wireString(text: string): RingString {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return text;
  }
  return Py2Str.fromText(text);
}

const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true });

/**
 * A string of either kind as text for people: a py2 str is read as UTF-8 when it is valid
 * UTF-8 (what a Python 2 terminal shows), else as Latin-1.
 *
 * @param s A handle or a word.
 * @returns Its text.
 *
 * @example
 * ```ts
 * import { ringText } from "./messages.ts";
 * import { Py2Str } from "../pickle/mod.ts";
 * import assert from "node:assert/strict";
 * assert.equal(ringText(new Py2Str(Uint8Array.of(0x7a, 0xc3, 0xab))), "zë");
 * assert.equal(ringText("bob"), "bob");
 * ```
 */
export function ringText(s: RingString): string {
  if (typeof s === "string") return s;
  if (s.isAscii) return s.text;
  try {
    return UTF8_STRICT.decode(s.bytes);
  } catch {
    return s.text;
  }
}

/**
 * The key under which Python 2 finds a handle: an ASCII py2 str equals the text with the same
 * characters; a non-ASCII py2 str equals only the same bytes.
 *
 * @param s A handle.
 * @returns A string key; equal keys mean equal handles.
 *
 * @example
 * ```ts
 * import { handleKey } from "./messages.ts";
 * import { Py2Str } from "../pickle/mod.ts";
 * import assert from "node:assert/strict";
 * assert.equal(handleKey(Py2Str.fromText("alice")), handleKey("alice"));
 * ```
 */
export function handleKey(s: RingString): string {
  if (typeof s === "string") return "t" + s;
  return s.isAscii ? "t" + s.text : "b" + s.text;
}

/**
 * Pickles a message as the originals do (protocol 0).
 *
 * @param message A tuple from one of the builders.
 * @returns The pickle, at most a few hundred bytes for the ring's messages.
 *
 * @example The `py2.p2.query` vector
 * ```ts
 * import { encodeMessage, queryRequest } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(queryRequest(1)));
 * assert.equal(text, "(S'QUERY'\np0\nI1\ntp1\n.");
 * ```
 */
export function encodeMessage(message: PyTuple): Uint8Array {
  return encodePickle(message, { protocol: 0 });
}

const s = (text: string) => Py2Str.fromText(text);

/**
 * `('ECHO', handle)`.
 *
 * @example
 * ```ts
 * import { echoRequest } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(echoRequest("alice").length, 2);
 * ```
 */
export function echoRequest(handle: RingString): PyTuple {
  return PyTuple.of(s("ECHO"), handle);
}

const GREETING_HEAD = "Hi ";
const GREETING_TAIL = ", Welcome to the network. Register to get started.";

/**
 * The tracker's ECHO reply; the greeting has the handle's kind (spec §3.2).
 *
 * @example
 * ```ts
 * import { echoReply } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(echoReply("alice").items[1], "Hi alice, Welcome to the network. Register to get started.");
 * ```
 */
export function echoReply(handle: RingString): PyTuple {
  if (typeof handle === "string") {
    return PyTuple.of(s("[Tracker]"), GREETING_HEAD + handle + GREETING_TAIL);
  }
  const head = s(GREETING_HEAD).bytes, tail = s(GREETING_TAIL).bytes;
  const bytes = new Uint8Array(head.length + handle.bytes.length + tail.length);
  bytes.set(head);
  bytes.set(handle.bytes, head.length);
  bytes.set(tail, head.length + handle.bytes.length);
  return PyTuple.of(s("[Tracker]"), new Py2Str(bytes));
}

/**
 * `('REGISTER', handle, port)`.
 *
 * @example The `py2.p2.register_request` vector
 * ```ts
 * import { encodeMessage, registerRequest } from "./messages.ts";
 * import { Py2Str } from "../pickle/mod.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(registerRequest(Py2Str.fromText("p2"), 9202)));
 * assert.equal(text, "(S'REGISTER'\np0\nS'p2'\np1\nI9202\ntp2\n.");
 * ```
 */
export function registerRequest(handle: RingString, port: number): PyTuple {
  return PyTuple.of(s("REGISTER"), handle, port);
}

function itemTuple(item: RingItem): PyTuple {
  return PyTuple.of(item.seq, item.value);
}

/**
 * `('REG_INIT', nbr_handle, nbr_ip, nbr_port, dbsize, (seq, value))`.
 *
 * @example
 * ```ts
 * import { regInit } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const m = regInit({ handle: "alice", ip: "127.0.0.1", port: 9101 }, 5, { seq: 2, value: "and" });
 * assert.equal(m.length, 6);
 * assert.equal(m.items[4], 5);
 * ```
 */
export function regInit(neighbour: Neighbour, dbSize: number, item: RingItem): PyTuple {
  return PyTuple.of(
    s("REG_INIT"),
    neighbour.handle,
    s(neighbour.ip),
    neighbour.port,
    dbSize,
    itemTuple(item),
  );
}

/**
 * `('UPDATE_NBR', nbr_handle, nbr_ip, nbr_port)`.
 *
 * @example
 * ```ts
 * import { updateNbr } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(updateNbr({ handle: "bob", ip: "127.0.0.1", port: 9102 }).length, 4);
 * ```
 */
export function updateNbr(neighbour: Neighbour): PyTuple {
  return PyTuple.of(s("UPDATE_NBR"), neighbour.handle, s(neighbour.ip), neighbour.port);
}

/**
 * `('PING', time_string)`.
 *
 * @example
 * ```ts
 * import { asctime, pingRequest } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(pingRequest(asctime(0)).length, 2);
 * ```
 */
export function pingRequest(timeString: string): PyTuple {
  return PyTuple.of(s("PING"), s(timeString));
}

/**
 * A peer's PING reply, `('PING', handle)` as the assignment asks (the tracker ignores it).
 *
 * @example
 * ```ts
 * import { pingReply } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(pingReply("alice").items[1], "alice");
 * ```
 */
export function pingReply(handle: RingString): PyTuple {
  return PyTuple.of(s("PING"), handle);
}

/**
 * `('QUERY', seq)`.
 *
 * @example
 * ```ts
 * import { queryRequest } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(queryRequest(3).items[1], 3);
 * ```
 */
export function queryRequest(seq: number): PyTuple {
  return PyTuple.of(s("QUERY"), seq);
}

/**
 * `('QUERY_RESULT', (seq, value))`, or `('QUERY_RESULT', (None, None))` without an item.
 *
 * @example
 * ```ts
 * import { encodeMessage, queryResult } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(queryResult(undefined)));
 * assert.equal(text, "(S'QUERY_RESULT'\np0\n(NNtp1\ntp2\n.");
 * ```
 */
export function queryResult(item: RingItem | undefined): PyTuple {
  return PyTuple.of(
    s("QUERY_RESULT"),
    item === undefined ? PyTuple.of(null, null) : itemTuple(item),
  );
}

/**
 * `('[Tracker]', text)`: `'Bad request'`, or one of the fixed notices of the TS tracker.
 *
 * @example The `py2.p2.bad_request_reply` vector
 * ```ts
 * import { encodeMessage, trackerNotice } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeMessage(trackerNotice("Bad request")));
 * assert.equal(text, "(S'[Tracker]'\np0\nS'Bad request'\np1\ntp2\n.");
 * ```
 */
export function trackerNotice(text: string): PyTuple {
  return PyTuple.of(s("[Tracker]"), s(text));
}

/**
 * `('[Peer]', 'Bad request')`: the TS peer's answer to anything it does not understand.
 *
 * @example
 * ```ts
 * import { peerBadRequest } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(peerBadRequest().length, 2);
 * ```
 */
export function peerBadRequest(): PyTuple {
  return PyTuple.of(s("[Peer]"), s("Bad request"));
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * Python's `time.asctime()` for an instant, in UTC: `'Sun Nov 22 01:24:25 2026'` (the day of the
 * month is padded with a space). Peers never read it; it only has to look right.
 *
 * @param epochMillis Milliseconds since the Unix epoch.
 * @returns The 24-character time string.
 *
 * @example
 * ```ts
 * import { asctime } from "./messages.ts";
 * import assert from "node:assert/strict";
 * assert.equal(asctime(Date.UTC(2026, 10, 22, 1, 24, 25)), "Sun Nov 22 01:24:25 2026");
 * assert.equal(asctime(0), "Thu Jan  1 00:00:00 1970");
 * ```
 */
export function asctime(epochMillis: number): string {
  const d = new Date(Number.isFinite(epochMillis) ? epochMillis : 0);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${
    String(d.getUTCDate()).padStart(2, " ")
  } ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${
    two(d.getUTCSeconds())
  } ${d.getUTCFullYear()}`;
}

// ---- parsers ----------------------------------------------------------------------------------

function ringString(v: PyValue | undefined): RingString | undefined {
  if (typeof v === "string" || v instanceof Py2Str) {
    return (typeof v === "string" ? v.length : v.bytes.length) <= MAX_RING_STRING_CHARS
      ? v
      : undefined;
  }
  return undefined;
}

/** A Python int (not a bool) that is a safe integer. */
function plainInt(v: PyValue | undefined): number | undefined {
  return typeof v === "number" && Number.isSafeInteger(v) ? v : undefined;
}

function portOf(v: PyValue | undefined): number | undefined {
  const p = plainInt(v);
  return p !== undefined && p >= 1 && p <= 65535 ? p : undefined;
}

function tupleItems(v: PyValue): readonly PyValue[] | undefined {
  return v instanceof PyTuple && v.length > 0 ? v.items : undefined;
}

function neighbourOf(
  h: PyValue | undefined,
  ip: PyValue | undefined,
  port: PyValue | undefined,
): Neighbour | undefined {
  const handle = ringString(h), ipText = ringString(ip), p = portOf(port);
  if (handle === undefined || ipText === undefined || p === undefined) return undefined;
  const text = pyText(ipText)!;
  if (text.length === 0) return undefined;
  return { handle, ip: text, port: p };
}

/**
 * A request to the tracker, as {@linkcode parseTrackerRequest} reads it.
 */
export type TrackerRequest =
  | { readonly type: "echo"; readonly handle: RingString }
  | { readonly type: "register"; readonly handle: RingString; readonly port: number }
  | { readonly type: "bad"; readonly reason: string };

/**
 * Reads a decoded request to the tracker. Strict where the original crashed (spec §3.7): ECHO
 * must be `(word, string)`, REGISTER `(word, string, port 1..65535)`; anything else is `bad`.
 *
 * @param value Any decoded value.
 * @returns The request, or `bad` with a reason for the log.
 *
 * @example
 * ```ts
 * import { parseTrackerRequest } from "./messages.ts";
 * import { PyTuple } from "../pickle/mod.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseTrackerRequest(PyTuple.of("REGISTER", "alice", 9101)).type, "register");
 * assert.equal(parseTrackerRequest(PyTuple.of("REGISTER", "alice")).type, "bad");
 * ```
 */
export function parseTrackerRequest(value: PyValue): TrackerRequest {
  const items = tupleItems(value);
  if (items === undefined) return { type: "bad", reason: "not a non-empty tuple" };
  const command = pyText(items[0]);
  if (command === "ECHO") {
    const handle = ringString(items[1]);
    if (items.length !== 2 || handle === undefined) {
      return { type: "bad", reason: "ECHO needs (word, handle)" };
    }
    return { type: "echo", handle };
  }
  if (command === "REGISTER") {
    const handle = ringString(items[1]), port = portOf(items[2]);
    if (items.length !== 3 || handle === undefined || port === undefined) {
      return { type: "bad", reason: "REGISTER needs (word, handle, port 1..65535)" };
    }
    return { type: "register", handle, port };
  }
  return { type: "bad", reason: "unknown command" };
}

/**
 * A request to a peer, as {@linkcode parsePeerRequest} reads it.
 */
export type PeerRequest =
  | { readonly type: "update-nbr"; readonly neighbour: Neighbour }
  | { readonly type: "ping" }
  | { readonly type: "query"; readonly seq: number }
  | { readonly type: "bad"; readonly reason: string };

/**
 * Reads a decoded request to a peer. PING is accepted with any payload (the tracker only needs
 * an answer); QUERY's seq may be any Python int (a bool counts, as `int()` takes it); UPDATE_NBR
 * needs `(word, handle, ip, port)`.
 *
 * @param value Any decoded value.
 * @returns The request, or `bad`.
 *
 * @example
 * ```ts
 * import { parsePeerRequest } from "./messages.ts";
 * import { PyTuple } from "../pickle/mod.ts";
 * import assert from "node:assert/strict";
 * const r = parsePeerRequest(PyTuple.of("QUERY", 2));
 * assert.equal(r.type, "query");
 * assert.equal(r.seq, 2);
 * ```
 */
export function parsePeerRequest(value: PyValue): PeerRequest {
  const items = tupleItems(value);
  if (items === undefined) return { type: "bad", reason: "not a non-empty tuple" };
  const command = pyText(items[0]);
  if (command === "PING") return { type: "ping" };
  if (command === "QUERY") {
    const raw = items[1];
    let seq: number | undefined;
    if (typeof raw === "boolean") seq = raw ? 1 : 0;
    else if (typeof raw === "number" && Number.isSafeInteger(raw)) seq = raw;
    else if (typeof raw === "bigint") seq = -1; // far out of range: answered as missing
    if (items.length !== 2 || seq === undefined) {
      return { type: "bad", reason: "QUERY needs (word, int)" };
    }
    return { type: "query", seq };
  }
  if (command === "UPDATE_NBR") {
    const neighbour = items.length === 4 ? neighbourOf(items[1], items[2], items[3]) : undefined;
    if (neighbour === undefined) {
      return { type: "bad", reason: "UPDATE_NBR needs (word, handle, ip, port)" };
    }
    return { type: "update-nbr", neighbour };
  }
  return { type: "bad", reason: "unknown command" };
}

/**
 * The tracker's answer to REGISTER, as {@linkcode parseRegisterReply} reads it. `neighbour` is
 * `undefined` when the original tracker's duplicate-handle reply carries `None` (flaw F4).
 */
export type RegisterReply =
  | {
    readonly type: "reg-init";
    readonly neighbour: Neighbour | undefined;
    readonly dbSize: number;
    readonly item: RingItem;
  }
  | { readonly type: "refused"; readonly message: string }
  | { readonly type: "bad"; readonly reason: string };

/**
 * Reads the tracker's reply to REGISTER: a REG_INIT (with `dbsize` 1..`maxDbSize` and an item
 * inside it), a `('[Tracker]', text)` refusal, or `bad`.
 *
 * @param value Any decoded value.
 * @param maxDbSize The largest table accepted.
 * @returns The reply.
 *
 * @example
 * ```ts
 * import { parseRegisterReply, regInit } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const r = parseRegisterReply(
 *   regInit({ handle: "alice", ip: "127.0.0.1", port: 9101 }, 5, { seq: 2, value: "and" }),
 * );
 * assert.equal(r.type, "reg-init");
 * assert.equal(r.dbSize, 5);
 * assert.equal(r.item.seq, 2);
 * ```
 */
export function parseRegisterReply(value: PyValue, maxDbSize = 64): RegisterReply {
  const items = tupleItems(value);
  if (items === undefined) return { type: "bad", reason: "not a non-empty tuple" };
  const command = pyText(items[0]);
  if (command === "[Tracker]" && items.length === 2 && ringString(items[1]) !== undefined) {
    return { type: "refused", message: ringText(items[1] as RingString) };
  }
  if (command !== "REG_INIT" || items.length !== 6) {
    return { type: "bad", reason: "not a REG_INIT" };
  }
  const dbSize = plainInt(items[4]);
  if (dbSize === undefined || dbSize < 1 || dbSize > maxDbSize) {
    return { type: "bad", reason: `dbsize is not 1..${maxDbSize}` };
  }
  const item = itemOf(items[5], dbSize);
  if (item === undefined) return { type: "bad", reason: "no valid (seq, value) item" };
  let neighbour: Neighbour | undefined;
  if (items[1] !== null || items[2] !== null || items[3] !== null) {
    neighbour = neighbourOf(items[1], items[2], items[3]);
    if (neighbour === undefined) return { type: "bad", reason: "bad neighbour fields" };
  }
  return { type: "reg-init", neighbour, dbSize, item };
}

function itemOf(v: PyValue | undefined, dbSize: number): RingItem | undefined {
  if (!(v instanceof PyTuple) || v.length !== 2) return undefined;
  const seq = plainInt(v.items[0]), value = ringString(v.items[1]);
  if (seq === undefined || seq < 0 || seq >= dbSize || value === undefined) return undefined;
  return { seq, value };
}

/**
 * A neighbour's answer to QUERY, as {@linkcode parseQueryResult} reads it.
 */
export type QueryResult =
  | { readonly type: "found"; readonly item: RingItem }
  | { readonly type: "missing" }
  | { readonly type: "bad"; readonly reason: string };

/**
 * Reads a QUERY_RESULT: `found` with an item whose seq is within `0..dbSize-1`, `missing` for
 * `(None, None)` (or any result without a usable seq, which the reference peer also skips), or
 * `bad` for anything that is not a QUERY_RESULT.
 *
 * @param value Any decoded value.
 * @param dbSize The table size from REG_INIT.
 * @returns The result.
 *
 * @example
 * ```ts
 * import { parseQueryResult, queryResult } from "./messages.ts";
 * import assert from "node:assert/strict";
 * const r = parseQueryResult(queryResult({ seq: 2, value: "and" }), 5);
 * assert.equal(r.type, "found");
 * assert.equal(r.item.value, "and");
 * assert.equal(parseQueryResult(queryResult(undefined), 5).type, "missing");
 * ```
 */
export function parseQueryResult(value: PyValue, dbSize: number): QueryResult {
  const items = tupleItems(value);
  if (items === undefined || pyText(items[0]) !== "QUERY_RESULT" || items.length !== 2) {
    return { type: "bad", reason: "not a QUERY_RESULT" };
  }
  const item = itemOf(items[1], dbSize);
  return item === undefined ? { type: "missing" } : { type: "found", item };
}
