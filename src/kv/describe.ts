/**
 * One log line per node event, and the `bitclone kv members` table.
 *
 * @module
 */

import type { KvEvent } from "./node_context.ts";
import type { MemberInfo } from "./types.ts";

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
        level: "debug",
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
