/**
 * `host:port` text, the address form every bitclone protocol uses: IPv4 `1.2.3.4:80`, IPv6 in
 * brackets `[::1]:80` (the bare `::1:80` is accepted on input), names `lab1:80`. Pure functions,
 * safe for protocol cores.
 *
 * @module
 */

/** A parsed address. `hostname` never has brackets. */
export interface HostPort {
  hostname: string;
  port: number;
}

/** Why text is not an address: not `host:port` at all, or a port outside 0..65535. */
export type HostPortProblem =
  | { problem: "form" }
  | { problem: "port"; port: string };

/**
 * Like {@linkcode parseHostPort}, but says what is wrong: `{ problem: "form" }` when the text does
 * not look like `host:port`, `{ problem: "port", port }` when it does but the port (all digits) is
 * above 65535. Never throws.
 *
 * @example
 * ```ts
 * import { checkHostPort } from "./hostport.ts";
 * import assert from "node:assert/strict";
 * const problem = (text: string) => (checkHostPort(text) as { problem?: string }).problem;
 * assert.equal(problem("localhost:99999"), "port");
 * assert.equal(problem("localhost"), "form");
 * assert.equal(problem("localhost:80"), undefined);
 * ```
 */
export function checkHostPort(text: string): HostPort | HostPortProblem {
  if (typeof text !== "string" || text.length > 300) return { problem: "form" };
  const m = /^\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]:(\d+)$/.exec(text) ??
    /^([^\s\[\]\/]+):(\d+)$/.exec(text);
  if (!m) return { problem: "form" };
  const hostname = m[1];
  if (hostname.includes(":") && !/^[0-9A-Fa-f:.]+(%[\w.-]+)?$/.test(hostname)) {
    return { problem: "form" };
  }
  if (m[2].length > 5 || Number(m[2]) > 65535) return { problem: "port", port: m[2] };
  return { hostname, port: Number(m[2]) };
}

/**
 * Parses `host:port`, `[v6]:port` or a bare IPv6 `v6:port`; returns `undefined` on anything else
 * (a port outside 0..65535 included; {@linkcode checkHostPort} tells which). Never throws.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./hostport.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseHostPort("[::1]:9999")?.hostname, "::1");
 * assert.equal(parseHostPort("nonsense"), undefined);
 * ```
 */
export function parseHostPort(text: string): HostPort | undefined {
  const hp = checkHostPort(text);
  return "problem" in hp ? undefined : hp;
}

/**
 * Formats an address, bracketing IPv6.
 *
 * @example
 * ```ts
 * import { formatHostPort } from "./hostport.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatHostPort("::1", 80), "[::1]:80");
 * assert.equal(formatHostPort("10.0.0.1", 80), "10.0.0.1:80");
 * ```
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
