/**
 * The simulator's packet trace (a sniffer): one record per network event, kept in a bounded
 * buffer, counted by kind, and printable one line per event.
 *
 * @module
 */

import type { Addr, Millis } from "../core/mod.ts";

/**
 * What happened to a datagram:
 * - `send`: a node sent it (always the first record of a datagram);
 * - `middlebox-drop` / `rewrite`: the middlebox dropped it / replaced its bytes;
 * - `partition`: dropped because the two ends are partitioned;
 * - `mtu-drop`: dropped because it is larger than the link's MTU;
 * - `drop`: lost at random (`dropRate`);
 * - `dup`: duplicated (`dupRate`), a second copy is on its way;
 * - `corrupt`: one copy had bytes flipped (`corruptRate`);
 * - `deliver`: a copy reached a bound address;
 * - `unbound-drop`: a copy arrived where nobody is bound.
 */
export type DatagramTraceKind =
  | "send"
  | "middlebox-drop"
  | "rewrite"
  | "partition"
  | "mtu-drop"
  | "drop"
  | "dup"
  | "corrupt"
  | "deliver"
  | "unbound-drop";

/**
 * What happened on a stream (records carry the stream id):
 * - `connect`: a client opened a connection; `accept` / `refused`: it reached a listener / nobody
 *   listened;
 * - `write`: one side wrote bytes; `data`: a chunk reached the other side;
 * - `end`: one side half-closed; `eof`: the other side saw the end of the stream;
 * - `stall`: delivery waits on a partition; `cut`: the link was cut (both ends reset).
 */
export type StreamTraceKind =
  | "connect"
  | "accept"
  | "refused"
  | "write"
  | "data"
  | "end"
  | "eof"
  | "stall"
  | "cut";

/**
 * Any trace record kind.
 */
export type TraceKind = DatagramTraceKind | StreamTraceKind;

/** Every trace kind, in a fixed order (used for counters). */
const KINDS: readonly TraceKind[] = [
  "send",
  "middlebox-drop",
  "rewrite",
  "partition",
  "mtu-drop",
  "drop",
  "dup",
  "corrupt",
  "deliver",
  "unbound-drop",
  "connect",
  "accept",
  "refused",
  "write",
  "data",
  "end",
  "eof",
  "stall",
  "cut",
];

/**
 * One traced network event.
 */
export interface TraceRecord {
  /** Position in the whole run (0, 1, 2, …), counting records that fell out of the buffer. */
  readonly seq: number;
  /** Virtual time of the event, in ms. */
  readonly time: Millis;
  /** What happened. */
  readonly kind: TraceKind;
  /** Whether `id` names a datagram or a stream. */
  readonly transport: "datagram" | "stream";
  /** Sender of the datagram or bytes (for `accept`/`refused`: the client). */
  readonly from: Addr;
  /** Receiver of the datagram or bytes (for `accept`/`refused`: the listener). */
  readonly to: Addr;
  /** Bytes involved (datagram size, bytes written or delivered; 0 for control events). */
  readonly size: number;
  /** Datagram id (all copies share it) or stream id. */
  readonly id: number;
  /** Extra detail, e.g. which bytes were flipped. */
  readonly note?: string;
}

/**
 * A sniffer callback. `bytes` is the datagram or chunk involved, if any: read it, never modify it
 * (use the middlebox to rewrite).
 */
export type PacketListener = (record: TraceRecord, bytes: Uint8Array | undefined) => void;

/**
 * Options for {@linkcode formatTrace}.
 */
export interface FormatTraceOptions {
  /**
   * Print only the last `last` records.
   *
   * @default {Infinity}
   */
  last?: number;
  /**
   * How many earlier records were dropped from the buffer (printed as a header line).
   *
   * @default {0}
   */
  dropped?: number;
}

/**
 * Formats one record as a line: `"  12.000ms 10.0.0.2:5000 -> 10.0.0.1:9000 send 64B pkt#3"`.
 *
 * @example One line
 * ```ts
 * import { formatRecord } from "./trace.ts";
 * import assert from "node:assert/strict";
 * const line = formatRecord({
 *   seq: 0, time: 12, kind: "send", transport: "datagram",
 *   from: "10.0.0.2:5000", to: "10.0.0.1:9000", size: 64, id: 3,
 * });
 * assert.equal(line, "    12.000ms 10.0.0.2:5000 -> 10.0.0.1:9000 send 64B pkt#3");
 * ```
 */
export function formatRecord(record: TraceRecord): string {
  const time = `${record.time.toFixed(3)}ms`.padStart(12);
  const tag = record.transport === "datagram" ? `pkt#${record.id}` : `stream#${record.id}`;
  const note = record.note === undefined ? "" : ` (${record.note})`;
  return `${time} ${record.from} -> ${record.to} ${record.kind} ${record.size}B ${tag}${note}`;
}

/**
 * Formats records one line per event, for printing when a test fails.
 *
 * @example Printing a trace
 * ```ts
 * import { formatTrace } from "./trace.ts";
 * import assert from "node:assert/strict";
 * const text = formatTrace([{
 *   seq: 0, time: 1, kind: "deliver", transport: "datagram",
 *   from: "a:1", to: "b:2", size: 3, id: 1,
 * }]);
 * assert.ok(text.includes("a:1 -> b:2 deliver 3B"));
 * ```
 */
