/**
 * The `peers.json` file (README "peers.json"): the BitClone peer's saved address book, a JSON array
 * whose elements are plain address strings (`"10.0.0.5:8333"`, `"[2001:db8::1]:8333"`, or any
 * spelling of spec §A.4) or {@linkcode SavedPeer} objects. {@linkcode parsePeersFile} is total:
 * it never throws and reports what it skipped as warnings; {@linkcode formatPeersFile} writes the
 * canonical form. Reading and writing the file is the adapter's job.
 *
 * @module
 */

import { addressScope, formatPeerAddress, parsePeerAddress } from "./address.ts";
import type { SavedPeer } from "./peer_node_types.ts";

/** The most entries read from one file (the book holds 1024 + 256 + manual peers). */
export const PEERS_FILE_MAX_ENTRIES = 5000;
/** The most warnings reported one by one (a summary line follows). */
const WARNINGS_MAX = 20;
/** The longest file text looked at (16 MiB). */
const TEXT_MAX = 16 * 1024 * 1024;
/** The longest `source` kept. */
const SOURCE_MAX = 64;
/** Unix seconds at or above this are read as milliseconds (spec §A.10.1 #7). */
const MILLIS_THRESHOLD = 100_000_000_000;

/**
 * What {@linkcode parsePeersFile} found: the usable entries (canonical addresses, first of
 * duplicates kept), human-readable warnings, and whether the file as a whole was unusable
 * (`damaged`: not JSON, not an array, too large — set it aside and start from the command-line
 * peers).
 *
 * @example Reading the result
 * ```ts
 * import { parsePeersFile } from "./peers_file.ts";
 * import assert from "node:assert/strict";
 * const r = parsePeersFile("not json");
 * assert.ok(r.damaged);
 * assert.equal(r.peers.length, 0);
 * assert.equal(r.warnings.length, 1);
 * ```
 */
export interface PeersFileResult {
  /** The usable entries. */
  readonly peers: SavedPeer[];
  /** What was skipped or repaired, one line each. */
  readonly warnings: string[];
  /** Whether the file as a whole could not be read. */
  readonly damaged: boolean;
}

/**
 * Parses the text of `peers.json`. Never throws. Each element that is not a usable address (or
 * an object whose `address` is not) is skipped with a warning; a bad optional field is dropped
 * with a warning and the entry kept; unknown keys are ignored. Times of 10^11 or more are read as
 * milliseconds. An empty (or white-space) file is an empty book with a warning.
 *
 * @param text The file's text.
 * @returns The entries, the warnings and the damaged flag.
 * @example Both element forms
 * ```ts
 * import { parsePeersFile } from "./peers_file.ts";
 * import assert from "node:assert/strict";
 * const r = parsePeersFile('["10.0.0.7:8333", {"address": "2001:db8::1:8333", "tried": true}, 5]');
 * assert.equal(r.peers.length, 2);
 * assert.equal(r.peers[1].address, "[2001:db8::1]:8333");
 * assert.equal(r.warnings.length, 1);
 * assert.ok(!r.damaged);
 * ```
 */
