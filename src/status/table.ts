/**
 * The status document as a compact table for the terminal (`bitclone status`): the services,
 * the BitClone connections, the jobs with a progress bar, the miners, the tracker and the
 * key-value store. The document comes from the network: every text in it is cleaned of control
 * characters (no terminal escape from a peer's user agent), and a document of the wrong shape is
 * refused with a reason instead of printed.
 *
 * @module
 */
import { formatBar, formatCount, formatDuration } from "../miner/mod.ts";
import { STATUS_SCHEMA, type StatusDocument } from "./document.ts";

/** Anything but a printable character (C0, DEL, C1, bidi controls) becomes `?`. */
function clean(value: unknown, max = 40): string {
  // deno-lint-ignore no-control-regex
  const text = String(value ?? "").replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, "?");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const count = (n: unknown) => typeof n === "number" && n >= 0 ? formatCount(n) : "-";
const since = (sec: unknown) =>
  typeof sec === "number" && sec >= 0 ? formatDuration(sec * 1000) : "-";

/** Lays out rows in columns two spaces apart, each line indented by `indent`. */
function columns(rows: string[][], indent = "  "): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => widths[i] = Math.max(widths[i] ?? 0, [...c].length));
  return rows.map((r) =>
    indent + r.map((c, i) => i === r.length - 1 ? c : c + " ".repeat(widths[i] - [...c].length))
      .join("  ").trimEnd()
  );
}

/**
 * Checks that a parsed JSON value is a status document this version can show.
 *
 * @param value The parsed `/status.json`.
 * @returns The document, or why it is not one.
 *
 * @example
 * ```ts
 * import { checkStatusDocument } from "./table.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkStatusDocument({ hello: 1 }), "not a bitclone status document");
 * ```
 */
export function checkStatusDocument(value: unknown): StatusDocument | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "not a bitclone status document";
  }
  const d = value as Partial<StatusDocument>;
  if (typeof d.schema !== "number" || !Array.isArray(d.services)) {
    return "not a bitclone status document";
  }
  if (d.schema > STATUS_SCHEMA) {
    return `status document version ${d.schema} is newer than this bitclone's (${STATUS_SCHEMA})`;
  }
  return d as StatusDocument;
}

/**
 * Formats the document as the terminal table.
 *
 * @param doc The document.
 * @param where The node's address, for the first line.
 * @returns Lines ending with a newline.
 *
 * @example
 * ```ts
 * import { formatStatusTable } from "./table.ts";
 * import assert from "node:assert/strict";
 * const text = formatStatusTable({
 *   schema: 1, version: "0.1.0", time: "2026-12-05T10:00:00.000Z", uptimeSec: 65, hostname: "0.0.0.0",
 *   services: [{ name: "tracker", description: "", state: "running", uptimeSec: 65,
 *     listening: [{ transport: "tcp", hostname: "0.0.0.0", port: 7777 }] }],
 *   disabled: ["kv"], peer: null, miner: null, kv: null, status: null,
 *   tracker: { port: 7777, entries: 16, accepted: 3, active: 0, served: 2, invalid: 1, refused: 0, failed: 0 },
 * }, "127.0.0.1:8080");
 * assert.match(text, /^bitclone 0\.1\.0 at 127\.0\.0\.1:8080, up 1m05s/);
 * assert.match(text, /tracker +running +tcp 7777/);
 * assert.match(text, /tracker: 2 served, 1 invalid, 0 refused/);
 * ```
 */
export function formatStatusTable(doc: StatusDocument, where: string): string {
  const out: string[] = [];
  const time = clean(doc.time).replace("T", " ").slice(0, 19);
  out.push(
    `bitclone ${clean(doc.version)} at ${clean(where, 80)}, up ${
      since(doc.uptimeSec)
    } (${time} UTC)`,
  );
  out.push("");
  const services = doc.services.map((s) => [
    clean(s?.name),
    clean(s?.state),
    (Array.isArray(s?.listening) ? s.listening : []).map((a) =>
      `${clean(a?.transport)} ${clean(a?.port)}`
    ).join(", "),
    since(s?.uptimeSec),
  ]);
  for (const name of Array.isArray(doc.disabled) ? doc.disabled : []) {
    services.push([clean(name), "disabled", "", ""]);
  }
  out.push(...columns([["SERVICE", "STATE", "LISTENING", "UPTIME"], ...services], ""));

  const p = doc.peer;
  if (p) {
    out.push("");
    out.push(
      `peers: ${count(p.inbound)} in, ${count(p.outbound)} out, ${count(p.pending)} pending; ` +
        `${count(p.known)} addresses known (${count(p.tried)} tried)`,
    );
    const conns = Array.isArray(p.connections) ? p.connections : [];
    if (conns.length > 0) {
      out.push(...columns([
        ["DIR", "STATE", "ADDRESS", "AGENT", "VER", "FOR"],
        ...conns.map((c) => [
          c?.direction === "inbound" ? "in" : "out",
          clean(c?.state),
          clean(c?.address ?? c?.remote ?? "?", 46),
          clean(c?.userAgent ?? "", 24),
          clean(c?.version ?? ""),
          since(c?.ageSec),
        ]),
      ]));
    }
  }

  const m = doc.miner;
  if (m) {
    const jobs = Array.isArray(m.jobs) ? m.jobs : [];
    const miners = Array.isArray(m.miners) ? m.miners : [];
    out.push("");
    out.push(`jobs: ${jobs.length}; miners: ${miners.length}`);
    const pool = m.pool;
    if (pool && typeof pool === "object") {
      out.push(
        `pool: ${clean(pool.server, 60)} ${pool.joined ? "joined" : "joining"} with ` +
          `${clean(pool.workers)} worker(s), ${clean(pool.joins)} join(s)`,
      );
    }
    if (jobs.length > 0) {
      out.push(...columns([
        ["JOB", "PROGRESS", "", "SEARCHED", "RATE/S", "MINERS", "DATA"],
        ...jobs.map((j) => {
          const f = typeof j?.progress === "number" ? j.progress : 0;
          return [
            clean(j?.id),
            formatBar(f, 20),
            `${(100 * f).toFixed(1)}%`,
            `${count(j?.searched)}/${count(j?.total)}`,
            count(j?.rate),
            Array.isArray(j?.miners) ? clean(j.miners.join(",")) : "",
            clean(j?.data, 30),
          ];
        }),
      ]));
    }
    if (miners.length > 0) {
      out.push(...columns([
        ["MINER", "ADDRESS", "RATE/S", "CHUNKS", "JOBS"],
        ...miners.map((w) => [
          clean(w?.id),
          clean(w?.address ?? "", 46),
          w?.rate === null ? "-" : count(w?.rate),
          clean(w?.chunks),
          Array.isArray(w?.jobs) ? clean(w.jobs.join(",")) : "",
        ]),
      ]));
    }
  }

  const t = doc.tracker;
  const k = doc.kv;
  if (t || k) out.push("");
  if (t) {
    out.push(
      `tracker: ${count(t.served)} served, ${count(t.invalid)} invalid, ${count(t.refused)} ` +
        `refused, ${count(t.failed)} failed; ${count(t.entries)} entries`,
    );
  }
  if (k) {
    const members = Array.isArray(k.members) ? k.members : [];
    const alive = members.filter((x) => x?.state === "alive").length;
    out.push(
      `kv: ${count(k.keys)} keys; ${members.length} members (${alive} alive); ` +
        `${count(k.requests)} requests`,
    );
  }
  return out.join("\n") + "\n";
}
