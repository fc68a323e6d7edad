/**
 * The on-disk formats of the key-value store's durable log (pure: bytes in, bytes out).
 *
 * **Log record** (`kv.log`): one record per line,
 * `<crc32 of the JSON's UTF-8 bytes, 8 lowercase hex digits> <JSON>\n` with the JSON
 * `{"k":key,"v":value,"c":clock,"o":origin}` as `JSON.stringify` writes it (no raw newline can
 * occur in it; lone surrogates are escaped). CRC-32 is the IEEE/zlib one.
 *
 * **Snapshot** (`kv.snapshot`): the header line `kv-snapshot 1\n`, one record per entry in the log
 * record format, then the trailer line `end <count> <crc32 of all bytes before the trailer>\n`.
 *
 * The parsers are total: they stop at the first torn or corrupt record, report what they dropped,
 * and never throw. Replaying entries with last-writer-wins ({@linkcode applyEntry}) gives the same
 * map in any order, so an old log replayed over a newer snapshot is harmless.
 *
 * @module
 */
import type { VersionedEntry } from "./types.ts";
import { isNewer } from "./version.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const NL = 0x0a;
const MAX_CLOCK = Number.MAX_SAFE_INTEGER;
const SNAPSHOT_HEADER = "kv-snapshot 1\n";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (IEEE 802.3, as zlib and PNG use it) of `bytes[start, end)`.
 *
 * @example The standard check value
 * ```ts
 * import { crc32 } from "./log_format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
 * assert.equal(crc32(new Uint8Array(0)), 0);
 * ```
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Why an entry cannot be stored, or `undefined` when it is a valid {@linkcode VersionedEntry}. */
export function entryProblem(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null) return "not an object";
  const { key, value, clock, origin } = e as Record<string, unknown>;
  if (typeof key !== "string") return "key is not a string";
  if (typeof value !== "string") return "value is not a string";
  if (typeof clock !== "number" || !Number.isInteger(clock) || clock < 1 || clock > MAX_CLOCK) {
    return "clock is not an integer in 1 … 2^53−1";
  }
  if (typeof origin !== "string" || origin === "") return "origin is not a non-empty string";
  return undefined;
}

/**
 * One log record (a line, newline included) for `entry`.
 *
 * @throws {RangeError} When the entry is not valid (see {@linkcode entryProblem}): such a record
 * would read back as corruption and hide every record after it.
 * @example
 * ```ts
 * import { encodeRecord, parseLog } from "./log_format.ts";
 * import assert from "node:assert/strict";
 * const e = { key: "color", value: "green", clock: 42, origin: "ts-1" };
 * const line = new TextDecoder().decode(encodeRecord(e));
 * assert.match(line, /^[0-9a-f]{8} \{"k":"color","v":"green","c":42,"o":"ts-1"\}\n$/);
 * assert.deepEqual(parseLog(encodeRecord(e)).entries, [e]);
 * ```
 */
export function encodeRecord(entry: VersionedEntry): Uint8Array {
  return encoder.encode(recordText(entry));
}

function recordText(entry: VersionedEntry): string {
  const problem = entryProblem(entry);
  if (problem) throw new RangeError(`Cannot log the entry: ${problem}`);
  const json = JSON.stringify({ k: entry.key, v: entry.value, c: entry.clock, o: entry.origin });
  const crc = crc32(encoder.encode(json)).toString(16).padStart(8, "0");
  return `${crc} ${json}\n`;
}

/**
 * The records of several entries, concatenated (one write for a whole group commit).
 *
 * @throws {RangeError} When an entry is not valid.
 */
export function encodeRecords(entries: readonly VersionedEntry[]): Uint8Array {
  return encoder.encode(entries.map(recordText).join(""));
}

/** What {@linkcode parseLog} recovered from a log and what it dropped. */
export interface ParsedLog {
  /** The records before the first torn or corrupt one, in file order. */
  readonly entries: VersionedEntry[];
  /** Length of the good prefix: where the next record should be appended. */
  readonly goodBytes: number;
  /** Bytes after the good prefix (the torn or corrupt record and all that follows it). */
  readonly droppedBytes: number;
  /** Records (lines, counting an unterminated tail as one) in the dropped part. */
  readonly droppedRecords: number;
  /** Human-readable reasons, empty when nothing was dropped. */
  readonly problems: string[];
}