export function parsePeersFile(text: string): PeersFileResult {
  const warnings: string[] = [];
  let suppressed = 0;
  const warn = (message: string) => {
    if (warnings.length < WARNINGS_MAX) warnings.push(message);
    else suppressed++;
  };
  const finish = (peers: SavedPeer[], damaged: boolean): PeersFileResult => {
    if (suppressed > 0) warnings.push(`${suppressed} more warnings not shown`);
    return { peers, warnings, damaged };
  };
  if (typeof text !== "string") {
    warn("peers file: not text");
    return finish([], true);
  }
  if (text.length > TEXT_MAX) {
    warn(`peers file: ${text.length} characters, over the ${TEXT_MAX} limit`);
    return finish([], true);
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === "") {
    warn("peers file: empty, starting with an empty address book");
    return finish([], false);
  }
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    warn(`peers file: not valid JSON (${why.slice(0, 120)})`);
    return finish([], true);
  }
  if (!Array.isArray(data)) {
    warn(`peers file: expected a JSON array, got ${describe(data)}`);
    return finish([], true);
  }
  const peers: SavedPeer[] = [];
  const seen = new Set<string>();
  if (data.length > PEERS_FILE_MAX_ENTRIES) {
    warn(`peers file: ${data.length} entries, only the first ${PEERS_FILE_MAX_ENTRIES} read`);
  }
  const n = Math.min(data.length, PEERS_FILE_MAX_ENTRIES);
  for (let i = 0; i < n; i++) {
    const item: unknown = data[i];
    const where = `peers file entry ${i}`;
    let raw: unknown;
    let obj: Record<string, unknown> | undefined;
    if (typeof item === "string") raw = item;
    else if (item !== null && typeof item === "object" && !Array.isArray(item)) {
      obj = item as Record<string, unknown>;
      raw = obj.address;
    } else {
      warn(`${where}: expected an address string or an object, got ${describe(item)}`);
      continue;
    }
    if (typeof raw !== "string") {
      warn(`${where}: "address" is missing or not a string`);
      continue;
    }
    const a = parsePeerAddress(raw);
    if (a === undefined || addressScope(a) === "unusable") {
      warn(`${where}: ${JSON.stringify(raw.slice(0, 80))} is not a usable ip:port`);
      continue;
    }
    const address = formatPeerAddress(a);
    if (seen.has(address)) {
      warn(`${where}: ${address} is listed twice, the first kept`);
      continue;
    }
    seen.add(address);
    const peer: { -readonly [K in keyof SavedPeer]: SavedPeer[K] } = { address };
    if (obj !== undefined) {
      for (const field of ["lastSeen", "lastTry", "lastSuccess"] as const) {
        if (!(field in obj) || obj[field] === undefined || obj[field] === null) continue;
        const t = readTime(obj[field]);
        if (t === undefined) warn(`${where}: "${field}" is not a Unix time, ignored`);
        else peer[field] = t;
      }
      if ("attempts" in obj && obj.attempts !== undefined && obj.attempts !== null) {
        const v = obj.attempts;
        if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) {
          peer.attempts = Math.min(v, 1_000_000);
        } else warn(`${where}: "attempts" is not a count, ignored`);
      }
      if ("tried" in obj && obj.tried !== undefined && obj.tried !== null) {
        if (typeof obj.tried === "boolean") peer.tried = obj.tried;
        else warn(`${where}: "tried" is not true or false, ignored`);
      }
      if ("source" in obj && obj.source !== undefined && obj.source !== null) {
        const s = obj.source;
        if (typeof s === "string" && s.trim() !== "" && !hasControlOrBar(s)) {
          peer.source = s.trim().slice(0, SOURCE_MAX);
        } else warn(`${where}: "source" is not a short text, ignored`);
      }
    }
    peers.push(peer);
  }
  return finish(peers, false);
}

/**
 * Writes entries as `peers.json` text: a JSON array with one object per line (only the fields
 * present), addresses canonical, ending with a line feed. Entries whose address does not parse
 * are left out. The output reads back to the same entries with {@linkcode parsePeersFile}.
 *
 * @param peers The entries (e.g. the `peers` of a `save` action).
 * @returns The file text.
 * @example A round trip
 * ```ts
 * import { formatPeersFile, parsePeersFile } from "./peers_file.ts";
 * import assert from "node:assert/strict";
 * const text = formatPeersFile([{ address: "10.0.0.5:8333", lastSeen: 1763778000, tried: true }]);
 * assert.ok(text.startsWith("[\n  {"));
 * assert.ok(text.endsWith("]\n"));
 * assert.equal(parsePeersFile(text).peers[0].tried, true);
 * ```
 */
export function formatPeersFile(peers: readonly SavedPeer[]): string {
  if (!Array.isArray(peers)) throw new TypeError("Cannot format the peers file: not an array");
  const lines: string[] = [];
  for (const p of peers) {
    const a = typeof p?.address === "string" ? parsePeerAddress(p.address) : undefined;
    if (a === undefined) continue;
    const out: Record<string, unknown> = { address: formatPeerAddress(a) };
    if (p.lastSeen !== undefined) out.lastSeen = p.lastSeen;
    if (p.tried !== undefined) out.tried = p.tried;
    if (p.lastTry !== undefined) out.lastTry = p.lastTry;
    if (p.lastSuccess !== undefined) out.lastSuccess = p.lastSuccess;
    if (p.attempts !== undefined) out.attempts = p.attempts;
    if (p.source !== undefined) out.source = p.source;
    lines.push(`  ${JSON.stringify(out)}`);
  }
  return lines.length === 0 ? "[]\n" : `[\n${lines.join(",\n")}\n]\n`;
}

/** Whether text holds a control character (U+0000–U+001F, U+007F) or `|`. */
function hasControlOrBar(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x7c) return true;
  }
  return false;
}

function readTime(v: unknown): number | undefined {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) return undefined;
  const sec = v >= MILLIS_THRESHOLD ? Math.floor(v / 1000) : Math.floor(v);
  return Number.isSafeInteger(sec) ? sec : undefined;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}
