/**
 * One log line per node event, and the `bitclone kv members` table.
 *
 * @module
 */

import type { KvEvent } from "./node_context.ts";
import type { MemberInfo, RecoveryEvent } from "./types.ts";

/** The level and text of an event's log line. */
export interface EventLine {
  readonly level: "info" | "warn" | "debug";
  readonly text: string;
}

/**
 * The log line of `event`.
 *
 * @example
 * ```ts
 * import { describeKvEvent } from "./describe.ts";
 * import assert from "node:assert/strict";
 * const line = describeKvEvent({ type: "member", change: "suspect", name: "ts-b", address: "10.0.0.2:9000", legacy: false });
 * assert.deepEqual(line, { level: "warn", text: "member ts-b (10.0.0.2:9000) is suspect" });
 * ```
 */
export function describeKvEvent(event: KvEvent): EventLine {
  switch (event.type) {
    case "member": {
      const who = event.legacy
        ? `legacy node ${event.address}`
        : `member ${event.name} (${event.address})`;
      const text = {
        joined: `${who} joined`,
        suspect: `${who} is suspect`,
        dead: `${who} is dead`,
        returned: `${who} is back`,
        rebooted: `${who} restarted`,
      }[event.change];
      return {
        level: event.change === "suspect" || event.change === "dead" ? "warn" : "info",
        text,
      };
    }
    case "dropped":
      return {
        level: "info",
        text: `dropped a ${event.what} from ${event.from}: ${event.reason}`,
      };
    case "refused":
      return { level: "info", text: `refused a write from ${event.from}: ${event.reason}` };
    case "skipped":
      return { level: "warn", text: `not sent to ${event.to}: ${event.reason}` };
    case "table-full":
      return { level: "warn", text: `member table full: ignored a Handshake from ${event.from}` };
  }
}

/**
 * The members as a table, with `now` (ms since the epoch) for the ages.
 *
 * @example
 * ```ts
 * import { membersTable } from "./describe.ts";
 * import assert from "node:assert/strict";
 * const t = membersTable([{ name: "ts-b", address: "10.0.0.2:9000", state: "alive", lastSeen: 9000, ext: true }], 10_000);
 * assert.equal(t, "NAME  ADDRESS        STATE  LAST SEEN\nts-b  10.0.0.2:9000  alive  1 s ago\n");
 * ```
 */
export function membersTable(members: readonly MemberInfo[], now: number): string {
  const rows = [["NAME", "ADDRESS", "STATE", "LAST SEEN"]];
  for (const m of members) {
    const age = m.lastSeen <= 0
      ? "never"
      : `${Math.max(0, Math.round((now - m.lastSeen) / 1000))} s ago`;
    rows.push([m.name === "" ? "(legacy)" : m.name, m.address, m.state, age]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  "))
    .join("\n") + "\n";
}

/**
 * Keeps a flood of dropped messages from flooding the log: at most `burst` lines per `windowMs`,
 * then one line saying how many were not logged.
 *
 * @example
 * ```ts
 * import { LogThrottle } from "./describe.ts";
 * import assert from "node:assert/strict";
 * const t = new LogThrottle({ burst: 2, windowMs: 1000 });
 * assert.deepEqual([t.admit(0), t.admit(1), t.admit(2)], [true, true, false]);
 * assert.equal(t.admit(1000), true);
 * assert.equal(t.takeSuppressed(), 1);
 * ```
 */
export class LogThrottle {
  readonly #burst: number;
  readonly #windowMs: number;
  #windowStart = -Infinity;
  #inWindow = 0;
  #suppressed = 0;

  constructor(options: { burst?: number; windowMs?: number } = {}) {
    this.#burst = options.burst ?? 10;
    this.#windowMs = options.windowMs ?? 10_000;
  }

  /** Whether a line at time `now` (ms) may be logged. */
  admit(now: number): boolean {
    if (now - this.#windowStart >= this.#windowMs) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    if (this.#inWindow < this.#burst) {
      this.#inWindow++;
      return true;
    }
    this.#suppressed++;
    return false;
  }

  /** How many lines were held back since the last call. */
  takeSuppressed(): number {
    const n = this.#suppressed;
    this.#suppressed = 0;
    return n;
  }
}

/**
 * Turns node events into log calls: member changes always, drops throttled.
 *
 * @example
 * ```ts
 * import { kvEventLogger } from "./describe.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const log = kvEventLogger((level, text) => lines.push(`${level} ${text}`), () => 0);
 * log({ type: "dropped", what: "datagram", from: "1.2.3.4:5", reason: "json: bad" });
 * assert.deepEqual(lines, ["info dropped a datagram from 1.2.3.4:5: json: bad"]);
 * ```
 */
export function kvEventLogger(
  write: (level: EventLine["level"], text: string) => void,
  now: () => number,
): (event: KvEvent | RecoveryEvent) => void {
  const throttle = new LogThrottle();
  return (event) => {
    if (event.type === "recovered") {
      write("info", `recovered ${event.keys} keys from the log (clock ${event.clock})`);
      if (event.droppedRecords > 0 || event.droppedBytes > 0) {
        write(
          "warn",
          `the log ended in a torn write: dropped ${event.droppedRecords} records ` +
            `(${event.droppedBytes} bytes)`,
        );
      }
      return;
    }
    const line = describeKvEvent(event);
    if (event.type !== "dropped") return write(line.level, line.text);
    const t = now();
    if (!throttle.admit(t)) return;
    const held = throttle.takeSuppressed();
    if (held > 0) write("info", `(${held} more dropped messages not logged)`);
    write(line.level, line.text);
  };
}