/** Decodes one line (without its newline), or says why it is not a record. */
function decodeLine(bytes: Uint8Array, start: number, end: number): VersionedEntry | string {
  if (end - start < 10 || bytes[start + 8] !== 0x20) return "malformed record";
  let crc = 0;
  for (let i = start; i < start + 8; i++) {
    const b = bytes[i];
    const d = b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : -1;
    if (d < 0) return "malformed checksum";
    crc = crc * 16 + d;
  }
  if (crc32(bytes, start + 9, end) !== crc) return "checksum mismatch";
  let obj: unknown;
  try {
    obj = JSON.parse(decoder.decode(bytes.subarray(start + 9, end)));
  } catch {
    return "record is not UTF-8 JSON";
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    return "record is not an object";
  }
  const { k, v, c, o } = obj as Record<string, unknown>;
  const entry = { key: k, value: v, clock: c, origin: o };
  const problem = entryProblem(entry);
  return problem ?? (entry as VersionedEntry);
}

/** Parses records from `start` until `end`; stops at the first bad one. */
function parseRecords(
  bytes: Uint8Array,
  start: number,
  end: number,
  what: string,
): ParsedLog {
  const entries: VersionedEntry[] = [];
  let pos = start;
  let problem: string | undefined;
  while (pos < end) {
    let nl = bytes.indexOf(NL, pos);
    if (nl >= end) nl = -1;
    if (nl < 0) {
      problem = `torn ${what} record at byte ${pos} (no newline)`;
      break;
    }
    const e = decodeLine(bytes, pos, nl);
    if (typeof e === "string") {
      problem = `${e} in ${what} record at byte ${pos}`;
      break;
    }
    entries.push(e);
    pos = nl + 1;
  }
  if (problem === undefined) {
    return { entries, goodBytes: pos, droppedBytes: 0, droppedRecords: 0, problems: [] };
  }
  const problems = [problem];
  // count the dropped lines, and say how many of them still looked valid (lost to the stop)
  let droppedRecords = 0, validDropped = 0;
  for (let p = pos; p < end;) {
    let nl = bytes.indexOf(NL, p);
    if (nl >= end) nl = -1;
    droppedRecords++;
    if (nl < 0) break;
    if (p !== pos && typeof decodeLine(bytes, p, nl) !== "string") validDropped++;
    p = nl + 1;
  }
  if (validDropped > 0) {
    problems.push(`${validDropped} intact ${what} record(s) after the bad one were dropped too`);
  }
  return { entries, goodBytes: pos, droppedBytes: end - pos, droppedRecords, problems };
}

/**
 * Parses a whole log: the records of the longest good prefix, where that prefix ends, and what
 * follows it (a torn tail after a crash, or corruption). Never throws.
 *
 * @example A torn tail is reported and left out
 * ```ts
 * import { encodeRecords, parseLog } from "./log_format.ts";
 * import assert from "node:assert/strict";
 * const a = { key: "a", value: "1", clock: 1, origin: "n" };
 * const b = { key: "b", value: "2", clock: 2, origin: "n" };
 * const bytes = encodeRecords([a, b]);
 * const torn = parseLog(bytes.subarray(0, bytes.length - 3));
 * assert.deepEqual(torn.entries, [a]);
 * assert.equal(torn.droppedRecords, 1);
 * assert.equal(torn.goodBytes + torn.droppedBytes, bytes.length - 3);
 * ```
 */
export function parseLog(bytes: Uint8Array): ParsedLog {
  return parseRecords(bytes, 0, bytes.length, "log");
}

/**
 * A snapshot file holding `entries` (see the module's description of the format).
 *
 * @throws {RangeError} When an entry is not valid.
 * @example
 * ```ts
 * import { encodeSnapshot, parseSnapshot } from "./log_format.ts";
 * import assert from "node:assert/strict";
 * const entries = [{ key: "k", value: "v", clock: 7, origin: "n" }];
 * const parsed = parseSnapshot(encodeSnapshot(entries));
 * assert.deepEqual(parsed.entries, entries);
 * assert.equal(parsed.complete, true);
 * ```
 */