export function formatTrace(
  records: readonly TraceRecord[],
  options: FormatTraceOptions = {},
): string {
  const { last = Infinity, dropped = 0 } = options;
  const start = Math.max(0, records.length - Math.max(0, last));
  const skipped = dropped + start;
  const lines: string[] = [];
  if (skipped > 0) lines.push(`  … ${skipped} earlier records not shown`);
  for (let i = start; i < records.length; i++) lines.push(formatRecord(records[i]));
  return lines.join("\n");
}

/**
 * Per-kind event counts over a whole run, including records that fell out of the trace buffer.
 */
export type TraceStats = Readonly<Record<TraceKind, number>>;

/**
 * The sniffer behind `SimNet`: records events into a bounded buffer that keeps the most recent
 * `limit` records, counts every kind, and calls listeners.
 *
 * @example Recording
 * ```ts
 * import { Tracer } from "./trace.ts";
 * import assert from "node:assert/strict";
 * const tracer = new Tracer(2);
 * for (let i = 0; i < 3; i++) {
 *   tracer.record(i, "send", "datagram", "a:1", "b:2", 1, i, undefined, undefined);
 * }
 * assert.equal(tracer.records.length, 2);
 * assert.equal(tracer.dropped, 1);
 * assert.equal(tracer.stats.send, 3);
 * ```
 */
export class Tracer {
  readonly #limit: number;
  #buffer: TraceRecord[] = [];
  #dropped = 0;
  #seq = 0;
  #listeners: PacketListener[] = [];
  readonly #stats: Record<TraceKind, number>;

  /**
   * Makes a tracer keeping at most `limit` records (0 keeps none; counters and listeners still run).
   *
   * @throws {RangeError} When `limit` is negative or not an integer.
   * @example A tracer
   * ```ts
   * import { Tracer } from "./trace.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new Tracer(10).records.length, 0);
   * ```
   */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`Cannot create the trace: limit ${limit} is not a count`);
    }
    this.#limit = limit;
    this.#stats = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<TraceKind, number>;
  }

  /**
   * The most recent records, oldest first (a copy).
   *
   * @example Reading records
   * ```ts
   * import { Tracer } from "./trace.ts";
   * import assert from "node:assert/strict";
   * const tracer = new Tracer(1);
   * tracer.record(0, "drop", "datagram", "a:1", "b:2", 1, 1, undefined, undefined);
   * assert.equal(tracer.records[0].kind, "drop");
   * ```
   */
  get records(): TraceRecord[] {
    const start = Math.max(0, this.#buffer.length - this.#limit);
    return this.#buffer.slice(start);
  }

  /**
   * How many records fell out of the buffer.
   *
   * @example No loss yet
   * ```ts
   * import { Tracer } from "./trace.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new Tracer(1).dropped, 0);
   * ```
   */
  get dropped(): number {
    return this.#dropped + Math.max(0, this.#buffer.length - this.#limit);
  }

  /**
   * Counts per kind over the whole run (a snapshot).
   *
   * @example Counting
   * ```ts
   * import { Tracer } from "./trace.ts";
   * import assert from "node:assert/strict";
   * assert.equal(new Tracer(1).stats.deliver, 0);
   * ```
   */
  get stats(): TraceStats {
    return { ...this.#stats };
  }

  /**
   * Adds a listener called for every record; returns a function that removes it.
   *
   * @example Listening
   * ```ts
   * import { Tracer } from "./trace.ts";
   * import assert from "node:assert/strict";
   * const tracer = new Tracer(0);
   * let n = 0;
   * const off = tracer.listen(() => n++);
   * tracer.record(0, "send", "datagram", "a:1", "b:2", 0, 1, undefined, undefined);
   * off();
   * tracer.record(0, "send", "datagram", "a:1", "b:2", 0, 2, undefined, undefined);
   * assert.equal(n, 1);
   * ```
   */
  listen(listener: PacketListener): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /**
   * Records one event.
   *
   * @example Recording a send
   * ```ts
   * import { Tracer } from "./trace.ts";
   * import assert from "node:assert/strict";
   * const tracer = new Tracer(4);
   * tracer.record(5, "send", "datagram", "a:1", "b:2", 3, 1, undefined, new Uint8Array(3));
   * assert.equal(tracer.records[0].time, 5);
   * ```
   */
  record(
    time: Millis,
    kind: TraceKind,
    transport: "datagram" | "stream",
    from: Addr,
    to: Addr,
    size: number,
    id: number,
    note: string | undefined,
    bytes: Uint8Array | undefined,
  ): void {
    const record: TraceRecord = note === undefined
      ? { seq: this.#seq++, time, kind, transport, from, to, size, id }
      : { seq: this.#seq++, time, kind, transport, from, to, size, id, note };
    this.#stats[kind]++;
    if (this.#limit > 0) {
      this.#buffer.push(record);
      if (this.#buffer.length >= 2 * this.#limit) {
        const excess = this.#buffer.length - this.#limit;
        this.#buffer.splice(0, excess);
        this.#dropped += excess;
      }
    } else {
      this.#dropped++;
    }
    for (const listener of this.#listeners) listener(record, bytes);
  }
}
