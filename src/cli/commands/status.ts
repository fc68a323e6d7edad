/**
 * `bitclone status [HOST:PORT]`: a node's status (its `/status.json`) as a compact table.
 *
 * @module
 */
import { hostPortValue, intValue } from "../mod.ts";
import type { CommandSpec } from "../mod.ts";
import { formatHostPort } from "../../net/mod.ts";
import { checkStatusDocument, formatStatusTable, statusJson } from "../../status/mod.ts";

/** Where `bitclone status` asks when given no address. */
export const DEFAULT_STATUS_ADDRESS = "127.0.0.1:8080";

/**
 * The `status` command.
 *
 * @example
 * ```ts
 * import { statusCommand } from "./status.ts";
 * import assert from "node:assert/strict";
 * assert.equal(statusCommand.name, "status");
 * ```
 */
export const statusCommand: CommandSpec = {
  name: "status",
  summary: "Show a running node's status (its /status.json) as a table",
  description: "Asks the status service of a node (`bitclone node`, HTTP on TCP 8080 by default) " +
    "for /status.json and prints it compactly: the services with their ports and uptime, the " +
    "BitClone connections, the mining jobs with their progress, the miners with their rates, the " +
    "tracker's and the key-value store's counts. Exits 1 with one line when the node does not " +
    "answer within --timeout or answers something else.",
  options: {
    json: { type: "boolean", description: "Print the document as JSON instead of the table" },
    timeout: {
      type: "string",
      valueName: "MS",
      default: "3000",
      description: "How long to wait for the answer",
    },
  },
  positionals: [{
    name: "HOST:PORT",
    description: `The node's status service (default: ${DEFAULT_STATUS_ADDRESS})`,
    optional: true,
  }],
  examples: ["bitclone status", "bitclone status lab3:8080", "bitclone status --json | jq .miner"],
  async run(ctx) {
    const path = "bitclone status";
    const where = ctx.positionals[0] ?? DEFAULT_STATUS_ADDRESS;
    const { hostname, port } = hostPortValue(where, "HOST:PORT", path);
    const timeout = intValue(ctx.values.timeout as string, "--timeout", path, {
      min: 1,
      max: 600_000,
    });
    const url = `http://${formatHostPort(hostname, port)}/status.json`;
    let doc;
    try {
      const response = await fetch(url, {
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeout)]),
        headers: { accept: "application/json" },
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
      }
      doc = await response.json();
    } catch (err) {
      const why = err instanceof DOMException && err.name === "TimeoutError"
        ? `no answer within ${timeout} ms`
        : err instanceof SyntaxError
        ? "the answer is not JSON"
        : err instanceof Error
        ? err.message
        : String(err);
      ctx.log.error("cannot read the status of {url}: {why}", { url, why });
      return 1;
    }
    const checked = checkStatusDocument(doc);
    if (typeof checked === "string") {
      ctx.log.error("cannot read the status of {url}: {why}", { url, why: checked });
      return 1;
    }
    ctx.print(
      ctx.values.json
        ? statusJson(checked)
        : formatStatusTable(checked, formatHostPort(hostname, port)),
    );
    return 0;
  },
};