export function encodeSnapshot(entries: Iterable<VersionedEntry>): Uint8Array {
  let body = SNAPSHOT_HEADER;
  let count = 0;
  for (const e of entries) {
    body += recordText(e);
    count++;
  }
  const bodyBytes = encoder.encode(body);
  const trailer = encoder.encode(
    `end ${count} ${crc32(bodyBytes).toString(16).padStart(8, "0")}\n`,
  );
  const out = new Uint8Array(bodyBytes.length + trailer.length);
  out.set(bodyBytes);
  out.set(trailer, bodyBytes.length);
  return out;
}

/** What {@linkcode parseSnapshot} read: like {@linkcode ParsedLog}, plus whether it was whole. */
export interface ParsedSnapshot extends ParsedLog {
  /** True when the header, every record and the trailer (count and checksum) are intact. */
  readonly complete: boolean;
}

/**
 * Parses a snapshot. An intact one gives all its entries; a damaged one gives the intact records
 * before the damage, `complete: false` and the reasons. Never throws.
 */
export function parseSnapshot(bytes: Uint8Array): ParsedSnapshot {
  const header = encoder.encode(SNAPSHOT_HEADER);
  const damaged = (problem: string, p: ParsedLog | undefined): ParsedSnapshot => ({
    entries: p?.entries ?? [],
    goodBytes: p?.goodBytes ?? 0,
    droppedBytes: bytes.length - (p?.goodBytes ?? 0),
    droppedRecords: p ? p.droppedRecords : 0,
    problems: [problem, ...(p?.problems ?? [])],
    complete: false,
  });
  if (bytes.length < header.length || header.some((b, i) => bytes[i] !== b)) {
    return damaged("snapshot header missing or unknown", undefined);
  }
  // the trailer is the last line
  const end = bytes.length;
  const lastNl = end > 0 && bytes[end - 1] === NL ? bytes.lastIndexOf(NL, end - 2) : -1;
  const trailerStart = lastNl + 1;
  const trailer = lastNl >= header.length - 1 && bytes[end - 1] === NL
    ? /^end (\d+) ([0-9a-f]{8})\n$/.exec(
      String.fromCharCode(...bytes.subarray(trailerStart, Math.min(end, trailerStart + 40))),
    )
    : null;
  if (!trailer) {
    return damaged(
      "snapshot trailer missing (torn snapshot)",
      parseRecords(bytes, header.length, end, "snapshot"),
    );
  }
  const p = parseRecords(bytes, header.length, trailerStart, "snapshot");
  if (p.droppedBytes > 0) return damaged("snapshot record damaged", p);
  if (Number(trailer[1]) !== p.entries.length) {
    return damaged(
      `snapshot count mismatch (${trailer[1]} announced, ${p.entries.length} read)`,
      p,
    );
  }
  if (parseInt(trailer[2], 16) !== crc32(bytes, 0, trailerStart)) {
    return damaged("snapshot checksum mismatch", p);
  }
  return { ...p, goodBytes: end, complete: true };
}

/**
 * Stores `entry` in `map` when it is newer than what the map holds for its key (last writer
 * wins, {@linkcode isNewer}).
 *
 * @returns Whether the map changed.
 */
export function applyEntry(map: Map<string, VersionedEntry>, entry: VersionedEntry): boolean {
  if (!isNewer(entry, map.get(entry.key))) return false;
  map.set(entry.key, entry);
  return true;
}

/**
 * Applies `entries` to `map` with last-writer-wins; the result does not depend on their order.
 *
 * @returns The largest clock among `entries` (0 for none): a Lamport clock to resume from.
 * @example Replaying in any order gives the same map
 * ```ts
 * import { mergeEntries } from "./log_format.ts";
 * import assert from "node:assert/strict";
 * const old = { key: "k", value: "old", clock: 1, origin: "b" };
 * const now = { key: "k", value: "new", clock: 2, origin: "a" };
 * const m1 = new Map(), m2 = new Map();
 * assert.equal(mergeEntries(m1, [old, now]), 2);
 * mergeEntries(m2, [now, old]);
 * assert.deepEqual(m1, m2);
 * assert.equal(m1.get("k").value, "new");
 * ```
 */
export function mergeEntries(
  map: Map<string, VersionedEntry>,
  entries: Iterable<VersionedEntry>,
): number {
  let max = 0;
  for (const e of entries) {
    applyEntry(map, e);
    if (e.clock > max) max = e.clock;
  }
  return max;
}
